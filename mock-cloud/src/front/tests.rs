//! The fronts' accept loop and dispatch under abuse: a panicking connection, a full listener,
//! an oversized Host (issues 10 and 11).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use scenarios::{Clock, Journal};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::*;

fn journal() -> Journal {
    Journal::new(Clock::new(time::OffsetDateTime::now_utc(), 1.0))
}

/// Wait (at most 10 s) until the journal holds an event of kind `what`.
async fn journaled(j: &Journal, what: &'static str) -> scenarios::Event {
    let seen = Arc::new(Notify::new());
    let s = seen.clone();
    j.subscribe(move |e| {
        if e.what == what {
            s.notify_one();
        }
    });
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(e) = j.find(0, |e| e.what == what) {
                return e;
            }
            seen.notified().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{what}` event; journal:\n{}", j.to_json_lines()))
}

const TEST_FRONT: Listener = Listener { name: "the test front", scheme: Scheme::Http };

// issue 10: a panic in a connection task was dropped silently by `try_join_next`.
#[tokio::test]
async fn a_panic_in_a_connection_task_is_journaled_as_the_worlds_failure_at_once() {
    let j = journal();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(accept_loop(listener, j.clone(), TEST_FRONT, |_tcp, _peer| async { panic!("handler exploded") }));
    let _client = TcpStream::connect(addr).await.unwrap();
    let e = journaled(&j, "panic").await;
    assert_eq!((e.component, e.detail["task"].as_str(), e.detail["message"].as_str()), (Component::World, Some("the test front"), Some("handler exploded")));
    assert_eq!(j.failure().as_deref(), Some("a panic in the test front: handler exploded"));
    server.abort();
}

// issue 11: the fronts had no connection cap, and a turned-away connection left no trace.
#[tokio::test]
async fn connections_past_the_cap_get_503_and_are_journaled() {
    let j = journal();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Notify::new());
    let a = accepted.clone();
    let server = tokio::spawn(accept_loop_capped(listener, j.clone(), TEST_FRONT, 1, move |mut tcp, _peer| {
        a.notify_one();
        async move {
            // Held until the client hangs up.
            let _ = tcp.read(&mut [0u8; 1]).await;
        }
    }));
    let held = TcpStream::connect(addr).await.unwrap();
    accepted.notified().await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), second.read_to_string(&mut answer)).await.unwrap().unwrap();
    assert!(answer.starts_with("HTTP/1.1 503 ") && answer.ends_with("maximum of connections\r\n"), "{answer:?}");
    let e = journaled(&j, "turned_away").await;
    assert_eq!((e.detail["listener"].as_str(), e.detail["max_connections"].as_u64()), (Some("the test front"), Some(1)));
    drop(held);
    server.abort();
}

// issue 11: the 421 body repeated the Host verbatim (15 KB, control characters and all).
#[tokio::test]
async fn a_misdirected_request_does_not_echo_its_host_unbounded() {
    let dispatch = Dispatch::new(&["a.example".into()], HashMap::new(), HashMap::new(), journal());
    let host = format!("{}\t{}", "h".repeat(300), "x".repeat(15_000));
    let req = Request::builder().uri("/").header("host", host.as_str()).body(Body::empty()).unwrap();
    let res = dispatch.handle(req, Scheme::Http).await.unwrap();
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
    let body = String::from_utf8(axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(body.len() < 400, "{} bytes", body.len());
    assert!(body.contains(&"h".repeat(255)) && body.contains('…') && !body.contains('x'), "{body}");
    assert_eq!(shown_host("a\tb\u{1b}[31m"), "a\\tb\\u{1b}[31m", "control characters escaped");
}
