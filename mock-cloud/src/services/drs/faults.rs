//! DRS's own service-fault layer (CONVENTIONS §5): the one seam where `service.drs_directory_error`
//! takes effect. It sets what the directory knows — "this device's object has not been synced
//! yet" ([`Unsynced`], a request extension) — and the join handler answers what DRS answers in
//! that state: 400 `DirectoryError`, "The device object by the given id (…) is not found."
//! (failure catalog ENR-03; dsregcmd shows it as Client ErrorCode 0x801c03f2). The response is
//! marked [`Fired`] for the front's journal entry. Generic faults come from `services::faults`.

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use scenarios::{Service, ServiceEffect, ServiceFaultKind};

use crate::services::AppState;
use crate::services::faults::Fired;

/// The directory has no object for the joining device yet (set by the fault layer).
#[derive(Debug, Clone, Copy)]
pub struct Unsynced;

/// A `DirectoryError` answer (set by the error's rendering), so the layer marks only those.
#[derive(Debug, Clone, Copy)]
pub struct DirectoryAnswer;

/// `router` behind DRS's own faults; unchanged when the scenario has none.
pub fn layer(router: Router, state: &AppState) -> Router {
    if !state.faults.iter().any(|f| matches!(f.effect, ServiceEffect::DrsDirectoryError {})) {
        return router;
    }
    router.layer(middleware::from_fn_with_state(state.clone(), apply))
}

async fn apply(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let clock = state.journal.clock();
    let elapsed = clock.to_sim(clock.wall_elapsed());
    let fires = state.faults.iter().any(|f| matches!(f.effect, ServiceEffect::DrsDirectoryError {}) && f.applies(Service::Drs, &host, elapsed));
    if !fires {
        return next.run(req).await;
    }
    req.extensions_mut().insert(Unsynced);
    let mut res = next.run(req).await;
    if res.extensions().get::<DirectoryAnswer>().is_some() {
        res.extensions_mut().insert(Fired(ServiceFaultKind::DrsDirectoryError));
    }
    res
}
