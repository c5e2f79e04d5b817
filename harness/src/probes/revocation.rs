//! Revocation checking as Windows does it for a ConfigMgr client's CMG connection and the
//! service connection point (protocols.md §1.2: CMG clients check revocation by default; seed
//! 000; failure catalog PKI-04/PKI-05), modelled on CryptoAPI's revocation provider (issue 16):
//! for every certificate of the chain but the root (CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT),
//! a valid OCSP answer the server stapled (the leaf only: Schannel hands it over with the server's
//! certificate), else a current answer from the URL cache, else the OCSP responder of the
//! certificate's own AIA (RFC 6960), else its CRL distribution points (RFC 5280 §4.2.1.13; the
//! cache first). Answers and CRLs fetched are cached until their nextUpdate, as CryptoAPI's URL
//! cache keeps them. The chain checked is the one CryptoAPI built: with intermediates from the
//! machine's store and AIA downloads (`aia.rs`). A certificate nothing can vouch for is
//! CRYPT_E_REVOCATION_OFFLINE (0x80092013), a revoked one CRYPT_E_REVOKED (0x80092010); revoked
//! wins. Freshness is judged on the client's clock.
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

use der::Encode;
use x509_ocsp::CertId;

use super::ProbeTarget;
use super::client_state::{Cached, names};
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

