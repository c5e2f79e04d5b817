//! The content CDNs: the IME regional CDNs and storage accounts of seed 002's ASU table, the
//! Win32-apps-and-scripts CDNs of endpoint set 170, and the ConfigMgr servicing hosts of seed 001
//! (`configmgrbits.azureedge.net`, `download.microsoft.com`), serving `content.toml`'s synthetic
//! packages as Azure Blob storage behind a CDN does (protocols.md §11).
//!
//! `GET` and `HEAD` with `Accept-Ranges: bytes`, a strong `ETag` and `Last-Modified`; one range →
//! 206 with `Content-Range`; an unsatisfiable or malformed range → 416 with
//! `Content-Range: bytes */SIZE`; `If-Range` with a stale validator → the whole body (200). Seed
//! 002: "Gedeeltelijke HTTP-reactie toestaan is vereist voor scripts & Win32-apps-eindpunten" —
//! partial responses are what these hosts are for. Error bodies are Azure Storage's XML error
//! shape (`BlobNotFound`, `InvalidRange`); the request ids in them are not emulated.
//!
//! Dispatch is by hand, not by axum routes: the paths are data (`content.toml`), per host.

mod body;
mod generator;
mod library;
pub mod range;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::{Component, Journal, NewEvent};

pub use generator::Generator;
pub use library::{ContentData, Kind, Library, ManifestEntry, Package};

use super::AppState;
use body::{AbortNote, GeneratedBody};
use range::RangeOutcome;

/// What every content request reads.
#[derive(Debug, Clone)]
struct ContentState {
    journal: Journal,
    library: Arc<Library>,
}

pub fn router(app: &AppState) -> Router {
    with(app.journal.clone(), app.content.clone())
}

/// The CDNs over their own substate (router tests build one directly).
fn with(journal: Journal, library: Arc<Library>) -> Router {
    Router::new().fallback(handle).with_state(ContentState { journal, library })
}

/// Azure Storage's errors, rendered as its XML error document (`<Error><Code>…`).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("The specified blob does not exist.")]
    BlobNotFound,
    #[error("The resource doesn't support the specified HTTP verb.")]
    UnsupportedHttpVerb,
    #[error("The range specified is invalid for the current size of the resource.")]
    InvalidRange { size: u64 },
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let (status, code) = match self {
            StorageError::BlobNotFound => (StatusCode::NOT_FOUND, "BlobNotFound"),
            StorageError::UnsupportedHttpVerb => (StatusCode::METHOD_NOT_ALLOWED, "UnsupportedHttpVerb"),
            StorageError::InvalidRange { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange"),
        };
        let body = format!("\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{self}</Message></Error>");
        let mut res = (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response();
        match self {
            StorageError::UnsupportedHttpVerb => {
                res.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            }
            StorageError::InvalidRange { size } => {
                res.headers_mut().insert(header::CONTENT_RANGE, value(format!("bytes */{size}")));
            }
            StorageError::BlobNotFound => {}
        }
        res
    }
}

async fn handle(State(state): State<ContentState>, req: Request) -> Result<Response, StorageError> {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let pkg = state.library.find(&host, req.uri().path()).ok_or(StorageError::BlobNotFound)?;
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return Err(StorageError::UnsupportedHttpVerb),
    };
    let last_modified = pkg.last_modified_http();
    let header_str = |name: header::HeaderName| req.headers().get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    // RFC 9110 §14.2: Range applies to GET only; If-Range (§13.1.5) can switch it off.
    let outcome = match (head, header_str(header::RANGE)) {
        (false, Some(r)) if header_str(header::IF_RANGE).is_none_or(|v| range::if_range_matches(v, &pkg.etag, &last_modified)) => range::parse(r, pkg.size),
        _ => RangeOutcome::Full,
    };
    let (status, first, end) = match outcome {
        RangeOutcome::Full => (StatusCode::OK, 0, pkg.size),
        RangeOutcome::Partial { first, last } => (StatusCode::PARTIAL_CONTENT, first, last + 1),
        RangeOutcome::Unsatisfiable => (StatusCode::RANGE_NOT_SATISFIABLE, 0, 0),
    };
    state.journal.record(
        NewEvent::new(Component::Http, "content")
            .host(host.clone())
            .detail("package", pkg.name.clone())
            .detail("method", req.method().as_str())
            .detail("range", header_str(header::RANGE).unwrap_or_default())
            .detail("status", status.as_u16())
            .detail("bytes", end - first),
    );
    let mut res = if status == StatusCode::RANGE_NOT_SATISFIABLE {
        StorageError::InvalidRange { size: pkg.size }.into_response()
    } else if head {
        Response::new(Body::empty())
    } else {
        let note = AbortNote { journal: state.journal.clone(), host, package: pkg.name.clone() };
        Response::new(Body::new(GeneratedBody::new(pkg.generator.clone(), first, end, note)))
    };
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, value(pkg.etag.clone()));
    h.insert(header::LAST_MODIFIED, value(last_modified));
    h.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
    if status != StatusCode::RANGE_NOT_SATISFIABLE {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        h.insert(header::CONTENT_LENGTH, value((end - first).to_string()));
    }
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, value(format!("bytes {first}-{}/{}", end - 1, pkg.size)));
    }
    Ok(res)
}

fn value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests;
