//! Service faults: the cloud's own services misbehaving at their HTTP seam. Today these are the
//! revocation responders of the world's PKI — the CRL distribution points (RFC 5280 §5) and the
//! OCSP responders (RFC 6960) on the hosts of seed 000 — in the ways failure catalog PKI-04
//! lists: `tryLater`, a broken answer, a stale answer (nextUpdate in the past), a slow one, a
//! CRL that cannot be had.
//!
//! A fault selects responders by the host a client asks (`hosts`, one pattern or a list); no
//! `hosts` means every responder of its kind. This file is the model only: mock-cloud's
//! service-fault layer gives these faults their effect, without a branch in any handler.

use serde::{Deserialize, Serialize};

use super::ServiceFaultKind;
use crate::{HostList, SimDuration};

/// Which kind of revocation responder a fault changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Responder {
    Crl,
    Ocsp,
}

fn one_day() -> SimDuration {
    SimDuration::from_days(1)
}

fn not_found() -> u16 {
    404
}

/// One service fault.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum ServiceFault {
    /// The OCSP responder answers `tryLater` (RFC 6960 §2.3, responseStatus 3) to every request.
    #[serde(rename = "service.ocsp_try_later")]
    OcspTryLater {
        #[serde(default, skip_serializing_if = "HostList::is_empty")]
        hosts: HostList,
    },
    /// The OCSP responder sends bytes that are no OCSPResponse, with the right content type (a
    /// broken front end in the responder's path).
    #[serde(rename = "service.ocsp_malformed")]
    OcspMalformed {
        #[serde(default, skip_serializing_if = "HostList::is_empty")]
        hosts: HostList,
    },
    /// The OCSP responder serves stale pre-produced answers: nextUpdate lies `since` before now.
    #[serde(rename = "service.ocsp_stale")]
    OcspStale {
        #[serde(default, skip_serializing_if = "HostList::is_empty")]
        hosts: HostList,
        #[serde(default = "one_day")]
        since: SimDuration,
    },
    /// Every OCSP answer is held back `delay` (simulated time) before it is sent.
    #[serde(rename = "service.ocsp_slow")]
    OcspSlow {
        #[serde(default, skip_serializing_if = "HostList::is_empty")]
        hosts: HostList,
        delay: SimDuration,
    },
    /// The CRL served is stale: its nextUpdate lies `since` before now (RFC 5280 §5.1.2.5).
    #[serde(rename = "service.crl_stale")]
    CrlStale {
        #[serde(default, skip_serializing_if = "HostList::is_empty")]
        hosts: HostList,
        #[serde(default = "one_day")]
        since: SimDuration,
    },
    /// The CRL distribution point answers `status` (default 404) instead of the CRL: the CRL
    /// was never published where the certificates say (failure catalog PKI-05).
    #[serde(rename = "service.crl_unavailable")]
    CrlUnavailable {
        #[serde(default, skip_serializing_if = "HostList::is_empty")]
        hosts: HostList,
        #[serde(default = "not_found")]
        status: u16,
    },
    /// Every CRL download is held back `delay` (simulated time) before it is sent.
    #[serde(rename = "service.crl_slow")]
    CrlSlow {
        #[serde(default, skip_serializing_if = "HostList::is_empty")]
        hosts: HostList,
        delay: SimDuration,
    },
}

impl ServiceFault {
    pub fn kind(&self) -> ServiceFaultKind {
        match self {
            ServiceFault::OcspTryLater { .. } => ServiceFaultKind::OcspTryLater,
            ServiceFault::OcspMalformed { .. } => ServiceFaultKind::OcspMalformed,
            ServiceFault::OcspStale { .. } => ServiceFaultKind::OcspStale,
            ServiceFault::OcspSlow { .. } => ServiceFaultKind::OcspSlow,
            ServiceFault::CrlStale { .. } => ServiceFaultKind::CrlStale,
            ServiceFault::CrlUnavailable { .. } => ServiceFaultKind::CrlUnavailable,
            ServiceFault::CrlSlow { .. } => ServiceFaultKind::CrlSlow,
        }
    }

