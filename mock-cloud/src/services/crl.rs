//! CRL distribution points (RFC 5280 §4.2.1.13, §5): each CA's CRL, DER, at the URLs its
//! certificates name (`crl` in data/pki.toml, on seed 000's hosts: crl3/crl4.digicert.com,
//! crl.microsoft.com, www.microsoft.com/pkiops, www.d-trust.net), served over plain HTTP with
//! `Content-Type: application/pkix-crl` (RFC 5280 §4.2.1.13, RFC 2585 §4.2).
//!
//! The same web servers publish the CAs' own certificates at the AIA "CA Issuers" URLs their
//! certificates name (`ca_issuers` in data/pki.toml: cacerts.digicert.com,
//! www.microsoft.com/pkiops/certs …), DER with `Content-Type: application/pkix-cert` (RFC 2585
//! §4.1), from which a connected Windows client downloads an intermediate a server left out
//! (issue 16); each download is journaled as `pki`/`ca_cert_served`.
//!
//! Other paths on these hosts get the generic service (reachability, 404). Faults (stale,
//! unavailable, slow) come from the layer in `revocation.rs`, never from this handler.
//!
//! Dispatch is by hand, not by axum routes: a CRL's path is data (the URLs in pki.toml, one set
//! per host), and everything else on the host falls through to the generic service.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Router, middleware};
use scenarios::{Component, NewEvent, Service};
use tower::ServiceExt;

use super::AppState;
use super::revocation::{AsOf, Fired, RevocationState, fault_layer, host_of};

/// RFC 2585 §4.2: the media type of a DER CRL.
pub const PKIX_CRL: &str = "application/pkix-crl";
/// RFC 2585 §4.1: the media type of a DER certificate.
pub const PKIX_CERT: &str = "application/pkix-cert";

/// The CA whose certificate is published at `http://host/path` (its `ca_issuers` URL), compared
/// as IIS compares paths (decoded, case-insensitive). Shadow copies publish none.
fn ca_cert_at(pki: &crate::pki::Pki, host: &str, path: &str) -> Option<usize> {
    let want = crate::pki::percent_decode(path);
    pki.cas().iter().position(|ca| {
        !ca.shadow
            && ca
                .spec
                .ca_issuers
                .as_deref()
                .and_then(crate::pki::split_url)
                .is_some_and(|(h, p)| h == host && crate::pki::percent_decode(&p).eq_ignore_ascii_case(&want))
    })
}

/// A CA's certificate, DER, as its web server publishes it.
fn serve_ca_cert(state: &RevocationState, host: String, path: &str, ca: usize) -> Response {
    let cert = &state.pki.cas()[ca];
    state.journal.record(NewEvent::new(Component::Pki, "ca_cert_served").host(host).detail("path", path).detail("ca", cert.spec.id.clone()));
    let mut res = (StatusCode::OK, cert.der.to_vec()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PKIX_CERT));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400"));
    res
}

pub fn router(app: &AppState) -> Router {
    with(app.revocation.clone())
}

/// The responder over its own substate (router tests build one directly).
pub(crate) fn with(state: RevocationState) -> Router {
    Router::new().fallback(handle).layer(middleware::from_fn_with_state((state.clone(), Service::Crl), fault_layer)).with_state(state)
}

/// What a CRL distribution point answers when it cannot serve the CRL: plain text, as a web
/// server in front of a CRL file does.
#[derive(Debug, thiserror::Error)]
pub enum CrlError {
    #[error("a CRL distribution point serves GET")]
    MethodNotAllowed,
    #[error("memsim: CRL generation failed: {0}")]
    Generation(String),
}

impl IntoResponse for CrlError {
    fn into_response(self) -> Response {
        let status = match self {
            CrlError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            CrlError::Generation(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        super::plain_error(status, self, "GET, HEAD")
    }
}

async fn handle(State(state): State<RevocationState>, req: Request) -> Result<Response, CrlError> {
    let host = host_of(&req);
    let Some(ca) = state.pki.crl_at(&host, req.uri().path()) else {
        if let Some(ca) = ca_cert_at(&state.pki, &host, req.uri().path()) {
            if !matches!(*req.method(), Method::GET | Method::HEAD) {
                return Err(CrlError::MethodNotAllowed);
            }
            return Ok(serve_ca_cert(&state, host, req.uri().path(), ca));
        }
        return Ok(super::generic::fallback().oneshot(req).await.unwrap_or_else(|e| match e {}));
    };
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(CrlError::MethodNotAllowed);
    }
    let now = state.journal.clock().now();
    let at = req.extensions().get::<AsOf>().map_or(now, |a| a.0);
    let crl = state.pki.crl(ca, at).map_err(|e| CrlError::Generation(e.to_string()))?;
    let mut event = NewEvent::new(Component::Pki, "crl_served")
        .host(host)
        .detail("path", req.uri().path())
        .detail("ca", state.pki.cas()[ca].spec.id.clone())
        .detail("crl_number", crl.number)
        .detail("revoked", crl.revoked.clone())
        .detail("this_update", crl.this_update.unix_timestamp())
        .detail("next_update", crl.next_update.unix_timestamp());
    if let Some(f) = req.extensions().get::<Fired>() {
        event = event.fault(f.0);
    }
    state.journal.record(event);
    // Caches may keep it until the next CRL is due (RFC 5019 §6.2 applies the same to OCSP).
    let max_age = (crl.next_update - now).whole_seconds().max(0);
    let mut res = (StatusCode::OK, crl.der.clone()).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PKIX_CRL));
    h.insert(header::ETAG, HeaderValue::from_str(&format!("\"{}\"", crl.number)).expect("digits"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_str(&format!("public, max-age={max_age}")).expect("digits"));
    Ok(res)
}

#[cfg(test)]
#[path = "crl_tests.rs"]
mod tests;
