//! Resolving through the world's own DNS server (mock-dns on loopback), as a customer proxy
//! resolves through the customer's DNS: one A query per request, no cache, over UDP with a
//! retry over TCP when the answer is truncated. DNS faults (NXDOMAIN, SERVFAIL, a dropped
//! query, a wrong address) therefore reach clients through the proxy, as its 502 with the DNS
//! reason, or as an address the sinkhole refuses. It never asks any other server.

use std::net::{IpAddr, SocketAddr};

use super::resolve::{Resolve, ResolveError, ResolveFuture};
use super::respond::echo;
use crate::dns_client::Lookup;

/// The world's DNS server as the proxy's resolver.
#[derive(Debug, Clone)]
pub struct WorldDns {
    server: SocketAddr,
    /// The zones it serves (e.g. `microsoft.com`, `contoso.com`): other names are never asked.
    zones: Vec<String>,
}

impl WorldDns {
    pub fn new(server: SocketAddr, zones: &[String]) -> Self {
        WorldDns { server, zones: zones.iter().map(|z| z.trim_end_matches('.').to_ascii_lowercase()).collect() }
    }

    fn in_zones(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.zones.iter().any(|z| host == *z || host.ends_with(&format!(".{z}")))
    }

    async fn lookup(&self, host: &str) -> Result<IpAddr, ResolveError> {
        if !self.in_zones(host) {
            return Err(ResolveError::NotEmulated(echo(host)));
        }
        let fail = |reason: String| ResolveError::Dns { host: echo(host), reason };
        match crate::dns_client::lookup(self.server, host).await {
            Lookup::Found { addr, .. } => Ok(addr),
            Lookup::NoSuchName => Err(fail("NXDOMAIN: the name does not exist".into())),
            Lookup::Failed(reason) => Err(fail(reason)),
        }
    }
}

impl Resolve for WorldDns {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        Box::pin(self.lookup(host))
    }
}
