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

pub async fn handle(shared: Arc<Shared>, log: Arc<ConnLog>, client: TcpStream, head: Head, buf: BytesMut, host: String, port: u16) {
    let ask = Ask { method: "CONNECT", target: &head.target, host: &host, port, proxy_authorization: head.header("proxy-authorization"), transparent: false };
    relay(&shared, &log, client, &ask, &buf[head.len..]).await;
}

/// A TLS connection that reached a transparent listener (issue 19): decided on the host its
/// ClientHello names, then tunnelled as a CONNECT would be, without the `200` a CONNECT gets
/// (`pre` is the ClientHello itself).
pub async fn transparent(shared: Arc<Shared>, log: Arc<ConnLog>, client: TcpStream, pre: &[u8], host: String, port: u16) {
    let target = format!("{host}:{port}");
    let ask = Ask { method: super::decide::TLS, target: &target, host: &host, port, proxy_authorization: None, transparent: true };
    relay(&shared, &log, client, &ask, pre).await;
}

async fn relay(shared: &Arc<Shared>, log: &Arc<ConnLog>, mut client: TcpStream, ask: &Ask<'_>, pre: &[u8]) {
    let (host, port) = (ask.host.to_string(), ask.port);
    log.set_host(&host);
    let route = match decide(shared, log, ask).await {
        Decision::Refuse(r) => return refusal::on_stream(log, client, r, shared.limits.drop_hold).await,
        Decision::Forward(route) => route,
    };
    // A transparent client sent no CONNECT and waits for no answer to one.
    let established: &[u8] = if ask.transparent { b"" } else { ESTABLISHED };
    let ctl = Control::default();
    let pump = Pump { plan: &route.plan, ctl: &ctl, log, hold: shared.limits.drop_hold, served_here: false, splice: shared.limits.splice };
    let pumped = if !route.plan.reaches_upstream() {
        let _ = client.write_all(established).await;
        pump.run(client, pre, tokio::io::empty()).await
    } else if let Some(interception) = route.plan.interception() {
        let _ = client.write_all(established).await;
        inspect::serve(shared.clone(), log.clone(), client, pre, (host, port), route.addr, interception, &route.plan).await
    } else {
        let addr = route.addr;
        let upstream = match upstream::connect(shared, addr).await {
            Ok(s) => s,
            Err(e) => return upstream_failed(log, client, addr, e).await,
        };
        log.record(log.event("upstream").detail("front", route.front.as_str()).detail("addr", addr.to_string()));
        if let Err(e) = client.write_all(established).await {
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
