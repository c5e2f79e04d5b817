//! The dashboard's guard, on every request: `Host` must name this listener (a page of another
//! site that a DNS rebinding points at 127.0.0.1 sends its own name, and is refused), and a
//! request that changes the world (any method but GET/HEAD) must carry the token written into
//! the page this listener served, and come from this listener's own origin when the browser
//! says where it comes from. Every answer carries a Content-Security-Policy that allows this
//! origin's script and style only: no inline script runs in the page, whatever a journal value
//! holds.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::json;

use super::{AppState, TOKEN_HEADER, reply};

const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The names a browser on this machine may use for the listener.
fn own_hosts(s: &AppState) -> [String; 3] {
    let port = s.addr.port();
    [s.addr.to_string(), format!("localhost:{port}"), format!("[::1]:{port}")]
}

fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let hosts = own_hosts(&s);
    if !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)) {
        return reply(StatusCode::MISDIRECTED_REQUEST, json!({"error": format!("this dashboard answers to http://{} only", s.addr)}));
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let ok = origin.to_str().ok().and_then(|o| o.strip_prefix("http://")).is_some_and(|o| hosts.iter().any(|h| h.eq_ignore_ascii_case(o)));
            if !ok {
                return reply(StatusCode::FORBIDDEN, json!({"error": "a request from another origin may not change this world"}));
            }
        }
        let token = req.headers().get(TOKEN_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !same_token(token, &s.token) {
            return reply(StatusCode::FORBIDDEN, json!({"error": format!("missing or wrong {TOKEN_HEADER}: reload the dashboard")}));
        }
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
