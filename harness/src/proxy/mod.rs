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
//! One decision per request ([`decide`]): refuse it with a [`refusal`] (journaled and applied in
//! one place, for CONNECT, absolute-form and inspected requests alike), or forward it with a
//! [`plan`] — the list of connection faults it carries, each a fault kind and its effect.
//! Faults act at the seams, one file each: policy ([`rules`], [`auth`], [`allow_list`]) decides;
//! the tunnel copy ([`pump`]) shapes and cuts connections; the TLS accept ([`inspect`], with
//! its [`ca`]) intercepts; the request layer ([`request`]) rewrites what it forwards. Every
//! connection is journaled ([`conn`]): open, request and decision, upstream, bytes each way,
//! close and its cause. This is not a general-purpose proxy: no HTTP/2, no caching, no upstream
//! proxies, and it never reaches beyond the world.
//!
//! The modules import one another without a circle: [`listener`] dispatches to [`tunnel`] and [`http`];
//! both decide with [`decide`] and forward through [`pump`], [`inspect`], [`request`] and
//! [`upstream`]; the leaves ([`respond`], [`head`], [`conn`], [`plan`], [`error`]) import no
//! sibling that imports them back.

pub mod allow_list;
mod auth;
mod ca;
mod conn;
mod decide;
mod error;
mod head;
mod http;
mod inspect;
mod listener;
mod plan;
mod pump;
mod splice;
mod refusal;
mod request;
mod resolve;
mod respond;
mod rules;
mod shared;
mod transparent;
mod tunnel;
mod upstream;
mod world_dns;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use mock_cloud::Cloud;
use rustls::pki_types::pem::PemObject as _;
use scenarios::{Journal, ProxyFault, Scenario, WorldSpec};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use error::ProxyError;
pub use resolve::{CatalogResolver, EmulatedNames, Front, Fronts, Resolve, ResolveError, ResolveFuture};
pub use rules::validate;
pub use shared::Limits;
pub use transparent::Speaks;
pub use world_dns::WorldDns;

use shared::Shared;

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
            fronts: Fronts { https: cloud.https_addr, http: cloud.http_addr, advertised: None },
            resolver,
            upstream_roots_pem: cloud.ca_bundle_pem(),
            permitted_subtrees: cloud.pki.permitted_subtrees().to_vec(),
            limits: Limits::default(),
            catalog: cloud.catalog.clone(),
        }
    }
}

/// A running proxy. Dropping it closes the listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    trusted_pem: String,
    task: JoinHandle<Option<()>>,
    shared: Arc<Shared>,
    /// Transparent listeners ([`Proxy::serve_transparent`]), stopped with the proxy.
    transparent: Vec<JoinHandle<Option<()>>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).field("transparent", &self.transparent.len()).finish()
    }
}

impl Proxy {
    /// Compile the faults, generate any inspection CA, and start accepting.
    pub fn start(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        Proxy::start_with(config, None)
    }

    /// [`Proxy::start`] for a running world whose faults may change (issue 17): `config.faults`
    /// are `store`'s proxy faults as they are now, and each new connection (and each request
    /// the proxy reads) is decided by the store's faults as they are then.
    pub fn start_live(config: ProxyConfig, store: scenarios::FaultStore) -> Result<Proxy, ProxyError> {
        Proxy::start_with(config, Some(store))
    }

    fn start_with(config: ProxyConfig, live: Option<scenarios::FaultStore>) -> Result<Proxy, ProxyError> {
        let addr = config.listener.local_addr()?;
        let policy = rules::Policy::compile(&config.faults, &config.world, &config.catalog, &config.permitted_subtrees, config.journal.clock())?;
        policy.journal_allow_list_gaps(&config.world, &config.catalog, &config.journal);
        let trusted_pem = policy.trusted_inspection_pem();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(config.upstream_roots_pem.as_bytes()).flatten() {
            let _ = roots.add(cert);
        }
        let policy = match live {
            Some(store) => {
                let compile = shared::Compile { world: config.world, catalog: config.catalog, permitted: config.permitted_subtrees };
                shared::PolicyCell::live(policy, store, compile)
            }
            None => shared::PolicyCell::fixed(policy),
        };
        let shared = Arc::new(Shared {
            journal: config.journal,
            policy,
            resolver: config.resolver,
            fronts: config.fronts,
            upstream_roots: Arc::new(roots),
            limits: config.limits,
            next_conn: AtomicU64::new(1),
        });
        // A panic in the accept loop is the world's failure, journaled (issue 10).
        let task = tokio::spawn(shared.journal.clone().catching("the proxy's accept loop", listener::serve(config.listener, shared.clone())));
        Ok(Proxy { addr, trusted_pem, task, shared, transparent: Vec::new() })
    }

    /// Also take connections that name no proxy on `listener` (issue 19): `port` is the port
    /// the clients believe they connect to (443 for TLS, 80 for HTTP).
    pub fn serve_transparent(&mut self, listener: TcpListener, speaks: Speaks, port: u16) {
        let serve = transparent::serve(listener, self.shared.clone(), speaks, port);
        self.transparent.push(tokio::spawn(self.shared.journal.clone().catching("the proxy's transparent listener", serve)));
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
        for t in &self.transparent {
            t.abort();
        }
    }
}
