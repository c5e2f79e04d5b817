//! The flows where a person signs in at a page: the device authorization grant (RFC 8628: the
//! `devicecode` endpoint, then polling the token endpoint, `authorization_pending` until the
//! simulated user has signed in `sign_in_delay` of simulated time after the code was issued,
//! `expired_token` past the code's lifetime) and the authorization code grant with PKCE
//! (RFC 6749 §4.1, RFC 7636) behind a plain HTML sign-in page a lab can use in a browser.
//!
//! memsim's own: the device-code user is the directory's first user (nobody types the code
//! in); codes are sealed, not stored, so an authorization code can be redeemed more than once
//! within its ten minutes (Entra's are one-time).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;

use super::EntraState;
use super::claims::Endpoint;
use super::discovery::{refuse, resolve_tenant};
use super::error::AadError;
use super::faults;
use super::form::{Form, MAX_BODY};
use super::grants::{Issued, Request, UserGrant, asked_of, policy_refusal, requested, user_token};
use super::token::authenticate;

fn host_of(headers: &HeaderMap) -> String {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase()).unwrap_or_default()
}

async fn read_form(state: &EntraState, body: Body, headers: &HeaderMap, what: &str) -> Result<Form, Response> {
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| refuse(state, &AadError::new("malformed_body").with("detail", format!("more than {MAX_BODY} bytes")), headers, &host_of(headers), what))?;
    Form::parse(&bytes).map_err(|e| refuse(state, &AadError::new("malformed_body").with("detail", e.to_string()), headers, &host_of(headers), what))
}

/// A user code as Entra shows it: nine letters and digits without look-alikes.
fn user_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 9];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char).collect()
}

pub async fn devicecode_v2(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap, body: Body) -> Response {
    devicecode(state, tenant, Endpoint::V2, headers, body).await
}

pub async fn devicecode_v1(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap, body: Body) -> Response {
    devicecode(state, tenant, Endpoint::V1, headers, body).await
}

/// `POST /<tenant>/oauth2/v2.0/devicecode` (`client_id`, `scope`).
async fn devicecode(state: EntraState, tenant: String, endpoint: Endpoint, headers: HeaderMap, body: Body) -> Response {
    let host = host_of(&headers);
    if let Err(e) = resolve_tenant(&state, &tenant) {
        return refuse(&state, &e, &headers, &host, "devicecode");
    }
    let form = match read_form(&state, body, &headers, "devicecode").await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let checked = (|| {
        let client = form.get("client_id").ok_or_else(|| AadError::missing("client_id"))?;
        let app = state.directory.app(client).ok_or_else(|| {
            AadError::new("unknown_client").with("client", client.chars().take(64).collect::<String>()).with("tenant", state.directory.tenant_id.clone())
        })?;
        let asked = asked_of(endpoint, form.get("scope"), form.get("resource"))?;
        requested(&state, &asked)?;
        Ok::<_, AadError>((app.client_id.clone(), asked))
    })();
    let (client_id, _) = match checked {
        Ok(x) => x,
        Err(e) => return refuse(&state, &e, &headers, &host, "devicecode"),
    };
    let (now, _) = faults::now(&state);
    let lifetime = state.directory.lifetimes.device_code.0.as_secs() as i64;
    let uc = user_code();
    let dc = state.sealer.seal(
        "dc",
        &json!({"cid": client_id, "scope": form.get("scope"), "resource": form.get("resource"), "iat": now.unix_timestamp(), "exp": now.unix_timestamp() + lifetime, "uc": uc}),
    );
    let url = &state.directory.authority.device_login_url;
    let key = if endpoint == Endpoint::V1 { "verification_url" } else { "verification_uri" };
    let mut body = json!({
        "user_code": uc, "device_code": dc, "expires_in": lifetime, "interval": 5,
        "message": format!("To sign in, use a web browser to open the page {url} and enter the code {uc} to authenticate."),
    });
    body[key] = url.clone().into();
    super::json(StatusCode::OK, &body)
}

