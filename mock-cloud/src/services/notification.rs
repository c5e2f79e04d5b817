//! The tenant-attach gateway (`gateway.configmgr.manage.microsoft.com` and its regional names,
//! protocols.md §9): the service connection point onboards, uploads devices, and holds a
//! long-lived request open to the notification service, which answers when the admin center
//! queues a device action. Seed 000: "Het serviceverbindingspunt maakt een langdurige uitgaande
//! verbinding met de meldingsservice … Het is raadzaam 3 minuten voor uitgaande verbindingen" —
//! the default hold is that 3 minutes (tenant-attach.toml), in simulated time. By default no byte
//! is sent inside the hold, which is exactly why a proxy that idles out sooner cuts it (PRX-01).
//!
//! **The JSON contract is memsim's own** (Microsoft's is not public, protocols.md §9); names
//! follow the fields visible in the SCP's logs (`TenantId`, `TemplateID`, `AADUserID`,
//! `TaskGuid`, `TargetDeviceIDs`). All bodies are JSON; `Date` and `ServerTime` are simulated time.
//!
//! | call | request | answer |
//! |---|---|---|
//! | `POST /api/gateway/AccountOnboardingInfo` | `{TenantId, HierarchyId, SiteCode}` | `{TenantId, HierarchyId, Onboarded, NotificationUrl, HoldSeconds, ServerTime}` |
//! | `POST /api/gateway/DevicePost` | `{TenantId, HierarchyId, Devices: [{DeviceId, Name}]}` | `{Accepted, ServerTime}` |
//! | `GET /api/gateway/Notification?TenantId=…[&WaitSeconds=n]` | — | held until an action is queued or the hold ends: `{TenantId, ServerTime, HeldSeconds, Notifications: [Action…]}` |
//! | `POST /api/gateway/DeviceAction` (the admin center's side) | `{TenantId, TemplateID, AADUserID?, TargetDeviceIDs}` | 202 `{TaskGuid}` |
//!
//! An `Action` is `{TaskGuid, TemplateID, TenantId, AADUserID, TargetDeviceIDs, QueuedAt}`.
//! Errors are the gateway's logged ones (failure catalog NOT-03): 401 for another tenant, 400
//! for a body that is not the contract, both with `{"Message":"An error has occurred."}`. With a
//! heartbeat configured, the poll answers 200 at once and sends `\n` every interval (JSON
//! ignores it) before the final document. A client that vanishes mid-hold leaves no waiter and
//! no lost action behind, and the journal says when it went (`poll_abandoned`).
//!
//! Dispatch is by hand, not by axum routes: the gateway runs on IIS, which ignores path case, so
//! the four paths are matched case-insensitively (axum's router would not), and a wrong method
//! gets the gateway's own JSON error with `Allow` rather than axum's empty 405.

mod hub;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::{Component, Journal, NewEvent, SimDuration, WorldSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AppState;
use crate::catalog::Catalog;
pub use hub::Action;
use hub::{Hub, PollGuard};

pub const ONBOARDING_PATH: &str = "/api/gateway/AccountOnboardingInfo";
pub const DEVICE_POST_PATH: &str = "/api/gateway/DevicePost";
pub const NOTIFICATION_PATH: &str = "/api/gateway/Notification";
pub const DEVICE_ACTION_PATH: &str = "/api/gateway/DeviceAction";

/// The gateway's error body, as CMGatewayNotificationWorker.log shows it (NOT-03).
pub const ERROR_BODY: &str = r#"{"Message":"An error has occurred."}"#;

/// Largest request body accepted.
const BODY_LIMIT: usize = 1 << 20;

/// How the notification service holds a poll, in simulated time.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a poll is held when nothing is queued (seed 000: 3 minutes).
    pub hold: SimDuration,
    /// Send a byte this often inside the hold; `None` (the default): silence until the answer.
    pub heartbeat: Option<SimDuration>,
}

impl Config {
    /// The catalog's hold (seed 000's 3 minutes), silent.
    pub fn from_catalog(catalog: &Catalog) -> Config {
        Config { hold: catalog.tenant_attach.notification_outbound_connection_minimum, heartbeat: None }
    }
}

