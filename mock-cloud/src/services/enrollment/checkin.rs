//! The first OMA-DM check-in after enrollment (protocols.md §4: the provisioning document's
//! `ADDR`, Intune's `https://r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx`): the
//! device presents the certificate it was issued (mutual TLS; the HTTPS front asks for it on
//! this service's hosts only and verifies its chain to the Intune root at the simulated now),
//! and opens session 1 with SyncML (OMA-DM 1.2): Alert 1201 (client-initiated session), usually
//! Alert 1224 and a `Replace` of `./DevInfo/*` (fleet's `pkg/mdm/mdmtest/windows.go` shows the
//! shape). The answer is the minimal valid command set: a Status for the SyncHdr and for every
//! command, one `Get` of `./DevDetail/SwV`, and `Final`.
//!
//! No certificate (a TLS-inspecting proxy re-originates the connection without one) gets 403,
//! as IIS answers "403.7 client certificate required"; so does a certificate this world's
//! enrollment never issued.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::{Component, EnrollStep, NewEvent};
use serde::{Deserialize, Serialize};

use crate::front::ClientCertificate;
use crate::services::AppState;

/// OMA-DM over HTTP: the SyncML media type (the provisioning document's DEFAULTENCODING).
pub const SYNCML_TYPE: &str = "application/vnd.syncml.dm+xml";
/// The largest SyncML message read (a session-1 message is about 2 KB).
pub const MAX_MESSAGE: usize = 64 * 1024;

pub fn router(state: &AppState) -> Router {
    let r = Router::new().fallback(handle).with_state(state.clone());
    super::faults::layer(r, &state.enrollment.faults, &state.journal, super::step_of)
}

/// Why a check-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    #[error("the device gateway takes POSTed SyncML")]
    MethodNotAllowed,
    #[error("client certificate required: connect with the certificate enrollment issued (mutual TLS)")]
    NoCertificate,
    #[error("the client certificate {0} was not issued by this tenant's enrollment")]
    UnknownDevice(String),
    #[error("not a SyncML message: {0}")]
    BadMessage(String),
}

impl IntoResponse for CheckinError {
    fn into_response(self) -> Response {
        let status = match self {
            CheckinError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            CheckinError::NoCertificate | CheckinError::UnknownDevice(_) => StatusCode::FORBIDDEN,
            CheckinError::BadMessage(_) => StatusCode::BAD_REQUEST,
        };
        crate::services::plain_error(status, self, "POST")
    }
}

async fn handle(State(state): State<AppState>, req: Request) -> Response {
    if super::step_of(req.uri().path()) != Some(EnrollStep::Checkin) {
        // The host's root stays a reachability check, as before it had a service.
        return crate::services::generic::answer(req).await;
    }
    let host = crate::front::request_host(&req).unwrap_or_default();
    match checkin(&state, req, &host).await {
        Ok(res) => res,
        Err(e) => {
            state.journal.record(NewEvent::new(Component::Http, "checkin").host(host).detail("refused", e.to_string()));
            e.into_response()
        }
    }
}

async fn checkin(state: &AppState, req: Request, host: &str) -> Result<Response, CheckinError> {
    if req.method() != Method::POST {
        return Err(CheckinError::MethodNotAllowed);
    }
    let cert = req.extensions().get::<ClientCertificate>().cloned().ok_or(CheckinError::NoCertificate)?;
    let thumbprint = super::enroll::sha1_hex(&cert.0);
    let device = state.enrollment.enrolled.lock().unwrap_or_else(|p| p.into_inner()).get(&thumbprint).cloned();
    let device = device.ok_or_else(|| CheckinError::UnknownDevice(thumbprint.clone()))?;
    let bytes = axum::body::to_bytes(req.into_body(), MAX_MESSAGE).await.map_err(|_| CheckinError::BadMessage(format!("over {MAX_MESSAGE} bytes")))?;
    let text = std::str::from_utf8(&bytes).map_err(|_| CheckinError::BadMessage("not UTF-8".into()))?;
    if text.contains("<!DOCTYPE") {
        return Err(CheckinError::BadMessage("a DTD is not accepted".into()));
    }
    let msg: SyncMl = quick_xml::de::from_str(text).map_err(|e| CheckinError::BadMessage(super::soap::short(&e.to_string())))?;
    let alerts: Vec<&str> = msg.body.alerts.iter().map(|a| a.data.trimmed()).collect();
    if !alerts.iter().any(|a| *a == "1201" || *a == "1200") {
        return Err(CheckinError::BadMessage("session 1 opens with Alert 1201 (client-initiated) or 1200 (server-initiated)".into()));
    }
    let devinfo: Vec<(String, String)> = msg
        .body
        .replaces
        .iter()
        .flat_map(|r| &r.items)
        .filter_map(|i| Some((i.source.as_ref()?.uri.trimmed().to_string(), i.data.as_ref()?.trimmed().to_string())))
        .collect();
    let answer = reply(&msg, &state.catalog.enrollment.url(&state.catalog.enrollment.urls.checkin, &state.world));
    let xml = quick_xml::se::to_string(&answer).map_err(|e| CheckinError::BadMessage(e.to_string()))?;
    let dev_id = devinfo.iter().find(|(k, _)| k.ends_with("DevInfo/DevId")).map(|(_, v)| v.clone()).unwrap_or_default();
    state.journal.record(
        NewEvent::new(Component::Http, "checkin")
            .host(host.to_string())
            .detail("thumbprint", thumbprint)
            .detail("device_id", device.device_id)
            .detail("upn", device.upn)
            .detail("session", msg.header.session_id.trimmed().to_string())
            .detail("alerts", alerts.iter().map(|a| a.to_string()).collect::<Vec<_>>())
            .detail("devinfo_devid", dev_id),
    );
    let mut res = (StatusCode::OK, Body::from(xml)).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(SYNCML_TYPE));
    Ok(res)
}

