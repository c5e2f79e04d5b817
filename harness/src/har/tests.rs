use scenarios::Event;
use serde_json::{Value, json};

use super::rules::violations;
use super::*;

/// A journal line as the components write it.
fn ev(seq: u64, wall_ms: f64, component: &str, what: &str, host: Option<&str>, fault: Option<&str>, detail: Value) -> Event {
    let mut v = json!({"seq": seq, "sim_time": "2031-05-01T10:00:00Z", "wall_ms": wall_ms, "component": component, "what": what, "detail": detail});
    if let Some(h) = host {
        v["host"] = json!(h);
    }
    if let Some(f) = fault {
        v["fault"] = json!(f);
    }
    serde_json::from_value(v).unwrap()
}

/// One of each exchange the proxy and the fronts journal.
fn journal() -> Vec<Event> {
    let h = "enterpriseenrollment.manage.microsoft.com";
    vec![
        ev(0, 0.0, "world", "starting", None, None, json!({"scenario": "x", "time_scale": 60.0})),
        ev(1, 5.0, "world", "ready", None, None, json!({"proxy_url": "http://127.0.0.1:4000"})),
        // A CONNECT tunnel, and the HTTPS exchange inside it at the front.
        ev(2, 10.0, "proxy", "open", None, None, json!({"conn": 1, "peer": "127.0.0.1:50000"})),
        ev(
            3,
            11.0,
            "proxy",
            "request",
            Some(h),
            None,
            json!({"conn": 1, "method": "CONNECT", "target": format!("{h}:443"), "port": 443, "decision": "allow", "front": "https", "inspected": false, "faults": ["proxy.idle_timeout"]}),
        ),
        ev(4, 12.5, "proxy", "upstream", Some(h), None, json!({"conn": 1, "front": "https", "addr": "127.0.0.1:4443"})),
        ev(5, 20.0, "tls", "handshake", Some(h), None, json!({"peer": "127.0.0.1:50001", "version": "TLSv1_3"})),
        ev(
            6,
            30.0,
            "http",
            "request",
            Some(h),
            None,
            json!({"scheme": "https", "method": "GET", "path": "/EnrollmentServer/Discovery.svc", "service": "discovery", "status": 200, "ms": 4.0}),
        ),
        ev(7, 90.0, "proxy", "idle_timeout", Some(h), Some("proxy.idle_timeout"), json!({"conn": 1})),
        ev(
            8,
            91.0,
            "proxy",
            "close",
            Some(h),
            Some("proxy.idle_timeout"),
            json!({"conn": 1, "cause": "idle_timeout", "bytes_up": 517, "bytes_down": 4096, "wall_ms": 81.0, "sim_ms": 4860.0, "close": "fin"}),
        ),
        // Plain HTTP through the proxy: one exchange, the proxy's and the front's events joined.
        ev(9, 100.0, "proxy", "open", None, None, json!({"conn": 2, "peer": "127.0.0.1:50002"})),
        ev(
            10,
            101.0,
            "proxy",
            "request",
            Some("crl3.digicert.com"),
            None,
            json!({"conn": 2, "method": "GET", "target": "http://crl3.digicert.com/DigiCertGlobalRootG2.crl?x=1", "port": 80, "decision": "allow", "front": "http", "inspected": false, "faults": []}),
        ),
        ev(11, 102.0, "proxy", "upstream", Some("crl3.digicert.com"), None, json!({"conn": 2, "front": "http", "addr": "127.0.0.1:4080"})),
        ev(
            12,
            104.0,
            "http",
            "request",
            Some("crl3.digicert.com"),
            None,
            json!({"scheme": "http", "method": "GET", "path": "/DigiCertGlobalRootG2.crl", "service": "crl", "status": 200, "ms": 1.5}),
        ),
        ev(
            13,
            105.0,
            "proxy",
            "close",
            Some("crl3.digicert.com"),
            None,
            json!({"conn": 2, "cause": "closed", "bytes_up": 80, "bytes_down": 900, "wall_ms": 5.0, "sim_ms": 300.0}),
        ),
        // A refusal with a page, and one by reset (no answer).
        ev(14, 110.0, "proxy", "open", None, None, json!({"conn": 3, "peer": "127.0.0.1:50003"})),
        ev(
            15,
            111.0,
            "proxy",
            "request",
            Some("www.microsoft.com"),
            None,
            json!({"conn": 3, "method": "GET", "target": "http://www.microsoft.com/pkiops/crl/x.crl", "port": 80, "decision": "deny"}),
        ),
        ev(
            16,
            111.5,
            "proxy",
            "deny",
            Some("www.microsoft.com"),
            Some("proxy.deny"),
            json!({"conn": 3, "status": 403, "block": "page", "reason": "denied by policy", "port": 80, "connect_attempted": false}),
        ),
        ev(
            17,
            112.0,
            "proxy",
            "close",
            Some("www.microsoft.com"),
            None,
            json!({"conn": 3, "cause": "answered", "bytes_up": 0, "bytes_down": 0, "wall_ms": 2.0, "sim_ms": 120.0}),
        ),
        ev(18, 120.0, "proxy", "open", None, None, json!({"conn": 4, "peer": "127.0.0.1:50004"})),
        ev(
            19,
            121.0,
            "proxy",
            "request",
            Some("swda01-mscdn.azureedge.net"),
            None,
            json!({"conn": 4, "method": "CONNECT", "target": "swda01-mscdn.azureedge.net:443", "port": 443, "decision": "deny"}),
        ),
        ev(
            20,
            121.2,
            "proxy",
            "deny",
            Some("swda01-mscdn.azureedge.net"),
            Some("proxy.deny"),
            json!({"conn": 4, "block": "reset", "reason": "denied", "port": 443}),
        ),
        // An inspected tunnel: the CONNECT, then a request read inside it and the front's answer.
        ev(21, 130.0, "proxy", "open", None, None, json!({"conn": 5, "peer": "127.0.0.1:50005"})),
        ev(
            22,
            131.0,
            "proxy",
            "request",
            Some(h),
            None,
            json!({"conn": 5, "method": "CONNECT", "target": format!("{h}:443"), "port": 443, "decision": "allow", "front": "https", "inspected": true, "faults": ["proxy.tls_inspection"]}),
        ),
        ev(23, 140.0, "proxy", "tls_inspection", Some(h), Some("proxy.tls_inspection"), json!({"conn": 5, "ca": "Contoso Inspection CA", "accepted": true})),
        ev(
            24,
            141.0,
            "proxy",
            "request",
            Some(h),
            None,
            json!({"conn": 5, "method": "POST", "target": "/EnrollmentServer/Discovery.svc", "port": 443, "inspected": true, "decision": "allow"}),
        ),
        ev(
            25,
            146.0,
            "http",
            "request",
            Some(h),
            Some("service.status"),
            json!({"scheme": "https", "method": "POST", "path": "/EnrollmentServer/Discovery.svc", "service": "discovery", "status": 503, "ms": 2.0, "alpn": "h2"}),
        ),
        // A head the proxy could not read; a request whose answer never came.
        ev(26, 150.0, "proxy", "bad_request", None, None, json!({"conn": 6, "reason": "no Host in an origin-form request", "status": 400})),
        ev(
            27,
            160.0,
            "proxy",
            "request",
            Some("dl.delivery.mp.microsoft.com"),
            None,
            json!({"conn": 7, "method": "GET", "target": "http://dl.delivery.mp.microsoft.com/a", "port": 80, "decision": "allow"}),
        ),
        ev(
            28,
            161.0,
            "proxy",
            "close",
            Some("dl.delivery.mp.microsoft.com"),
            None,
            json!({"conn": 7, "cause": "upstream_error", "bytes_up": 60, "bytes_down": 0, "wall_ms": 1.0, "sim_ms": 60.0}),
        ),
        // Not exchanges: DNS and a misdirected request (one, with no Host).
        ev(29, 170.0, "dns", "query", Some(h), None, json!({"transport": "udp", "answered": true})),
        ev(30, 171.0, "http", "misdirected", Some(""), None, json!({"scheme": "http", "method": "GET", "path": "/", "status": 421})),
    ]
}

