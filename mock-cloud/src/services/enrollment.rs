//! MS-MDE2 enrollment discovery (protocols.md §2): the `GET` probe a Windows client sends before
//! it POSTs its Discover request.
//!
//! Dispatch is by hand, not by axum routes: IIS ignores path case and Intune publishes the
//! lower-case URL, so the path is matched case-insensitively, which axum's router does not do.
//! Errors are plain text today; the SOAP Discover (MS-MDE2 §3.1.4.1) will add a SOAP fault
//! variant to [`DiscoveryError`], rendered in its `IntoResponse`.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;

/// MS-MDE2 §3.1.4.1: the discovery service endpoint.
pub const DISCOVERY_PATH: &str = "/EnrollmentServer/Discovery.svc";

pub fn router(_state: &AppState) -> Router {
    Router::new().fallback(handle)
}

/// What the discovery service refuses, in its own words.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no such endpoint on the enrollment discovery service")]
    NotFound,
    #[error("memsim serves the discovery probe (GET) only")]
    MethodNotAllowed,
}

impl IntoResponse for DiscoveryError {
    fn into_response(self) -> Response {
        let status = match self {
            DiscoveryError::NotFound => StatusCode::NOT_FOUND,
            DiscoveryError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        };
        super::plain_error(status, self, "GET, HEAD")
    }
}

async fn handle(req: Request) -> Result<Response, DiscoveryError> {
    if !req.uri().path().eq_ignore_ascii_case(DISCOVERY_PATH) {
        return Err(DiscoveryError::NotFound);
    }
    match *req.method() {
        // §2.1: 200 with an empty body (the docs show Content-Type text/html, Content-Length 0).
        Method::GET | Method::HEAD => {
            let mut res = StatusCode::OK.into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=UTF-8"));
            Ok(res)
        }
        _ => Err(DiscoveryError::MethodNotAllowed),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    async fn call(method: Method, path: &str) -> Response {
        let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        router(&crate::services::test_support::app_state()).oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn probe_answers_200_empty_in_any_case() {
        for path in ["/EnrollmentServer/Discovery.svc", "/enrollmentserver/discovery.svc"] {
            let res = call(Method::GET, path).await;
            assert_eq!(res.status(), StatusCode::OK);
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            assert!(body.is_empty());
        }
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused_properly() {
        assert_eq!(call(Method::GET, "/").await.status(), StatusCode::NOT_FOUND);
        let res = call(Method::DELETE, DISCOVERY_PATH).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
    }
}
