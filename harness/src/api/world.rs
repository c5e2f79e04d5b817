//! [`World`] for a Rust test (issue 18 #1): start a scenario's world in process, point clients
//! at it, wait on its journal, check expectations, and drop it to stop it.
//!
//! It wraps the runner's own world ([`crate::world::World`]) and writes the same files as
//! `memsim up` (world.json, env.sh, the hashed CA directory) into its temporary state
//! directory, so a client started with [`World::command`] sees what one under `memsim run`
//! sees. Nothing is global: every world has its own ports (`127.0.0.1:0`), directory and
//! journal, and many run side by side in one test process.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Error, EventMatcher, Journal, Scenario};
use crate::describe::WorldDescription;
use crate::runner::report::{Check, ScenarioReport, Verdict};

/// How long [`World::expect`] waits for in-flight connections to finish before reading the
/// journal: the runner's own settle bound.
const SETTLE: Duration = Duration::from_secs(3);

/// A running world: the emulated cloud, the customer's proxy and DNS, their CA and their
/// journal, on loopback ports of its own. Dropping it stops every listener and removes its
/// temporary directory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), memsim::Error> {
/// use memsim::{Scenario, World};
///
/// let world = World::start(Scenario::builtin("pki-expired-root")?).await?;
/// assert!(world.proxy_url().starts_with("http://127.0.0.1:"));
/// assert!(world.ca_pem().contains("BEGIN CERTIFICATE"));
/// let dir = world.state_dir().to_path_buf();
/// drop(world);
/// assert!(!dir.exists(), "nothing left behind");
/// # Ok(()) }
/// ```
pub struct World {
    // Field order is drop order: the listener's handle before the world it listens to.
    journal: Journal,
    description: WorldDescription,
    world_json: PathBuf,
    env: Env,
    ca_pem: String,
    inner: crate::world::World,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("scenario", &self.name()).field("proxy_url", &self.description.proxy_url).finish()
    }
}

impl World {
    /// Check `scenario` (the one validation step scenario files go through) and start its
    /// world on ephemeral loopback ports. Needs a tokio runtime (`#[tokio::test]`).
    pub async fn start(scenario: Scenario) -> Result<World, Error> {
        let catalog = mock_cloud::Catalog::builtin().map_err(|e| Error::Io { context: "load the endpoint catalog".into(), message: e.to_string() })?;
        let checked = scenario.checked(&catalog)?;
        let options = crate::world::WorldOptions { catalog: Some(std::sync::Arc::new(catalog)), ..Default::default() };
        let inner = crate::world::World::start(&checked, options).await?;
        let journal = Journal::listen(inner.journal());
        let (world_json, description) =
            crate::up::write_state(&inner).await.map_err(|e| Error::Io { context: "write the world's files".into(), message: format!("{e:#}") })?;
        let target = checked.first_target();
        let set = crate::client_env::vars(&description, inner.journal().clock().scale(), target, &world_json, &inner.state_dir().join("certs"));
        let env = Env { cleared: crate::client_env::cleared(&set), set };
        let ca_pem = std::fs::read_to_string(inner.ca_bundle()).map_err(|e| Error::Io { context: "read ca.pem".into(), message: e.to_string() })?;
        Ok(World { journal, description, world_json, env, ca_pem, inner })
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        self.inner.scenario().name.as_str()
    }

    /// Everything a client may know about the world: the typed `world.json`.
    pub fn describe(&self) -> &WorldDescription {
        &self.description
    }

    /// The customer's proxy, `http://127.0.0.1:PORT`: send every client through it.
    pub fn proxy_url(&self) -> &str {
        &self.description.proxy_url
    }

    /// The HTTPS front: every emulated host name, its certificate chosen by SNI.
    pub fn https_addr(&self) -> SocketAddr {
        self.description.https_addr
    }

    /// The plain HTTP front (CRLs, OCSP).
    pub fn http_addr(&self) -> SocketAddr {
        self.description.http_addr
    }

    /// The world's DNS server (UDP and TCP).
    pub fn dns_addr(&self) -> SocketAddr {
        self.description.dns_addr
    }

    /// The CA bundle a client must trust (`ca.pem`: the world's roots, and a trusted TLS
    /// inspection CA when the scenario has one).
    pub fn ca_bundle(&self) -> &Path {
        &self.description.ca_bundle
    }

