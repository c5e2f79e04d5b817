//! CONNECT tunnels: the decision ([`decide`]: policy, then the sinkhole gate), a refusal applied
//! on the raw connection ([`refusal::on_stream`]), or the tunnel its plan calls for: nothing
//! upstream when a fault swallows everything, TLS inspection when the plan intercepts, else a
//! byte tunnel to the world's front through the pump.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::conn::{Cause, ConnLog, Control};
use super::decide::{Ask, Decision, decide};
use super::head::Head;
use super::inspect;
use super::pump::Pump;
use super::refusal;
use super::respond::{self, Answer};
use super::shared::Shared;
use super::upstream;

const ESTABLISHED: &[u8] = b"HTTP/1.1 200 Connection established\r\n\r\n";

pub async fn handle(shared: Arc<Shared>, log: Arc<ConnLog>, mut client: TcpStream, head: Head, buf: BytesMut, host: String, port: u16) {
    log.set_host(&host);
    let ask = Ask { method: "CONNECT", target: &head.target, host: &host, port, proxy_authorization: head.header("proxy-authorization") };
    let route = match decide(&shared, &log, &ask).await {
        Decision::Refuse(r) => return refusal::on_stream(&log, client, r, shared.limits.drop_hold).await,
        Decision::Forward(route) => route,
    };
    let pre = &buf[head.len..];
    let ctl = Control::default();
    let pump = Pump { plan: &route.plan, ctl: &ctl, log: &log, hold: shared.limits.drop_hold, served_here: false };
    let pumped = if !route.plan.reaches_upstream() {
        let _ = client.write_all(ESTABLISHED).await;
        pump.run(client, pre, tokio::io::empty()).await
    } else if let Some(interception) = route.plan.interception() {
        let _ = client.write_all(ESTABLISHED).await;
        inspect::serve(shared.clone(), log.clone(), client, pre, (host, port), route.addr, interception, &route.plan).await
    } else {
        let addr = route.addr;
        let upstream = match upstream::connect(&shared, addr).await {
            Ok(s) => s,
            Err(e) => return upstream_failed(&log, client, addr, e).await,
        };
        log.record(log.event("upstream").detail("front", route.front.as_str()).detail("addr", addr.to_string()));
        if let Err(e) = client.write_all(ESTABLISHED).await {
            return log.close(&Cause::ClientError(e.to_string()), 0, 0);
        }
        pump.run(client, pre, upstream).await
    };
    log.close(&pumped.cause, pumped.up, pumped.down);
}

async fn upstream_failed(log: &ConnLog, mut client: TcpStream, addr: std::net::SocketAddr, error: String) {
    log.record(log.event("upstream_failed").detail("addr", addr.to_string()).detail("error", error.clone()));
    respond::send(&mut client, &Answer::new(502, format!("the world's front at {addr} did not accept: {error}"))).await;
    log.close(&Cause::UpstreamError(error), 0, 0);
}
