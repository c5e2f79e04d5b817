//! The Entra path of `cmg-register` (seed 004 recommends it; failure catalog CMG-05): ccmsetup
//! asks the gateway's `AADAuthInfo` which app and resource to use, gets a token for
//! `https://ConfigMgrService` from the tenant's Entra ID (the world's authority, a password
//! grant for the world's first user, as the Entra issue's token endpoint offers it) and gives it
//! to `CCM_STS` instead of a bulk token. ccmsetup.log's line is the catalog's:
//! `Getting AAD (user) token with: ClientId = …, ResourceUrl = https://ConfigMgrService,
//! AccountId = https://login.microsoftonline.com/common/oauth2/token`.

use hyper::Method;
use serde_json::Value;

use super::ProbeTarget;
use super::cmg_session::{HttpFailure, Session};
use super::http::Channel;

/// An Entra access token for the CMG's resource, or why there is none (CCMHTTP's lines).
pub async fn token(target: &ProbeTarget, s: &mut Session<'_>, log: &mut Vec<String>) -> Result<String, HttpFailure> {
    let Some(authority) = super::http::split_https(&target.entra.authority).map(|(host, _)| host) else {
        return Err(HttpFailure { status: None, lines: vec!["no Entra ID authority in this world (world.json `entra`)".into()] });
    };
    let authority = authority.as_str();
    let (app, resource) = s.aad_auth_info(&target.tenant_id).await?;
    log.push(format!(
        "ccmsetup.log: Getting AAD (user) token with: ClientId = {app}, ResourceUrl = {resource}, AccountId = https://{authority}/common/oauth2/token"
    ));
    let Some((upn, password)) = target.entra_user.clone() else {
        return Err(HttpFailure { status: None, lines: vec!["no Entra ID user to sign in with (world.json `entra.users`)".into()] });
    };
    let url = format!("https://{authority}/{}/oauth2/v2.0/token", target.tenant_id);
    let mut ch = Channel::open(target, authority).await.map_err(|e| HttpFailure { status: None, lines: vec![format!("[ADAL] {url}: {}", e.net())] })?;
    let form = [
        ("grant_type", "password"),
        ("client_id", app.as_str()),
        ("scope", &format!("{resource}/.default")),
        ("username", upn.as_str()),
        ("password", password.as_str()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", encode(v)))
    .collect::<Vec<_>>()
    .join("&");
    let path = url.trim_start_matches("https://").trim_start_matches(authority).to_string();
    let headers = [("content-type", "application/x-www-form-urlencoded".to_string())];
    let (res, body) = ch
        .exchange(Method::POST, &path, &headers, Some(form.into_bytes()), 1 << 20)
        .await
        .map_err(|e| HttpFailure { status: None, lines: vec![format!("[ADAL] {url}: {e}")] })?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match v["access_token"].as_str() {
        Some(t) if res.status() == 200 => Ok(t.to_string()),
        _ => Err(HttpFailure {
            status: Some(res.status().as_u16()),
            lines: vec![format!("[ADAL] {url} answered {}: {}", res.status(), v["error_description"].as_str().unwrap_or("no token"))],
        }),
    }
}

/// `application/x-www-form-urlencoded` for one value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
