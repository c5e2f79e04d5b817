//! The token endpoints, v2 (`/<tenant>/oauth2/v2.0/token`, `scope=`) and v1
//! (`/<tenant>/oauth2/token`, `resource=`) (RFC 6749 §3.2; protocols.md §7 and §14.1 3): the
//! request read with a cap, the tenant and the fault front (throttling, slowness) first, then
//! the client authenticated (secret, or an RS256 client assertion per RFC 7523 checked against
//! the app's registered certificate), then the grant ([`super::grants`]), then the tokens signed
//! with the tenant's key. Every refusal is Entra's JSON error ([`super::error`]) and a journal
//! entry; nothing a client sends can panic a handler.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use scenarios::{EntraEffect, NewEvent};

use super::claims::Endpoint;
use super::directory::App;
use super::discovery::{TenantRef, refuse, resolve_tenant};
use super::error::AadError;
use super::faults::{self, About};
use super::form::{Form, MAX_BODY};
use super::{EntraState, grants};

/// RFC 7523 §2.2's assertion type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

pub async fn token_v2(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap, body: Body) -> Response {
    token(state, tenant, Endpoint::V2, headers, body).await
}

pub async fn token_v1(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap, body: Body) -> Response {
    token(state, tenant, Endpoint::V1, headers, body).await
}

fn host_of(headers: &HeaderMap) -> String {
    headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase()).unwrap_or_default()
}

async fn token(state: EntraState, tenant: String, endpoint: Endpoint, headers: HeaderMap, body: Body) -> Response {
    let host = host_of(&headers);
    let what = match endpoint {
        Endpoint::V1 => "token_v1",
        Endpoint::V2 => "token_v2",
    };
    let tenant_ref = match resolve_tenant(&state, &tenant) {
        Ok((t, _)) => t,
        Err(e) => return refuse(&state, &e, &headers, &host, what),
    };
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return refuse(&state, &AadError::new("malformed_body").with("detail", format!("more than {MAX_BODY} bytes")), &headers, &host, what),
    };
    let mut form = match Form::parse(&bytes) {
        Ok(f) => f,
        Err(e) => return refuse(&state, &AadError::new("malformed_body").with("detail", e.to_string()), &headers, &host, what),
    };
    // `client_secret_basic` (RFC 6749 §2.3.1, which the OpenID configuration advertises): the
    // client id and secret, each form-urlencoded, in an HTTP Basic header.
    if let Some((id, secret)) = basic_credentials(&headers) {
        form.add("client_id", id);
        form.add("client_secret", secret);
    }
    let resource = resource_of(endpoint, &form);
    let about = About { user: form.get("username"), client: form.get("client_id"), resource: resource.as_deref() };
    let front = faults::select(&state, about, &faults::is_front);
    if let Some(f) = front {
        match &f.effect {
            EntraEffect::Throttled { retry_after } => {
                let secs = state.journal.clock().to_wall(*retry_after).as_secs().max(1);
                let mut err = AadError::new("throttled").fault(f.kind().into());
                err.retry_after = Some(secs);
                return refuse(&state, &err, &headers, &host, what);
            }
            EntraEffect::Slow { delay } => tokio::time::sleep(state.journal.clock().to_wall(*delay)).await,
            _ => {}
        }
    }
    let req = grants::Request { state: &state, endpoint, form: &form, tenant: tenant_ref };
    match grants::grant(&req).await {
        Ok(issued) => {
            let mut event = NewEvent::new(scenarios::Component::Http, "token_issued")
                .host(host)
                .detail("endpoint", what)
                .detail("grant", issued.grant)
                .detail("client_id", issued.client_id.clone())
                .detail("aud", issued.aud.clone())
                .detail("kid", issued.kid.clone());
            if let Some(u) = &issued.user {
                event = event.detail("upn", u.clone());
            }
            if let Some(k) = issued.fault.or(front.map(|f| f.kind().into())) {
                event = event.fault(k);
            }
            state.journal.record(event);
            let mut res = super::json(axum::http::StatusCode::OK, &issued.body);
            res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store, no-cache"));
            res
        }
        Err(e) => refuse(&state, &e, &headers, &host, what),
    }
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))`, if the request has one.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |s: &str| Form::parse(format!("v={s}").as_bytes()).ok().and_then(|f| f.get("v").map(str::to_string));
    Some((decode(id)?, decode(secret).unwrap_or_default()))
}

/// The resource a request names (its scope's or `resource`), for selecting faults.
fn resource_of(endpoint: Endpoint, form: &Form) -> Option<String> {
    grants::asked_of(endpoint, form.get("scope"), form.get("resource")).ok().map(|a| a.resource)
}

/// How a client proved who it is (`appidacr`: 0 none, 1 secret, 2 certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Public = 0,
    Secret = 1,
    Certificate = 2,
}

/// The client of a request, authenticated as far as it claims to be.
pub fn authenticate<'s>(state: &'s EntraState, form: &Form, tenant: TenantRef) -> Result<(&'s App, ClientAuth), AadError> {
    let dir = &state.directory;
    let client_id = form.get("client_id").ok_or_else(|| AadError::missing("client_id"))?;
    let resource = resource_of(if form.get("resource").is_some() { Endpoint::V1 } else { Endpoint::V2 }, form);
    let about = About { user: form.get("username"), client: Some(client_id), resource: resource.as_deref() };
    let unknown = || AadError::new("unknown_client").with("client", client_id.chars().take(64).collect::<String>()).with("tenant", dir.tenant_id.clone());
    let app = dir.app(client_id).ok_or_else(unknown)?;
    if let Some(f) = faults::select(state, about, &|e| matches!(e, EntraEffect::UnknownClient {})) {
        return Err(unknown().fault(f.kind().into()));
    }
    let _ = tenant;
    if let Some(secret) = form.get("client_secret") {
        let bad = || AadError::new("bad_secret").with("client", app.client_id.clone());
        if !app.is_confidential() {
            return Err(AadError::new("public_client_secret"));
        }
        if let Some(f) = faults::select(state, about, &|e| matches!(e, EntraEffect::BadSecret {})) {
            return Err(bad().fault(f.kind().into()));
        }
        return match &app.secret {
            Some(s) if super::same_secret(s, secret) => Ok((app, ClientAuth::Secret)),
            _ => Err(bad()),
        };
    }
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type") != Some(JWT_BEARER) {
            return Err(AadError::missing("client_assertion_type"));
        }
        super::assertion::check(state, app, assertion)?;
        return Ok((app, ClientAuth::Certificate));
    }
    if app.is_confidential() {
        return Err(AadError::new("client_auth_required"));
    }
    Ok((app, ClientAuth::Public))
}
