//! An emulated host that no service claims: it answers `/` so that a reachability check sees a
//! live HTTP(S) endpoint, and 404 elsewhere.

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ServiceState;

pub fn router(_state: ServiceState) -> Router {
    Router::new().fallback(handle)
}

async fn handle(req: Request) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(req.uri().host()).unwrap_or("this host").to_string();
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/") => (StatusCode::OK, format!("memsim: {host} is reachable\n")).into_response(),
        _ => (StatusCode::NOT_FOUND, format!("memsim: {host} emulates reachability only\n")).into_response(),
    }
}
