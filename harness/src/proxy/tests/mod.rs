//! The proxy in process, against stand-in fronts (an echo server as the HTTPS front, a tiny
//! ranged HTTP server as the HTTP front) so each fault's effect is observable byte for byte.
//! Waits are on journal events, never on sleeps; timings come from the journal's stamps.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scenarios::{Clock, Event, Journal, parse_scenario};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::*;

const NAMES: &[&str] = &["*.manage.microsoft.com", "crl3.digicert.com", "swda01-mscdn.azureedge.net"];

struct Rig {
    proxy: Proxy,
    journal: Journal,
    /// Whether each request the HTTP front saw carried `Range`.
    ranges_seen: Arc<Mutex<Vec<bool>>>,
    /// The `Host` of each request the HTTP front saw.
    hosts_seen: Arc<Mutex<Vec<String>>>,
    https_accepts: Arc<Mutex<u32>>,
}

fn faults(toml: &str) -> Vec<ProxyFault> {
    let text = format!("name = \"t\"\nsummary = \"s\"\narea = \"proxy\"\nsource = \"t\"\n{toml}");
    parse_scenario(&text, "t.toml").unwrap().proxy_faults()
}

async fn rig(fault_toml: &str, scale: f64, limits: Limits) -> Rig {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::now_utc(), scale));
    let https_accepts = Arc::new(Mutex::new(0));
    let https = echo_front(https_accepts.clone()).await;
    let ranges_seen = Arc::new(Mutex::new(Vec::new()));
    let hosts_seen = Arc::new(Mutex::new(Vec::new()));
    let http = ranged_front(ranges_seen.clone(), hosts_seen.clone()).await;
    let names: Vec<String> = NAMES.iter().map(|s| s.to_string()).collect();
    let config = ProxyConfig {
        listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        faults: faults(fault_toml),
        world: scenarios::WorldSpec::default(),
        journal: journal.clone(),
        fronts: Fronts { https, http, advertised: None },
        resolver: Arc::new(CatalogResolver::new(EmulatedNames::new(&names), https.ip())),
        upstream_roots_pem: String::new(),
        permitted_subtrees: vec!["manage.microsoft.com".into(), "digicert.com".into(), "azureedge.net".into()],
        limits,
        catalog: Arc::new(mock_cloud::Catalog::builtin().unwrap()),
    };
    Rig { proxy: Proxy::start(config).unwrap(), journal, ranges_seen, hosts_seen, https_accepts }
}

