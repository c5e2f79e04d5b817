//! Any tool as a child process (`std::process::Command`), pointed at a world by the environment
//! `env.sh` would set: the CA bundle (`SSL_CERT_FILE`, `CURL_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`,
//! `NODE_EXTRA_CA_CERTS`, `SSL_CERT_DIR`) and the proxy, with the machine's own cleared
//! (issue 18 #1). Here the tool is curl.
//!
//! `cargo run -p harness --example command_client [SCENARIO]`

use std::time::Duration;

use memsim::{Component, EventMatcher, Scenario, World};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "pki-expired-intermediate".into());
    let world = World::start(Scenario::builtin(&name)?).await?;
    for (k, v) in world.env().vars() {
        println!("{k}={v}");
    }
    // A blocking child: run it off the runtime's workers, as a test would.
    let mut curl = world.command("curl");
    curl.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}\n", "--max-time", "20", "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc"]);
    let out = tokio::task::spawn_blocking(move || curl.output()).await??;
    println!("curl exit {:?}: {}{}", out.status.code(), String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    let tls = EventMatcher::new(Component::Tls).host("enrollment.manage.microsoft.com");
    let event = world.journal().wait_for(&tls, Duration::from_secs(10)).await?;
    println!("the world saw: {} {}", event.what, event.detail.get("error").map(ToString::to_string).unwrap_or_default());
    Ok(())
}
