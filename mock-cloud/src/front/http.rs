//! The plain HTTP front (CRL and OCSP are plain HTTP; Windows discovery falls back to it).

use tokio::net::TcpListener;

use super::{Dispatch, Scheme, accept_loop, serve_http};

/// Accept HTTP/1.1 connections until the task is dropped.
pub async fn serve(listener: TcpListener, dispatch: Dispatch) {
    let journal = dispatch.journal().clone();
    accept_loop(listener, journal, move |tcp, _peer| {
        let dispatch = dispatch.clone();
        async move {
            serve_http(tcp, dispatch, Scheme::Http).await;
        }
    })
    .await
}