/// The device-code grant: pending, expired, or the first user's tokens.
pub fn device_code_grant(req: &Request<'_>) -> Result<Issued, AadError> {
    let state = req.state;
    let (app, auth) = authenticate(state, req.form, req.tenant)?;
    let code = req.form.get("device_code").or(req.form.get("code")).ok_or_else(|| AadError::missing("device_code"))?;
    let claims = state.sealer.open("dc", code).ok_or_else(|| AadError::new("bad_code").with("detail", "not a device code of this tenant"))?;
    let (now, _) = faults::now(state);
    let num = |k: &str| claims.get(k).and_then(Value::as_i64).unwrap_or_default();
    if now.unix_timestamp() > num("exp") {
        return Err(AadError::new("expired_token"));
    }
    if now.unix_timestamp() < num("iat") + state.directory.sign_in_delay().0.as_secs() as i64 {
        return Err(AadError::new("authorization_pending"));
    }
    if claims.get("cid").and_then(Value::as_str) != Some(app.client_id.as_str()) {
        return Err(AadError::new("bad_code").with("detail", "the device code was issued to another client"));
    }
    let user = state.directory.users.first().ok_or_else(|| AadError::new("bad_code").with("detail", "the tenant has no users"))?;
    let asked = asked_of(req.endpoint, claims.get("scope").and_then(Value::as_str), claims.get("resource").and_then(Value::as_str))?;
    user_token(req, UserGrant { app, auth, user, asked: &asked, grant: "device_code", amr: &["pwd", "mfa"], interactive: true, nonce: None })
}

/// The authorization-code grant: the code, its redirect URI and its PKCE verifier.
pub fn auth_code_grant(req: &Request<'_>) -> Result<Issued, AadError> {
    let state = req.state;
    let f = req.form;
    let (app, auth) = authenticate(state, f, req.tenant)?;
    let code = f.get("code").ok_or_else(|| AadError::missing("code"))?;
    let c = state.sealer.open("code", code).ok_or_else(|| AadError::new("bad_code").with("detail", "not a code of this tenant"))?;
    let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_string);
    let (now, _) = faults::now(state);
    if c.get("exp").and_then(Value::as_i64).is_none_or(|exp| now.unix_timestamp() > exp) {
        return Err(AadError::new("refresh_expired"));
    }
    if s("cid").as_deref() != Some(app.client_id.as_str()) {
        return Err(AadError::new("bad_code").with("detail", "the code was issued to another client"));
    }
    if f.get("redirect_uri") != s("ru").as_deref() {
        return Err(AadError::new("bad_redirect")
            .with("detail", f.get("redirect_uri").unwrap_or_default().chars().take(200).collect::<String>())
            .with("client", app.client_id.clone()));
    }
    if let Some(challenge) = s("cc") {
        let verifier = f.get("code_verifier").ok_or_else(|| AadError::missing("code_verifier"))?;
        let computed = match s("ccm").as_deref() {
            Some("plain") => verifier.to_string(),
            _ => base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes())),
        };
        if !super::same_secret(&computed, &challenge) {
            return Err(AadError::new("bad_pkce"));
        }
    }
    let oid = s("oid").unwrap_or_default();
    let user = state.directory.user_by_oid(&oid).ok_or_else(|| AadError::new("bad_code").with("detail", "the user is gone"))?;
    let asked = asked_of(req.endpoint, s("scope").as_deref(), s("resource").as_deref())?;
    let nonce = s("nonce");
    user_token(req, UserGrant { app, auth, user, asked: &asked, grant: "authorization_code", amr: &["pwd", "mfa"], interactive: true, nonce: nonce.as_deref() })
}

/// `&`, `<`, `>`, `"`, `'` escaped for HTML text and attribute values.
fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The parameters of an authorization request the page carries through its form.
const CARRIED: &[&str] =
    &["client_id", "response_type", "redirect_uri", "scope", "resource", "state", "nonce", "code_challenge", "code_challenge_method", "response_mode"];

fn page(status: StatusCode, params: &HashMap<String, String>, login: &str, error: Option<&str>) -> Response {
    let hidden: String =
        CARRIED.iter().filter_map(|k| params.get(*k).map(|v| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">\n", esc(v)))).collect();
    let alert = error.map(|e| format!("<p role=\"alert\" id=\"error\">{}</p>\n", esc(e))).unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Sign in to your account</title></head>\n<body>\n<main>\n<h1>Sign in</h1>\n{alert}<form method=\"post\">\n{hidden}<p><label for=\"login\">Email, phone, or Skype</label><br><input id=\"login\" name=\"login\" type=\"email\" autocomplete=\"username\" required value=\"{}\"></p>\n<p><label for=\"passwd\">Password</label><br><input id=\"passwd\" name=\"passwd\" type=\"password\" autocomplete=\"current-password\" required></p>\n<p><button type=\"submit\">Sign in</button></p>\n</form>\n<p><small>memsim: a simulated Entra ID sign-in page.</small></p>\n</main>\n</body>\n</html>\n",
        esc(login)
    );
    let mut res = (status, html).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

