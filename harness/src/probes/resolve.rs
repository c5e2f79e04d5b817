//! How a probe finds a server by a tenant CNAME, as Windows does: ask the world's DNS server
//! for `<label>.<domain>` and follow the CNAME chain it returns (seed 003). A world without DNS
//! falls back to the catalog's CNAME rule, as if the record were there.

use std::net::SocketAddr;

use crate::dns_client::{self, Lookup};

/// Where a tenant CNAME led.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// The chain's last name, and the whole chain for the message.
    Server { name: String, chain: Vec<String> },
    /// NXDOMAIN: the tenant never created the record.
    Missing,
    /// SERVFAIL, REFUSED, no answer: the resolver is broken.
    Failed(String),
}

/// Resolve `<label>.<domain>` through the world's DNS, or take `fallback` without DNS.
pub async fn tenant_cname(dns: Option<SocketAddr>, label: &str, domain: &str, fallback: Option<String>) -> Found {
    let Some(server) = dns else {
        return match fallback {
            Some(name) => Found::Server { chain: vec![format!("{label}.{domain}").to_ascii_lowercase(), name.clone()], name },
            None => Found::Missing,
        };
    };
    match dns_client::lookup(server, &format!("{label}.{domain}")).await {
        Lookup::Found { chain, .. } => Found::Server { name: chain.last().cloned().unwrap_or_default(), chain },
        Lookup::NoSuchName => Found::Missing,
        Lookup::Failed(e) => Found::Failed(e),
    }
}

/// Resolve a server name itself (Windows resolves before it connects): `Err` says why not.
pub async fn server(dns: Option<SocketAddr>, name: &str) -> Result<(), (bool, String)> {
    let Some(dns) = dns else { return Ok(()) };
    match dns_client::lookup(dns, name).await {
        Lookup::Found { .. } => Ok(()),
        Lookup::NoSuchName => Err((true, format!("{name} does not exist (NXDOMAIN)"))),
        Lookup::Failed(e) => Err((false, format!("DNS query for {name} failed: {e}"))),
    }
}
