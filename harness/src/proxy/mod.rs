//! The customer's network: an HTTP/1.1 forward proxy per world that emulates the customer's
//! proxy and its faults (failure catalog §8 and §10; seeds 000 and 002).
//!
//! It takes absolute-form `http://` requests and `CONNECT host:port` tunnels, resolves names
//! through a [`Resolve`] the world provides (its DNS server, so DNS faults apply), and connects only to the world's own two
//! listeners ([`Fronts`]): an emulated name on port 443 reaches the HTTPS front, on port 80 the
//! HTTP front. Anything else — a name outside the emulated zones, an address literal, a port the
//! world does not serve — is refused with a status, a reason and a journal entry, and no
//! connection is attempted (the sinkhole property).
//!
//! Faults are layers at the seams, one file each: policy ([`rules`], [`auth`], [`allow_list`])
//! decides per request; the tunnel copy ([`pump`]) shapes and cuts connections; the TLS accept
//! ([`inspect`]) intercepts. Every connection is journaled: open, target, decision, bytes each
//! way, close and its cause. This is not a general-purpose proxy: no HTTP/2, no caching, no
//! upstream proxies, and it never reaches beyond the world.

pub mod allow_list;
mod auth;
mod conn;
mod head;
mod http;
mod inspect;
mod listener;
mod pump;
mod resolve;
mod respond;
mod rules;
mod tunnel;
mod world_dns;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use mock_cloud::Cloud;
use rustls::pki_types::pem::PemObject as _;
use scenarios::{Journal, ProxyFault, Scenario, WorldSpec};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use resolve::{CatalogResolver, EmulatedNames, Front, Fronts, Resolve, ResolveError, ResolveFuture};
pub use rules::validate;
pub use world_dns::WorldDns;

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A fault names an endpoint set the catalog does not have (bad scenario input).
    #[error("unknown endpoint set {0}: the Intune endpoint table (seed 002) has no such ID")]
    UnknownEndpointSet(u32),
    /// The customer's allow-list file could not be read or has a bad line (bad input).
    #[error("allow-list {path}: {message}")]
    AllowList { path: String, message: String },
    /// The inspection CA could not be generated.
    #[error("TLS inspection CA: {0}")]
    Certificate(String),
    #[error("proxy listener: {0}")]
    Io(#[from] std::io::Error),
}

impl ProxyError {
    /// A scenario problem, as opposed to the machine failing.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, ProxyError::UnknownEndpointSet(_) | ProxyError::AllowList { .. })
    }
}

/// Safety bounds against clients that misbehave. Wall time: they protect the proxy, they are
/// not part of the emulation.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a client may take to send the first request head of a connection (slowloris).
    pub head_timeout: Duration,
    /// How long a kept-alive connection the proxy reads HTTP on (plain or inspected) may wait
    /// for its next request head, idle time included (hyper measures both as one span): then
    /// the proxy closes it with a FIN. Squid's `client_idle_pconn_timeout` is 2 minutes.
    pub keep_alive_timeout: Duration,
    /// The largest request head accepted.
    pub max_head_bytes: usize,
    /// Connections served at once; more get 503.
    pub max_connections: usize,
    /// How long to wait for a world listener to accept.
    pub connect_timeout: Duration,
    /// How long a connection whose traffic is silently dropped is held before it is let go.
    pub drop_hold: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(120),
            max_head_bytes: 32 * 1024,
            max_connections: 1024,
            connect_timeout: Duration::from_secs(5),
            drop_hold: Duration::from_secs(600),
        }
    }
}

/// Everything a proxy needs.
pub struct ProxyConfig {
    pub listener: TcpListener,
    pub faults: Vec<ProxyFault>,
    pub world: WorldSpec,
    pub journal: Journal,
    pub fronts: Fronts,
    pub resolver: Arc<dyn Resolve>,
    /// The roots the world's servers chain to: what the proxy trusts when it re-encrypts.
    pub upstream_roots_pem: String,
    /// The DNS subtrees an inspection CA is constrained to (the world CAs' own).
    pub permitted_subtrees: Vec<String>,
    pub limits: Limits,
    /// The world's endpoint catalog (endpoint sets, allow-list gaps).
    pub catalog: Arc<mock_cloud::Catalog>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig").field("faults", &self.faults).field("fronts", &self.fronts).finish()
    }
}

impl ProxyConfig {
    /// The proxy of a world: its scenario's proxy faults, the cloud's fronts and PKI, and the
    /// world's DNS server as resolver (`dns`: its address and zones), or without one a
    /// resolver over the cloud's emulated names.
    pub fn for_world(scenario: &Scenario, cloud: &Cloud, journal: Journal, listener: TcpListener, dns: Option<(SocketAddr, &[String])>) -> ProxyConfig {
        let resolver: Arc<dyn Resolve> = match dns {
            Some((server, zones)) => Arc::new(WorldDns::new(server, zones)),
            None => Arc::new(CatalogResolver::new(EmulatedNames::new(&cloud.hosts), cloud.https_addr.ip())),
        };
        ProxyConfig {
            listener,
            faults: scenario.proxy_faults(),
            world: scenario.world.clone(),
            journal,
            fronts: Fronts { https: cloud.https_addr, http: cloud.http_addr },
            resolver,
            upstream_roots_pem: cloud.ca_bundle_pem(),
            permitted_subtrees: cloud.pki.permitted_subtrees().to_vec(),
            limits: Limits::default(),
            catalog: cloud.catalog.clone(),
        }
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub journal: Journal,
    pub policy: rules::Policy,
    pub resolver: Arc<dyn Resolve>,
    pub fronts: Fronts,
    pub upstream_roots: Arc<rustls::RootCertStore>,
    pub limits: Limits,
    pub next_conn: AtomicU64,
}

/// A running proxy. Dropping it closes the listener and every connection.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    trusted_pem: String,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Compile the faults, generate any inspection CA, and start accepting.
    pub fn start(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        let addr = config.listener.local_addr()?;
        let policy = rules::Policy::compile(&config.faults, &config.world, &config.catalog, &config.permitted_subtrees, config.journal.clock())?;
        policy.journal_allow_list_gaps(&config.world, &config.catalog, &config.journal);
        let trusted_pem = policy.trusted_inspection_pem();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(config.upstream_roots_pem.as_bytes()).flatten() {
            let _ = roots.add(cert);
        }
        let shared = Arc::new(Shared {
            journal: config.journal,
            policy,
            resolver: config.resolver,
            fronts: config.fronts,
            upstream_roots: Arc::new(roots),
            limits: config.limits,
            next_conn: AtomicU64::new(1),
        });
        let task = tokio::spawn(listener::serve(config.listener, shared));
        Ok(Proxy { addr, trusted_pem, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, as clients' `HTTPS_PROXY` wants it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// PEM of the inspection CAs a scenario marks trusted: the world's CA bundle holds them.
    pub fn trusted_inspection_pem(&self) -> &str {
        &self.trusted_pem
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