fn har_of(events: &[Event]) -> Value {
    serde_json::to_value(from_events(events)).unwrap()
}

#[test]
fn every_exchange_is_one_entry_and_the_document_keeps_har_1_2s_rules() {
    let har = har_of(&journal());
    assert_eq!(violations(&har), Vec::<String>::new(), "{har:#}");
    let entries = har["log"]["entries"].as_array().unwrap();
    let rows: Vec<(String, String, u64)> = entries
        .iter()
        .map(|e| (e["request"]["method"].as_str().unwrap().into(), e["request"]["url"].as_str().unwrap().into(), e["response"]["status"].as_u64().unwrap()))
        .collect();
    let h = "enterpriseenrollment.manage.microsoft.com";
    let expected: Vec<(String, String, u64)> = [
        ("CONNECT", format!("https://{h}:443"), 200),
        ("GET", format!("https://{h}/EnrollmentServer/Discovery.svc"), 200),
        ("GET", "http://crl3.digicert.com/DigiCertGlobalRootG2.crl".into(), 200),
        ("GET", "http://www.microsoft.com/pkiops/crl/x.crl".into(), 403),
        ("CONNECT", "https://swda01-mscdn.azureedge.net:443".into(), 0),
        ("CONNECT", format!("https://{h}:443"), 200),
        ("POST", format!("https://{h}/EnrollmentServer/Discovery.svc"), 503),
        ("GET", "http://127.0.0.1:4000/".into(), 400),
        ("GET", "http://dl.delivery.mp.microsoft.com/a".into(), 0),
        ("GET", "http://unknown.invalid/".into(), 421),
    ]
    .into_iter()
    .map(|(m, u, s)| (m.to_string(), u, s))
    .collect();
    assert_eq!(rows, expected);
}

