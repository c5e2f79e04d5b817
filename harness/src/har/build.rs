//! Journal events to HAR entries. The journal's shapes this reads (all written in one place
//! each): the fronts' `http`/`request` and `misdirected` (`mock-cloud/src/front/dispatch.rs`:
//! host, scheme, method, path, service, status, ms, fault), and the proxy's per-connection
//! events (`harness/src/proxy/conn.rs`, `decide.rs`, `refusal.rs`: `open`, `request` with its
//! decision, the refusal or fault event with its status, `upstream`, `close` with bytes and
//! cause). A request the proxy let through is one exchange with what the front journaled for
//! it: the two are joined (the proxy's connection, decision and plan faults go into the
//! front's entry), never written twice.

use std::collections::HashMap;

use scenarios::{Component, Event};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::{Content, Creator, Entry, Har, Log, Page, PageTimings, Request, Response, Timings};

/// How long after a tunnel's close the front may still journal an event of it (wall ms).
const FRONT_LAG_MS: f64 = 1000.0;

/// The method the proxy journals for a transparent TLS connection (`proxy/decide.rs`'s `TLS`).
const TRANSPARENT_TLS: &str = "TLS";

/// The HAR of `events` (a journal, in seq order or not).
pub fn from_events(events: &[Event]) -> Har {
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.seq);
    let anchor = events.first().map(|e| e.sim_time - time::Duration::seconds_f64(e.wall_ms / 1000.0));
    let conns = Conns::of(&events);
    let proxy_url = events
        .iter()
        .find(|e| e.component == Component::World && e.what == "ready")
        .and_then(|e| e.detail.get("proxy_url").and_then(Value::as_str))
        .unwrap_or("http://proxy.invalid")
        .to_string();
    let mut out: Vec<(f64, Entry)> = Vec::new();
    // Requests the proxy let through, waiting for the front's event of the same exchange.
    let mut pending: Vec<&Event> = Vec::new();
    // Each tunnel's CONNECT entry, by connection: the front's TLS handshake is told there.
    let mut tunnel_entry: HashMap<u64, usize> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        match (e.component, e.what.as_str()) {
            (Component::Proxy, "request") => {
                let decision = e.detail.get("decision").and_then(Value::as_str).unwrap_or("allow");
                let method = text(e, "method");
                if decision != "allow" {
                    out.push(refused(e, &events[i + 1..], &conns));
                } else if method.eq_ignore_ascii_case("CONNECT") || method == TRANSPARENT_TLS {
                    if let Some(id) = e.detail.get("conn").and_then(Value::as_u64) {
                        tunnel_entry.insert(id, out.len());
                    }
                    out.push(connect(e, &conns));
                } else {
                    pending.push(e);
                }
            }
            (Component::Proxy, "bad_request") => out.push(bad_request(e, &conns, &proxy_url)),
            (Component::Tls, _) => {
                if let Some(i) = conns.tunnel(e.host.as_deref(), e.wall_ms).and_then(|id| tunnel_entry.get(&id)) {
                    tls_on(&mut out[*i].1, e);
                }
            }
            (Component::Http, "request" | "misdirected") => {
                let joined = take_match(&mut pending, e);
                out.push(exchange(e, joined, &conns));
            }
            _ => {}
        }
    }
    // A request the proxy let through whose exchange the front never journaled: the upstream
    // failed, or a fault cut it first.
    for p in pending {
        out.push(unanswered(p, &conns));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    let at = |ms: f64| anchor.map_or_else(|| iso(OffsetDateTime::UNIX_EPOCH), |a| iso(a + time::Duration::seconds_f64(ms.max(0.0) / 1000.0)));
    let scenario = events
        .iter()
        .find(|e| e.component == Component::World && e.what == "starting")
        .and_then(|e| e.detail.get("scenario").and_then(Value::as_str))
        .unwrap_or("world")
        .to_string();
    let page = Page {
        started_date_time: at(0.0),
        id: scenario.clone(),
        title: format!("memsim world: {scenario}"),
        page_timings: PageTimings { on_content_load: -1.0, on_load: -1.0 },
    };
    let entries = out
        .into_iter()
        .map(|(start_ms, mut entry)| {
            entry.started_date_time = at(start_ms);
            entry.pageref = scenario.clone();
            entry
        })
        .collect();
    Har {
        log: Log {
            version: "1.2",
            creator: Creator { name: "memsim", version: env!("CARGO_PKG_VERSION") },
            pages: vec![page],
            entries,
            comment: Some(
                "Exported from a memsim journal: startedDateTime is the world's simulated start plus wall time; timings are wall milliseconds; _memsim holds the journal's facts (sim_time, faults, the proxy's decision)."
                    .into(),
            ),
        },
    }
}