/// Statuses for the header and every command, one Get, Final (OMA-DM 1.2 §6, session 1).
fn reply(msg: &SyncMl, server: &str) -> OutSyncMl {
    let mut statuses = vec![OutStatus::new(1, &msg.header.msg_id, "0", "SyncHdr")];
    let mut next = 2;
    for (cmd, id) in msg.body.alerts.iter().map(|a| ("Alert", &a.cmd_id)).chain(msg.body.replaces.iter().map(|r| ("Replace", &r.cmd_id))) {
        statuses.push(OutStatus::new(next, &msg.header.msg_id, id.trimmed(), cmd));
        next += 1;
    }
    let device = msg.header.source.as_ref().map(|s| s.uri.trimmed().to_string()).unwrap_or_default();
    OutSyncMl {
        xmlns: "SYNCML:SYNCML1.2",
        header: OutHeader {
            ver_dtd: "1.2",
            ver_proto: "DM/1.2",
            session_id: msg.header.session_id.trimmed().to_string(),
            msg_id: "1",
            target: OutLoc { uri: device },
            source: OutLoc { uri: server.to_string() },
        },
        body: OutBody { statuses, get: OutGet { cmd_id: next.to_string(), item: OutItem { target: OutLoc { uri: "./DevDetail/SwV".into() } } }, final_: () },
    }
}

// --- SyncML in (local names) ---------------------------------------------------------------------

use super::soap::Text;

#[derive(Debug, Default, Deserialize)]
pub struct SyncMl {
    #[serde(rename = "SyncHdr", default)]
    pub header: SyncHdr,
    #[serde(rename = "SyncBody", default)]
    pub body: SyncBody,
}

#[derive(Debug, Default, Deserialize)]
pub struct SyncHdr {
    #[serde(rename = "SessionID", default)]
    pub session_id: Text,
    #[serde(rename = "MsgID", default)]
    pub msg_id: Text,
    #[serde(rename = "Source")]
    pub source: Option<Loc>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Loc {
    #[serde(rename = "LocURI", default)]
    pub uri: Text,
}

#[derive(Debug, Default, Deserialize)]
pub struct SyncBody {
    #[serde(rename = "Alert", default)]
    pub alerts: Vec<Command>,
    #[serde(rename = "Replace", default)]
    pub replaces: Vec<Command>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Command {
    #[serde(rename = "CmdID", default)]
    pub cmd_id: Text,
    #[serde(rename = "Data", default)]
    pub data: Text,
    #[serde(rename = "Item", default)]
    pub items: Vec<Item>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Item {
    #[serde(rename = "Source")]
    pub source: Option<Loc>,
    #[serde(rename = "Data")]
    pub data: Option<Text>,
}

// --- SyncML out -----------------------------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename = "SyncML")]
struct OutSyncMl {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "SyncHdr")]
    header: OutHeader,
    #[serde(rename = "SyncBody")]
    body: OutBody,
}

#[derive(Debug, Serialize)]
struct OutHeader {
    #[serde(rename = "VerDTD")]
    ver_dtd: &'static str,
    #[serde(rename = "VerProto")]
    ver_proto: &'static str,
    #[serde(rename = "SessionID")]
    session_id: String,
    #[serde(rename = "MsgID")]
    msg_id: &'static str,
    #[serde(rename = "Target")]
    target: OutLoc,
    #[serde(rename = "Source")]
    source: OutLoc,
}

#[derive(Debug, Serialize)]
struct OutLoc {
    #[serde(rename = "LocURI")]
    uri: String,
}

#[derive(Debug, Serialize)]
struct OutBody {
    #[serde(rename = "Status")]
    statuses: Vec<OutStatus>,
    #[serde(rename = "Get")]
    get: OutGet,
    #[serde(rename = "Final")]
    final_: (),
}

#[derive(Debug, Serialize)]
struct OutStatus {
    #[serde(rename = "CmdID")]
    cmd_id: String,
    #[serde(rename = "MsgRef")]
    msg_ref: String,
    #[serde(rename = "CmdRef")]
    cmd_ref: String,
    #[serde(rename = "Cmd")]
    cmd: &'static str,
    #[serde(rename = "Data")]
    data: &'static str,
}

impl OutStatus {
    fn new(id: usize, msg: &Text, cmd_ref: &str, cmd: &'static str) -> OutStatus {
        let msg_ref = if msg.trimmed().is_empty() { "1" } else { msg.trimmed() };
        OutStatus { cmd_id: id.to_string(), msg_ref: msg_ref.to_string(), cmd_ref: cmd_ref.to_string(), cmd, data: "200" }
    }
}

#[derive(Debug, Serialize)]
struct OutGet {
    #[serde(rename = "CmdID")]
    cmd_id: String,
    #[serde(rename = "Item")]
    item: OutItem,
}

#[derive(Debug, Serialize)]
struct OutItem {
    #[serde(rename = "Target")]
    target: OutLoc,
}
