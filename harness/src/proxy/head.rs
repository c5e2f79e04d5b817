//! Reading the first request head of a connection (with httparse, bounded in size and time)
//! and the request target a forward proxy accepts: `CONNECT host:port` (authority-form) or
//! `GET http://host/path` (absolute-form), and the authority a request names for itself (RFC
//! 9112 §3.2: its target's, else its `Host`). It does not read bodies: after the head, bytes go
//! to a tunnel or to hyper untouched.

use std::time::Duration;

use bytes::BytesMut;
use hyper::http::uri::{Authority, Uri};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::respond::echo;

const MAX_HEADERS: usize = 100;

/// A parsed request head. `len` is its size in the buffer it was read into; what follows it
/// there belongs to the connection (a body, or a pipelined TLS ClientHello).
#[derive(Debug, Clone)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub len: usize,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// Why no head could be read; each maps to a status a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("the client closed the connection before sending a request")]
    Closed,
    #[error("no complete request head within {0:?}")]
    Timeout(Duration),
    #[error("request head larger than {0} bytes")]
    TooLarge(usize),
    #[error("request head has more than {0} header fields")]
    TooManyHeaders(usize),
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

impl HeadError {
    /// The status to answer with, if the client is still there to read it.
    pub fn status(&self) -> Option<u16> {
        match self {
            HeadError::Closed | HeadError::Io(_) => None,
            HeadError::Timeout(_) => Some(408),
            HeadError::TooLarge(_) | HeadError::TooManyHeaders(_) => Some(431),
            HeadError::Malformed(_) => Some(400),
        }
    }
}

/// Read until one request head is complete, at most `max` bytes, within `timeout` overall.
pub async fn read(tcp: &mut TcpStream, buf: &mut BytesMut, max: usize, timeout: Duration) -> Result<Head, HeadError> {
    let work = async {
        loop {
            if let Some(head) = parse(buf)? {
                return Ok(head);
            }
            if buf.len() >= max {
                return Err(HeadError::TooLarge(max));
            }
            buf.reserve(4096.min(max - buf.len()).max(1));
            if tcp.read_buf(buf).await? == 0 {
                return Err(if buf.is_empty() { HeadError::Closed } else { HeadError::Malformed("the connection ended inside the request head".into()) });
            }
        }
    };
    tokio::time::timeout(timeout, work).await.unwrap_or(Err(HeadError::Timeout(timeout)))
}

/// Parse a head from the start of `buf`; `None` while it is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Head>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(len)) => {
            if req.version != Some(1) && req.version != Some(0) {
                return Err(HeadError::Malformed("unsupported HTTP version".into()));
            }
            Ok(Some(Head {
                method: req.method.unwrap_or_default().to_string(),
                target: req.path.unwrap_or_default().to_string(),
                headers: req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect(),
                len,
            }))
        }
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooManyHeaders(MAX_HEADERS)),
        Err(e) => Err(HeadError::Malformed(e.to_string())),
    }
}

/// Where a request wants to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A tunnel: `CONNECT host:port`.
    Connect { host: String, port: u16 },
    /// Plain HTTP for the proxy to forward: `http://host[:port]/path`.
    Http { host: String, port: u16 },
}

/// A request's target as a forward proxy reads it; `Err` is (status, reason).
pub fn target(method: &str, uri: &str) -> Result<Target, (u16, String)> {
    let shown = || echo(uri);
    let host =
        |auth: &Authority| Some(host_of(auth.host())).filter(|h| !h.is_empty()).ok_or_else(|| (400, format!("the request target `{}` names no host", shown())));
    if method.eq_ignore_ascii_case("CONNECT") {
        let auth: Authority = uri.parse().map_err(|_| (400, format!("CONNECT needs host:port, got `{}`", shown())))?;
        let port = auth.port_u16().ok_or_else(|| (400, format!("CONNECT needs a port, got `{}`", shown())))?;
        return Ok(Target::Connect { host: host(&auth)?, port });
    }
    let parsed: Uri = uri.parse().map_err(|_| (400, format!("unparseable request target `{}`", shown())))?;
    match (parsed.scheme_str(), parsed.authority()) {
        (Some(s), Some(auth)) if s.eq_ignore_ascii_case("http") => Ok(Target::Http { host: host(auth)?, port: auth.port_u16().unwrap_or(80) }),
        (Some(s), _) if s.eq_ignore_ascii_case("https") => {
            Err((400, "this proxy does not originate TLS for `https://` request targets; send CONNECT host:443".into()))
        }
        _ => Err((400, "this is a forward proxy: send absolute-form requests (GET http://host/path) or CONNECT host:port".into())),
    }
}

