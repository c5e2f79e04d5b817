//! Who is enrolling: the `wsse:Security` header of GetPolicies and RequestSecurityToken
//! (protocols.md §3, MS-MDE2 §3.3.4.1.1.1.x). Accepted:
//! - an Entra access token for the enrollment resource (ValueType `urn:ietf:params:oauth:token-type:jwt`)
//!   in every encoding real clients send it: standard base64 of the token text (pytune, AADInternals),
//!   URL-safe base64 (fleet's test client), with or without padding or line breaks, or the bare JWT;
//! - the federated `wresult` (ValueType `…/DeviceEnrollmentUserToken`), which the world's sign-in
//!   page issues as an Entra-signed token for the same resource ([`super::federated`]);
//! - on-premises username and password (`wsse:UsernameToken`), checked against the tenant's users.
//!
//! Tokens are verified with the tenant's signing keys at the simulated now (shifted by an
//! `enrollment.token_age` fault). A header that is missing or unreadable is `a:InvalidSecurity`;
//! a readable token that is refused (expired, wrong audience, bad signature) is `s:Authentication`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use scenarios::EnrollmentFaultKind;
use time::OffsetDateTime;

use super::faults::{EnrollError, Tuning};
use super::soap::{self, Header};
use crate::jwt::JwtError;
use crate::services::AppState;

/// The signed-in caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    /// The user's UPN (`upn`, else `unique_name`, else `preferred_username`).
    pub upn: String,
    /// The Entra device id (`deviceid`) an Entra-joined device's token carries.
    pub device_id: Option<String>,
    /// How the caller authenticated: `jwt`, `federated`, `onpremise`.
    pub method: &'static str,
    /// The fault that changed the check, if one did (for the journal).
    pub fault: Option<EnrollmentFaultKind>,
}

/// Check the request's security header; `tuning` may age tokens (`enrollment.token_age`).
pub fn authenticate(state: &AppState, header: &Header, tuning: &Tuning) -> Result<Caller, EnrollError> {
    let security = header.security.as_ref().ok_or_else(|| EnrollError::InvalidSecurity("the message has no wsse:Security header".into()))?;
    if let Some(user) = &security.username {
        return on_premise(state, user.username(), user.password());
    }
    let bst = security.binary.as_ref().ok_or_else(|| EnrollError::InvalidSecurity("wsse:Security holds no BinarySecurityToken or UsernameToken".into()))?;
    let method = match bst.value_type.trim() {
        soap::VT_JWT | "" => "jwt",
        soap::VT_FEDERATED => "federated",
        other => return Err(EnrollError::InvalidSecurity(format!("the BinarySecurityToken's ValueType `{}` is not accepted", soap::short(other)))),
    };
    let token = decode_token(&bst.value)?;
    let now = state.journal.clock().now();
    let (now, fault) = match tuning.token_age {
        Some((age, kind)) => (now + time::Duration::try_from(age.0).unwrap_or(time::Duration::ZERO), Some(kind)),
        None => (now, None),
    };
    let claims = verify(state, &token, now)?;
    let claim = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let upn = claim("upn").or_else(|| claim("unique_name")).or_else(|| claim("preferred_username")).unwrap_or_default();
    Ok(Caller { upn, device_id: claim("deviceid"), method, fault })
}

/// The token text of a BinarySecurityToken: a bare JWT, or base64 (either alphabet, padded or
/// not, wrapped or not) of one.
pub fn decode_token(value: &str) -> Result<String, EnrollError> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(EnrollError::InvalidSecurity("the BinarySecurityToken is empty".into()));
    }
    if looks_like_jwt(&compact) {
        return Ok(compact);
    }
    let unpadded = compact.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
        .map_err(|_| EnrollError::InvalidSecurity("the BinarySecurityToken is not base64 (truncated?)".into()))?;
    let text = String::from_utf8(bytes).map_err(|_| EnrollError::InvalidSecurity("the BinarySecurityToken does not decode to a token".into()))?;
    let text = text.trim().to_string();
    if looks_like_jwt(&text) { Ok(text) } else { Err(EnrollError::InvalidSecurity("the BinarySecurityToken holds no JWT (truncated?)".into())) }
}

/// Three dot-separated base64url parts, the first a JSON object (`eyJ`).
fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() == 3 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Verify an Entra token for the enrollment resource at `now`.
fn verify(state: &AppState, token: &str, now: OffsetDateTime) -> Result<serde_json::Value, EnrollError> {
    // An RS256 signature is as long as the key's modulus (RFC 7518 §3.3); a shorter one is a
    // token cut short in transit, unreadable rather than forged.
    let signature = token.rsplit('.').next().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()).map_or(0, |s| s.len());
    if ![256, 384, 512].contains(&signature) {
        return Err(EnrollError::InvalidSecurity(format!("the token's signature is {signature} bytes, no RS256 signature (truncated?)")));
    }
    let data = &state.catalog.enrollment.token;
    let audiences: Vec<&str> = data.audiences.iter().map(String::as_str).collect();
    let issuers: Vec<String> = data.issuers.iter().map(|i| i.replace("{tenant}", &state.world.tenant_id)).collect();
    let issuers: Vec<&str> = issuers.iter().map(String::as_str).collect();
    state.entra.keys.verify(token, &audiences, &issuers, now).map_err(|e| match e {
        JwtError::Malformed(_) | JwtError::TooLong { .. } | JwtError::Algorithm(_) | JwtError::Claims(_) => EnrollError::InvalidSecurity(e.to_string()),
        _ => EnrollError::Authentication(e.to_string()),
    })
}

/// OnPremise: the tenant's user with that UPN and password.
fn on_premise(state: &AppState, upn: &str, password: &str) -> Result<Caller, EnrollError> {
    match super::federated::check_password(state, upn, password) {
        true => Ok(Caller { upn: upn.to_string(), device_id: None, method: "onpremise", fault: None }),
        false => Err(EnrollError::Authentication(format!("the user name or password of `{}` is not correct", soap::short(upn)))),
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    use super::*;

    #[test]
    fn tokens_decode_from_every_encoding_clients_use() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhIjoiYiJ9.c2ln";
        for encoded in [
            jwt.to_string(),
            STANDARD.encode(jwt),
            STANDARD_NO_PAD.encode(jwt),
            URL_SAFE.encode(jwt),
            format!("{}\r\n{}", &STANDARD.encode(jwt)[..20], &STANDARD.encode(jwt)[20..]),
        ] {
            assert_eq!(decode_token(&encoded).unwrap(), jwt, "{encoded}");
        }
        let b64 = STANDARD.encode(jwt);
        for bad in ["", &b64[..b64.len() - 7], "!!!!", &STANDARD.encode("not a token")] {
            assert!(matches!(decode_token(bad), Err(EnrollError::InvalidSecurity(_))), "{bad:?}");
        }
    }
}