/// What one certificate's revocation check found.
enum Status {
    /// Good, and how it was known.
    Good(String),
    /// Good as far as OCSP is silent: the CRL that decides, checked with the others by webpki.
    Crl(CertificateRevocationListDer<'static>, String),
    Revoked(String),
    /// No staple, OCSP answer or CRL could be had (CRYPT_E_REVOCATION_OFFLINE).
    Offline(String),
}

/// A CRL's nextUpdate (Unix seconds), for the URL cache; a CRL without one is not cached.
fn crl_next_update(der: &[u8]) -> Option<i64> {
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(der).ok()?;
    Some(crl.next_update()?.timestamp())
}

/// The CRL of `urls`: a current one from the URL cache, else the first a URL serves (200),
/// cached until its nextUpdate; or why none could be had.
async fn crl(target: &ProbeTarget, urls: &[String], now: i64) -> Result<(CertificateRevocationListDer<'static>, String), String> {
    let state = &target.client_state;
    if let Some((url, der)) = urls.iter().find_map(|u| state.crl(u, now).map(|d| (u, d))) {
        return Ok((CertificateRevocationListDer::from(der), format!("CRL {url} (cached)")));
    }
    let mut why = Vec::new();
    for url in urls {
        match fetch(target, url, None).await {
            Ok((200, body)) => {
                if let Some(next_update) = crl_next_update(&body) {
                    state.cache_crl(url, Cached { der: body.to_vec(), next_update });
                }
                return Ok((CertificateRevocationListDer::from(body.to_vec()), format!("CRL {url}")));
            }
            Ok((status, _)) => why.push(format!("{url} answered {status}")),
            Err(e) => why.push(format!("{url}: {e}")),
        }
    }
    Err(if why.is_empty() { "the certificate names no CRL distribution point".into() } else { why.join("; ") })
}

/// Ask `url` about `cert` (issued by `issuer`); a definitive answer is cached until its nextUpdate.
async fn ocsp(target: &ProbeTarget, url: &str, id: &CertId, issuer: &[u8], now: time::OffsetDateTime) -> OcspVerdict {
    let Ok(request) = revocation_ocsp::request(id) else { return OcspVerdict::NoAnswer("cannot encode the request".into()) };
    match fetch(target, url, Some(request)).await {
        Ok((200, body)) => {
            let verdict = revocation_ocsp::judge(&body, id, issuer, now, 300);
            if !matches!(verdict, OcspVerdict::NoAnswer(_))
                && let (Ok(key), Some(next_update)) = (id.to_der(), revocation_ocsp::next_update(&body, id))
            {
                target.client_state.cache_ocsp(&key, Cached { der: body.to_vec(), next_update });
            }
            verdict
        }
        Ok((status, _)) => OcspVerdict::NoAnswer(format!("{url} answered HTTP {status}")),
        Err(e) => OcspVerdict::NoAnswer(format!("{url}: {e}")),
    }
}

/// One certificate, as CryptoAPI's revocation provider checks it: the staple (the leaf only),
/// a current answer from the URL cache, the OCSP responder its AIA names, then its CRL
/// distribution points (cache, then download). `name` names it in the report.
async fn status(target: &ProbeTarget, name: &str, cert: &[u8], issuer: &[u8], leaf: bool) -> Status {
    let now = target.client_now();
    let Ok(id) = revocation_ocsp::cert_id(cert, issuer) else { return Status::Offline(format!("{name}: cannot read the certificates")) };
    let mut tried = Vec::new();
    if leaf && let Some(staple) = target.client_state.staple(cert) {
        match revocation_ocsp::judge(&staple, &id, issuer, now, 300) {
            OcspVerdict::Good => return Status::Good(format!("{name}: stapled OCSP answer good")),
            OcspVerdict::Revoked => return Status::Revoked(format!("the stapled OCSP answer says the certificate of {name} is revoked")),
            OcspVerdict::NoAnswer(why) => tried.push(format!("staple: {why}")),
        }
    }
    if let Some(cached) = id.to_der().ok().and_then(|k| target.client_state.ocsp(&k, now.unix_timestamp())) {
        match revocation_ocsp::judge(&cached, &id, issuer, now, 300) {
            OcspVerdict::Good => return Status::Good(format!("{name}: cached OCSP answer good")),
            OcspVerdict::Revoked => return Status::Revoked(format!("a cached OCSP answer says the certificate of {name} is revoked")),
            OcspVerdict::NoAnswer(why) => tried.push(format!("cached OCSP answer: {why}")),
        }
    }
    let (ocsp_url, crl_urls) = pointers(cert);
    if let Some(url) = ocsp_url {
        match ocsp(target, &url, &id, issuer, now).await {
            OcspVerdict::Good => return Status::Good(format!("{name}: OCSP {url} good")),
            OcspVerdict::Revoked => return Status::Revoked(format!("OCSP {url} says the certificate of {name} is revoked")),
            OcspVerdict::NoAnswer(why) => tried.push(format!("OCSP: {why}")),
        }
    }
    match crl(target, &crl_urls, now.unix_timestamp()).await {
        Ok((crl, how)) => {
            let fallback = if tried.is_empty() { String::new() } else { format!(" ({}, CRL instead)", tried.join("; ")) };
            Status::Crl(crl, format!("{name}: {how}{fallback}"))
        }
        Err(why) => {
            tried.push(format!("CRL: {why}"));
            Status::Offline(format!("the revocation status of {name}'s certificate is unknown: {}", tried.join("; ")))
        }
    }
}

/// The chain as CryptoAPI builds it for the check: the presented certificates, the machine's
/// intermediate store (with what AIA downloaded) and the trusted roots, each issuer found by
/// name, up to a self-signed root.
fn built_chain(target: &ProbeTarget, chain: &[CertificateDer<'static>]) -> Vec<CertificateDer<'static>> {
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&target.ca_bundle).map(|i| i.flatten().collect()).unwrap_or_default();
    let pool: Vec<CertificateDer<'static>> = chain.iter().skip(1).cloned().chain(target.client_state.intermediates()).chain(roots).collect();
    let mut built = vec![chain[0].clone()];
    while built.len() < 8 {
        let Some((subject, issuer)) = names(built.last().expect("never empty")) else { break };
        if subject == issuer {
            break;
        }
        match pool.iter().find(|c| !built.contains(c) && names(c).is_some_and(|(s, _)| s == issuer)) {
            Some(c) => built.push(c.clone()),
            None => break,
        }
    }
    built
}

/// A certificate's common name, for the report.
fn common_name(der: &[u8]) -> String {
    X509Certificate::from_der(der)
        .ok()
        .and_then(|(_, c)| c.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok().map(str::to_string)))
        .unwrap_or_else(|| "a certificate".into())
}

/// Check the presented `chain` (leaf first) for `host` as CryptoAPI does with
/// CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT: every certificate but the root, each by its
/// own staple, OCSP or CRL; revoked wins over offline, offline over good.
pub async fn check(target: &ProbeTarget, host: &str, chain: &[CertificateDer<'static>]) -> Verdict {
    if chain.is_empty() {
        return Verdict::Failed("no certificate was presented".into());
    }
    let built = built_chain(target, chain);
    let mut crls = Vec::new();
    let mut how = Vec::new();
    let mut offline = None;
    for (i, pair) in built.windows(2).enumerate() {
        let name = if i == 0 { host.to_string() } else { common_name(&pair[0]) };
        match status(target, &name, &pair[0], &pair[1], i == 0).await {
            Status::Good(h) => how.push(h),
            Status::Crl(crl, h) => {
                crls.push(crl);
                how.push(h);
            }
            Status::Revoked(why) => return Verdict::Revoked(why),
            Status::Offline(why) => {
                offline.get_or_insert(why);
            }
        }
    }
    if let Some(why) = offline {
        return Verdict::Failed(why);
    }
    if crls.is_empty() {
        return Verdict::Good(how.join("; "));
    }
    let now = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(target.client_now().unix_timestamp()).unwrap_or(0)));
    match verify_with_crls(target, host, &built, crls, now) {
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
    now: UnixTime,
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
    verifier.verify_server_cert(&chain[0], &chain[1..], &name, &[], now).map(|_| ())
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
    // The chain engine's own error behind the WinHTTP flag, as CAPI2's log names it.
    let chain_error = match flag {
        "WINHTTP_CALLBACK_STATUS_FLAG_CERT_REVOKED" => run.codes.described(super::Code::CRYPT_E_REVOKED),
        _ => run.codes.described(super::Code::CRYPT_E_REVOCATION_OFFLINE),
    };
    let message = format!(
        "[CCMHTTP] ERROR: URL=https://{host}{path}, Port=443, Options=63, Code={}, Text={}; {flag} is set; CertGetCertificateChain: {chain_error} ({why})",
        run.codes.win32(code),
        code.name()
    );
    Err(run.fail("revocation", code, message))
}
