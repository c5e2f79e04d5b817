//! Entra device registration (DRS) on `enterpriseregistration.windows.net` (protocols.md §6;
//! himmelblau-idm/aad-join-spec): the Discover document ([`discover`]), the nonce service, device
//! join and key provisioning ([`join`]). Every endpoint the Discover document names points inside
//! the world, so a client that follows it (libhimmelblau, dsregcmd) never leaves it.
//!
//! Dispatch is by hand: DRS is an IIS service and its paths are matched without regard to case
//! (`/contoso.com/Discover` = `/contoso.com/discover`), which axum's router does not do. Discover
//! and nonce take a bearer token if sent but do not need one (aad-join-spec §3.1, §3.2 list no
//! Authorization header); join and key provisioning need one for the DRS resource.
//!
//! memsim's own: the error body's member names ([`error`]), the nonce's format (an opaque random
//! base64 value; the real one is an encrypted JWT), the device certificate's lifetime and its
//! revocation pointers (data/devices.toml, data/pki.toml).

mod discover;
pub mod error;
pub mod faults;
mod join;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::response::Response;

pub use error::DrsError;

use super::AppState;

/// The path prefix of the nonce, join and key services (aad-join-spec §3.1).
pub const ENROLLMENT_SERVER: &str = "/EnrollmentServer";

pub fn router(state: &AppState) -> Router {
    faults::layer(Router::new().fallback(handle).with_state(state.clone()), state)
}

/// A DRS time as the nonce answer prints it: `10/12/2023 3:05:30 PM` (aad-join-spec §3.2).
pub fn drs_time(t: time::OffsetDateTime) -> String {
    let (h, pm) = match t.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!("{}/{}/{} {}:{:02}:{:02} {}", u8::from(t.month()), t.day(), t.year(), h, t.minute(), t.second(), pm)
}

/// The `api-version` query parameter, if any.
fn api_version(req: &Request) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        k.eq_ignore_ascii_case("api-version").then(|| v.to_string())
    })
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    route(&state, req).await.unwrap_or_else(|e| e.response_at(state.journal.clock().now()))
}

async fn route(state: &AppState, req: Request) -> Result<Response, DrsError> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let needs_version = |req: &Request| api_version(req).ok_or(DrsError::NoApiVersion);
    match (lower.as_slice(), method) {
        // The root answers, as a reachability check (dsregcmd's "DRS Connectivity Test", the
        // `registration` probe, a scenario's target) expects of a live service. memsim's own body.
        ([], Method::GET | Method::HEAD) => Ok(crate::services::json_input::json(
            axum::http::StatusCode::OK,
            &serde_json::json!({ "Service": "DeviceRegistrationService", "DiscoveryPath": "/<tenant id or domain>/Discover?api-version=1.9" }),
        )),
        ([], _) => Err(DrsError::MethodNotAllowed("GET, HEAD")),
        ([_, "discover"], Method::GET) => {
            needs_version(&req)?;
            discover::discover(state, segments[0]).await
        }
        (["enrollmentserver", "nonce", _], Method::GET) => {
            needs_version(&req)?;
            discover::nonce(state, segments[2]).await
        }
        (["enrollmentserver", "device"], Method::POST) => {
            needs_version(&req)?;
            join::join(state, req).await
        }
        (["enrollmentserver", "key"], Method::POST) => {
            needs_version(&req)?;
            join::provision_key(state, req).await
        }
        ([_, "discover"] | ["enrollmentserver", "nonce", _], _) => Err(DrsError::MethodNotAllowed("GET")),
        (["enrollmentserver", "device" | "key"], _) => Err(DrsError::MethodNotAllowed("POST")),
        _ => Err(DrsError::NotFound(error_path(&path))),
    }
}

/// A path as an error message may repeat it: at most 200 characters.
fn error_path(path: &str) -> String {
    path.chars().take(200).collect()
}

#[cfg(test)]
mod tests;
