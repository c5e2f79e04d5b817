//! TLS inspection (failure catalog TLS-03, TLS-04; seed 002: "SSL-verkeersinspectie wordt niet
//! ondersteund voor manage.microsoft.com, dm.microsoft.com"): the seam is the TLS accept on a
//! CONNECT tunnel. The proxy answers the client's handshake with a leaf of the corporate
//! inspection CA ([`super::ca`]) for the CONNECT host, reads the requests, and re-originates
//! each over its own TLS connection to the world's HTTPS front, verifying the server against
//! the world's roots. The decision was made for the CONNECT authority only: a ClientHello or a
//! request naming another host is refused ([`decide::inside_tunnel`]), so it never reaches
//! another service on the same front (issue 11, defect 2). A server that asks for a client
//! certificate gets none — the proxy cannot forward the client's — and the client gets the
//! 502 an inspecting proxy gives.
//!
//! Toward the client the proxy offers h2 and http/1.1 by ALPN, as the front does (issue 16
//! item 5); toward the front it speaks HTTP/1.1, one upstream connection per exchange in flight.
//! Under `proxy.http1_only` it offers http/1.1 alone — an appliance that terminates TLS and
//! speaks only HTTP/1.1 (Squid's SslBump removes h2 from the ALPN it offers) — and journals
//! what the client had asked for.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::header;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use mock_cloud::front::Protocol;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use rustls::sign::CertifiedKey;
use scenarios::ProxyFaultKind;
use tokio::io::DuplexStream;
use tokio::net::TcpStream;

use super::ca::InspectionCa;
use super::conn::{ConnLog, Control};
use super::decide::{self, Ask};
use super::head;
use super::plan::Plan;
use super::pump::{Pump, Pumped};
use super::refusal::{self, Gate};
use super::request;
use super::respond::{ProxyBody, echo};
use super::shared::Shared;
use super::upstream::{self, Slot};

/// What an inspecting proxy answers when the server wants the client's certificate ([T7] in
/// the failure catalog, TLS-03).
const CLIENT_CERT_502: &str = "(502) Proxy Error ( The Web site requires a client certificate, but a client certificate cannot be supplied when HTTPS inspection is applied to the request. )";

/// Intercept a tunnel whose 200 has been sent: the client's TLS ends here, inside the pump.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    shared: Arc<Shared>,
    log: Arc<ConnLog>,
    client: TcpStream,
    pre: &[u8],
    target: (String, u16),
    addr: SocketAddr,
    interception: (ProxyFaultKind, Arc<InspectionCa>),
    plan: &Plan,
) -> Pumped {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let ctl = Arc::new(Control::default());
    let tunnel = Tunnel { shared: shared.clone(), log: log.clone(), ctl: ctl.clone(), plan: Arc::new(plan.clone()), target, addr };
    let inner = intercept(tunnel, far, interception);
    let pump = Pump { plan, ctl: &ctl, log: &log, hold: shared.limits.drop_hold, served_here: true, splice: false };
    let pump = pump.run(client, pre, near);
    tokio::pin!(pump, inner);
    tokio::select! {
        // The client went away: the interception side still records what it saw (the client's
        // refusal of the inspection CA arrives as the last bytes before the close). With the
        // near end dropped it reads EOF at once; bounded all the same.
        p = &mut pump => {
            let _ = tokio::time::timeout(shared.limits.head_timeout, inner).await;
            p
        }
        _ = &mut inner => pump.await,
    }
}

/// What every request read inside one inspected tunnel shares.
#[derive(Clone)]
struct Tunnel {
    shared: Arc<Shared>,
    log: Arc<ConnLog>,
    ctl: Arc<Control>,
    /// The tunnel's plan: its request-level effects apply to every request inside.
    plan: Arc<Plan>,
    /// The CONNECT authority the decision was made for.
    target: (String, u16),
    addr: SocketAddr,
}