/// ISO 8601, UTC, milliseconds: what HAR 1.2 asks for and every viewer parses.
pub(super) fn iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&format).unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".into())
}

fn text<'a>(e: &'a Event, key: &str) -> &'a str {
    e.detail.get(key).and_then(Value::as_str).unwrap_or("")
}

fn num(e: &Event, key: &str) -> Option<f64> {
    e.detail.get(key).and_then(Value::as_f64)
}

/// What one proxy connection journaled, by its id.
#[derive(Default)]
struct Conn<'a> {
    peer: Option<String>,
    upstream: Option<&'a Event>,
    close: Option<&'a Event>,
    /// Every fault named on the connection's events.
    faults: Vec<String>,
    /// The events a fault made on the connection (an interception, a cut), in a line each.
    fault_events: Vec<Value>,
}

/// A CONNECT tunnel the proxy let through: its connection, host and wall-time span.
struct Tunnel {
    conn: u64,
    host: String,
    from: f64,
    to: f64,
}

struct Conns<'a>(HashMap<u64, Conn<'a>>, Vec<Tunnel>);

impl<'a> Conns<'a> {
    fn of(events: &[&'a Event]) -> Conns<'a> {
        let mut map: HashMap<u64, Conn<'a>> = HashMap::new();
        for e in events.iter().filter(|e| e.component == Component::Proxy) {
            let Some(id) = e.detail.get("conn").and_then(Value::as_u64) else { continue };
            let c = map.entry(id).or_default();
            match e.what.as_str() {
                "open" => c.peer = e.detail.get("peer").and_then(Value::as_str).map(str::to_string),
                "upstream" if c.upstream.is_none() => c.upstream = Some(e),
                "close" => c.close = Some(e),
                _ => {}
            }
            if let Some(f) = &e.fault {
                if !c.faults.contains(f) {
                    c.faults.push(f.clone());
                }
                if e.what != "close" {
                    let mut line = json!({"what": e.what, "fault": f});
                    for key in ["accepted", "error", "reason", "status", "block", "after"] {
                        if let Some(v) = e.detail.get(key) {
                            line[key] = v.clone();
                        }
                    }
                    c.fault_events.push(line);
                }
            }
        }
        let mut tunnels = Vec::new();
        for e in events.iter().filter(|e| e.component == Component::Proxy && e.what == "request") {
            let method = text(e, "method");
            let allowed = e.detail.get("decision").and_then(Value::as_str) == Some("allow");
            let Some(id) = e.detail.get("conn").and_then(Value::as_u64) else { continue };
            if allowed && (method.eq_ignore_ascii_case("CONNECT") || method == TRANSPARENT_TLS) {
                // The front journals its side (a failed handshake) a moment after the client
                // hung up, so possibly after the proxy journaled the tunnel's close.
                let to = map.get(&id).and_then(|c| c.close).map_or(f64::INFINITY, |c| c.wall_ms + FRONT_LAG_MS);
                tunnels.push(Tunnel { conn: id, host: e.host.clone().unwrap_or_default(), from: e.wall_ms, to });
            }
        }
        Conns(map, tunnels)
    }

    fn get(&self, e: &Event) -> Option<(u64, &Conn<'a>)> {
        let id = e.detail.get("conn").and_then(Value::as_u64)?;
        self.0.get(&id).map(|c| (id, c))
    }

    /// The tunnel a front's event at wall time `at` came through: the one tunnel to its host
    /// open then. The front does not know the proxy's connection, so two tunnels to one host
    /// open at once leave the event unjoined rather than guessed.
    fn tunnel(&self, host: Option<&str>, at: f64) -> Option<u64> {
        let host = host?;
        let mut open = self.1.iter().filter(|t| t.host == host && t.from <= at && at <= t.to);
        let one = open.next()?;
        open.next().is_none().then_some(one.conn)
    }
}

/// The `_memsim` fields every entry has, from the event that makes it.
fn fields(e: &Event) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("seq".into(), json!(e.seq));
    m.insert("component".into(), json!(e.component.as_str()));
    m.insert("what".into(), json!(e.what));
    m.insert("sim_time".into(), json!(super::build::iso(e.sim_time)));
    if let Some(f) = &e.fault {
        m.insert("fault".into(), json!(f));
    }
    m
}

/// The proxy connection's facts on an entry: its id, peer, bytes, cause and every fault named.
fn with_conn(entry: &mut Entry, conns: &Conns<'_>, e: &Event) {
    if let Some(id) = e.detail.get("conn").and_then(Value::as_u64) {
        with_conn_id(entry, conns, id);
    }
}

fn with_conn_id(entry: &mut Entry, conns: &Conns<'_>, id: u64) {
    let Some(c) = conns.0.get(&id) else { return };
    entry.connection = Some(id.to_string());
    let m = &mut entry.memsim;
    m.insert("conn".into(), json!(id));
    if let Some(p) = &c.peer {
        m.insert("client".into(), json!(p));
    }
    if let Some(u) = c.upstream {
        entry.server_ip_address = u.detail.get("addr").and_then(Value::as_str).and_then(|a| a.rsplit_once(':')).map(|(ip, _)| ip.to_string());
    }
    if let Some(close) = c.close {
        for key in ["bytes_up", "bytes_down", "cause", "close"] {
            if let Some(v) = close.detail.get(key) {
                m.insert(format!("conn_{key}"), v.clone());
            }
        }
        if let Some(ms) = num(close, "wall_ms") {
            m.insert("conn_ms".into(), json!(super::round(ms)));
        }
    }
    let mut faults: Vec<Value> = m.get("faults").and_then(Value::as_array).cloned().unwrap_or_default();
    for f in &c.faults {
        if !faults.iter().any(|x| x == f) {
            faults.push(json!(f));
        }
    }
    if !faults.is_empty() {
        m.insert("faults".into(), Value::Array(faults));
    }
    if !c.fault_events.is_empty() {
        m.insert("fault_events".into(), Value::Array(c.fault_events.clone()));
    }
}

fn entry(method: &str, url: String, status: u16, timings: Timings, memsim: Map<String, Value>) -> Entry {
    let version = "HTTP/1.1".to_string();
    Entry {
        pageref: String::new(),
        started_date_time: String::new(),
        time: timings.total(),
        request: Request {
            method: if method.is_empty() { "GET".into() } else { method.to_string() },
            url,
            http_version: version.clone(),
            cookies: vec![],
            headers: vec![],
            query_string: vec![],
            headers_size: -1,
            body_size: -1,
        },
        response: Response {
            status,
            status_text: reason(status).into(),
            http_version: version,
            cookies: vec![],
            headers: vec![],
            content: Content { size: 0, mime_type: "x-unknown".into(), text: None },
            redirect_url: String::new(),
            headers_size: -1,
            body_size: -1,
            error: None,
        },
        cache: Map::new(),
        timings,
        server_ip_address: None,
        connection: None,
        comment: None,
        memsim,
    }
}

fn reason(status: u16) -> &'static str {
    if status == 0 {
        return "";
    }
    hyper::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("")
}

