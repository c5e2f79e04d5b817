//! The cloud management gateway and the management point behind it (issue 15; seed 004;
//! protocols.md §8): `https://<cmg_name>.cloudapp.net` as a ConfigMgr internet client uses it
//! with token-based authentication.
//!
//! | path (IIS: any case) | method | what |
//! |---|---|---|
//! | `/CCM_Proxy_{MutualAuth,ServerAuth}/<id>/SMS_MP/.sms_aut?MPLIST` | GET | the MP list (`mp.rs`) |
//! | `…/<id>/SMS_MP/.sms_aut?MPCERT`, `?SITESIGNCERT` | GET | the site's token-signing certificate, upper-case hex DER |
//! | `…/<id>/CCM_STS` | POST | the token service: a bulk, client or Entra token in, a CCM token out (`sts.rs`) |
//! | `/CCM_Proxy_ServerAuth/<id>/ccm_system_tokenauth/request` | CCM_POST | MP messaging with the CCM token: registration and client-token renewal (`mp.rs`, `framing.rs`) |
//! | `/CCM_Proxy_ServerAuth/AADAuthInfo?TenantID=<guid>` | GET | the Entra app the client asks a token for |
//! | `/CCM_Proxy_MutualAuth/ServiceMetadata` | GET | what an admin browses to see the chain (failure catalog PKI-06) |
//! | `/downloadrestservice.svc/getcontentxmlsecure?pid=…&cid=…` | GET | the content location of a content-enabled CMG |
//!
//! `<id>` is any number (the site-system role id). Where Microsoft's format is not public
//! (CCM_STS bodies, the header carrying the CCM token, the client and CCM tokens' claims, the
//! MPCERT and AADAuthInfo encodings, the registration reply beyond its `SMSID`), the contract
//! is **memsim's own**, written down in one place: `contract.md` beside this file, which is
//! this module's documentation below (README's "The CMG: memsim's own contract" points here).
//!
//! Faults: `cmg.*` are read by the handlers through [`faults::active`] and mark the answer
//! with the fault's kind for the front's journal entry; `token.*` shape the scenario's bulk
//! token ([`faults::scenario_token`]).
//!
#![doc = include_str!("contract.md")]

pub mod console;
pub mod faults;
pub mod framing;
mod mp;
pub mod registration;
mod sts;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::{CmgFault, CmgFaultKind, Component, FaultKind, Journal, NewEvent, SimDuration, TokenFault, WorldSpec};
use serde_json::json;

use super::AppState;
use super::entra::EntraState;
use crate::catalog::Catalog;
use registration::{BulkRecord, MintError, Minted, Registry};
use tokens::SiteKeys;

pub const MUTUAL_AUTH: &str = "CCM_Proxy_MutualAuth";
pub const SERVER_AUTH: &str = "CCM_Proxy_ServerAuth";
pub const AAD_AUTH_INFO: &str = "/CCM_Proxy_ServerAuth/AADAuthInfo";
pub const SERVICE_METADATA: &str = "/CCM_Proxy_MutualAuth/ServiceMetadata";
pub const CONTENT_PATH: &str = "/downloadrestservice.svc/getcontentxmlsecure";
pub const LOCATION: &str = "SMS_MP/.sms_aut";
pub const STS: &str = "CCM_STS";
pub const TOKENAUTH: &str = "ccm_system_tokenauth/request";
/// The messaging method (protocols.md §8.2).
pub const CCM_POST: &str = "CCM_POST";
/// The reason phrase the gateway answers a refused token with (failure catalog CMG-01).
pub const INVALID_TOKEN: &str = "CMGService_Invalid_Token";

/// The CMG's substate of a world: the site's keys and registry, its facts and faults.
#[derive(Debug, Clone)]
pub struct CmgState {
    pub site: SiteKeys,
    /// Another site's keys: what signs a `token.wrong_signer` token.
    pub foreign: SiteKeys,
    pub registry: Arc<Registry>,
    pub tenant_id: String,
    pub site_code: String,
    /// The gateway's host, lower-case (`granitefalls.cloudapp.net`).
    pub host: String,
    pub mp_id: u64,
    /// BulkRegistrationTokenTool.exe's default and maximum lifetime, minutes (tokens.toml).
    pub bulk_default: u32,
    pub bulk_max: u32,
    /// The lifetime (minutes) of the scenario's token: `[world.cmg] regtoken_lifetime`, else the default.
    pub scenario_lifetime: u32,
    pub client_validity: SimDuration,
    pub ccm_validity: SimDuration,
    /// The Entra app and resource of the Entra path (tokens.toml `[entra]`).
    pub entra_app: String,
    pub entra_resource: String,
    pub entra: EntraState,
    pub faults: Arc<[CmgFault]>,
    pub token_faults: Arc<[TokenFault]>,
    pub journal: Journal,
    /// `cmg.ccm_token_expired` fires once per world.
    ccm_expired_fired: Arc<AtomicBool>,
}

