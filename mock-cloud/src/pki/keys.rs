//! Leaf key pairs (issue 16 item 4, issue 20 item 2): every leaf has a P-256 key of its own, so
//! no two hosts share a pin, as no two real certificates do. A leaf's key is derived from the
//! world's leaf secret, its seed and the leaf's name, so a host gets the same key whether its
//! certificate is made before the ready line or on first use.
//!
//! One fixed-base scalar multiplication per key, which `openssl speed`'s signing rate bounds:
//! the key is generated once (ring, as a PKCS#8 document holding the public point rcgen puts in
//! the certificate) and parsed into a rustls signer only when a handshake first needs it.

use std::sync::{Arc, OnceLock};

use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::PkiError;

/// The DER tail of ring's P-256 PKCS#8 document: `[1] { BIT STRING (66 bytes, 0 unused) 04 X Y }`,
/// the public point written last (RFC 5915 §3, RFC 5208 §5).
const PUBLIC_TAIL: [u8; 6] = [0xa1, 0x44, 0x03, 0x42, 0x00, 0x04];
const POINT_LEN: usize = 65;

/// A leaf's key pair: the PKCS#8 document, its public point, and the rustls signer made from it
/// on first use.
pub struct LeafKey {
    pkcs8: Vec<u8>,
    signer: OnceLock<Option<Arc<dyn SigningKey>>>,
}

impl std::fmt::Debug for LeafKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LeafKey")
    }
}

impl LeafKey {
    /// The key of leaf `name` in a world with `secret` and `seed`: the same inputs, the same key.
    pub fn derive(secret: &[u8; 32], seed: u64, name: &str) -> Result<LeafKey, PkiError> {
        let mac = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        // A candidate scalar of 0 or ≥ n (odds about 2^-32) is refused by ring: take the next.
        for counter in 0u8..=u8::MAX {
            let mut ctx = ring::hmac::Context::with_key(&mac);
            for part in [b"memsim leaf key\0".as_slice(), &seed.to_be_bytes(), name.as_bytes(), &[counter]] {
                ctx.update(part);
            }
            let scalar = ctx.sign();
            // ring's `SecureRandom` is sealed; its fixed-bytes source is the one way to hand its
            // P-256 key generation (the fast, constant-time one rustls signs with) a chosen scalar.
            #[allow(deprecated)]
            let rng = ring::test::rand::FixedSliceRandom { bytes: scalar.as_ref() };
            let Ok(doc) = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng) else { continue };
            let pkcs8 = doc.as_ref().to_vec();
            let tail = pkcs8.len().checked_sub(POINT_LEN + PUBLIC_TAIL.len() - 1).map(|at| &pkcs8[at..at + PUBLIC_TAIL.len()]);
            if tail != Some(&PUBLIC_TAIL[..]) {
                return Err(PkiError::Rcgen("ring's P-256 PKCS#8 document does not end with the public key".into()));
            }
            return Ok(LeafKey { pkcs8, signer: OnceLock::new() });
        }
        Err(PkiError::Rcgen(format!("no valid P-256 scalar derived for {name}")))
    }

    /// The uncompressed public point (what a certificate's subjectPublicKey holds).
    pub fn public_point(&self) -> &[u8] {
        &self.pkcs8[self.pkcs8.len() - POINT_LEN..]
    }

    /// The PKCS#8 document (tests, and anyone who needs the private key).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    fn signer(&self) -> Option<&Arc<dyn SigningKey>> {
        self.signer
            .get_or_init(|| {
                let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()));
                rustls::crypto::ring::sign::any_ecdsa_type(&der).ok()
            })
            .as_ref()
    }
}

impl rcgen::PublicKeyData for LeafKey {
    fn der_bytes(&self) -> &[u8] {
        self.public_point()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for LeafKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        self.signer()?.choose_scheme(offered)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ECDSA
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_inputs_give_the_same_key_and_others_differ() {
        let a = LeafKey::derive(&[7; 32], 1, "aka.ms").unwrap();
        assert_eq!(a.pkcs8(), LeafKey::derive(&[7; 32], 1, "aka.ms").unwrap().pkcs8());
        for other in [LeafKey::derive(&[7; 32], 2, "aka.ms"), LeafKey::derive(&[8; 32], 1, "aka.ms"), LeafKey::derive(&[7; 32], 1, "go.microsoft.com")] {
            assert_ne!(a.public_point(), other.unwrap().public_point());
        }
        // ring accepts the document (and checks the point against the scalar), rustls signs with it.
        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, a.pkcs8(), &rng).unwrap();
        assert_eq!(ring::signature::KeyPair::public_key(&pair).as_ref(), a.public_point());
        let signer = a.choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256]).unwrap();
        let sig = signer.sign(b"hello").unwrap();
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, a.public_point());
        public.verify(b"hello", &sig).unwrap();
    }
}
