//! Running a scenario's client against a world: a built-in probe, or an external command that
//! gets the world through the standard variables — and none of the machine's own.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::report::ClientOutcome;
use crate::client_env;
use crate::probes::{self, ProbeTarget};
use crate::world::World;
use scenarios::Probe;

/// How much of a command's output is kept (each stream).
const OUTPUT_LIMIT: usize = 1 << 20;

pub async fn run_probe(probe: Probe, world: &World, timeout: Duration) -> ClientOutcome {
    let describe = format!("probe {}", probe.as_str());
    let target = ProbeTarget::new(&world.describe(), world.journal().clock().scale());
    match tokio::time::timeout(timeout, probes::run_with(probe, &target, &world.cloud().catalog)).await {
        Ok(result) => ClientOutcome {
            describe,
            passed: result.passed,
            stdout: format!("{}\n", serde_json::to_string(&result).unwrap_or_default()),
            probe: Some(result),
            exit_code: None,
            timed_out: false,
            stderr: String::new(),
        },
        Err(_) => ClientOutcome { timed_out: true, ..failed(describe, format!("the probe did not finish within {timeout:?}")) },
    }
}

fn failed(describe: String, message: String) -> ClientOutcome {
    ClientOutcome { describe, passed: false, probe: None, exit_code: None, timed_out: false, stdout: String::new(), stderr: message }
}

pub async fn run_command(argv: &[String], cwd: Option<&str>, env: &[(&'static str, String)], timeout: Duration) -> ClientOutcome {
    let describe = argv.join(" ");
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    for var in client_env::cleared(env) {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(describe, format!("cannot start `{}`: {e}", argv[0])),
    };
    let (out, err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let outputs = async { tokio::join!(read_limited(out), read_limited(err), child.wait()) };
    match tokio::time::timeout(timeout, outputs).await {
        Ok((stdout, stderr, status)) => {
            let code = status.ok().and_then(|s| s.code());
            ClientOutcome { describe, passed: code == Some(0), probe: None, exit_code: code, timed_out: false, stdout, stderr }
        }
        Err(_) => {
            let _ = child.kill().await;
            ClientOutcome { timed_out: true, ..failed(describe, format!("killed after {timeout:?}")) }
        }
    }
}

/// Read a stream to its end, keeping at most `OUTPUT_LIMIT` bytes (the rest is drained).
async fn read_limited(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut buf = Vec::new();
    let _ = (&mut r).take(OUTPUT_LIMIT as u64).read_to_end(&mut buf).await;
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&buf).into_owned()
}
