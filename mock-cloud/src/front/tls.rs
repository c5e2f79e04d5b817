//! The HTTPS front: rustls (TLS 1.2 and 1.3), the certificate chosen by SNI from the world's PKI,
//! the full chain served (unless a fault says otherwise), an OCSP answer stapled for clients
//! that ask. Every handshake is journaled with the faults that shaped the certificate it
//! presented, and a client's rejection is recorded with its alert (e.g. `CertificateExpired`,
//! `UnknownCA`).
//!
//! Mutual TLS (issue 14): on the hosts of a service that authenticates devices by certificate
//! (the OMA-DM check-in, `r.manage.microsoft.com`) the front asks for a client certificate and
//! verifies it against that service's CA at the world's simulated now; a connection without one
//! is still served (the service refuses it with its own error, as IIS answers 403.7). Every
//! other host is served exactly as before, without asking.
//!
//! ALPN offers h2 and http/1.1 (issue 16 item 5); the handshake event names the one chosen
//! (`protocol`: `h2`, or `http/1.1`, also when the client offered no ALPN).

use std::collections::HashSet;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::{Acceptor, ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use scenarios::{Clock, Component, Journal, NewEvent};
use tokio::net::TcpListener;
use tokio_rustls::LazyConfigAcceptor;

use super::{ClientCertificate, Dispatch, HANDSHAKE_TIMEOUT, Listener, Protocol, Scheme, accept_loop, serve_http};
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
    offer_protocols(&mut config);
    Arc::new(config)
}

/// h2 and HTTP/1.1 by ALPN, h2 first as the real endpoints prefer it (issue 16 item 5); and
/// session resumption by stateless tickets (RFC 8446 §4.6.1, RFC 5077), as Azure Front Door
/// issues them: a returning client skips the certificate and its signature (issue 20). One
/// TLS 1.3 ticket per handshake, not rustls' two: clients keep one per connection.
fn offer_protocols(config: &mut ServerConfig) {
    config.alpn_protocols = Protocol::ALPN.iter().map(|p| p.to_vec()).collect();
    if let Ok(ticketer) = rustls::crypto::ring::Ticketer::new() {
        config.ticketer = ticketer;
        config.send_tls13_tickets = 1;
    }
}

/// The world's clock as rustls' time source: client certificates are checked at the simulated now.
#[derive(Debug)]
struct SimulatedTime(Clock);

impl rustls::time_provider::TimeProvider for SimulatedTime {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        let secs = u64::try_from(self.0.now().unix_timestamp()).ok()?;
        Some(rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)))
    }
}

/// The configuration for hosts that authenticate clients by certificate: the same certificates
/// by SNI, plus an optional client certificate verified against `client_ca` (DER) at the
/// simulated now.
pub fn mutual_config(pki: Arc<Pki>, clock: Clock, client_ca: &[u8]) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(client_ca.to_vec())).map_err(|e| e.to_string())?;
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
    let mut config = ServerConfig::builder_with_details(provider, Arc::new(SimulatedTime(clock)))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SniResolver(pki, clock)));
    offer_protocols(&mut config);
    Ok(Arc::new(config))
}

/// The front's TLS configurations: one for every host, and the mutual one for `mutual_hosts`.
#[derive(Debug, Clone)]
pub struct Configs {
    pub plain: Arc<ServerConfig>,
    pub mutual: Option<Arc<ServerConfig>>,
    pub mutual_hosts: Arc<HashSet<String>>,
}

impl Configs {
    fn for_sni(&self, sni: Option<&str>) -> Arc<ServerConfig> {
        match (&self.mutual, sni) {
            (Some(m), Some(s)) if self.mutual_hosts.contains(s) => m.clone(),
            _ => self.plain.clone(),
        }
    }
}

/// Accept TLS connections until the task is dropped.
pub async fn serve(listener: TcpListener, configs: Configs, pki: Arc<Pki>, dispatch: Dispatch, journal: Journal) {
    let front = Listener { name: "the HTTPS front", scheme: Scheme::Https };
    accept_loop(listener, journal.clone(), front, move |tcp, peer| {
        connection(tcp, peer.to_string(), configs.clone(), pki.clone(), dispatch.clone(), journal.clone())
    })
    .await
}

async fn connection(tcp: tokio::net::TcpStream, peer: String, configs: Configs, pki: Arc<Pki>, dispatch: Dispatch, journal: Journal) {
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
    let config = configs.for_sni(sni.as_deref());
    let leaf = sni.as_deref().and_then(|s| pki.leaf_for(s));
    let Some(leaf) = leaf else {
        let reason = match &sni {
            None => "the client sent no server name (SNI)".to_string(),
            Some(s) => format!("{s} is not emulated in this world"),
        };
        journal.record(failed("handshake_refused", sni.as_deref(), reason));
        // rustls finds no certificate and answers with a handshake_failure alert.
        let _ = start.into_stream(config.clone()).await;
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
    // rustls' own names (`TLSv1_3`, `TLS13_AES_128_GCM_SHA256`), without formatting.
    let version = conn.protocol_version().and_then(|v| v.as_str()).unwrap_or_default();
    let suite = conn.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).unwrap_or_default();
    let client = conn.peer_certificates().and_then(|c| c.first()).map(|c| ClientCertificate(c.to_vec()));
    let protocol = Protocol::from_alpn(conn.alpn_protocol());
    let mut event = NewEvent::new(Component::Tls, "handshake")
        .host(sni.clone())
        .detail("peer", peer.clone())
        .detail("version", version)
        .detail("cipher_suite", suite)
        .detail("protocol", protocol.as_str());
    if configs.mutual_hosts.contains(&sni) {
        event = event.detail("client_certificate", client.is_some());
    }
    journal.record(with_faults(event));
    let requests = serve_http(tls, dispatch, Scheme::Https, protocol, client).await;
    if requests == 0 {
        // Clients that check the name after the handshake (curl, most HTTP stacks) hang up here
        // when they reject the certificate: worth a line for whoever reads the journal.
        journal.record(with_faults(NewEvent::new(Component::Tls, "closed_without_request").host(sni).detail("peer", peer)));
    }
}
