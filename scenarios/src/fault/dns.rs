//! DNS faults, named after hickory's response codes (ServFail, NxDomain, Refused) plus what a
//! network or a DNS administrator does to DNS: drop, delay, truncate, a wrong address, a wrong
//! CNAME target, a TTL.
//!
//! Every fault names the queries it hits by `names` (a host pattern matched against the query
//! name *and* every name of the CNAME chain the answer walks, as a recursive resolver would
//! meet them) and is active in a window of simulated time since the world started: from
//! `after` (default `0s`) until `until` (default: for ever). This file is the model only; the
//! DNS server applies it as a layer around its request handler (`mock-dns`).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::DnsFaultKind;
use crate::{HostPattern, SimDuration};

/// When a DNS fault is active, in simulated time since the world started: from `after`
/// (inclusive) until `until` (exclusive; none: for ever). Every variant carries both keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct DnsWindow {
    after: SimDuration,
    until: Option<SimDuration>,
}

impl DnsWindow {
    fn contains(&self, elapsed: SimDuration) -> bool {
        elapsed >= self.after && self.until.is_none_or(|u| elapsed < u)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum DnsFault {
    /// The names do not exist: NXDOMAIN with the zone's SOA (e.g. a CNAME that was never created).
    #[serde(rename = "dns.nx_domain")]
    NxDomain {
        names: HostPattern,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// The server fails: SERVFAIL (e.g. a broken forwarder during Autopilot OOBE).
    #[serde(rename = "dns.serv_fail")]
    ServFail {
        names: HostPattern,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// The server refuses to answer: REFUSED (e.g. a resolver that only serves the intranet).
    #[serde(rename = "dns.refused")]
    Refused {
        names: HostPattern,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// No answer at all, over any transport: the client times out.
    #[serde(rename = "dns.drop")]
    Drop {
        names: HostPattern,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// The right answer, `delay` (simulated time) late.
    #[serde(rename = "dns.delay")]
    Delay {
        names: HostPattern,
        delay: SimDuration,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// A records answer `address` (another loopback address, default 127.0.0.2) where nothing
    /// listens: the name resolves, the connection is refused.
    #[serde(rename = "dns.wrong_address")]
    WrongAddress {
        names: HostPattern,
        #[serde(default = "default_wrong_address")]
        address: Ipv4Addr,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// The names are a CNAME to `target` (whatever they held), and the answer follows `target`:
    /// e.g. EnterpriseEnrollment.<domain> pointing at the non-preferred
    /// EnterpriseEnrollment.manage.microsoft.com (seed 003).
    #[serde(rename = "dns.cname_target")]
    CnameTarget {
        names: HostPattern,
        target: HostPattern,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// Answers over UDP come back truncated (TC set, no records): only a client that retries
    /// over TCP (RFC 7766 §5) resolves the names. TCP and DoH answers are whole.
    #[serde(rename = "dns.truncate")]
    Truncate {
        names: HostPattern,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
    /// Every record of the answer carries `ttl` (simulated time), e.g. `0s` to defeat caching
    /// or `72h` to keep a stale answer for the whole propagation time of seed 003.
    #[serde(rename = "dns.ttl")]
    Ttl {
        names: HostPattern,
        ttl: SimDuration,
        #[serde(default)]
        after: SimDuration,
        until: Option<SimDuration>,
    },
}

fn default_wrong_address() -> Ipv4Addr {
    DnsFault::DEFAULT_WRONG_ADDRESS
}

impl DnsFault {
    /// The default `wrong_address`: another loopback address, where nothing listens.
    pub const DEFAULT_WRONG_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

    /// Is the fault active `elapsed` simulated time after the world started?
    pub fn is_active(&self, elapsed: SimDuration) -> bool {
        self.window().contains(elapsed)
    }

    pub fn kind(&self) -> DnsFaultKind {
        match self {
            DnsFault::NxDomain { .. } => DnsFaultKind::NxDomain,
            DnsFault::ServFail { .. } => DnsFaultKind::ServFail,
            DnsFault::Refused { .. } => DnsFaultKind::Refused,
            DnsFault::Drop { .. } => DnsFaultKind::Drop,
            DnsFault::Delay { .. } => DnsFaultKind::Delay,
            DnsFault::WrongAddress { .. } => DnsFaultKind::WrongAddress,
            DnsFault::CnameTarget { .. } => DnsFaultKind::CnameTarget,
            DnsFault::Truncate { .. } => DnsFaultKind::Truncate,
            DnsFault::Ttl { .. } => DnsFaultKind::Ttl,
        }
    }

    /// The names the fault hits.
    pub fn names(&self) -> &HostPattern {
        match self {
            DnsFault::NxDomain { names, .. }
            | DnsFault::ServFail { names, .. }
            | DnsFault::Refused { names, .. }
            | DnsFault::Drop { names, .. }
            | DnsFault::Delay { names, .. }
            | DnsFault::WrongAddress { names, .. }
            | DnsFault::CnameTarget { names, .. }
            | DnsFault::Truncate { names, .. }
            | DnsFault::Ttl { names, .. } => names,
        }
    }

    fn window(&self) -> DnsWindow {
        let (after, until) = match self {
            DnsFault::NxDomain { after, until, .. }
            | DnsFault::ServFail { after, until, .. }
            | DnsFault::Refused { after, until, .. }
            | DnsFault::Drop { after, until, .. }
            | DnsFault::Delay { after, until, .. }
            | DnsFault::WrongAddress { after, until, .. }
            | DnsFault::CnameTarget { after, until, .. }
            | DnsFault::Truncate { after, until, .. }
            | DnsFault::Ttl { after, until, .. } => (after, until),
        };
        DnsWindow { after: *after, until: *until }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let w = self.window();
        if w.until.is_some_and(|u| u <= w.after) {
            return Err(format!("{}: `until` must lie after `after`", self.kind()));
        }
        match self {
            // Nothing ever leaves the machine: a wrong address is still a loopback address.
            DnsFault::WrongAddress { address, .. } if !address.is_loopback() => {
                Err(format!("{}: address {address} is not a loopback address (use 127.0.0.2 … 127.255.255.254)", self.kind()))
            }
            DnsFault::CnameTarget { target, .. } if target.is_wildcard() => Err(format!("{}: `target` is one host name, not a wildcard", self.kind())),
            _ => Ok(()),
        }
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
            DnsFault::WrongAddress {
                names: HostPattern::parse("*.azureedge.net").unwrap(),
                address: DnsFault::DEFAULT_WRONG_ADDRESS,
                after: SimDuration::ZERO,
                until: None,
            }
        );
    }

    #[test]
    fn windows_are_half_open_in_simulated_time() {
        let w = DnsWindow { after: SimDuration::from_secs(60), until: Some(SimDuration::from_secs(300)) };
        assert!(!w.contains(SimDuration::from_secs(59)));
        assert!(w.contains(SimDuration::from_secs(60)));
        assert!(!w.contains(SimDuration::from_secs(300)));
        assert!(DnsWindow::default().contains(SimDuration::ZERO));
    }

    #[test]
    fn refuses_off_loopback_addresses_wildcard_targets_empty_windows_and_unknown_keys() {
        for (bad, why) in [
            ("kind = \"dns.wrong_address\"\nnames = \"a.com\"\naddress = \"10.0.0.1\"", "not a loopback"),
            ("kind = \"dns.cname_target\"\nnames = \"a.com\"\ntarget = \"*.b.com\"", "not a wildcard"),
            ("kind = \"dns.drop\"\nnames = \"a.com\"\nafter = \"5m\"\nuntil = \"1m\"", "must lie after"),
            ("kind = \"dns.delay\"\nnames = \"a.com\"", "delay"),
            ("kind = \"dns.drop\"\nnames = \"a.com\"\nport = 53", "port"),
            ("kind = \"dns.servfail\"\nnames = \"a.com\"", "servfail"),
        ] {
            let e = one(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
