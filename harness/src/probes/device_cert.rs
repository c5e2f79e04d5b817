//! What a joining device checks in the certificate DRS returns (protocols.md §6 note; libhimmelblau
//! `discovery.rs` `enroll_device`): it is an X.509 certificate, it holds the key of the request
//! the device sent (else the device cannot use it), its subject's first RDN is the device id
//! (libhimmelblau reads the id from there), and it chains to a device-certificate CA of the
//! world (world.json's `client_ca_bundle`: `MS-Organization-Access`) — each signature verified.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer as _;

use super::Code;

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub device_id: String,
    /// The issuing root's subject, e.g. `CN=MS-Organization-Access`.
    pub issuer: String,
}

/// Why the certificate is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertProblem {
    #[error("the returned certificate is not an X.509 certificate")]
    NotACertificate,
    #[error("the returned certificate does not hold the key of the certificate request")]
    NotOurKey,
    #[error("the returned certificate's subject names no device id (first RDN `{0}`)")]
    NoDeviceId(String),
    #[error("the returned certificate does not chain to a device-certificate CA of the world: {0}")]
    Chain(String),
}

impl CertProblem {
    pub fn code(&self) -> Code {
        match self {
            CertProblem::NotACertificate => Code::E_INVALIDDATA,
            CertProblem::NotOurKey | CertProblem::NoDeviceId(_) => Code::NTE_BAD_PUBLIC_KEY,
            CertProblem::Chain(_) => Code::CERT_E_CHAINING,
        }
    }
}

/// Whether `s` is a GUID (8-4-4-4-12 hex digits).
fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Check `der` against the request's SubjectPublicKeyInfo `spki` and the roots in `roots_pem`.
pub fn check(der: &[u8], spki: &[u8], roots_pem: &str) -> Result<Checked, CertProblem> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| CertProblem::NotACertificate)?;
    if cert.public_key().raw != spki {
        return Err(CertProblem::NotOurKey);
    }
    let first = cert.subject().iter_rdn().next().and_then(|rdn| rdn.iter().next()).and_then(|a| a.as_str().ok()).unwrap_or_default().to_string();
    if !is_guid(&first) {
        return Err(CertProblem::NoDeviceId(first.chars().take(80).collect()));
    }
    let pems: Vec<x509_parser::pem::Pem> = x509_parser::pem::Pem::iter_from_buffer(roots_pem.as_bytes()).filter_map(Result::ok).collect();
    let cas: Vec<X509Certificate<'_>> = pems.iter().filter_map(|p| X509Certificate::from_der(&p.contents).ok().map(|(_, c)| c)).collect();
    // Up the chain, each signature verified, until a self-signed root (at most four CAs up).
    let mut current = &cert;
    for _ in 0..4 {
        let issuer = cas
            .iter()
            .find(|c| c.subject().as_raw() == current.issuer().as_raw() && current.verify_signature(Some(c.public_key())).is_ok())
            .ok_or_else(|| CertProblem::Chain(format!("no CA named `{}` in the client CA bundle signed `{}`", current.issuer(), current.subject())))?;
        if issuer.subject().as_raw() == issuer.issuer().as_raw() && issuer.verify_signature(None).is_ok() {
            return Ok(Checked { device_id: first, issuer: issuer.subject().to_string() });
        }
        current = issuer;
    }
    Err(CertProblem::Chain("no self-signed root within four CAs".into()))
}

#[cfg(test)]
mod tests {
    use rcgen::PublicKeyData as _;

    use super::*;

    fn ca(cn: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = p.self_signed(&key).unwrap();
        (cert, rcgen::Issuer::new(p, key))
    }

    fn device(issuer: &rcgen::Issuer<'static, rcgen::KeyPair>, key: &rcgen::KeyPair, cn: &str) -> Vec<u8> {
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.signed_by(key, issuer).unwrap().der().to_vec()
    }

    #[test]
    fn a_device_certificate_is_checked_for_key_id_and_chain() {
        let (root, issuer) = ca("MS-Organization-Access");
        let (other_root, other_issuer) = ca("MS-Organization-Access");
        let key = rcgen::KeyPair::generate().unwrap();
        let spki = key.subject_public_key_info();
        let id = "0f1212dc-d64d-4b55-9bc8-39bdd82a92de";
        let good = device(&issuer, &key, id);
        let checked = check(&good, &spki, &root.pem()).unwrap();
        assert_eq!((checked.device_id.as_str(), checked.issuer.as_str()), (id, "CN=MS-Organization-Access"));
        // Same issuer name, other key: the signature, not the name, decides (issue 12).
        assert!(matches!(check(&good, &spki, &other_root.pem()), Err(CertProblem::Chain(_))));
        assert!(matches!(check(&device(&other_issuer, &key, id), &spki, &root.pem()), Err(CertProblem::Chain(_))));
        let other_key = rcgen::KeyPair::generate().unwrap();
        assert_eq!(check(&good, &other_key.subject_public_key_info(), &root.pem()), Err(CertProblem::NotOurKey));
        assert!(matches!(check(&device(&issuer, &key, "7E980AD9-B86D-4306-9425-9AC066FB014A-x"), &spki, &root.pem()), Err(CertProblem::NoDeviceId(_))));
        assert_eq!(check(b"junk", &spki, &root.pem()), Err(CertProblem::NotACertificate));
        assert!(matches!(check(&good, &spki, ""), Err(CertProblem::Chain(_))));
    }
}
