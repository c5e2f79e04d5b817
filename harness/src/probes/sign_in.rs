//! The `sign-in` probe: an MSAL-like public client signing in to the world's Entra ID (issue 12,
//! protocols.md §14.1), through the world's proxy and DNS, trusting only the world's CA:
//!
//! 1. OpenID discovery of the tenant's authority (`/<tenant>/v2.0/.well-known/openid-configuration`),
//!    then its JWKS;
//! 2. the scenario's grant at the `token_endpoint` the document names: password (the Microsoft
//!    Authentication Broker, as libhimmelblau signs in), then refresh, device code (polling at
//!    the interval the authority gives, in the world's time), or client credentials with the
//!    tenant's confidential app;
//! 3. the access token checked as a .NET resource checks it (Microsoft.IdentityModel): its
//!    `kid` in the JWKS (fetched again once on a miss, as the library refreshes its metadata),
//!    the RS256 signature, `aud`, and `nbf`/`exp` against the client's clock with five minutes'
//!    allowance.
//!
//! Codes: a refusal is the authority's `AADSTSnnnnn` (entra.toml); no connection 0x80072EFD, TLS
//! 0x80072F8F, no answer 0x80072EE2; a key the JWKS lacks IDX10501; a token not yet valid
//! IDX10222, expired IDX10223 (codes.toml).

use std::time::Duration;

use hyper::Method;
use mock_cloud::services::entra::EntraDescription;
use scenarios::SignInGrant;
use serde_json::Value;

use super::http::{Channel, OpenError, split_https};
use super::net::NetError;
use super::{Code, ProbeResult, Run};

/// The Microsoft Authentication Broker (protocols.md §7), the public client the probe is.
const BROKER: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";
/// The resource when the scenario names none: the Intune enrollment service.
pub const DEFAULT_RESOURCE: &str = "https://enrollment.manage.microsoft.com/";
/// Microsoft.IdentityModel's default clock skew allowance.
const ALLOWANCE_SECS: i64 = 300;
const LIMIT: usize = 256 * 1024;

/// What the probe was asked to do (from the scenario's `[client]`).
#[derive(Debug, Clone, Default)]
pub struct SignIn {
    pub grant: SignInGrant,
    pub resource: Option<String>,
}

