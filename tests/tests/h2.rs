//! Issue 16 item 5, HTTP/2 end to end: the HTTPS front offers h2 and http/1.1 by ALPN and
//! journals the one chosen. curl `--http2` negotiates h2 with the world, directly and through
//! the proxy's opaque tunnel and its TLS inspection; nghttp (nghttp2-client) fetches discovery
//! over h2; python's standard library still gets HTTP/1.1; the generic service faults and the
//! notification long-poll hold over h2; and `proxy.http1_only` downgrades an inspected tunnel
//! to HTTP/1.1, journaled with what the client had offered.

use std::process::{Command, Output};

use memsim_e2e::{Up, clean_env, text};
use serde_json::Value;

const DISCOVERY_HOST: &str = "enterpriseenrollment-s.manage.microsoft.com";
const DISCOVERY: &str = "/EnrollmentServer/Discovery.svc";

/// `curl --http2` straight to the front; stdout is `<status> <http_version>`.
fn curl_h2(up: &Up, host: &str, path: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--http2", "-w", "%{http_code} %{http_version}"];
    args.extend_from_slice(extra);
    up.curl_https_with(host, path, &args)
}

/// `curl --http2` through the world's proxy; stdout is `<status> <http_version>`.
fn curl_h2_proxied(up: &Up, url: &str) -> Output {
    clean_env(Command::new("curl"))
        .args(["-sS", "-o", "/dev/null", "--http2", "-w", "%{http_code} %{http_version}", "--max-time", "10", "-x"])
        .arg(up.world["proxy_url"].as_str().expect("world.json has proxy_url"))
        .arg("--cacert")
        .arg(up.ca())
        .arg(url)
        .output()
        .expect("run curl")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn events<'a>(journal: &'a [Value], component: &'a str, what: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    journal.iter().filter(move |e| e["component"] == component && e["what"] == what)
}

/// The `protocol` of the events `component`/`what` journaled for `host`.
fn protocols(journal: &[Value], component: &str, what: &str, host: &str) -> Vec<String> {
    events(journal, component, what).filter(|e| e["host"] == host).map(|e| e["detail"]["protocol"].as_str().unwrap_or("(none)").to_string()).collect()
}

/// python3's standard library (http.client, HTTP/1.1, ALPN not offered) against the front.
fn python_get(up: &Up, host: &str, path: &str) -> Output {
    let (_, port) = up.https_addr().rsplit_once(':').map(|(a, p)| (a.to_string(), p.to_string())).unwrap();
    let script = r#"
import http.client, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
conn = http.client.HTTPSConnection(sys.argv[2], int(sys.argv[3]), context=ctx, timeout=10)
# Connect to loopback, name the emulated host in SNI and Host.
import socket
conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[3])), 10), server_hostname=sys.argv[2])
conn.request("GET", sys.argv[4], headers={"Host": sys.argv[2]})
r = conn.getresponse()
print(r.status, r.version, conn.sock.selected_alpn_protocol())
"#;
    clean_env(Command::new("python3")).arg("-c").arg(script).arg(up.ca()).arg(host).arg(port).arg(path).output().expect("run python3")
}

#[test]
fn curl_negotiates_h2_with_the_front_python_keeps_http11_and_the_journal_names_each() {
    let up = Up::start(None);
    let out = curl_h2(&up, DISCOVERY_HOST, DISCOVERY, &[]);
    assert_eq!(stdout(&out), "200 2", "curl --http2 negotiated h2 and got discovery: {}", text(&out));
    let out = python_get(&up, DISCOVERY_HOST, DISCOVERY);
    assert_eq!(stdout(&out), "200 11 None", "python's http.client: HTTP/1.1 without ALPN: {}", text(&out));
    let out = up.curl_https_with(DISCOVERY_HOST, DISCOVERY, &["--http1.1", "-w", "%{http_code} %{http_version}"]);
    assert_eq!(stdout(&out), "200 1.1", "{}", text(&out));
    let (_, journal) = up.stop();
    let tls = protocols(&journal, "tls", "handshake", DISCOVERY_HOST);
    assert_eq!(tls, ["h2", "http/1.1", "http/1.1"], "each handshake journals the protocol ALPN chose");
    let http = protocols(&journal, "http", "request", DISCOVERY_HOST);
    assert_eq!(http, ["h2", "http/1.1", "http/1.1"], "each exchange journals its HTTP version");
}

