//! Certificates the world's services issue to clients for a key the client holds: the device
//! certificate of an Entra join (DRS, `MS-Organization-Access`), the MDM device or user
//! certificate of a Windows or Linux enrollment (`Microsoft Intune MDM Device CA`), a ConfigMgr
//! client's. The key arrives as the SubjectPublicKeyInfo of a PKCS#10 request the service has
//! already checked ([`check_csr`]); the certificate carries its issuer's CRL and OCSP pointers,
//! so revocation works for it as for every other world certificate.

use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, SubjectPublicKeyInfo};
use rustls::pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::FromDer as _;

use super::{Pki, PkiError, material};

/// What a client certificate says besides its key.
#[derive(Debug, Clone)]
pub struct ClientCertRequest {
    /// The subject's common name (a device id, a user's UPN, a ConfigMgr client GUID).
    pub common_name: String,
    /// Extra subject attributes after the CN, e.g. `[(DnType::OrganizationName, …)]`.
    pub subject_extra: Vec<(DnType, String)>,
    /// How long the certificate is valid from `now` (Intune MDM: one year).
    pub lifetime: Duration,
    pub now: OffsetDateTime,
    /// Extended key usages; client authentication when empty.
    pub eku: Vec<ExtendedKeyUsagePurpose>,
}

/// A certificate issued to a client.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub der: CertificateDer<'static>,
    pub pem: String,
    /// Serial number as lowercase hex (as the CRL/OCSP responders and the journal print it).
    pub serial_hex: String,
    /// SHA-1 of the DER in upper-case hex: the thumbprint Windows shows and provisioning
    /// documents name.
    pub thumbprint: String,
    /// The issuing CA's certificate (DER), for the chain a client is given.
    pub issuer_der: CertificateDer<'static>,
}

/// Why a PKCS#10 request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("the certificate request is not a PKCS#10 DER structure")]
    Malformed,
    #[error("the certificate request's signature does not verify")]
    Signature,
    #[error("the certificate request's key is not RSA or EC")]
    KeyType,
}

/// What a checked PKCS#10 request holds.
#[derive(Debug, Clone)]
pub struct CheckedCsr {
    /// The SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// RSA modulus length in bits (0 for an EC key).
    pub rsa_bits: usize,
    /// The subject's CN, if any.
    pub common_name: Option<String>,
    /// Whether the request carries attributes (Linux enrollment refuses a requested-extensions attribute).
    pub has_attributes: bool,
}

/// Parse a PKCS#10 request and verify its self-signature (x509-parser with ring).
pub fn check_csr(der: &[u8]) -> Result<CheckedCsr, CsrError> {
    let (_, csr) = x509_parser::certification_request::X509CertificationRequest::from_der(der).map_err(|_| CsrError::Malformed)?;
    let info = &csr.certification_request_info;
    let rsa_bits = match info.subject_pki.parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.key_size(),
        Ok(x509_parser::public_key::PublicKey::EC(_)) => 0,
        _ => return Err(CsrError::KeyType),
    };
    if rsa_bits > 0 && rsa_bits < 2048 {
        // ring verifies RSA from 2048 bits only; a short key must still be told apart from a
        // forged request (the enrollment service answers "key too short", not "bad signature").
        verify_short_rsa(&csr)?;
    } else {
        csr.verify_signature().map_err(|_| CsrError::Signature)?;
    }
    let common_name = info.subject.iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    Ok(CheckedCsr { spki_der: info.subject_pki.raw.to_vec(), rsa_bits, common_name, has_attributes: !info.attributes().is_empty() })
}

/// Verify a short RSA key's sha256WithRSAEncryption (RFC 4055) signature with the pure-Rust `rsa` crate.
fn verify_short_rsa(csr: &x509_parser::certification_request::X509CertificationRequest<'_>) -> Result<(), CsrError> {
    use rsa::pkcs1::DecodeRsaPublicKey as _;
    use rsa::signature::Verifier as _;
    let spki = &csr.certification_request_info.subject_pki;
    let key = rsa::PublicKey::from_pkcs1_der(&spki.subject_public_key.data).map_err(|_| CsrError::KeyType)?;
    let signed = csr.certification_request_info.raw;
    let sig = rsa::pkcs1v15::Signature::try_from(csr.signature_value.data.as_ref()).map_err(|_| CsrError::Signature)?;
    let ok = match csr.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.11" => rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(key).verify(signed, &sig).is_ok(),
        _ => false,
    };
    if ok { Ok(()) } else { Err(CsrError::Signature) }
}

