//! What the revocation responders (`crl.rs`, `ocsp.rs`) share: their state, the hosts they
//! answer on (derived from the CAs' URLs in `data/pki.toml`, which name seed 000's hosts), and
//! their service-fault layer.
//!
//! The fault layer is the one seam where the responders' own `service.*` faults take effect
//! (CONVENTIONS §5; the generic ones come from `faults.rs` like every service's): it
//! answers for the responder (`tryLater`, a broken answer, an error status), holds the answer
//! back (slow), or sets the simulated time the responder answers as of (stale: an answer issued
//! long enough ago that its nextUpdate has passed). Handlers only ever serve the happy path
//! "as of" the time the layer gives them.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use scenarios::{Component, Journal, NewEvent, Service, ServiceEffect, ServiceFault};
use time::OffsetDateTime;

use crate::pki::{self, Pki, PkiData, split_url};

/// The responders' state.
#[derive(Clone, Debug)]
pub struct RevocationState {
    pub pki: Arc<Pki>,
    pub journal: Journal,
    pub faults: Arc<[ServiceFault]>,
}

/// The simulated time a responder answers as of: now, unless a stale fault set it back.
#[derive(Debug, Clone, Copy)]
pub struct AsOf(pub OffsetDateTime);

/// The fault that shaped a passed-through answer, for the handler's journal event.
#[derive(Debug, Clone, Copy)]
pub struct Fired(pub scenarios::ServiceFaultKind);

/// Every CRL and OCSP responder host of the PKI data, with its service.
pub fn hosts(data: &PkiData) -> Vec<(String, Service)> {
    let crl = data.cas.iter().flat_map(|c| &c.crl).filter_map(|u| split_url(u)).map(|(h, _)| (h, Service::Crl));
    let ocsp = data.cas.iter().filter_map(|c| split_url(&c.ocsp)).map(|(h, _)| (h, Service::Ocsp));
    // CA certificates (AIA CA Issuers) are published like CRLs, by the same web servers.
    let certs = data.cas.iter().filter_map(|c| c.ca_issuers.as_deref().and_then(split_url)).map(|(h, _)| (h, Service::Crl));
    let mut all: Vec<(String, Service)> = crl.chain(ocsp).chain(certs).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup();
    all
}

/// The request's host, lower-case and without port (empty when it has none).
pub fn host_of(req: &Request) -> String {
    crate::front::request_host(req).unwrap_or_default()
}

/// What the responder sends for `service.ocsp_malformed`: an error page where DER belongs.
const NOT_DER: &[u8] = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n";

/// The service-fault layer of one kind of responder (use with `middleware::from_fn_with_state`).
pub async fn fault_layer(State((state, service)): State<(RevocationState, Service)>, mut req: Request, next: Next) -> Response {
    let host = host_of(&req);
    let clock = state.journal.clock();
    let now = clock.now();
    let elapsed = clock.to_sim(clock.wall_elapsed());
    let ours = service == Service::Ocsp || state.pki.crl_at(&host, req.uri().path()).is_some();
    let fault = state.faults.iter().find(|f| ours && !f.effect.is_generic() && f.applies(service, &host, elapsed));
    let mut as_of = now;
    if let Some(f) = fault {
        let event = |what: &str| NewEvent::new(Component::Pki, what).host(host.clone()).fault(f.kind()).detail("path", req.uri().path());
        match &f.effect {
            ServiceEffect::OcspTryLater {} => {
                state.journal.record(event("ocsp_response").detail("response_status", "try_later"));
                return ocsp_body(pki::try_later());
            }
            ServiceEffect::OcspMalformed {} => {
                state.journal.record(event("ocsp_response").detail("response_status", "not_der"));
                return ocsp_body(NOT_DER.to_vec());
            }
            ServiceEffect::CrlUnavailable { status } => {
                let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::NOT_FOUND);
                state.journal.record(event("crl_unavailable").detail("status", status.as_u16()));
                return (status, format!("memsim: no CRL is published at http://{host}{}\n", req.uri().path())).into_response();
            }
            ServiceEffect::OcspStale { since } => as_of = now - state.pki.revocation_times().ocsp_validity.0 - since.0,
            ServiceEffect::CrlStale { since } => as_of = now - state.pki.revocation_times().crl_validity.0 - since.0,
            ServiceEffect::OcspSlow { delay } | ServiceEffect::CrlSlow { delay } => {
                tokio::time::sleep(clock.to_wall(*delay)).await;
                as_of = clock.now();
            }
            // Generic effects are the composition's layer's (`faults.rs`).
            ServiceEffect::Status { .. } | ServiceEffect::Delay { .. } | ServiceEffect::Malformed {} | ServiceEffect::Close {} => {}
            // Another service's own (DRS's layer, `drs/faults.rs`): never selected here.
            ServiceEffect::DrsDirectoryError {} => {}
        }
        req.extensions_mut().insert(Fired(f.kind()));
    }
    req.extensions_mut().insert(AsOf(as_of));
    next.run(req).await
}

/// `200 application/ocsp-response`: OCSP errors travel as successful HTTP (RFC 6960 App. A.1).
pub fn ocsp_body(der: Vec<u8>) -> Response {
    let mut res = (StatusCode::OK, der).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(super::ocsp::OCSP_RESPONSE));
    res
}

/// A default world's responders, for router tests.
#[cfg(test)]
pub(crate) fn test_state(pki_faults: Vec<scenarios::PkiFault>, faults: Vec<ServiceFault>) -> RevocationState {
    super::test_support::app_state_with(OffsetDateTime::now_utc(), 1.0, pki_faults, faults).revocation
}