struct Fail(&'static str, Failure, String);

enum Failure {
    Code(Code),
    Aadsts(String),
}

fn open_failure(step: &'static str, e: &OpenError) -> Fail {
    let code = match e.net() {
        NetError::Tls { .. } => Code::ERROR_WINHTTP_SECURE_FAILURE,
        NetError::Connect(_, io) if io.kind() == std::io::ErrorKind::TimedOut => Code::WININET_E_TIMEOUT,
        _ => Code::WININET_E_CANNOT_CONNECT,
    };
    Fail(step, Failure::Code(code), e.net().to_string())
}

/// One JSON exchange with the authority; an Entra error body becomes its AADSTS code.
async fn call(ch: &mut Channel, step: &'static str, method: Method, path: &str, form: Option<String>) -> Result<Value, Fail> {
    let mut headers = vec![("accept", "application/json".to_string()), ("x-client-sku", "memsim.sign-in".to_string()), ("client-request-id", random_id())];
    if form.is_some() {
        headers.push(("content-type", "application/x-www-form-urlencoded".into()));
    }
    let (res, body) =
        ch.exchange(method, path, &headers, form.map(String::into_bytes), LIMIT).await.map_err(|e| Fail(step, Failure::Code(Code::WININET_E_TIMEOUT), e))?;
    let status = res.status().as_u16();
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    match json {
        Some(v) if (200..300).contains(&status) => Ok(v),
        Some(v) if v["error_codes"][0].is_u64() => {
            let code = format!("AADSTS{}", v["error_codes"][0]);
            let desc = v["error_description"].as_str().unwrap_or_default().lines().next().unwrap_or_default().to_string();
            Err(Fail(step, Failure::Aadsts(code), format!("{} ({status}): {desc}", v["error"].as_str().unwrap_or("error"))))
        }
        _ => Err(Fail(step, Failure::Code(Code::WININET_E_CANNOT_CONNECT), format!("{path}: HTTP {status} without an Entra JSON body"))),
    }
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    let _ = getrandom::fill(&mut b);
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    match sign_in(run).await {
        Ok(message) => run.pass("token", message),
        Err(Fail(step, Failure::Code(code), message)) => run.fail(step, code, message),
        Err(Fail(step, Failure::Aadsts(code), message)) => run.fail_aadsts(step, &code, message),
    }
}

async fn sign_in(run: &Run<'_>) -> Result<String, Fail> {
    let target = run.target;
    let entra: &EntraDescription = &target.entra;
    let (host, base) = split_https(&entra.authority)
        .ok_or_else(|| Fail("discovery", Failure::Code(Code::WININET_E_CANNOT_CONNECT), format!("authority {} is not https", entra.authority)))?;
    let mut ch = Channel::open(target, &host).await.map_err(|e| open_failure("connect", &e))?;
    let config = call(&mut ch, "discovery", Method::GET, &format!("{base}/v2.0/.well-known/openid-configuration"), None).await?;
    let path_of = |key: &str| -> Result<String, Fail> {
        let url = config[key].as_str().unwrap_or_default();
        match split_https(url) {
            Some((h, p)) if h == host => Ok(p),
            _ => Err(Fail("discovery", Failure::Code(Code::WININET_E_CANNOT_CONNECT), format!("`{key}` {url:?} is not on {host}"))),
        }
    };
    let (token_path, jwks_path) = (path_of("token_endpoint")?, path_of("jwks_uri")?);
    let mut jwks = call(&mut ch, "jwks", Method::GET, &jwks_path, None).await?;
    let resource = target.sign_in.resource.clone().unwrap_or_else(|| DEFAULT_RESOURCE.to_string());
    let scope = format!("{}/.default", resource);
    let user = entra.users.first().ok_or_else(|| Fail("token", Failure::Code(Code::WININET_E_CANNOT_CONNECT), "world.json names no user".into()))?;
    let user_scope = format!("openid profile offline_access {scope}");
    let password = || {
        form(&[
            ("grant_type", "password"),
            ("client_id", BROKER),
            ("scope", &user_scope),
            ("username", &user.upn),
            ("password", &user.password),
            ("client_info", "1"),
        ])
    };
    let grant = target.sign_in.grant;
    let token = match grant {
        SignInGrant::Password => call(&mut ch, "token", Method::POST, &token_path, Some(password())).await?,
        SignInGrant::RefreshToken => {
            let first = call(&mut ch, "token", Method::POST, &token_path, Some(password())).await?;
            let rt = first["refresh_token"].as_str().unwrap_or_default().to_string();
            call(
                &mut ch,
                "refresh",
                Method::POST,
                &token_path,
                Some(form(&[("grant_type", "refresh_token"), ("client_id", BROKER), ("scope", &user_scope), ("refresh_token", &rt)])),
            )
            .await?
        }
        SignInGrant::ClientCredentials => {
            let app = entra
                .apps
                .iter()
                .find(|a| a.client_secret.is_some())
                .ok_or_else(|| Fail("token", Failure::Code(Code::WININET_E_CANNOT_CONNECT), "world.json names no confidential app".into()))?;
            let secret = app.client_secret.clone().unwrap_or_default();
            call(
                &mut ch,
                "token",
                Method::POST,
                &token_path,
                Some(form(&[("grant_type", "client_credentials"), ("client_id", &app.client_id), ("client_secret", &secret), ("scope", &scope)])),
            )
            .await?
        }
        SignInGrant::DeviceCode => device_code(run, &mut ch, &config, &host, &token_path, &user_scope).await?,
    };
    let access = token["access_token"].as_str().unwrap_or_default().to_string();
    for k in ["token_type", "expires_in", "ext_expires_in"] {
        if token[k].is_null() {
            return Err(Fail("token", Failure::Code(Code::WININET_E_CANNOT_CONNECT), format!("the token response has no `{k}`")));
        }
    }
    let kid = mock_cloud::jwt::header(&access).ok().and_then(|h| h.kid).unwrap_or_default();
    let find = |jwks: &Value| jwks["keys"].as_array().and_then(|ks| ks.iter().find(|k| k["kid"] == kid.as_str()).cloned());
    let key = match find(&jwks) {
        Some(k) => k,
        None => {
            // Microsoft.IdentityModel refreshes the issuer's keys once when a kid is unknown.
            jwks = call(&mut ch, "jwks", Method::GET, &jwks_path, None).await?;
            find(&jwks).ok_or_else(|| {
                Fail(
                    "validate",
                    Failure::Code(Code::IDX10501),
                    format!("IDX10501: Signature validation failed. Unable to match key: kid: '{kid}' is not in {jwks_path}"),
                )
            })?
        }
    };
    check(run, &access, &key, &resource, grant)
}

/// The token checked against its JWKS entry and the client's clock.
fn check(run: &Run<'_>, access: &str, key: &Value, resource: &str, grant: SignInGrant) -> Result<String, Fail> {
    let invalid = |m: String| Fail("validate", Failure::Code(Code::IDX10501), m);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap_or_default(), key["e"].as_str().unwrap_or_default())
        .map_err(|e| invalid(format!("the JWKS key does not decode: {e}")))?;
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(access, &decoding, &v).map_err(|e| invalid(format!("IDX10511: Signature validation failed: {e}")))?.claims;
    let aud = claims["aud"].as_str().unwrap_or_default();
    if grant != SignInGrant::ClientCredentials && !scenarios::same_resource(aud, resource) {
        return Err(invalid(format!("IDX10214: Audience validation failed: `{aud}` is not `{resource}`")));
    }
    let now = run.target.client_now().unix_timestamp();
    let num = |k: &str| claims[k].as_i64().unwrap_or_default();
    if num("nbf") > now + ALLOWANCE_SECS {
        return Err(Fail(
            "validate",
            Failure::Code(Code::IDX10222),
            format!("IDX10222: Lifetime validation failed. The token is not yet valid. ValidFrom: {}, Current time: {now}", num("nbf")),
        ));
    }
    if num("exp") + ALLOWANCE_SECS < now {
        return Err(Fail(
            "validate",
            Failure::Code(Code::IDX10223),
            format!("IDX10223: Lifetime validation failed. The token is expired. ValidTo: {}, Current time: {now}", num("exp")),
        ));
    }
    let who = claims["upn"].as_str().or(claims["appid"].as_str()).unwrap_or_default();
    Ok(format!("{} grant: a token for {aud} as {who}, signed by key {}", grant.as_str(), key["kid"].as_str().unwrap_or_default()))
}

