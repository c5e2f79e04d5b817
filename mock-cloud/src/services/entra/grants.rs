//! The grants of the token endpoint (RFC 6749 §4), each as Entra answers it: client credentials
//! (§4.4; app-only, `<resource>/.default`), resource owner password (§4.3; MSAL's
//! `acquire_token_by_username_password`, libhimmelblau's first sign-in), refresh token (§6),
//! device code (RFC 8628 §3.4) and authorization code with PKCE (RFC 7636). The scope or
//! `resource` names one resource; the `entra.*` refusals are asked for once per request
//! ([`refusal`]); tokens are signed with the key the rollover phase says.

use scenarios::EntraEffect;
use serde_json::{Value, json};

use super::EntraState;
use super::claims::{Endpoint, Issue, Subject};
use super::directory::{Requested, User};
use super::discovery::TenantRef;
use super::error::AadError;
use super::faults::{self, About, KeyPhase};
use super::form::Form;
use super::token::{ClientAuth, authenticate};

/// The scopes every OIDC client adds; they name no resource.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];
/// Microsoft Graph, the resource of a bare scope (`User.Read`) or of OIDC scopes alone.
const GRAPH: &str = "00000003-0000-0000-c000-000000000000";

/// One token request.
#[derive(Debug)]
pub struct Request<'a> {
    pub state: &'a EntraState,
    pub endpoint: Endpoint,
    pub form: &'a Form,
    pub tenant: TenantRef,
}

/// A token response, with what the journal records of it.
#[derive(Debug)]
pub struct Issued {
    pub body: Value,
    pub grant: &'static str,
    pub client_id: String,
    pub user: Option<String>,
    pub aud: String,
    pub kid: String,
    /// A fault that shaped the tokens (skewed times, a rollover key).
    pub fault: Option<scenarios::FaultKind>,
}

/// The resource a request names, and the scopes asked of it (`.default`: all).
#[derive(Debug, Clone)]
pub(super) struct Asked {
    pub resource: String,
    pub scopes: Option<Vec<String>>,
    pub openid: bool,
}

/// `scope=` (v2) or `resource=` (v1) → one resource.
fn asked(req: &Request<'_>) -> Result<Asked, AadError> {
    asked_of(req.endpoint, req.form.get("scope"), req.form.get("resource"))
}

/// A v2 `scope` or a v1 `resource` → one resource and the scopes asked of it.
pub(super) fn asked_of(endpoint: Endpoint, scope: Option<&str>, resource: Option<&str>) -> Result<Asked, AadError> {
    if endpoint == Endpoint::V1 {
        let resource = resource.unwrap_or(GRAPH).to_string();
        return Ok(Asked { resource, scopes: None, openid: true });
    }
    let scope = scope.ok_or_else(|| AadError::missing("scope"))?;
    let mut resource: Option<String> = None;
    let mut scopes = Vec::new();
    let mut default = false;
    let mut openid = false;
    for s in scope.split_whitespace() {
        if OIDC_SCOPES.contains(&s) {
            openid |= s == "openid";
            continue;
        }
        let (r, name) = match s.strip_suffix("/.default") {
            Some(r) => (r.to_string(), None),
            None => match s.rsplit_once('/') {
                Some((r, n)) if !r.is_empty() && !n.is_empty() => (r.to_string(), Some(n.to_string())),
                _ => (GRAPH.to_string(), Some(s.to_string())),
            },
        };
        match &resource {
            Some(prev) if !scenarios::same_resource(prev, &r) => {
                let detail: String = format!("'{scope}' names more than one resource").chars().take(300).collect();
                return Err(AadError::new("bad_scope").with("detail", detail));
            }
            _ => resource = Some(r),
        }
        match name {
            Some(n) => scopes.push(n),
            None => default = true,
        }
    }
    let resource = resource.unwrap_or_else(|| GRAPH.to_string());
    Ok(Asked { resource, scopes: (!default && !scopes.is_empty()).then_some(scopes), openid })
}

/// Dispatch on `grant_type`.
pub async fn grant(req: &Request<'_>) -> Result<Issued, AadError> {
    match req.form.get("grant_type") {
        Some("client_credentials") => client_credentials(req),
        Some("password") => password(req),
        Some("refresh_token") => refresh(req),
        // RFC 8628 §3.4's name, and the v1 endpoint's older `device_code`.
        Some("urn:ietf:params:oauth:grant-type:device_code" | "device_code") => super::interactive::device_code_grant(req),
        Some("authorization_code") => super::interactive::auth_code_grant(req),
        Some(other) => Err(AadError::new("unsupported_grant").with("detail", other.chars().take(100).collect::<String>())),
        None => Err(AadError::missing("grant_type")),
    }
}

