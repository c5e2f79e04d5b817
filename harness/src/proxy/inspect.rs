//! TLS inspection (failure catalog TLS-03, TLS-04; seed 002: "SSL-verkeersinspectie wordt niet
//! ondersteund voor manage.microsoft.com, dm.microsoft.com"): the seam is the TLS accept on a
//! CONNECT tunnel. The proxy answers the client's handshake with a leaf issued on the fly by a
//! corporate inspection CA (rcgen, P-256, name-constrained to the world's domains like the
//! world's own CAs), reads the requests, and re-originates each over its own TLS connection to
//! the world's HTTPS front, verifying the server against the world's roots. The inspection CA
//! is in the world's CA bundle when the fault says `trusted`. A server that asks for a client
//! certificate gets none — the proxy cannot forward the client's — and the client gets the
//! 502 an inspecting proxy gives.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::header;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
    SerialNumber,
};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::sign::CertifiedKey;
use scenarios::ProxyFaultKind;
use time::{Duration as TimeSpan, OffsetDateTime};
use tokio::io::DuplexStream;
use tokio::net::TcpStream;

use super::conn::{ConnLog, Control};
use super::head;
use super::http::{self, ProxyBody, Slot};
use super::pump::{self, Pumped};
use super::respond::{Answer, echo};
use super::rules::Plan;
use super::{ProxyError, Shared};

/// What an inspecting proxy answers when the server wants the client's certificate ([T7] in
/// the failure catalog, TLS-03).
const CLIENT_CERT_502: &str = "(502) Proxy Error ( The Web site requires a client certificate, but a client certificate cannot be supplied when HTTPS inspection is applied to the request. )";

/// A corporate inspection CA and the leaves it has minted.
pub struct InspectionCa {
    pub name: String,
    pub trusted: bool,
    pub pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    signing: Arc<dyn rustls::sign::SigningKey>,
    now: OffsetDateTime,
    serial: AtomicU64,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for InspectionCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectionCa").field("name", &self.name).field("trusted", &self.trusted).finish()
    }
}

