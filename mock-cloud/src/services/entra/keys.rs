//! The tenant's token-signing key as Entra ID publishes it: an RSA-2048 key (made once per
//! world, on first use), a self-signed certificate for it (the JWKS `x5c`), and its `kid`, which
//! Entra sets equal to `x5t`, the base64url SHA-1 thumbprint of that certificate
//! (https://login.microsoftonline.com/common/discovery/v2.0/keys shows `"kid" == "x5t"`).
//!
//! Every service that takes an Entra token (enrollment, DRS, Intune for Linux, the CMG's Entra
//! path) checks it here with [`SigningKeys::verify`], against the world's simulated clock.
//! An `entra.key_rollover` fault signs with a second key ([`SigningKeys::sign_next`]) that the
//! JWKS lists only once the rollover is over; `verify` accepts both.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use time::OffsetDateTime;

use crate::jwt::{self, Expect, JwtError};
use crate::keys::{KeyError, LazyRsaKey, RsaKey};

/// Entra accepts tokens up to five minutes either side of their `nbf`/`exp` (clock skew).
pub const LEEWAY_SECS: i64 = 300;

/// One published signing key.
pub struct SigningKey {
    pub key: Arc<RsaKey>,
    /// The self-signed certificate (DER) the JWKS carries as `x5c`.
    pub cert_der: Vec<u8>,
    /// `kid` and `x5t` (equal, as Entra publishes them).
    pub kid: String,
    /// The same key as ring holds it, parsed once: RS256 signatures for every token. (Signing
    /// through jsonwebtoken's RustCrypto backend re-parsed the key and signed in pure Rust,
    /// 4 ms a token; bench/entra-tokens.py.)
    signer: ring::signature::RsaKeyPair,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("key", &self.key).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The JWKS entry (RFC 7517) for this key, with Entra's members.
    pub fn jwk(&self, issuer: &str) -> serde_json::Value {
        let (n, e) = self.key.jwk_n_e();
        serde_json::json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": n, "e": e,
            "x5c": [STANDARD.encode(&self.cert_der)], "issuer": issuer,
        })
    }
}

/// One lazily made key and its certificate.
#[derive(Debug, Clone)]
struct Lazy {
    rsa: LazyRsaKey,
    made: Arc<OnceLock<Result<Arc<SigningKey>, String>>>,
}

impl Lazy {
    fn new() -> Lazy {
        Lazy { rsa: LazyRsaKey::new(2048), made: Arc::new(OnceLock::new()) }
    }

    fn get(&self) -> Result<Arc<SigningKey>, KeyError> {
        self.made
            .get_or_init(|| {
                let key = self.rsa.get().map_err(|e| e.to_string())?;
                let mut params = rcgen::CertificateParams::default();
                params.distinguished_name.push(rcgen::DnType::CommonName, "accounts.accesscontrol.windows.net");
                let cert = params.self_signed(key.as_ref()).map_err(|e| e.to_string())?;
                let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der());
                let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
                let signer = ring::signature::RsaKeyPair::from_pkcs8(&key.pkcs8_der().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
                Ok(Arc::new(SigningKey { key, cert_der: cert.der().to_vec(), kid, signer, rng: ring::rand::SystemRandom::new() }))
            })
            .clone()
            .map_err(KeyError::Generate)
    }

    fn made(&self) -> Option<Arc<SigningKey>> {
        self.made.get().and_then(|r| r.as_ref().ok().cloned())
    }
}

/// The tenant's signing keys, made on first use: the current key, and the key Entra rolls
/// over to (made only when an `entra.key_rollover` fault signs with it).
#[derive(Debug, Clone)]
pub struct SigningKeys {
    current: Lazy,
    next: Lazy,
}

impl Default for SigningKeys {
    fn default() -> Self {
        SigningKeys { current: Lazy::new(), next: Lazy::new() }
    }
}

impl SigningKeys {
    /// The key tokens are signed with now (blocking the first time: RSA generation).
    pub fn current(&self) -> Result<Arc<SigningKey>, KeyError> {
        self.current.get()
    }

