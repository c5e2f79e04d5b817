//! A world: one running simulation of a scenario — tenant, catalog, PKI, services, clock and
//! journal — on its own ephemeral loopback ports. Dropping it shuts everything down; many run
//! side by side in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mock_cloud::{Catalog, Cloud, CloudConfig, CloudError};
use scenarios::{Clock, Component, Journal, NewEvent, Scenario};
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::describe::{Tenant, WorldDescription};
use crate::proxy::{Proxy, ProxyConfig};
use crate::state_dir::{DirLock, LockError, StateDir};

/// The journal file in a world's state directory, written as events happen (issue 11).
pub const JOURNAL: &str = "journal.jsonl";

/// How to start a world beyond what its scenario says.
#[derive(Debug, Default, Clone)]
pub struct WorldOptions {
    /// Where to write `ca.pem` (and, for `memsim up`, `world.json` and `env.sh`). Default: a
    /// fresh temporary directory removed with the world.
    pub state_dir: Option<PathBuf>,
    /// Overrides the scenario's time scale.
    pub time_scale: Option<f64>,
    /// The endpoint catalog to build the world from (default: the embedded one, loaded here).
    pub catalog: Option<Arc<Catalog>>,
    /// Debug builds only: serve `/_memsim/panic` on the fronts, a handler that panics, so a
    /// test can prove that a panic fails the world (issue 10). Release builds ignore it.
    pub panic_route: bool,
    /// The journal's window in memory, in bytes (default `scenarios::journal::WINDOW_BYTES`).
    pub journal_window: Option<usize>,
    /// Where the world listens (default: loopback, ephemeral ports) (issue 19).
    pub ports: crate::ports::Ports,
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The scenario (or the options given with it) asks for something the world cannot build
    /// (bad input).
    #[error("{0}")]
    Scenario(String),
    /// The machine refused: a port, a file (the harness failed).
    /// (`error` is not a `source`: the message holds it already, and reports print chains.)
    #[error("{context}: {error}")]
    Io { context: String, error: std::io::Error },
    /// The state directory is another world's, or cannot be locked (bad input).
    #[error(transparent)]
    StateDir(#[from] LockError),
    /// A port the user chose cannot be bound (bad input, issue 19).
    #[error(transparent)]
    Port(#[from] crate::ports::PortError),
}

impl WorldError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorldError {
        let context = context.into();
        move |error| WorldError::Io { context, error }
    }

    pub fn is_bad_input(&self) -> bool {
        matches!(self, WorldError::Scenario(_) | WorldError::StateDir(_) | WorldError::Port(_))
    }
}

/// A running world.
pub struct World {
    scenario: Scenario,
    journal: Journal,
    cloud: Cloud,
    dns: mock_dns::DnsServer,
    proxy: Proxy,
    state: StateDir,
    ca_bundle: PathBuf,
    client_ca_bundle: PathBuf,
    /// `control.json` and `control.token`, once the control endpoint is up (`memsim up`).
    control: Option<crate::control::ControlFiles>,
    /// The world's faults as they are now (issue 17).
    faults: scenarios::FaultStore,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("scenario", &self.scenario.name).field("https", &self.cloud.https_addr).finish()
    }
}