impl CmgState {
    pub fn new(catalog: &Catalog, world: &WorldSpec, journal: Journal, faults: Vec<CmgFault>, token_faults: Vec<TokenFault>, entra: EntraState) -> CmgState {
        let host = catalog.cmg_host(world.cloud, &world.cmg_name).unwrap_or_default().to_ascii_lowercase();
        let t = &catalog.tokens;
        CmgState {
            site: SiteKeys::new(&world.site_code),
            foreign: SiteKeys::new("XYZ"),
            registry: Arc::default(),
            tenant_id: world.tenant_id.to_ascii_lowercase(),
            site_code: world.site_code.clone(),
            host,
            mp_id: world.cmg.mp_id,
            bulk_default: t.bulk_registration.default_lifetime_minutes,
            bulk_max: t.bulk_registration.max_lifetime_minutes,
            scenario_lifetime: world.cmg.regtoken_lifetime.unwrap_or(t.bulk_registration.default_lifetime_minutes),
            client_validity: t.client_token.validity,
            ccm_validity: t.ccm_token.validity,
            entra_app: t.entra.client_app_id.clone(),
            entra_resource: t.entra.resource.clone(),
            entra,
            faults: faults.into(),
            token_faults: token_faults.into(),
            journal,
            ccm_expired_fired: Arc::default(),
        }
    }

    /// The tool's (default, maximum) lifetime in minutes.
    pub fn limits(&self) -> (u32, u32) {
        (self.bulk_default, self.bulk_max)
    }

    /// `https://GRANITEFALLS.CLOUDAPP.NET/CCM_Proxy_MutualAuth/<id>`, as ccmsetup's `/mp:` names it.
    pub fn mp_url(&self) -> String {
        format!("https://{}/{MUTUAL_AUTH}/{}", self.host.to_ascii_uppercase(), self.mp_id)
    }

    /// One event of the site's server-side logs.
    fn record(&self, what: &str, log: &str) -> NewEvent {
        NewEvent::new(Component::Http, what).host(self.host.clone()).detail("service", "cmg").detail("log", log)
    }

    /// `memsim token new`: mint a bulk token now (blocking: the key is made on first use).
    pub fn mint(&self, lifetime: Option<u32>) -> Result<Minted, MintError> {
        let _ = self.site.signer();
        let now = self.journal.clock().now();
        let result = registration::mint(&self.site, &self.registry, &self.tenant_id, lifetime, self.limits(), now);
        self.journal.record(match &result {
            Ok(m) => self
                .record("bulk_token_minted", "BulkRegistrationTokenTool")
                .detail("id", m.record.id.clone())
                .detail("lifetime_minutes", m.record.lifetime_minutes),
            Err(e) => self.record("bulk_token_refused", "BulkRegistrationTokenTool").detail("error", e.to_string()).detail("lifetime_minutes", lifetime),
        });
        result
    }

    /// The scenario's bulk token for its client (see [`faults::scenario_token`]), journaled.
    pub fn scenario_token(&self) -> Result<String, MintError> {
        // The keys first: their generation takes wall time, which a time-compressed world
        // would count against the token's lifetime.
        let _ = (self.site.signer(), self.token_faults.is_empty() || self.foreign.signer().is_ok());
        let result = faults::scenario_token(self, self.journal.clock().now());
        let event = match &result {
            Ok((token, _)) => self.record("bulk_token_minted", "BulkRegistrationTokenTool").detail("for", "the scenario's client").detail("chars", token.len()),
            Err(e) => self.record("bulk_token_refused", "BulkRegistrationTokenTool").detail("error", e.to_string()),
        };
        let kind = self.token_faults.first().map(TokenFault::kind);
        self.journal.record(match kind {
            Some(k) => event.fault(k),
            None => event,
        });
        result.map(|(t, _)| t)
    }

    pub fn list(&self) -> Vec<BulkRecord> {
        self.registry.list()
    }

    /// Block or unblock a bulk token by GUID (the console's Block / Unblock), journaled.
    pub fn set_blocked(&self, id: &str, blocked: bool) -> Option<BulkRecord> {
        let r = self.registry.set_blocked(id, blocked)?;
        self.journal.record(self.record(if blocked { "bulk_token_blocked" } else { "bulk_token_unblocked" }, "console").detail("id", r.id.clone()));
        Some(r)
    }
}

pub fn router(state: &AppState) -> Router {
    Router::new().fallback(handle).with_state(state.cmg.clone())
}

/// Which channel a path came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    MutualAuth,
    ServerAuth,
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Mp {
        channel: Channel,
        rest: String,
    },
    AadAuthInfo,
    ServiceMetadata,
    Content,
    /// `/`: the gateway's IIS answers (a reachability check sees a live endpoint).
    Root,
    NotFound,
}

