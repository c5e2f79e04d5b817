//! Client assertions (RFC 7523 §2.2, §3; Entra's "certificate credentials"): an RS256 JWT the
//! client signs with the private key of a certificate registered on its app, naming the
//! certificate by `x5t` (base64url SHA-1) in its header; `iss` and `sub` the client id, `aud`
//! the token endpoint, `exp`/`nbf` checked against the authority's clock with Entra's five
//! minutes of leeway, and no longer-lived than the data file allows. `alg: none`, another
//! algorithm, a bad signature, an unregistered certificate: each its own AADSTS code.

use super::EntraState;
use super::directory::App;
use super::error::AadError;
use super::faults;
use crate::jwt::{self, Expect, JwtError};

/// Entra's leeway for assertion times.
const LEEWAY_SECS: i64 = 300;

/// Check `assertion` for `app`; the refusal Entra gives otherwise.
pub fn check(state: &EntraState, app: &App, assertion: &str) -> Result<(), AadError> {
    let malformed = |e: &JwtError| AadError::new("malformed_assertion").with("detail", e.to_string());
    let header = jwt::header(assertion).map_err(|e| malformed(&e))?;
    let Some(cert) = &app.certificate else {
        return Err(AadError::new("bad_assertion").with("detail", header.x5t.unwrap_or_default().chars().take(64).collect::<String>()));
    };
    if let Some(x5t) = &header.x5t
        && *x5t != cert.x5t
    {
        return Err(AadError::new("bad_assertion").with("detail", x5t.chars().take(64).collect::<String>()));
    }
    let (now, skew) = faults::now(state);
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&cert.public_pkcs1);
    let claims: serde_json::Value = jwt::verify(assertion, &key, &Expect { audiences: &[], issuer: Some(&app.client_id), leeway_secs: LEEWAY_SECS }, now)
        .map_err(|e| {
            let err = match &e {
                JwtError::Expired { .. } | JwtError::NotYetValid { .. } => {
                    AadError::new("assertion_time").with("now", now.unix_timestamp().to_string()).with("detail", e.to_string())
                }
                JwtError::Signature | JwtError::UnknownKey(_) => AadError::new("bad_assertion").with("detail", cert.x5t.clone()),
                _ => malformed(&e),
            };
            match (skew, &e) {
                (Some(f), JwtError::Expired { .. } | JwtError::NotYetValid { .. }) => err.fault(f.kind().into()),
                _ => err,
            }
        })?;
    let sub = claims.get("sub").and_then(|v| v.as_str()).unwrap_or_default();
    if !sub.eq_ignore_ascii_case(&app.client_id) {
        return Err(AadError::new("malformed_assertion").with("detail", "`sub` is not the client id"));
    }
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => a.contains("/oauth2/") || a.starts_with(&format!("https://{}", state.directory.authority.host)),
        Some(serde_json::Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    if !aud_ok {
        return Err(AadError::new("malformed_assertion").with("detail", "`aud` is not the token endpoint"));
    }
    let max = state.directory.lifetimes.assertion_max_age.0.as_secs() as i64;
    let num = |k: &str| claims.get(k).and_then(serde_json::Value::as_i64);
    if let (Some(exp), Some(start)) = (num("exp"), num("nbf").or(num("iat")))
        && exp - start > max
    {
        return Err(AadError::new("assertion_time")
            .with("now", now.unix_timestamp().to_string())
            .with("detail", format!("{start} to {exp}, longer than allowed")));
    }
    Ok(())
}
