//! Regression tests for issue 11 (reliability): the proxy's connection slots, deny rules that a
//! `Host` header must not bypass, and bad input answered without echoing it unbounded. Real
//! sockets against the in-process proxy; waits are socket reads with a deadline or journal events.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

const KEEP_ALIVE_GET: &str = "GET http://crl3.digicert.com/x.crl HTTP/1.1\r\nHost: crl3.digicert.com\r\n\r\n";

/// Read one response of the ranged front (head and its 100-byte body) off a kept-alive connection.
async fn read_response(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut b = [0u8; 1024];
    let deadline = Duration::from_secs(5);
    while !(got.windows(4).any(|w| w == b"\r\n\r\n") && got.len() >= 100 + got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4) {
        match tokio::time::timeout(deadline, s.read(&mut b)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&b[..n]),
            other => panic!("no complete response: {other:?} after {:?}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).to_string()
}

/// How a connection the client keeps open and silent ends from the proxy's side, if it does.
async fn end_of(s: &mut TcpStream, within: Duration) -> Option<String> {
    match tokio::time::timeout(within, s.read(&mut [0u8; 64])).await {
        Ok(Ok(0)) => Some("fin".into()),
        Ok(Err(e)) => Some(e.kind().to_string()),
        Ok(Ok(n)) => Some(format!("{n} more bytes")),
        Err(_) => None,
    }
}

fn short_keep_alive(max_connections: usize) -> Limits {
    Limits { keep_alive_timeout: Duration::from_millis(200), max_connections, ..Limits::default() }
}

// issue 11, defect 1: an absolute-form keep-alive client that idles past the proxy's limit must
// see the connection closed (not held in CLOSE-WAIT), with a `close` event, and its slot freed:
// more such clients than the cap, one after another, and the proxy still serves.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_release_their_slot() {
    let cap = 3;
    let r = rig("", 1.0, short_keep_alive(cap)).await;
    for i in 0..cap * 2 {
        let mut s = TcpStream::connect(r.proxy.addr()).await.unwrap();
        s.write_all(KEEP_ALIVE_GET.as_bytes()).await.unwrap();
        let res = read_response(&mut s).await;
        assert!(res.starts_with("HTTP/1.1 200"), "client {i}: {res}");
        let end = end_of(&mut s, Duration::from_secs(5)).await;
        assert_eq!(end.as_deref(), Some("fin"), "client {i}: the idle keep-alive connection must be closed by the proxy");
        drop(s);
    }
    for conn in 1..=(cap * 2) as u64 {
        let close = wait_for(&r.journal, |e| e.what == "close" && e.detail["conn"] == conn).await;
        assert_eq!(close.detail["cause"], "keep_alive_timeout", "{close:?}");
    }
    let (mut s, head) = ask(r.proxy.addr(), KEEP_ALIVE_GET).await;
    assert!(head.starts_with("HTTP/1.1 200"), "a slot is free again: {head}");
    s.shutdown().await.unwrap();
}

// issue 11, defect 1: a second request sent after the idle limit is answered or meets a closed
// connection; it is never left without any answer.
#[tokio::test]
async fn a_request_after_the_idle_limit_is_never_left_unanswered() {
    let r = rig("", 1.0, short_keep_alive(8)).await;
    let mut s = TcpStream::connect(r.proxy.addr()).await.unwrap();
    s.write_all(KEEP_ALIVE_GET.as_bytes()).await.unwrap();
    assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"));
    // Past the limit either way: the proxy's close arrives, or the deadline (4x the limit) passes.
    let _ = end_of(&mut s, Duration::from_millis(800)).await;
    let _ = s.write_all(KEEP_ALIVE_GET.as_bytes()).await;
    let end = end_of(&mut s, Duration::from_secs(3)).await;
    assert!(end.is_some(), "the second request got no answer and no close");
}

// issue 11, defect 1: a client that closes an idle keep-alive connection frees its slot at once.
#[tokio::test]
async fn a_client_closing_a_kept_alive_connection_frees_its_slot() {
    let r = rig("", 1.0, Limits { max_connections: 1, ..Limits::default() }).await;
    for i in 0..3 {
        let mut s = TcpStream::connect(r.proxy.addr()).await.unwrap();
        s.write_all(KEEP_ALIVE_GET.as_bytes()).await.unwrap();
        assert!(read_response(&mut s).await.starts_with("HTTP/1.1 200"), "client {i}");
        drop(s);
        wait_for(&r.journal, |e| e.what == "close" && e.detail["conn"] == i + 1).await;
    }
}

// issue 11, defect 2: the proxy decides on the request target and the front gets a `Host` that
// matches it (RFC 9112 §3.2.2), so a `Host` naming a denied service never reaches it.
#[tokio::test]
async fn a_host_header_cannot_carry_a_plain_request_past_a_deny_rule() {
    let r = rig("[[fault]]\nkind = \"proxy.deny\"\nhosts = \"*.manage.microsoft.com\"\n", 1.0, Limits::default()).await;
    let smuggled = "GET http://crl3.digicert.com/EnrollmentServer/Discovery.svc HTTP/1.1\r\nHost: enterpriseenrollment-s.manage.microsoft.com\r\nConnection: close\r\n\r\n";
    let (_s, head) = ask(r.proxy.addr(), smuggled).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let absent = "GET http://crl3.digicert.com:80/x.crl HTTP/1.1\r\nConnection: close\r\n\r\n";
    let (_s, head) = ask(r.proxy.addr(), absent).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(*r.hosts_seen.lock().unwrap(), ["crl3.digicert.com", "crl3.digicert.com"], "the front saw the target's host, never the smuggled one");
}
