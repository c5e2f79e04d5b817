//! A reqwest client (rustls, the world's CA as its only roots) through a world's proxy: the
//! in-process API of issue 18 #1 as a Rust test uses it.
//!
//! `cargo run -p harness --example reqwest_client`

use std::sync::Arc;
use std::time::Duration;

use memsim::{Component, EventMatcher, Fault, Scenario, World};

const DISCOVERY: &str = "https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc";

/// A client that trusts the world's CA alone and goes through its proxy.
fn client(world: &World) -> Result<reqwest::Client, Box<dyn std::error::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(world.ca_pem().as_bytes()) {
        roots.add(cert?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().use_preconfigured_tls(tls).proxy(reqwest::Proxy::all(world.proxy_url())?).timeout(Duration::from_secs(20)).build()?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let healthy = World::start(Scenario::healthy()).await?;
    let status = client(&healthy)?.get(DISCOVERY).send().await?.status();
    println!("healthy world: discovery answered {status}");
    healthy.expect([EventMatcher::new(Component::Http).what("request").path("/EnrollmentServer/Discovery.svc").status(200)]).await?;

    let blocked = World::start(Scenario::healthy().named("blocked").with_fault(Fault::proxy_deny().hosts("*.manage.microsoft.com"))).await?;
    let err = client(&blocked)?.get(DISCOVERY).send().await.expect_err("the proxy refuses");
    println!("blocked world: {err}");
    let deny = EventMatcher::new(Component::Proxy).fault("proxy.deny");
    let event = blocked.journal().wait_for(&deny, Duration::from_secs(5)).await?;
    println!("the proxy journaled: {} {} {}", event.what, event.host.unwrap_or_default(), event.detail["reason"]);
    Ok(())
}
