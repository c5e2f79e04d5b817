//! Revocation checking as Windows does it for a ConfigMgr client's CMG connection
//! (protocols.md §1.2: CMG clients check revocation by default; failure catalog PKI-04/PKI-05):
//! CryptoAPI asks the leaf's OCSP responder first (AIA, RFC 6960) and falls back to its CRL
//! (CRL distribution points, RFC 5280 §4.2.1.13) when OCSP gives no definitive answer; each
//! intermediate is checked against its issuer's CRL. The root is not checked
//! (CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT).
//!
//! Fetches are plain HTTP through the world: an absolute-form request to the world's proxy, as
//! WinHTTP sends `http://` URLs to a proxy, or straight to the world's HTTP front without one.
//! CRLs are checked by webpki (signature by the issuer, nextUpdate enforced). The verdict maps
//! onto WinHTTP's flags: CERT_REVOKED, or CERT_REV_FAILED when nothing could say.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, ServerName, UnixTime};
use rustls::{CertificateError, Error, RootCertStore};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ProbeTarget;
use super::revocation_ocsp::{self, OcspVerdict};

/// How long one URL retrieval may take (CryptoAPI's default URL retrieval timeout is 15 s).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest CRL or OCSP answer read.
const MAX_BODY: usize = 4 << 20;

/// The outcome of a revocation check.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every certificate checked is good; how, for the report.
    Good(String),
    Revoked(String),
    /// The check could not complete (WINHTTP_CALLBACK_STATUS_FLAG_CERT_REV_FAILED).
    Failed(String),
}

/// The OCSP URL and CRL URLs a certificate names.
fn pointers(der: &[u8]) -> (Option<String>, Vec<String>) {
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return (None, Vec::new()) };
    let (mut ocsp, mut crls) = (None, Vec::new());
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in aia.iter().filter(|d| d.access_method == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_OCSP) {
                    if let GeneralName::URI(u) = d.access_location {
                        ocsp.get_or_insert_with(|| u.to_string());
                    }
                }
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for p in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        crls.extend(names.iter().filter_map(|n| if let GeneralName::URI(u) = n { Some(u.to_string()) } else { None }));
                    }
                }
            }
            _ => {}
        }
    }
    (ocsp, crls)
}

