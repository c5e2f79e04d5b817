//! The proxy's own answers: a status with a plain-text reason body and `X-Memsim-Reason`, or
//! the 403 block page a web filter shows, written on a raw connection (before any tunnel or
//! hyper takes over) or as a hyper response (inside plain or inspected forwarding); the two
//! ways of not answering (reset, silence); and [`echo`], how client input is repeated in them.
//! Writing, never parsing.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The body of every response the proxy hands its client.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// A response the proxy makes itself.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(&'static str, String)>,
    /// An HTML block page instead of the plain reason.
    pub page: bool,
}

impl Answer {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Answer { status, reason: reason.into(), headers: Vec::new(), page: false }
    }

    pub fn body(&self) -> (String, &'static str) {
        if self.page {
            let html = format!(
                "<!DOCTYPE html>\n<html><head><title>Access Denied</title></head><body>\n<h1>Access Denied</h1>\n\
                 <p>The requested site is blocked by your organization's web policy.</p>\n<p>{}</p>\n\
                 <p><small>memsim customer proxy</small></p>\n</body></html>\n",
                html_escape(&self.reason)
            );
            (html, "text/html; charset=utf-8")
        } else {
            (format!("memsim proxy: {}\n", self.reason), "text/plain; charset=utf-8")
        }
    }

    /// The whole response, `Connection: close`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (body, content_type) = self.body();
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, status_text(self.status));
        out.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len()));
        out.push_str(&format!("X-Memsim-Reason: {}\r\n", header_safe(&self.reason)));
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {}\r\n", header_safe(value)));
        }
        out.push_str("Connection: close\r\nProxy-Connection: close\r\n\r\n");
        out.push_str(&body);
        out.into_bytes()
    }

    /// The answer as a hyper response (the connection stays as the client asked).
    pub fn to_response(&self) -> Response<ProxyBody> {
        let (body, content_type) = self.body();
        let mut res = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
        *res.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(v) = HeaderValue::from_str(&header_safe(&self.reason)) {
            h.insert("x-memsim-reason", v);
        }
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(&header_safe(value)) {
                h.append(*name, v);
            }
        }
        res
    }
}

/// Write an answer and close, bounded in time (a client that does not read is let go).
pub async fn send(tcp: &mut TcpStream, answer: &Answer) {
    let bytes = answer.to_bytes();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        tcp.write_all(&bytes).await?;
        tcp.shutdown().await
    })
    .await;
}

/// Close with a TCP reset: no answer, "connection reset by peer".
pub fn reset(tcp: TcpStream) {
    let _ = tcp.set_zero_linger();
    drop(tcp);
}

/// Say nothing and keep the connection open, discarding what the client sends, until it gives
/// up or `hold` passes. Returns the bytes discarded.
pub async fn silence(tcp: &mut TcpStream, hold: Duration) -> u64 {
    let mut discarded = 0u64;
    let mut buf = vec![0u8; 8192];
    let _ = tokio::time::timeout(hold, async {
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
            discarded += n as u64;
        }
    })
    .await;
    discarded
}

/// The most characters of one client-supplied value the proxy repeats.
pub const ECHO_MAX: usize = 255;

/// Client input (a host, a request target, a user name) as the proxy repeats it in an answer
/// or a journal reason: at most [`ECHO_MAX`] characters (the rest counted, not shown) and
/// control characters escaped (`\u{1b}`), so a hostile value can neither bloat an answer nor
/// break a header, a log line or a terminal (issue 11: a 15 KB user name came back twice).
pub fn echo(input: &str) -> String {
    let mut out = String::new();
    for (i, c) in input.chars().enumerate() {
        if i == ECHO_MAX {
            out.push_str(&format!("… ({} more characters)", input.chars().count() - ECHO_MAX));
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

pub fn status_text(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error")
}

/// Header values must not carry line breaks or non-ASCII.
fn header_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { ' ' }).collect()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_the_reason_in_body_and_header() {
        let mut a = Answer::new(407, "proxy authentication required\r\nX-Evil: 1");
        a.headers.push(("Proxy-Authenticate", "Basic realm=\"memsim\"".into()));
        let text = String::from_utf8(a.to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 407 Proxy Authentication Required\r\n"), "{text}");
        assert!(text.contains("X-Memsim-Reason: proxy authentication required  X-Evil: 1\r\n"), "{text}");
        assert!(text.contains("Proxy-Authenticate: Basic realm=\"memsim\"\r\n"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        a.page = true;
        assert!(String::from_utf8(a.to_bytes()).unwrap().contains("<h1>Access Denied</h1>"));
    }

    #[test]
    fn echoed_input_is_bounded_and_escaped() {
        assert_eq!(echo("svc\r\n\x1b[0m"), "svc\\u{d}\\u{a}\\u{1b}[0m");
        assert_eq!(echo("jürgen"), "jürgen");
        let long = echo(&"é".repeat(1000));
        assert!(long.starts_with(&"é".repeat(ECHO_MAX)) && long.ends_with("… (745 more characters)"), "{long}");
    }
}