impl Pki {
    /// Issue a client certificate for `spki_der` (a SubjectPublicKeyInfo) from the data CA `ca_id`.
    pub fn issue_client(&self, ca_id: &str, spki_der: &[u8], req: &ClientCertRequest) -> Result<IssuedCert, PkiError> {
        let issuer = self.data_index(ca_id).ok_or_else(|| PkiError::UnknownCa {
            id: ca_id.to_string(),
            context: "a client certificate".into(),
            known: self.planner.data.cas.iter().map(|c| c.id.clone()).collect(),
        })?;
        let ca = &self.cas[issuer];
        let spki = SubjectPublicKeyInfo::from_der(spki_der)?;
        let serial = self.next_serial();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, req.common_name.as_str());
        for (t, v) in &req.subject_extra {
            dn.push(t.clone(), v.as_str());
        }
        params.distinguished_name = dn;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = if req.eku.is_empty() { vec![ExtendedKeyUsagePurpose::ClientAuth] } else { req.eku.clone() };
        // Backdated an hour, as issuing CAs do, so a client whose clock lags a little accepts it.
        params.not_before = req.now - Duration::hours(1);
        params.not_after = req.now + req.lifetime;
        params.serial_number = Some(serial.clone());
        params.use_authority_key_identifier_extension = true;
        material::revocation_pointers(&mut params, &ca.spec);
        let cert = params.signed_by(&spki, &ca.issuer)?;
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der());
        Ok(IssuedCert {
            pem: cert.pem(),
            der: cert.der().clone(),
            serial_hex: super::serial_hex(serial.as_ref()),
            thumbprint: digest.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
            issuer_der: ca.der.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::RsaKey;

    fn csr(key: &RsaKey, cn: &str) -> Vec<u8> {
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.serialize_request(key).unwrap().der().to_vec()
    }

    #[test]
    fn a_checked_csr_gets_a_client_certificate_that_chains_to_its_ca() {
        let key = RsaKey::generate(2048).unwrap();
        let der = csr(&key, "7E980AD9-B86D-4306-9425-9AC066FB014A");
        let checked = check_csr(&der).unwrap();
        assert_eq!(checked.rsa_bits, 2048);
        assert_eq!(checked.common_name.as_deref(), Some("7E980AD9-B86D-4306-9425-9AC066FB014A"));

        let pki = super::super::tests::healthy_pki();
        let ca = pki.cas().iter().find(|c| c.parent.is_some()).unwrap().spec.id.clone();
        let now = OffsetDateTime::now_utc();
        let req = ClientCertRequest { common_name: "device-1".into(), subject_extra: vec![], lifetime: Duration::days(365), now, eku: vec![] };
        let issued = pki.issue_client(&ca, &checked.spki_der, &req).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&issued.der).unwrap();
        let (_, issuer) = x509_parser::parse_x509_certificate(&issued.issuer_der).unwrap();
        cert.verify_signature(Some(issuer.public_key())).expect("signed by the CA");
        assert_eq!(cert.public_key().raw, checked.spki_der.as_slice(), "the CSR's key");
        assert_eq!(issued.thumbprint.len(), 40);
        assert!(matches!(pki.issue_client("no-such-ca", &checked.spki_der, &req), Err(PkiError::UnknownCa { .. })));
    }

    #[test]
    fn bad_requests_are_refused_by_name() {
        let key = RsaKey::generate(1024).unwrap();
        let mut der = csr(&key, "x");
        assert_eq!(check_csr(&der).unwrap().rsa_bits, 1024);
        let last = der.len() - 1;
        der[last] ^= 1;
        assert_eq!(check_csr(&der).unwrap_err(), CsrError::Signature);
        assert_eq!(check_csr(b"not der").unwrap_err(), CsrError::Malformed);
    }
}