/// nghttp has no proxy and no `--resolve`: it connects to the URI's authority and sends SNI for
/// the `:authority` it is given with `-H`, so it is pointed at the front's loopback address and
/// told the emulated host's name.
#[test]
fn nghttp_fetches_discovery_over_h2() {
    if Command::new("nghttp").arg("--version").output().is_err() {
        // .ci/run installs nghttp2-client; a machine without it cannot run this test.
        eprintln!("SKIPPED: nghttp (apt-get install -y nghttp2-client) is not installed");
        return;
    }
    let up = Up::start(None);
    let out = clean_env(Command::new("nghttp"))
        .args(["-s", "-t", "10", "-H"])
        .arg(format!(":authority: {DISCOVERY_HOST}"))
        .arg(format!("https://{}{DISCOVERY}", up.https_addr()))
        .output()
        .expect("run nghttp");
    assert!(out.status.success(), "nghttp: {}", text(&out));
    let (_, journal) = up.stop();
    assert_eq!(protocols(&journal, "tls", "handshake", DISCOVERY_HOST), ["h2"], "nghttp's handshake named the host and chose h2");
    let request = events(&journal, "http", "request").find(|e| e["host"] == DISCOVERY_HOST).expect("discovery was requested");
    assert_eq!((request["detail"]["protocol"].as_str(), request["detail"]["status"].as_u64()), (Some("h2"), Some(200)), "{request}");
}

#[test]
fn service_faults_hold_over_h2() {
    let up = Up::start_toml(
        "h2-service-faults",
        "enrollment",
        "[[fault]]\nkind = \"service.status\"\nhosts = \"go.microsoft.com\"\nstatus = 503\n\
         [[fault]]\nkind = \"service.delay\"\nhosts = \"enrollment.manage.microsoft.com\"\ndelay = \"300ms\"\n\
         [[fault]]\nkind = \"service.malformed\"\nservice = \"enrollment_discovery\"\n\
         [[fault]]\nkind = \"service.close\"\nhosts = \"r.manage.microsoft.com\"\n",
    );
    let out = curl_h2(&up, "go.microsoft.com", "/", &[]);
    assert_eq!(stdout(&out), "503 2", "{}", text(&out));
    let out = curl_h2(&up, "enrollment.manage.microsoft.com", DISCOVERY, &["-w", "%{http_code} %{http_version} %{time_total}"]);
    let s = stdout(&out);
    let secs: f64 = s.rsplit(' ').next().and_then(|t| t.parse().ok()).unwrap_or_else(|| panic!("{s}"));
    assert!(s.starts_with("200 2 ") && secs >= 0.3, "the answer was held back 300 ms over h2: {s}");
    let body = up.curl_https_with(DISCOVERY_HOST, DISCOVERY, &["--http2", "-o", "-", "-w", ""]);
    assert!(body.status.success(), "{}", text(&body));
    let out = curl_h2(&up, "r.manage.microsoft.com", "/", &[]);
    assert!(!out.status.success(), "service.close leaves the h2 exchange without an answer: {}", text(&out));
    let (_, journal) = up.stop();
    for (host, fault) in [
        ("go.microsoft.com", "service.status"),
        ("enrollment.manage.microsoft.com", "service.delay"),
        (DISCOVERY_HOST, "service.malformed"),
        ("r.manage.microsoft.com", "service.close"),
    ] {
        let e = events(&journal, "http", "request").find(|e| e["host"] == host).unwrap_or_else(|| panic!("no request to {host}"));
        assert_eq!((e["fault"].as_str(), e["detail"]["protocol"].as_str()), (Some(fault), Some("h2")), "{e}");
    }
}

