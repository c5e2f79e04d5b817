//! A corporate TLS inspection CA (failure catalog TLS-03, TLS-04): generated per world with
//! rcgen (P-256), name-constrained to the world's domains like the world's own CAs, minting one
//! leaf per inspected host on first use. It is in the world's CA bundle when the fault says
//! `trusted`. [`super::inspect`] presents its leaves; it performs no I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
    SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use time::{Duration as TimeSpan, OffsetDateTime};

use super::error::ProxyError;

/// A corporate inspection CA and the leaves it has minted.
pub struct InspectionCa {
    pub name: String,
    pub trusted: bool,
    pub pem: String,
    der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    signing: Arc<dyn rustls::sign::SigningKey>,
    now: OffsetDateTime,
    serial: AtomicU64,
    leaves: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for InspectionCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectionCa").field("name", &self.name).field("trusted", &self.trusted).finish()
    }
}

impl InspectionCa {
    /// A self-signed CA named `name` of the customer's `organization` (as an appliance's
    /// generated CA names its owner: `O=Contoso Ltd`), constrained to `permitted` DNS subtrees,
    /// valid around `now`.
    pub fn generate(name: &str, organization: &str, trusted: bool, permitted: &[String], now: OffsetDateTime) -> Result<Self, ProxyError> {
        let err = |e: rcgen::Error| ProxyError::Certificate(e.to_string());
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, name);
        p.distinguished_name.push(DnType::OrganizationName, organization);
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        p.name_constraints =
            Some(NameConstraints { permitted_subtrees: permitted.iter().map(|d| GeneralSubtree::DnsName(d.clone())).collect(), excluded_subtrees: vec![] });
        (p.not_before, p.not_after) = (now - TimeSpan::days(365), now + TimeSpan::days(3650));
        p.serial_number = Some(SerialNumber::from_slice(&[0x1c, 0xa0, 0x01]));
        let key = KeyPair::generate().map_err(err)?;
        let cert = p.self_signed(&key).map_err(err)?;
        let leaf_key = KeyPair::generate().map_err(err)?;
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let signing = rustls::crypto::ring::sign::any_ecdsa_type(&der).map_err(|e| ProxyError::Certificate(e.to_string()))?;
        Ok(InspectionCa {
            name: name.to_string(),
            trusted,
            pem: cert.pem(),
            der: cert.der().clone(),
            issuer: Issuer::new(p, key),
            leaf_key,
            signing,
            now,
            serial: AtomicU64::new(1),
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The leaf presented for `host`, minted on first use (one key for all, as a real
    /// inspection appliance reuses its key).
    pub fn leaf_for(&self, host: &str) -> Result<Arc<CertifiedKey>, ProxyError> {
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = leaves.get(host) {
            return Ok(l.clone());
        }
        let err = |e: rcgen::Error| ProxyError::Certificate(format!("{host}: {e}"));
        let mut p = CertificateParams::default();
        p.subject_alt_names = vec![SanType::DnsName(host.to_string().try_into().map_err(err)?)];
        p.distinguished_name.push(DnType::CommonName, host);
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        (p.not_before, p.not_after) = (self.now - TimeSpan::days(1), self.now + TimeSpan::days(90));
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        p.serial_number = Some(SerialNumber::from_slice(&[&[0x2a][..], &serial.to_be_bytes()].concat()));
        p.use_authority_key_identifier_extension = true;
        let cert = p.signed_by(&self.leaf_key, &self.issuer).map_err(err)?;
        let certified = Arc::new(CertifiedKey::new(vec![cert.der().clone(), self.der.clone()], self.signing.clone()));
        leaves.insert(host.to_string(), certified.clone());
        Ok(certified)
    }
}
