//! The variables that point a client at a world — one list, which `memsim up` writes as
//! `env.sh` and the runner sets on an external command. The machine's own values of these
//! never reach a client: each is either set to the world's or cleared.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::describe::WorldDescription;
use crate::world::World;

/// Every variable a client reads to find its CA, proxy or world. Those not set for the world
/// are cleared (`NO_PROXY` above all: the machine's bypass list must not route around it).
pub const MANAGED: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "MEMSIM_WORLD",
    "MEMSIM_DNS",
    "MEMSIM_TIME_SCALE",
    "MEMSIM_TARGET",
    // A CMG registration scenario's `/mp:` and `/regtoken:` (runner/client.rs `cmg_env`).
    "MEMSIM_CMG_MP",
    "MEMSIM_CMG_REGTOKEN",
    "MEMSIM_CMG_REGTOKEN_ERROR",
    // Tools' own CA and proxy settings, cleared so that none of the machine's trust or routes
    // reaches a client through them (issue 13): git, pip, the AWS SDKs and CLI, Nix, cargo,
    // npm, Deno, Bundler, gRPC, websocket-client, httplib2, and FTP proxies.
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_PROXY_COMMAND",
    "PIP_CERT",
    "PIP_PROXY",
    "AWS_CA_BUNDLE",
    "NIX_SSL_CERT_FILE",
    "CARGO_HTTP_CAINFO",
    "CARGO_HTTP_PROXY",
    "NPM_CONFIG_CAFILE",
    "npm_config_cafile",
    "NPM_CONFIG_PROXY",
    "npm_config_proxy",
    "NPM_CONFIG_HTTPS_PROXY",
    "npm_config_https_proxy",
    "DENO_CERT",
    "BUNDLE_SSL_CA_CERT",
    "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
    "WEBSOCKET_CLIENT_CA_BUNDLE",
    "HTTPLIB2_CA_CERTS",
    "FTP_PROXY",
    "ftp_proxy",
];

/// The world's values, from its description: the CA bundle (and its hashed directory), the
/// proxy, the DNS server, world.json, the time scale, and the scenario's target URL when it
/// has one.
pub fn vars(world: &WorldDescription, time_scale: f64, target: Option<&str>, world_json: &Path, cert_dir: &Path) -> Vec<(&'static str, String)> {
    let ca = world.ca_bundle.display().to_string();
    let mut env: Vec<(&'static str, String)> =
        ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"].iter().map(|k| (*k, ca.clone())).collect();
    env.push(("SSL_CERT_DIR", cert_dir.display().to_string()));
    for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        env.push((k, world.proxy_url.clone()));
    }
    env.push(("MEMSIM_WORLD", world_json.display().to_string()));
    env.push(("MEMSIM_DNS", world.dns_addr.to_string()));
    env.push(("MEMSIM_TIME_SCALE", time_scale.to_string()));
    if let Some(target) = target {
        env.push(("MEMSIM_TARGET", target.to_string()));
    }
    env
}

/// The managed variables the world does not set: a client must see them unset.
pub fn cleared(set: &[(&'static str, String)]) -> Vec<&'static str> {
    MANAGED.iter().copied().filter(|k| !set.iter().any(|(s, _)| s == k)).collect()
}

/// A hashed certificate directory holding the world's roots (what `SSL_CERT_DIR` expects).
/// OpenSSL's subject hash links are made by `openssl rehash`; without openssl the directory
/// still holds the PEM files.
pub async fn cert_dir(world: &World) -> std::io::Result<PathBuf> {
    let dir = world.state_dir().join("certs");
    tokio::fs::create_dir_all(&dir).await?;
    let pem = tokio::fs::read_to_string(world.ca_bundle()).await?;
    for (i, block) in pem.split_inclusive("-----END CERTIFICATE-----\n").enumerate() {
        tokio::fs::write(dir.join(format!("memsim-root-{i}.pem")), block).await?;
    }
    let _ = tokio::process::Command::new("openssl").arg("rehash").arg(&dir).stdout(Stdio::null()).stderr(Stdio::null()).status().await;
    Ok(dir)
}

/// Single-quote for POSIX sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `env.sh`: `. env.sh` points a shell's clients at the world.
pub fn env_sh(scenario: &scenarios::Scenario, world: &WorldDescription, time_scale: f64, world_json: &Path, cert_dir: &Path) -> String {
    let set = vars(world, time_scale, scenario.first_target(), world_json, cert_dir);
    let mut out = format!("# memsim world `{}`: `. env.sh` points clients at it.\n", scenario.name);
    for (k, v) in &set {
        out.push_str(&format!("export {k}={}\n", sh_quote(v)));
    }
    out.push_str(&format!("unset {}\n", cleared(&set).join(" ")));
    out
}
