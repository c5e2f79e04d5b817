//! The plain HTTP front (CRL and OCSP are plain HTTP; Windows discovery falls back to it).

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{Dispatch, Scheme, HANDSHAKE_TIMEOUT};

/// Accept HTTP/1.1 connections until the task is dropped.
pub async fn serve(listener: TcpListener, dispatch: Dispatch) {
    let mut conns = JoinSet::new();
    loop {
        let Ok((tcp, _peer)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        while conns.try_join_next().is_some() {}
        let dispatch = dispatch.clone();
        let activity = dispatch.journal().begin();
        conns.spawn(async move {
            let _activity = activity;
            let _ = tcp.set_nodelay(true);
            let svc = service_fn(move |req| {
                let dispatch = dispatch.clone();
                async move { dispatch.handle(req, Scheme::Http).await }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}