    /// The responders the fault changes.
    pub fn responder(&self) -> Responder {
        match self {
            ServiceFault::OcspTryLater { .. } | ServiceFault::OcspMalformed { .. } | ServiceFault::OcspStale { .. } | ServiceFault::OcspSlow { .. } => {
                Responder::Ocsp
            }
            ServiceFault::CrlStale { .. } | ServiceFault::CrlUnavailable { .. } | ServiceFault::CrlSlow { .. } => Responder::Crl,
        }
    }

    pub fn hosts(&self) -> &HostList {
        match self {
            ServiceFault::OcspTryLater { hosts }
            | ServiceFault::OcspMalformed { hosts }
            | ServiceFault::OcspStale { hosts, .. }
            | ServiceFault::OcspSlow { hosts, .. }
            | ServiceFault::CrlStale { hosts, .. }
            | ServiceFault::CrlUnavailable { hosts, .. }
            | ServiceFault::CrlSlow { hosts, .. } => hosts,
        }
    }

    /// Does the fault apply to a request of `responder` kind for `host`?
    pub fn applies(&self, responder: Responder, host: &str) -> bool {
        self.responder() == responder && (self.hosts().is_empty() || self.hosts().0.iter().any(|p| p.matches(host)))
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        match self {
            ServiceFault::OcspSlow { delay, .. } | ServiceFault::CrlSlow { delay, .. } if delay.0.is_zero() => {
                Err(format!("{kind}: `delay` must be above zero"))
            }
            ServiceFault::CrlUnavailable { status, .. } if !(400..=599).contains(status) => {
                Err(format!("{kind}: `status` must be a 4xx or 5xx code such as 404 or 503"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Fault, parse_scenario};

    use super::*;

    fn parse(fault: &str) -> Result<ServiceFault, String> {
        let text = format!("name = \"s\"\nsummary = \"s\"\narea = \"revocation\"\nsource = \"t\"\n[[fault]]\n{fault}\n");
        let s = parse_scenario(&text, "s.toml").map_err(|e| e.to_string())?;
        match s.faults.into_iter().next() {
            Some(Fault::Service(f)) => Ok(f),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kinds_parse_with_defaults_and_targets() {
        let f = parse("kind = \"service.ocsp_try_later\"").unwrap();
        assert_eq!(f.kind(), ServiceFaultKind::OcspTryLater);
        assert!(f.applies(Responder::Ocsp, "ocsp.digicert.com"));
        assert!(!f.applies(Responder::Crl, "crl3.digicert.com"));
        let f = parse("kind = \"service.crl_stale\"\nhosts = \"crl3.digicert.com\"").unwrap();
        assert_eq!(f, ServiceFault::CrlStale { hosts: f.hosts().clone(), since: SimDuration::from_days(1) });
        assert!(f.applies(Responder::Crl, "crl3.digicert.com"));
        assert!(!f.applies(Responder::Crl, "crl4.digicert.com"));
        let f = parse("kind = \"service.crl_unavailable\"\nhosts = [\"crl3.digicert.com\", \"crl4.digicert.com\"]").unwrap();
        assert!(matches!(f, ServiceFault::CrlUnavailable { status: 404, .. }));
        let f = parse("kind = \"service.ocsp_slow\"\ndelay = \"20s\"").unwrap();
        assert_eq!(f, ServiceFault::OcspSlow { hosts: HostList::default(), delay: SimDuration::from_secs(20) });
    }

    #[test]
    fn bad_keys_and_values_are_rejected_with_a_reason() {
        for (fault, why) in [
            ("kind = \"service.ocsp_try_latr\"", "service.ocsp_try_later"),
            ("kind = \"service.ocsp_stale\"\nsince = \"1d\"\nca = \"x\"", "ca"),
            ("kind = \"service.ocsp_slow\"", "delay"),
            ("kind = \"service.crl_slow\"\ndelay = \"0s\"", "above zero"),
            ("kind = \"service.crl_unavailable\"\nstatus = 200", "4xx or 5xx"),
            ("kind = \"service.crl_stale\"\nhosts = [\"a..b\"]", "host pattern"),
        ] {
            let e = parse(fault).unwrap_err();
            assert!(e.contains(why), "{fault}: {e}");
        }
    }
}
