//! How a probe reaches a host: through the world's proxy when it has one (HTTP CONNECT, as
//! WinHTTP does), else straight to the world's front for the port (the world's own address
//! book). TLS uses the Windows-like verifier over the world's CA bundle only, on the machine
//! state of the target (`client_state.rs`): a chain the server sent incomplete is completed from
//! the leaf's CA Issuers URL after the handshake, before anything is sent (`aia.rs`).

use std::sync::Arc;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::ProbeTarget;
use super::verify::WindowsLikeVerifier;

/// Why a probe could not talk to a host, by the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("the proxy refused CONNECT {0}: {1}")]
    Proxy(String, String),
    #[error("TLS handshake with {host} failed: {error}")]
    Tls { host: String, error: std::io::Error },
    #[error("HTTP exchange with {0} failed: {1}")]
    Http(String, String),
    #[error("CA bundle {0}: {1}")]
    Bundle(String, String),
}

impl NetError {
    /// The rustls certificate error behind a failed handshake, if that is what it was.
    pub fn certificate_error(&self) -> Option<&rustls::CertificateError> {
        let NetError::Tls { error, .. } = self else { return None };
        let inner = error.get_ref()?;
        let error = inner.downcast_ref::<rustls::Error>().or_else(|| inner.downcast_ref::<AiaFailure>().map(|f| &f.error))?;
        match error {
            rustls::Error::InvalidCertificate(c) => Some(c),
            _ => None,
        }
    }
}

/// A TCP stream to `host:port` inside the world.
pub async fn connect(target: &ProbeTarget, host: &str, port: u16) -> Result<TcpStream, NetError> {
    let authority = format!("{host}:{port}");
    if let Some(proxy) = &target.proxy_url {
        let proxy_addr = proxy.trim_start_matches("http://").trim_end_matches('/');
        let mut s = TcpStream::connect(proxy_addr).await.map_err(|e| NetError::Connect(proxy_addr.to_string(), e))?;
        s.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
            .await
            .map_err(|e| NetError::Connect(proxy_addr.to_string(), e))?;
        let head = read_head(&mut s).await.map_err(|e| NetError::Proxy(authority.clone(), e.to_string()))?;
        let status = head.split_whitespace().nth(1).unwrap_or("");
        if status != "200" {
            return Err(NetError::Proxy(authority, head.lines().next().unwrap_or("").to_string()));
        }
        return Ok(s);
    }
    let addr = if port == 443 { target.https_addr } else { target.http_addr };
    TcpStream::connect(addr).await.map_err(|e| NetError::Connect(authority, e))
}

/// The response head of a CONNECT, read byte by byte so no tunnel bytes are consumed. Bounded.
async fn read_head(s: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || s.read(&mut b).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no complete response head"));
        }
        head.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// A client certificate chain and its key (PKCS#8 DER), for mutual TLS (the MDM check-in).
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_pkcs8: Vec<u8>,
}

/// TLS to `host` over `tcp`, trusting only the world's CA bundle.
pub async fn tls(target: &ProbeTarget, host: &str, tcp: TcpStream) -> Result<TlsStream<TcpStream>, NetError> {
    tls_with(target, host, tcp, None).await
}

/// TLS to `host` over `tcp`, trusting only the world's CA bundle, presenting `client` when given.
pub async fn tls_with(target: &ProbeTarget, host: &str, tcp: TcpStream, client: Option<&ClientAuth>) -> Result<TlsStream<TcpStream>, NetError> {
    let bundle = target.ca_bundle.display().to_string();
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&target.ca_bundle)
        .map_err(|e| NetError::Bundle(bundle.clone(), e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| NetError::Bundle(bundle.clone(), e.to_string()))?;
    let verifier = WindowsLikeVerifier::new(roots, target.client_state.clone()).map_err(|e| NetError::Bundle(bundle, e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let config = match client {
        None => config.with_no_client_auth(),
        Some(c) => {
            let key = rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pkcs8.clone().into());
            config.with_client_auth_cert(c.chain.clone(), key).map_err(|e| NetError::Http(host.into(), format!("client certificate: {e}")))?
        }
    };
    let name = ServerName::try_from(host.to_string()).map_err(|e| NetError::Http(host.into(), e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.map_err(|error| NetError::Tls { host: host.to_string(), error })?;
    // WinHTTP's manual validation after the handshake, for a chain that needs a CA Issuers
    // download (verify.rs): nothing is sent before it holds.
    if let Some(pending) = verifier.take_pending() {
        let problems = super::aia::download(target, &pending).await;
        if let Err(e) = verifier.verify_now(&pending.end_entity, &pending.intermediates, &pending.server_name, &pending.ocsp, UnixTime::now()) {
            let detail = if problems.is_empty() { String::new() } else { format!(" (CA Issuers download: {})", problems.join("; ")) };
            let error = std::io::Error::new(std::io::ErrorKind::InvalidData, AiaFailure { error: e, detail });
            return Err(NetError::Tls { host: host.to_string(), error });
        }
    }
    Ok(tls)
}

/// A chain still incomplete after the CA Issuers downloads: the certificate error, and what the
/// downloads met.
#[derive(Debug)]
struct AiaFailure {
    error: rustls::Error,
    detail: String,
}

impl std::fmt::Display for AiaFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.error, self.detail)
    }
}

impl std::error::Error for AiaFailure {}

/// One HTTP/1.1 GET over an established stream; returns the status and body.
pub async fn get<S>(stream: S, host: &str, path: &str) -> Result<(u16, Bytes), NetError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let err = |e: hyper::Error| NetError::Http(host.to_string(), e.to_string());
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(err)?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::USER_AGENT, "ENROLLClient")
        .body(Empty::<Bytes>::new())
        .map_err(|e| NetError::Http(host.to_string(), e.to_string()))?;
    let res = sender.send_request(req).await.map_err(err)?;
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.map_err(err)?.to_bytes();
    Ok((status, body))
}
