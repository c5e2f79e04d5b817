//! Client assertions (RFC 7523 §2.2, §3; Entra's "certificate credentials"): a JWT the client
//! signs with the private key of a certificate registered on its app — RS256 naming the
//! certificate by `x5t` (SHA-1), or PS256 by `x5t#S256` (SHA-256), which MSAL Python sends since
//! 1.35 when it has the certificate; either thumbprint base64url with or without padding (MSAL
//! pads). `iss` and `sub` are the client id, `aud` the token endpoint, `exp`/`nbf` checked
//! against the authority's clock with five minutes of leeway, and it may not live longer than
//! the data file allows. `alg: none`, another algorithm, a bad signature, an unregistered
//! certificate, a stale assertion: each its own AADSTS code.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::EntraState;
use super::directory::App;
use super::error::AadError;
use super::faults;
use crate::jwt::MAX_TOKEN_LEN;

/// Entra's leeway for assertion times.
const LEEWAY_SECS: i64 = 300;

fn malformed(why: impl Into<String>) -> AadError {
    AadError::new("malformed_assertion").with("detail", why.into())
}

/// The assertion's header, read without trusting it: its algorithm and thumbprints.
fn header(assertion: &str) -> Result<(jsonwebtoken::Algorithm, Option<String>, Option<String>), AadError> {
    if assertion.len() > MAX_TOKEN_LEN {
        return Err(malformed(format!("the assertion is {} bytes, more than {MAX_TOKEN_LEN}", assertion.len())));
    }
    let first = assertion.split('.').next().unwrap_or_default();
    let raw = URL_SAFE_NO_PAD.decode(first.trim_end_matches('=')).map_err(|_| malformed("its header is not base64url"))?;
    let h: Value = serde_json::from_slice(&raw).map_err(|_| malformed("its header is not JSON"))?;
    let alg = match h.get("alg").and_then(Value::as_str) {
        Some("RS256") => jsonwebtoken::Algorithm::RS256,
        Some("PS256") => jsonwebtoken::Algorithm::PS256,
        Some(other) => return Err(malformed(format!("algorithm `{}` is not accepted (RS256, PS256)", other.chars().take(32).collect::<String>()))),
        None => return Err(malformed("its header has no `alg`")),
    };
    let thumb = |k: &str| h.get(k).and_then(Value::as_str).map(|t| t.trim_end_matches('=').chars().take(64).collect::<String>());
    Ok((alg, thumb("x5t"), thumb("x5t#S256")))
}

/// Check `assertion` for `app`; the refusal Entra gives otherwise.
pub fn check(state: &EntraState, app: &App, assertion: &str) -> Result<(), AadError> {
    let (alg, x5t, x5t_s256) = header(assertion)?;
    let shown = x5t.clone().or(x5t_s256.clone()).unwrap_or_default();
    let not_registered = || AadError::new("bad_assertion").with("detail", shown.clone());
    let cert = app.certificate.as_ref().ok_or_else(not_registered)?;
    let named = x5t.as_deref() == Some(cert.x5t.as_str()) || x5t_s256.as_deref() == Some(cert.x5t_s256.as_str());
    if !named && (x5t.is_some() || x5t_s256.is_some()) {
        return Err(not_registered());
    }
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&cert.public_pkcs1);
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => not_registered(),
            _ => malformed(e.to_string()),
        })?
        .claims;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    if !text("iss").eq_ignore_ascii_case(&app.client_id) || !text("sub").eq_ignore_ascii_case(&app.client_id) {
        return Err(malformed("`iss` and `sub` must be the client id"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a.contains("/oauth2/") || a.starts_with(&format!("https://{}", state.directory.authority.host)),
        Some(Value::Array(a)) => !a.is_empty(),
        _ => false,
    };
    if !aud_ok {
        return Err(malformed("`aud` is not the token endpoint"));
    }
    let (now, skew) = faults::now(state);
    let now = now.unix_timestamp();
    // NumericDate may carry fractions (RFC 7519 §2); MSAL Python writes `time.time()` floats.
    let num = |k: &str| claims.get(k).and_then(|v| v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)));
    let start = num("nbf").or(num("iat")).unwrap_or(now);
    let exp = num("exp").ok_or_else(|| malformed("the assertion has no `exp`"))?;
    let max = state.directory.lifetimes.assertion_max_age.0.as_secs() as i64;
    if now > exp + LEEWAY_SECS || now + LEEWAY_SECS < start || exp - start > max {
        let err = AadError::new("assertion_time").with("now", now.to_string()).with("detail", format!("{start} to {exp}"));
        return Err(match skew {
            Some(f) => err.fault(f.kind().into()),
            None => err,
        });
    }
    Ok(())
}