impl World {
    /// Build the world's PKI and services and start serving on `127.0.0.1:0` ports.
    pub async fn start(scenario: &Scenario, options: WorldOptions) -> Result<World, WorldError> {
        let spec = &scenario.world;
        let scale = match options.time_scale {
            Some(x) => scenarios::TimeScale::new(x).map_err(WorldError::Scenario)?.0,
            None => spec.time_scale.0,
        };
        // Validation bounds now and skew; checked all the same, as overflow here was a panic (issue 11).
        let skew = spec.skew.map_or(std::time::Duration::ZERO, |d| d.0);
        let now = spec
            .now
            .unwrap_or_else(OffsetDateTime::now_utc)
            .checked_add(skew.try_into().unwrap_or(time::Duration::MAX))
            .ok_or_else(|| WorldError::Scenario(format!("{}: [world] now plus skew lies beyond the year 9999", scenario.name)))?;
        let journal = Journal::with_window(Clock::new(now, scale), options.journal_window.unwrap_or(scenarios::journal::WINDOW_BYTES));
        journal.record(
            NewEvent::new(Component::World, "starting").detail("scenario", scenario.name.as_str()).detail("seed", spec.seed).detail("time_scale", scale),
        );
        let state = match options.state_dir {
            Some(dir) => {
                // A state dir the user named and that cannot be made is bad input, not a harness failure.
                std::fs::create_dir_all(&dir).map_err(|e| WorldError::Scenario(format!("--state-dir {}: {e}", dir.display())))?;
                let path = std::path::absolute(&dir).map_err(WorldError::io("resolve state dir"))?;
                // Before anything is written there: the directory may be another world's.
                StateDir::Given { _lock: DirLock::acquire(&path)?, path }
            }
            None => StateDir::Temp(tempfile::Builder::new().prefix("memsim-").tempdir().map_err(WorldError::io("create temp dir"))?),
        };
        // From here on every event is in the file as it happens (`starting` included).
        journal.stream_to(&state.path().join(JOURNAL)).map_err(WorldError::io("open the journal file"))?;
        let ports = options.ports;
        // Behind transparent listeners the fronts take ephemeral loopback ports.
        let (front_ip, https_port, http_port) = if ports.transparent { (std::net::Ipv4Addr::LOCALHOST, 0, 0) } else { (ports.listen, ports.https, ports.http) };
        let https = crate::ports::tcp(front_ip, https_port, "HTTPS front")?;
        let http = crate::ports::tcp(front_ip, http_port, "HTTP front")?;
        let catalog = match options.catalog {
            Some(c) => c,
            None => Arc::new(Catalog::builtin().map_err(|e| WorldError::Io { context: "load the catalog".into(), error: std::io::Error::other(e) })?),
        };
        // The world's one fault store (issue 17): the DNS and the proxy read it, the control
        // endpoint changes it, validated as `memsim check` validates a scenario file.
        let checker = crate::validate::FaultChecker::new(scenario, catalog.clone());
        let faults = scenarios::FaultStore::new(scenario.faults.clone(), journal.clone(), std::sync::Arc::new(checker));
        let dns = crate::dns::start(scenario, &catalog, &journal, &faults, ports.listen, ports.dns).await?;
        let doh: std::sync::Arc<dyn mock_cloud::DnsWire> = std::sync::Arc::new(crate::dns::DohBridge(dns.wire()));
        let cloud = Cloud::start(CloudConfig {
            catalog,
            world: spec.clone(),
            pki_faults: scenario.pki_faults(),
            journal: journal.clone(),
            https,
            http,
            dns: Some(doh),
            service_faults: scenario.service_faults(),
            cmg_faults: scenario.cmg_faults(),
            token_faults: scenario.token_faults(),
            entra_faults: scenario.entra_faults(),
            enrollment_faults: scenario.enrollment_faults(),
        })
        .map_err(|e| match e {
            CloudError::Pki(p) => WorldError::Scenario(format!("{}: {p}", scenario.name)),
            CloudError::Entra(e) => WorldError::Scenario(format!("{}: {e}", scenario.name)),
            CloudError::Io(io) => WorldError::Io { context: "start fronts".into(), error: io },
            CloudError::MutualTls(e) => WorldError::Io { context: "start fronts".into(), error: std::io::Error::other(e) },
        })?;
        if options.panic_route {
            cloud.arm_panic_route();
        }
        // Behind transparent listeners the explicit proxy stays on loopback, for env.sh's clients.
        let proxy_ip = if ports.transparent { std::net::Ipv4Addr::LOCALHOST } else { ports.listen };
        let proxy_listener = crate::ports::tcp(proxy_ip, ports.proxy, "proxy")?;
        let mut config = ProxyConfig::for_world(scenario, &cloud, journal.clone(), proxy_listener, Some((dns.addr(), dns.zones())));
        // The world's DNS answers with the listen address: it is the world's, as the fronts are.
        config.fronts.advertised = Some(ports.listen.into());
        let mut proxy = Proxy::start_live(config, faults.clone()).map_err(|e| {
            if e.is_bad_input() {
                WorldError::Scenario(format!("{}: {e}", scenario.name))
            } else {
                WorldError::Io { context: "start proxy".into(), error: std::io::Error::other(e.to_string()) }
            }
        })?;
        if ports.transparent {
            let tls = crate::ports::tcp(ports.listen, ports.https, "HTTPS (transparent)")?;
            let plain = crate::ports::tcp(ports.listen, ports.http, "HTTP (transparent)")?;
            proxy.serve_transparent(tls, crate::proxy::Speaks::Tls, ports.https);
            proxy.serve_transparent(plain, crate::proxy::Speaks::Http, ports.http);
        }
        let ca_bundle = state.path().join("ca.pem");
        // A trusted TLS-inspection CA is in the bundle, as a corporate CA pushed by policy is.
        let bundle = format!("{}{}", cloud.ca_bundle_pem(), proxy.trusted_inspection_pem());
        std::fs::write(&ca_bundle, bundle).map_err(WorldError::io("write ca.pem"))?;
        // The device-certificate CAs (MS-Organization-Access, the Intune root): for verifying a
        // certificate the world issued to a device, never for trusting a server (so not in ca.pem).
        let client_ca_bundle = state.path().join("client-ca.pem");
        std::fs::write(&client_ca_bundle, cloud.client_ca_bundle_pem()).map_err(WorldError::io("write client-ca.pem"))?;
        journal.record(
            NewEvent::new(Component::World, "ready")
                .detail("https_addr", cloud.https_addr.to_string())
                .detail("http_addr", cloud.http_addr.to_string())
                .detail("proxy_url", proxy.url())
                .detail("dns_addr", dns.addr().to_string()),
        );
        Ok(World { scenario: scenario.clone(), journal, cloud, dns, proxy, state, ca_bundle, client_ca_bundle, control: None, faults })
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The world's faults: list, add, set and remove them while it runs (issue 17). The same
    /// store the control endpoint's `/v1/faults` changes; a change applies to the next
    /// connection or query.
    pub fn faults(&self) -> &scenarios::FaultStore {
        &self.faults
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.cloud.https_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.cloud.http_addr
    }

    /// The world's DNS server, UDP and TCP on one loopback address.
    pub fn dns_addr(&self) -> SocketAddr {
        self.dns.addr()
    }

    /// The customer's proxy: `http://127.0.0.1:PORT`.
    pub fn proxy_url(&self) -> String {
        self.proxy.url()
    }

    /// Serve the world's control endpoint (revoke, restore) on a loopback port and publish it in
    /// the state directory (`control.json`, `control.token`); the files go when the world does.
    pub async fn start_control(&mut self) -> Result<SocketAddr, WorldError> {
        let listener = bind_loopback(0).map_err(WorldError::io("bind control endpoint"))?;
        let token = mock_cloud::services::control::Token::generate()
            .map_err(|_| WorldError::Io { context: "control token".into(), error: std::io::Error::other("no randomness from the OS") })?;
        let addr = self.cloud.serve_control(listener, token.clone(), self.faults.clone()).map_err(WorldError::io("serve control endpoint"))?;
        self.control = Some(crate::control::publish(self.state.path(), addr, &token).map_err(WorldError::io("write control files"))?);
        Ok(addr)
    }

    /// Absolute path of the CA bundle a client should trust.
    pub fn ca_bundle(&self) -> &Path {
        &self.ca_bundle
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    pub fn hosts(&self) -> &[String] {
        &self.cloud.hosts
    }

    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// The world as clients see it: `world.json`, the ready line, env.sh, the probes.
    pub fn describe(&self) -> WorldDescription {
        WorldDescription {
            schema: crate::describe::SCHEMA.into(),
            https_addr: self.https_addr(),
            http_addr: self.http_addr(),
            dns_addr: self.dns_addr(),
            proxy_url: self.proxy_url(),
            time_scale: self.journal.clock().scale(),
            ca_bundle: self.ca_bundle.clone(),
            client_ca_bundle: self.client_ca_bundle.clone(),
            tenant: Tenant::of(&self.scenario.world),
            hosts: self.hosts().to_vec(),
            content: self.cloud.content.manifest(),
            entra: self.cloud.entra.describe(),
        }
    }

    /// The world's failure, if it failed: the first panic of one of its tasks (journaled as
    /// `world`/`panic`).
    pub fn failure(&self) -> Option<String> {
        self.journal.failure()
    }

    /// Stop the world's servers, giving its DNS server up to `grace` to stop and re-raise a
    /// panic of its UDP thread (which, unlike the fronts and the proxy, surfaces only at its
    /// shutdown): such a panic is journaled as the world's failure. The state directory (its
    /// journal file, its lock) stays until the [`Stopped`] world is dropped.
    pub async fn shutdown(self, grace: Duration) -> Stopped {
        let World { journal, dns, cloud, proxy, control, state, .. } = self;
        drop((control, proxy, cloud));
        let stopping = tokio::spawn(dns.shutdown());
        let abort = stopping.abort_handle();
        match tokio::time::timeout(grace, stopping).await {
            Ok(Err(e)) if e.is_panic() => {
                journal.record_panic("the DNS server", &scenarios::journal::panic_message(&*e.into_panic()));
            }
            Ok(_) => {}
            Err(_) => abort.abort(),
        }
        Stopped { journal, grace, _state: state }
    }
}

/// A stopped world: its journal, and its state directory until dropped. Dropping it writes
/// the last events to the journal file and closes it, then releases (or removes) the directory.
pub struct Stopped {
    journal: Journal,
    grace: Duration,
    _state: StateDir,
}

impl std::fmt::Debug for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopped").field("journal", &self.journal).finish()
    }
}

