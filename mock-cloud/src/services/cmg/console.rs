//! The bulk registration tokens on the world's control endpoint (`services::control`): what
//! `memsim token new|list|block|unblock` call, as BulkRegistrationTokenTool.exe `/new` and the
//! console's Administration > Security > Certificates node do (seed 004). Same guard as the rest
//! of the control endpoint: loopback only, bearer token.
//!
//! | call | body | answer |
//! |---|---|---|
//! | `GET /v1/tokens` | — | `{"tokens": [{id, nbf, exp, lifetime_minutes, blocked}]}` |
//! | `POST /v1/tokens` | `{"lifetime": minutes}` (optional) | the record and its `token`; 400 `{"error"}` over the maximum |
//! | `POST /v1/tokens/{id}/block`, `…/unblock` | — | the record; 404 for an unknown GUID |

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::services::control::{ControlState, reply};

pub const TOKENS_PATH: &str = "/v1/tokens";
pub const BLOCK_PATH: &str = "/v1/tokens/{id}/block";
pub const UNBLOCK_PATH: &str = "/v1/tokens/{id}/unblock";

pub fn router() -> Router<ControlState> {
    Router::new().route(TOKENS_PATH, get(list).post(new)).route(BLOCK_PATH, post(block)).route(UNBLOCK_PATH, post(unblock))
}

async fn list(State(state): State<ControlState>) -> Response {
    reply(StatusCode::OK, json!({"tokens": state.cmg.list()}))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct New {
    #[serde(default)]
    lifetime: Option<u32>,
}

async fn new(State(state): State<ControlState>, req: Request) -> Response {
    let bytes = match axum::body::to_bytes(req.into_body(), 4096).await {
        Ok(b) => b,
        Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": "body too large"})),
    };
    let new: New = if bytes.iter().all(u8::is_ascii_whitespace) {
        New::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(n) => n,
            Err(e) => return reply(StatusCode::BAD_REQUEST, json!({"error": format!("expected {{\"lifetime\": MINUTES}}: {e}")})),
        }
    };
    let cmg = state.cmg.clone();
    match tokio::task::spawn_blocking(move || cmg.mint(new.lifetime)).await {
        Ok(Ok(minted)) => reply(StatusCode::OK, serde_json::to_value(&minted).unwrap_or_default()),
        Ok(Err(e)) => reply(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
        Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()})),
    }
}

fn change(state: &ControlState, id: &str, blocked: bool) -> Response {
    match state.cmg.set_blocked(id, blocked) {
        Some(r) => reply(StatusCode::OK, serde_json::to_value(&r).unwrap_or_default()),
        None => reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no bulk registration token `{}` on this site: `memsim token list` shows the GUIDs", id.chars().take(64).collect::<String>())}),
        ),
    }
}

async fn block(State(state): State<ControlState>, Path(id): Path<String>) -> Response {
    change(&state, &id, true)
}

async fn unblock(State(state): State<ControlState>, Path(id): Path<String>) -> Response {
    change(&state, &id, false)
}
