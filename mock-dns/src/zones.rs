//! The zone data a server is given: which zones it is authoritative for and the records in
//! them. Plain data built by the caller (memsim's harness derives it from the endpoint catalog
//! and the tenant); this module only checks it is well formed. It is not a zone-file parser
//! and it does no lookups (see `store`).

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, SOA, SRV};
use hickory_server::proto::rr::{Name, RData, Record};

/// One record's data, as the caller writes it: names are host names such as
/// `EnterpriseEnrollment-s.manage.microsoft.com` (case is kept on the wire, ignored in lookups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    /// RFC 2782: the target must be a host with an address, never an alias.
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

/// Zone data that is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    #[error("`{0}` is not a valid DNS name")]
    BadName(String),
    #[error("`{0}` lies outside every zone added so far: add its zone first")]
    OutsideZones(String),
    /// RFC 1034 §3.6.2: a name with a CNAME holds no other data.
    #[error("`{0}` would hold a CNAME next to other data")]
    CnameAndOther(String),
}

/// The zones a server answers for and their records. Build it, then hand it to the server.
#[derive(Debug, Clone)]
pub struct ZoneSet {
    pub(crate) nameserver: Name,
    pub(crate) hostmaster: Name,
    pub(crate) negative_ttl: u32,
    pub(crate) zones: BTreeSet<Name>,
    pub(crate) records: Vec<Record>,
    /// Each owner so far (lower-case) and whether it holds a CNAME: the CNAME-and-other check
    /// in one lookup instead of a scan of every record (a world adds hundreds).
    owners: HashMap<Name, bool>,
}

