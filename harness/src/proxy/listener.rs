//! The front door: the accept loop (bounded in connections: one past the cap gets 503 and a
//! journal entry), the first request head of each connection (bad heads answered here), and
//! the dispatch to a tunnel (CONNECT) or to plain-HTTP forwarding. It decides nothing about
//! where requests go: [`super::decide`] does, for both.

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
use super::respond::{self, Answer};
use super::shared::Shared;
use super::{http, tunnel};

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
        // A panic is the world's failure, journaled before the slot and the mark go (issue 10).
        let connection = shared.journal.clone().catching("the proxy", handle(tcp, peer, shared, permit));
        conns.spawn(async move {
            connection.await;
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
        Ok(Target::Http { host, port }) => http::serve(shared, log, tcp, buf, (host, port), false).await,
    }
}
