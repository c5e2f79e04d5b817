//! A hyper client through a world's proxy: `CONNECT` by hand, then TLS (tokio-rustls with the
//! world's CA) and HTTP/1.1 inside the tunnel — what any proxy-aware client does (issue 18 #1).
//!
//! `cargo run -p harness --example hyper_client`

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use memsim::{Component, EventMatcher, Scenario, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST: &str = "enrollment.manage.microsoft.com";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let world = World::start(Scenario::builtin("healthy-discovery")?).await?;
    let proxy = world.describe().proxy_addr()?;

    // The tunnel: CONNECT, then the proxy's `200` head.
    let mut tcp = tokio::net::TcpStream::connect(proxy).await?;
    tcp.write_all(format!("CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n").as_bytes()).await?;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if tcp.read(&mut byte).await? == 0 {
            return Err("the proxy closed the tunnel".into());
        }
        head.push(byte[0]);
    }
    println!("proxy: {}", String::from_utf8_lossy(&head).lines().next().unwrap_or_default());

    // TLS inside it, trusting the world's CA alone.
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(world.ca_pem().as_bytes()) {
        roots.add(cert?)?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(HOST.try_into()?, tcp).await?;

    // HTTP/1.1 with hyper.
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get("/EnrollmentServer/Discovery.svc").header("host", HOST).body(Empty::<Bytes>::new())?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    let body = res.into_body().collect().await?.to_bytes();
    println!("discovery: {status}, {} bytes", body.len());

    let request = EventMatcher::new(Component::Http).what("request").host(HOST).status(200);
    world.journal().wait_for(&request, Duration::from_secs(5)).await?;
    world.expect([request]).await?;
    Ok(())
}