#[test]
fn memsim_fields_carry_faults_decisions_and_the_connection() {
    let har = har_of(&journal());
    let e = &har["log"]["entries"];
    // The tunnel: its fault (from the plan and the close), bytes, the time to the upstream.
    assert_eq!(e[0]["_memsim"]["faults"], json!(["proxy.idle_timeout"]));
    assert_eq!(e[0]["_memsim"]["conn_bytes_down"], json!(4096));
    assert_eq!(e[0]["_memsim"]["conn_cause"], json!("idle_timeout"));
    assert_eq!(e[0]["connection"], json!("1"));
    assert_eq!(e[0]["timings"]["wait"], json!(1.5));
    assert_eq!(e[0]["serverIPAddress"], json!("127.0.0.1"));
    // The front's handshake on the tunnel's CONNECT; the exchange inside joined to the tunnel
    // (the only one to that host open then).
    assert_eq!(e[0]["_memsim"]["tls"][0]["what"], json!("handshake"));
    assert_eq!((&e[1]["_memsim"]["conn"], &e[1]["_memsim"]["via"]), (&json!(1), &json!("tunnel")));
    // Plain HTTP through the proxy: the front's exchange, with the proxy's connection joined.
    assert_eq!(e[2]["_memsim"]["conn"], json!(2));
    assert_eq!(e[2]["_memsim"]["service"], json!("crl"));
    assert_eq!(e[2]["timings"]["wait"], json!(1.5));
    assert_eq!(e[2]["time"], json!(1.5));
    // The refusal: the fault's name, the page's text as the content.
    assert_eq!(e[3]["_memsim"]["fault"], json!("proxy.deny"));
    assert_eq!(e[3]["response"]["statusText"], json!("Forbidden"));
    assert_eq!(e[3]["response"]["content"]["text"], json!("denied by policy"));
    // A reset is no answer at all: status 0 and Chrome's `_error`.
    assert!(e[4]["response"]["_error"].as_str().unwrap().contains("reset"), "{}", e[4]);
    // Inspected: the front's fault and the proxy's interception both named; h2 shown.
    assert_eq!(e[6]["_memsim"]["fault"], json!("service.status"));
    assert_eq!(e[6]["_memsim"]["faults"], json!(["proxy.tls_inspection"]));
    assert_eq!(e[6]["_memsim"]["inspected"], json!(true));
    assert_eq!(e[5]["_memsim"]["fault_events"], json!([{"what": "tls_inspection", "fault": "proxy.tls_inspection", "accepted": true}]));
    assert_eq!(e[6]["request"]["httpVersion"], json!("HTTP/2.0"));
    assert!(e[8]["response"]["_error"].as_str().unwrap().contains("upstream_error"));
    // Unknown timings are -1, the known ones non-negative.
    for entry in e.as_array().unwrap() {
        assert_eq!(entry["timings"]["dns"], json!(-1.0));
        assert!(entry["timings"]["wait"].as_f64().unwrap() >= 0.0);
    }
}

#[test]
fn started_date_time_is_iso_8601_from_the_simulated_start_plus_wall_time() {
    let har = har_of(&journal());
    let e = &har["log"]["entries"];
    // sim_time of the first event is 10:00:00.000 at wall 0; the CONNECT came 11 ms later.
    assert_eq!(e[0]["startedDateTime"], json!("2031-05-01T10:00:00.011Z"));
    // A front exchange started `ms` before its event: 30 - 4.
    assert_eq!(e[1]["startedDateTime"], json!("2031-05-01T10:00:00.026Z"));
    assert_eq!(e[1]["_memsim"]["sim_time"], json!("2031-05-01T10:00:00.000Z"));
    let starts: Vec<&str> = e.as_array().unwrap().iter().map(|x| x["startedDateTime"].as_str().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "sorted by start: {starts:?}");
}

#[test]
fn an_empty_journal_is_an_empty_valid_har() {
    let har = har_of(&[]);
    assert_eq!(violations(&har), Vec::<String>::new());
    assert_eq!(har["log"]["entries"], json!([]));
    assert_eq!(har["log"]["creator"]["name"], json!("memsim"));
}

#[test]
fn the_rules_catch_what_har_1_2_forbids() {
    let mut har = har_of(&journal());
    let e = &mut har["log"]["entries"][0];
    e["startedDateTime"] = json!("yesterday");
    e["timings"]["wait"] = json!(-1);
    e["response"].as_object_mut().unwrap().remove("statusText");
    e["memsim"] = json!({});
    let found = violations(&har);
    for want in ["startedDateTime", "timings.wait", "response.statusText: missing", "entries[0].memsim: not a HAR 1.2 field"] {
        assert!(found.iter().any(|f| f.contains(want)), "{want} not in {found:?}");
    }
    assert!(violations(&json!({"log": {}})).iter().any(|f| f.contains("log.entries")));
}

#[test]
fn a_journal_line_that_is_no_event_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let good = serde_json::to_string(&journal()[0]).unwrap();
    std::fs::write(&path, format!("{good}\n\n{{\"seq\": 1}}\n")).unwrap();
    let err = read_journal(&path).unwrap_err();
    assert!(err.contains("j.jsonl:3: not a journal event"), "{err}");
    std::fs::write(&path, format!("{good}\n")).unwrap();
    assert_eq!(read_journal(&path).unwrap().len(), 1);
}
