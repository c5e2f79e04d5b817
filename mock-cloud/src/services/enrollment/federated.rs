//! The federated sign-in page (`AuthenticationServiceUrl`, protocols.md §2.3): completed once
//! the tenant's directory lands (issue 12).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;

use crate::services::AppState;

pub async fn handle(_state: &AppState, _req: Request) -> Response {
    crate::services::plain_error(StatusCode::NOT_FOUND, "the sign-in page needs the tenant's directory", "GET, POST")
}

/// Whether `upn` signs in with `password` in the tenant's directory.
pub fn check_password(_state: &AppState, _upn: &str, _password: &str) -> bool {
    false
}
