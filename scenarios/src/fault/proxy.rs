//! Customer-network faults at the proxy, named after Toxiproxy's toxics (latency, bandwidth,
//! timeout, reset_peer, limit_data) plus idle_timeout and the policies of a corporate proxy
//! (deny, allow-list, authentication, TLS inspection, Range stripping).
//! (The proxy issue completes this vocabulary.)

use serde::{Deserialize, Serialize};

use crate::HostPattern;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum ProxyFault {
    /// Requests to these hosts are refused.
    #[serde(rename = "proxy.deny")]
    Deny { hosts: HostPattern },
}

impl ProxyFault {
    pub fn kind(&self) -> &'static str {
        match self {
            ProxyFault::Deny { .. } => "proxy.deny",
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