    /// The CA bundle's PEM text, for an in-process client's root store.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The world's state directory (world.json, env.sh, ca.pem, journal.jsonl): temporary,
    /// removed when the world is dropped.
    pub fn state_dir(&self) -> &Path {
        self.inner.state_dir()
    }

    /// The path of `world.json`.
    pub fn world_json(&self) -> &Path {
        &self.world_json
    }

    /// The environment that points a client at the world: what `env.sh` exports and unsets.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// `program` as a [`Command`] with the world's environment applied (see [`Env::apply`]).
    ///
    /// ```no_run
    /// # async fn f(world: memsim::World) {
    /// let out = world.command("curl").arg("-sS").arg("https://enterpriseenrollment.manage.microsoft.com/").output().unwrap();
    /// # }
    /// ```
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.env.apply(&mut cmd);
        cmd
    }

    /// The world's journal: every DNS query, connection, handshake, request and fault.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The world's faults while it runs: list, add, set and remove them (`proxy.*` and `dns.*`
    /// change at run time; a change applies to the next connection or query). Fault text is a
    /// scenario file's, validated as `memsim check` validates one; every change is journaled.
    pub fn faults(&self) -> &scenarios::FaultStore {
        self.inner.faults()
    }

    /// Check event expectations against the journal as the runner does: once in-flight
    /// connections have finished (bounded), every matcher is one expectation. When one fails,
    /// the error's message is the near-miss `memsim run` prints for it (expected, observed,
    /// the closest events, the journal's last events).
    pub async fn expect(&self, matchers: impl IntoIterator<Item = EventMatcher>) -> Result<(), Error> {
        let expectations = matchers.into_iter().map(|m| m.expectation()).collect::<Result<Vec<_>, _>>()?;
        let journal = self.inner.journal().clone();
        let _ = tokio::task::spawn_blocking(move || journal.wait_settled(SETTLE)).await;
        let events = self.journal.events()?;
        let results: Vec<_> = expectations.iter().map(|e| crate::runner::check_event(e, &events)).collect();
        if results.iter().all(|r| r.check != Check::Failed) {
            return Ok(());
        }
        let scenario = self.inner.scenario();
        let mut report: ScenarioReport = crate::runner::blank(scenario, self.inner.journal().clock().scale());
        report.verdict = Verdict::Fail;
        report.expectations = results;
        report.journal = events;
        Err(Error::Expectation(super::ExpectationFailed { message: crate::report::near_miss(&report, false), results: report.expectations }))
    }
}

impl Drop for World {
    /// Stop every listener (the fronts, the proxy, DNS), write the journal file's last lines
    /// and close it, then remove the temporary state directory.
    fn drop(&mut self) {
        // Closing waits on the journal's writer thread (bounded); inside a multi-thread runtime
        // the wait is announced, as `world::Stopped` does, so other tasks move off this worker.
        let close = || self.inner.journal().close_file();
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(close),
            _ => close(),
        }
    }
}

/// The variables that point a client at a world: those `env.sh` exports (the CA bundle as
/// `SSL_CERT_FILE`, `SSL_CERT_DIR`, `CURL_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`,
/// `NODE_EXTRA_CA_CERTS`; the proxy as `HTTPS_PROXY`/`HTTP_PROXY` and their lower-case forms;
/// `MEMSIM_WORLD`, `MEMSIM_DNS`, `MEMSIM_TIME_SCALE`) and those it unsets (`NO_PROXY`, tools'
/// own CA and proxy settings), so that none of the machine's own trust or routes reach the
/// client.
#[derive(Debug, Clone, PartialEq)]
pub struct Env {
    set: Vec<(&'static str, String)>,
    cleared: Vec<&'static str>,
}

impl Env {
    /// The variables set, in `env.sh`'s order.
    pub fn vars(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.set.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// One variable's value, when the world sets it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.set.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// The variables a client must see unset.
    pub fn cleared(&self) -> &[&'static str] {
        &self.cleared
    }

    /// Set and clear the variables on `cmd` (works for `tokio::process::Command` through its
    /// `as_std_mut`).
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        for k in &self.cleared {
            cmd.env_remove(k);
        }
        cmd.envs(self.vars())
    }
}
