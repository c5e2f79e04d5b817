//! DNS faults, named after hickory's response codes (ServFail, NxDomain, Refused) plus what a
//! network or a DNS administrator does to DNS: drop, delay, truncate, a wrong address, a wrong
//! CNAME target, a TTL.
//!
//! Every fault has the layer's one shape: its target is `names` (a host pattern matched against
//! the query name *and* every name of the CNAME chain the answer walks, as a recursive resolver
//! would meet them), its window `after`/`until` (simulated time since the world started), and its
//! effect the kind with its own keys. This file is the model only; the DNS server applies it as a
//! layer around its request handler (`mock-dns`).

use std::net::Ipv4Addr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{DnsFaultKind, Window};
use crate::{HostPattern, SimDuration};

/// One DNS fault: which names, when, and what happens to their answers.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsFault {
    /// The target: the names whose answers the fault changes.
    pub names: HostPattern,
    pub window: Window,
    pub effect: DnsEffect,
}

/// What a DNS fault does to the answers it hits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum DnsEffect {
    /// The names do not exist: NXDOMAIN with the zone's SOA (e.g. a CNAME that was never created).
    #[serde(rename = "dns.nx_domain")]
    NxDomain {},
    /// The server fails: SERVFAIL (e.g. a broken forwarder during Autopilot OOBE).
    #[serde(rename = "dns.serv_fail")]
    ServFail {},
    /// The server refuses to answer: REFUSED (e.g. a resolver that only serves the intranet).
    #[serde(rename = "dns.refused")]
    Refused {},
    /// No answer at all, over any transport: the client times out.
    #[serde(rename = "dns.drop")]
    Drop {},
    /// The right answer, `delay` (simulated time) late.
    #[serde(rename = "dns.delay")]
    Delay { delay: SimDuration },
    /// A records answer `address` (another loopback address, default 127.0.0.2) where nothing
    /// listens: the name resolves, the connection is refused.
    #[serde(rename = "dns.wrong_address")]
    WrongAddress {
        #[serde(default = "default_wrong_address")]
        address: Ipv4Addr,
    },
    /// The names are a CNAME to `target` (whatever they held), and the answer follows `target`:
    /// e.g. EnterpriseEnrollment.<domain> pointing at the non-preferred
    /// EnterpriseEnrollment.manage.microsoft.com (seed 003).
    #[serde(rename = "dns.cname_target")]
    CnameTarget { target: HostPattern },
    /// Answers over UDP come back truncated (TC set, no records): only a client that retries
    /// over TCP (RFC 7766 §5) resolves the names. TCP and DoH answers are whole.
    #[serde(rename = "dns.truncate")]
    Truncate {},
    /// Every record of the answer carries `ttl` (simulated time), e.g. `0s` to defeat caching
    /// or `72h` to keep a stale answer for the whole propagation time of seed 003.
    #[serde(rename = "dns.ttl")]
    Ttl { ttl: SimDuration },
}

fn default_wrong_address() -> Ipv4Addr {
    DnsFault::DEFAULT_WRONG_ADDRESS
}

/// The target key every DNS fault takes.
const TARGET_KEYS: &[&str] = &["names"];

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct DnsTarget {
    names: HostPattern,
}

impl DnsFault {
    /// The default `wrong_address`: another loopback address, where nothing listens.
    pub const DEFAULT_WRONG_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

    /// Is the fault active `elapsed` simulated time after the world started?
    pub fn is_active(&self, elapsed: SimDuration) -> bool {
        self.window.contains(elapsed)
    }

    pub fn kind(&self) -> DnsFaultKind {
        match self.effect {
            DnsEffect::NxDomain {} => DnsFaultKind::NxDomain,
            DnsEffect::ServFail {} => DnsFaultKind::ServFail,
            DnsEffect::Refused {} => DnsFaultKind::Refused,
            DnsEffect::Drop {} => DnsFaultKind::Drop,
            DnsEffect::Delay { .. } => DnsFaultKind::Delay,
            DnsEffect::WrongAddress { .. } => DnsFaultKind::WrongAddress,
            DnsEffect::CnameTarget { .. } => DnsFaultKind::CnameTarget,
            DnsEffect::Truncate {} => DnsFaultKind::Truncate,
            DnsEffect::Ttl { .. } => DnsFaultKind::Ttl,
        }
    }

    /// The names the fault hits.
    pub fn names(&self) -> &HostPattern {
        &self.names
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        self.window.validate().map_err(|e| format!("{}: {e}", self.kind()))?;
        match &self.effect {
            // Nothing ever leaves the machine: a wrong address is still a loopback address.
            DnsEffect::WrongAddress { address } if !address.is_loopback() => {
                Err(format!("{}: address {address} is not a loopback address (use 127.0.0.2 … 127.255.255.254)", self.kind()))
            }
            DnsEffect::CnameTarget { target } if target.is_wildcard() => Err(format!("{}: `target` is one host name, not a wildcard", self.kind())),
            _ => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for DnsFault {
    /// Target and window keys are taken out first; the rest must be exactly one effect's keys.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let target = super::split(&mut table, TARGET_KEYS);
        let window = super::split(&mut table, Window::KEYS);
        let effect =
            DnsEffect::deserialize(toml::Value::Table(table)).map_err(|e| super::effect_error(e, "DNS fault also takes `names`, `after` and `until`"))?;
        let DnsTarget { names } = DnsTarget::deserialize(target).map_err(|e| D::Error::custom(e.message()))?;
        let window = Window::deserialize(window).map_err(|e| D::Error::custom(e.message()))?;
        Ok(DnsFault { names, window, effect })
    }
}

impl Serialize for DnsFault {
    /// Flat, as written: `kind`, the effect's keys, `names` and the window in one table.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            effect: &'a DnsEffect,
            names: &'a HostPattern,
            #[serde(flatten)]
            window: &'a Window,
        }
        Flat { effect: &self.effect, names: &self.names, window: &self.window }.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fault, parse_scenario};