async fn intercept(t: Tunnel, far: DuplexStream, (kind, ca): (ProxyFaultKind, Arc<InspectionCa>)) {
    let (log, (host, port)) = (&t.log, (t.target.0.clone(), t.target.1));
    let event = log.fired(kind).detail("ca", ca.name.clone()).detail("trusted", ca.trusted);
    let certified = match ca.leaf_for(&host) {
        Ok(c) => c,
        Err(e) => return log.record(event.detail("accepted", false).detail("error", e.to_string())),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(builder) = rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions() else { return };
    let resolver = Arc::new(ForHost { host: host.clone(), key: certified, refused_sni: Mutex::new(None), client_alpn: Mutex::new(Vec::new()) });
    let mut config = builder.with_no_client_auth().with_cert_resolver(resolver.clone());
    let http1_only = t.plan.http1_only();
    config.alpn_protocols = match http1_only {
        Some(_) => vec![b"http/1.1".to_vec()],
        None => Protocol::ALPN.iter().map(|p| p.to_vec()).collect(),
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let tls = match tokio::time::timeout(t.shared.limits.head_timeout, acceptor.accept(far)).await {
        Ok(Ok(tls)) => tls,
        // The client refused the inspection CA's certificate (e.g. UnknownCA), went away, or
        // asked for another name than the tunnel's.
        Ok(Err(e)) => {
            log.record(event.detail("accepted", false).detail("error", e.to_string()));
            if let Some(sni) = resolver.refused_sni.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let reason = format!(
                    "the TLS ClientHello names {} inside a tunnel to {}:{port}; the proxy's policy was decided for that host only",
                    echo(&sni),
                    echo(&host)
                );
                refusal::record_handshake(log, Gate::HostMismatch, reason, port);
            }
            return;
        }
        Err(_) => return log.record(event.detail("accepted", false).detail("error", "no TLS handshake within the head timeout")),
    };
    let protocol = Protocol::from_alpn(tls.get_ref().1.alpn_protocol());
    log.record(event.detail("accepted", true).detail("protocol", protocol.as_str()));
    if let Some(kind) = http1_only {
        let offered = std::mem::take(&mut *resolver.client_alpn.lock().unwrap_or_else(|p| p.into_inner()));
        let downgraded = offered.iter().any(|p| p == "h2");
        log.record(log.fired(kind).detail("client_offered", offered).detail("downgraded", downgraded).detail("protocol", protocol.as_str()));
    }
    let slot: Arc<Slot> = Arc::default();
    let keep_alive = t.shared.limits.keep_alive(&t.plan);
    let svc = service_fn(move |req| {
        let (t, slot) = (t.clone(), slot.clone());
        async move { Ok::<_, std::convert::Infallible>(relay(&t, &slot, req).await) }
    });
    match protocol {
        Protocol::Http1 => {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(keep_alive)
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        }
        Protocol::H2 => mock_cloud::front::h2::serve(tls, svc, keep_alive).await,
    }
}

async fn relay(t: &Tunnel, slot: &Slot, mut req: Request<Incoming>) -> Response<ProxyBody> {
    let (shared, log, addr, (host, port)) = (&t.shared, &t.log, t.addr, (t.target.0.as_str(), t.target.1));
    // h2 streams run side by side: one whose slot is busy (a long-poll holds it) gets an
    // upstream connection of its own.
    let spare = Slot::default();
    let slot = if slot.try_lock().is_ok() { slot } else { &spare };
    let (method, target) = (req.method().to_string(), req.uri().to_string());
    let ask = Ask { method: &method, target: &target, host, port, proxy_authorization: None, transparent: false };
    let named = head::named_authority(req.uri(), req.headers().get(header::HOST).map(|v| v.as_bytes()), 443);
    if let Some(r) = decide::inside_tunnel(log, &ask, named) {
        return refusal::in_hyper(&t.ctl, r).await;
    }
    if let Err(refused) = request::prepare(log, &t.plan, &mut req, (host, port), 443) {
        return *refused;
    }
    // Re-originated as HTTP/1.1 whatever the client spoke.
    *req.version_mut() = hyper::Version::HTTP_11;
    let connect = async {
        let tcp = upstream::connect(shared, addr).await?;
        let probe = Arc::new(ClientAuthProbe::default());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(shared.upstream_roots.clone())
            .with_client_cert_resolver(probe.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await;
        if probe.asked.load(Ordering::Relaxed) {
            return Err(CLIENT_CERT_502.to_string());
        }
        let tls = tls.map_err(|e| format!("the proxy could not verify {host}: {e}"))?;
        log.record(log.event("upstream").detail("front", "https").detail("addr", addr.to_string()).detail("inspected", true));
        upstream::handshake(&shared.journal, TokioIo::new(tls)).await
    };
    upstream::send(slot, req, connect).await.unwrap_or_else(|e| upstream::failed(log, addr, e, str::to_string))
}

/// The inspection leaf for the tunnel's host, given only to a ClientHello that names that host
/// (or none): an inspecting proxy mints its certificate for the CONNECT authority, and a
/// handshake for another name is refused (rustls sends an alert) instead of being served.
#[derive(Debug)]
struct ForHost {
    host: String,
    key: Arc<CertifiedKey>,
    /// The other name a ClientHello asked for, if one did.
    refused_sni: Mutex<Option<String>>,
    /// The ALPN protocols the ClientHello offered (for `proxy.http1_only`'s event).
    client_alpn: Mutex<Vec<String>>,
}

impl rustls::server::ResolvesServerCert for ForHost {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(alpn) = hello.alpn() {
            *self.client_alpn.lock().unwrap_or_else(|p| p.into_inner()) = alpn.map(|p| String::from_utf8_lossy(p).into_owned()).collect();
        }
        match hello.server_name().map(head::host_of) {
            Some(sni) if sni != self.host => {
                *self.refused_sni.lock().unwrap_or_else(|p| p.into_inner()) = Some(sni);
                None
            }
            _ => Some(self.key.clone()),
        }
    }
}

/// Records that the server asked for a client certificate; never has one to give.
#[derive(Debug, Default)]
struct ClientAuthProbe {
    asked: AtomicBool,
}

impl ResolvesClientCert for ClientAuthProbe {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}
