//! The HTTPS front: rustls (TLS 1.2 and 1.3), the certificate chosen by SNI from the world's PKI,
//! the full chain served (unless a fault says otherwise), an OCSP answer stapled for clients
//! that ask. Every handshake is journaled with the faults that shaped the certificate it
//! presented, and a client's rejection is recorded with its alert (e.g. `CertificateExpired`,
//! `UnknownCA`).

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use scenarios::{Clock, Component, Journal, NewEvent};
use tokio::net::TcpListener;
use tokio_rustls::LazyConfigAcceptor;

use super::{Dispatch, HANDSHAKE_TIMEOUT, Listener, Scheme, accept_loop, serve_http};
use crate::pki::Pki;

/// The leaf for the client's SNI, with a current OCSP staple (sent when the client asks).
#[derive(Debug)]
struct SniResolver(Arc<Pki>, Clock);

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.leaf_for(hello.server_name()?).map(|leaf| self.0.stapled(&leaf, self.1.now()))
    }
}

/// The rustls configuration of a world's HTTPS front; `clock` dates the OCSP staples.
pub fn server_config(pki: Arc<Pki>, clock: Clock) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver(pki, clock)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Accept TLS connections until the task is dropped.
pub async fn serve(listener: TcpListener, config: Arc<ServerConfig>, pki: Arc<Pki>, dispatch: Dispatch, journal: Journal) {
    let front = Listener { name: "the HTTPS front", scheme: Scheme::Https };
    accept_loop(listener, journal.clone(), front, move |tcp, peer| {
        connection(tcp, peer.to_string(), config.clone(), pki.clone(), dispatch.clone(), journal.clone())
    })
    .await
}

async fn connection(tcp: tokio::net::TcpStream, peer: String, config: Arc<ServerConfig>, pki: Arc<Pki>, dispatch: Dispatch, journal: Journal) {
    let failed = |what: &str, sni: Option<&str>, reason: String| {
        let mut e = NewEvent::new(Component::Tls, what).detail("peer", peer.clone()).detail("error", reason);
        if let Some(s) = sni {
            e = e.host(s);
        }
        e
    };
    let start = match tokio::time::timeout(HANDSHAKE_TIMEOUT, LazyConfigAcceptor::new(Acceptor::default(), tcp)).await {
        Ok(Ok(start)) => start,
        Ok(Err(e)) => {
            journal.record(failed("handshake_failed", None, format!("not a TLS ClientHello: {e}")));
            return;
        }
        Err(_) => {
            journal.record(failed("handshake_failed", None, "no ClientHello within the handshake timeout".into()));
            return;
        }
    };
    let sni = start.client_hello().server_name().map(|s| s.to_ascii_lowercase());
    let leaf = sni.as_deref().and_then(|s| pki.leaf_for(s));
    let Some(leaf) = leaf else {
        let reason = match &sni {
            None => "the client sent no server name (SNI)".to_string(),
            Some(s) => format!("{s} is not emulated in this world"),
        };
        journal.record(failed("handshake_refused", sni.as_deref(), reason));
        // rustls finds no certificate and answers with a handshake_failure alert.
        let _ = start.into_stream(config).await;
        return;
    };
    let sni = sni.unwrap_or_default();
    let with_faults = |mut e: NewEvent| {
        if let Some(f) = leaf.faults.first() {
            e = e.fault(*f).detail("faults", leaf.faults.iter().map(|k| k.name()).collect::<Vec<_>>());
        }
        e.detail("certificate", leaf.name.clone()).detail("chain_length", leaf.certified.cert.len())
    };
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, start.into_stream(config)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            journal.record(with_faults(failed("handshake_failed", Some(&sni), e.to_string())));
            return;
        }
        Err(_) => {
            journal.record(with_faults(failed("handshake_failed", Some(&sni), "handshake timed out".into())));
            return;
        }
    };
    let (_, conn) = tls.get_ref();
    let version = conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
    let suite = conn.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
    journal.record(with_faults(
        NewEvent::new(Component::Tls, "handshake").host(sni.clone()).detail("peer", peer.clone()).detail("version", version).detail("cipher_suite", suite),
    ));
    let requests = serve_http(tls, dispatch, Scheme::Https).await;
    if requests == 0 {
        // Clients that check the name after the handshake (curl, most HTTP stacks) hang up here
        // when they reject the certificate: worth a line for whoever reads the journal.
        journal.record(with_faults(NewEvent::new(Component::Tls, "closed_without_request").host(sni).detail("peer", peer)));
    }
}