pub(super) fn requested<'s>(state: &'s EntraState, asked: &Asked) -> Result<Requested<'s>, AadError> {
    let dir = &state.directory;
    dir.resource(&asked.resource).ok_or_else(|| {
        AadError::new("unknown_resource").with("resource", asked.resource.chars().take(200).collect::<String>()).with("tenant_name", dir.tenant_id.clone())
    })
}

fn client_credentials(req: &Request<'_>) -> Result<Issued, AadError> {
    let state = req.state;
    let (app, auth) = authenticate(state, req.form, req.tenant)?;
    if auth == ClientAuth::Public {
        return Err(AadError::new("client_auth_required"));
    }
    let asked = asked(req)?;
    if req.endpoint == Endpoint::V2 && asked.scopes.is_some() {
        return Err(
            AadError::new("confidential_needs_credential").with("detail", req.form.get("scope").unwrap_or_default().chars().take(200).collect::<String>())
        );
    }
    let requested = requested(state, &asked)?;
    let about = About { user: None, client: Some(&app.client_id), resource: Some(&asked.resource) };
    if let Some(f) = faults::select(state, about, &|e| matches!(e, EntraEffect::ConditionalAccess { .. })) {
        return Err(refusal_error(&f.effect, None, &requested).fault(f.kind().into()));
    }
    let (now, skew) = faults::now(state);
    let issue = Issue {
        dir: &state.directory,
        client: app,
        subject: Subject::App,
        requested,
        scopes: vec![],
        endpoint: req.endpoint,
        now,
        client_auth: auth as u8,
        amr: &[],
        nonce: None,
        id_token: false,
        client_info: false,
    };
    sign(state, &issue, "client_credentials", None, skew.map(|f| f.kind().into()))
}

fn password(req: &Request<'_>) -> Result<Issued, AadError> {
    let state = req.state;
    let f = req.form;
    let (app, auth) = authenticate(state, f, req.tenant)?;
    let username = f.get("username").ok_or_else(|| AadError::missing("username"))?;
    let password = f.get("password").ok_or_else(|| AadError::missing("password"))?;
    let dir = &state.directory;
    let user = dir
        .user(username)
        .ok_or_else(|| AadError::new("unknown_user").with("user", username.chars().take(113).collect::<String>()).with("tenant", dir.tenant_id.clone()))?;
    let asked = asked(req)?;
    let about = About { user: Some(&user.upn), client: Some(&app.client_id), resource: Some(&asked.resource) };
    if let Some(fault) = faults::select(state, about, &|e| matches!(e, EntraEffect::BadPassword {})) {
        return Err(AadError::new("bad_password").fault(fault.kind().into()));
    }
    if !super::same_secret(&user.password, password) {
        return Err(AadError::new("bad_password"));
    }
    user_token(req, UserGrant { app, auth, user, asked: &asked, grant: "password", amr: &["pwd"], interactive: false, nonce: None })
}

fn refresh(req: &Request<'_>) -> Result<Issued, AadError> {
    let state = req.state;
    let (app, auth) = authenticate(state, req.form, req.tenant)?;
    let rt = req.form.get("refresh_token").ok_or_else(|| AadError::missing("refresh_token"))?;
    let claims = state.sealer.open("rt", rt).ok_or_else(|| AadError::new("bad_refresh"))?;
    let (now, _) = faults::now(state);
    if claims.get("exp").and_then(Value::as_i64).is_none_or(|exp| now.unix_timestamp() > exp) {
        return Err(AadError::new("refresh_expired"));
    }
    let oid = claims.get("oid").and_then(Value::as_str).unwrap_or_default();
    let user = state.directory.user_by_oid(oid).ok_or_else(|| AadError::new("refresh_expired"))?;
    let asked = asked(req)?;
    let about = About { user: Some(&user.upn), client: Some(&app.client_id), resource: Some(&asked.resource) };
    if let Some(f) = faults::select(state, about, &|e| matches!(e, EntraEffect::RefreshTokenExpired {})) {
        return Err(AadError::new("refresh_expired").fault(f.kind().into()));
    }
    user_token(req, UserGrant { app, auth, user, asked: &asked, grant: "refresh_token", amr: &["pwd"], interactive: false, nonce: None })
}

/// The refusal an effect answers a request with.
fn refusal_error(effect: &EntraEffect, user: Option<&User>, requested: &Requested<'_>) -> AadError {
    match effect {
        EntraEffect::MfaRequired {} => AadError::new("mfa_required").with("resource", requested.resource.app_id.clone()),
        EntraEffect::ConditionalAccess { require: scenarios::CaRequirement::CompliantDevice } => AadError::new("ca_not_compliant"),
        EntraEffect::ConditionalAccess { .. } => AadError::new("ca_blocked"),
        _ => AadError::new("not_licensed")
            .with("client_name", requested.resource.name.clone())
            .with("client", requested.resource.app_id.clone())
            .with("user", user.map(|u| u.upn.clone()).unwrap_or_default()),
    }
}

