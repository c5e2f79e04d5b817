//! `memsim up`: one world kept up until SIGINT/SIGTERM, described by files in a state directory
//! so that any client, in any language, can find it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;

use crate::client_env;
use crate::world::{World, WorldOptions};

/// The files `memsim up` writes into its state directory.
pub const WORLD_JSON: &str = "world.json";
pub const ENV_SH: &str = "env.sh";
pub const JOURNAL: &str = "journal.jsonl";

/// Write `world.json` last and atomically (rename), so a reader that sees it sees all of it.
pub async fn write_state(world: &World) -> Result<PathBuf> {
    let dir = world.state_dir();
    let world_json = dir.join(WORLD_JSON);
    let certs = client_env::cert_dir(world).await.context("write the hashed CA directory")?;
    std::fs::write(dir.join(ENV_SH), client_env::env_sh(world, &world_json, &certs)).context("write env.sh")?;
    let tmp = dir.join(".world.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&world.world_json())?).context("write world.json")?;
    std::fs::rename(&tmp, &world_json).context("publish world.json")?;
    Ok(world_json)
}

/// Start the world, announce it, and wait for a termination signal.
pub async fn run(scenario: scenarios::Scenario, options: WorldOptions) -> Result<u8> {
    let started = Instant::now();
    let given_dir = options.state_dir.is_some();
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
    // The control endpoint (memsim revoke/restore) is published before world.json, the readiness file.
    world.start_control().await.context("start control endpoint")?;
    let world_json = write_state(&world).await?;
    let ready = json!({
        "event": "ready",
        "scenario": scenario.name.as_str(),
        "world": world_json.display().to_string(),
        "https_addr": world.https_addr().to_string(),
        "http_addr": world.http_addr().to_string(),
        "ca_bundle": world.ca_bundle().display().to_string(),
        "proxy_url": world.proxy_url(),
        "dns_addr": world.dns_addr().to_string(),
        "ms": started.elapsed().as_secs_f64() * 1000.0,
    });
    {
        // The ready line; a world nobody reads from keeps running.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{ready}").and_then(|()| out.flush());
    }
    eprintln!(
        "memsim: world `{}` is up (HTTPS {}, HTTP {}); `. {}` to point clients at it; Ctrl-C stops it",
        scenario.name,
        world.https_addr(),
        world.http_addr(),
        world.state_dir().join(ENV_SH).display()
    );
    wait_for_termination().await?;
    let dir = world.state_dir().to_path_buf();
    std::fs::write(dir.join(JOURNAL), world.journal().to_json_lines()).context("write journal")?;
    let _ = std::fs::remove_file(&world_json);
    drop(world);
    if !given_dir {
        eprintln!("memsim: journal kept at {}", dir.join(JOURNAL).display());
    }
    eprintln!("memsim: world stopped");
    Ok(crate::exit::OK)
}

async fn wait_for_termination() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("install SIGINT handler")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
