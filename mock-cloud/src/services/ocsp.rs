//! OCSP responders (RFC 6960) at the CAs' `ocsp` URLs (data/pki.toml, seed 000's hosts:
//! ocsp.digicert.com, oneocsp.microsoft.com, ocsp.msocsp.com, root-c3-ca2-2009.ocsp.d-trust.net).
//! Appendix A.1: `POST` with an `application/ocsp-request` body, or `GET {url}/{url-encoded
//! base64 of the DER request}`; the answer is `application/ocsp-response`, an OCSP error status
//! included (`malformedRequest` for garbage). Real clients (CryptoAPI, `openssl ocsp`) send
//! HTTP/1.0: the front's hyper server speaks it.
//!
//! The answer itself (good / revoked / unknown, signed by the issuer) is built in
//! `pki/ocsp.rs`. Faults (tryLater, malformed, stale, slow) come from the layer in
//! `revocation.rs`, never from this handler.
//!
//! Dispatch is by hand, not by axum routes: a GET carries the request in the path itself, under
//! whatever path the CA's responder URL has (data, pki.toml).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};
use base64::Engine as _;
use scenarios::{Component, NewEvent, Service};

use super::AppState;
use super::revocation::{AsOf, Fired, RevocationState, fault_layer, host_of, ocsp_body};
use crate::pki::{self, OcspAnswer, split_url};

/// RFC 6960 Appendix C.1 and C.2.
pub const OCSP_REQUEST: &str = "application/ocsp-request";
pub const OCSP_RESPONSE: &str = "application/ocsp-response";
/// The largest POST body read. Real requests are about a hundred bytes (RFC 5019 §5).
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

pub fn router(app: &AppState) -> Router {
    with(app.revocation.clone())
}

/// The responder over its own substate (router tests build one directly).
pub(crate) fn with(state: RevocationState) -> Router {
    Router::new().fallback(handle).layer(middleware::from_fn_with_state((state.clone(), Service::Ocsp), fault_layer)).with_state(state)
}

/// What the responder answers at the HTTP level. OCSP's own errors (malformedRequest,
/// unauthorized, tryLater) are OCSP responses sent with 200 (RFC 6960 A.1), not these.
#[derive(Debug, thiserror::Error)]
pub enum OcspError {
    #[error("an OCSP responder takes GET or POST (RFC 6960 A.1)")]
    MethodNotAllowed,
    #[error("an OCSP request is a few hundred bytes at most")]
    TooLarge,
}

impl IntoResponse for OcspError {
    fn into_response(self) -> Response {
        let status = match self {
            OcspError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            OcspError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        };
        super::plain_error(status, self, "GET, POST")
    }
}

/// The DER request of a GET: the path after the responder URL's own path, URL-decoded, base64
/// (RFC 6960 A.1; some clients leave `+`, `/` and `=` unencoded, others send url-safe base64).
pub fn request_from_path(state: &RevocationState, host: &str, path: &str) -> Option<Vec<u8>> {
    let prefix = state
        .pki
        .cas()
        .iter()
        .filter_map(|c| split_url(&c.spec.ocsp))
        .filter(|(h, _)| h == host)
        .map(|(_, p)| p.trim_end_matches('/').to_string())
        .find(|p| !p.is_empty() && path.starts_with(&format!("{p}/")))
        .unwrap_or_default();
    let encoded = pki::percent_decode(path[prefix.len()..].trim_start_matches('/'));
    let engines = [base64::engine::general_purpose::STANDARD, base64::engine::general_purpose::URL_SAFE_NO_PAD];
    engines.iter().find_map(|e| e.decode(encoded.trim_end_matches('=')).ok().or_else(|| e.decode(&encoded).ok()))
}

async fn handle(State(state): State<RevocationState>, req: Request) -> Result<Response, OcspError> {
    let host = host_of(&req);
    let method = req.method().clone();
    let at = req.extensions().get::<AsOf>().map_or_else(|| state.journal.clock().now(), |a| a.0);
    let fired = req.extensions().get::<Fired>().map(|f| f.0);
    let path = req.uri().path().to_string();
    let request = match method {
        Method::POST => match axum::body::to_bytes(req.into_body(), MAX_REQUEST_BYTES).await {
            Ok(b) => Some(b.to_vec()),
            Err(_) => return Err(OcspError::TooLarge),
        },
        Method::GET => request_from_path(&state, &host, &path),
        _ => return Err(OcspError::MethodNotAllowed),
    };
    let answer = match &request {
        Some(der) => state.pki.ocsp_answer(der, &host, at),
        None => std::sync::Arc::new(pki::malformed_request()),
    };
    record(&state, &host, &method, &answer, fired);
    let mut res = ocsp_body(answer.der.clone());
    if method == Method::GET
        && let Some(next_update) = answer.next_update
    {
        // RFC 5019 §6.2: GET answers are cacheable until their nextUpdate.
        let max_age = (next_update - state.journal.clock().now()).whole_seconds().max(0);
        let value = format!("max-age={max_age}, public, no-transform, must-revalidate");
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_str(&value).expect("ascii"));
    }
    Ok(res)
}

fn record(state: &RevocationState, host: &str, method: &Method, answer: &OcspAnswer, fired: Option<scenarios::ServiceFaultKind>) {
    let mut event =
        NewEvent::new(Component::Pki, "ocsp_response").host(host).detail("method", method.as_str()).detail("response_status", answer.response_status);
    if let Some(ca) = &answer.ca {
        event = event.detail("ca", ca.clone());
    }
    if !answer.statuses.is_empty() {
        let statuses: Vec<serde_json::Value> = answer.statuses.iter().map(|(s, st)| serde_json::json!({"serial": s, "status": st})).collect();
        event = event.detail("certificates", statuses);
    }
    if let Some(f) = fired {
        event = event.fault(f);
    }
    state.journal.record(event);
}

#[cfg(test)]
#[path = "ocsp_tests.rs"]
mod tests;