/// RFC 8628: the device code, then polls at the authority's interval (simulated seconds, so a
/// time-scaled world polls faster) until the simulated user has signed in.
async fn device_code(run: &Run<'_>, ch: &mut Channel, config: &Value, host: &str, token_path: &str, scope: &str) -> Result<Value, Fail> {
    let url = config["device_authorization_endpoint"].as_str().unwrap_or_default();
    let path = split_https(url)
        .filter(|(h, _)| h == host)
        .map(|(_, p)| p)
        .ok_or_else(|| Fail("devicecode", Failure::Code(Code::WININET_E_CANNOT_CONNECT), format!("no device_authorization_endpoint on {host}")))?;
    let dc = call(ch, "devicecode", Method::POST, &path, Some(form(&[("client_id", BROKER), ("scope", scope)]))).await?;
    let code = dc["device_code"].as_str().unwrap_or_default().to_string();
    let interval = dc["interval"].as_u64().unwrap_or(5).max(1);
    let wall = Duration::from_secs_f64(interval as f64 / run.target.time_scale.max(1e-3)).clamp(Duration::from_millis(10), Duration::from_secs(5));
    let body = form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", BROKER), ("device_code", &code)]);
    // Bounded: the probe's own patience, not the code's lifetime, ends a world that never signs in.
    for _ in 0..100 {
        match call(ch, "token", Method::POST, token_path, Some(body.clone())).await {
            Err(Fail(_, Failure::Aadsts(c), _)) if c == "AADSTS70016" => tokio::time::sleep(wall).await,
            other => return other,
        }
    }
    Err(Fail("token", Failure::Aadsts("AADSTS70016".into()), "authorization_pending after 100 polls".into()))
}
