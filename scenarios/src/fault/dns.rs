//! DNS faults, named after hickory's response codes (ServFail, NxDomain, Refused) plus what a
//! network does to DNS (drop, delay, truncate, a wrong address, a wrong CNAME target, a TTL).
//! (The DNS issue completes this vocabulary.)

use serde::{Deserialize, Serialize};

use crate::HostPattern;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum DnsFault {
    /// Names that exist answer NXDOMAIN.
    #[serde(rename = "dns.nx_domain")]
    NxDomain { names: HostPattern },
}

impl DnsFault {
    pub fn kind(&self) -> &'static str {
        match self {
            DnsFault::NxDomain { .. } => "dns.nx_domain",
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}
