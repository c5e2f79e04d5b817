//! The site's tokens (seed 004, protocols.md §8.3): the bulk registration token
//! BulkRegistrationTokenTool.exe prints, the client token registration issues (90 days, renewed
//! monthly), and the CCM token the token service hands out for each session (8 hours). All three
//! are RS256 JWTs signed with the site's token-signing certificate (an RSA key made once per
//! world, on first use), `x5t` = base64url SHA-1 of that certificate, checked against the
//! world's simulated clock.
//!
//! The bulk token's header and claims are seed 004's sample, field for field (`typ`, `alg`,
//! `x5t`; `SCCMTokenCategory`, `Authority`, `License`, `Type`, `TenantId` upper-case, `UniqueId`,
//! `iss = urn:sccm:oauth2:<tenant lower-case>`, `aud = urn:sccm:service`, `exp`, `nbf`). The
//! client and CCM tokens' claims are **memsim's own** (not public): the same envelope, with
//! `SCCMTokenCategory` `SCCMClientToken` / `SCCMAccessToken`, the device's `DeviceId` and, for
//! the CCM token, the `TokenType` it was exchanged for (the CCM_STS.log names: `BulkRegistration`,
//! `ClientToken`, `UDA`/`Device` for Entra).
//!
//! Verification reads the claims before the signature, so a token whose claims do not decode
//! (seed 004's published sample: `S{CMPreAuthToken`, a `UniqueId` with a `p`, an `exp` with a
//! stray byte) gets that precise answer, not "bad signature".

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::jwt::{self, Expect, JwtError};
use crate::keys::{KeyError, LazyRsaKey, RsaKey};

/// `aud` of every site token (seed 004's sample).
pub const AUDIENCE: &str = "urn:sccm:service";
/// `SCCMTokenCategory` of a bulk registration token (the sample's `S{CMPreAuthToken`, unmangled).
pub const PRE_AUTH: &str = "SCCMPreAuthToken";
/// memsim's own categories of the client and CCM tokens.
pub const CLIENT_CATEGORY: &str = "SCCMClientToken";
pub const CCM_CATEGORY: &str = "SCCMAccessToken";
/// .NET's default clock skew allowance (`TokenValidationParameters.ClockSkew`, 5 minutes).
pub const LEEWAY_SECS: i64 = 300;

/// `iss` of the site's tokens for `tenant`.
pub fn issuer(tenant: &str) -> String {
    format!("urn:sccm:oauth2:{}", tenant.to_ascii_lowercase())
}

/// A random GUID (version 4), lower-case.
pub fn new_guid() -> String {
    let mut b: [u8; 16] = ring::rand::generate(&ring::rand::SystemRandom::new()).map(|r| r.expose()).unwrap_or([7; 16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub fn is_guid(s: &str) -> bool {
    s.len() == 36 && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// The claims of a site token. One struct for the three kinds: the bulk token has no
/// `DeviceId`/`TokenType`, as seed 004's sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "SCCMTokenCategory")]
    pub category: String,
    #[serde(rename = "Authority")]
    pub authority: String,
    #[serde(rename = "License")]
    pub license: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "TenantId")]
    pub tenant_id: String,
    #[serde(rename = "UniqueId")]
    pub unique_id: String,
    #[serde(rename = "DeviceId", default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    #[serde(rename = "TokenType", default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
}

impl Claims {
    /// A bulk registration token's claims, as seed 004's sample has them.
    pub fn bulk(tenant: &str, unique_id: &str, nbf: i64, exp: i64) -> Claims {
        Claims {
            category: PRE_AUTH.into(),
            authority: "SCCM".into(),
            license: "SCCM".into(),
            kind: "BulkRegistration".into(),
            tenant_id: tenant.to_ascii_uppercase(),
            unique_id: unique_id.into(),
            device_id: None,
            token_type: None,
            iss: issuer(tenant),
            aud: AUDIENCE.into(),
            exp,
            nbf,
        }
    }
}

/// The kinds of site token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bulk,
    Client,
    Ccm,
}

impl Kind {
    fn category(self) -> &'static str {
        match self {
            Kind::Bulk => PRE_AUTH,
            Kind::Client => CLIENT_CATEGORY,
            Kind::Ccm => CCM_CATEGORY,
        }
    }
}