/// One plain-HTTP exchange with `url` through the world; returns status and body.
pub async fn fetch(target: &ProbeTarget, url: &str, post: Option<Vec<u8>>) -> Result<(u16, Bytes), String> {
    let (host, path) = mock_cloud::pki::split_url(url).ok_or_else(|| format!("{url}: not an http:// URL"))?;
    let exchange = async {
        let (addr, uri) = match &target.proxy_url {
            Some(p) => (p.trim_start_matches("http://").trim_end_matches('/').to_string(), format!("http://{host}{path}")),
            None => (target.http_addr.to_string(), path.clone()),
        };
        let tcp = tokio::net::TcpStream::connect(&addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let builder = hyper::Request::builder().uri(uri).header(hyper::header::HOST, &host).header(hyper::header::USER_AGENT, "Microsoft-CryptoAPI/10.0");
        let req = match post {
            Some(body) => builder.method("POST").header(hyper::header::CONTENT_TYPE, "application/ocsp-request").body(Full::new(Bytes::from(body))),
            None => builder.method("GET").body(Full::new(Bytes::new())),
        }
        .map_err(|e| e.to_string())?;
        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = Limited::new(res.into_body(), MAX_BODY).collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(FETCH_TIMEOUT, exchange).await.map_err(|_| format!("no answer within {FETCH_TIMEOUT:?}"))?
}

/// The first CRL any of `urls` serves (200), or why none did.
async fn crl(target: &ProbeTarget, urls: &[String]) -> Result<CertificateRevocationListDer<'static>, String> {
    let mut why = Vec::new();
    for url in urls {
        match fetch(target, url, None).await {
            Ok((200, body)) => return Ok(CertificateRevocationListDer::from(body.to_vec())),
            Ok((status, _)) => why.push(format!("{url} answered {status}")),
            Err(e) => why.push(format!("{url}: {e}")),
        }
    }
    Err(if why.is_empty() { "the certificate names no CRL distribution point".into() } else { why.join("; ") })
}

/// Ask the leaf's OCSP responder; `None` when it gave no definitive answer (with why).
async fn ocsp(target: &ProbeTarget, url: &str, leaf: &[u8], issuer: &[u8]) -> OcspVerdict {
    let Ok(id) = revocation_ocsp::cert_id(leaf, issuer) else { return OcspVerdict::NoAnswer("cannot read the certificates".into()) };
    let Ok(request) = revocation_ocsp::request(&id) else { return OcspVerdict::NoAnswer("cannot encode the request".into()) };
    match fetch(target, url, Some(request)).await {
        Ok((200, body)) => revocation_ocsp::judge(&body, &id, issuer, time::OffsetDateTime::now_utc(), 300),
        Ok((status, _)) => OcspVerdict::NoAnswer(format!("{url} answered HTTP {status}")),
        Err(e) => OcspVerdict::NoAnswer(format!("{url}: {e}")),
    }
}

/// Check the presented `chain` (leaf first) for `host` against the world's CA bundle.
pub async fn check(target: &ProbeTarget, host: &str, chain: &[CertificateDer<'static>]) -> Verdict {
    let Some(leaf) = chain.first() else { return Verdict::Failed("no certificate was presented".into()) };
    let mut crls = Vec::new();
    let mut how = Vec::new();
    let (ocsp_url, leaf_crls) = pointers(leaf);
    let leaf_by_ocsp = match (ocsp_url, chain.get(1)) {
        (Some(url), Some(issuer)) => match ocsp(target, &url, leaf, issuer).await {
            OcspVerdict::Good => {
                how.push(format!("OCSP {url}: good"));
                true
            }
            OcspVerdict::Revoked => return Verdict::Revoked(format!("OCSP {url} says the certificate of {host} is revoked")),
            OcspVerdict::NoAnswer(why) => {
                how.push(format!("OCSP {url}: no answer ({why}), CRL instead"));
                false
            }
        },
        _ => false,
    };
    if !leaf_by_ocsp {
        match crl(target, &leaf_crls).await {
            Ok(c) => crls.push(c),
            Err(why) => return Verdict::Failed(format!("the revocation status of {host}'s certificate is unknown: {why}")),
        }
    }
    // Intermediates: their issuer's CRL (the root itself is not checked).
    for inter in chain.iter().skip(1) {
        match crl(target, &pointers(inter).1).await {
            Ok(c) => crls.push(c),
            Err(why) => return Verdict::Failed(format!("the revocation status of an intermediate is unknown: {why}")),
        }
    }
    how.push(format!("{} CRL(s) checked", crls.len()));
    match verify_with_crls(target, host, chain, crls) {
        Ok(()) => Verdict::Good(how.join("; ")),
        Err(Error::InvalidCertificate(CertificateError::Revoked)) => Verdict::Revoked(format!("{host}: a certificate of the chain is on its issuer's CRL")),
        Err(e) => Verdict::Failed(format!("the CRL check failed: {e}")),
    }
}

/// webpki's verification with the fetched CRLs: signatures checked, nextUpdate enforced.
fn verify_with_crls(
    target: &ProbeTarget,
    host: &str,
    chain: &[CertificateDer<'static>],
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<(), Error> {
    let mut roots = RootCertStore::empty();
    let bundle = CertificateDer::pem_file_iter(&target.ca_bundle).map_err(|e| Error::General(e.to_string()))?;
    for der in bundle.flatten() {
        roots.add(der).map_err(|e| Error::General(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .with_crls(crls)
        .allow_unknown_revocation_status() // the leaf may be covered by OCSP; every fetched CRL is used
        .enforce_revocation_expiration()
        .build()
        .map_err(|e| Error::General(e.to_string()))?;
    let name = ServerName::try_from(host.to_string()).map_err(|e| Error::General(e.to_string()))?;
    verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now()).map(|_| ())
}

/// CCMHTTP's check after the handshake (cmg.rs): `Err` with the failure as LocationServices.log
/// reports it (failure catalog PKI-05), `Ok` with how the chain was found good.
pub(crate) async fn ccmhttp(
    run: &super::Run<'_>,
    host: &str,
    path: &str,
    tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> Result<String, super::ProbeResult> {
    let chain = tls.get_ref().1.peer_certificates().map(|c| c.to_vec()).unwrap_or_default();
    ccmhttp_chain(run, host, path, &chain).await
}

/// [`ccmhttp`] for a chain already in hand (a keep-alive `http::Channel`'s).
pub(crate) async fn ccmhttp_chain(
    run: &super::Run<'_>,
    host: &str,
    path: &str,
    chain: &[rustls::pki_types::CertificateDer<'static>],
) -> Result<String, super::ProbeResult> {
    let (flag, why) = match check(run.target, host, chain).await {
        Verdict::Good(how) => return Ok(how),
        Verdict::Revoked(why) => ("WINHTTP_CALLBACK_STATUS_FLAG_CERT_REVOKED", why),
        Verdict::Failed(why) => ("WINHTTP_CALLBACK_STATUS_FLAG_CERT_REV_FAILED", why),
    };
    let code = super::Code::ERROR_WINHTTP_SECURE_FAILURE;
    let message =
        format!("[CCMHTTP] ERROR: URL=https://{host}{path}, Port=443, Options=63, Code={}, Text={}; {flag} is set ({why})", run.codes.win32(code), code.name());
    Err(run.fail("revocation", code, message))
}
