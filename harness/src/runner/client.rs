//! Running a scenario's client against a world: a built-in probe, or an external command that
//! gets the world through the standard variables — and none of the machine's own.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::report::ClientOutcome;
use crate::probes::{self, ProbeTarget};
use crate::world::World;
use scenarios::Probe;

/// Variables a client must never inherit from the machine: they would point it elsewhere.
pub const CLEARED: &[&str] = &[
    "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy",
    "MEMSIM_WORLD", "MEMSIM_DNS", "MEMSIM_TIME_SCALE",
];

/// How much of a command's output is kept (each stream).
const OUTPUT_LIMIT: usize = 1 << 20;

/// The environment that points a client at `world` (world.json must have been written).
pub fn world_env(world: &World, world_json: &Path, cert_dir: &Path) -> Vec<(String, String)> {
    let doc = world.world_json();
    let ca = world.ca_bundle().display().to_string();
    let mut env: Vec<(String, String)> = ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"]
        .iter()
        .map(|k| (k.to_string(), ca.clone()))
        .collect();
    env.push(("SSL_CERT_DIR".into(), cert_dir.display().to_string()));
    env.push(("MEMSIM_WORLD".into(), world_json.display().to_string()));
    env.push(("MEMSIM_TIME_SCALE".into(), world.journal().clock().scale().to_string()));
    if let Some(dns) = doc["dns_addr"].as_str() {
        env.push(("MEMSIM_DNS".into(), dns.to_string()));
    }
    if let Some(proxy) = doc["proxy_url"].as_str() {
        for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
            env.push((k.into(), proxy.to_string()));
        }
    }
    env
}

/// A hashed certificate directory holding the world's roots (what `SSL_CERT_DIR` expects).
/// OpenSSL's subject hash is computed by `openssl rehash`; without openssl the directory still
/// holds the PEM files.
pub async fn cert_dir(world: &World) -> std::io::Result<std::path::PathBuf> {
    let dir = world.state_dir().join("certs");
    tokio::fs::create_dir_all(&dir).await?;
    let pem = tokio::fs::read_to_string(world.ca_bundle()).await?;
    for (i, block) in pem.split_inclusive("-----END CERTIFICATE-----\n").enumerate() {
        tokio::fs::write(dir.join(format!("memsim-root-{i}.pem")), block).await?;
    }
    let _ = tokio::process::Command::new("openssl").arg("rehash").arg(&dir).stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    Ok(dir)
}

pub async fn run_probe(probe: Probe, world: &World, timeout: Duration) -> ClientOutcome {
    let describe = format!("probe {}", probe.as_str());
    let target = match ProbeTarget::from_world_json(&world.world_json()) {
        Ok(t) => t,
        Err(e) => return failed(describe, e),
    };
    match tokio::time::timeout(timeout, probes::run(probe, &target)).await {
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

pub async fn run_command(argv: &[String], cwd: Option<&str>, env: &[(String, String)], timeout: Duration) -> ClientOutcome {
    let describe = argv.join(" ");
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    for var in CLEARED {
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
