//! Lab mode (issue 17): `memsim lab NAME|FILE` starts a scenario's broken world for a trainee —
//! its faults as the scenario declares them, changeable while it runs (`memsim fault`) — and
//! prints the briefing: the summary and the hint, never the fix. `memsim lab check` reruns the
//! scenario's client against the world as the trainee left it and says whether the fix holds
//! ([`check`]).
//!
//! The world records which scenario it runs in its state directory (`lab.json`, beside
//! `world.json`), so that a check needs nothing but the directory. The dashboard (the `dash`
//! work of issue 17) plugs in at [`serve_dashboard`].

pub mod check;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::world::World;

/// The file in a lab world's state directory that names its scenario.
pub const LAB_JSON: &str = "lab.json";

/// `lab.json`: which scenario a lab world runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabFile {
    /// What `memsim lab` was given: a built-in scenario's name, or a scenario file's absolute path.
    pub scenario: String,
    /// The scenario's name.
    pub name: String,
}

impl LabFile {
    /// The `lab.json` of the world whose state directory is `dir`.
    pub fn read(dir: &Path) -> Result<LabFile, String> {
        let path = dir.join(LAB_JSON);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e} (is a `memsim lab` world running with that state directory?)", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::write(dir.join(LAB_JSON), serde_json::to_vec_pretty(self)?)
    }
}

/// What `memsim lab` was asked to start, and how it names it.
#[derive(Debug, Clone)]
pub struct Lab {
    pub file: LabFile,
}

impl Lab {
    /// `arg` as the user gave it (a name, or a path made absolute so a check from elsewhere finds it).
    pub fn new(arg: &str, scenario: &scenarios::Scenario) -> Lab {
        let path = Path::new(arg);
        let given = if path.is_file() { std::path::absolute(path).map_or_else(|_| arg.to_string(), |p| p.display().to_string()) } else { arg.to_string() };
        Lab { file: LabFile { scenario: given, name: scenario.name.to_string() } }
    }
}

/// A running dashboard: its URL; it stops when dropped.
pub struct Dashboard {
    pub url: String,
    /// Whatever keeps it serving (its task), dropped with it.
    pub guard: Box<dyn std::any::Any + Send>,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").field("url", &self.url).finish()
    }
}

/// Serve the lab dashboard for `world` on `listener` (`crate::dashboard`: the live journal, the
/// faults, the hint, "check my fix", the HAR), published as `dashboard.json` in the state
/// directory. A dashboard that cannot start is said on stderr; the lab goes on without it.
pub fn serve_dashboard(world: &World, listener: tokio::net::TcpListener) -> Option<Dashboard> {
    use crate::dashboard::{self, DashboardConfig, WorldLab};
    let lab: std::sync::Arc<dyn dashboard::LabControl> = std::sync::Arc::new(WorldLab::of(world));
    let config = DashboardConfig { journal: world.journal().clone(), scenario: world.scenario().clone(), lab: Some(lab) };
    let started = dashboard::Dashboard::start(listener, config).and_then(|mut d| d.publish(world.state_dir()).map(|_| d));
    match started {
        Ok(d) => Some(Dashboard { url: d.url(), guard: Box::new(d) }),
        Err(e) => {
            eprintln!("memsim: the dashboard could not start: {e}");
            None
        }
    }
}

/// The briefing a trainee reads: the scenario's summary and hint, never its fix.
pub fn briefing(scenario: &scenarios::Scenario, state_dir: &Path, dashboard: Option<&str>) -> String {
    let dir = state_dir.display();
    let mut out = format!("Lab: {}\n\n{}\n", scenario.name, scenario.summary);
    if let Some(lab) = &scenario.lab {
        out.push_str(&format!("\nHint: {}\n", lab.hint));
    }
    if let Some(url) = dashboard {
        out.push_str(&format!("\nDashboard: {url}\n"));
    }
    out.push_str(&format!(
        "\nPoint a client at the world with `. {dir}/env.sh`; the journal is {dir}/journal.jsonl.\n\
         Change the world's faults with `memsim fault list|add|set|remove --world {dir}`;\n\
         check your fix with `memsim lab check --world {dir}`. Ctrl-C ends the lab.\n"
    ));
    out
}

/// Once the world is up: record the scenario, start the dashboard, and print the briefing.
pub async fn announce(world: &World, lab: &Lab) -> anyhow::Result<Option<Dashboard>> {
    use anyhow::Context as _;
    lab.file.write(world.state_dir()).context("write lab.json")?;
    let listener = crate::world::bind_loopback(0).context("bind the dashboard")?;
    let dashboard = serve_dashboard(world, listener);
    let text = briefing(world.scenario(), world.state_dir(), dashboard.as_ref().map(|d| d.url.as_str()));
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
    Ok(dashboard)
}
