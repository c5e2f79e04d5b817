//! Certificate verification as Windows does it: the webpki checks (chain, names, validity of
//! every presented certificate) plus the trust anchor's own validity dates, which webpki — and
//! so every rustls client — ignores. An expired root fails Windows (KB 3187516); the reference
//! clients must fail too.
//!
//! Chain building follows CryptoAPI's (issue 16): the issuers the server presented, then the
//! machine's intermediate store ([`ClientState`]); and when the chain still ends short of a
//! trusted root, a connected machine downloads the missing issuer from the AIA "CA Issuers" URL
//! of the leaf (a root so fetched would not be trusted, so a missing root is not downloaded).
//! WinHTTP validates the server certificate after Schannel's
//! handshake (manual validation), so does this verifier for a chain that needs a download: it
//! lets the handshake finish, keeps the chain as [`Pending`], and `net.rs` downloads and
//! verifies again before a byte is sent (a failure then closes the connection unused). Every
//! other verdict is given during the handshake. The OCSP staple the server sends is kept for the
//! revocation check, as Schannel hands it to CryptoAPI with the server's certificate.

use std::sync::{Arc, Mutex};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::client_state::{ClientState, names};
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
    state: Arc<ClientState>,
    pending: Mutex<Option<Pending>>,
}

/// A chain whose verification waits for a CA Issuers download (see the module doc).
#[derive(Debug, Clone)]
pub struct Pending {
    pub end_entity: CertificateDer<'static>,
    pub intermediates: Vec<CertificateDer<'static>>,
    pub server_name: ServerName<'static>,
    pub ocsp: Vec<u8>,
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
    /// Trust exactly `roots` (the world's CA bundle), on a machine in `state`.
    pub fn new(roots: Vec<CertificateDer<'static>>, state: Arc<ClientState>) -> Result<Arc<Self>, Error> {
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
        Ok(Arc::new(WindowsLikeVerifier { inner, anchors, state, pending: Mutex::new(None) }))
    }

    /// The chain waiting for a CA Issuers download, if the handshake left one.
    pub fn take_pending(&self) -> Option<Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Whether a certificate's issuer is one of `certs` or a trust anchor (by name).
    pub fn issuer_known(&self, der: &[u8], certs: &[CertificateDer<'_>]) -> bool {
        let Some((subject, issuer)) = names(der) else { return true };
        subject == issuer || self.anchors.iter().any(|a| a.subject == issuer) || certs.iter().any(|c| names(c).is_some_and(|(s, _)| s == issuer))
    }

    /// The full verification at `now`: the presented chain with the machine's intermediates,
    /// never deferred.
    pub fn verify_now(
        &self,
        end_entity: &CertificateDer<'_>,
        presented: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<(), Error> {
        let mut all: Vec<CertificateDer<'_>> = presented.to_vec();
        all.extend(self.state.intermediates().into_iter().filter(|c| !presented.contains(c)));
        self.inner.verify_server_cert(end_entity, &all, server_name, ocsp_response, now)?;
        for cert in std::iter::once(end_entity).chain(all.iter()) {
            self.check_anchor(cert, now)?;
        }
        Ok(())
    }

    /// A trust anchor that issued `cert` must be within its dates.
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
        self.state.set_staple(end_entity, ocsp_response);
        match self.verify_now(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)) if self.state.aia => {
                // Only the leaf's issuer is downloaded: a root fetched from AIA would not be
                // trusted (Windows trusts roots from its store and the Windows Update CTL), so
                // the verdict for a missing root is the same without the download.
                let mut all = intermediates.to_vec();
                all.extend(self.state.intermediates());
                let downloadable = !self.issuer_known(end_entity, &all) && !super::aia::ca_issuers(end_entity).is_empty();
                if !downloadable {
                    return Err(Error::InvalidCertificate(CertificateError::UnknownIssuer));
                }
                *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(Pending {
                    end_entity: end_entity.clone().into_owned(),
                    intermediates: intermediates.iter().map(|c| c.clone().into_owned()).collect(),
                    server_name: server_name.to_owned(),
                    ocsp: ocsp_response.to_vec(),
                });
                Ok(ServerCertVerified::assertion())
            }
            other => other.map(|()| ServerCertVerified::assertion()),
        }
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
