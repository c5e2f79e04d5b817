//! The request layer: every request the proxy forwards — absolute-form, or read inside an
//! inspected tunnel — passes [`prepare`] once on its way to the world's front. It applies the
//! request-level effects of the request's plan (`proxy.strip_range`, PRX-04), names the host the
//! proxy decided on in `Host`, and makes the request origin-form without hop-by-hop headers,
//! with the proxy's `Via` (RFC 9110 §7.6).

use hyper::Request;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use scenarios::ProxyFaultKind;

use super::conn::ConnLog;
use super::head;
use super::plan::Plan;

/// Make `req` the request the front gets for `host:port` (`default_port`: the scheme's).
///
/// The decision was made on the request target or the CONNECT authority, so that authority
/// replaces whatever `Host` the client sent: RFC 9112 §3.2.2 (a proxy forwarding an
/// absolute-form request MUST generate Host from the target). The client's `Host` reaching the
/// front would pick the service there and walk past a deny rule (issue 11, defect 2).
pub fn prepare(log: &ConnLog, plan: &Plan, req: &mut Request<Incoming>, (host, port): (&str, u16), default_port: u16) {
    if let Some(kind) = plan.range_stripping() {
        strip_range(log, kind, req.headers_mut());
    }
    if let Ok(v) = HeaderValue::from_str(&head::authority(host, port, default_port)) {
        req.headers_mut().insert(header::HOST, v);
    }
    if req.uri().scheme().is_some() {
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
        *req.uri_mut() = path.parse().unwrap_or_else(|_| hyper::Uri::from_static("/"));
    }
    remove_hop_by_hop(req.headers_mut());
    req.headers_mut().append(header::VIA, HeaderValue::from_static("1.1 memsim-proxy"));
}

/// `Range` and `If-Range` removed, so the server answers 200 with the whole body (PRX-04).
fn strip_range(log: &ConnLog, kind: ProxyFaultKind, headers: &mut HeaderMap) {
    let removed = headers.remove(header::RANGE);
    headers.remove(header::IF_RANGE);
    if let Some(range) = removed {
        log.record(log.fired(kind).detail("range", String::from_utf8_lossy(range.as_bytes()).to_string()));
    }
}

/// Hop-by-hop headers (RFC 9110 §7.6.1): those `Connection` lists and the fixed ones.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [header::CONNECTION, header::PROXY_AUTHORIZATION, header::TE, header::TRAILER, header::UPGRADE] {
        headers.remove(name);
    }
    headers.remove("proxy-connection");
    headers.remove("keep-alive");
}
