//! CONNECT tunnels: policy (authentication, allow-list, deny, injected status), the sinkhole
//! gate, then either TLS inspection or a plain byte tunnel to the world's front through the
//! pump. Also how the proxy refuses in each block style (page, reset, silence), shared with
//! plain-HTTP forwarding.

use std::sync::Arc;

use bytes::BytesMut;
use scenarios::ProxyFaultKind;
use scenarios::{BlockStyle, CloseMethod};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::conn::{Cause, ConnLog, Control};
use super::head::Head;
use super::listener::admit;
use super::respond::{self, Answer};
use super::rules::{Plan, Refusal};
use super::{Shared, inspect, pump};

const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

pub async fn handle(shared: Arc<Shared>, log: Arc<ConnLog>, mut client: TcpStream, head: Head, buf: BytesMut, host: String, port: u16) {
    log.set_host(&host);
    let request = |decision: &str| {
        log.event("request").detail("method", "CONNECT").detail("target", head.target.clone()).detail("port", port).detail("decision", decision)
    };
    if let Some(refusal) = shared.policy.check(&host, port, head.header("proxy-authorization")) {
        log.record(request(refusal.fault.event()));
        return refuse(&shared, &log, client, refusal).await;
    }
    let (addr, front) = match admit(&shared, &log, &host, port).await {
        Ok(route) => route,
        Err(answer) => {
            log.record(request("refused"));
            respond::send(&mut client, &answer).await;
            return log.close(&Cause::Answered, 0, 0);
        }
    };
    let plan = shared.policy.plan(&host, port);
    let inspection = (front == super::Front::Https).then(|| shared.policy.inspection(&host, port)).flatten();
    log.record(
        request("allow")
            .detail("front", front.as_str())
            .detail("faults", plan.faults.iter().map(|k| k.name()).collect::<Vec<_>>())
            .detail("inspected", inspection.is_some()),
    );
    record_shaping(&log, &plan);
    let pre = &buf[head.len..];
    let ctl = Control::default();
    let hold = shared.limits.drop_hold;
    let pumped = if plan.timeout.is_some() {
        let _ = client.write_all(ESTABLISHED).await;
        pump::run(client, pre, tokio::io::empty(), &plan, &ctl, &log, hold, false).await
    } else if let Some(ca) = inspection {
        let _ = client.write_all(ESTABLISHED).await;
        inspect::serve(shared.clone(), log.clone(), client, pre, (host, port), addr, ca, plan).await
    } else {
        let upstream = match super::http::connect_upstream(&shared, addr).await {
            Ok(s) => s,
            Err(e) => return upstream_failed(&log, client, addr, e).await,
        };
        log.record(log.event("upstream").detail("front", front.as_str()).detail("addr", addr.to_string()));
        if let Err(e) = client.write_all(ESTABLISHED).await {
            return log.close(&Cause::ClientError(e.to_string()), 0, 0);
        }
        pump::run(client, pre, upstream, &plan, &ctl, &log, hold, false).await
    };
    log.close(&pumped.cause, pumped.up, pumped.down);
}

async fn upstream_failed(log: &ConnLog, mut client: TcpStream, addr: std::net::SocketAddr, error: String) {
    log.record(log.event("upstream_failed").detail("addr", addr.to_string()).detail("error", error.clone()));
    respond::send(&mut client, &Answer::new(502, format!("the world's front at {addr} did not accept: {error}"))).await;
    log.close(&Cause::UpstreamError(error), 0, 0);
}

/// A scenario value as the scenario file writes it (e.g. `downstream`, `reset`).
fn as_written(v: impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Shaping faults fire when a connection starts carrying them.
pub fn record_shaping(log: &ConnLog, plan: &Plan) {
    if let Some((wall, d)) = plan.latency {
        log.record(log.fired(ProxyFaultKind::Latency).detail("wall_ms", wall.as_secs_f64() * 1000.0).detail("direction", as_written(d)));
    }
    if let Some((rate, d)) = plan.bandwidth {
        log.record(log.fired(ProxyFaultKind::Bandwidth).detail("wall_bytes_per_s", rate).detail("direction", as_written(d)));
    }
}

/// Refuse a request on a raw connection in the fault's block style, journal it, close.
pub async fn refuse(shared: &Shared, log: &ConnLog, mut client: TcpStream, refusal: Refusal) {
    log.record(
        log.fired(refusal.fault)
            .detail("status", refusal.answer.status)
            .detail("block", as_written(refusal.block))
            .detail("reason", refusal.answer.reason.clone()),
    );
    let cut = |close| Cause::Fault { kind: refusal.fault, close };
    match refusal.block {
        BlockStyle::Page => {
            respond::send(&mut client, &refusal.answer).await;
            log.close(&Cause::Answered, 0, 0);
        }
        BlockStyle::Reset => {
            respond::reset(client);
            log.close(&cut(CloseMethod::Rst), 0, 0);
        }
        BlockStyle::Drop => {
            let discarded = respond::silence(&mut client, shared.limits.drop_hold).await;
            log.close(&cut(CloseMethod::Drop), discarded, 0);
        }
    }
}
