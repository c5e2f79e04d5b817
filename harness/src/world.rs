//! A world: one running simulation of a scenario — tenant, catalog, PKI, services, clock and
//! journal — on its own ephemeral loopback ports. Dropping it shuts everything down; many run
//! side by side in one process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mock_cloud::{Cloud, CloudConfig, CloudError};
use scenarios::{Clock, Component, Journal, NewEvent, Scenario};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tokio::net::TcpListener;

/// How to start a world beyond what its scenario says.
#[derive(Debug, Default, Clone)]
pub struct WorldOptions {
    /// Where to write `ca.pem` (and, for `memsim up`, `world.json` and `env.sh`). Default: a
    /// fresh temporary directory removed with the world.
    pub state_dir: Option<PathBuf>,
    /// Overrides the scenario's time scale.
    pub time_scale: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The scenario asks for something the world cannot build (bad input).
    #[error("{0}")]
    Scenario(String),
    /// The machine refused: a port, a file (the harness failed).
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl WorldError {
    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> WorldError {
        let context = context.into();
        move |source| WorldError::Io { context, source }
    }

    pub fn is_bad_input(&self) -> bool {
        matches!(self, WorldError::Scenario(_))
    }
}

enum StateDir {
    Given(PathBuf),
    Temp(tempfile::TempDir),
}

impl StateDir {
    fn path(&self) -> &Path {
        match self {
            StateDir::Given(p) => p,
            StateDir::Temp(t) => t.path(),
        }
    }
}

/// A running world.
pub struct World {
    scenario: Scenario,
    journal: Journal,
    cloud: Cloud,
    state: StateDir,
    ca_bundle: PathBuf,
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
        let now = spec.now.unwrap_or_else(OffsetDateTime::now_utc) + spec.skew.map_or(std::time::Duration::ZERO, |d| d.0);
        let journal = Journal::new(Clock::new(now, scale));
        journal.record(
            NewEvent::new(Component::World, "starting")
                .detail("scenario", scenario.name.as_str())
                .detail("seed", spec.seed)
                .detail("time_scale", scale),
        );
        let state = match options.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(&dir).map_err(WorldError::io(format!("create state dir {}", dir.display())))?;
                StateDir::Given(std::path::absolute(&dir).map_err(WorldError::io("resolve state dir"))?)
            }
            None => StateDir::Temp(tempfile::Builder::new().prefix("memsim-").tempdir().map_err(WorldError::io("create temp dir"))?),
        };
        let https = TcpListener::bind("127.0.0.1:0").await.map_err(WorldError::io("bind HTTPS front"))?;
        let http = TcpListener::bind("127.0.0.1:0").await.map_err(WorldError::io("bind HTTP front"))?;
        let cloud = Cloud::start(CloudConfig { world: spec.clone(), pki_faults: scenario.pki_faults(), journal: journal.clone(), https, http })
            .map_err(|e| match e {
                CloudError::Pki(p) => WorldError::Scenario(format!("{}: {p}", scenario.name)),
                CloudError::Io(io) => WorldError::Io { context: "start fronts".into(), source: io },
            })?;
        let ca_bundle = state.path().join("ca.pem");
        std::fs::write(&ca_bundle, cloud.ca_bundle_pem()).map_err(WorldError::io("write ca.pem"))?;
        journal.record(
            NewEvent::new(Component::World, "ready")
                .detail("https_addr", cloud.https_addr.to_string())
                .detail("http_addr", cloud.http_addr.to_string()),
        );
        Ok(World { scenario: scenario.clone(), journal, cloud, state, ca_bundle })
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
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

    /// The tenant as `world.json` describes it.
    pub fn tenant(&self) -> Value {
        let w = &self.scenario.world;
        json!({
            "id": w.tenant_id,
            "name": w.tenant_name,
            "domains": w.domains,
            "cloud": w.cloud,
            "asu": w.asu,
            "cmg_name": w.cmg_name,
            "site_code": w.site_code,
        })
    }

    /// The `world.json` document: exactly the keys clients rely on.
    pub fn world_json(&self) -> Value {
        json!({
            "https_addr": self.https_addr().to_string(),
            "http_addr": self.http_addr().to_string(),
            "dns_addr": Value::Null,
            "proxy_url": Value::Null,
            "ca_bundle": self.ca_bundle.display().to_string(),
            "tenant": self.tenant(),
            "hosts": self.hosts(),
        })
    }
}
