//! Service faults: the cloud's own services misbehaving at their HTTP seam.
//!
//! Every fault has the layer's one shape: its target is `service` (a [`Service`] name) and/or
//! `hosts` (the host a client asks, one pattern or a list); its window `after`/`until`
//! (simulated time since the world started); its effect the kind with its own keys.
//!
//! Two families of effect:
//! - **generic**, which any service gets from one layer the composition puts in front of every
//!   router: answer a `status` instead of the service, `delay` the answer, send a `malformed`
//!   body (not what its content type says), or `close` the connection without an answer. They
//!   need a target: a 503 from every service of the world, DoH included, is no scenario.
//! - **service-specific**, interpreted by their own service's layer (the revocation responders
//!   of the world's PKI, RFC 5280 §5 and RFC 6960, in the ways failure catalog PKI-04 lists):
//!   OCSP `tryLater`, a broken OCSP answer, stale OCSP/CRL answers, an unavailable CRL, slow
//!   responders; device registration's directory not yet synced (failure catalog ENR-03). Their
//!   service is implied; no target means every responder of that service.
//!
//! This file is the model only: mock-cloud's layers give these faults their effect, without a
//! branch in any handler.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ServiceFaultKind, Window};
use crate::{HostList, Service, SimDuration};

/// One service fault: which requests, when, and what happens to them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFault {
    pub target: ServiceTarget,
    pub window: Window,
    pub effect: ServiceEffect,
}

/// Which requests a service fault selects: those a `service` answers, and/or those for `hosts`
/// (both given: both must hold).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<Service>,
    #[serde(default, skip_serializing_if = "HostList::is_empty")]
    pub hosts: HostList,
}

impl ServiceTarget {
    const KEYS: &[&str] = &["service", "hosts"];
}

fn one_day() -> SimDuration {
    SimDuration::from_days(1)
}

fn not_found() -> u16 {
    404
}

/// What a service fault does to the requests it selects.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum ServiceEffect {
    /// Generic: the service's front answers `status` (e.g. 503) instead of the service.
    #[serde(rename = "service.status")]
    Status { status: u16 },
    /// Generic: the answer is held back `delay` (simulated time) before it is sent.
    #[serde(rename = "service.delay")]
    Delay { delay: SimDuration },
    /// Generic: the service's status and headers, with a body that is not what its content type
    /// says (a broken front end in the service's path).
    #[serde(rename = "service.malformed")]
    Malformed {},
    /// Generic: the connection is closed without an answer.
    #[serde(rename = "service.close")]
    Close {},
    /// The OCSP responder answers `tryLater` (RFC 6960 §2.3, responseStatus 3) to every request.
    #[serde(rename = "service.ocsp_try_later")]
    OcspTryLater {},
    /// The OCSP responder sends bytes that are no OCSPResponse, with the right content type.
    #[serde(rename = "service.ocsp_malformed")]
    OcspMalformed {},
    /// The OCSP responder serves stale pre-produced answers: nextUpdate lies `since` before now.
    #[serde(rename = "service.ocsp_stale")]
    OcspStale {
        #[serde(default = "one_day")]
        since: SimDuration,
    },
    /// Every OCSP answer is held back `delay` (simulated time) before it is sent.
    #[serde(rename = "service.ocsp_slow")]
    OcspSlow { delay: SimDuration },
    /// The CRL served is stale: its nextUpdate lies `since` before now (RFC 5280 §5.1.2.5).
    #[serde(rename = "service.crl_stale")]
    CrlStale {
        #[serde(default = "one_day")]
        since: SimDuration,
    },
    /// The CRL distribution point answers `status` (default 404) instead of the CRL: the CRL
    /// was never published where the certificates say (failure catalog PKI-05).
    #[serde(rename = "service.crl_unavailable")]
    CrlUnavailable {
        #[serde(default = "not_found")]
        status: u16,
    },
    /// Every CRL download is held back `delay` (simulated time) before it is sent.
    #[serde(rename = "service.crl_slow")]
    CrlSlow { delay: SimDuration },
    /// DRS answers a device join 400 with `ErrorCode` `DirectoryError`, "The device object by the
    /// given id (…) is not found.": a hybrid join before Entra Connect synced the computer
    /// object (failure catalog ENR-03); `until` is when the sync completes.
    #[serde(rename = "service.drs_directory_error")]
    DrsDirectoryError {},
}

impl ServiceEffect {
    /// The service a service-specific effect belongs to; `None` for a generic effect.
    pub fn own_service(&self) -> Option<Service> {
        match self {
            ServiceEffect::Status { .. } | ServiceEffect::Delay { .. } | ServiceEffect::Malformed {} | ServiceEffect::Close {} => None,
            ServiceEffect::OcspTryLater {} | ServiceEffect::OcspMalformed {} | ServiceEffect::OcspStale { .. } | ServiceEffect::OcspSlow { .. } => {
                Some(Service::Ocsp)
            }
            ServiceEffect::CrlStale { .. } | ServiceEffect::CrlUnavailable { .. } | ServiceEffect::CrlSlow { .. } => Some(Service::Crl),
            ServiceEffect::DrsDirectoryError {} => Some(Service::Drs),
        }
    }

