//! The front door: the accept loop (bounded in connections), the first request head of each
//! connection, the dispatch to a tunnel (CONNECT) or to plain-HTTP forwarding, and [`admit`],
//! the sinkhole gate every request passes before any connection is made: an address that is
//! not one of the world's listeners, a name outside the emulated zones, a DNS failure or a
//! port the world does not serve is refused here, journaled, and never connected to.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::BytesMut;
use scenarios::{Component, NewEvent};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::conn::{Cause, ConnLog};
use super::head::{self, Target};
use super::resolve::{Front, ResolveError};
use super::respond::{self, Answer, echo};
use super::{Shared, http, tunnel};

/// Accept until the task is dropped; dropping it drops every connection task too.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    let slots = Arc::new(Semaphore::new(shared.limits.max_connections));
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            // Out of descriptors or a reset before accept: back off instead of spinning.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        while conns.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Full: say so without spending a task on it (a non-blocking write, then close),
            // and journal it as every connection is (issue 11).
            let answer = Answer::new(503, "the proxy is serving its maximum number of connections");
            let _ = tcp.try_write(&answer.to_bytes());
            shared.journal.record(
                NewEvent::new(Component::Proxy, "refused")
                    .detail("peer", peer.to_string())
                    .detail("status", answer.status)
                    .detail("refusal", "capacity")
                    .detail("reason", answer.reason)
                    .detail("max_connections", shared.limits.max_connections)
                    .detail("connect_attempted", false),
            );
            continue;
        };
        let shared = shared.clone();
        // A connection in flight is activity: the runner reads the journal once it has settled.
        let activity = shared.journal.begin();
        conns.spawn(async move {
            handle(tcp, peer, shared, permit).await;
            drop(activity);
        });
    }
}

async fn handle(mut tcp: TcpStream, peer: SocketAddr, shared: Arc<Shared>, slot: OwnedSemaphorePermit) {
    let _ = tcp.set_nodelay(true);
    let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let log = Arc::new(ConnLog::open(shared.journal.clone(), id, &peer.to_string(), Some(slot)));
    let mut buf = BytesMut::with_capacity(4096);
    let head = match head::read(&mut tcp, &mut buf, shared.limits.max_head_bytes, shared.limits.head_timeout).await {
        Ok(h) => h,
        Err(e) => {
            let status = e.status();
            log.record(log.event("bad_request").detail("reason", e.to_string()).detail("status", status));
            if let Some(s) = status {
                respond::send(&mut tcp, &Answer::new(s, e.to_string())).await;
            }
            return log.close(&Cause::ClientError(e.to_string()), buf.len() as u64, 0);
        }
    };
    match head::target(&head.method, &head.target) {
        Err((status, reason)) => {
            log.record(log.event("bad_request").detail("method", head.method.clone()).detail("reason", reason.clone()).detail("status", status));
            respond::send(&mut tcp, &Answer::new(status, reason)).await;
            log.close(&Cause::Answered, buf.len() as u64, 0);
        }
        Ok(Target::Connect { host, port }) => tunnel::handle(shared, log, tcp, head, buf, host, port).await,
        Ok(Target::Http { host, port }) => http::serve(shared, log, tcp, buf, host, port).await,
    }
}

/// Where a request may go: the world front for `host:port`, or the answer that refuses it.
/// Journals the refusal; never opens a connection.
pub async fn admit(shared: &Shared, log: &ConnLog, host: &str, port: u16) -> Result<(SocketAddr, Front), Answer> {
    let refused = |status: u16, kind: &str, reason: String| {
        log.record(
            log.event("refused")
                .detail("status", status)
                .detail("refusal", kind)
                .detail("reason", reason.clone())
                .detail("port", port)
                .detail("connect_attempted", false),
        );
        Answer::new(status, reason)
    };
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        // The world's own listeners by address (as `curl --connect-to` asks for them) are
        // the world's; every other address is not.
        let addr = SocketAddr::new(ip, port);
        for (front_addr, front) in [(shared.fronts.https, Front::Https), (shared.fronts.http, Front::Http)] {
            if addr == front_addr {
                return Ok((front_addr, front));
            }
        }
        let reason = format!("{host}:{port} is not one of this world's listeners, and memsim never connects beyond the world");
        return Err(refused(403, "address_literal", reason));
    }
    let ip = match shared.resolver.resolve(host).await {
        Ok(ip) => ip,
        Err(e @ ResolveError::NotEmulated(_)) => return Err(refused(502, "not_emulated", e.to_string())),
        Err(e @ ResolveError::Dns { .. }) => return Err(refused(502, "dns", e.to_string())),
    };
    shared.fronts.route(ip, port).map_err(|reason| refused(403, "sinkhole", format!("{}:{port}: {reason}", echo(host))))
}
