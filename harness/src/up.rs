//! `memsim up`: one world kept up until SIGINT/SIGTERM, described by files in a state directory
//! so that any client, in any language, can find it.
//!
//! The state directory is locked for the world's life (`state_dir.rs`): a second `memsim up`
//! on it is bad input (exit 2) and touches nothing there. The journal is written to
//! `journal.jsonl` as events happen (`scenarios::journal`), so stopping only flushes what the
//! last few milliseconds recorded, and a killed world leaves its journal behind. A panic in
//! any task of the world fails it: `memsim up` journals it, stops, and exits 3.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use scenarios::Component;

use crate::client_env;
use crate::describe::{ReadyLine, WorldDescription};
use crate::world::{World, WorldOptions};

/// The files `memsim up` writes into its state directory.
pub const WORLD_JSON: &str = "world.json";
pub const ENV_SH: &str = "env.sh";
pub use crate::world::JOURNAL;

/// How long stopping may wait for the DNS server and the journal file (SIGTERM to exit stays
/// well under a second).
const STOP_GRACE: Duration = Duration::from_millis(300);

/// Write `env.sh`, then `world.json` last and atomically (rename), so a reader that sees it
/// sees all of it. Both come from one [`WorldDescription`], which is returned.
pub async fn write_state(world: &World) -> Result<(PathBuf, WorldDescription)> {
    let description = world.describe();
    let dir = world.state_dir();
    let world_json = dir.join(WORLD_JSON);
    let certs = client_env::cert_dir(world).await.context("write the hashed CA directory")?;
    let scale = world.journal().clock().scale();
    let env = client_env::env_sh(world.scenario(), &description, scale, &world_json, &certs);
    std::fs::write(dir.join(ENV_SH), env).context("write env.sh")?;
    let tmp = dir.join(".world.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&description)?).context("write world.json")?;
    std::fs::rename(&tmp, &world_json).context("publish world.json")?;
    Ok((world_json, description))
}

/// Start the world, announce it, and wait for a termination signal or the world's failure.
pub async fn run(scenario: scenarios::Scenario, options: WorldOptions) -> Result<u8> {
    run_with(scenario, options, None).await
}

/// [`run`], or with `lab` `memsim lab`'s: the briefing on stdout instead of the ready line
/// (`world.json` is the readiness file all the same), `lab.json` and the dashboard.
pub async fn run_with(scenario: scenarios::Scenario, options: WorldOptions, lab: Option<crate::lab::Lab>) -> Result<u8> {
    let started = Instant::now();
    // Installed before the ready line: a SIGTERM right after it must stop the world cleanly.
    let mut signals = Signals::install()?;
    let given_dir = options.state_dir.is_some();
    let (advertise, listen) = (options.ports.transparent, options.ports.listen);
    let mut options = options;
    if options.state_dir.is_none() {
        options.state_dir = Some(std::env::temp_dir().join(format!("memsim-{}", std::process::id())));
    }
    let mut world = match World::start(&scenario, options).await {
        Ok(w) => w,
        Err(e) if e.is_bad_input() => {
            eprintln!("memsim: {e}");
            return Ok(crate::exit::BAD_INPUT);
        }
        Err(e) => return Err(e).context("start world"),
    };
    let (failed_tx, mut failed) = tokio::sync::mpsc::unbounded_channel();
    world.journal().subscribe_to(Component::World, "panic", move |_| {
        let _ = failed_tx.send(());
    });
    // The control endpoint (memsim revoke/restore) is published before world.json, the readiness file.
    world.start_control().await.context("start control endpoint")?;
    let (world_json, description) = write_state(&world).await?;
    if advertise {
        let bundle = std::fs::read_to_string(world.ca_bundle()).context("read ca.pem")?;
        let kit = crate::trust_kit::write(world.state_dir(), &bundle, world.cloud().pki.permitted_subtrees(), listen).context("write the trust kit")?;
        eprintln!("memsim: serving the lab network at {listen} (DNS, HTTP, HTTPS); devices trust the world with {}", kit.join("README").display());
    }
    // Kept for the world's life: dropping it stops the dashboard.
    let mut _dashboard = None;
    if let Some(lab) = &lab {
        _dashboard = crate::lab::announce(&world, lab).await?;
    }
    let ready =
        ReadyLine { event: "ready", scenario: scenario.name.to_string(), world: world_json.clone(), ms: started.elapsed().as_secs_f64() * 1000.0, description };
    if lab.is_none() {
        // The ready line; a world nobody reads from keeps running.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::to_string(&ready)?).and_then(|()| out.flush());
    }
    if lab.is_none() {
        eprintln!(
            "memsim: world `{}` is up (HTTPS {}, HTTP {}); `. {}` to point clients at it; Ctrl-C stops it",
            scenario.name,
            world.https_addr(),
            world.http_addr(),
            world.state_dir().join(ENV_SH).display()
        );
    }
    if world.failure().is_none() {
        tokio::select! {
            () = signals.wait() => {}
            _ = failed.recv() => {}
        }
    }
    let journal_path = world.state_dir().join(JOURNAL);
    let _ = std::fs::remove_file(&world_json);
    if lab.is_some() {
        let _ = std::fs::remove_file(world.state_dir().join(crate::lab::LAB_JSON));
    }
    let stopped = world.shutdown(STOP_GRACE).await;
    let failure = stopped.failure();
    drop(stopped);
    if let Some(f) = failure {
        eprintln!("memsim: the world failed: {f}; its journal is at {}", journal_path.display());
        return Ok(crate::exit::HARNESS_FAILED);
    }
    if !given_dir {
        eprintln!("memsim: journal kept at {}", journal_path.display());
    }
    eprintln!("memsim: world stopped");
    Ok(crate::exit::OK)
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("install SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("install SIGINT handler")?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
