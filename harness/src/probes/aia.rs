//! Completing a chain as a connected Windows client does (issue 16): when a certificate's issuer
//! is neither presented, in the machine's intermediate store nor a trusted root, CryptoAPI
//! downloads it from the certificate's AIA "CA Issuers" URL (RFC 5280 §4.2.2.1; plain HTTP
//! through the machine's proxy, as every CryptoAPI URL retrieval) and keeps it in the
//! intermediate store. Only the leaf's issuer is fetched (`verify.rs` says why). DER and PEM
//! are read (`.crt` as the real CAs publish it); `.p7c` bundles are not served by the world.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::ProbeTarget;
use super::verify::Pending;

/// The CA Issuers URLs a certificate names.
pub fn ca_issuers(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(der) else { return Vec::new() };
    let mut urls = Vec::new();
    for ext in cert.extensions() {
        if let ParsedExtension::AuthorityInfoAccess(aia) = ext.parsed_extension() {
            for d in aia.iter().filter(|d| d.access_method == x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS) {
                if let GeneralName::URI(u) = d.access_location {
                    urls.push(u.to_string());
                }
            }
        }
    }
    urls
}

/// A downloaded issuer certificate: DER, or one PEM certificate.
fn parse(body: &[u8]) -> Option<CertificateDer<'static>> {
    if X509Certificate::from_der(body).is_ok() {
        return Some(CertificateDer::from(body.to_vec()));
    }
    CertificateDer::from_pem_slice(body).ok()
}

/// Download the leaf's issuer into the machine's intermediate store from the first of its CA
/// Issuers URLs that serves a certificate; returns what the failed attempts met (the caller
/// verifies the chain again either way).
pub async fn download(target: &ProbeTarget, pending: &Pending) -> Vec<String> {
    let mut why = Vec::new();
    for url in ca_issuers(&pending.end_entity) {
        match super::revocation::fetch(target, &url, None).await {
            Ok((200, body)) => match parse(&body) {
                Some(cert) => {
                    target.client_state.add_intermediate(cert);
                    return why;
                }
                None => why.push(format!("{url}: the answer is no certificate")),
            },
            Ok((status, _)) => why.push(format!("{url} answered HTTP {status}")),
            Err(e) => why.push(format!("{url}: {e}")),
        }
    }
    why
}