impl Stopped {
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The world's failure (its first panic), if it failed.
    pub fn failure(&self) -> Option<String> {
        self.journal.failure()
    }
}

impl Drop for Stopped {
    /// Flushing and closing the journal file wait on its writer thread (bounded: `grace`, then
    /// the stream's own close bound). Inside a multi-thread runtime (the runner drops worlds in
    /// their tasks) the wait is announced with `block_in_place`, so that the runtime moves its
    /// other tasks (a stop, the other worlds) off this worker meanwhile.
    fn drop(&mut self) {
        let close = || {
            let _ = self.journal.flush(self.grace);
            self.journal.close_file();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(close),
            _ => close(),
        }
    }
}

/// A listener on `127.0.0.1:port` with `SO_REUSEADDR`, so a restarted world can bind a fixed
/// port again while the last one's connections linger in TIME-WAIT (issue 11).
pub fn bind_loopback(port: u16) -> std::io::Result<TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)))?;
    // The backlog tokio's own `TcpListener::bind` asks for.
    socket.listen(1024)
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    /// Serve one connection on `listener` and close it first, as a front does on exit (its
    /// side of the port goes to TIME-WAIT); gives the port.
    async fn leave_time_wait(listener: TcpListener) -> u16 {
        let port = listener.local_addr().unwrap().port();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (served, _) = listener.accept().await.unwrap();
        let mut served = served.into_std().unwrap();
        served.set_nonblocking(false).unwrap();
        served.write_all(b"bye").unwrap();
        drop(served);
        client.read_to_end(&mut Vec::new()).unwrap();
        port
    }

    fn without_reuse(port: u16) -> std::io::Result<TcpListener> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(false)?;
        socket.bind(SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)))?;
        socket.listen(16)
    }

    // issue 11: a restarted world must be able to bind a fixed port again while the last one's
    // connections linger in TIME-WAIT. Linux allows it only when both the old listener and the
    // new one set SO_REUSEADDR; the first half shows the test can tell.
    #[tokio::test]
    async fn a_port_left_in_time_wait_can_be_bound_again() {
        let port = leave_time_wait(without_reuse(0).unwrap()).await;
        assert!(bind_loopback(port).is_err(), "a listener without SO_REUSEADDR blocks the port");
        let port = leave_time_wait(bind_loopback(0).unwrap()).await;
        bind_loopback(port).expect("SO_REUSEADDR on both binds over TIME-WAIT");
    }
}
