//! Plain HTTP forwarding (absolute-form `GET http://host/path`): the client connection runs
//! through the pump (so connection faults apply) into hyper, which parses each request; each
//! is checked against the policy and the sinkhole gate, has `Range` stripped when a fault says
//! so, and goes to the world's HTTP front in origin form over one reused upstream connection.
//! Also the request/response plumbing TLS inspection shares. It is not a cache, and it does
//! not accept CONNECT after a plain request on the same connection.

use std::convert::Infallible;
use std::future::pending;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use scenarios::ProxyFaultKind;
use scenarios::{BlockStyle, CloseMethod};
use tokio::net::TcpStream;

use super::conn::{Cause, ConnLog, Control};
use super::head::{self, Target};
use super::listener::admit;
use super::respond::Answer;
use super::tunnel::record_shaping;
use super::{Front, Shared, pump};

/// The body of every response the proxy hands its client.
pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// One reused upstream HTTP/1.1 connection per client connection.
pub type Slot = tokio::sync::Mutex<Option<SendRequest<Incoming>>>;

pub async fn serve(shared: Arc<Shared>, log: Arc<ConnLog>, client: TcpStream, buf: BytesMut, first_host: String, first_port: u16) {
    log.set_host(&first_host);
    let plan = shared.policy.plan(&first_host, first_port);
    record_shaping(&log, &plan);
    let (near, far) = tokio::io::duplex(64 * 1024);
    let ctl = Arc::new(Control::default());
    let slot: Arc<Slot> = Arc::default();
    let (s, l, c) = (shared.clone(), log.clone(), ctl.clone());
    let svc = service_fn(move |req| {
        let (s, l, c, slot) = (s.clone(), l.clone(), c.clone(), slot.clone());
        async move { Ok::<_, Infallible>(forward(&s, &l, &c, &slot, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(keep_alive_limit(&shared.limits, &plan))
        .max_buf_size(shared.limits.max_head_bytes.max(8192))
        .serve_connection(TokioIo::new(far), svc);
    // Awaited by value, the connection (and `far` with it) is dropped the moment hyper ends,
    // so the pump reads the end and closes the client. Held past its end, it kept `far` open:
    // an idle keep-alive client whose header timer ran out stayed in CLOSE-WAIT with its slot
    // taken, and a later request was read by nobody (issue 11, defect 1).
    let server = async move { conn.await };
    let pump = pump::run(client, &buf, near, &plan, &ctl, &log, shared.limits.drop_hold, true);
    tokio::pin!(pump, server);
    // The pump owns the client: when it ends, so does hyper; when hyper ends first (the client
    // asked to close), the pump still delivers what hyper wrote.
    let pumped = tokio::select! {
        p = &mut pump => p,
        served = &mut server => {
            let mut p = pump.await;
            if p.cause == Cause::Closed && served.is_err_and(|e| e.is_timeout()) {
                p.cause = Cause::KeepAliveTimeout;
            }
            p
        }
    };
    log.close(&pumped.cause, pumped.up, pumped.down);
}

/// How long a kept-alive connection may wait for its next request head: the proxy's limit, or
/// longer when a `proxy.idle_timeout` fault is to cut it first (the emulated fault, journaled,
/// must not be pre-empted by the proxy's own safety limit).
pub fn keep_alive_limit(limits: &super::Limits, plan: &super::rules::Plan) -> std::time::Duration {
    plan.idle.map_or(limits.keep_alive_timeout, |t| limits.keep_alive_timeout.max(t.wall + limits.head_timeout))
}

async fn forward(shared: &Shared, log: &ConnLog, ctl: &Control, slot: &Slot, mut req: Request<Incoming>) -> Response<ProxyBody> {
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let (host, port) = match head::target(&method, &uri) {
        Ok(Target::Http { host, port }) => (host, port),
        Ok(Target::Connect { .. }) => return answer(Answer::new(400, "send CONNECT as the first request of a new connection")),
        Err((status, reason)) => {
            log.record(log.event("bad_request").detail("method", method).detail("reason", reason.clone()).detail("status", status));
            return answer(Answer::new(status, reason));
        }
    };
    log.set_host(&host);
    let request =
        |decision: &str| log.event("request").detail("method", method.clone()).detail("target", uri.clone()).detail("port", port).detail("decision", decision);
    let auth = req.headers().get(header::PROXY_AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    if let Some(refusal) = shared.policy.check(&host, port, auth.as_deref()) {
        log.record(request(refusal.fault.event()));
        log.record(log.fired(refusal.fault).detail("status", refusal.answer.status).detail("reason", refusal.answer.reason.clone()));
        let close = match refusal.block {
            BlockStyle::Page => return answer(refusal.answer),
            BlockStyle::Reset => CloseMethod::Rst,
            BlockStyle::Drop => CloseMethod::Drop,
        };
        // The pump cuts the client; this response is never written.
        ctl.cut(Cause::Fault { kind: refusal.fault, close });
        return pending().await;
    }
    let (addr, front) = match admit(shared, log, &host, port).await {
        Ok(route) => route,
        Err(a) => {
            log.record(request("refused"));
            return answer(a);
        }
    };
    if front != Front::Http {
        log.record(request("refused"));
        return answer(Answer::new(400, format!("port {port} speaks TLS: send CONNECT {}:{port}", super::respond::echo(&host))));
    }
    log.record(request("allow").detail("front", front.as_str()));
    strip_range(shared, log, &host, port, req.headers_mut());
    prepare(&mut req, (&host, port), 80);
    let connect = async {
        let tcp = connect_upstream(shared, addr).await?;
        log.record(log.event("upstream").detail("front", "http").detail("addr", addr.to_string()));
        handshake(TokioIo::new(tcp)).await
    };
    send(slot, req, connect).await.unwrap_or_else(|e| failed(log, addr, e, |reason| format!("the world's HTTP front at {addr} failed: {reason}")))
}

/// Why a forwarded request got no response.
#[derive(Debug)]
pub enum SendError {
    /// The client's own request body could not be read (e.g. malformed chunking).
    ClientBody(String),
    /// The front could not be reached or failed.
    Upstream(String),
}

/// The answer to a request that got no response, journaled: the client's bad body is the
/// client's 400 (`bad_request`), anything else the front's 502 (`upstream_failed`, its text
/// from `describe`).
pub fn failed(log: &ConnLog, addr: std::net::SocketAddr, e: SendError, describe: impl FnOnce(&str) -> String) -> Response<ProxyBody> {
    match e {
        SendError::ClientBody(reason) => {
            log.record(log.event("bad_request").detail("reason", reason.clone()).detail("status", 400));
            answer(Answer::new(400, reason))
        }
        SendError::Upstream(reason) => {
            log.record(log.event("upstream_failed").detail("addr", addr.to_string()).detail("error", reason.clone()));
            answer(Answer::new(502, describe(&reason)))
        }
    }
}

/// A send error of hyper's client: a user error with a cause is the request body the client
/// sent failing to read (hyper: "error from user's Body stream"); the rest is the front's.
fn classify(e: hyper::Error) -> SendError {
    let mut causes = Vec::new();
    let mut next = std::error::Error::source(&e);
    while let Some(c) = next {
        causes.push(c.to_string());
        next = c.source();
    }
    if e.is_user() && !causes.is_empty() {
        return SendError::ClientBody(format!("the client's request body could not be read: {}", causes.join(": ")));
    }
    SendError::Upstream(std::iter::once(e.to_string()).chain(causes).collect::<Vec<_>>().join(": "))
}

/// An HTTP/1.1 client connection over any stream, its driver spawned (it ends with the sender).
pub async fn handshake<T>(io: T) -> Result<SendRequest<Incoming>, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Send over the slot's connection, (re)connecting when it has none or it closed.
pub async fn send(
    slot: &Slot,
    req: Request<Incoming>,
    connect: impl Future<Output = Result<SendRequest<Incoming>, String>>,
) -> Result<Response<ProxyBody>, SendError> {
    let mut guard = slot.lock().await;
    if guard.as_ref().is_none_or(|s| s.is_closed()) {
        *guard = Some(connect.await.map_err(SendError::Upstream)?);
    }
    let sender = guard.as_mut().expect("just filled");
    sender.ready().await.map_err(|e| SendError::Upstream(e.to_string()))?;
    let mut res = sender.send_request(req).await.map_err(classify)?;
    remove_hop_by_hop(res.headers_mut());
    Ok(res.map(|b| b.boxed()))
}

/// A TCP connection to one of the world's fronts, bounded by the connect timeout.
pub async fn connect_upstream(shared: &Shared, addr: std::net::SocketAddr) -> Result<TcpStream, String> {
    let tcp = tokio::time::timeout(shared.limits.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// `Range` and `If-Range` removed when a `proxy.strip_range` fault selects the host (PRX-04).
pub fn strip_range(shared: &Shared, log: &ConnLog, host: &str, port: u16, headers: &mut HeaderMap) {
    if !shared.policy.strips_range(host, port) {
        return;
    }
    let removed = headers.remove(header::RANGE);
    headers.remove(header::IF_RANGE);
    if let Some(range) = removed {
        log.record(log.fired(ProxyFaultKind::StripRange).detail("range", String::from_utf8_lossy(range.as_bytes()).to_string()));
    }
}

/// Origin form, a `Host` naming the host the proxy decided on, no hop-by-hop headers, and the
/// proxy's `Via`. The decision was made on the request target (or the CONNECT authority), so
/// its authority replaces whatever `Host` the client sent: RFC 9112 §3.2.2 (a proxy forwarding
/// an absolute-form request MUST generate Host from the target). The client's `Host` reaching
/// the front would pick the service there and walk past a deny rule (issue 11, defect 2).
pub fn prepare(req: &mut Request<Incoming>, (host, port): (&str, u16), default_port: u16) {
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

fn remove_hop_by_hop(headers: &mut HeaderMap) {
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

/// The proxy's own answer as a hyper response.
pub fn answer(a: Answer) -> Response<ProxyBody> {
    let (body, content_type) = a.body();
    let mut res = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *res.status_mut() = StatusCode::from_u16(a.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&a.reason.replace(['\r', '\n'], " ")) {
        h.insert("x-memsim-reason", v);
    }
    for (name, value) in a.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.append(name, v);
        }
    }
    res
}