    /// A generic effect: every service gets it from the composition's layer.
    pub fn is_generic(&self) -> bool {
        self.own_service().is_none()
    }
}

impl ServiceFault {
    /// A fault with `effect` on every request its effect can reach, at any time (its service's
    /// own for a specific effect). For tests and tools; a scenario file names its target.
    pub fn new(effect: ServiceEffect) -> ServiceFault {
        ServiceFault { target: ServiceTarget::default(), window: Window::default(), effect }
    }

    pub fn kind(&self) -> ServiceFaultKind {
        match self.effect {
            ServiceEffect::Status { .. } => ServiceFaultKind::Status,
            ServiceEffect::Delay { .. } => ServiceFaultKind::Delay,
            ServiceEffect::Malformed {} => ServiceFaultKind::Malformed,
            ServiceEffect::Close {} => ServiceFaultKind::Close,
            ServiceEffect::OcspTryLater {} => ServiceFaultKind::OcspTryLater,
            ServiceEffect::OcspMalformed {} => ServiceFaultKind::OcspMalformed,
            ServiceEffect::OcspStale { .. } => ServiceFaultKind::OcspStale,
            ServiceEffect::OcspSlow { .. } => ServiceFaultKind::OcspSlow,
            ServiceEffect::CrlStale { .. } => ServiceFaultKind::CrlStale,
            ServiceEffect::CrlUnavailable { .. } => ServiceFaultKind::CrlUnavailable,
            ServiceEffect::CrlSlow { .. } => ServiceFaultKind::CrlSlow,
            ServiceEffect::DrsDirectoryError {} => ServiceFaultKind::DrsDirectoryError,
        }
    }

    /// The service the fault changes: its effect's own, else its target's (none: any service
    /// its `hosts` reach).
    pub fn service(&self) -> Option<Service> {
        self.effect.own_service().or(self.target.service)
    }

    pub fn hosts(&self) -> &HostList {
        &self.target.hosts
    }

    /// Does the fault apply, `elapsed` simulated time after the world started, to a request
    /// that `service` answers for `host`?
    pub fn applies(&self, service: Service, host: &str, elapsed: SimDuration) -> bool {
        self.service().is_none_or(|s| s == service)
            && (self.hosts().is_empty() || self.hosts().0.iter().any(|p| p.matches(host)))
            && self.window.contains(elapsed)
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        self.window.validate().map_err(|e| format!("{kind}: {e}"))?;
        match (self.effect.own_service(), self.target.service) {
            (Some(own), Some(named)) if own != named => return Err(format!("{kind} belongs to the `{own}` service, not `{named}`")),
            (None, None) if self.target.hosts.is_empty() => {
                return Err(format!("{kind}: say which requests with `service` (e.g. \"enrollment_discovery\") or `hosts`, or both"));
            }
            _ => {}
        }
        match &self.effect {
            ServiceEffect::OcspSlow { delay } | ServiceEffect::CrlSlow { delay } | ServiceEffect::Delay { delay } if delay.0.is_zero() => {
                Err(format!("{kind}: `delay` must be above zero"))
            }
            ServiceEffect::CrlUnavailable { status } | ServiceEffect::Status { status } if !(400..=599).contains(status) => {
                Err(format!("{kind}: `status` must be a 4xx or 5xx code such as 404 or 503"))
            }
            _ => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for ServiceFault {
    /// Target and window keys are taken out first; the rest must be exactly one effect's keys.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let target = super::split(&mut table, ServiceTarget::KEYS);
        let window = super::split(&mut table, Window::KEYS);
        let effect = ServiceEffect::deserialize(toml::Value::Table(table))
            .map_err(|e| super::effect_error(e, "service fault also takes `service`, `hosts`, `after` and `until`"))?;
        let target = ServiceTarget::deserialize(target).map_err(|e| D::Error::custom(e.message()))?;
        let window = Window::deserialize(window).map_err(|e| D::Error::custom(e.message()))?;
        Ok(ServiceFault { target, window, effect })
    }
}

impl Serialize for ServiceFault {
    /// Flat, as written: `kind`, the effect's keys, the target and the window in one table.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            effect: &'a ServiceEffect,
            #[serde(flatten)]
            target: &'a ServiceTarget,
            #[serde(flatten)]
            window: &'a Window,
        }
        Flat { effect: &self.effect, target: &self.target, window: &self.window }.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Fault, parse_scenario};

    use super::*;