#[test]
fn the_notification_long_poll_is_held_and_answered_over_h2() {
    let up = Up::start(Some("healthy-notification")); // time scale 1000: the hold is 0.18 s
    let tenant = up.world["tenant"]["id"].as_str().unwrap().to_string();
    let url = format!("https://gateway.configmgr.manage.microsoft.com/api/gateway/Notification?TenantId={tenant}");
    let out = clean_env(Command::new("curl"))
        .args(["-sS", "--http2", "--max-time", "30", "-w", "\n%{http_version}", "-x"])
        .arg(up.world["proxy_url"].as_str().unwrap())
        .arg("--cacert")
        .arg(up.ca())
        .arg(&url)
        .output()
        .expect("run curl");
    let s = stdout(&out);
    let (body, version) = s.rsplit_once('\n').unwrap_or_else(|| panic!("{}", text(&out)));
    assert_eq!(version, "2", "{}", text(&out));
    let answer: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(answer["HeldSeconds"].as_f64().unwrap() >= 180.0, "held for the whole hold: {answer}");
    let (_, journal) = up.stop();
    let poll = events(&journal, "http", "poll_started").next().expect("the poll was held");
    assert_eq!(poll["host"], "gateway.configmgr.manage.microsoft.com");
}

#[test]
fn tls_inspection_offers_h2_and_http1_only_downgrades_the_tunnel() {
    const CDN: &str = "https://swda01-mscdn.azureedge.net/scripts/6c8d2f4a-1e3b-4a5c-9d7e-0f1a2b3c4d5e/remediate.ps1.bin";
    let healthy = Up::start(None);
    assert_eq!(stdout(&curl_h2_proxied(&healthy, CDN)), "200 2", "an opaque tunnel carries h2 end to end");
    let (_, journal) = healthy.stop();
    assert_eq!(protocols(&journal, "tls", "handshake", "swda01-mscdn.azureedge.net"), ["h2"]);

    let inspection = "[[fault]]\nkind = \"proxy.tls_inspection\"\nhosts = \"*.azureedge.net\"\ntrusted = true\nca_name = \"Contoso Web Gateway CA\"\n";
    let inspected = Up::start_toml("h2-inspected", "proxy", inspection);
    assert_eq!(stdout(&curl_h2_proxied(&inspected, CDN)), "200 2", "the inspecting proxy speaks h2 to the client");
    let (_, journal) = inspected.stop();
    let e = events(&journal, "proxy", "tls_inspection").next().expect("inspection journaled");
    assert_eq!((e["detail"]["accepted"].as_bool(), e["detail"]["protocol"].as_str()), (Some(true), Some("h2")), "{e}");
    assert_eq!(events(&journal, "proxy", "http1_only").count(), 0);

    let downgraded = Up::start_toml("h2-downgraded", "proxy", &format!("{inspection}[[fault]]\nkind = \"proxy.http1_only\"\nhosts = \"*.azureedge.net\"\n"));
    let out = curl_h2_proxied(&downgraded, CDN);
    assert_eq!(stdout(&out), "200 1.1", "the client asked for h2 and got HTTP/1.1: {}", text(&out));
    let (_, journal) = downgraded.stop();
    let e = events(&journal, "proxy", "http1_only").next().expect("the downgrade is journaled");
    assert_eq!(e["fault"], "proxy.http1_only");
    assert_eq!((e["detail"]["downgraded"].as_bool(), e["detail"]["protocol"].as_str()), (Some(true), Some("http/1.1")), "{e}");
    assert!(e["detail"]["client_offered"].as_array().unwrap().iter().any(|p| p == "h2"), "{e}");
    assert_eq!(protocols(&journal, "tls", "handshake", "swda01-mscdn.azureedge.net"), ["http/1.1"], "re-originated over HTTP/1.1");
}