/// An absolute URL for a proxy request target: as written when it is one, else built from the
/// event's host and port.
fn target_url(e: &Event, scheme: &str) -> String {
    let target = text(e, "target");
    if target.contains("://") {
        return target.to_string();
    }
    let host = e.host.as_deref().unwrap_or("unknown.invalid");
    match num(e, "port") {
        Some(p) => format!("{scheme}://{host}:{p}{}", if target.starts_with('/') { target } else { "" }),
        None => format!("{scheme}://{host}/"),
    }
}

/// A proxy decision's detail on an entry.
fn decision_fields(m: &mut Map<String, Value>, e: &Event) {
    for key in ["decision", "inspected", "front", "faults"] {
        if let Some(v) = e.detail.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
}

/// A CONNECT (or a transparent TLS connection) the proxy let through: 200, the tunnel's bytes.
fn connect(e: &Event, conns: &Conns<'_>) -> (f64, Entry) {
    let url = format!("https://{}:{}", e.host.as_deref().unwrap_or("unknown.invalid"), num(e, "port").unwrap_or(443.0));
    let waited = conns.get(e).and_then(|(_, c)| c.upstream).map_or(0.0, |u| u.wall_ms - e.wall_ms);
    let mut m = fields(e);
    decision_fields(&mut m, e);
    let mut entry = entry("CONNECT", url, 200, Timings::waited(waited), m);
    entry.response.status_text = "Connection established".into();
    if text(e, "method") != "CONNECT" {
        entry.comment = Some("a transparent TLS connection: the client sent no CONNECT".into());
    }
    with_conn(&mut entry, conns, e);
    (e.wall_ms, entry)
}

/// A request the proxy refused: its status from the refusal event that follows on the same
/// connection (`refused`, or the fault's own event).
fn refused(e: &Event, after: &[&Event], conns: &Conns<'_>) -> (f64, Entry) {
    let conn = e.detail.get("conn");
    let answer = after.iter().find(|a| a.component == Component::Proxy && a.detail.get("conn") == conn && a.detail.contains_key("reason"));
    let status = answer.and_then(|a| num(a, "status")).map_or(0, |s| s as u16);
    let method = text(e, "method");
    let scheme = if method.eq_ignore_ascii_case("CONNECT") || e.detail.get("inspected") == Some(&Value::Bool(true)) { "https" } else { "http" };
    let mut m = fields(e);
    decision_fields(&mut m, e);
    let mut waited = 0.0;
    if let Some(a) = answer {
        waited = a.wall_ms - e.wall_ms;
        for key in ["refusal", "reason", "block", "tls_alert"] {
            if let Some(v) = a.detail.get(key) {
                m.insert(key.into(), v.clone());
            }
        }
        if let Some(f) = &a.fault {
            m.insert("fault".into(), json!(f));
        }
    }
    let url = if method.eq_ignore_ascii_case("CONNECT") {
        format!("https://{}:{}", e.host.as_deref().unwrap_or("unknown.invalid"), num(e, "port").unwrap_or(443.0))
    } else {
        target_url(e, scheme)
    };
    let mut entry = entry(method, url, status, Timings::waited(waited), m);
    if status == 0 {
        // A refusal by reset or silence: the client got no answer.
        entry.response.error = Some(answer.map_or_else(|| "no answer".into(), |a| format!("refused by the proxy ({})", text(a, "block"))));
    } else {
        let body = answer.map(|a| text(a, "reason").to_string()).unwrap_or_default();
        entry.response.content = Content { size: body.len() as i64, mime_type: "text/plain".into(), text: Some(body) };
    }
    with_conn(&mut entry, conns, e);
    (e.wall_ms, entry)
}

/// A request head the proxy could not take (`bad_request`): answered 400 (or its status).
fn bad_request(e: &Event, conns: &Conns<'_>, proxy_url: &str) -> (f64, Entry) {
    let status = num(e, "status").map_or(400, |s| s as u16);
    let mut m = fields(e);
    m.insert("reason".into(), json!(text(e, "reason")));
    let method = text(e, "method");
    let url = match &e.host {
        Some(h) => format!("http://{h}/"),
        None => format!("{}/", proxy_url.trim_end_matches('/')),
    };
    let mut entry = entry(if method.is_empty() { "GET" } else { method }, url, status, Timings::waited(0.0), m);
    entry.comment = Some("a request the proxy could not read; method and URL are unknown where the journal does not name them".into());
    let body = text(e, "reason").to_string();
    entry.response.content = Content { size: body.len() as i64, mime_type: "text/plain".into(), text: Some(body) };
    with_conn(&mut entry, conns, e);
    (e.wall_ms, entry)
}

/// The path of a proxy request's target (absolute-form or origin-form).
fn target_path(target: &str) -> &str {
    let rest = target.split_once("://").map_or(target, |(_, r)| r.find('/').map_or("/", |i| &r[i..]));
    rest.split_once('?').map_or(rest, |(p, _)| p)
}

/// The proxy request that this front exchange answers: the oldest pending one for the same
/// host, method and path.
fn take_match<'a>(pending: &mut Vec<&'a Event>, front: &Event) -> Option<&'a Event> {
    let i = pending.iter().position(|p| {
        p.host.as_deref() == front.host.as_deref()
            && text(p, "method").eq_ignore_ascii_case(text(front, "method"))
            && target_path(text(p, "target")) == text(front, "path")
    })?;
    Some(pending.remove(i))
}

