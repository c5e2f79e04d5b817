//! HTTP/1.1 channels for the probes that hold a connection for several requests (the SCP's
//! checks, the notification long-poll, IME's ranged download, the endpoint list), on top of
//! `net`: through the world's proxy (CONNECT), TLS verified against the world's CA bundle only.
//! Also how .NET words a failure (`WebException`), since the SCP's workers and PowerShell's
//! `Invoke-RestMethod` are .NET clients and their logs quote these texts.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Response};
use rustls::pki_types::CertificateDer;

use super::ProbeTarget;
use super::net::{self, NetError};

/// How long a probe waits to connect, finish a handshake or get an answer's head (wall time:
/// the probe's own patience, not part of the emulation; WinHTTP's default receive timeout is 30 s).
pub const PATIENCE: Duration = Duration::from_secs(15);

/// One keep-alive HTTPS connection to a host of the world.
#[derive(Debug)]
pub struct Channel {
    pub host: String,
    /// The chain the server presented, leaf first (for revocation checks).
    pub chain: Vec<CertificateDer<'static>>,
    sender: SendRequest<Full<Bytes>>,
    conn: tokio::task::JoinHandle<()>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// Why a channel could not be opened: the step and the error.
#[derive(Debug)]
pub enum OpenError {
    Connect(NetError),
    Tls(NetError),
}

impl OpenError {
    pub fn step(&self) -> &'static str {
        match self {
            OpenError::Connect(_) => "connect",
            OpenError::Tls(_) => "tls",
        }
    }

    pub fn net(&self) -> &NetError {
        match self {
            OpenError::Connect(e) | OpenError::Tls(e) => e,
        }
    }
}

impl Channel {
    /// Connect (through the proxy when the world has one), TLS, HTTP/1.1.
    pub async fn open(target: &ProbeTarget, host: &str) -> Result<Channel, OpenError> {
        Channel::open_with(target, host, None).await
    }

    /// [`Channel::open`], presenting a client certificate (mutual TLS) when given.
    pub async fn open_with(target: &ProbeTarget, host: &str, client: Option<&net::ClientAuth>) -> Result<Channel, OpenError> {
        let timed_out = |what: &str| NetError::Connect(format!("{host}:443"), std::io::Error::new(std::io::ErrorKind::TimedOut, format!("{what} timed out")));
        let tcp = tokio::time::timeout(PATIENCE, net::connect(target, host, 443))
            .await
            .map_err(|_| OpenError::Connect(timed_out("connect")))?
            .map_err(OpenError::Connect)?;
        let tls = tokio::time::timeout(PATIENCE, net::tls_with(target, host, tcp, client))
            .await
            .map_err(|_| OpenError::Tls(timed_out("TLS handshake")))?
            .map_err(OpenError::Tls)?;
        let chain = tls.get_ref().1.peer_certificates().map(|c| c.to_vec()).unwrap_or_default();
        let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| OpenError::Tls(NetError::Http(host.to_string(), e.to_string())))?;
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Channel { host: host.to_string(), chain, sender, conn })
    }

    /// Send one request; the answer's head, its body still to read.
    pub async fn send(&mut self, method: Method, path: &str, headers: &[(&str, String)], body: Option<Vec<u8>>) -> Result<Response<Incoming>, hyper::Error> {
        let mut req = hyper::Request::builder().method(method).uri(path).header(hyper::header::HOST, &self.host);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).expect("a request from valid parts");
        self.sender.ready().await?;
        self.sender.send_request(req).await
    }

    /// Send one request and read its whole body (at most `limit` bytes), within [`PATIENCE`].
    pub async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<(Response<()>, Bytes), String> {
        let work = async {
            let res = self.send(method, path, headers, body).await.map_err(|e| e.to_string())?;
            let (parts, incoming) = res.into_parts();
            let bytes = Limited::new(incoming, limit).collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok((Response::from_parts(parts, ()), bytes))
        };
        tokio::time::timeout(PATIENCE, work).await.map_err(|_| format!("no answer from {} within {PATIENCE:?}", self.host))?
    }
}

/// How a connection ended under a request: by the peer's orderly close, by a reset, or otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    Closed,
    Reset,
    Other,
}

/// Classify a failed exchange by the I/O error at its root.
pub fn cut(e: &(dyn std::error::Error + 'static)) -> Cut {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>()
            && (h.is_incomplete_message() || h.is_closed())
        {
            return Cut::Closed;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return match io.kind() {
                ConnectionReset | ConnectionAborted | BrokenPipe => Cut::Reset,
                UnexpectedEof => Cut::Closed,
                _ => Cut::Other,
            };
        }
        cur = err.source();
    }
    Cut::Other
}

/// .NET's words (WebExceptionStatus) for a cut connection, as the SCP's logs quote them.
pub fn cut_text(c: Cut) -> &'static str {
    match c {
        Cut::Closed => "The underlying connection was closed: A connection that was expected to be kept alive was closed by the server.",
        Cut::Reset => {
            "The underlying connection was closed: An unexpected error occurred on a receive. (An existing connection was forcibly closed by the remote host.)"
        }
        Cut::Other => "The underlying connection was closed: An unexpected error occurred on a receive.",
    }
}

/// .NET's words for a channel that could not be opened.
pub fn open_text(e: &OpenError) -> String {
    match e.net() {
        NetError::Proxy(_, line) => match line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()) {
            Some(status) => format!("The remote server returned an error: ({status}) {}.", reason(status)),
            None => "Unable to connect to the remote server".into(),
        },
        NetError::Tls { .. } => "The underlying connection was closed: Could not establish trust relationship for the SSL/TLS secure channel.".into(),
        _ => "Unable to connect to the remote server".into(),
    }
}

/// An HTTP status with its reason phrase, as .NET prints it: `(403) Forbidden`.
pub fn reason(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
}

/// The status a proxy answered a CONNECT with, if that is why the channel failed.
pub fn proxy_status(e: &OpenError) -> Option<u16> {
    match e.net() {
        NetError::Proxy(_, line) => line.split_whitespace().nth(1).and_then(|s| s.parse().ok()),
        _ => None,
    }
}

/// `https://host/path?query` → (host, path and query). `None` for anything else.
pub fn split_https(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("https://")?;
    let (host, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let path = if path.is_empty() {
        "/".to_string()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(split_https("https://aka.ms/configmgrgateway"), Some(("aka.ms".into(), "/configmgrgateway".into())));
        assert_eq!(split_https("https://Go.Microsoft.com"), Some(("go.microsoft.com".into(), "/".into())));
        assert_eq!(split_https("https://go.microsoft.com/fwlink/?LinkID=619849").unwrap().1, "/fwlink/?LinkID=619849");
        assert_eq!(split_https("https://x.com?a=1").unwrap().1, "/?a=1");
        assert_eq!(split_https("http://x.com/"), None);
    }

    #[test]
    fn io_errors_classify_as_cuts() {
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(cut(&reset), Cut::Reset);
        let eof = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof");
        assert_eq!(cut(&eof), Cut::Closed);
        assert_eq!(reason(403), "Forbidden");
    }
}