/// A user's sign-in, once the user is known.
#[derive(Debug, Clone, Copy)]
pub(super) struct UserGrant<'a> {
    pub app: &'a super::directory::App,
    pub auth: ClientAuth,
    pub user: &'a User,
    pub asked: &'a Asked,
    pub grant: &'static str,
    pub amr: &'static [&'static str],
    /// The user signed in at a page (device code, authorization code), where Entra can ask for
    /// a second factor: `entra.mfa_required` does not stop it.
    pub interactive: bool,
    pub nonce: Option<&'a str>,
}

/// The policy refusal (MFA, Conditional Access, licence) a user's sign-in meets, if any.
pub(super) fn policy_refusal(state: &EntraState, g: &UserGrant<'_>, requested: &Requested<'_>) -> Option<AadError> {
    let about = About { user: Some(&g.user.upn), client: Some(&g.app.client_id), resource: Some(&g.asked.resource) };
    let interactive = g.interactive;
    let policy = move |e: &EntraEffect| match e {
        EntraEffect::MfaRequired {} => !interactive,
        EntraEffect::ConditionalAccess { .. } => true,
        EntraEffect::NotLicensed {} => requested.resource.intune,
        _ => false,
    };
    if let Some(f) = faults::select(state, about, &policy) {
        return Some(refusal_error(&f.effect, Some(g.user), requested).fault(f.kind().into()));
    }
    (requested.resource.intune && !g.user.intune_licence).then(|| refusal_error(&EntraEffect::NotLicensed {}, Some(g.user), requested))
}

/// A user's tokens: Conditional Access, MFA and licences first.
pub(super) fn user_token(req: &Request<'_>, g: UserGrant<'_>) -> Result<Issued, AadError> {
    let state = req.state;
    let UserGrant { app, auth, user, asked, grant, amr, .. } = g;
    let requested = requested(state, asked)?;
    if let Some(e) = policy_refusal(state, &g, &requested) {
        return Err(e);
    }
    let (now, skew) = faults::now(state);
    let scopes = asked.scopes.clone().unwrap_or_else(|| requested.resource.scopes.clone());
    let issue = Issue {
        dir: &state.directory,
        client: app,
        subject: Subject::User(user),
        requested,
        scopes,
        endpoint: req.endpoint,
        now,
        client_auth: auth as u8,
        amr,
        nonce: g.nonce.map(str::to_string),
        id_token: asked.openid || req.endpoint == Endpoint::V1,
        client_info: req.form.get("client_info") == Some("1"),
    };
    let rt_exp = now.unix_timestamp() + state.directory.lifetimes.refresh_token.0.as_secs() as i64;
    let rt = state.sealer.seal("rt", &json!({"oid": user.object_id, "cid": app.client_id, "iat": now.unix_timestamp(), "exp": rt_exp}));
    sign(state, &issue, grant, Some((user, rt)), skew.map(|f| f.kind().into()))
}

/// Sign the tokens of `issue` with the key of the rollover phase.
fn sign(
    state: &EntraState,
    issue: &Issue<'_>,
    grant: &'static str,
    user: Option<(&User, String)>,
    mut fault: Option<scenarios::FaultKind>,
) -> Result<Issued, AadError> {
    let lifetime = state.directory.lifetimes.access_token.0.as_secs() as i64;
    let (phase, rollover) = faults::key_phase(state);
    let signer = |claims: &Value| match phase {
        KeyPhase::Normal => state.keys.sign(claims),
        KeyPhase::Rolling | KeyPhase::Rolled => state.keys.sign_next(claims),
    };
    if phase != KeyPhase::Normal {
        fault = fault.or(rollover.map(|f| f.kind().into()));
    }
    let fail = |e: crate::jwt::JwtError| AadError::new("not_found").with("detail", format!("(signing failed: {e})"));
    let access = signer(&issue.access_claims(lifetime)).map_err(fail)?;
    let kid = crate::jwt::header(&access).ok().and_then(|h| h.kid).unwrap_or_default();
    let (id_token, refresh, upn) = match user {
        Some((u, rt)) => {
            let id = if issue.id_token { Some(signer(&issue.id_claims(u)).map_err(fail)?) } else { None };
            (id, Some(rt), Some(u.upn.clone()))
        }
        None => (None, None, None),
    };
    let body = issue.response(access, lifetime, id_token, refresh);
    Ok(Issued { body, grant, client_id: issue.client.client_id.clone(), user: upn, aud: issue.requested.aud.clone(), kid, fault })
}