/// An exchange a front answered, joined with the proxy request it came through, if any.
fn exchange(e: &Event, via: Option<&Event>, conns: &Conns<'_>) -> (f64, Entry) {
    let scheme = match text(e, "scheme") {
        "" => "http",
        s => s,
    };
    let host = e.host.as_deref().filter(|h| !h.is_empty()).unwrap_or("unknown.invalid");
    let url = format!("{scheme}://{host}{}", text(e, "path"));
    let status = num(e, "status").map_or(0, |s| s as u16);
    let ms = num(e, "ms").unwrap_or(0.0);
    let mut m = fields(e);
    if let Some(s) = e.detail.get("service") {
        m.insert("service".into(), s.clone());
    }
    let mut entry = entry(text(e, "method"), url, status, Timings::waited(ms), m);
    if let Some(alpn) = e.detail.get("alpn").and_then(Value::as_str) {
        entry.memsim.insert("alpn".into(), json!(alpn));
        if alpn == "h2" {
            entry.request.http_version = "HTTP/2.0".into();
            entry.response.http_version = "HTTP/2.0".into();
        }
    }
    if let Some(p) = via {
        decision_fields(&mut entry.memsim, p);
        with_conn(&mut entry, conns, p);
    } else if let Some(id) = conns.tunnel(e.host.as_deref(), e.wall_ms - ms) {
        with_conn_id(&mut entry, conns, id);
        entry.memsim.insert("via".into(), json!("tunnel"));
    }
    (e.wall_ms - ms, entry)
}

