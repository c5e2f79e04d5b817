//! Certificate parameters with rcgen: CAs with name constraints, leaves with CRL distribution
//! points and OCSP (AIA) URLs on the real revocation hosts, deterministic serial numbers.

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyUsagePurpose,
    NameConstraints, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::PkiError;
use super::spec::CaSpec;

/// RFC 5280 §4.2.2.1 id-pe-authorityInfoAccess, id-ad-ocsp and id-ad-caIssuers.
const OID_AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const OID_AD_OCSP: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
const OID_AD_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];

/// The AuthorityInfoAccess extension: the OCSP access description, then CA Issuers when the
/// issuer publishes its certificate, in the real certificates' order (rcgen has none; yasna
/// writes the DER).
fn aia(ocsp: &str, ca_issuers: Option<&str>) -> CustomExtension {
    let der = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (method, url) in std::iter::once((OID_AD_OCSP, ocsp)).chain(ca_issuers.map(|u| (OID_AD_CA_ISSUERS, u))) {
                w.next().write_sequence(|w| {
                    w.next().write_oid(&yasna::models::ObjectIdentifier::from_slice(method));
                    w.next().write_tagged_implicit(yasna::Tag::context(6), |w| w.write_ia5_string(url));
                });
            }
        });
    });
    CustomExtension::from_oid_content(OID_AIA, der)
}

/// Where revocation of a certificate is checked, and its issuer's certificate found: its
/// issuer's CRL, OCSP responder and CA Issuers URL.
pub(super) fn revocation_pointers(params: &mut CertificateParams, issuer: &CaSpec) {
    params.crl_distribution_points = vec![CrlDistributionPoint { uris: issuer.crl.clone() }];
    params.custom_extensions.push(aia(&issuer.ocsp, issuer.ca_issuers.as_deref()));
}

/// A CA certificate: roots unconstrained in path length, intermediates at 0; both limited by
/// name constraints to the world's emulated domains.
pub fn ca_params(
    spec: &CaSpec,
    issuer: Option<&CaSpec>,
    validity: (OffsetDateTime, OffsetDateTime),
    serial: SerialNumber,
    permitted: &[String],
) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = spec.distinguished_name();
    p.is_ca = IsCa::Ca(match issuer {
        None => BasicConstraints::Unconstrained,
        Some(_) => BasicConstraints::Constrained(0),
    });
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.name_constraints =
        Some(NameConstraints { permitted_subtrees: permitted.iter().map(|d| GeneralSubtree::DnsName(d.clone())).collect(), excluded_subtrees: vec![] });
    (p.not_before, p.not_after) = validity;
    p.serial_number = Some(serial);
    if let Some(issuer) = issuer {
        p.use_authority_key_identifier_extension = true;
        revocation_pointers(&mut p, issuer);
    }
    p
}

/// RFC 6960 §4.2.2.2.1 id-pkix-ocsp-nocheck: clients need not check the responder's own status.
const OID_OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

/// A delegated OCSP responder certificate (RFC 6960 §4.2.2.2): issued by the CA whose answers
/// it signs, for that purpose only (id-kp-OCSPSigning), marked no-check.
pub fn ocsp_responder_params(issuer: &CaSpec, validity: (OffsetDateTime, OffsetDateTime), serial: SerialNumber) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, super::spec::dn_value("CN", &format!("{} OCSP Responder", issuer.common_name())));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
    p.custom_extensions.push(CustomExtension::from_oid_content(OID_OCSP_NOCHECK, yasna::construct_der(|w| w.write_null())));
    (p.not_before, p.not_after) = validity;
    p.serial_number = Some(serial);
    p.use_authority_key_identifier_extension = true;
    p
}

/// The subjectAltName of a leaf for `name`, or why rcgen cannot write it: the one part of a
/// leaf's parameters that can fail, checked for every host before the ready line.
pub fn leaf_dns_name(name: &str) -> Result<rcgen::string::Ia5String, PkiError> {
    name.to_string().try_into().map_err(|e| PkiError::Rcgen(format!("{name}: {e}")))
}

/// A TLS server leaf for one name (a wildcard covers exactly one label).
pub fn leaf_params(name: &str, issuer: &CaSpec, validity: (OffsetDateTime, OffsetDateTime), serial: SerialNumber) -> Result<CertificateParams, PkiError> {
    let dns = leaf_dns_name(name)?;
    let mut p = CertificateParams::default();
    p.subject_alt_names = vec![SanType::DnsName(dns)];
    p.distinguished_name.push(DnType::CommonName, super::spec::dn_value("CN", name));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    (p.not_before, p.not_after) = validity;
    p.serial_number = Some(serial);
    p.use_authority_key_identifier_extension = true;
    revocation_pointers(&mut p, issuer);
    Ok(p)
}

/// Deterministic, positive, 16-byte serial numbers from the world seed (splitmix64).
#[derive(Debug)]
pub struct Serials {
    state: u64,
}

impl Serials {
    pub fn new(seed: u64) -> Self {
        Serials { state: seed ^ 0x6d65_6d73_696d_5049 }
    }

    fn next_u64(&mut self) -> u64 {
        let x = self.state;
        self.state = x.wrapping_add(crate::mix::GOLDEN);
        crate::mix::splitmix64(x)
    }

    pub fn next(&mut self) -> SerialNumber {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        serial_from(&bytes)
    }
}

/// A positive 16-byte serial number (RFC 5280 §4.1.2.2: at most 20 octets, positive) from the
/// first 16 bytes of `entropy`, its top byte kept at 0x10–0x7f so DER never pads or shortens it.
pub fn serial_from(entropy: &[u8]) -> SerialNumber {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&entropy[..16]);
    bytes[0] = (bytes[0] & 0x7f) | 0x10;
    SerialNumber::from_slice(&bytes)
}

/// The smallest set of DNS subtrees that covers every emulated name: `*.x.com` needs `x.com`,
/// and a name below a kept subtree adds nothing.
pub fn permitted_subtrees<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut bases: Vec<String> = names.into_iter().map(|n| n.trim_start_matches("*.").trim_end_matches('.').to_ascii_lowercase()).collect();
    bases.sort_by_key(|b| (b.matches('.').count(), b.clone()));
    bases.dedup();
    let mut kept: Vec<String> = Vec::new();
    for b in bases {
        if !kept.iter().any(|k| b == *k || b.ends_with(&format!(".{k}"))) {
            kept.push(b);
        }
    }
    kept.sort();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees_are_minimal() {
        let got = permitted_subtrees(["*.manage.microsoft.com", "r.manage.microsoft.com", "manage.microsoft.com", "crl3.digicert.com", "*.digicert.com"]);
        assert_eq!(got, ["digicert.com", "manage.microsoft.com"]);
    }

    #[test]
    fn serials_are_deterministic_and_positive() {
        let a: Vec<_> = {
            let mut s = Serials::new(7);
            (0..3).map(|_| s.next().to_bytes()).collect()
        };
        let b: Vec<_> = {
            let mut s = Serials::new(7);
            (0..3).map(|_| s.next().to_bytes()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
        assert!(a.iter().all(|s| s[0] & 0x80 == 0 && s[0] != 0));
    }
}
