//! The authority's documents (protocols.md §14.1): instance discovery and authority aliases
//! (`/common/discovery/instance`, api-version 1.0 and 1.1), the OpenID configuration v2
//! (`/<tenant>/v2.0/.well-known/openid-configuration`) and v1 (`/<tenant>/.well-known/…`), the
//! JWKS (`/<tenant>/discovery[/v2.0]/keys`, RFC 7517 with Entra's `x5t`/`x5c`/`issuer`) and the
//! user realm (`/common/userrealm/<upn>`, which MSAL asks before a password grant).
//!
//! The tenant in a path may be the tenant id, a verified domain, the initial domain
//! (`contoso.onmicrosoft.com`), `common` or `organizations`; Entra's documents for a domain name
//! the tenant id in every endpoint (MSAL takes the tenant from `token_endpoint`), and `common`'s
//! issuer is the template `https://login.microsoftonline.com/{tenantid}/v2.0`. Anything else is
//! AADSTS90002, as the real authority answers (`entra.tenant_not_found` makes it so for the
//! tenant too).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::EntraState;
use super::error::{AadError, Rendered};
use super::faults::{self, KeyPhase};

/// A tenant as a request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantRef {
    /// This world's tenant (by id or domain).
    Ours,
    /// `common` or `organizations`: any work tenant.
    Multi(&'static str),
}

/// The tenant a path segment names, or AADSTS90002.
pub fn resolve_tenant(state: &EntraState, segment: &str) -> Result<(TenantRef, Option<scenarios::FaultKind>), AadError> {
    let gone = faults::tenant_gone(state);
    let found = if state.directory.is_tenant(segment) {
        Some(TenantRef::Ours)
    } else if segment.eq_ignore_ascii_case("common") {
        Some(TenantRef::Multi("common"))
    } else if segment.eq_ignore_ascii_case("organizations") {
        Some(TenantRef::Multi("organizations"))
    } else {
        None
    };
    match (found, gone) {
        (Some(TenantRef::Ours), Some(f)) => Err(AadError::new("tenant_not_found").with("tenant", segment).fault(f.kind().into())),
        (Some(t), _) => Ok((t, None)),
        (None, _) => Err(AadError::new("tenant_not_found").with("tenant", segment.chars().take(100).collect::<String>())),
    }
}

/// An error answer, journaled.
pub fn refuse(state: &EntraState, err: &AadError, headers: &HeaderMap, host: &str, what: &str) -> Response {
    let (now, _) = faults::now(state);
    let correlation = headers.get("client-request-id").and_then(|v| v.to_str().ok());
    let rendered = Rendered::of(err, &state.data, now, correlation);
    let mut event = scenarios::NewEvent::new(scenarios::Component::Http, "token_refused")
        .host(host)
        .detail("endpoint", what)
        .detail("code", format!("AADSTS{}", rendered.code))
        .detail("error", rendered.body["error"].clone());
    if let Some(k) = err.fault {
        event = event.fault(k);
    }
    state.journal.record(event);
    rendered.into_response()
}

fn host_of(headers: &HeaderMap) -> String {
    headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase()).unwrap_or_default()
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`.
pub async fn instance(State(state): State<EntraState>, Path(_tenant): Path<String>, Query(q): Query<HashMap<String, String>>, headers: HeaderMap) -> Response {
    let dir = &state.directory;
    let auth = &dir.authority;
    let api = q.get("api-version").cloned().unwrap_or_else(|| "1.1".into());
    let endpoint = q.get("authorization_endpoint").cloned().unwrap_or_else(|| format!("https://{}/common/oauth2/authorize", auth.host));
    // `https://<host>/<tenant>/oauth2/[v2.0/]authorize`: the host must be one of ours.
    let rest = endpoint.strip_prefix("https://").unwrap_or_default();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if !auth.aliases.iter().any(|a| a.eq_ignore_ascii_case(host)) {
        return refuse(&state, &AadError::new("invalid_instance"), &headers, &host_of(&headers), "instance_discovery");
    }
    let tenant = path.split('/').next().filter(|t| !t.is_empty()).unwrap_or("common");
    let v2 = if path.contains("/v2.0/") { "/v2.0" } else { "" };
    super::json(
        StatusCode::OK,
        &json!({
            "tenant_discovery_endpoint": format!("https://{host}/{tenant}{v2}/.well-known/openid-configuration"),
            "api-version": api,
            "metadata": [{ "preferred_network": auth.host, "preferred_cache": auth.aliases.get(1).unwrap_or(&auth.host), "aliases": auth.aliases }],
        }),
    )
}

/// The OpenID configurations a world serves, by tenant and version. Each is a function of the
/// directory alone, which is fixed for the world's life, so it is built on its first request and
/// then served as the same bytes (issue 20: it was rebuilt per request, and sign-ins fetch it
/// first). A tenant's refusal (`entra.tenant_not_found`) is decided before, per request.
#[derive(Debug, Clone, Default)]
pub struct Documents(Arc<Mutex<HashMap<(TenantRef, bool), bytes::Bytes>>>);

/// The OpenID configuration for `tenant`, v2 or v1.
fn openid(state: &EntraState, tenant: &str, v2: bool, headers: &HeaderMap) -> Response {
    let (t, _) = match resolve_tenant(state, tenant) {
        Ok(t) => t,
        Err(e) => return refuse(state, &e, headers, &host_of(headers), "openid_configuration"),
    };
    let kept = state.documents.0.lock().unwrap_or_else(|p| p.into_inner()).get(&(t, v2)).cloned();
    let text = kept.unwrap_or_else(|| {
        let text = bytes::Bytes::from(openid_document(state, t, v2).to_string());
        state.documents.0.lock().unwrap_or_else(|p| p.into_inner()).insert((t, v2), text.clone());
        text
    });
    super::json_text(StatusCode::OK, text)
}

