//! The world's two fronts: one HTTPS listener (certificate by SNI) and one plain HTTP listener,
//! both dispatching by Host to the service routers. Hundreds of names cost two ports.

mod dispatch;
pub(crate) use dispatch::request_host;
pub mod http;
pub mod tls;

pub use dispatch::{Dispatch, Scheme};

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use scenarios::Journal;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long a client may take to finish a TLS handshake or send its request headers before the
/// front gives up on it (slowloris and half-open connections). Wall time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accept connections until the task is dropped. Each connection runs as its own task, marked
/// in the journal as in flight; dropping the loop drops every connection with it.
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, journal: Journal, handle: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            // Out of descriptors or a reset before accept: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while conns.try_join_next().is_some() {}
        let _ = tcp.set_nodelay(true);
        let activity = journal.begin();
        let connection = handle(tcp, peer);
        conns.spawn(async move {
            let _activity = activity;
            connection.await;
        });
    }
}

/// Serve HTTP/1.1 on one connection through the dispatcher; returns how many requests it saw.
pub(crate) async fn serve_http<I>(io: I, dispatch: Dispatch, scheme: Scheme) -> usize
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let svc = service_fn(move |req| {
        let dispatch = dispatch.clone();
        counter.fetch_add(1, Ordering::Relaxed);
        async move { dispatch.handle(req, scheme).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc)
        .await;
    requests.load(Ordering::Relaxed)
}