/// `host[:port]` as a `Host` header names it: the port left out when it is the scheme's
/// default, an IPv6 address in brackets.
pub fn authority(host: &str, port: u16, default_port: u16) -> String {
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    if port == default_port { host } else { format!("{host}:{port}") }
}

/// The host and port a request names for itself: its absolute-form target's authority, else
/// its `Host` header (the port defaulting to `default_port`). `Err` holds a `Host` that is not
/// an authority; `Ok(None)`: the request names none (HTTP/1.0 without `Host`).
pub fn named_authority(uri: &Uri, host_header: Option<&[u8]>, default_port: u16) -> Result<Option<(String, u16)>, String> {
    let auth = match (uri.authority(), host_header) {
        (Some(a), _) => a.clone(),
        (None, Some(h)) => std::str::from_utf8(h).ok().and_then(|h| h.parse::<Authority>().ok()).ok_or_else(|| String::from_utf8_lossy(h).to_string())?,
        (None, None) => return Ok(None),
    };
    Ok(Some((host_of(auth.host()), auth.port_u16().unwrap_or(default_port))))
}

/// Lower-case, no trailing dot, IPv6 brackets removed.
pub fn host_of(raw: &str) -> String {
    raw.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_and_absolute_form() {
        assert_eq!(target("CONNECT", "R.Manage.Microsoft.com.:443"), Ok(Target::Connect { host: "r.manage.microsoft.com".into(), port: 443 }));
        assert_eq!(target("GET", "http://crl3.digicert.com/x.crl"), Ok(Target::Http { host: "crl3.digicert.com".into(), port: 80 }));
        assert_eq!(target("GET", "http://a.com:8080/"), Ok(Target::Http { host: "a.com".into(), port: 8080 }));
        assert_eq!(target("CONNECT", "[::1]:443"), Ok(Target::Connect { host: "::1".into(), port: 443 }));
    }

    #[test]
    fn refuses_what_a_forward_proxy_cannot_serve() {
        assert_eq!(target("CONNECT", "a.com").unwrap_err().0, 400);
        assert!(target("GET", "/").unwrap_err().1.contains("forward proxy"));
        assert!(target("GET", "https://a.com/").unwrap_err().1.contains("CONNECT"));
        // issue 11: an empty host is the client's mistake, not a name outside the world.
        assert_eq!(target("CONNECT", ":443").unwrap_err().0, 400);
        assert_eq!(target("GET", "http://:80/").unwrap_err().0, 400);
    }

    #[test]
    fn heads_parse_incrementally_and_refuse_garbage() {
        let full = b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\nTLS";
        assert!(parse(&full[..20]).unwrap().is_none());
        let h = parse(full).unwrap().unwrap();
        assert_eq!((h.method.as_str(), h.target.as_str(), h.len), ("CONNECT", "a.com:443", full.len() - 3));
        assert_eq!(h.header("host"), Some(&b"a.com:443"[..]));
        assert!(matches!(parse(b"\x00\x01garbage\r\n\r\n"), Err(HeadError::Malformed(_))));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(parse(many.as_bytes()).unwrap_err().to_string(), "request head has more than 100 header fields");
    }

    // issue 11, defect 2: what a request names is read the way the front reads it.
    #[test]
    fn a_request_names_its_target_authority_or_else_its_host_header() {
        let origin: Uri = "/EnrollmentServer/Discovery.svc".parse().unwrap();
        let named = |uri: &Uri, host: Option<&str>| named_authority(uri, host.map(str::as_bytes), 443);
        assert_eq!(named(&origin, Some("Enrollment.Manage.Microsoft.com.")), Ok(Some(("enrollment.manage.microsoft.com".into(), 443))));
        assert_eq!(named(&origin, Some("a.com:8443")), Ok(Some(("a.com".into(), 8443))));
        assert_eq!(named(&origin, None), Ok(None));
        assert_eq!(named(&origin, Some("a b")), Err("a b".into()));
        let absolute: Uri = "https://b.com/x".parse().unwrap();
        assert_eq!(named(&absolute, Some("a.com")), Ok(Some(("b.com".into(), 443))), "the target wins over Host");
        assert_eq!(authority("crl3.digicert.com", 80, 80), "crl3.digicert.com");
        assert_eq!(authority("::1", 8080, 80), "[::1]:8080");
    }
}
