//! Faults: one closed vocabulary per layer, written `kind = "<layer>.<name>"` in a scenario.
//! Each layer's enum lives in its own file; this one dispatches on the layer prefix.

mod dns;
mod kind;
mod pki;
mod proxy;
mod service;

use serde::{Deserialize, Deserializer, Serialize};

pub use dns::DnsFault;
pub use kind::{DnsFaultKind, FaultKind, PkiFaultKind, ProxyFaultKind, ServiceFaultKind};
pub use pki::{CertLevel, CertTarget, PkiFault, RevocationReason};
pub use proxy::{AuthScheme, BlockStyle, CloseMethod, Direction, EndpointCategory, HostList, ProxyFault, ProxyRule, ProxyTarget};
pub use service::{Responder, ServiceFault};

/// Any declared fault, by layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Fault {
    Pki(PkiFault),
    Dns(DnsFault),
    Proxy(ProxyFault),
    Service(ServiceFault),
}

impl Fault {
    /// The fault's kind (written `pki.expired` in scenarios and journals).
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::Pki(f) => f.kind().into(),
            Fault::Dns(f) => f.kind().into(),
            Fault::Proxy(f) => f.kind().into(),
            Fault::Service(f) => f.kind().into(),
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
        }
    }
}