impl InspectionCa {
    /// A self-signed CA named `name`, constrained to `permitted` DNS subtrees, valid around `now`.
    pub fn generate(name: &str, trusted: bool, permitted: &[String], now: OffsetDateTime) -> Result<Self, ProxyError> {
        let err = |e: rcgen::Error| ProxyError::Certificate(e.to_string());
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, name);
        p.distinguished_name.push(DnType::OrganizationName, "memsim customer network");
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        p.name_constraints =
            Some(NameConstraints { permitted_subtrees: permitted.iter().map(|d| GeneralSubtree::DnsName(d.clone())).collect(), excluded_subtrees: vec![] });
        (p.not_before, p.not_after) = (now - TimeSpan::days(365), now + TimeSpan::days(3650));
        p.serial_number = Some(SerialNumber::from_slice(&[0x1c, 0xa0, 0x01]));
        let key = KeyPair::generate().map_err(err)?;
        let cert = p.self_signed(&key).map_err(err)?;
        let leaf_key = KeyPair::generate().map_err(err)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_ecdsa_type(&der).map_err(|e| ProxyError::Certificate(e.to_string()))?;
        Ok(InspectionCa {
            name: name.to_string(),
            trusted,
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(p, key),
            leaf_key,
            signing,
            now,
            serial: AtomicU64::new(1),
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The leaf presented for `host`, minted on first use (one key for all, as a real
    /// inspection appliance reuses its key).
    pub fn leaf_for(&self, host: &str) -> Result<Arc<CertifiedKey>, ProxyError> {
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = leaves.get(host) {
            return Ok(l.clone());
        }
        let err = |e: rcgen::Error| ProxyError::Certificate(format!("{host}: {e}"));
        let mut p = CertificateParams::default();
        p.subject_alt_names = vec![SanType::DnsName(host.to_string().try_into().map_err(err)?)];
        p.distinguished_name.push(DnType::CommonName, host);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        (p.not_before, p.not_after) = (self.now - TimeSpan::days(1), self.now + TimeSpan::days(90));
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        p.serial_number = Some(SerialNumber::from_slice(&[&[0x2a][..], &serial.to_be_bytes()].concat()));
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&self.leaf_key, &self.issuer).map_err(err)?;
        let certified = Arc::new(CertifiedKey::new(vec![cert.der().clone(), self.der.clone()], self.signing.clone()));
        leaves.insert(host.to_string(), certified.clone());
        Ok(certified)
    }
}

/// Intercept a tunnel whose 200 has been sent: the client's TLS ends here, inside the pump.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    shared: Arc<Shared>,
    log: Arc<ConnLog>,
    client: TcpStream,
    pre: &[u8],
    target: (String, u16),
    addr: SocketAddr,
    ca: Arc<InspectionCa>,
    plan: Plan,
) -> Pumped {
    let (near, far) = tokio::io::duplex(64 * 1024);
    let ctl = Control::default();
    let keep_alive = http::keep_alive_limit(&shared.limits, &plan);
    let inner = intercept(shared.clone(), log.clone(), far, target, addr, ca, keep_alive);
    let pump = pump::run(client, pre, near, &plan, &ctl, &log, shared.limits.drop_hold, true);
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

async fn intercept(
    shared: Arc<Shared>,
    log: Arc<ConnLog>,
    far: DuplexStream,
    (host, port): (String, u16),
    addr: SocketAddr,
    ca: Arc<InspectionCa>,
    keep_alive: std::time::Duration,
) {
    let event = log.fired(ProxyFaultKind::TlsInspection).detail("ca", ca.name.clone()).detail("trusted", ca.trusted);
    let certified = match ca.leaf_for(&host) {
        Ok(c) => c,
        Err(e) => return log.record(event.detail("accepted", false).detail("error", e.to_string())),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(builder) = rustls::ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions() else { return };
    let resolver = Arc::new(ForHost { host: host.clone(), key: certified, refused_sni: Mutex::new(None) });
    let mut config = builder.with_no_client_auth().with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let tls = match tokio::time::timeout(shared.limits.head_timeout, acceptor.accept(far)).await {
        Ok(Ok(tls)) => tls,
        // The client refused the inspection CA's certificate (e.g. UnknownCA) or went away.
        Ok(Err(e)) => {
            log.record(event.detail("accepted", false).detail("error", e.to_string()));
            if let Some(sni) = resolver.refused_sni.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let reason = format!("the TLS ClientHello names {sni} inside a tunnel to {host}:{port}; the proxy's policy was decided for {host}:{port} only");
                log.record(
                    log.event("refused").detail("refusal", "host_mismatch").detail("reason", reason).detail("port", port).detail("connect_attempted", false),
                );
            }
            return;
        }
        Err(_) => return log.record(event.detail("accepted", false).detail("error", "no TLS handshake within the head timeout")),
    };
    log.record(event.detail("accepted", true));
    let slot: Arc<Slot> = Arc::default();
    let svc = service_fn(move |req| {
        let (shared, log, slot, host) = (shared.clone(), log.clone(), slot.clone(), host.clone());
        async move { Ok::<_, std::convert::Infallible>(relay(&shared, &log, &slot, (&host, port), addr, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new().timer(TokioTimer::new()).header_read_timeout(keep_alive).serve_connection(TokioIo::new(tls), svc).await;
}

async fn relay(shared: &Shared, log: &ConnLog, slot: &Slot, (host, port): (&str, u16), addr: SocketAddr, mut req: Request<Incoming>) -> Response<ProxyBody> {
    log.record(
        log.event("request")
            .detail("method", req.method().to_string())
            .detail("target", req.uri().to_string())
            .detail("inspected", true)
            .detail("decision", "allow"),
    );
    // The decision was made on the CONNECT authority; a request inside the tunnel naming
    // another host would reach another service on the same front. Refused as Squid refuses a
    // Host that does not match the destination with `host_verify_strict on`: 409 Conflict
    // (ERR_CONFLICT_HOST). Rewriting `Host` instead would answer for a host the client did not ask.
    let named = head::named_authority(req.uri(), req.headers().get(header::HOST).map(|v| v.as_bytes()), 443);
    if let Some(named) = mismatch(named, (host, port)) {
        let reason = format!("the request names {named} inside a tunnel to {host}:{port}; the proxy's policy was decided for {host}:{port} only");
        log.record(
            log.event("refused")
                .detail("status", 409)
                .detail("refusal", "host_mismatch")
                .detail("reason", reason.clone())
                .detail("port", port)
                .detail("connect_attempted", false),
        );
        return http::answer(Answer::new(409, reason));
    }
    http::strip_range(shared, log, host, port, req.headers_mut());
    http::prepare(&mut req, (host, port), 443);
    let connect = async {
        let tcp = http::connect_upstream(shared, addr).await?;
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
        http::handshake(TokioIo::new(tls)).await
    };
    http::send(slot, req, connect).await.unwrap_or_else(|e| http::failed(log, addr, e, str::to_string))
}

/// What a request names that is not the tunnel's `host:port` (an unparseable `Host` included).
fn mismatch(named: Result<Option<(String, u16)>, String>, (host, port): (&str, u16)) -> Option<String> {
    match named {
        Ok(None) => None,
        Ok(Some((h, p))) if h == host && p == port => None,
        Ok(Some((h, p))) => Some(echo(&head::authority(&h, p, 0))),
        Err(raw) => Some(format!("`{}`", echo(&raw))),
    }
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
}

impl rustls::server::ResolvesServerCert for ForHost {
    fn resolve(&self, hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    // issue 11, defect 2: inside a tunnel to one host, only that host:port passes.
    #[test]
    fn a_request_naming_another_authority_than_the_tunnel_is_a_mismatch() {
        let tunnel = ("swda01-mscdn.azureedge.net", 443);
        assert_eq!(mismatch(Ok(Some(("swda01-mscdn.azureedge.net".into(), 443))), tunnel), None);
        assert_eq!(mismatch(Ok(None), tunnel), None);
        assert_eq!(
            mismatch(Ok(Some(("enterpriseenrollment-s.manage.microsoft.com".into(), 443))), tunnel).as_deref(),
            Some("enterpriseenrollment-s.manage.microsoft.com:443")
        );
        assert_eq!(mismatch(Ok(Some(("swda01-mscdn.azureedge.net".into(), 8443))), tunnel).as_deref(), Some("swda01-mscdn.azureedge.net:8443"));
        assert_eq!(mismatch(Err("a b".into()), tunnel).as_deref(), Some("`a b`"));
    }
}
