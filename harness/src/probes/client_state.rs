//! What a Windows machine keeps between connections and the Windows-like probes share (issue
//! 16): the intermediate CA store (intermediates it already has, and those it downloads from a
//! certificate's AIA "CA Issuers" URL), whether it may download at all, the OCSP staple Schannel
//! hands CryptoAPI with the server's certificate (CERT_OCSP_RESPONSE_PROP_ID), and CryptoAPI's URL
//! cache of OCSP answers and CRLs, each honoured until its nextUpdate.
//!
//! A scenario's `[client.state]` fills it before the probe starts (`runner/client.rs`); `memsim
//! probe` starts from an empty, connected machine. One state serves one probe run.

use std::collections::HashMap;
use std::sync::Mutex;

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};

/// A cached OCSP answer or CRL: its DER and when it stops being current (Unix seconds).
#[derive(Debug, Clone)]
pub struct Cached {
    pub der: Vec<u8>,
    pub next_update: i64,
}

/// The client machine's certificate state.
#[derive(Debug)]
pub struct ClientState {
    /// Whether CryptoAPI may download a missing issuer from a CA Issuers URL (a disconnected
    /// machine, or "Turn off Automatic Root Certificates Update" with AIA retrieval off, may not).
    pub aia: bool,
    intermediates: Mutex<Vec<CertificateDer<'static>>>,
    staples: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    ocsp: Mutex<HashMap<Vec<u8>, Cached>>,
    crls: Mutex<HashMap<String, Cached>>,
}

impl Default for ClientState {
    fn default() -> Self {
        ClientState { aia: true, intermediates: Mutex::default(), staples: Mutex::default(), ocsp: Mutex::default(), crls: Mutex::default() }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClientState {
    /// A machine that may or may not download issuers.
    pub fn new(aia: bool) -> ClientState {
        ClientState { aia, ..ClientState::default() }
    }

    /// The intermediate CA store.
    pub fn intermediates(&self) -> Vec<CertificateDer<'static>> {
        lock(&self.intermediates).clone()
    }

    /// Put a CA certificate in the intermediate store (once).
    pub fn add_intermediate(&self, der: CertificateDer<'static>) {
        let mut all = lock(&self.intermediates);
        if !all.contains(&der) {
            all.push(der);
        }
    }

    /// The staple the server sent with `leaf` (DER), if it sent one.
    pub fn staple(&self, leaf: &[u8]) -> Option<Vec<u8>> {
        lock(&self.staples).get(leaf).cloned()
    }

    pub fn set_staple(&self, leaf: &[u8], staple: &[u8]) {
        if !staple.is_empty() {
            lock(&self.staples).insert(leaf.to_vec(), staple.to_vec());
        }
    }

    /// A cached OCSP answer for a CertID (DER), while current at `now`.
    pub fn ocsp(&self, cert_id: &[u8], now: i64) -> Option<Vec<u8>> {
        lock(&self.ocsp).get(cert_id).filter(|c| now < c.next_update).map(|c| c.der.clone())
    }

    pub fn cache_ocsp(&self, cert_id: &[u8], answer: Cached) {
        lock(&self.ocsp).insert(cert_id.to_vec(), answer);
    }

    /// A cached CRL from `url`, while current at `now`.
    pub fn crl(&self, url: &str, now: i64) -> Option<Vec<u8>> {
        lock(&self.crls).get(url).filter(|c| now < c.next_update).map(|c| c.der.clone())
    }

    pub fn cache_crl(&self, url: &str, crl: Cached) {
        lock(&self.crls).insert(url.to_string(), crl);
    }
}

/// The machine a scenario's `[client.state]` describes, in the world of `pki` at `now`: its
/// intermediate store, AIA switch, and URL cache entries issued `age` before `now` (a CRL as
/// the CA issued it then, an OCSP answer as its responder signed it then). Unknown CA ids and
/// hosts were refused by validation; here they are an error naming them.
pub fn from_scenario(spec: &scenarios::MachineState, pki: &mock_cloud::Pki, now: time::OffsetDateTime) -> Result<ClientState, String> {
    let state = ClientState::new(spec.aia);
    let ca = |id: &str| pki.cas().iter().position(|c| !c.shadow && c.spec.id == id).ok_or_else(|| format!("[client.state]: no CA `{id}`"));
    for id in &spec.intermediates {
        state.add_intermediate(pki.cas()[ca(id)?].der.clone());
    }
    for entry in &spec.cached {
        let then = now - entry.age().0;
        match entry {
            scenarios::CachedAnswer::Crl { ca: id, .. } => {
                let i = ca(id)?;
                let crl = pki.crl_issued_at(i, then).map_err(|e| e.to_string())?;
                for url in &pki.cas()[i].spec.crl {
                    state.cache_crl(url, Cached { der: crl.der.clone(), next_update: crl.next_update.unix_timestamp() });
                }
            }
            scenarios::CachedAnswer::Ocsp { host, .. } => {
                let leaf = pki.leaf_for(host).ok_or_else(|| format!("[client.state]: `{host}` is no emulated host"))?;
                let issuer = &pki.cas()[leaf.issuer].der;
                let id = super::revocation_ocsp::cert_id(&leaf.certified.cert[0], issuer).map_err(|e| e.to_string())?;
                let answer = pki.ocsp_answer_at(&leaf, then).ok_or_else(|| format!("[client.state]: no OCSP answer for `{host}`"))?;
                let next_update = super::revocation_ocsp::next_update(&answer, &id).unwrap_or(i64::MIN);
                let key = der::Encode::to_der(&id).map_err(|e| e.to_string())?;
                state.cache_ocsp(&key, Cached { der: answer, next_update });
            }
        }
    }
    Ok(state)
}

/// The subject and issuer names (raw DER) of a certificate.
pub fn names(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some((cert.subject().as_raw().to_vec(), cert.issuer().as_raw().to_vec()))
}
