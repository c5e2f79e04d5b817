//! The device registration service's one error type. DRS answers errors as JSON with an
//! `ErrorCode` (`DirectoryError`, `AuthenticationError`; Microsoft Entra "Troubleshoot hybrid
//! joined devices", HTTP errors returned from the DRS server) that dsregcmd prints as "Server
//! ErrorCode", next to the "Server Message" and "Https Status" (Microsoft Entra "Troubleshoot
//! devices by using the dsregcmd command"; failure catalog ENR-03). `ErrorCode` is theirs; the
//! other members — `Message`, `TraceId`, `Time` — are memsim's rendering of those fields (no
//! public document prints a DRS error body whole). Every error is JSON: libhimmelblau surfaces
//! anything else as "Invalid JSON" (protocols.md §7 note).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::pki::CsrError;
use crate::services::bearer::BearerError;
use crate::services::json_input::InputError;

/// Why DRS refused a request.
#[derive(Debug, thiserror::Error)]
pub enum DrsError {
    #[error("no such resource on the device registration service: {0}")]
    NotFound(String),
    #[error("this resource takes {0} only")]
    MethodNotAllowed(&'static str),
    #[error("the tenant `{0}` is not known to the device registration service")]
    UnknownTenant(String),
    #[error("the request has no `api-version` query parameter")]
    NoApiVersion,
    #[error("authentication failed: {0}")]
    Unauthorized(#[from] BearerError),
    #[error("the request is invalid: {0}")]
    Input(#[from] InputError),
    #[error("the certificate request is invalid: {0}")]
    Csr(#[from] CsrError),
    #[error("the certificate request is invalid: {0}")]
    CsrContent(String),
    #[error("the device certificate could not be issued: {0}")]
    Issue(String),
    /// The directory has no object for the device yet (a hybrid join before the sync: the
    /// `service.drs_directory_error` fault, failure catalog ENR-03).
    #[error("The device object by the given id ({0}) is not found.")]
    DeviceNotFound(String),
}

impl DrsError {
    /// HTTP status and the `ErrorCode` member.
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            DrsError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            DrsError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
            DrsError::UnknownTenant(_) => (StatusCode::NOT_FOUND, "TenantNotFound"),
            DrsError::NoApiVersion => (StatusCode::BAD_REQUEST, "InvalidParameter"),
            DrsError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "AuthenticationError"),
            DrsError::Input(InputError::TooLarge) => (StatusCode::PAYLOAD_TOO_LARGE, "InvalidParameter"),
            DrsError::Input(_) | DrsError::Csr(_) | DrsError::CsrContent(_) => (StatusCode::BAD_REQUEST, "InvalidParameter"),
            DrsError::Issue(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
            DrsError::DeviceNotFound(_) => (StatusCode::BAD_REQUEST, "DirectoryError"),
        }
    }
}

/// The JSON body of a DRS error (memsim's member names: see the module doc).
pub fn body(error_code: &str, message: &str, trace_id: &str, time: &str) -> serde_json::Value {
    serde_json::json!({ "ErrorCode": error_code, "Message": message, "TraceId": trace_id, "Time": time })
}

impl DrsError {
    /// The JSON answer, its `Time` the world's simulated `now` (as the nonce's is).
    pub fn response_at(self, now: time::OffsetDateTime) -> Response {
        let (status, kind) = self.parts();
        let allow = if let DrsError::MethodNotAllowed(m) = self { Some(m) } else { None };
        // The time as DRS's nonce answer prints it (`10/12/2023 3:05:30 PM`, aad-join-spec §3.2).
        let time = super::drs_time(now);
        let mut res = crate::services::json_input::json(status, &body(kind, &self.to_string(), &crate::services::devices::random_uuid(), &time));
        if kind == "DirectoryError" {
            res.extensions_mut().insert(super::faults::DirectoryAnswer);
        }
        if let Some(m) = allow {
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(m));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}
