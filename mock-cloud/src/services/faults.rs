//! The generic service-fault layer: the one seam where `service.status`, `service.delay`,
//! `service.malformed` and `service.close` take effect, for every service alike
//! (CONVENTIONS §5). The composition (`services::routers`) puts it in front of each router; no
//! service has a line of its own for it, and a service added tomorrow gets it too.
//!
//! Read it top to bottom: select (the first generic fault in scenario order whose target covers
//! the service and the request's host, and whose window holds the simulated now), then apply.
//! A fault that fires marks the response with [`Fired`]: the front journals the exchange with
//! the fault's kind, and for `service.close` drops the connection instead of answering.
//! Service-specific effects (OCSP tryLater, stale CRLs …) are not here: their own service's
//! layer interprets them (`revocation.rs`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use scenarios::{Clock, Service, ServiceEffect, ServiceFault, ServiceFaultKind};

use super::AppState;

/// A response shaped by a service fault, for the front's journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired(pub ServiceFaultKind);

impl Fired {
    /// The front must close the connection instead of sending this response.
    pub fn closes(self) -> bool {
        self.0 == ServiceFaultKind::Close
    }
}

/// The status the journal shows for an exchange that `service.close` ended without an answer:
/// nginx's 444, "connection closed without response". It never goes on the wire.
pub const CLOSED: StatusCode = match StatusCode::from_u16(444) {
    Ok(s) => s,
    Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
};

/// What `service.malformed` sends in place of the service's body: bytes that are no JSON, no
/// XML, no DER and not even UTF-8, whatever the content type announces.
pub const MALFORMED: &[u8] = b"\xff\xfe\x00memsim: service.malformed: not the body the content type announces\x00\xff";

#[derive(Debug, Clone)]
struct Layer {
    service: Service,
    faults: Arc<[ServiceFault]>,
    clock: Clock,
}

/// `router` behind the generic faults that can hit `service`; unchanged when none can (a
/// healthy world pays nothing for this layer).
pub fn layer(router: Router, service: Service, state: &AppState) -> Router {
    let faults: Vec<ServiceFault> = state.faults.iter().filter(|f| f.effect.is_generic() && f.service().is_none_or(|s| s == service)).cloned().collect();
    if faults.is_empty() {
        return router;
    }
    let layer = Layer { service, faults: faults.into(), clock: *state.journal.clock() };
    router.layer(middleware::from_fn_with_state(layer, apply))
}

async fn apply(State(layer): State<Layer>, req: Request, next: Next) -> Response {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let elapsed = layer.clock.to_sim(layer.clock.wall_elapsed());
    let Some(fault) = layer.faults.iter().find(|f| f.applies(layer.service, &host, elapsed)) else {
        return next.run(req).await;
    };
    let mut res = match &fault.effect {
        ServiceEffect::Status { status } => status_answer(*status),
        ServiceEffect::Delay { delay } => {
            tokio::time::sleep(layer.clock.to_wall(*delay)).await;
            next.run(req).await
        }
        ServiceEffect::Malformed {} => malformed(next.run(req).await),
        ServiceEffect::Close {} => CLOSED.into_response(),
        // Service-specific effects never reach this layer (see `layer`).
        _ => return next.run(req).await,
    };
    res.extensions_mut().insert(Fired(fault.kind()));
    res
}

/// What a front end answers for a service that is down: the status and its reason, plain text.
fn status_answer(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let reason = status.canonical_reason().unwrap_or("Error");
    (status, format!("memsim: {} {reason}\n", status.as_u16())).into_response()
}

/// The service's own status and headers around a body that is not what they announce.
fn malformed(res: Response) -> Response {
    let (mut parts, _) = res.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_RANGE);
    if !parts.headers.contains_key(header::CONTENT_TYPE) {
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Response::from_parts(parts, Body::from(MALFORMED))
}

#[cfg(test)]
mod tests;
