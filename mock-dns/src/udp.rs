//! The UDP transport: one task reads datagrams and answers each in place, through the same
//! pipeline as TCP and DoH.
//!
//! Why not hickory's `Server` for UDP, as for TCP: it spawns a task per datagram and sends
//! every answer through a channel to another task, two cross-thread wake-ups per query; on
//! the 2-core machines memsim runs on that was most of the cost (bench/RESULTS.md). Here an
//! answer that is ready at once (every answer but a `dns.delay` fault's) is sent by the
//! reading task; one that must wait gets a task of its own, so a delay never holds up others.
//! The DNS messages themselves are still parsed and built by hickory (see `pipeline`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Waker};

use tokio::net::UdpSocket;

use crate::answer::Transport;
use crate::pipeline::Pipeline;

/// Largest datagram a client may send (RFC 6891 §6.2.5 lets EDNS ask for up to 65535).
const MAX_DATAGRAM: usize = 65_535;

pub(crate) async fn serve(socket: UdpSocket, pipeline: Pipeline) {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, src) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            // ICMP errors from earlier sends (a client that went away) surface here: go on.
            Err(_) => continue,
        };
        // As hickory's server: never answer an address that cannot be answered.
        if src.port() == 0 || src.ip().is_unspecified() {
            continue;
        }
        let mut answer = Box::pin(answer(pipeline.clone(), socket.clone(), buf[..n].to_vec(), src));
        // Poll once here; only an answer that waits (a delay fault) gets its own task.
        if answer.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending() {
            tokio::spawn(answer);
        }
    }
}

async fn answer(pipeline: Pipeline, socket: Arc<UdpSocket>, raw: Vec<u8>, src: SocketAddr) {
    if let Some(bytes) = pipeline.answer_bytes(raw, src, Transport::Udp).await {
        // A full send buffer is the only reason to wait here; a failed send is a lost
        // datagram, which UDP clients retry.
        let _ = socket.send_to(&bytes, src).await;
    }
}