/// The client and redirect URI of an authorization request, checked before any page is shown
/// (a bad redirect URI is never redirected to: RFC 6749 §4.1.2.1).
fn check_client(state: &EntraState, p: &HashMap<String, String>) -> Result<(), String> {
    let client = p.get("client_id").map(String::as_str).unwrap_or_default();
    let Some(app) = state.directory.app(client) else {
        return Err(format!("AADSTS700016: Application with identifier '{client}' was not found in the directory."));
    };
    let ru = p.get("redirect_uri").map(String::as_str).unwrap_or_default();
    if !app.redirect_uris.iter().any(|r| r == ru || (r == "http://localhost" && (ru.starts_with("http://localhost:") || ru.starts_with("http://localhost/")))) {
        return Err(format!(
            "AADSTS50011: The redirect URI '{ru}' specified in the request does not match the redirect URIs configured for the application '{client}'."
        ));
    }
    if p.get("response_type").map(String::as_str) != Some("code") {
        return Err("AADSTS700054: response_type 'code' is the only one memsim's authority supports.".into());
    }
    Ok(())
}

/// `GET /<tenant>/oauth2/v2.0/authorize?...`: the sign-in page.
pub async fn authorize_page(State(state): State<EntraState>, Path(tenant): Path<String>, Query(p): Query<HashMap<String, String>>) -> Response {
    if resolve_tenant(&state, &tenant).is_err() {
        return page(StatusCode::BAD_REQUEST, &HashMap::new(), "", Some(&format!("AADSTS90002: Tenant '{tenant}' not found.")));
    }
    if let Err(e) = check_client(&state, &p) {
        return page(StatusCode::BAD_REQUEST, &HashMap::new(), "", Some(&e));
    }
    page(StatusCode::OK, &p, p.get("login_hint").map(String::as_str).unwrap_or_default(), None)
}

/// `POST /<tenant>/oauth2/v2.0/authorize`: the page's form. Good credentials redirect to the
/// client with a code; a policy refusal redirects with Entra's error; bad ones show the page again.
pub async fn authorize_submit(State(state): State<EntraState>, Path(tenant): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let Ok(form) = read_form(&state, body, &headers, "authorize").await else {
        return page(StatusCode::BAD_REQUEST, &HashMap::new(), "", Some("The request body is malformed."));
    };
    let p: HashMap<String, String> = CARRIED.iter().chain(&["login", "passwd"]).filter_map(|k| form.get(k).map(|v| (k.to_string(), v.to_string()))).collect();
    if resolve_tenant(&state, &tenant).is_err() {
        return page(StatusCode::BAD_REQUEST, &HashMap::new(), "", Some(&format!("AADSTS90002: Tenant '{tenant}' not found.")));
    }
    if let Err(e) = check_client(&state, &p) {
        return page(StatusCode::BAD_REQUEST, &HashMap::new(), "", Some(&e));
    }
    let get = |k: &str| p.get(k).map(String::as_str).unwrap_or_default();
    let user = match state.directory.user(get("login")) {
        Some(u) if super::same_secret(&u.password, get("passwd")) => u,
        _ => return page(StatusCode::OK, &p, get("login"), Some("Your account or password is incorrect. (AADSTS50126)")),
    };
    let endpoint = if get("scope").is_empty() { Endpoint::V1 } else { Endpoint::V2 };
    let redirect = |query: String| {
        let sep = if get("redirect_uri").contains('?') { '&' } else { '?' };
        let mut res = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&format!("{}{sep}{query}", get("redirect_uri"))) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        res
    };
    let state_param = p.get("state").map(|s| format!("&state={}", pct(s))).unwrap_or_default();
    let app = state.directory.app(get("client_id"));
    let asked = asked_of(endpoint, p.get("scope").map(String::as_str), p.get("resource").map(String::as_str));
    if let (Some(app), Ok(asked)) = (app, &asked)
        && let Ok(requested) = requested(&state, asked)
    {
        let g =
            UserGrant { app, auth: super::token::ClientAuth::Public, user, asked, grant: "authorization_code", amr: &["pwd"], interactive: true, nonce: None };
        if let Some(e) = policy_refusal(&state, &g, &requested) {
            let (now, _) = faults::now(&state);
            let r = super::error::Rendered::of(&e, &state.data, now, None);
            let desc = r.body["error_description"].as_str().unwrap_or_default().to_string();
            return redirect(format!("error=access_denied&error_description={}{state_param}", pct(&desc)));
        }
    }
    let (now, _) = faults::now(&state);
    let exp = now.unix_timestamp() + state.directory.lifetimes.auth_code.0.as_secs() as i64;
    let code = state.sealer.seal(
        "code",
        &json!({"oid": user.object_id, "cid": get("client_id").to_ascii_lowercase(), "ru": get("redirect_uri"), "cc": p.get("code_challenge"),
                "ccm": p.get("code_challenge_method"), "scope": p.get("scope"), "resource": p.get("resource"), "nonce": p.get("nonce"), "exp": exp}),
    );
    redirect(format!("code={}{state_param}&session_state={}", pct(&code), super::ids::random_guid()))
}

/// Percent-encode a query value.
fn pct(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
