//! Certificate verification as Windows does it: the webpki checks (chain, names, validity of
//! every presented certificate) plus the trust anchor's own validity dates, which webpki — and
//! so every rustls client — ignores. An expired root fails Windows (KB 3187516); the reference
//! clients must fail too.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A trust anchor's name, key id and validity, read from the CA bundle.
#[derive(Debug)]
struct Anchor {
    subject: Vec<u8>,
    key_id: Option<Vec<u8>>,
    not_before: i64,
    not_after: i64,
}

#[derive(Debug)]
pub struct WindowsLikeVerifier {
    inner: Arc<WebPkiServerVerifier>,
    anchors: Vec<Anchor>,
}

fn key_ids(cert: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let (mut ski, mut aki) = (None, None);
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|k| k.0.to_vec()),
            _ => {}
        }
    }
    (ski, aki)
}

impl WindowsLikeVerifier {
    /// Trust exactly `roots` (the world's CA bundle).
    pub fn new(roots: Vec<CertificateDer<'static>>) -> Result<Arc<Self>, Error> {
        let mut anchors = Vec::new();
        let mut store = RootCertStore::empty();
        for der in roots {
            if let Ok((_, cert)) = X509Certificate::from_der(&der) {
                let (ski, _) = key_ids(&cert);
                anchors.push(Anchor {
                    subject: cert.subject().as_raw().to_vec(),
                    key_id: ski,
                    not_before: cert.validity().not_before.timestamp(),
                    not_after: cert.validity().not_after.timestamp(),
                });
            }
            store.add(der).map_err(|e| Error::General(format!("CA bundle: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider).build().map_err(|e| Error::General(format!("CA bundle: {e}")))?;
        Ok(Arc::new(WindowsLikeVerifier { inner, anchors }))
    }

    /// The anchor that issued the top of the presented chain must be within its dates.
    fn check_anchor(&self, top: &CertificateDer<'_>, now: UnixTime) -> Result<(), Error> {
        let Ok((_, cert)) = X509Certificate::from_der(top) else { return Ok(()) };
        let issuer = cert.issuer().as_raw();
        let (_, aki) = key_ids(&cert);
        let candidates: Vec<&Anchor> =
            self.anchors.iter().filter(|a| a.subject == issuer && (aki.is_none() || a.key_id.is_none() || a.key_id == aki)).collect();
        let now = now.as_secs() as i64;
        if candidates.is_empty() || candidates.iter().any(|a| a.not_before <= now && now <= a.not_after) {
            return Ok(());
        }
        let error = if candidates.iter().all(|a| now > a.not_after) { CertificateError::Expired } else { CertificateError::NotValidYet };
        Err(Error::InvalidCertificate(error))
    }
}

impl ServerCertVerifier for WindowsLikeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        self.check_anchor(intermediates.last().unwrap_or(end_entity), now)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(m, c, d)
    }

    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(m, c, d)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