    /// The key a rollover moves to (blocking the first time).
    pub fn next(&self) -> Result<Arc<SigningKey>, KeyError> {
        self.next.get()
    }

    /// Sign `claims` (RS256, `kid` and `x5t` in the header).
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, JwtError> {
        Self::sign_with(&*self.current().map_err(|e| JwtError::Claims(e.to_string()))?, claims)
    }

    /// Sign `claims` with the rollover key.
    pub fn sign_next(&self, claims: &serde_json::Value) -> Result<String, JwtError> {
        Self::sign_with(&*self.next().map_err(|e| JwtError::Claims(e.to_string()))?, claims)
    }

    /// An RS256 JWS (RFC 7515 §5.1, compact): the header jsonwebtoken writes, `kid` and `x5t`.
    fn sign_with(k: &SigningKey, claims: &serde_json::Value) -> Result<String, JwtError> {
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": k.kid, "x5t": k.kid});
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0u8; k.signer.public().modulus_len()];
        k.signer.sign(&ring::signature::RSA_PKCS1_SHA256, &k.rng, input.as_bytes(), &mut sig).map_err(|e| JwtError::Claims(e.to_string()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// Verify a token the world's Entra signed: the key by `kid`, then `exp`/`nbf` (with Entra's
    /// five-minute leeway), `aud` (one of `audiences`; empty: any) and `iss` (one of `issuers`;
    /// empty: any) at the simulated `now`. Returns the claims.
    pub fn verify(&self, token: &str, audiences: &[&str], issuers: &[&str], now: OffsetDateTime) -> Result<serde_json::Value, JwtError> {
        let header = jwt::header(token)?;
        let mut k = self.current().map_err(|e| JwtError::Claims(e.to_string()))?;
        // A resource server that meets an unknown `kid` refreshes Entra's metadata: a token
        // signed with the rollover key verifies once that key exists.
        if let Some(kid) = header.kid.as_deref()
            && kid != k.kid
        {
            match self.next.made() {
                Some(next) if next.kid == kid => k = next,
                _ => return Err(JwtError::UnknownKey(kid.chars().take(64).collect())),
            }
        }
        let claims: serde_json::Value = jwt::verify(token, &k.key.jwt_decoding_key(), &Expect { audiences, issuer: None, leeway_secs: LEEWAY_SECS }, now)?;
        if !issuers.is_empty() {
            let found = claims.get("iss").and_then(|v| v.as_str()).unwrap_or_default();
            if !issuers.contains(&found) {
                return Err(JwtError::Issuer { expected: issuers.join(" or "), found: found.to_string() });
            }
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_by_kid_and_the_jwks_entry_describes_the_key() {
        let keys = SigningKeys::default();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let t = keys.sign(&serde_json::json!({"aud": "r", "iss": "i", "nbf": now, "exp": now + 3600})).unwrap();
        let claims = keys.verify(&t, &["r"], &["i"], OffsetDateTime::now_utc()).unwrap();
        assert_eq!(claims["aud"], "r");
        assert!(matches!(keys.verify(&t, &["other"], &[], OffsetDateTime::now_utc()), Err(JwtError::Audience { .. })));
        let k = keys.current().unwrap();
        let jwk = k.jwk("i");
        assert_eq!(jwk["kid"], jwk["x5t"]);
        let decoded = jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.validate_aud = false;
        jsonwebtoken::decode::<serde_json::Value>(&t, &decoded, &v).expect("the JWKS entry verifies the token");
        let other = SigningKeys::default();
        assert!(matches!(other.verify(&t, &[], &[], OffsetDateTime::now_utc()), Err(JwtError::UnknownKey(_))));
        let rolled = keys.sign_next(&serde_json::json!({"aud": "r", "nbf": now, "exp": now + 3600})).unwrap();
        assert_ne!(jwt::header(&rolled).unwrap().kid, jwt::header(&t).unwrap().kid);
        keys.verify(&rolled, &["r"], &[], OffsetDateTime::now_utc()).expect("the rollover key verifies once made");
    }
}