    const HEAD: &str = "name = \"d\"\nsummary = \"s\"\narea = \"dns\"\nsource = \"t\"\n";

    fn one(fault: &str) -> Result<DnsFault, String> {
        let s = parse_scenario(&format!("{HEAD}[[fault]]\n{fault}\n"), "f.toml").map_err(|e| e.to_string())?;
        match s.faults.into_iter().next() {
            Some(Fault::Dns(d)) => Ok(d),
            other => Err(format!("not a DNS fault: {other:?}")),
        }
    }

    #[test]
    fn every_kind_parses_with_its_keys() {
        let cases = [
            "kind = \"dns.nx_domain\"\nnames = \"EnterpriseEnrollment.contoso.com\"",
            "kind = \"dns.serv_fail\"\nnames = \"*.manage.microsoft.com\"\nafter = \"1m\"\nuntil = \"5m\"",
            "kind = \"dns.refused\"\nnames = \"login.microsoftonline.com\"",
            "kind = \"dns.drop\"\nnames = \"*.windows.net\"",
            "kind = \"dns.delay\"\nnames = \"*.windows.net\"\ndelay = \"3s\"",
            "kind = \"dns.wrong_address\"\nnames = \"*.azureedge.net\"",
            "kind = \"dns.cname_target\"\nnames = \"EnterpriseEnrollment.contoso.com\"\ntarget = \"EnterpriseEnrollment.manage.microsoft.com\"",
            "kind = \"dns.truncate\"\nnames = \"*.contoso.com\"",
            "kind = \"dns.ttl\"\nnames = \"*.contoso.com\"\nttl = \"0s\"",
        ];
        for c in cases {
            let f = one(c).unwrap_or_else(|e| panic!("{c}: {e}"));
            assert!(c.contains(f.kind().name()), "{c}");
        }
        let f = one(cases[5]).unwrap();
        assert_eq!(
            f,
            DnsFault {
                names: HostPattern::parse("*.azureedge.net").unwrap(),
                window: Window::default(),
                effect: DnsEffect::WrongAddress { address: DnsFault::DEFAULT_WRONG_ADDRESS },
            }
        );
        let f = one(cases[1]).unwrap();
        assert_eq!(f.window, Window { after: SimDuration::from_secs(60), until: Some(SimDuration::from_secs(300)) });
        assert!(!f.is_active(SimDuration::from_secs(59)) && f.is_active(SimDuration::from_secs(60)));
    }

    #[test]
    fn serializes_flat_as_written() {
        let f = one("kind = \"dns.delay\"\nnames = \"*.windows.net\"\ndelay = \"3s\"\nuntil = \"1m\"").unwrap();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "dns.delay", "delay": "3s", "names": "*.windows.net", "until": "1m"}));
    }

    #[test]
    fn refuses_off_loopback_addresses_wildcard_targets_empty_windows_and_unknown_keys() {
        for (bad, why) in [
            ("kind = \"dns.wrong_address\"\nnames = \"a.com\"\naddress = \"10.0.0.1\"", "not a loopback"),
            ("kind = \"dns.cname_target\"\nnames = \"a.com\"\ntarget = \"*.b.com\"", "not a wildcard"),
            ("kind = \"dns.drop\"\nnames = \"a.com\"\nafter = \"5m\"\nuntil = \"1m\"", "must lie after"),
            ("kind = \"dns.delay\"\nnames = \"a.com\"", "delay"),
            ("kind = \"dns.drop\"\nnames = \"a.com\"\nport = 53", "port"),
            ("kind = \"dns.drop\"\nnames = \"a.com\"\nport = 53", "also takes `names`"),
            ("kind = \"dns.drop\"", "names"),
            ("kind = \"dns.servfail\"\nnames = \"a.com\"", "servfail"),
            ("kind = \"dns.drop\"\nnames = \"a.com\"\nafter = \"soon\"", "soon"),
        ] {
            let e = one(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    /// Issue 10: an unknown key still points at itself (file:line:column) after the split.
    #[test]
    fn unknown_key_points_at_itself() {
        let e = parse_scenario(&format!("{HEAD}[[fault]]\nkind = \"dns.drop\"\nnames = \"a.com\"\nuntill = \"1m\"\n"), "f.toml").unwrap_err();
        assert_eq!((e.line, e.column), (8, 1), "{e}");
        assert!(e.message.contains("unknown key `untill`"), "{e}");
    }
}
