//! The emulated Microsoft Intune / Configuration Manager cloud.
//!
//! This crate holds the endpoint catalog (the seeds' tables as data), the generated PKI with
//! certificate faults, and the HTTP(S) fronts that dispatch by Host to one module per emulated
//! service. It does not resolve names, emulate the customer's network, or run scenarios: the
//! harness composes it with DNS and the proxy. It never opens a connection to anything.

pub mod catalog;
pub mod front;
pub mod pki;
pub mod services;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use scenarios::{Component, Journal, NewEvent, PkiFault, WorldSpec};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use catalog::Catalog;
pub use pki::{Pki, PkiError};
pub use services::Service;

/// What the cloud needs: the world, its certificate faults, its journal, and two bound listeners.
#[derive(Debug)]
pub struct CloudConfig {
    pub world: WorldSpec,
    pub pki_faults: Vec<PkiFault>,
    pub journal: Journal,
    pub https: TcpListener,
    pub http: TcpListener,
}

#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("listener: {0}")]
    Io(#[from] std::io::Error),
}

/// A running cloud. Dropping it stops both fronts and every connection.
#[derive(Debug)]
pub struct Cloud {
    pub https_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub pki: Arc<Pki>,
    /// Every emulated host name (and wildcard), sorted.
    pub hosts: Vec<String>,
    dispatch: front::Dispatch,
    tasks: Vec<JoinHandle<()>>,
}

impl Cloud {
    /// Generate the PKI and start serving on the given listeners.
    pub fn start(config: CloudConfig) -> Result<Cloud, CloudError> {
        let catalog = Catalog::builtin();
        let journal = config.journal;
        let hosts = catalog.hosts_for(&config.world);
        let now = journal.clock().sim_start();
        let started = std::time::Instant::now();
        let pki = Arc::new(Pki::build(&catalog.pki, &config.world, config.pki_faults, &hosts, now)?);
        journal.record(
            NewEvent::new(Component::Pki, "generated")
                .detail("cas", pki.cas().len())
                .detail("hosts", hosts.len())
                .detail("ms", started.elapsed().as_secs_f64() * 1000.0),
        );
        let state = services::ServiceState { world: Arc::new(config.world.clone()), journal: journal.clone() };
        let mut by_host = HashMap::new();
        for entry in &catalog.services.services {
            let list = match config.world.cloud {
                scenarios::Cloud::Public => &entry.public,
                scenarios::Cloud::Usgov => &entry.usgov,
            };
            for h in list {
                by_host.insert(h.to_ascii_lowercase(), entry.service);
            }
        }
        let dispatch = front::Dispatch::new(&hosts, by_host, services::routers(&state), journal.clone());
        let https_addr = config.https.local_addr()?;
        let http_addr = config.http.local_addr()?;
        let tls = front::tls::server_config(pki.clone());
        let tasks = vec![
            tokio::spawn(front::tls::serve(config.https, tls, pki.clone(), dispatch.clone(), journal.clone())),
            tokio::spawn(front::http::serve(config.http, dispatch.clone())),
        ];
        Ok(Cloud { https_addr, http_addr, pki, hosts, dispatch, tasks })
    }

    /// The service that answers `host`, if the world emulates it.
    pub fn service_for(&self, host: &str) -> Option<Service> {
        self.dispatch.service_for(&host.to_ascii_lowercase())
    }

    /// The world's CA bundle: the roots a client should trust.
    pub fn ca_bundle_pem(&self) -> String {
        self.pki.bundle_pem()
    }
}

impl Drop for Cloud {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
