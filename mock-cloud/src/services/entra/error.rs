//! The authority's one error type and how Entra writes it: a JSON body, always, with `error`,
//! `error_description` beginning `AADSTSnnnnn:` and ending with the trace and correlation ids
//! and the timestamp, `error_codes`, `timestamp`, `trace_id`, `correlation_id` and `error_uri`,
//! at the status of the error's row in `data/entra.toml` (protocols.md §14.1 3; "Token Issuance
//! Endpoint Errors", learn.microsoft.com/previous-versions/azure/dn645548). A 429 carries
//! `Retry-After` (MSAL announces `x-ms-lib-capability: retry-after, h429`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::data::EntraData;

/// Entra's timestamp format in error bodies: `2026-12-02 08:00:00Z`.
const TIMESTAMP: &[time::format_description::FormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");

/// A refusal, by its row in `data/entra.toml`, with the values its description names.
#[derive(Debug, Clone)]
pub struct AadError {
    /// The row's `name` (e.g. `bad_password`).
    pub name: &'static str,
    /// `{placeholder}` → value, for the description.
    pub vars: Vec<(&'static str, String)>,
    /// `Retry-After`, in seconds, for a 429.
    pub retry_after: Option<u64>,
    /// The fault that made the authority refuse, for the journal.
    pub fault: Option<scenarios::FaultKind>,
}

impl AadError {
    pub fn new(name: &'static str) -> AadError {
        AadError { name, vars: Vec::new(), retry_after: None, fault: None }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> AadError {
        self.vars.push((key, value.into()));
        self
    }

    /// The refusal is a fault's doing.
    pub fn fault(mut self, kind: scenarios::FaultKind) -> AadError {
        self.fault = Some(kind);
        self
    }

    /// A request missing (or with a bad) parameter: AADSTS900144 naming it.
    pub fn missing(param: &str) -> AadError {
        AadError::new("bad_request").with("detail", param)
    }
}

/// An error rendered: what the journal records and the body the client gets.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub status: StatusCode,
    pub code: u32,
    pub body: serde_json::Value,
    pub retry_after: Option<u64>,
}

impl Rendered {
    /// `error` rendered with `data`'s row at the simulated `now`; `trace_id` fresh, the
    /// `correlation_id` the client sent (`client-request-id`), else fresh, as Entra does.
    pub fn of(err: &AadError, data: &EntraData, now: OffsetDateTime, correlation: Option<&str>) -> Rendered {
        let (status, error, code, mut description, suberror) = match data.error(err.name) {
            Some(row) => (row.status, row.error.clone(), row.code, row.description.clone(), row.suberror.clone()),
            // A data defect (a test holds every name the service uses); still a JSON error.
            None => (500, "server_error".into(), 90033, format!("memsim: no error row `{}` in entra.toml", err.name), None),
        };
        for (k, v) in &err.vars {
            description = description.replace(&format!("{{{k}}}"), v);
        }
        let trace_id = super::ids::random_guid();
        let correlation_id = correlation.filter(|c| super::ids::is_guid(c)).map_or_else(super::ids::random_guid, str::to_string);
        let timestamp = now.format(TIMESTAMP).unwrap_or_default();
        let mut body = serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} Timestamp: {timestamp}"),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        });
        if let Some(s) = suberror {
            body["suberror"] = s.into();
        }
        Rendered { status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), code, body, retry_after: err.retry_after }
    }
}

impl IntoResponse for Rendered {
    fn into_response(self) -> Response {
        let mut res = super::json(self.status, &self.body);
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
