//! MS-MDE2 enrollment discovery (protocols.md §2): the `GET` probe a Windows client sends before
//! it POSTs its Discover request. IIS ignores path case and Intune publishes the lower-case URL,
//! so the path is matched case-insensitively.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ServiceState;

/// MS-MDE2 §3.1.4.1: the discovery service endpoint.
pub const DISCOVERY_PATH: &str = "/EnrollmentServer/Discovery.svc";

pub fn router(_state: ServiceState) -> Router {
    Router::new().fallback(handle)
}

async fn handle(req: Request) -> Response {
    if !req.uri().path().eq_ignore_ascii_case(DISCOVERY_PATH) {
        return (StatusCode::NOT_FOUND, "no such endpoint on the enrollment discovery service\n").into_response();
    }
    match *req.method() {
        // §2.1: 200 with an empty body (the docs show Content-Type text/html, Content-Length 0).
        Method::GET | Method::HEAD => {
            let mut res = StatusCode::OK.into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=UTF-8"));
            res
        }
        _ => {
            let mut res = (StatusCode::METHOD_NOT_ALLOWED, "memsim serves the discovery probe (GET) only\n").into_response();
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    fn state() -> ServiceState {
        let clock = scenarios::Clock::new(time::OffsetDateTime::now_utc(), 1.0);
        ServiceState { world: Default::default(), journal: scenarios::Journal::new(clock) }
    }

    async fn call(method: Method, path: &str) -> Response {
        let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        router(state()).oneshot(req).await.unwrap()
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
