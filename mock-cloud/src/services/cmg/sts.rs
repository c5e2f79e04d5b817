//! `CCM_STS`, the management point's token service behind the gateway (protocols.md §8.3):
//! a client presents a bulk registration token (first registration), its client token (every
//! later session) or an Entra token (the Entra path) and gets a CCM token for 8 hours.
//! The bodies are **memsim's own** (not public; `contract.md`):
//!
//! request `POST …/CCM_STS`, `Content-Type: application/json`:
//! `{"TokenType": "BulkRegistration" | "ClientToken" | "AAD", "Token": "<JWT>"}`;
//! answer 200 `{"CcmToken": "<JWT>", "TokenType": …, "ExpiresOn": <unix>}`, or 401 with the
//! reason phrase `CMGService_Invalid_Token` and CCM_STS.log's line as the body
//! (`Return code: 401, Description: PreAuth token validation failed, …IDX10223…`, failure
//! catalog CMG-01), or 400 for a body that is not the contract. `GET` answers 404, as the CMG's
//! IIS log shows for a probe of `/CCM_STS`.

use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use scenarios::CmgFaultKind;
use serde::Deserialize;
use serde_json::json;

use super::tokens::{self, Claims, Kind, TokenError};
use super::{CmgState, INVALID_TOKEN, answer, faults, fired};

const MAX_REQUEST: usize = 32 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StsRequest {
    #[serde(rename = "TokenType")]
    token_type: String,
    #[serde(rename = "Token")]
    token: String,
}

/// Why the token service refused.
enum Refusal {
    Token { error: TokenError, pre_auth: bool },
    Entra(String),
    EntraOff,
}

pub(super) async fn handle(s: &CmgState, req: Request) -> Response {
    if req.method() != Method::POST {
        let status = if req.method() == Method::GET { StatusCode::NOT_FOUND } else { StatusCode::METHOD_NOT_ALLOWED };
        return answer(status, None, "text/plain; charset=utf-8", "memsim: CCM_STS takes a POST of the token service's JSON (memsim's own contract)\n");
    }
    let bytes = match axum::body::to_bytes(req.into_body(), MAX_REQUEST).await {
        Ok(b) => b,
        Err(_) => return bad(s, format!("the body is more than {MAX_REQUEST} bytes")),
    };
    let request: StsRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return bad(s, format!("expected {{\"TokenType\": \"BulkRegistration\"|\"ClientToken\"|\"AAD\", \"Token\": JWT}}: {e}")),
    };
    let state = s.clone();
    // The site key is made on first use (RSA generation): off the async workers.
    let outcome = tokio::task::spawn_blocking(move || exchange(&state, &request)).await;
    match outcome {
        Ok(Ok((token, claims))) => {
            s.journal.record(
                s.record("ccm_token_issued", "CCM_STS.log")
                    .detail("token_type", claims.token_type.clone())
                    .detail("device", claims.device_id.clone())
                    .detail("exp", claims.exp)
                    .detail("text", format!("Return token to client, token type: {}", claims.token_type.clone().unwrap_or_default())),
            );
            let body = json!({"CcmToken": token, "TokenType": claims.token_type, "ExpiresOn": claims.exp});
            answer(StatusCode::OK, None, "application/json", body.to_string())
        }
        Ok(Err(refusal)) => refuse(s, refusal),
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, None, "text/plain; charset=utf-8", format!("memsim: the token service failed: {e}\n")),
    }
}

fn bad(s: &CmgState, why: String) -> Response {
    s.journal.record(s.record("bad_message", "CCM_STS.log").detail("error", why.clone()));
    answer(StatusCode::BAD_REQUEST, None, "text/plain; charset=utf-8", format!("memsim: CCM_STS: {why}\n"))
}

/// Check the presented token and sign the CCM token (blocking).
fn exchange(s: &CmgState, r: &StsRequest) -> Result<(String, Claims), Refusal> {
    let now = s.journal.clock().now();
    // What the CCM token will say: the device (after registration) and what it was bought with.
    let (device, token_type, pre_auth) = match r.token_type.as_str() {
        "BulkRegistration" => {
            let c = s.site.verify(&r.token, Kind::Bulk, &s.tenant_id, now).map_err(|error| Refusal::Token { error, pre_auth: true })?;
            if s.registry.is_blocked(&c.unique_id) {
                return Err(Refusal::Token { error: TokenError::Blocked(c.unique_id), pre_auth: true });
            }
            (None, "BulkRegistration", true)
        }
        "ClientToken" => {
            let c = s.site.verify(&r.token, Kind::Client, &s.tenant_id, now).map_err(|error| Refusal::Token { error, pre_auth: false })?;
            (c.device_id, "ClientToken", false)
        }
        "AAD" => {
            if faults::active(s, CmgFaultKind::EntraRefused).is_some() {
                return Err(Refusal::EntraOff);
            }
            let issuers = [format!("https://sts.windows.net/{}/", s.tenant_id), format!("https://login.microsoftonline.com/{}/v2.0", s.tenant_id)];
            let issuers: Vec<&str> = issuers.iter().map(String::as_str).collect();
            let audiences = [s.entra_resource.as_str(), "https://ConfigMgrService/"];
            s.entra.keys.verify(&r.token, &audiences, &issuers, now).map_err(|e| Refusal::Entra(e.to_string()))?;
            (None, "UDA", true)
        }
        other => {
            return Err(Refusal::Token {
                error: TokenError::WrongKind { expected: "BulkRegistration, ClientToken or AAD", found: other.chars().take(40).collect() },
                pre_auth: true,
            });
        }
    };
    let nbf = now.unix_timestamp();
    let exp = nbf + i64::try_from(s.ccm_validity.0.as_secs()).unwrap_or(8 * 3600);
    let mut claims = Claims::bulk(&s.tenant_id, &tokens::new_guid(), nbf, exp);
    claims.category = tokens::CCM_CATEGORY.into();
    claims.kind = "CcmToken".into();
    claims.device_id = device;
    claims.token_type = Some(token_type.into());
    let token = s.site.sign(&claims).map_err(|e| Refusal::Token { error: TokenError::Malformed(e.to_string()), pre_auth })?;
    Ok((token, claims))
}

fn refuse(s: &CmgState, refusal: Refusal) -> Response {
    let (description, reason, synthetic, fault) = match &refusal {
        Refusal::Token { error, pre_auth } => {
            let what = if *pre_auth { "PreAuth token validation failed" } else { "Client token validation failed" };
            (
                format!("{what}, {}", error.exception()),
                error.reason(),
                error.synthetic_text() || !*pre_auth,
                // A refused bulk token is the scenario's: its `token.*` fault, if it has one.
                s.token_faults.first().filter(|_| *pre_auth).map(|f| scenarios::FaultKind::from(f.kind())),
            )
        }
        Refusal::Entra(e) => (format!("AAD token validation failed, {e}"), "entra", true, None),
        Refusal::EntraOff => (
            "AAD token validation failed, the tenant is not onboarded for cloud management".into(),
            "entra_refused",
            true,
            Some(CmgFaultKind::EntraRefused.into()),
        ),
    };
    let line = format!("Return code: 401, Description: {description}");
    let event = s.record("ccm_token_refused", "CCM_STS.log").detail("reason", reason).detail("text", line.clone()).detail("synthetic_text", synthetic);
    s.journal.record(match fault {
        Some(k) => event.fault(k),
        None => event,
    });
    let res = answer(StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN), "text/plain; charset=utf-8", format!("{line}\n"));
    match refusal {
        Refusal::EntraOff => fired(res, CmgFaultKind::EntraRefused),
        _ => res,
    }
}
