//! The federated sign-in page, `AuthenticationServiceUrl` (protocols.md §2.3;
//! federated-authentication-device-enrollment.md; fleet's `mdmMicrosoftAuthEndpoint` checks
//! `appru` and `login_hint`): the Windows client opens `…?appru=<ms-app://…>&login_hint=<UPN>` in
//! its web authentication broker; the page signs the user in against the tenant's directory and
//! its last page auto-POSTs a form whose hidden field `wresult` holds the token, to `appru`. The
//! client then sends that token, base64, as the XCEP/WSTEP BinarySecurityToken
//! (`…/DeviceEnrollmentUserToken`).
//!
//! The token is the world's own: an Entra-signed JWT for the enrollment resource (what Intune's
//! own federated flow carries is not public), so the policy and enrollment services check it as
//! they check an Entra token. The pages are plain HTML without scripts of their own but the one
//! auto-submit, so a browser-driven lab can enroll the federated way; every reflected value is
//! HTML-escaped.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::{Component, NewEvent};

use crate::services::AppState;
use crate::services::entra::form::Form;

/// The largest sign-in form read.
const MAX_FORM: usize = 16 * 1024;
/// How long the `wresult` token is valid (Entra's access token lifetime).
const TOKEN_SECS: i64 = 3600;

pub async fn handle(state: &AppState, req: Request) -> Response {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let query = Form::parse(req.uri().query().unwrap_or_default().as_bytes()).unwrap_or_default();
    match *req.method() {
        Method::GET | Method::HEAD => {
            let Some(appru) = query.get("appru").filter(|a| acceptable_appru(a)).map(str::to_string) else {
                return page(StatusCode::BAD_REQUEST, "Sign in", "<p>The request has no valid <code>appru</code> (the address the sign-in returns to).</p>");
            };
            sign_in_form(&appru, query.get("login_hint").unwrap_or_default(), None)
        }
        Method::POST => {
            let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_FORM).await else {
                return page(StatusCode::PAYLOAD_TOO_LARGE, "Sign in", "<p>The form is too large.</p>");
            };
            let Ok(form) = Form::parse(&bytes) else {
                return page(StatusCode::BAD_REQUEST, "Sign in", "<p>The form could not be read.</p>");
            };
            let appru = form.get("appru").filter(|a| acceptable_appru(a)).unwrap_or_default().to_string();
            if appru.is_empty() {
                return page(StatusCode::BAD_REQUEST, "Sign in", "<p>The request has no valid <code>appru</code>.</p>");
            }
            let upn = form.get("login").unwrap_or_default().trim().to_string();
            let event = NewEvent::new(Component::Http, "sign_in").host(host).detail("upn", crate::services::enrollment::soap::short(&upn));
            if !check_password(state, &upn, form.get("password").unwrap_or_default()) {
                state.journal.record(event.detail("result", "bad_password"));
                // AADSTS50126's words, as the Entra sign-in page shows them.
                return sign_in_form(&appru, &upn, Some("Your account or password is incorrect."));
            }
            match token(state, &upn) {
                Ok(token) => {
                    state.journal.record(event.detail("result", "signed_in"));
                    return_to(&appru, &token)
                }
                Err(e) => page(StatusCode::INTERNAL_SERVER_ERROR, "Sign in", &format!("<p>{}</p>", escape(&e))),
            }
        }
        _ => crate::services::plain_error(StatusCode::METHOD_NOT_ALLOWED, "the sign-in page takes GET and POST", "GET, HEAD, POST"),
    }
}

/// Whether `upn` signs in with `password` in the tenant's directory.
pub fn check_password(state: &AppState, upn: &str, password: &str) -> bool {
    state.entra.directory.user(upn).is_some_and(|u| crate::services::entra::same_secret(&u.password, password))
}

/// Where the broker may be sent back: the Windows app's `ms-app://` address, or a web page of a lab.
fn acceptable_appru(appru: &str) -> bool {
    ["ms-app://", "https://", "http://"].iter().any(|p| appru.starts_with(p)) && appru.len() <= 2048
}

/// The token `wresult` carries: the enrollment resource's, for `upn`, at the simulated now.
fn token(state: &AppState, upn: &str) -> Result<String, String> {
    let now = state.journal.clock().now().unix_timestamp();
    let tenant = &state.world.tenant_id;
    let user = state.entra.directory.user(upn).ok_or("no such user")?;
    let audience = state.catalog.enrollment.token.audiences.first().cloned().unwrap_or_default();
    let issuer = state.catalog.enrollment.token.issuers.first().map(|i| i.replace("{tenant}", tenant)).unwrap_or_default();
    let claims = serde_json::json!({
        "aud": audience, "iss": issuer, "tid": tenant, "upn": user.upn, "unique_name": user.upn, "oid": user.object_id,
        "iat": now, "nbf": now, "exp": now + TOKEN_SECS, "amr": ["pwd"],
    });
    state.entra.keys.sign(&claims).map_err(|e| e.to_string())
}

fn sign_in_form(appru: &str, login: &str, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    let body = format!(
        "{error}<form method=\"post\"><input type=\"hidden\" name=\"appru\" value=\"{}\"><label>Email, phone, or Skype <input name=\"login\" type=\"email\" value=\"{}\"></label><label>Password <input name=\"password\" type=\"password\"></label><button type=\"submit\">Sign in</button></form>",
        escape(appru),
        escape(login)
    );
    page(StatusCode::OK, "Sign in to your account", &body)
}

/// The last page: a form that posts `wresult` to `appru`, submitted as soon as it loads.
fn return_to(appru: &str, token: &str) -> Response {
    let body = format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"wresult\" value=\"{}\"><noscript><button type=\"submit\">Continue</button></noscript></form><script>document.forms[0].submit();</script>",
        escape(appru),
        escape(token)
    );
    page(StatusCode::OK, "Working on it…", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head><body><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    );
    let mut res = (status, html).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}

/// HTML text and attribute escaping (the five characters HTML gives meaning to).
pub fn escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}
