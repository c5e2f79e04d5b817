//! Plain HTTP forwarding (absolute-form `GET http://host/path`): the client connection runs
//! through the pump (so the connection faults of its first request's host apply) into hyper,
//! which parses each request; each is decided on ([`decide`]), refused in one place
//! ([`refusal::in_hyper`]) or passed through the request layer ([`request::prepare`]) to the
//! world's HTTP front in origin form over one reused upstream connection. It is not a cache,
//! and it does not accept CONNECT after a plain request on the same connection.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::BytesMut;
use hyper::body::Incoming;
use hyper::header;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::conn::{Cause, ConnLog, Control};
use super::decide::{Ask, Decision, decide};
use super::head::{self, Target};
use super::pump::Pump;
use super::refusal;
use super::request::{self, bad_request};
use super::respond::ProxyBody;
use super::shared::Shared;
use super::upstream::{self, Slot};

/// `transparent`: the client sent origin-form requests to port 80 as to the server itself
/// (issue 19); each request's host is its `Host` header's.
pub async fn serve(shared: Arc<Shared>, log: Arc<ConnLog>, client: TcpStream, buf: BytesMut, first: (String, u16), transparent: bool) {
    let (first_host, first_port) = first;
    log.set_host(&first_host);
    // Connection faults (delay, pace, cuts, idle limits) shape the client's TCP connection as a
    // whole, as a real proxy's per-connection settings do, so they are planned once, from the
    // first request's host: a later request on this keep-alive connection to another host keeps
    // them. The policy (deny, allow list, auth, status) is still decided per request, in
    // `forward` (test: `each_request_on_a_kept_alive_connection_is_decided_on_its_own_target`).
    let plan = shared.policy().plan(&first_host, first_port);
    let (near, far) = tokio::io::duplex(64 * 1024);
    let ctl = Arc::new(Control::default());
    let slot: Arc<Slot> = Arc::default();
    let (s, l, c) = (shared.clone(), log.clone(), ctl.clone());
    let svc = service_fn(move |req| {
        let (s, l, c, slot) = (s.clone(), l.clone(), c.clone(), slot.clone());
        async move { Ok::<_, Infallible>(forward(&s, &l, &c, &slot, req, transparent).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.keep_alive(&plan))
        .max_buf_size(shared.limits.max_head_bytes.max(8192))
        .serve_connection(TokioIo::new(far), svc);
    // Awaited by value, the connection (and `far` with it) is dropped the moment hyper ends,
    // so the pump reads the end and closes the client. Held past its end, it kept `far` open:
    // an idle keep-alive client whose header timer ran out stayed in CLOSE-WAIT with its slot
    // taken, and a later request was read by nobody (issue 11, defect 1). Not redundant,
    // whatever clippy says: pinning `conn` itself would keep it alive past its end.
    #[allow(clippy::redundant_async_block)]
    let server = async move { conn.await };
    let pump = Pump { plan: &plan, ctl: &ctl, log: &log, hold: shared.limits.drop_hold, served_here: true, splice: false };
    let pump = pump.run(client, &buf, near);
    tokio::pin!(pump, server);
    // The pump owns the client: when it ends, so does hyper; when hyper ends first (the client
    // asked to close, or sent no next request in time), the pump still delivers what hyper wrote.
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

async fn forward(shared: &Shared, log: &ConnLog, ctl: &Control, slot: &Slot, mut req: Request<Incoming>, transparent: bool) -> Response<ProxyBody> {
    let method = req.method().to_string();
    let mut uri = req.uri().to_string();
    if transparent && uri.starts_with('/') {
        match req.headers().get(header::HOST).and_then(|h| h.to_str().ok()) {
            Some(host) => uri = format!("http://{host}{uri}"),
            None => return bad_request(log, &method, 400, "a request without a Host header names no server".into()),
        }
    }
    let (host, port) = match head::target(&method, &uri) {
        Ok(Target::Http { host, port }) => (host, port),
        Ok(Target::Connect { .. }) => return bad_request(log, &method, 400, "send CONNECT as the first request of a new connection".into()),
        Err((status, reason)) => return bad_request(log, &method, status, reason),
    };
    log.set_host(&host);
    let auth = req.headers().get(header::PROXY_AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    let ask = Ask { method: &method, target: &uri, host: &host, port, proxy_authorization: auth.as_deref(), transparent };
    let route = match decide(shared, log, &ask).await {
        Decision::Refuse(r) => return refusal::in_hyper(ctl, r).await,
        Decision::Forward(route) => route,
    };
    if let Err(refused) = request::prepare(log, &route.plan, &mut req, (&host, port), 80) {
        return *refused;
    }
    let addr = route.addr;
    let connect = async {
        let tcp = upstream::connect(shared, addr).await?;
        log.record(log.event("upstream").detail("front", "http").detail("addr", addr.to_string()));
        upstream::handshake(&shared.journal, TokioIo::new(tcp)).await
    };
    upstream::send(slot, req, connect)
        .await
        .unwrap_or_else(|e| upstream::failed(log, addr, e, |reason| format!("the world's HTTP front at {addr} failed: {reason}")))
}