/// Why a site token was refused. Each renders the line CCM_STS.log / ClientAuth.log writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a JWT: {0}")]
    Malformed(String),
    #[error("the token's claims do not decode: {0}")]
    Claims(String),
    #[error("the token is signed with a certificate this site does not know (x5t `{0}`)")]
    UnknownSigner(String),
    #[error("the token's signature does not verify with the site's token-signing certificate")]
    Signature,
    #[error("the token is a `{found}`, not a `{expected}`")]
    WrongKind { expected: &'static str, found: String },
    #[error("the token was issued by `{found}`, not this site's `{expected}`")]
    Issuer { expected: String, found: String },
    #[error("the token's audience `{0}` is not `urn:sccm:service`")]
    Audience(String),
    #[error("the token expired at {} (now {})", log_time(*valid_to), log_time(*now))]
    Expired { valid_to: i64, now: i64 },
    #[error("the token is not valid before {} (now {})", log_time(*valid_from), log_time(*now))]
    NotYetValid { valid_from: i64, now: i64 },
    #[error("the bulk registration token {0} is blocked")]
    Blocked(String),
}

/// `10/01/2020 22:03:24`: how the .NET token handler writes times in CCM_STS.log (failure catalog CMG-01).
pub fn log_time(unix: i64) -> String {
    let fmt = time::macros::format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&fmt).ok()).unwrap_or_else(|| unix.to_string())
}

impl TokenError {
    /// The exception text the token service logs. IDX10223 with `ValidTo`/`Current time` is
    /// attested (failure catalog CMG-01, source S10); the others are .NET's messages for the same
    /// checks, labelled synthetic in the journal (`synthetic_text`).
    pub fn exception(&self) -> String {
        match self {
            TokenError::Expired { valid_to, now } => format!(
                "System.IdentityModel.Tokens.SecurityTokenExpiredException: IDX10223: Lifetime validation failed. The token is expired. ValidTo: '{}' Current time: '{}'.",
                log_time(*valid_to),
                log_time(*now)
            ),
            TokenError::NotYetValid { valid_from, now } => format!(
                "System.IdentityModel.Tokens.SecurityTokenNotYetValidException: IDX10222: Lifetime validation failed. The token is not yet valid. ValidFrom: '{}' Current time: '{}'.",
                log_time(*valid_from),
                log_time(*now)
            ),
            TokenError::UnknownSigner(x5t) => {
                format!(
                    "System.IdentityModel.Tokens.SecurityTokenSignatureKeyNotFoundException: IDX10501: Signature validation failed. Unable to match key: x5t: '{x5t}'."
                )
            }
            TokenError::Signature => "System.IdentityModel.Tokens.SecurityTokenInvalidSignatureException: IDX10511: Signature validation failed.".into(),
            TokenError::Issuer { found, expected } => format!(
                "System.IdentityModel.Tokens.SecurityTokenInvalidIssuerException: IDX10205: Issuer validation failed. Issuer: '{found}'. Did not match: validationParameters.ValidIssuer: '{expected}'."
            ),
            TokenError::Audience(a) => {
                format!("System.IdentityModel.Tokens.SecurityTokenInvalidAudienceException: IDX10214: Audience validation failed. Audiences: '{a}'.")
            }
            TokenError::Malformed(m) => format!("System.ArgumentException: IDX12741: the token is not a JWT: {m}."),
            TokenError::Claims(m) => format!("System.ArgumentException: IDX12729: Unable to decode the payload: the token's claims do not decode ({m})."),
            TokenError::WrongKind { .. } | TokenError::Blocked(_) => self.to_string(),
        }
    }

    /// Whether [`Self::exception`] is memsim's inference rather than an attested log line.
    pub fn synthetic_text(&self) -> bool {
        !matches!(self, TokenError::Expired { .. })
    }

    /// A short stable name for the journal (`reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed(_) => "malformed",
            TokenError::Claims(_) => "claims",
            TokenError::UnknownSigner(_) => "unknown_signer",
            TokenError::Signature => "signature",
            TokenError::WrongKind { .. } => "wrong_kind",
            TokenError::Issuer { .. } => "issuer",
            TokenError::Audience(_) => "audience",
            TokenError::Expired { .. } => "expired",
            TokenError::NotYetValid { .. } => "not_yet_valid",
            TokenError::Blocked(_) => "blocked",
        }
    }
}

/// The site's token-signing certificate: key, self-signed certificate, thumbprint.
#[derive(Debug)]
pub struct Signer {
    pub key: Arc<RsaKey>,
    pub cert_der: Vec<u8>,
    /// base64url SHA-1 of `cert_der`: the tokens' `x5t`.
    pub x5t: String,
}

/// A site's token-signing certificate, made on first use (RSA-2048: tens to hundreds of ms).
#[derive(Debug, Clone)]
pub struct SiteKeys {
    subject: String,
    rsa: LazyRsaKey,
    cell: Arc<OnceLock<Result<Arc<Signer>, String>>>,
}

impl SiteKeys {
    /// The keys of the site `site_code` (memsim's own subject: the real one is not public).
    pub fn new(site_code: &str) -> SiteKeys {
        SiteKeys { subject: format!("{site_code} Site Token Signing Certificate"), rsa: LazyRsaKey::new(2048), cell: Arc::new(OnceLock::new()) }
    }