#[derive(Debug, Clone)]
struct Gateway {
    world: Arc<WorldSpec>,
    journal: Journal,
    config: Config,
    hub: Arc<Hub>,
}

pub fn router(app: &AppState) -> Router {
    router_with(app.world.clone(), app.journal.clone(), app.notification.clone())
}

pub fn router_with(world: Arc<WorldSpec>, journal: Journal, config: Config) -> Router {
    let hub = Arc::new(Hub::new(world.seed));
    Router::new().fallback(handle).with_state(Gateway { world, journal, config, hub })
}

/// The gateway's errors, as CMGatewayNotificationWorker.log shows them (NOT-03): a status and
/// `{"Message":"An error has occurred."}`, whatever the cause.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no such gateway method")]
    NotFound,
    #[error("the method takes {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("the body is not the contract")]
    BadRequest,
    #[error("another tenant")]
    Unauthorized,
    #[error("the body is too large")]
    TooLarge,
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = match self {
            GatewayError::NotFound => {
                let text = "memsim: the tenant-attach gateway serves /api/gateway/{AccountOnboardingInfo,DevicePost,Notification,DeviceAction}\n";
                return (StatusCode::NOT_FOUND, text).into_response();
            }
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::BadRequest => StatusCode::BAD_REQUEST,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        };
        let mut res = (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], ERROR_BODY).into_response();
        if let GatewayError::MethodNotAllowed { allow } = self {
            res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        res
    }
}

impl Gateway {
    fn now(&self) -> String {
        let now = self.journal.clock().now();
        now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    }

