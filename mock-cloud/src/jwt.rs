//! RS256 JSON Web Tokens as the world issues and checks them (RFC 7519, RFC 7515): Entra's
//! access and ID tokens, the enrollment service's bearer tokens, the CMG's bulk registration
//! tokens. Signatures with `jsonwebtoken`; times against the world's simulated clock, never the
//! machine's (a token "expired 100 days ago" in a time-compressed world must be expired), so
//! jsonwebtoken's own `exp`/`nbf` checks are off and [`verify`] does them with `now`.
//!
//! Every way a token can be bad is one [`JwtError`] variant, so each service renders its own
//! protocol error (AADSTS, a SOAP fault, a CMG registration error) from the same verdict.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// Tokens longer than this are refused unread (a header line of 16 KiB is already generous).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT ({0})")]
    Malformed(String),
    #[error("the token is {len} bytes, more than the {MAX_TOKEN_LEN} accepted")]
    TooLong { len: usize },
    #[error("the token's algorithm `{0}` is not accepted (RS256 only)")]
    Algorithm(String),
    #[error("the token's signing key `{0}` is not one of the issuer's keys")]
    UnknownKey(String),
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token's claims do not decode ({0})")]
    Claims(String),
    #[error("the token expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("the token is not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("the token's audience `{found}` is not `{expected}`")]
    Audience { expected: String, found: String },
    #[error("the token's issuer `{found}` is not `{expected}`")]
    Issuer { expected: String, found: String },
}

/// Sign `claims` with RS256 under `kid` (and `x5t`, the base64url SHA-1 thumbprint of the
/// signing certificate, where the issuer publishes one).
pub fn sign<T: Serialize>(claims: &T, key: &EncodingKey, kid: Option<&str>, x5t: Option<&str>) -> Result<String, JwtError> {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    header.x5t = x5t.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).map_err(|e| JwtError::Claims(e.to_string()))
}

/// The header of a token, read without trusting it (to pick the key by `kid`/`x5t`).
pub fn header(token: &str) -> Result<Header, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLong { len: token.len() });
    }
    // `alg: none` and unknown algorithms fail to decode as jsonwebtoken's Algorithm: name them.
    let first = token.split('.').next().unwrap_or_default();
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, first.trim_end_matches('='))
        .map_err(|_| JwtError::Malformed("its header is not base64url".into()))?;
    let json: serde_json::Value = serde_json::from_slice(&raw).map_err(|_| JwtError::Malformed("its header is not JSON".into()))?;
    match json.get("alg").and_then(|a| a.as_str()) {
        Some("RS256") => {}
        Some(other) => return Err(JwtError::Algorithm(other.chars().take(32).collect())),
        None => return Err(JwtError::Malformed("its header has no `alg`".into())),
    }
    if token.split('.').count() != 3 {
        return Err(JwtError::Malformed("it does not have three dot-separated parts".into()));
    }
    jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))
}

/// What a verified token must say, besides a good signature.
#[derive(Debug, Clone, Default)]
pub struct Expect<'a> {
    /// Accepted audiences (`aud` must be one of them); empty: any.
    pub audiences: &'a [&'a str],
    /// The exact issuer; none: any.
    pub issuer: Option<&'a str>,
    /// Allowed clock difference in seconds (Entra allows 5 minutes).
    pub leeway_secs: i64,
}

/// Verify an RS256 token's signature with `key`, then its `exp`, `nbf`, `aud` and `iss` against
/// the simulated `now`, and decode its claims.
pub fn verify<T: DeserializeOwned>(token: &str, key: &DecodingKey, expect: &Expect<'_>, now: OffsetDateTime) -> Result<T, JwtError> {
    header(token)?;
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => JwtError::Signature,
        jsonwebtoken::errors::ErrorKind::Json(_) | jsonwebtoken::errors::ErrorKind::Utf8(_) => JwtError::Claims(e.to_string()),
        _ => JwtError::Malformed(e.to_string()),
    })?;
    let claims = data.claims;
    let now = now.unix_timestamp();
    let number = |name: &str| claims.get(name).and_then(serde_json::Value::as_i64);
    if let Some(exp) = number("exp")
        && now > exp + expect.leeway_secs
    {
        return Err(JwtError::Expired { exp, now });
    }
    if let Some(nbf) = number("nbf")
        && now + expect.leeway_secs < nbf
    {
        return Err(JwtError::NotYetValid { nbf, now });
    }
    if !expect.audiences.is_empty() {
        let found: Vec<&str> = match claims.get("aud") {
            Some(serde_json::Value::String(s)) => vec![s.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => vec![],
        };
        if !found.iter().any(|a| expect.audiences.contains(a)) {
            return Err(JwtError::Audience { expected: expect.audiences.join(" or "), found: found.join(",") });
        }
    }
    if let Some(iss) = expect.issuer {
        let found = claims.get("iss").and_then(|v| v.as_str()).unwrap_or_default();
        if found != iss {
            return Err(JwtError::Issuer { expected: iss.to_string(), found: found.to_string() });
        }
    }
    serde_json::from_value(claims).map_err(|e| JwtError::Claims(e.to_string()))
}

/// The claims of a token without checking anything (for `memsim token inspect` and journals).
pub fn claims_unverified(token: &str) -> Result<serde_json::Value, JwtError> {
    header(token)?;
    jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token).map(|d| d.claims).map_err(|e| JwtError::Claims(e.to_string()))
}

#[cfg(test)]
mod tests;
