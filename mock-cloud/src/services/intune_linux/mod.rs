//! Intune for Linux on the tenant's front end `fef.<scale-unit>.manage.microsoft.com`
//! (protocols.md §7; himmelblau-idm/intune-spec; libhimmelblau `intune.rs`): enroll
//! (LinuxEnrollmentService), details, policies and status (LinuxDeviceCheckinService), and the
//! IWService compliance query. The paths are data (data/devices.toml), the same ones Graph's
//! endpoints document hands out ([`super::graph`]).
//!
//! Each call needs a bearer token for its resource (enroll: Intune Enrollment; check-in: Intune;
//! compliance: IWService) and `api-version`. Errors are JSON: OData's error object
//! (`{"error":{"code","message"}}`), memsim's choice — intune-spec gives the statuses (400 for a
//! missing field, 401 for an unknown device or a bad token, 400 `Device validation failed` on
//! status) but no error body, and libhimmelblau only reads the status.

mod checkin;
mod enroll;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::{Component, NewEvent, Service};

use super::AppState;
use super::bearer::BearerError;
use super::json_input::InputError;
use crate::pki::CsrError;

pub fn router(state: &AppState) -> Router {
    Router::new().fallback(handle).with_state(state.clone())
}

/// Why Intune for Linux refused a request.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    #[error("no such resource: {0}")]
    NotFound(String),
    #[error("this resource takes {0} only")]
    MethodNotAllowed(&'static str),
    #[error("the request has no `api-version` query parameter")]
    NoApiVersion,
    #[error("{0}")]
    Unauthorized(#[from] BearerError),
    #[error("the device `{0}` is not enrolled")]
    UnknownDevice(String),
    #[error("Device validation failed")]
    DeviceValidation,
    #[error("{0}")]
    Input(#[from] InputError),
    #[error("the certificate signing request is invalid: {0}")]
    Csr(#[from] CsrError),
    #[error("the certificate signing request is refused: {0}")]
    CsrRefused(String),
    #[error("the device certificate could not be issued: {0}")]
    Issue(String),
}

impl LinuxError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            LinuxError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            LinuxError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
            LinuxError::NoApiVersion => (StatusCode::BAD_REQUEST, "BadRequest"),
            LinuxError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            LinuxError::UnknownDevice(_) => (StatusCode::UNAUTHORIZED, "DeviceNotFound"),
            LinuxError::DeviceValidation => (StatusCode::BAD_REQUEST, "DeviceValidationFailed"),
            LinuxError::Input(InputError::TooLarge) => (StatusCode::PAYLOAD_TOO_LARGE, "BadRequest"),
            LinuxError::Input(_) | LinuxError::Csr(_) | LinuxError::CsrRefused(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            LinuxError::Issue(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        }
    }
}

impl IntoResponse for LinuxError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let allow = if let LinuxError::MethodNotAllowed(m) = self { Some(m) } else { None };
        let mut res = super::json_input::json(status, &serde_json::json!({ "error": { "code": code, "message": self.to_string() } }));
        if let Some(m) = allow {
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(m));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Journal a refused request body (the exchange itself is journaled by the front).
pub(crate) fn refused(state: &AppState, host: &str, why: &dyn std::fmt::Display) {
    state
        .journal
        .record(NewEvent::new(Component::Http, "bad_request").host(host).detail("service", Service::IntuneLinux.as_str()).detail("reason", why.to_string()));
}

fn has_api_version(req: &Request) -> bool {
    req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv.split('=').next().is_some_and(|k| k.eq_ignore_ascii_case("api-version"))))
}

/// The rest of `path` below `prefix`, compared without regard to case.
fn below<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let head = path.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &path[prefix.len()..]).filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

async fn handle(State(state): State<AppState>, req: Request) -> Result<Response, LinuxError> {
    let linux = &state.catalog.devices.intune_linux;
    let path = req.uri().path().to_string();
    let not_found = || LinuxError::NotFound(path.chars().take(200).collect());
    let (enroll, checkin, iw) = (below(&path, &linux.enrollment_path), below(&path, &linux.checkin_path), below(&path, &linux.iw_path));
    let method = req.method().clone();
    let route = match (enroll, checkin, iw) {
        (Some(r), _, _) if r.eq_ignore_ascii_case("/enroll") => Route::Enroll,
        (_, Some(r), _) if r.eq_ignore_ascii_case("/details") => Route::Details,
        (_, Some(r), _) if r.eq_ignore_ascii_case("/status") => Route::Status,
        (_, Some(r), _) if r.len() > 10 && r.get(..10).is_some_and(|p| p.eq_ignore_ascii_case("/policies/")) => Route::Policies(r[10..].to_string()),
        (_, _, Some(r)) => match checkin::device_key(r) {
            Some(id) => Route::Compliance(id),
            None => return Err(not_found()),
        },
        _ => return Err(not_found()),
    };
    let wanted = if matches!(route, Route::Policies(_) | Route::Compliance(_)) { Method::GET } else { Method::POST };
    if method != wanted {
        return Err(LinuxError::MethodNotAllowed(if wanted == Method::GET { "GET" } else { "POST" }));
    }
    if !has_api_version(&req) {
        return Err(LinuxError::NoApiVersion);
    }
    match route {
        Route::Enroll => enroll::enroll(&state, req).await,
        Route::Details => checkin::details(&state, req).await,
        Route::Status => checkin::status(&state, req).await,
        Route::Policies(id) => checkin::policies(&state, req, &id).await,
        Route::Compliance(id) => checkin::compliance(&state, req, &id).await,
    }
}

enum Route {
    Enroll,
    Details,
    Status,
    Policies(String),
    Compliance(String),
}

#[cfg(test)]
mod tests;