/// `/CCM_Proxy_<channel>/<numeric id>/<rest>`, case-insensitively (IIS).
fn route(path: &str) -> Route {
    let lower = path.to_ascii_lowercase();
    if lower == "/" {
        return Route::Root;
    }
    if lower == AAD_AUTH_INFO.to_ascii_lowercase() {
        return Route::AadAuthInfo;
    }
    if lower == SERVICE_METADATA.to_ascii_lowercase() {
        return Route::ServiceMetadata;
    }
    if lower == CONTENT_PATH {
        return Route::Content;
    }
    let mut segs = lower.trim_start_matches('/').splitn(3, '/');
    let channel = match segs.next() {
        Some(c) if c == MUTUAL_AUTH.to_ascii_lowercase() => Channel::MutualAuth,
        Some(c) if c == SERVER_AUTH.to_ascii_lowercase() => Channel::ServerAuth,
        _ => return Route::NotFound,
    };
    match (segs.next(), segs.next()) {
        (Some(id), Some(rest)) if !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit()) => Route::Mp { channel, rest: rest.to_string() },
        _ => Route::NotFound,
    }
}

/// An answer with a status, an optional IIS-style reason phrase, and a body.
pub(crate) fn answer(status: StatusCode, reason: Option<&'static str>, content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut res = (status, body.into()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(r) = reason {
        res.extensions_mut().insert(hyper::ext::ReasonPhrase::from_static(r.as_bytes()));
    }
    res
}

fn text(status: StatusCode, body: String) -> Response {
    answer(status, None, "text/plain; charset=utf-8", format!("{body}\n"))
}

/// Mark an answer with the fault that shaped it, for the front's journal entry.
fn fired(mut res: Response, kind: CmgFaultKind) -> Response {
    res.extensions_mut().insert(FaultKind::from(kind));
    res
}

async fn handle(State(s): State<CmgState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    match route(&path) {
        Route::Mp { channel, rest } => {
            if faults::active(&s, CmgFaultKind::ConnectionPointDown).is_some() {
                let body = "memsim: the CMG connection point is not connected: nothing forwards to the management point".to_string();
                return fired(answer(StatusCode::SERVICE_UNAVAILABLE, None, "text/plain; charset=utf-8", body), CmgFaultKind::ConnectionPointDown);
            }
            match rest.as_str() {
                r if r == LOCATION.to_ascii_lowercase() => mp::location(&s, &query, req.method()).await,
                r if r == STS.to_ascii_lowercase() => sts::handle(&s, req).await,
                r if r == TOKENAUTH => mp::tokenauth(&s, channel, req).await,
                _ => text(StatusCode::NOT_FOUND, format!("memsim: {path} is not a management point path memsim emulates")),
            }
        }
        Route::AadAuthInfo => aad_auth_info(&s, &query),
        Route::Root => text(StatusCode::OK, format!("memsim: {} is reachable (cloud management gateway)", s.host)),
        Route::ServiceMetadata => text(StatusCode::OK, format!("memsim: {} cloud management gateway (site {})", s.host, s.site_code)),
        Route::Content => {
            if faults::active(&s, CmgFaultKind::ContentMissing).is_some() {
                return fired(text(StatusCode::NOT_FOUND, "memsim: this CMG is not content-enabled".into()), CmgFaultKind::ContentMissing);
            }
            let xml = format!(
                "<ContentInfo SiteCode=\"{}\"><Query>{}</Query><Location>https://{}/downloadrestservice.svc</Location></ContentInfo>",
                s.site_code,
                xml_escape(&query),
                s.host
            );
            answer(StatusCode::OK, None, "text/xml; charset=utf-8", xml)
        }
        Route::NotFound => {
            text(StatusCode::NOT_FOUND, format!("memsim: {} is not a cloud management gateway path", xml_escape(&path).chars().take(200).collect::<String>()))
        }
    }
}

/// `AADAuthInfo?TenantID=<guid>` (memsim's own JSON): the Entra app and resource ccmsetup
/// asks a token for; another tenant gets 404.
fn aad_auth_info(s: &CmgState, query: &str) -> Response {
    let tenant = query.split('&').filter_map(|p| p.split_once('=')).find(|(k, _)| k.eq_ignore_ascii_case("TenantID")).map(|(_, v)| v.to_ascii_lowercase());
    if tenant.as_deref() != Some(s.tenant_id.as_str()) {
        return text(StatusCode::NOT_FOUND, "memsim: this CMG serves no such tenant: give ?TenantID=<the tenant's GUID>".into());
    }
    let body = json!({"TenantId": s.tenant_id, "AADCLIENTAPPID": s.entra_app, "AADRESOURCEURI": s.entra_resource});
    answer(StatusCode::OK, None, "application/json", body.to_string())
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests;
