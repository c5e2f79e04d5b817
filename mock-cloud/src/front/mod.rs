//! The world's two fronts: one HTTPS listener (certificate by SNI) and one plain HTTP listener,
//! both dispatching by Host to the service routers. Hundreds of names cost two ports.
//!
//! Every listener here (the control endpoint's too) runs [`accept_loop`]: connections capped
//! at [`MAX_CONNECTIONS`], the ones turned away journaled (`http`/`turned_away`), and a panic
//! in any connection task or handler journaled as the world's failure (`world`/`panic`) the
//! moment it happens, never dropped silently (issues 10 and 11).

mod dispatch;
pub(crate) use dispatch::request_host;
pub mod h2;
pub mod http;
#[cfg(test)]
mod tests;
pub mod tls;

pub use dispatch::{Dispatch, PANIC_PATH, Scheme, shown_host};
pub use h2::Protocol;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use scenarios::{Component, Journal, NewEvent};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// How long a client may take to finish a TLS handshake or send its request headers before the
/// front gives up on it (slowloris and half-open connections). Wall time. The same limit holds
/// between requests on a kept-alive connection (hyper's header timer starts when it waits for a
/// request head), so it is the idle timeout too.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections one listener serves at once; past it a new connection is journaled and closed
/// (the HTTP front answers 503 first). Room for 10,000 held notification long-polls; memsim
/// raises its descriptor limit toward the hard limit at start so the cap, not the OS, decides.
pub const MAX_CONNECTIONS: usize = 16_384;

/// Which listener an accept loop serves: named in the journal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Listener {
    /// `the HTTPS front`, `the HTTP front`, `the control endpoint`.
    pub name: &'static str,
    pub scheme: Scheme,
}

/// The answer a full HTTP listener gives before it closes (a non-blocking write: no task).
const FULL_503: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 57\r\nconnection: close\r\n\r\nmemsim: the world is serving its maximum of connections\r\n";

/// Accept connections until the task is dropped. Each connection runs as its own task, marked
/// in the journal as in flight; dropping the loop drops every connection with it.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, journal: Journal, front: Listener, handle: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    accept_loop_capped(listener, journal, front, MAX_CONNECTIONS, handle).await
}

pub(crate) async fn accept_loop_capped<F, Fut>(listener: TcpListener, journal: Journal, front: Listener, cap: usize, handle: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    let slots = Arc::new(Semaphore::new(cap));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    journal.record_panic(front.name, &scenarios::journal::panic_message(&*e.into_panic()));
                }
                continue;
            }
        };
        let Ok((tcp, peer)) = accepted else {
            // Out of descriptors or a reset before accept: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if matches!(front.scheme, Scheme::Http) {
                let _ = tcp.try_write(FULL_503);
            }
            journal.record(
                NewEvent::new(Component::Http, "turned_away")
                    .detail("listener", front.name)
                    .detail("scheme", front.scheme.as_str())
                    .detail("peer", peer.to_string())
                    .detail("max_connections", cap),
            );
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let activity = journal.begin();
        // A panic is journaled inside the task, before its in-flight mark is released (see
        // `Journal::catching`); the `join_next` arm above is the backstop.
        let connection = journal.catching(front.name, handle(tcp, peer));
        conns.spawn(async move {
            let _held = (activity, permit);
            connection.await;
        });
    }
}

/// The certificate a client presented in the TLS handshake (leaf, DER), verified by the front
/// against the CA the service names (mutual TLS, `tls.rs`): a request extension on that
/// connection's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub Vec<u8>);

/// Serve HTTP/1.1 or h2 (as ALPN chose) on one connection through the dispatcher; returns how
/// many requests it saw. `client` is the connection's verified client certificate, if it
/// presented one.
pub(crate) async fn serve_http<I>(io: I, dispatch: Dispatch, scheme: Scheme, protocol: Protocol, client: Option<ClientCertificate>) -> usize
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let mut req = req.map(|body| h2::Drained::new(body, protocol));
        let dispatch = dispatch.clone();
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = &client {
            req.extensions_mut().insert(c.clone());
        }
        async move { dispatch.handle(req, scheme).await }
    });
    match protocol {
        Protocol::Http1 => {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(io), svc)
                .await;
        }
        Protocol::H2 => h2::serve(io, svc, HANDSHAKE_TIMEOUT).await,
    }
    requests.load(Ordering::Relaxed)
}
