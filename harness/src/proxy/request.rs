//! The request layer: every request the proxy forwards — absolute-form, or read inside an
//! inspected tunnel — passes [`prepare`] once on its way to the world's front. It applies the
//! request-level effects of the request's plan (`proxy.strip_range`, PRX-04), names the host the
//! proxy decided on in `Host`, and makes the request origin-form without hop-by-hop headers,
//! with the proxy's `Via` (RFC 9110 §7.6).

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response};
use scenarios::ProxyFaultKind;

use super::conn::ConnLog;
use super::head;
use super::plan::Plan;
use super::respond::{Answer, ProxyBody, echo};

/// Make `req` the request the front gets for `host:port` (`default_port`: the scheme's), or
/// the proxy's own 400 (journaled as `bad_request`) when that authority cannot be a `Host`.
///
/// The decision was made on the request target or the CONNECT authority, so that authority
/// replaces whatever `Host` the client sent: RFC 9112 §3.2.2 (a proxy forwarding an
/// absolute-form request MUST generate Host from the target). The client's `Host` reaching the
/// front would pick the service there and walk past a deny rule (issue 11, defect 2) — so an
/// authority that is not a valid header value is refused, never left to the client's `Host`.
pub fn prepare<B>(log: &ConnLog, plan: &Plan, req: &mut Request<B>, (host, port): (&str, u16), default_port: u16) -> Result<(), Box<Response<ProxyBody>>> {
    let authority = head::authority(host, port, default_port);
    let Ok(host_value) = HeaderValue::from_str(&authority) else {
        let reason = format!("the request's authority {} cannot be sent as a Host header", echo(&authority));
        return Err(Box::new(bad_request(log, req.method().as_str(), 400, reason)));
    };
    if let Some(kind) = plan.range_stripping() {
        strip_range(log, kind, req.headers_mut());
    }
    req.headers_mut().insert(header::HOST, host_value);
    if req.uri().scheme().is_some() {
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
        *req.uri_mut() = path.parse().unwrap_or_else(|_| hyper::Uri::from_static("/"));
    }
    remove_hop_by_hop(req.headers_mut());
    req.headers_mut().append(header::VIA, HeaderValue::from_static("1.1 memsim-proxy"));
    Ok(())
}

/// The proxy's own answer to bad client input, journaled as `bad_request`.
pub fn bad_request(log: &ConnLog, method: &str, status: u16, reason: String) -> Response<ProxyBody> {
    log.record(log.event("bad_request").detail("method", method).detail("reason", reason.clone()).detail("status", status));
    Answer::new(status, reason).to_response()
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

#[cfg(test)]
mod tests {
    use scenarios::{Clock, Journal};

    use super::*;

    // issue 11, defect 2 (review): an authority that cannot be a header value must not leave the
    // client's own `Host` in place (it would pick the denied service at the front): a 400.
    #[test]
    fn an_authority_that_cannot_be_a_host_header_is_refused_not_left_to_the_client() {
        let journal = Journal::new(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0));
        let log = ConnLog::open(journal.clone(), 1, "127.0.0.1:1", None);
        let mut req =
            Request::builder().uri("http://crl3.digicert.com/x").header(header::HOST, "enterpriseenrollment-s.manage.microsoft.com").body(()).unwrap();
        let refused = prepare(&log, &Plan::default(), &mut req, ("bad\nhost", 80), 80).map(|()| req.headers().get(header::HOST).cloned());
        let Err(res) = refused else { panic!("forwarded with Host {refused:?}") };
        assert_eq!(res.status(), 400);
        let e = journal.find(0, |e| e.what == "bad_request").expect("journaled");
        assert_eq!(e.detail["status"], 400, "{e:?}");

        let mut req = Request::builder().uri("http://crl3.digicert.com/x").header(header::HOST, "other").body(()).unwrap();
        assert!(prepare(&log, &Plan::default(), &mut req, ("crl3.digicert.com", 80), 80).is_ok());
        assert_eq!(req.headers()[header::HOST], "crl3.digicert.com");
        assert_eq!(req.uri(), "/x");
    }
}
