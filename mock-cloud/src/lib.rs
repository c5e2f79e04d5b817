//! The emulated Microsoft Intune / Configuration Manager cloud.
//!
//! This crate holds the endpoint catalog (the seeds' tables as data), the generated PKI with
//! certificate faults, and the HTTP(S) fronts that dispatch by Host to one module per emulated
//! service. It does not resolve names, emulate the customer's network, or run scenarios: the
//! harness composes it with DNS and the proxy. It never opens a connection to anything.

pub mod catalog;
pub mod front;
pub mod jwt;
pub mod keys;
mod mix;
pub mod pki;
pub mod services;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use scenarios::{Component, Journal, NewEvent, PkiFault, ServiceFault, WorldSpec};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use catalog::Catalog;
pub use pki::{Pki, PkiError};
pub use services::Service;

/// What the cloud needs: the catalog, the world, its certificate faults, its journal, and two
/// bound listeners.
#[derive(Debug)]
pub struct CloudConfig {
    /// The endpoint catalog the world is built from, loaded once by the caller
    /// (`Catalog::builtin()`, or a test's own).
    pub catalog: Arc<Catalog>,
    pub world: WorldSpec,
    pub pki_faults: Vec<PkiFault>,
    pub journal: Journal,
    pub https: TcpListener,
    pub http: TcpListener,
    /// The world's DNS, for the DoH service (none: a world without DNS).
    pub dns: Option<Arc<dyn DnsWire>>,
    /// Faults of the cloud's own services: generic ones (status, delay, malformed, close) for
    /// any service, and the CRL and OCSP responders' own.
    pub service_faults: Vec<ServiceFault>,
    /// The cloud management gateway's faults and the scenario bulk token's (issue 15).
    pub cmg_faults: Vec<scenarios::CmgFault>,
    pub token_faults: Vec<scenarios::TokenFault>,
    /// Faults of Entra ID's authority (`entra.*`).
    pub entra_faults: Vec<scenarios::EntraFault>,
    /// Faults of the Windows enrollment services (`enrollment.*`).
    pub enrollment_faults: Vec<scenarios::EnrollmentFault>,
}

/// The world's DNS as the DoH service (RFC 8484) needs it: one DNS message in, what the DNS
/// does with it out. The harness implements it with mock-dns; this crate knows no more of DNS
/// than that.
pub trait DnsWire: Send + Sync + std::fmt::Debug {
    fn answer(&self, query: Vec<u8>) -> std::pin::Pin<Box<dyn std::future::Future<Output = DohAnswer> + Send + '_>>;
}

/// What the world's DNS did with a DoH message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DohAnswer {
    /// The response message (an answer, or FORMERR).
    Message(Vec<u8>),
    /// No response at all: a fault dropped the query.
    Dropped,
    /// The bytes are no query (a response message, or no DNS header): a 400, not a wait.
    NotAQuery,
}

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("mutual TLS for the check-in: {0}")]
    MutualTls(String),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
    /// The scenario's `[world.entra]` cannot be built (a certificate that does not parse).
    #[error("{0}")]
    Entra(String),
}

/// A running cloud. Dropping it stops both fronts and every connection.
#[derive(Debug)]
pub struct Cloud {
    pub https_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub pki: Arc<Pki>,
    /// Every emulated host name (and wildcard), sorted.
    pub hosts: Vec<String>,
    /// The packages the content CDNs serve (world.json's `content`).
    pub content: Arc<services::content::Library>,
    /// The catalog the world was built from.
    pub catalog: Arc<Catalog>,
    /// The cloud management gateway's site: `memsim token` and the runner mint bulk tokens here.
    pub cmg: services::cmg::CmgState,
    /// Entra ID's directory: tenant, users, apps (world.json's `entra`).
    pub entra: Arc<services::entra::Directory>,
    /// The tenant's token-signing keys: what the services check Entra tokens against (tests and
    /// benches sign a device's token with them).
    pub entra_keys: services::entra::SigningKeys,
    dispatch: front::Dispatch,
    tasks: Vec<JoinHandle<Option<()>>>,
}