/// A request the proxy let through whose answer no front journaled.
fn unanswered(e: &Event, conns: &Conns<'_>) -> (f64, Entry) {
    let inspected = e.detail.get("inspected") == Some(&Value::Bool(true));
    let mut m = fields(e);
    decision_fields(&mut m, e);
    let mut entry = entry(text(e, "method"), target_url(e, if inspected { "https" } else { "http" }), 0, Timings::waited(0.0), m);
    let cause = conns.get(e).and_then(|(_, c)| c.close).map(|c| text(c, "cause").to_string());
    entry.response.error = Some(match cause {
        Some(c) => format!("no answer from the world: the connection ended ({c})"),
        None => "no answer from the world".into(),
    });
    with_conn(&mut entry, conns, e);
    (e.wall_ms, entry)
}

/// The front's TLS event on a tunnel's CONNECT entry: `_memsim.tls` (the handshake, its failure
/// and error), and its fault (an expired or untrusted certificate) among the entry's faults.
fn tls_on(entry: &mut Entry, e: &Event) {
    let mut line = json!({"what": e.what, "seq": e.seq});
    for key in ["version", "cipher_suite", "alpn", "certificate", "error", "client_certificate"] {
        if let Some(v) = e.detail.get(key) {
            line[key] = v.clone();
        }
    }
    if let Some(f) = &e.fault {
        line["fault"] = json!(f);
        let faults = entry.memsim.entry("faults").or_insert_with(|| json!([]));
        if let Some(list) = faults.as_array_mut()
            && !list.iter().any(|x| x == f)
        {
            list.push(json!(f));
        }
    }
    match entry.memsim.get_mut("tls").and_then(Value::as_array_mut) {
        Some(list) => list.push(line),
        None => {
            entry.memsim.insert("tls".into(), json!([line]));
        }
    }
}
