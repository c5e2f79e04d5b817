//! A running world's faults on its control endpoint (`services::control`, issue 17): what
//! `memsim fault list|add|set|remove` and the lab dashboard call. Same guard as the rest of the
//! endpoint: loopback only, bearer token. The world's one [`FaultStore`] does the work: it
//! validates a change exactly as `memsim check` validates a scenario file (the harness gives it
//! the checker), journals it, and the proxy and DNS read the new faults from their next
//! connection or query on.
//!
//! | call | body | answer |
//! |---|---|---|
//! | `GET /v1/faults` | — | `{"faults": [{id, kind, layer, toml, live}]}` |
//! | `POST /v1/faults` | TOML: `[[fault]]` tables, or one fault's keys | 201 `{"added": [fault…]}` |
//! | `PUT /v1/faults/{id}` | TOML: one fault | `{"fault": fault}` (same id) |
//! | `DELETE /v1/faults/{id}` | — | `{"removed": fault}` |
//!
//! Refusals change nothing: 422 `{"error", "problems": ["origin:line:column: message"…]}` for
//! text the checker refuses, 409 for a layer fixed at world start, 404 for an unknown id, 400
//! for a body that is no UTF-8 text. The `Memsim-Origin` header names the text in messages (a
//! file name; default `request`).

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use scenarios::{FaultError, FaultId, FaultStore};
use serde_json::json;

use crate::services::control::{ControlState, reply};

pub const FAULTS_PATH: &str = "/v1/faults";
pub const FAULT_PATH: &str = "/v1/faults/{id}";
/// The request header that names the fault text in error messages.
pub const ORIGIN_HEADER: &str = "memsim-origin";
/// A fault file is a few hundred bytes; a scenario file at most 1 MiB.
const MAX_BODY: usize = 64 * 1024;

pub fn router() -> Router<ControlState> {
    Router::new().route(FAULTS_PATH, get(list).post(add)).route(FAULT_PATH, put(set).delete(remove))
}

async fn list(State(state): State<ControlState>) -> Response {
    reply(StatusCode::OK, json!({"faults": state.faults.list()}))
}

async fn add(State(state): State<ControlState>, req: Request) -> Response {
    let (text, origin) = match text(req).await {
        Ok(t) => t,
        Err(res) => return res,
    };
    match blocking(state.faults.clone(), move |s| s.add(&text, &origin)).await {
        Ok(added) => reply(StatusCode::CREATED, json!({"added": added})),
        Err(res) => res,
    }
}

async fn set(State(state): State<ControlState>, Path(id): Path<String>, req: Request) -> Response {
    let id = match id.parse::<FaultId>() {
        Ok(id) => id,
        Err(e) => return reply(StatusCode::NOT_FOUND, json!({"error": e})),
    };
    let (text, origin) = match text(req).await {
        Ok(t) => t,
        Err(res) => return res,
    };
    match blocking(state.faults.clone(), move |s| s.set(id, &text, &origin)).await {
        Ok(fault) => reply(StatusCode::OK, json!({"fault": fault})),
        Err(res) => res,
    }
}

async fn remove(State(state): State<ControlState>, Path(id): Path<String>) -> Response {
    let id = match id.parse::<FaultId>() {
        Ok(id) => id,
        Err(e) => return reply(StatusCode::NOT_FOUND, json!({"error": e})),
    };
    match state.faults.remove(id) {
        Ok(fault) => reply(StatusCode::OK, json!({"removed": fault})),
        Err(e) => refusal(&e),
    }
}

/// The checker builds the world's DNS zones and reads allow-list files: off the runtime's threads.
async fn blocking<T: Send + 'static>(store: FaultStore, f: impl FnOnce(&FaultStore) -> Result<T, FaultError> + Send + 'static) -> Result<T, Response> {
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(r) => r.map_err(|e| refusal(&e)),
        Err(e) => Err(reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()}))),
    }
}

/// A refused change as the endpoint answers it.
pub fn refusal(e: &FaultError) -> Response {
    let status = match e {
        FaultError::Invalid(_) | FaultError::NotOne(_) => StatusCode::UNPROCESSABLE_ENTITY,
        FaultError::UnknownId(_) => StatusCode::NOT_FOUND,
        FaultError::FixedAtStart { .. } => StatusCode::CONFLICT,
    };
    let problems: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    reply(status, json!({"error": e.to_string(), "problems": problems}))
}

/// The body as text, and the name it goes by in messages.
async fn text(req: Request) -> Result<(String, String), Response> {
    let origin = req
        .headers()
        .get(ORIGIN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|o| o.chars().filter(|c| !c.is_control()).take(200).collect::<String>())
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| "request".into());
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY)
        .await
        .map_err(|_| reply(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": format!("body too large: faults are at most {} KiB of TOML", MAX_BODY / 1024)})))?;
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| reply(StatusCode::BAD_REQUEST, json!({"error": "the body is not UTF-8 text: send TOML"})))?;
    Ok((text, origin))
}

#[cfg(test)]
mod tests;
