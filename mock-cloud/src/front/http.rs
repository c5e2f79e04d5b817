//! The plain HTTP front (CRL and OCSP are plain HTTP; Windows discovery falls back to it).

use tokio::net::TcpListener;

use super::{Dispatch, Listener, Protocol, Scheme, accept_loop, serve_http};

/// Accept HTTP/1.1 connections until the task is dropped.
pub async fn serve(listener: TcpListener, dispatch: Dispatch) {
    let journal = dispatch.journal().clone();
    accept_loop(listener, journal, Listener { name: "the HTTP front", scheme: Scheme::Http }, move |tcp, _peer| {
        let dispatch = dispatch.clone();
        async move {
            serve_http(tcp, dispatch, Scheme::Http, Protocol::Http1, None).await;
        }
    })
    .await
}