/// A DNS name from a host name, absolute, case kept (`*.` allowed in front). Host names only
/// (letters, digits, `-`, and `_` for service labels such as `_tcp`, RFC 2782): never IDNA,
/// which would fold the case the seeds write (`EnterpriseEnrollment-s…`).
pub(crate) fn parse_name(host: &str) -> Result<Name, ZoneError> {
    let bad = || ZoneError::BadName(host.to_string());
    let trimmed = host.trim().trim_end_matches('.');
    let label_ok = |(i, l): (usize, &str)| {
        (i == 0 && l == "*") || (!l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    };
    if trimmed.is_empty() || trimmed.len() > 253 || !trimmed.split('.').enumerate().all(label_ok) {
        return Err(bad());
    }
    let mut name = Name::from_ascii(trimmed).map_err(|_| bad())?;
    name.set_fqdn(true);
    Ok(name)
}

/// Whole seconds for the wire, rounded up so a sub-second TTL does not become "do not cache"
/// by accident (0 stays 0).
pub(crate) fn ttl_secs(ttl: Duration) -> u32 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl ZoneSet {
    /// An empty set whose zones name `nameserver` in their SOA and NS records, `hostmaster` as
    /// the responsible mailbox, and cache negative answers for `negative_ttl` (RFC 2308 §5).
    pub fn new(nameserver: &str, hostmaster: &str, negative_ttl: Duration) -> Result<ZoneSet, ZoneError> {
        Ok(ZoneSet {
            nameserver: parse_name(nameserver)?,
            hostmaster: parse_name(hostmaster)?,
            negative_ttl: ttl_secs(negative_ttl),
            zones: BTreeSet::new(),
            records: Vec::new(),
            owners: HashMap::new(),
        })
    }

    /// Become authoritative for `origin` (and everything below it that no deeper zone claims).
    pub fn add_zone(&mut self, origin: &str) -> Result<&mut Self, ZoneError> {
        let name = parse_name(origin)?.to_lowercase();
        if name.is_wildcard() {
            return Err(ZoneError::BadName(origin.to_string()));
        }
        self.zones.insert(name);
        Ok(self)
    }

    /// Add a record at `owner` (a host, or `*.suffix` for every name below `suffix`).
    pub fn add(&mut self, owner: &str, ttl: Duration, data: RecordData) -> Result<&mut Self, ZoneError> {
        let name = parse_name(owner)?;
        if self.zone_of(&name).is_none() {
            return Err(ZoneError::OutsideZones(owner.to_string()));
        }
        let rdata = match data {
            RecordData::A(ip) => RData::A(A(ip)),
            RecordData::Aaaa(ip) => RData::AAAA(AAAA(ip)),
            RecordData::Cname(target) => RData::CNAME(CNAME(parse_name(&target)?)),
            RecordData::Srv { priority, weight, port, target } => RData::SRV(SRV::new(priority, weight, port, parse_name(&target)?)),
        };
        let is_cname = matches!(rdata, RData::CNAME(_));
        // DNS names compare case-insensitively: the index keys the lower-case name.
        let key = name.to_lowercase();
        match self.owners.get(&key) {
            Some(&has_cname) if is_cname || has_cname => return Err(ZoneError::CnameAndOther(owner.to_string())),
            Some(_) => {}
            None => {
                self.owners.insert(key, is_cname);
            }
        }
        self.records.push(Record::from_rdata(name, ttl_secs(ttl), rdata));
        Ok(self)
    }

    /// The zones, lower-case, without the trailing dot.
    pub fn zones(&self) -> impl Iterator<Item = String> + '_ {
        self.zones.iter().map(|z| z.to_string().trim_end_matches('.').to_string())
    }

    /// The closest zone apex at or above `name` (a wildcard owner counts from its suffix).
    pub(crate) fn zone_of(&self, name: &Name) -> Option<&Name> {
        let mut n = if name.is_wildcard() { name.base_name() } else { name.clone() }.to_lowercase();
        loop {
            if let Some(z) = self.zones.get(&n) {
                return Some(z);
            }
            if n.is_root() {
                return None;
            }
            n = n.base_name();
        }
    }

    /// The SOA and NS records every zone apex holds.
    pub(crate) fn apex_records(&self, zone: &Name) -> [Record; 2] {
        // Serial 1, refresh 1h, retry 10min, expire 1 week (RFC 1912 §2.2 values); the minimum
        // field is the negative-caching TTL (RFC 2308 §4), also the SOA's own TTL.
        let soa = SOA::new(self.nameserver.clone(), self.hostmaster.clone(), 1, 3600, 600, 604_800, self.negative_ttl);
        [
            Record::from_rdata(zone.clone(), self.negative_ttl, RData::SOA(soa)),
            Record::from_rdata(zone.clone(), self.negative_ttl.max(3600), RData::NS(NS(self.nameserver.clone()))),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> ZoneSet {
        let mut z = ZoneSet::new("ns.example.test", "hostmaster.example.test", Duration::from_secs(300)).unwrap();
        z.add_zone("Contoso.com").unwrap().add_zone("microsoft.com").unwrap();
        z
    }

    #[test]
    fn records_must_lie_inside_a_zone() {
        let mut z = set();
        z.add("EnterpriseEnrollment.contoso.com", Duration::from_secs(3600), RecordData::Cname("x.microsoft.com".into())).unwrap();
        z.add("*.manage.microsoft.com", Duration::from_secs(60), RecordData::A(Ipv4Addr::LOCALHOST)).unwrap();
        let e = z.add("login.microsoftonline.com", Duration::ZERO, RecordData::A(Ipv4Addr::LOCALHOST)).unwrap_err();
        assert_eq!(e, ZoneError::OutsideZones("login.microsoftonline.com".into()));
        assert_eq!(z.zones().collect::<Vec<_>>(), ["contoso.com", "microsoft.com"]);
    }

    #[test]
    fn a_cname_stands_alone_and_names_are_checked() {
        let mut z = set();
        z.add("a.contoso.com", Duration::ZERO, RecordData::Cname("b.contoso.com".into())).unwrap();
        let e = z.add("A.Contoso.com", Duration::ZERO, RecordData::A(Ipv4Addr::LOCALHOST)).unwrap_err();
        assert!(matches!(e, ZoneError::CnameAndOther(_)));
        // The other order, a second CNAME, and two addresses at one owner (which is fine).
        z.add("c.contoso.com", Duration::ZERO, RecordData::A(Ipv4Addr::LOCALHOST)).unwrap();
        z.add("C.contoso.com", Duration::ZERO, RecordData::A(Ipv4Addr::new(127, 0, 0, 2))).unwrap();
        assert!(matches!(z.add("c.CONTOSO.com", Duration::ZERO, RecordData::Cname("b.contoso.com".into())), Err(ZoneError::CnameAndOther(_))));
        assert!(matches!(z.add("a.contoso.com", Duration::ZERO, RecordData::Cname("c.contoso.com".into())), Err(ZoneError::CnameAndOther(_))));
        assert!(matches!(z.add("bad name.contoso.com", Duration::ZERO, RecordData::A(Ipv4Addr::LOCALHOST)), Err(ZoneError::BadName(_))));
        assert!(matches!(z.add_zone(""), Err(ZoneError::BadName(_))));
    }

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_secs(Duration::ZERO), 0);
        assert_eq!(ttl_secs(Duration::from_millis(1)), 1);
        assert_eq!(ttl_secs(Duration::from_secs(3600)), 3600);
        assert_eq!(ttl_secs(Duration::from_secs(u64::MAX)), u32::MAX);
    }
}
