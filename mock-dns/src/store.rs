//! The compiled zone data and the one lookup algorithm every zone of a server shares
//! (RFC 1034 §4.3.2): exact names, then wildcards, then empty non-terminals, and CNAME chains
//! followed across every zone the server is authoritative for, so a chain comes back whole in
//! one answer. glibc's stub resolver does not chase a partial chain, and Windows' resolver
//! expects the same of a DNS server.
//!
//! Not a cache and not a resolver: a chain that leaves the server's zones ends there (the
//! client's resolver would go on), nothing is fetched, nothing changes after the build.
//!
//! Wildcards: `*.manage.microsoft.com` covers every name below `manage.microsoft.com` that is
//! not itself an owner, at any depth. That is RFC 4592's rule except that an existing node in
//! between does not block it; it is the rule memsim's host patterns and HTTPS front use, so
//! whatever the front serves resolves.

use std::collections::{HashMap, HashSet};

use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType};

use crate::zones::ZoneSet;

/// How long a CNAME chain may be before the server stops following it (loops end here too).
const MAX_CHAIN: usize = 8;

/// The answer to one question, before it becomes a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolution {
    /// Records for the answer section (a chain of CNAMEs, then the data) and for the
    /// additional section (addresses of SRV targets).
    Answer { answers: Vec<Record>, additionals: Vec<Record> },
    /// The name exists but holds nothing of that type (RFC 2308 §2.2 NODATA).
    NoData,
    /// The name does not exist in its zone (RFC 2308 §2.1).
    NxDomain,
    /// The name lies outside every zone: this server is not the one to ask.
    Refused,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    zones: HashSet<LowerName>,
    exact: HashMap<LowerName, Vec<Record>>,
    /// By the suffix the wildcard covers: `manage.microsoft.com.` for `*.manage.microsoft.com`.
    wildcards: HashMap<LowerName, Vec<Record>>,
    /// Names that exist only because names below them do (RFC 8020 makes them NODATA).
    empty_non_terminals: HashSet<LowerName>,
}

impl Store {
    pub(crate) fn build(set: &ZoneSet) -> Store {
        let mut store = Store { zones: set.zones.iter().map(LowerName::from).collect(), ..Store::default() };
        let apexes = set.zones.iter().flat_map(|z| set.apex_records(z));
        for record in set.records.iter().cloned().chain(apexes) {
            let owner = &record.name;
            let (map, key) =
                if owner.is_wildcard() { (&mut store.wildcards, LowerName::from(owner.base_name())) } else { (&mut store.exact, LowerName::from(owner)) };
            map.entry(key).or_default().push(record);
        }
        // Every name between an owner and its zone apex exists (RFC 1034 §3.1); so does the
        // parent of a wildcard (RFC 4592 §2.2.1).
        let above_exact = store.exact.keys().filter(|o| !o.is_root()).map(LowerName::base_name);
        let starts: Vec<LowerName> = above_exact.chain(store.wildcards.keys().cloned()).collect();
        for mut n in starts {
            while !store.zones.contains(&n) && !n.is_root() {
                if !store.exact.contains_key(&n) {
                    store.empty_non_terminals.insert(n.clone());
                }
                n = n.base_name();
            }
        }
        store
    }

    /// Is `name` inside one of the zones?
    pub(crate) fn in_authority(&self, name: &LowerName) -> bool {
        let mut n = name.clone();
        loop {
            if self.zones.contains(&n) {
                return true;
            }
            if n.is_root() {
                return false;
            }
            n = n.base_name();
        }
    }

    /// The records owned by `name` (synthesised from a wildcard, with `qname` as owner), if any.
    fn node(&self, name: &LowerName, qname: &Name) -> Option<Vec<Record>> {
        if let Some(records) = self.exact.get(name) {
            return Some(records.clone());
        }
        let mut n = name.clone();
        while !n.is_root() && !self.zones.contains(&n) {
            n = n.base_name();
            if let Some(records) = self.wildcards.get(&n) {
                let synthesised = records.iter().map(|r| Record::from_rdata(qname.clone(), r.ttl, r.data.clone()));
                return Some(synthesised.collect());
            }
        }
        None
    }

    /// Answer `qtype` at `qname`, following CNAMEs through every zone of this server.
    pub(crate) fn resolve(&self, qname: &Name, qtype: RecordType) -> Resolution {
        let mut answers: Vec<Record> = Vec::new();
        let mut name = qname.clone();
        for _ in 0..MAX_CHAIN {
            let lower = LowerName::from(&name);
            if !self.in_authority(&lower) {
                // The chain leaves our zones: the client's resolver takes it from here.
                return if answers.is_empty() { Resolution::Refused } else { done(answers, Vec::new()) };
            }
            let Some(records) = self.node(&lower, &name) else {
                return match (answers.is_empty(), self.empty_non_terminals.contains(&lower)) {
                    (true, true) => Resolution::NoData,
                    (true, false) => Resolution::NxDomain,
                    // A chain into a hole of our own zones: the aliases are all we have.
                    (false, _) => done(answers, Vec::new()),
                };
            };
            let alias = records.iter().find_map(|r| match &r.data {
                RData::CNAME(target) => Some((r, target.0.clone())),
                _ => None,
            });
            if let Some((cname, target)) = alias
                && !matches!(qtype, RecordType::CNAME | RecordType::ANY)
            {
                answers.push(cname.clone());
                name = target;
                continue;
            }
            let matching: Vec<Record> = records.into_iter().filter(|r| qtype == RecordType::ANY || r.record_type() == qtype).collect();
            if matching.is_empty() {
                return if answers.is_empty() { Resolution::NoData } else { done(answers, Vec::new()) };
            }
            let additionals = self.additionals_for(&matching);
            answers.extend(matching);
            return done(answers, additionals);
        }
        done(answers, Vec::new())
    }