    const NOW: SimDuration = SimDuration::ZERO;

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
        assert!(f.applies(Service::Ocsp, "ocsp.digicert.com", NOW));
        assert!(!f.applies(Service::Crl, "crl3.digicert.com", NOW));
        let f = parse("kind = \"service.crl_stale\"\nhosts = \"crl3.digicert.com\"").unwrap();
        assert_eq!(f.effect, ServiceEffect::CrlStale { since: SimDuration::from_days(1) });
        assert!(f.applies(Service::Crl, "crl3.digicert.com", NOW));
        assert!(!f.applies(Service::Crl, "crl4.digicert.com", NOW));
        let f = parse("kind = \"service.crl_unavailable\"\nhosts = [\"crl3.digicert.com\", \"crl4.digicert.com\"]").unwrap();
        assert!(matches!(f.effect, ServiceEffect::CrlUnavailable { status: 404 }));
        let f = parse("kind = \"service.ocsp_slow\"\ndelay = \"20s\"\nservice = \"ocsp\"").unwrap();
        assert_eq!(f.effect, ServiceEffect::OcspSlow { delay: SimDuration::from_secs(20) });
        assert_eq!(f.target.service, Some(Service::Ocsp));
    }

    #[test]
    fn generic_faults_target_a_service_or_hosts_in_a_window() {
        let f = parse("kind = \"service.status\"\nservice = \"enrollment_discovery\"\nstatus = 503\nafter = \"1m\"\nuntil = \"2m\"").unwrap();
        assert!(f.effect.is_generic());
        assert_eq!(f.kind(), ServiceFaultKind::Status);
        assert!(!f.applies(Service::EnrollmentDiscovery, "enterpriseenrollment-s.manage.microsoft.com", NOW));
        assert!(f.applies(Service::EnrollmentDiscovery, "enterpriseenrollment-s.manage.microsoft.com", SimDuration::from_secs(60)));
        assert!(!f.applies(Service::Notification, "gateway.configmgr.manage.microsoft.com", SimDuration::from_secs(60)));
        let f = parse("kind = \"service.close\"\nhosts = \"*.manage.microsoft.com\"").unwrap();
        assert!(f.applies(Service::Notification, "gateway.configmgr.manage.microsoft.com", NOW));
        assert!(!f.applies(Service::Endpoints, "endpoints.office.com", NOW));
        let f = parse("kind = \"service.delay\"\nservice = \"endpoints\"\nhosts = \"endpoints.office.com\"\ndelay = \"5s\"").unwrap();
        assert_eq!(f.effect, ServiceEffect::Delay { delay: SimDuration::from_secs(5) });
        assert_eq!(parse("kind = \"service.malformed\"\nservice = \"notification\"").unwrap().kind(), ServiceFaultKind::Malformed);
    }

    #[test]
    fn serializes_flat_as_written() {
        let f = parse("kind = \"service.status\"\nservice = \"enrollment_discovery\"\nstatus = 503\nuntil = \"2m\"").unwrap();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "service.status", "status": 503, "service": "enrollment_discovery", "until": "2m"}));
    }

    /// Issue 10: after the split into target, window and effect, an unknown key still points at
    /// itself (file:line:column).
    #[test]
    fn unknown_key_points_at_itself() {
        let text = "name = \"s\"\nsummary = \"s\"\narea = \"revocation\"\nsource = \"t\"\n[[fault]]\nkind = \"service.status\"\nservice = \"doh\"\nstatus = 503\nuntill = \"1m\"\n";
        let e = parse_scenario(text, "s.toml").unwrap_err();
        assert_eq!((e.line, e.column), (9, 1), "{e}");
        assert!(e.message.contains("unknown key `untill`"), "{e}");
    }

    #[test]
    fn bad_keys_and_values_are_rejected_with_a_reason() {
        for (fault, why) in [
            ("kind = \"service.ocsp_try_latr\"", "service.ocsp_try_later"),
            ("kind = \"service.ocsp_stale\"\nsince = \"1d\"\nca = \"x\"", "unknown key `ca`"),
            ("kind = \"service.ocsp_stale\"\nsince = \"1d\"\nca = \"x\"", "also takes `service`"),
            ("kind = \"service.ocsp_slow\"", "delay"),
            ("kind = \"service.crl_slow\"\ndelay = \"0s\"", "above zero"),
            ("kind = \"service.crl_unavailable\"\nstatus = 200", "4xx or 5xx"),
            ("kind = \"service.crl_stale\"\nhosts = [\"a..b\"]", "host pattern"),
            ("kind = \"service.status\"\nstatus = 503", "say which requests"),
            ("kind = \"service.status\"\nservice = \"doh\"\nstatus = 302", "4xx or 5xx"),
            ("kind = \"service.close\"\nservice = \"discovery\"", "enrollment_discovery"),
            ("kind = \"service.ocsp_try_later\"\nservice = \"crl\"", "belongs to the `ocsp` service"),
            ("kind = \"service.close\"\nservice = \"doh\"\nafter = \"2m\"\nuntil = \"1m\"", "must lie after"),
        ] {
            let e = parse(fault).unwrap_err();
            assert!(e.contains(why), "{fault}: {e}");
        }
    }
}