    /// The signer (blocking the first time: call from `spawn_blocking`).
    pub fn signer(&self) -> Result<Arc<Signer>, KeyError> {
        self.cell
            .get_or_init(|| {
                let key = self.rsa.get().map_err(|e| e.to_string())?;
                let mut params = rcgen::CertificateParams::default();
                params.distinguished_name.push(rcgen::DnType::CommonName, self.subject.clone());
                let cert = params.self_signed(key.as_ref()).map_err(|e| e.to_string())?;
                let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der());
                Ok(Arc::new(Signer { key, cert_der: cert.der().to_vec(), x5t: URL_SAFE_NO_PAD.encode(digest.as_ref()) }))
            })
            .clone()
            .map_err(KeyError::Generate)
    }

    /// Sign `claims` (RS256, `typ` JWT and `x5t` in the header, as seed 004's sample).
    pub fn sign(&self, claims: &Claims) -> Result<String, KeyError> {
        let s = self.signer()?;
        let enc = s.key.jwt_encoding_key()?;
        jwt::sign(claims, &enc, None, Some(&s.x5t)).map_err(|e| KeyError::Encode(e.to_string()))
    }

    /// Verify a token of `kind` this site signed for `tenant`, at the simulated `now`. Claims
    /// first (precise errors for a token that does not decode), then the signer, signature,
    /// lifetime, audience and issuer, in the order .NET's token handler checks them.
    pub fn verify(&self, token: &str, kind: Kind, tenant: &str, now: OffsetDateTime) -> Result<Claims, TokenError> {
        let (header, claims) = decode(token)?;
        let category = claims.get("SCCMTokenCategory").and_then(Value::as_str).unwrap_or_default().to_string();
        if category != kind.category() {
            return Err(TokenError::WrongKind { expected: kind.category(), found: category.chars().take(64).collect() });
        }
        let typed: Claims = serde_json::from_value(claims).map_err(|e| TokenError::Claims(e.to_string()))?;
        if !is_guid(&typed.unique_id) {
            return Err(TokenError::Claims(format!("UniqueId `{}` is not a GUID", typed.unique_id.chars().take(64).collect::<String>())));
        }
        let signer = self.signer().map_err(|e| TokenError::Malformed(e.to_string()))?;
        match header.x5t.as_deref() {
            Some(x) if x == signer.x5t => {}
            other => return Err(TokenError::UnknownSigner(other.unwrap_or("(none)").chars().take(64).collect())),
        }
        let expect = Expect { audiences: &[AUDIENCE], issuer: None, leeway_secs: LEEWAY_SECS };
        jwt::verify::<Value>(token, &signer.key.jwt_decoding_key(), &expect, now).map_err(|e| match e {
            JwtError::Signature | JwtError::UnknownKey(_) => TokenError::Signature,
            JwtError::Expired { exp, now } => TokenError::Expired { valid_to: exp, now },
            JwtError::NotYetValid { nbf, now } => TokenError::NotYetValid { valid_from: nbf, now },
            JwtError::Audience { found, .. } => TokenError::Audience(found),
            JwtError::Claims(m) => TokenError::Claims(m),
            other => TokenError::Malformed(other.to_string()),
        })?;
        let expected = issuer(tenant);
        if typed.iss != expected || !typed.tenant_id.eq_ignore_ascii_case(tenant) {
            return Err(TokenError::Issuer { expected, found: typed.iss.chars().take(128).collect() });
        }
        Ok(typed)
    }
}

/// A token's header and claims as JSON, without trusting either: every way they fail to
/// decode is a precise [`TokenError`] (never a panic: proptest in `tests`).
pub fn decode(token: &str) -> Result<(jsonwebtoken::Header, Value), TokenError> {
    let token = token.trim();
    let header = jwt::header(token).map_err(|e| match e {
        JwtError::Malformed(m) => TokenError::Malformed(m),
        other => TokenError::Malformed(other.to_string()),
    })?;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let raw = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|e| TokenError::Claims(format!("the payload is not base64url ({e})")))?;
    let claims: Value = serde_json::from_slice(&raw).map_err(|e| {
        let at = raw.len().min(e.column().saturating_sub(1));
        let from = at.saturating_sub(24);
        let near = String::from_utf8_lossy(&raw[from..(at + 8).min(raw.len())]).into_owned();
        TokenError::Claims(format!("{e}, near `{}`", near.escape_debug()))
    })?;
    if !claims.is_object() {
        return Err(TokenError::Claims("the payload is not a JSON object".into()));
    }
    Ok((header, claims))
}

#[cfg(test)]
mod tests;