    /// RFC 2782: a server may add the address records of SRV targets it knows.
    fn additionals_for(&self, records: &[Record]) -> Vec<Record> {
        let targets = records.iter().filter_map(|r| match &r.data {
            RData::SRV(srv) => Some(srv.target.clone()),
            _ => None,
        });
        targets
            .flat_map(|t| self.node(&LowerName::from(&t), &t).unwrap_or_default())
            .filter(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
            .collect()
    }
}

fn done(answers: Vec<Record>, additionals: Vec<Record>) -> Resolution {
    Resolution::Answer { answers, additionals }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;
    use crate::zones::{RecordData, parse_name};

    fn store() -> Store {
        let hour = Duration::from_secs(3600);
        let mut z = ZoneSet::new("ns.memsim.test", "hostmaster.memsim.test", Duration::from_secs(300)).unwrap();
        for zone in ["contoso.com", "microsoft.com", "windows.net"] {
            z.add_zone(zone).unwrap();
        }
        z.add("EnterpriseEnrollment.contoso.com", hour, RecordData::Cname("EnterpriseEnrollment-s.manage.microsoft.com".into())).unwrap();
        z.add("loop.contoso.com", hour, RecordData::Cname("loop.contoso.com".into())).unwrap();
        z.add("away.contoso.com", hour, RecordData::Cname("elsewhere.example".into())).unwrap();
        z.add("*.manage.microsoft.com", hour, RecordData::A(Ipv4Addr::LOCALHOST)).unwrap();
        z.add("_mssms_mp_abc._tcp.contoso.com", hour, RecordData::Srv { priority: 0, weight: 0, port: 443, target: "cmg.manage.microsoft.com".into() })
            .unwrap();
        Store::build(&z)
    }

    fn resolve(name: &str, t: RecordType) -> Resolution {
        store().resolve(&parse_name(name).unwrap(), t)
    }

    fn shown(r: &Resolution) -> Vec<String> {
        match r {
            Resolution::Answer { answers, .. } => answers.iter().map(|r| format!("{} {}", r.name, r.data)).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn cname_chain_crosses_zones_into_a_wildcard_in_one_answer() {
        let r = resolve("enterpriseenrollment.CONTOSO.com", RecordType::A);
        assert_eq!(
            shown(&r),
            ["EnterpriseEnrollment.contoso.com. EnterpriseEnrollment-s.manage.microsoft.com.", "EnterpriseEnrollment-s.manage.microsoft.com. 127.0.0.1"]
        );
        let c = resolve("enterpriseenrollment.contoso.com", RecordType::CNAME);
        assert_eq!(shown(&c).len(), 1, "a CNAME query gets the CNAME alone");
    }

    #[test]
    fn nxdomain_nodata_and_refused_are_told_apart() {
        assert_eq!(resolve("nope.contoso.com", RecordType::A), Resolution::NxDomain);
        assert_eq!(resolve("_tcp.contoso.com", RecordType::A), Resolution::NoData, "empty non-terminal");
        assert_eq!(resolve("x.manage.microsoft.com", RecordType::AAAA), Resolution::NoData);
        assert_eq!(resolve("example.org", RecordType::A), Resolution::Refused);
        assert!(matches!(resolve("contoso.com", RecordType::SOA), Resolution::Answer { .. }));
    }

    #[test]
    fn wildcards_cover_any_depth_and_chains_end_at_our_border_or_a_loop() {
        assert_eq!(shown(&resolve("fef.msua06.manage.microsoft.com", RecordType::A)), ["fef.msua06.manage.microsoft.com. 127.0.0.1"]);
        assert_eq!(resolve("manage.microsoft.com", RecordType::A), Resolution::NoData, "the wildcard's parent exists");
        assert_eq!(shown(&resolve("away.contoso.com", RecordType::A)), ["away.contoso.com. elsewhere.example."]);
        assert_eq!(shown(&resolve("loop.contoso.com", RecordType::A)).len(), MAX_CHAIN);
    }

    #[test]
    fn srv_answers_carry_the_target_address() {
        let Resolution::Answer { answers, additionals } = resolve("_mssms_mp_ABC._tcp.contoso.com", RecordType::SRV) else { panic!() };
        assert_eq!(answers.len(), 1);
        assert_eq!(additionals.len(), 1);
        assert_eq!(additionals[0].data.to_string(), "127.0.0.1");
    }
}
