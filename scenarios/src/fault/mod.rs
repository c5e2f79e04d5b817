//! Faults: one closed vocabulary per layer, written `kind = "<layer>.<name>"` in a scenario.
//! Each layer's enum lives in its own file; this one dispatches on the layer prefix.
//!
//! Every layer's fault has one shape: a *target* (which names, hosts, requests or
//! certificates), a *time window* (when, in simulated time since the world started) and an
//! *effect* (the kind with its own keys). In the file the three sit flat in one table, as
//! written; each layer's `Deserialize` takes its target and window keys out first and reads the
//! rest as exactly one effect, so an unknown key is still an error at its place.

mod cmg;
mod dns;
mod enrollment;
mod entra;
mod kind;
mod pki;
mod proxy;
mod service;
mod store;

use serde::{Deserialize, Deserializer, Serialize};

use crate::SimDuration;

pub use cmg::{CmgEffect, CmgFault, TokenEffect, TokenFault};
pub use dns::{DnsEffect, DnsFault};
pub use enrollment::{EnrollStep, EnrollmentEffect, EnrollmentFault, EnrollmentTarget};
pub use entra::{CaRequirement, EntraEffect, EntraFault, EntraTarget, same_resource};
pub use kind::{CmgFaultKind, DnsFaultKind, EnrollmentFaultKind, EntraFaultKind, FaultKind, PkiFaultKind, ProxyFaultKind, ServiceFaultKind, TokenFaultKind};
pub use pki::{CertLevel, CertTarget, PkiFault, RevocationReason, StapleState};
pub use proxy::{AuthScheme, BlockStyle, CloseMethod, Direction, EndpointCategory, HostList, ProxyFault, ProxyRule, ProxyTarget};
pub use service::{ServiceEffect, ServiceFault, ServiceTarget};
pub use store::{FaultChecker, FaultEntry, FaultError, FaultId, FaultSet, FaultStore, SyntaxChecker, fault_toml};

/// Any declared fault, by layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Fault {
    Pki(PkiFault),
    Dns(DnsFault),
    Proxy(ProxyFault),
    Service(ServiceFault),
    Cmg(CmgFault),
    Token(TokenFault),
    Entra(EntraFault),
    Enrollment(EnrollmentFault),
}

impl Fault {
    /// The fault's kind (written `pki.expired` in scenarios and journals).
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Pki(f) => f.kind().into(),
            Fault::Dns(f) => f.kind().into(),
            Fault::Proxy(f) => f.kind().into(),
            Fault::Service(f) => f.kind().into(),
            Fault::Cmg(f) => f.kind().into(),
            Fault::Token(f) => f.kind().into(),
            Fault::Entra(f) => f.kind().into(),
            Fault::Enrollment(f) => f.kind().into(),
        }
    }
}

impl<'de> Deserialize<'de> for Fault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(d)?;
        let kind = match table.get("kind") {
            Some(toml::Value::String(k)) => k.clone(),
            Some(_) => return Err(D::Error::custom("fault `kind` must be a string such as \"pki.expired\"")),
            None => return Err(D::Error::custom("fault is missing `kind` (e.g. kind = \"pki.expired\")")),
        };
        let layer = kind.split('.').next().unwrap_or_default();
        let value = toml::Value::Table(table);
        let fault = match layer {
            "pki" => PkiFault::deserialize(value).map(Fault::Pki),
            "dns" => DnsFault::deserialize(value).map(Fault::Dns),
            "proxy" => ProxyFault::deserialize(value).map(Fault::Proxy),
            "service" => ServiceFault::deserialize(value).map(Fault::Service),
            "cmg" => CmgFault::deserialize(value).map(Fault::Cmg),
            "token" => TokenFault::deserialize(value).map(Fault::Token),
            "entra" => EntraFault::deserialize(value).map(Fault::Entra),
            "enrollment" => EnrollmentFault::deserialize(value).map(Fault::Enrollment),
            _ => {
                return Err(D::Error::custom(format!("unknown fault kind `{kind}`: a kind starts with its layer, one of: {}", FaultKind::LAYERS.join(", "))));
            }
        }
        .map_err(|e| D::Error::custom(e.message()))?;
        fault.validate().map_err(D::Error::custom)?;
        Ok(fault)
    }
}

impl Fault {
    fn validate(&self) -> Result<(), String> {
        match self {
            Fault::Pki(f) => f.validate(),
            Fault::Dns(f) => f.validate(),
            Fault::Proxy(f) => f.validate(),
            Fault::Service(f) => f.validate(),
            Fault::Cmg(f) => f.validate(),
            Fault::Token(f) => f.validate(),
            Fault::Entra(f) => f.validate(),
            Fault::Enrollment(f) => f.validate(),
        }
    }
}

/// When a fault is active, in simulated time since the world started: from `after` (inclusive,
/// default `0s`) until `until` (exclusive; none: for ever). Written as two keys beside `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after: SimDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<SimDuration>,
}

impl Window {
    /// The keys a window takes.
    pub const KEYS: &[&str] = &["after", "until"];

    /// Is `elapsed` (simulated time since the world started) inside the window?
    pub fn contains(&self, elapsed: SimDuration) -> bool {
        elapsed >= self.after && self.until.is_none_or(|u| elapsed < u)
    }

    fn validate(&self) -> Result<(), String> {
        match self.until {
            Some(u) if u <= self.after => Err("`until` must lie after `after`".into()),
            _ => Ok(()),
        }
    }
}

fn is_zero(d: &SimDuration) -> bool {
    d.0.is_zero()
}

/// Split a fault's table into the keys of its target and window and the rest (its effect): the
/// one way every layer reads its flat table.
fn split(table: &mut toml::Table, keys: &[&str]) -> toml::Value {
    let mut taken = toml::Table::new();
    for key in keys {
        if let Some(v) = table.remove(*key) {
            taken.insert((*key).to_string(), v);
        }
    }
    toml::Value::Table(taken)
}

/// serde's error for an unknown effect key, with the keys every fault of the layer also takes.
fn effect_error<E: serde::de::Error>(e: toml::de::Error, shared: &str) -> E {
    let msg = e.message().trim().to_string();
    if msg.starts_with("unknown field") { E::custom(format!("{msg}; every {shared}")) } else { E::custom(msg) }
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn windows_are_half_open_in_simulated_time() {
        let w = Window { after: SimDuration::from_secs(60), until: Some(SimDuration::from_secs(300)) };
        assert!(!w.contains(SimDuration::from_secs(59)));
        assert!(w.contains(SimDuration::from_secs(60)));
        assert!(!w.contains(SimDuration::from_secs(300)));
        assert!(Window::default().contains(SimDuration::ZERO));
        assert!(Window { after: SimDuration::from_secs(5), until: Some(SimDuration::from_secs(5)) }.validate().is_err());
    }
}