    fn json(&self, status: StatusCode, v: &Value) -> Response {
        let mut res = (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], v.to_string()).into_response();
        self.date(&mut res);
        res
    }

    /// `Date` in the world's simulated time (hyper would stamp the machine's).
    fn date(&self, res: &mut Response) {
        let now = self.journal.clock().now();
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(now.unix_timestamp().max(0) as u64);
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(t)) {
            res.headers_mut().insert(header::DATE, v);
        }
    }

    fn tenant_ok(&self, id: Option<&str>) -> bool {
        id.is_some_and(|id| id.trim_matches(['{', '}']).eq_ignore_ascii_case(&self.world.tenant_id))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Onboarding {
    tenant_id: String,
    hierarchy_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DevicePost {
    tenant_id: String,
    devices: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeviceAction {
    tenant_id: String,
    #[serde(rename = "TemplateID")]
    template_id: String,
    #[serde(rename = "AADUserID")]
    aad_user_id: Option<String>,
    #[serde(rename = "TargetDeviceIDs")]
    target_device_ids: Vec<String>,
}

async fn handle(State(gw): State<Gateway>, req: Request) -> Result<Response, GatewayError> {
    let path = req.uri().path().to_string();
    let host = crate::front::request_host(&req).unwrap_or_default();
    let route = [ONBOARDING_PATH, DEVICE_POST_PATH, NOTIFICATION_PATH, DEVICE_ACTION_PATH].into_iter().find(|p| p.eq_ignore_ascii_case(&path));
    let route = route.ok_or(GatewayError::NotFound)?;
    let (want, allow) = if route == NOTIFICATION_PATH { (Method::GET, "GET") } else { (Method::POST, "POST") };
    if req.method() != want {
        return Err(GatewayError::MethodNotAllowed { allow });
    }
    if route == NOTIFICATION_PATH {
        return poll(gw, host, req.uri().query().unwrap_or_default()).await;
    }
    let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT).await.map_err(|_| GatewayError::TooLarge)?;
    Ok(match route {
        ONBOARDING_PATH => match serde_json::from_slice::<Onboarding>(&bytes) {
            Err(_) => return Err(GatewayError::BadRequest),
            Ok(o) if !gw.tenant_ok(Some(&o.tenant_id)) => return Err(GatewayError::Unauthorized),
            Ok(o) => gw.json(
                StatusCode::OK,
                &json!({
                    "TenantId": gw.world.tenant_id,
                    "HierarchyId": o.hierarchy_id,
                    "Onboarded": true,
                    "NotificationUrl": format!("https://{host}{NOTIFICATION_PATH}"),
                    "HoldSeconds": gw.config.hold.0.as_secs_f64(),
                    "ServerTime": gw.now(),
                }),
            ),
        },
        DEVICE_POST_PATH => match serde_json::from_slice::<DevicePost>(&bytes) {
            Err(_) => return Err(GatewayError::BadRequest),
            Ok(d) if !gw.tenant_ok(Some(&d.tenant_id)) => return Err(GatewayError::Unauthorized),
            Ok(d) => gw.json(StatusCode::OK, &json!({ "Accepted": d.devices.len(), "ServerTime": gw.now() })),
        },
        _ => match serde_json::from_slice::<DeviceAction>(&bytes) {
            Err(_) => return Err(GatewayError::BadRequest),
            Ok(a) if a.template_id.trim().is_empty() || a.template_id.len() > 64 => return Err(GatewayError::BadRequest),
            Ok(a) if !gw.tenant_ok(Some(&a.tenant_id)) => return Err(GatewayError::Unauthorized),
            Ok(a) => {
                let action = gw.hub.queue(a.template_id, gw.world.tenant_id.clone(), a.aad_user_id, a.target_device_ids, gw.now());
                gw.journal.record(
                    NewEvent::new(Component::Http, "action_queued")
                        .host(host)
                        .detail("template", action.template_id.clone())
                        .detail("task", action.task_guid.clone()),
                );
                gw.json(StatusCode::ACCEPTED, &json!({ "TaskGuid": action.task_guid }))
            }
        },
    })
}

/// The long poll. Without a heartbeat the answer (head and body) waits for an action or the
/// end of the hold; with one, the head goes at once and `\n` every interval.
async fn poll(gw: Gateway, host: String, query: &str) -> Result<Response, GatewayError> {
    let param = |name: &str| query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.to_string());
    if !gw.tenant_ok(param("TenantId").as_deref()) {
        return Err(GatewayError::Unauthorized);
    }
    let wait = match param("WaitSeconds").map(|w| w.parse::<f64>()) {
        None => gw.config.hold.0,
        Some(Ok(w)) if w.is_finite() && w >= 0.0 => std::time::Duration::from_secs_f64(w.min(gw.config.hold.0.as_secs_f64())),
        Some(_) => return Err(GatewayError::BadRequest),
    };
    let clock = *gw.journal.clock();
    let deadline = tokio::time::Instant::now() + clock.to_wall(SimDuration(wait));
    let guard = PollGuard::new(gw.hub.clone(), gw.journal.clone(), host, Instant::now());
    let Some(every) = gw.config.heartbeat.map(|h| clock.to_wall(h)).filter(|d| !d.is_zero()) else {
        let actions = gw.hub.wait(deadline).await;
        return Ok(gw.json(StatusCode::OK, &guard.finish(actions, &gw.now(), &gw.world.tenant_id)));
    };
    let state = (gw.clone(), Some(guard), tokio::time::Instant::now() + every);
    let stream = futures_util::stream::unfold(state, move |(gw, guard, next)| async move {
        let guard = guard?;
        let until = next.min(deadline);
        let ready = gw.hub.wait(until).await;
        if ready.is_empty() && until < deadline {
            return Some((Ok::<_, std::convert::Infallible>(bytes::Bytes::from_static(b"\n")), (gw, Some(guard), next + every)));
        }
        let doc = guard.finish(ready, &gw.now(), &gw.world.tenant_id);
        Some((Ok(bytes::Bytes::from(doc.to_string())), (gw, None, next)))
    });
    let mut res = Response::new(Body::from_stream(stream));
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    gw.date(&mut res);
    Ok(res)
}

/// What a poll answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PollAnswer {
    pub tenant_id: String,
    pub server_time: String,
    pub held_seconds: f64,
    pub notifications: Vec<Action>,
}

#[cfg(test)]
mod tests;
