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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Method, Request, header};
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::services::control::{ControlState, Token, router};

    async fn call(s: &ControlState, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", s.token.as_str()))
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = router(s.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        (status, serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap()).unwrap_or(Value::Null))
    }

    use super::*;

    #[tokio::test]
    async fn new_list_block_and_unblock_bulk_tokens() {
        let app = crate::services::test_support::app_state();
        let s = ControlState {
            pki: app.revocation.pki.clone(),
            journal: app.journal.clone(),
            token: Token::generate().unwrap(),
            cmg: app.cmg.clone(),
            faults: scenarios::FaultStore::fixed(vec![], app.journal.clone()),
        };
        let (status, minted) = call(&s, Method::POST, TOKENS_PATH, r#"{"lifetime": 60}"#).await;
        assert_eq!(status, StatusCode::OK, "{minted}");
        assert_eq!(minted["lifetime_minutes"], 60);
        let id = minted["id"].as_str().unwrap().to_string();
        let (status, refused) = call(&s, Method::POST, TOKENS_PATH, r#"{"lifetime": 20160}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(refused["error"].as_str().unwrap().contains("10080"));
        assert_eq!(call(&s, Method::POST, TOKENS_PATH, "").await.1["lifetime_minutes"], 4320, "the tool's default");
        assert_eq!(call(&s, Method::POST, TOKENS_PATH, "{\"lifetime\": \"x\"}").await.0, StatusCode::BAD_REQUEST);
        let (_, list) = call(&s, Method::GET, TOKENS_PATH, "").await;
        assert_eq!(list["tokens"].as_array().unwrap().len(), 2);
        let (status, blocked) = call(&s, Method::POST, &BLOCK_PATH.replace("{id}", &id), "").await;
        assert_eq!((status, blocked["blocked"].as_bool()), (StatusCode::OK, Some(true)));
        assert!(s.cmg.registry.is_blocked(&id));
        let (_, unblocked) = call(&s, Method::POST, &UNBLOCK_PATH.replace("{id}", &id), "").await;
        assert_eq!(unblocked["blocked"], false);
        assert_eq!(call(&s, Method::POST, &BLOCK_PATH.replace("{id}", "nope"), "").await.0, StatusCode::NOT_FOUND);
    }
}