impl Cloud {
    /// Generate the PKI and start serving on the given listeners.
    pub fn start(config: CloudConfig) -> Result<Cloud, CloudError> {
        let catalog = config.catalog;
        let journal = config.journal;
        let hosts = catalog.hosts_for(&config.world);
        let now = journal.clock().sim_start();
        // Placed first so that its packages' digests are computed while the PKI is built.
        let content = Arc::new(services::content::Library::new(&catalog, &config.world, now));
        let started = std::time::Instant::now();
        let pki = Arc::new(Pki::build(&catalog.pki, &config.world, config.pki_faults, &hosts, now)?);
        journal.record(
            NewEvent::new(Component::Pki, "generated")
                .detail("cas", pki.cas().len())
                .detail("hosts", hosts.len())
                .detail("ms", started.elapsed().as_secs_f64() * 1000.0),
        );
        let mut by_host = HashMap::new();
        for entry in &catalog.services.services {
            for h in entry.hosts(config.world.cloud).iter().filter_map(|h| catalog::world_host(h, &config.world)) {
                by_host.insert(h, entry.service);
            }
        }
        // The CRL and OCSP hosts are the CAs' URLs in pki.toml (seed 000), not repeated in services.toml.
        by_host.extend(services::revocation::hosts(&catalog.pki));
        by_host.extend(content.hosts().into_iter().map(|h| (h, Service::Content)));
        by_host.extend(catalog.enrollment.hosts(&config.world));
        let faults: Arc<[ServiceFault]> = config.service_faults.into();
        let entra_state = services::entra::EntraState::new(&catalog.entra, &config.world, config.entra_faults, journal.clone()).map_err(CloudError::Entra)?;
        let cmg = services::cmg::CmgState::new(&catalog, &config.world, journal.clone(), config.cmg_faults, config.token_faults, entra_state.clone());
        let state = services::AppState {
            world: Arc::new(config.world.clone()),
            journal: journal.clone(),
            catalog: catalog.clone(),
            faults: faults.clone(),
            dns: config.dns.clone(),
            revocation: services::revocation::RevocationState { pki: pki.clone(), journal: journal.clone(), faults },
            content: content.clone(),
            notification: services::notification::Config::from_catalog(&catalog),
            entra: entra_state,
            enrollment: services::enrollment::EnrollmentState::new(config.enrollment_faults),
            devices: Default::default(),
            cmg: cmg.clone(),
        };
        let entra = state.entra.directory.clone();
        let entra_keys = state.entra.keys.clone();
        let dispatch = front::Dispatch::new(&hosts, by_host, services::routers(&state), journal.clone());
        let https_addr = config.https.local_addr()?;
        let http_addr = config.http.local_addr()?;
        let tls = tls_configs(&catalog, &config.world, &pki, *journal.clock())?;
        // The accept loops, like each connection, journal a panic as the world's failure (issue 10).
        let tasks = vec![
            tokio::spawn(
                journal.catching("the HTTPS front's accept loop", front::tls::serve(config.https, tls, pki.clone(), dispatch.clone(), journal.clone())),
            ),
            tokio::spawn(journal.catching("the HTTP front's accept loop", front::http::serve(config.http, dispatch.clone()))),
        ];
        Ok(Cloud { https_addr, http_addr, pki, hosts, content, catalog, entra, entra_keys, cmg, dispatch, tasks })
    }

    /// The service that answers `host`, if the world emulates it.
    pub fn service_for(&self, host: &str) -> Option<Service> {
        self.dispatch.service_for(&host.to_ascii_lowercase())
    }

    /// Debug builds: arm the fronts' panicking test route (`front::PANIC_PATH`); release builds
    /// ignore it.
    pub fn arm_panic_route(&self) {
        self.dispatch.arm_panic_route();
    }

    /// Serve the world's control endpoint (revoke, restore, list certificates) on `listener`,
    /// guarded by `token`, until the cloud is dropped; `faults` is the world's one fault store,
    /// which `/v1/faults` changes. See `services::control`.
    pub fn serve_control(&mut self, listener: TcpListener, token: services::control::Token, faults: scenarios::FaultStore) -> std::io::Result<SocketAddr> {
        let addr = listener.local_addr()?;
        let journal = self.dispatch.journal().clone();
        let state = services::control::ControlState { pki: self.pki.clone(), journal: journal.clone(), token, cmg: self.cmg.clone(), faults };
        self.tasks.push(tokio::spawn(journal.catching("the control endpoint's accept loop", services::control::serve(listener, state))));
        Ok(addr)
    }

    /// The world's CA bundle: the roots a client should trust.
    pub fn ca_bundle_pem(&self) -> String {
        self.pki.bundle_pem()
    }

    /// The roots of the CAs that issue client (device) certificates: not TLS trust anchors
    /// (see `Pki::client_bundle_pem`).
    pub fn client_ca_bundle_pem(&self) -> String {
        self.pki.client_bundle_pem()
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The HTTPS front's configurations: every host as before, and mutual TLS on the check-in's
/// hosts against the enrollment's root (when the world's PKI has it).
fn tls_configs(catalog: &Catalog, world: &WorldSpec, pki: &Arc<Pki>, clock: scenarios::Clock) -> Result<front::tls::Configs, CloudError> {
    let plain = front::tls::server_config(pki.clone(), clock);
    let root = pki.cas().iter().find(|c| c.spec.id == catalog.enrollment.certificate.root && !c.shadow);
    let mutual = match root {
        Some(root) => Some(front::tls::mutual_config(pki.clone(), clock, &root.der).map_err(CloudError::MutualTls)?),
        None => None,
    };
    let hosts = catalog.enrollment.hosts(world).into_iter().filter(|(_, s)| *s == Service::Checkin).map(|(h, _)| h).collect();
    Ok(front::tls::Configs { plain, mutual, mutual_hosts: Arc::new(hosts) })
}