/// The OpenID configuration document of tenant `t`, v2 or v1.
fn openid_document(state: &EntraState, t: TenantRef, v2: bool) -> Value {
    let dir = &state.directory;
    let host = &dir.authority.host;
    let (seg, tid_in_issuer) = match t {
        TenantRef::Ours => (dir.tenant_id.clone(), dir.tenant_id.clone()),
        TenantRef::Multi(name) => (name.to_string(), "{tenantid}".to_string()),
    };
    let base = format!("https://{host}/{seg}");
    let mut doc = if v2 {
        json!({
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "issuer": format!("https://{host}/{tid_in_issuer}/v2.0"),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
            "end_session_endpoint": format!("{base}/oauth2/v2.0/logout"),
            "kerberos_endpoint": format!("{base}/kerberos"),
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        })
    } else {
        let issuer = match t {
            TenantRef::Ours => dir.v1_issuer(),
            TenantRef::Multi(_) => dir.authority.v1_issuer.replace("{tenant}", "{tenantid}"),
        };
        json!({
            "token_endpoint": format!("{base}/oauth2/token"),
            "jwks_uri": format!("https://{host}/common/discovery/keys"),
            "issuer": issuer,
            "authorization_endpoint": format!("{base}/oauth2/authorize"),
            "device_authorization_endpoint": format!("{base}/oauth2/devicecode"),
            "end_session_endpoint": format!("{base}/oauth2/logout"),
            "kerberos_endpoint": format!("{base}/kerberos"),
            "scopes_supported": ["openid"],
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"],
            "microsoft_multi_refresh_token": true,
            "userinfo_endpoint": format!("{base}/openid/userinfo"),
        })
    };
    let common = json!({
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "request_uri_parameter_supported": false,
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "tenant_region_scope": "NA",
        "cloud_instance_name": host.trim_start_matches("login."),
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    });
    if let (Some(d), Some(c)) = (doc.as_object_mut(), common.as_object()) {
        d.extend(c.clone());
    }
    doc
}

pub async fn openid_v2(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    openid(&state, &tenant, true, &headers)
}

pub async fn openid_v1(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    openid(&state, &tenant, false, &headers)
}

/// The JWKS: the current key, and the rollover key once a rollover is over.
pub async fn jwks(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap) -> Response {
    if let Err(e) = resolve_tenant(&state, &tenant) {
        return refuse(&state, &e, &headers, &host_of(&headers), "jwks");
    }
    let issuer = format!("https://{}/{{tenantid}}/v2.0", state.directory.authority.host);
    let mut keys = Vec::new();
    let current = state.keys.current();
    let next = match faults::key_phase(&state).0 {
        KeyPhase::Rolled => Some(state.keys.next()),
        KeyPhase::Normal | KeyPhase::Rolling => None,
    };
    for k in std::iter::once(current).chain(next) {
        match k {
            Ok(k) => keys.push(k.jwk(&issuer)),
            Err(e) => return refuse(&state, &AadError::new("not_found").with("detail", format!("(signing key: {e})")), &headers, &host_of(&headers), "jwks"),
        }
    }
    super::json(StatusCode::OK, &json!({ "keys": keys }))
}

fn realm(state: &EntraState, login: &str) -> Value {
    let dir = &state.directory;
    let domain = login.rsplit_once('@').map_or(login, |(_, d)| d);
    let ours = dir.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) || domain.eq_ignore_ascii_case(&dir.initial_domain());
    let cloud = dir.authority.host.trim_start_matches("login.");
    json!({
        "ver": "1.0",
        "account_type": if ours { "Managed" } else { "Unknown" },
        "domain_name": domain,
        "cloud_instance_name": cloud,
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    })
}

/// `GET /common/userrealm/<upn>?api-version=1.0`: managed for the tenant's domains.
pub async fn userrealm(State(state): State<EntraState>, Path(user): Path<String>) -> Response {
    super::json(StatusCode::OK, &realm(&state, &user))
}

/// `GET /getuserrealm.srf?login=<upn>` (the older spelling, still asked by Windows).
pub async fn getuserrealm(State(state): State<EntraState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let login = q.get("login").cloned().unwrap_or_default();
    let mut v = realm(&state, &login);
    v["NameSpaceType"] = v["account_type"].clone();
    v["Login"] = login.into();
    super::json(StatusCode::OK, &v)
}

/// `GET /`: the authority is up. (The real host redirects a browser to office.com; reachability
/// checks — the SCP's, curl's — only need an answer, and a 200 page keeps them as they were
/// when the generic service answered this host.)
pub async fn home() -> Response {
    let mut res = (StatusCode::OK, "<!doctype html><title>Sign in</title><p>memsim: Entra ID authority.</p>\n").into_response();
    res.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

/// Any other path: a JSON 404, so a client that reads errors as JSON reports the real cause.
pub async fn not_found(State(state): State<EntraState>, uri: Uri, headers: HeaderMap) -> Response {
    let path: String = uri.path().chars().take(200).collect();
    refuse(&state, &AadError::new("not_found").with("detail", path), &headers, &host_of(&headers), "unknown")
}

/// A token endpoint asked with another method than POST.
pub async fn wrong_method(State(state): State<EntraState>, method: Method, headers: HeaderMap) -> Response {
    let err = AadError::new("wrong_method").with("detail", "POST").with("method", method.as_str().chars().take(16).collect::<String>());
    refuse(&state, &err, &headers, &host_of(&headers), "token")
}
