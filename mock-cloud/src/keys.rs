//! RSA keys where fidelity needs RSA: Entra's token-signing key (RS256 JWTs and the `x5c` of its
//! JWKS), the CMG site's token-signing certificate, and the RSA-2048 keys and PKCS#10 requests
//! Windows clients make. The world's own PKI stays P-256 (microseconds per key).
//!
//! Generating an RSA-2048 key costs 50–650 ms, so a world makes each of its RSA keys once, on
//! first use ([`LazyRsaKey`]), never before its ready line. Keys are `rsa` (RustCrypto) keys, so
//! any size signs — a 1024-bit "key too short" request as well as a 2048-bit one (ring refuses
//! RSA keys under 2048 bits) — and they implement rcgen's [`rcgen::SigningKey`], so certificates
//! and CSRs are built with rcgen as everywhere else.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs8::EncodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;

/// Why an RSA key could not be made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    #[error("RSA key encoding failed: {0}")]
    Encode(String),
}

/// One RSA key pair (PKCS#1 v1.5 with SHA-256, as RS256 and sha256WithRSAEncryption use it).
pub struct RsaKey {
    key: rsa::PrivateKey,
    signer: rsa::pkcs1v15::SigningKey<rsa::sha2::Sha256>,
    /// The public key as PKCS#1 `RSAPublicKey` DER (what an X.509 SPKI's bit string holds).
    public_pkcs1: Vec<u8>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({} bits)", self.bits())
    }
}

impl RsaKey {
    /// A fresh key of `bits` bits (1024 upwards) from the operating system's RNG.
    pub fn generate(bits: usize) -> Result<RsaKey, KeyError> {
        let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| KeyError::Generate(e.to_string()))?;
        let public_pkcs1 = key.to_public_key().to_pkcs1_der().map_err(|e| KeyError::Encode(e.to_string()))?.into_vec();
        let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new(key.clone());
        Ok(RsaKey { key, signer, public_pkcs1 })
    }

    pub fn bits(&self) -> usize {
        self.key.n().bit_width() as usize
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `msg`.
    pub fn sign_sha256(&self, msg: &[u8]) -> Vec<u8> {
        self.signer.sign(msg).to_vec()
    }

    /// The private key as PKCS#8 DER (rustls, rcgen, files a client reads).
    pub fn pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self.key.to_pkcs8_der().map_err(|e| KeyError::Encode(e.to_string()))?.as_bytes().to_vec())
    }

    /// The private key as PKCS#1 DER (what `jsonwebtoken::EncodingKey::from_rsa_der` takes).
    pub fn pkcs1_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(self.key.to_pkcs1_der().map_err(|e| KeyError::Encode(e.to_string()))?.as_bytes().to_vec())
    }

    /// The JWK members of the public key, base64url without padding: (`n`, `e`) (RFC 7518 §6.3.1).
    pub fn jwk_n_e(&self) -> (String, String) {
        (URL_SAFE_NO_PAD.encode(self.key.n_bytes()), URL_SAFE_NO_PAD.encode(self.key.e_bytes()))
    }

    /// The key for signing RS256 JWTs.
    pub fn jwt_encoding_key(&self) -> Result<jsonwebtoken::EncodingKey, KeyError> {
        Ok(jsonwebtoken::EncodingKey::from_rsa_der(&self.pkcs1_der()?))
    }

    /// The key for verifying RS256 JWTs this key signed.
    pub fn jwt_decoding_key(&self) -> jsonwebtoken::DecodingKey {
        jsonwebtoken::DecodingKey::from_rsa_der(&self.public_pkcs1)
    }
}

impl rcgen::PublicKeyData for RsaKey {
    fn der_bytes(&self) -> &[u8] {
        &self.public_pkcs1
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for RsaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.sign_sha256(msg))
    }
}

/// An RSA key a world makes on first use and keeps: cheap to hold, cheap to clone (clones share
/// the key), made at most once however many tasks ask at the same moment.
#[derive(Debug, Clone)]
pub struct LazyRsaKey {
    bits: usize,
    cell: Arc<OnceLock<Result<Arc<RsaKey>, String>>>,
}

impl LazyRsaKey {
    pub fn new(bits: usize) -> LazyRsaKey {
        LazyRsaKey { bits, cell: Arc::new(OnceLock::new()) }
    }

    /// The key, generated now if this is the first call. Blocking (tens to hundreds of ms the
    /// first time): call it from `spawn_blocking` or where a request may wait that long.
    pub fn get(&self) -> Result<Arc<RsaKey>, KeyError> {
        self.cell.get_or_init(|| RsaKey::generate(self.bits).map(Arc::new).map_err(|e| e.to_string())).clone().map_err(KeyError::Generate)
    }

    /// Whether the key exists yet (a world that never signed anything never made it).
    pub fn is_generated(&self) -> bool {
        self.cell.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate signed by an `RsaKey` through rcgen verifies with a third party (x509-parser's
    /// ring-backed verifier), and an RS256 JWT round-trips through jsonwebtoken.
    #[test]
    fn rsa_key_signs_certificates_and_jwts() {
        let key = RsaKey::generate(2048).unwrap();
        assert_eq!(key.bits(), 2048);
        let params = rcgen::CertificateParams::new(vec!["login.microsoftonline.com".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        parsed.verify_signature(None).expect("self-signed RSA certificate verifies");

        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some("k1".into());
        let claims = serde_json::json!({"aud": "a", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(&header, &claims, &key.jwt_encoding_key().unwrap()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&["a"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &key.jwt_decoding_key(), &v).unwrap();
        assert_eq!(data.claims["aud"], "a");
        let (n, e) = key.jwk_n_e();
        let by_jwk = jsonwebtoken::DecodingKey::from_rsa_components(&n, &e).unwrap();
        jsonwebtoken::decode::<serde_json::Value>(&token, &by_jwk, &v).expect("the JWK members verify the token");

        let other = RsaKey::generate(1024).unwrap();
        assert_eq!(other.bits(), 1024);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &other.jwt_decoding_key(), &v).is_err(), "another key must not verify");
    }

    #[test]
    fn lazy_key_is_made_once() {
        let lazy = LazyRsaKey::new(1024);
        assert!(!lazy.is_generated());
        let a = lazy.clone().get().unwrap();
        let b = lazy.get().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(lazy.is_generated());
    }
}
