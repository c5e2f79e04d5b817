//! An emulated host that no service claims: it answers `/` so that a reachability check sees a
//! live HTTP(S) endpoint, and 404 elsewhere. Plain text, as a bare web server answers.
//!
//! One fallback handler rather than routes: every path and method of every unclaimed host lands
//! here, and only `GET /` (and `HEAD /`) differs.

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

pub fn router(_state: &AppState) -> Router {
    fallback()
}

/// The generic service needs no state: the responders' hosts fall back to it too.
pub fn fallback() -> Router {
    Router::new().fallback(handle)
}

/// What the generic service refuses: anything but its root.
#[derive(Debug, thiserror::Error)]
pub enum GenericError {
    #[error("memsim: {0} emulates reachability only")]
    NotFound(String),
}

impl IntoResponse for GenericError {
    fn into_response(self) -> Response {
        (StatusCode::NOT_FOUND, format!("{self}\n")).into_response()
    }
}

/// The generic answer for `req`: a service that claims a host keeps its reachability (`GET /`)
/// by handing it what it does not serve itself.
pub async fn answer(req: Request) -> Response {
    handle(req).await.into_response()
}

async fn handle(req: Request) -> Result<Response, GenericError> {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(req.uri().host()).unwrap_or("this host").to_string();
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/") => Ok((StatusCode::OK, format!("memsim: {host} is reachable\n")).into_response()),
        _ => Err(GenericError::NotFound(host)),
    }
}