/// Echoes every byte; counts accepts (the sinkhole proof watches this stay at zero).
async fn echo_front(accepts: Arc<Mutex<u32>>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            *accepts.lock().unwrap() += 1;
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Answers 206 with 10 bytes to a Range request and 200 with 100 bytes otherwise.
async fn ranged_front(seen: Arc<Mutex<Vec<bool>>>, hosts: Arc<Mutex<Vec<String>>>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let (seen, hosts) = (seen.clone(), hosts.clone());
            tokio::spawn(async move {
                let mut buf = bytes::BytesMut::new();
                loop {
                    let Ok(h) = head::read(&mut s, &mut buf, 65536, Duration::from_secs(5)).await else { return };
                    let _ = buf.split_to(h.len);
                    let ranged = h.header("range").is_some();
                    seen.lock().unwrap().push(ranged);
                    hosts.lock().unwrap().push(h.header("host").map(|v| String::from_utf8_lossy(v).to_string()).unwrap_or_default());
                    let res: &[u8] = if ranged {
                        b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\nContent-Length: 10\r\n\r\n0123456789"
                    } else {
                        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
                    };
                    if s.write_all(res).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The first event (from the start) that satisfies `pred`, waiting for it to be recorded.
async fn wait_for(journal: &Journal, pred: impl Fn(&Event) -> bool) -> Event {
    let notify = Arc::new(Notify::new());
    let n = notify.clone();
    journal.subscribe(move |_| n.notify_one());
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(e) = journal.find(0, &pred) {
                return e;
            }
            notify.notified().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("event never came; journal:\n{}", journal.to_json_lines()))
}

/// Send a request head to the proxy and read the response head.
async fn ask(proxy: SocketAddr, request: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b).await {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    (s, String::from_utf8_lossy(&head).to_string())
}

async fn tunnel(proxy: SocketAddr, target: &str) -> (TcpStream, String) {
    ask(proxy, &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")).await
}

#[tokio::test]
async fn tunnels_reach_the_https_front_and_plain_requests_the_http_front() {
    let r = rig("", 1.0, Limits::default()).await;
    let (mut s, head) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    s.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ping");
    drop(s);
    let close = wait_for(&r.journal, |e| e.what == "close").await;
    assert_eq!((close.detail["bytes_up"].as_u64(), close.detail["bytes_down"].as_u64()), (Some(4), Some(4)));
    let (mut s, head) = ask(r.proxy.addr(), "GET http://crl3.digicert.com/x.crl HTTP/1.1\r\nHost: crl3.digicert.com\r\nConnection: close\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert_eq!(body.len(), 100);
}

/// Bulk both ways through a tunnel (the echo front sends everything back), with splice and with
/// the user-space copy: every byte arrives in order, each end is passed on, the close counts all.
#[tokio::test]
async fn bulk_through_a_tunnel_arrives_intact_spliced_or_copied() {
    let data: Vec<u8> = (0..16u32 << 20).map(|i| (i ^ (i >> 8) ^ (i >> 19)) as u8).collect();
    for splice in [true, false] {
        let r = rig("", 1.0, Limits { splice, ..Limits::default() }).await;
        let (s, head) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let (mut rd, mut wr) = s.into_split();
        let send = async {
            for chunk in data.chunks(1 << 20) {
                wr.write_all(chunk).await.unwrap();
            }
            wr.shutdown().await.unwrap();
        };
        let receive = async {
            let mut got = Vec::with_capacity(data.len());
            rd.read_to_end(&mut got).await.unwrap();
            got
        };
        let ((), got) = tokio::join!(send, receive);
        assert!(got == data, "splice {splice}: {} of {} bytes, or not the same", got.len(), data.len());
        let close = wait_for(&r.journal, |e| e.what == "close").await;
        let n = data.len() as u64;
        assert_eq!((close.detail["bytes_up"].as_u64(), close.detail["bytes_down"].as_u64()), (Some(n), Some(n)), "splice {splice}");
    }
}

#[tokio::test]
async fn the_sinkhole_refuses_without_ever_connecting() {
    let r = rig("", 1.0, Limits::default()).await;
    // A listener the world does not own: nothing may ever connect to it.
    let outsider = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = outsider.local_addr().unwrap().port();
    for (target, status, refusal) in [
        ("example.org:443".to_string(), "502", "not_emulated"),
        (format!("r.manage.microsoft.com:{port}"), "403", "sinkhole"),
        (format!("127.0.0.1:{port}"), "403", "address_literal"),
        ("10.1.2.3:443".to_string(), "403", "address_literal"),
    ] {
        let (_s, head) = tunnel(r.proxy.addr(), &target).await;
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{target}: {head}");
        assert!(head.to_ascii_lowercase().contains("x-memsim-reason: "), "{head}");
        wait_for(&r.journal, |e| e.what == "refused" && e.detail["refusal"] == refusal && e.detail["connect_attempted"] == false).await;
    }
    let accepted = tokio::time::timeout(Duration::from_millis(50), outsider.accept()).await;
    assert!(accepted.is_err(), "the proxy connected outside the world");
    assert_eq!(*r.https_accepts.lock().unwrap(), 0);
    assert!(r.journal.find(0, |e| e.what == "upstream").is_none());
}

#[derive(Debug)]
struct Resolver(ResolveError);

impl Resolve for Resolver {
    fn resolve<'a>(&'a self, _host: &'a str) -> ResolveFuture<'a> {
        Box::pin(std::future::ready(Err(self.0.clone())))
    }
}

#[tokio::test]
async fn a_dns_failure_is_the_proxys_502_with_the_reason() {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::now_utc(), 1.0));
    // A front that counts accepts: the DNS failure must stop the proxy before any connect.
    let accepts = Arc::new(Mutex::new(0));
    let front = echo_front(accepts.clone()).await;
    let proxy = Proxy::start(ProxyConfig {
        listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        faults: vec![],
        world: Default::default(),
        journal: journal.clone(),
        fronts: Fronts { https: front, http: front, advertised: None },
        resolver: Arc::new(Resolver(ResolveError::Dns { host: "r.manage.microsoft.com".into(), reason: "SERVFAIL".into() })),
        upstream_roots_pem: String::new(),
        permitted_subtrees: vec![],
        limits: Limits::default(),
        catalog: Arc::new(mock_cloud::Catalog::builtin().unwrap()),
    })
    .unwrap();
    let (_s, head) = tunnel(proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 502") && head.contains("SERVFAIL"), "{head}");
    wait_for(&journal, |e| e.what == "refused" && e.detail["refusal"] == "dns").await;
    assert_eq!(*accepts.lock().unwrap(), 0, "no connection was attempted");
}

/// Hold an established tunnel silent until the proxy cuts it; return how the client saw it.
async fn held_until_cut(close: &str) -> (Rig, &'static str, Event) {
    let r = rig(
        &format!("[[fault]]\nkind = \"proxy.idle_timeout\"\nhosts = \"*.manage.microsoft.com\"\nafter = \"30s\"\nclose = \"{close}\"\n"),
        60.0,
        Limits::default(),
    )
    .await;
    let (mut s, head) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Traffic first: the timeout must hit a tunnel that was in use.
    s.write_all(b"hello").await.unwrap();
    let mut b = [0u8; 5];
    s.read_exact(&mut b).await.unwrap();
    let fired = wait_for(&r.journal, |e| e.what == "idle_timeout").await;
    let seen = match tokio::time::timeout(Duration::from_millis(300), s.read(&mut b)).await {
        Ok(Ok(0)) => "fin",
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => "rst",
        Err(_) => "silence",
        other => panic!("{other:?}"),
    };
    (r, seen, fired)
}

#[tokio::test]
async fn idle_timeout_cuts_an_established_tunnel_at_the_simulated_time_by_each_method() {
    for (close, seen) in [("fin", "fin"), ("rst", "rst"), ("drop", "silence")] {
        let (r, got, fired) = held_until_cut(close).await;
        assert_eq!(got, seen, "close = {close}");
        assert_eq!(fired.fault.as_deref(), Some("proxy.idle_timeout"));
        assert_eq!(fired.detail["close"], close);
        // 30 simulated seconds at scale 60 = 500 ms of silence, within 1% plus scheduling jitter.
        let idle_sim = fired.detail["idle_sim_ms"].as_f64().unwrap();
        assert!((30_000.0..=30_000.0 * 1.01 + 60.0 * 20.0).contains(&idle_sim), "{idle_sim}");
        let close_ev = r.journal.find(0, |e| e.what == "close");
        if close != "drop" {
            assert_eq!(wait_for(&r.journal, |e| e.what == "close").await.detail["cause"], "idle_timeout");
        } else {
            assert!(close_ev.is_none(), "a silently dropped tunnel stays open until the client leaves");
        }
    }
}

#[tokio::test]
async fn range_is_stripped_on_plain_http_only_when_the_fault_says_so() {
    let req = "GET http://crl3.digicert.com/file HTTP/1.1\r\nHost: crl3.digicert.com\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n";
    let healthy = rig("", 1.0, Limits::default()).await;
    let (_s, head) = ask(healthy.proxy.addr(), req).await;
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    let faulty = rig("[[fault]]\nkind = \"proxy.strip_range\"\nhosts = \"crl3.digicert.com\"\n", 1.0, Limits::default()).await;
    let (_s, head) = ask(faulty.proxy.addr(), req).await;
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("content-length: 100"), "{head}");
    assert_eq!(*faulty.ranges_seen.lock().unwrap(), [false], "Range never reached the front");
    let e = wait_for(&faulty.journal, |e| e.what == "strip_range").await;
    assert_eq!(e.detail["range"], "bytes=0-9");
}

#[tokio::test]
async fn deny_answers_in_each_block_style() {
    let deny = |block: &str| format!("[[fault]]\nkind = \"proxy.deny\"\nendpoint_sets = [170]\nblock = \"{block}\"\n");
    let r = rig(&deny("page"), 1.0, Limits::default()).await;
    let (mut s, head) = tunnel(r.proxy.addr(), "swda01-mscdn.azureedge.net:443").await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let mut page = String::new();
    s.read_to_string(&mut page).await.unwrap();
    assert!(page.contains("Access Denied"), "{page}");
    let r = rig(&deny("reset"), 1.0, Limits::default()).await;
    let mut s = TcpStream::connect(r.proxy.addr()).await.unwrap();
    s.write_all(b"CONNECT swda01-mscdn.azureedge.net:443 HTTP/1.1\r\n\r\n").await.unwrap();
    let e = s.read(&mut [0u8; 8]).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    let r = rig(&deny("drop"), 1.0, Limits::default()).await;
    let mut s = TcpStream::connect(r.proxy.addr()).await.unwrap();
    s.write_all(b"CONNECT swda01-mscdn.azureedge.net:443 HTTP/1.1\r\n\r\n").await.unwrap();
    let e = wait_for(&r.journal, |e| e.what == "deny").await;
    assert_eq!((e.fault.as_deref(), e.detail["block"].as_str()), (Some("proxy.deny"), Some("drop")));
    assert!(tokio::time::timeout(Duration::from_millis(100), s.read(&mut [0u8; 8])).await.is_err(), "silence");
    // Other sets pass.
    let (_s, head) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_port_rule_refuses_plain_http_and_passes_tunnels() {
    // An "HTTPS only" policy: port 80 refused for every host, CONNECT to 443 untouched.
    let r = rig("[[fault]]\nkind = \"proxy.deny\"\nports = [80]\n", 1.0, Limits::default()).await;
    let (_s, head) = ask(r.proxy.addr(), "GET http://crl3.digicert.com/x.crl HTTP/1.1\r\nHost: crl3.digicert.com\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let e = wait_for(&r.journal, |e| e.what == "deny").await;
    assert_eq!(e.fault.as_deref(), Some("proxy.deny"));
    assert!(e.detail["reason"].as_str().unwrap().contains("port 80 is not allowed"), "{e:?}");
    // Journaled as a CONNECT's refusal is (issue 10: one place for every refusal).
    assert_eq!((e.detail["block"].as_str(), e.detail["status"].as_u64(), e.detail["port"].as_u64()), (Some("page"), Some(403), Some(80)));
    let (_s, head) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Narrowing: hosts and ports together select only that host on that port.
    let r = rig("[[fault]]\nkind = \"proxy.deny\"\nports = [80]\nhosts = \"crl3.digicert.com\"\n", 1.0, Limits::default()).await;
    let (_s, head) = tunnel(r.proxy.addr(), "crl3.digicert.com:443").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (_s, head) = ask(r.proxy.addr(), "GET http://crl3.digicert.com/x.crl HTTP/1.1\r\nHost: crl3.digicert.com\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}

#[tokio::test]
async fn auth_offers_every_scheme_and_accepts_basic() {
    let r = rig("[[fault]]\nkind = \"proxy.auth_required\"\nuser = \"svc\"\npassword = \"pw\"\n", 1.0, Limits::default()).await;
    let (_s, head) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 407"), "{head}");
    for offer in ["Proxy-Authenticate: Negotiate", "Proxy-Authenticate: NTLM", "Proxy-Authenticate: Basic realm=\"memsim\""] {
        assert!(head.contains(offer), "{offer}: {head}");
    }
    let (_s, head) = ask(r.proxy.addr(), "CONNECT r.manage.microsoft.com:443 HTTP/1.1\r\nProxy-Authorization: Basic c3ZjOnB3\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn limit_data_resets_after_n_bytes_and_status_is_injected() {
    let r = rig(
        "[[fault]]\nkind = \"proxy.limit_data\"\nhosts = \"*.manage.microsoft.com\"\nbytes = 10000\n\n[[fault]]\nkind = \"proxy.status\"\nhosts = \"crl3.digicert.com\"\nstatus = 503\n",
        1.0,
        Limits::default(),
    )
    .await;
    let (mut s, _) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    let (mut rd, mut wr) = s.split();
    let writer = async {
        let _ = wr.write_all(&[7u8; 50_000]).await;
    };
    let reader = async {
        let mut got = 0usize;
        let mut buf = [0u8; 4096];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got += n,
            }
        }
    };
    let ((), got) = tokio::join!(writer, reader);
    assert_eq!(got, 10_000);
    let e = wait_for(&r.journal, |e| e.what == "limit_data").await;
    assert_eq!((e.detail["close"].as_str(), e.detail["bytes_down"].as_u64()), (Some("rst"), Some(10_000)));
    let (_s, head) = ask(r.proxy.addr(), "GET http://crl3.digicert.com/ HTTP/1.1\r\nHost: crl3.digicert.com\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
}

#[tokio::test]
async fn latency_and_lifetime_shape_the_tunnel() {
    let r = rig(
        "[[fault]]\nkind = \"proxy.latency\"\nlatency = \"6s\"\n\n[[fault]]\nkind = \"proxy.max_lifetime\"\nafter = \"60s\"\nclose = \"rst\"\n",
        60.0,
        Limits::default(),
    )
    .await;
    let (mut s, _) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    let sent = r.journal.clock().wall_elapsed();
    s.write_all(b"x").await.unwrap();
    s.read_exact(&mut [0u8; 1]).await.unwrap();
    let rtt = r.journal.clock().wall_elapsed() - sent;
    assert!(rtt >= Duration::from_millis(100), "6 s simulated downstream latency at scale 60 is 100 ms: {rtt:?}");
    let e = wait_for(&r.journal, |e| e.what == "max_lifetime").await;
    let age = e.detail["age_wall_ms"].as_f64().unwrap();
    assert!((1000.0..1200.0).contains(&age), "{age}");
    assert!(r.journal.find(0, |e| e.what == "latency" && e.fault.as_deref() == Some("proxy.latency")).is_some());
}

#[tokio::test]
async fn bad_input_gets_a_clear_bounded_answer_and_the_proxy_keeps_serving() {
    let limits = Limits { head_timeout: Duration::from_millis(300), max_head_bytes: 4096, ..Limits::default() };
    let r = rig("", 1.0, limits).await;
    let (_s, head) = ask(r.proxy.addr(), "\x00\x01garbage\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    // A header section that never ends: refused at the size bound.
    let mut s = TcpStream::connect(r.proxy.addr()).await.unwrap();
    s.write_all(b"CONNECT a.manage.microsoft.com:443 HTTP/1.1\r\n").await.unwrap();
    let endless = "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".repeat(100);
    let _ = s.write_all(endless.as_bytes()).await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 431"), "{}", String::from_utf8_lossy(&out));
    // Slowloris: a byte now and then never completes a head within the bound.
    let mut s = TcpStream::connect(r.proxy.addr()).await.unwrap();
    let started = r.journal.clock().wall_elapsed();
    let trickle = async {
        for b in b"CONNECT a.manage.microsoft.com:443 HTTP/1.1\r\nX: y" {
            if s.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        out
    };
    let out = trickle.await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&out));
    assert!(r.journal.clock().wall_elapsed() - started < Duration::from_secs(3));
    // The proxy still serves.
    let (_s, head) = tunnel(r.proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test]
async fn a_front_that_refuses_gets_a_502_with_the_reason() {
    let journal = Journal::new(Clock::new(time::OffsetDateTime::now_utc(), 1.0));
    // A port that was bound and released: nothing listens there.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let names = vec!["*.manage.microsoft.com".to_string()];
    let proxy = Proxy::start(ProxyConfig {
        listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        faults: vec![],
        world: Default::default(),
        journal: journal.clone(),
        fronts: Fronts { https: closed, http: closed, advertised: None },
        resolver: Arc::new(CatalogResolver::new(EmulatedNames::new(&names), closed.ip())),
        upstream_roots_pem: String::new(),
        permitted_subtrees: vec![],
        limits: Limits::default(),
        catalog: Arc::new(mock_cloud::Catalog::builtin().unwrap()),
    })
    .unwrap();
    let (_s, head) = tunnel(proxy.addr(), "r.manage.microsoft.com:443").await;
    assert!(head.starts_with("HTTP/1.1 502") && head.contains("did not accept"), "{head}");
    wait_for(&journal, |e| e.what == "upstream_failed").await;
}

#[tokio::test]
async fn every_builtin_proxy_scenario_starts_a_world() {
    for s in scenarios::catalog::load_all().unwrap().into_iter().filter(|s| !s.proxy_faults().is_empty()) {
        let world = crate::world::World::start(&s, crate::world::WorldOptions::default()).await.unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert!(world.proxy_url().starts_with("http://127.0.0.1:"));
    }
}

mod issue11;
