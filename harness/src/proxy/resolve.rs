//! Where a request may go: name resolution through the world ([`Resolve`]) and the sinkhole
//! rule ([`Fronts::route`]) that maps a resolved address and port to one of the world's two
//! listeners or refuses it. Nothing here opens a connection.
//!
//! The resolver is a trait so the world can hand the proxy its DNS server (then DNS faults
//! apply through the proxy); until it does, [`CatalogResolver`] answers from the world's
//! emulated host list, as the DNS zones would for a healthy world.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use super::respond::echo;

/// The future a [`Resolve`] returns.
pub type ResolveFuture<'a> = Pin<Box<dyn Future<Output = Result<IpAddr, ResolveError>> + Send + 'a>>;

/// How the proxy turns a host name into an address: the world's resolver.
pub trait Resolve: Send + Sync + std::fmt::Debug {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a>;
}

/// Why a name has no address. Both become the proxy's 502 with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A name outside the emulated zones: memsim never looks it up anywhere else. The names in
    /// these errors are as the proxy echoes client input ([`echo`]).
    #[error("{0} is outside the world's emulated zones; memsim never connects beyond the world")]
    NotEmulated(String),
    /// The world's DNS answered with an error (e.g. NXDOMAIN, SERVFAIL) or not at all.
    #[error("DNS lookup of {host} failed: {reason}")]
    Dns { host: String, reason: String },
}

/// The emulated names of a world: catalog hosts, and any name below a catalog wildcard.
#[derive(Debug, Clone, Default)]
pub struct EmulatedNames {
    exact: HashSet<String>,
    /// `.manage.microsoft.com` for `*.manage.microsoft.com`.
    suffixes: Vec<String>,
}

impl EmulatedNames {
    /// From the world's host list (`Cloud::hosts`), which holds names and `*.` wildcards.
    pub fn new(hosts: &[String]) -> Self {
        let mut names = EmulatedNames::default();
        for h in hosts {
            let h = h.to_ascii_lowercase();
            match h.strip_prefix('*') {
                Some(suffix) => names.suffixes.push(suffix.to_string()),
                None => {
                    names.exact.insert(h);
                }
            }
        }
        names
    }

    /// The same answer as the fronts' `service_for(host).is_some()`.
    pub fn contains(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.exact.contains(&host) || self.suffixes.iter().any(|s| host.ends_with(s.as_str()))
    }
}

/// Resolves every emulated name to the world's address, and nothing else.
#[derive(Debug, Clone)]
pub struct CatalogResolver {
    names: EmulatedNames,
    addr: IpAddr,
}

impl CatalogResolver {
    pub fn new(names: EmulatedNames, addr: IpAddr) -> Self {
        CatalogResolver { names, addr }
    }
}

impl Resolve for CatalogResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> ResolveFuture<'a> {
        let answer = if self.names.contains(host) { Ok(self.addr) } else { Err(ResolveError::NotEmulated(echo(host))) };
        Box::pin(std::future::ready(answer))
    }
}

/// The world's two listeners: the only places the proxy ever connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fronts {
    pub https: SocketAddr,
    pub http: SocketAddr,
    /// The address a lab world answers DNS with (`--advertise`, issue 19): the world's too.
    pub advertised: Option<IpAddr>,
}

/// Which front a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Https,
    Http,
}

impl Front {
    pub fn as_str(self) -> &'static str {
        match self {
            Front::Https => "https",
            Front::Http => "http",
        }
    }
}

impl Fronts {
    /// The sinkhole rule: the world's address on port 443 is its HTTPS front, on port 80 its
    /// HTTP front; any other address or port is refused with the reason.
    pub fn route(&self, ip: IpAddr, port: u16) -> Result<(SocketAddr, Front), String> {
        if ip != self.https.ip() && Some(ip) != self.advertised {
            return Err(format!("{ip} is not an address of this world; memsim connects only to the world's own listeners"));
        }
        match port {
            443 => Ok((self.https, Front::Https)),
            80 => Ok((self.http, Front::Http)),
            p => Err(format!("port {p} is not served by this world (only 80 and 443 are); no connection was attempted")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_like_the_fronts() {
        let n = EmulatedNames::new(&["*.manage.microsoft.com".into(), "login.microsoftonline.com".into()]);
        assert!(n.contains("r.manage.microsoft.com"));
        assert!(n.contains("Login.MicrosoftOnline.com."));
        assert!(!n.contains("manage.microsoft.com.evil.org"));
        assert!(!n.contains("example.org"));
    }

    #[test]
    fn only_the_worlds_address_and_ports_route() {
        let f = Fronts { https: "127.0.0.1:4443".parse().unwrap(), http: "127.0.0.1:8080".parse().unwrap(), advertised: None };
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(f.route(lo, 443).unwrap(), (f.https, Front::Https));
        assert_eq!(f.route(lo, 80).unwrap(), (f.http, Front::Http));
        assert!(f.route(lo, 4443).unwrap_err().contains("port 4443"));
        assert!(f.route("10.0.0.1".parse().unwrap(), 443).unwrap_err().contains("not an address of this world"));
    }
}
