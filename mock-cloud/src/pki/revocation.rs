//! Revocation in a world's PKI: what each CA has revoked, changed at runtime (revoke, restore),
//! and the CRL each CA publishes at its distribution points (RFC 5280 §5), built with rcgen and
//! signed by the CA's own key.
//!
//! A CRL is issued as of a simulated time: it lists what was revoked by then, its thisUpdate is
//! that time and its nextUpdate `crl_validity` later (RFC 5280 §5.1.2.4–5). The CRL of the
//! present is cached per CA and issued anew when revocation changes or `crl_reissue` has
//! passed. OCSP answers (RFC 6960) are built in `ocsp.rs` from the same state, and so are the
//! answers the HTTPS front staples (cached here like the CRLs). This module does
//! no HTTP: the responders in `services/` serve what it makes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use scenarios::RevocationReason;
use time::OffsetDateTime;

use super::{CaSpec, Leaf, Pki, PkiError, Revocation};

/// Runtime revocation state beside the revocation list: a revision that every change bumps,
/// the CRL numbers (RFC 5280 §5.2.3, increasing) and the current CRL of each CA.
#[derive(Debug, Default)]
pub struct RevocationState {
    pub(super) revision: AtomicU64,
    crl_number: AtomicU64,
    crls: Mutex<HashMap<usize, Arc<Crl>>>,
    pub(super) ocsp: std::sync::OnceLock<super::ocsp::IssuerIndex>,
    /// Pre-produced OCSP answers (RFC 5019 §2.2), by the CertID's DER.
    pub(super) answers: Mutex<HashMap<Vec<u8>, super::ocsp::Produced>>,
    /// Each leaf's chain and key with its current OCSP staple, by serial (hex).
    /// By the leaf's serial (its bytes: looked up per handshake without formatting it).
    staples: Mutex<HashMap<Vec<u8>, Staple>>,
    /// Delegated OCSP responders, by CA, made on first use (worlds with `ocsp_signer = "delegated"`).
    pub(super) responders: Mutex<HashMap<usize, Arc<super::ocsp::Responder>>>,
}

#[derive(Debug)]
struct Staple {
    revision: u64,
    produced: OffsetDateTime,
    certified: Arc<CertifiedKey>,
}

/// One issued CRL.
#[derive(Debug, Clone)]
pub struct Crl {
    pub der: Vec<u8>,
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    /// Serial numbers listed, as upper-case hex.
    pub revoked: Vec<String>,
    revision: u64,
}

/// A certificate of the world, found by host or serial number.
#[derive(Debug, Clone)]
pub struct CertRef {
    /// The leaf's name (or a CA's common name).
    pub subject: String,
    pub serial: SerialNumber,
    /// Index of the issuing CA; `None` for a root.
    pub issuer: Option<usize>,
    pub der: CertificateDer<'static>,
}

/// What a CA says about one of its serial numbers (RFC 6960 §2.2).
#[derive(Debug, Clone, PartialEq)]
pub enum CertState {
    Good,
    Revoked {
        at: OffsetDateTime,
        reason: RevocationReason,
    },
    /// The CA never issued this serial number.
    Unknown,
}

/// Upper-case hex, as `openssl x509 -serial` prints it.
pub fn serial_hex(serial: &[u8]) -> String {
    let trimmed: Vec<u8> = serial.iter().copied().skip_while(|b| *b == 0).collect();
    trimmed.iter().map(|b| format!("{b:02X}")).collect()
}

/// A serial number written in hex, with or without `0x`, colons or spaces (`openssl` styles).
pub fn parse_serial(text: &str) -> Option<Vec<u8>> {
    let hex: String = text.trim().trim_start_matches("0x").chars().filter(|c| *c != ':' && *c != ' ').collect();
    if hex.is_empty() || hex.len() > 40 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = if hex.len() % 2 == 1 { format!("0{hex}") } else { hex };
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).filter_map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect();
    Some(bytes.into_iter().skip_while(|b| *b == 0).collect())
}

fn leaf_ref(l: &Leaf) -> CertRef {
    CertRef { subject: l.name.clone(), serial: l.serial.clone(), issuer: Some(l.issuer), der: l.certified.cert[0].clone() }
}

fn same_serial(a: &[u8], b: &[u8]) -> bool {
    a.iter().skip_while(|x| **x == 0).eq(b.iter().skip_while(|x| **x == 0))
}

/// RFC 5280 §5.3.1 reason codes.
pub fn rcgen_reason(r: RevocationReason) -> rcgen::RevocationReason {
    match r {
        RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
        RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise => rcgen::RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged => rcgen::RevocationReason::AffiliationChanged,
        RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
        RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
    }
}

/// Shadow CAs (host-targeted chain faults) publish their CRL at a URL of their own on the same
/// host, so that a client of a shadow chain fetches a CRL its issuer really signed.
pub(super) fn shadow_spec(mut spec: CaSpec, index: usize) -> CaSpec {
    for url in &mut spec.crl {
        let stem = url.strip_suffix(".crl").unwrap_or(url).to_string();
        *url = format!("{stem}-memsim-shadow-{index}.crl");
    }
    // A shadow CA's certificate is published nowhere: a client cannot download a better chain.
    spec.ca_issuers = None;
    spec
}

/// `%20` and friends, for comparing URL paths as IIS does (decoded, case-insensitive).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `http://host/path` → (host, path).
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    Some((host.to_ascii_lowercase(), path))
}

impl Pki {
    /// The CA whose CRL lives at `http://host/path`.
    pub fn crl_at(&self, host: &str, path: &str) -> Option<usize> {
        let want = percent_decode(path);
        self.cas.iter().position(|ca| ca.spec.crl.iter().filter_map(|u| split_url(u)).any(|(h, p)| h == host && percent_decode(&p).eq_ignore_ascii_case(&want)))
    }

    /// The lifetimes of CRLs, OCSP answers and staples (pki.toml `[revocation]`).
    pub fn revocation_times(&self) -> super::spec::RevocationTimes {
        self.planner.data.revocation
    }

    /// `leaf`'s chain and key as the HTTPS front presents them at simulated time `at`, with an
    /// OCSP answer to staple for clients that ask (RFC 6066 §8), the responder's pre-produced one:
    /// kept until revocation changes or it is `staple_refresh` old (pki.toml `[revocation]`). Responder faults do not reach it: a server goes on
    /// stapling the answer it has while its responder is down, as real ones do.
    pub fn stapled(&self, leaf: &Leaf, at: OffsetDateTime) -> Arc<CertifiedKey> {
        let revision = self.revocation.revision.load(Ordering::SeqCst);
        let key = leaf.serial.as_ref();
        let mut cache = self.revocation.staples.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.get(key)
            && s.revision == revision
            && s.produced <= at
            && at < s.produced + self.revocation_times().staple_refresh.0
        {
            return s.certified.clone();
        }
        let mut certified = (*leaf.certified).clone();
        certified.ocsp = self.faulted_staple(leaf, at).unwrap_or_else(|| self.staple(leaf, at, super::StapleKind::Current));
        let certified = Arc::new(certified);
        cache.insert(key.to_vec(), Staple { revision, produced: at, certified: certified.clone() });
        certified
    }

    /// The CRL of CA `ca` as of simulated time `at`: the cached one while it is current.
    pub fn crl(&self, ca: usize, at: OffsetDateTime) -> Result<Arc<Crl>, PkiError> {
        let state = &self.revocation;
        let revision = state.revision.load(Ordering::SeqCst);
        let mut cache = state.crls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(&ca)
            && c.revision == revision
            && c.this_update <= at
            && at < c.this_update + self.revocation_times().crl_reissue.0
        {
            return Ok(c.clone());
        }
        let crl = Arc::new(self.issue_crl(ca, at, revision)?);
        cache.insert(ca, crl.clone());
        Ok(crl)
    }

    /// The CRL CA `ca` issued at `at`, outside the cache: what a client fetched back then
    /// (a scenario's `[client.state]` cache entries).
    pub fn crl_issued_at(&self, ca: usize, at: OffsetDateTime) -> Result<Crl, PkiError> {
        self.issue_crl(ca, at, self.revocation.revision.load(Ordering::SeqCst))
    }

    fn issue_crl(&self, ca: usize, at: OffsetDateTime, revision: u64) -> Result<Crl, PkiError> {
        let number = self.revocation.crl_number.fetch_add(1, Ordering::SeqCst) + 1;
        let listed: Vec<Revocation> = self.revocations().into_iter().filter(|r| r.issuer == ca && r.at <= at).collect();
        let params = CertificateRevocationListParams {
            this_update: at,
            next_update: at + self.revocation_times().crl_validity.0,
            crl_number: SerialNumber::from(number.to_be_bytes().iter().copied().skip_while(|b| *b == 0).collect::<Vec<u8>>()),
            issuing_distribution_point: None,
            revoked_certs: listed
                .iter()
                .map(|r| RevokedCertParams {
                    serial_number: r.serial.clone(),
                    revocation_time: r.at,
                    reason_code: Some(rcgen_reason(r.reason)),
                    invalidity_date: None,
                })
                .collect(),
            // Matches the CAs' subject key identifiers (rcgen's default), as RFC 5280 §5.2.1 asks.
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.cas[ca].issuer)?;
        Ok(Crl {
            der: crl.der().to_vec(),
            number,
            this_update: at,
            next_update: at + self.revocation_times().crl_validity.0,
            revoked: listed.iter().map(|r| serial_hex(r.serial.as_ref())).collect(),
            revision,
        })
    }

    /// Every certificate of the world: the CAs, then the leaves (every catalog host's, signed
    /// now if it was not yet, and those minted for deeper names).
    pub fn certificates(&self) -> Vec<CertRef> {
        let cas =
            self.cas.iter().map(|c| CertRef { subject: c.spec.common_name().to_string(), serial: c.serial.clone(), issuer: c.parent, der: c.der.clone() });
        let planned = self.hosts.iter().filter_map(|(h, p)| self.issued(h, p).ok());
        let minted: Vec<Arc<super::Leaf>> = self.minted.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        let mut leaves: Vec<Arc<super::Leaf>> = planned.chain(minted).collect();
        leaves.sort_by(|a, b| a.name.cmp(&b.name));
        leaves.dedup_by(|a, b| Arc::ptr_eq(a, b));
        cas.chain(leaves.iter().map(|l| leaf_ref(l))).collect()
    }

    /// A certificate by host name (the leaf a client of that name gets) or serial number (hex).
    /// A planned leaf found by its serial is signed now if it was not yet.
    pub fn find(&self, target: &str) -> Option<CertRef> {
        if let Some(serial) = parse_serial(target) {
            if let Some(c) = self.cas.iter().find(|c| same_serial(c.serial.as_ref(), &serial)) {
                return Some(CertRef { subject: c.spec.common_name().to_string(), serial: c.serial.clone(), issuer: c.parent, der: c.der.clone() });
            }
            if let Some((host, planned)) = self.hosts.iter().find(|(_, p)| same_serial(p.serial.as_ref(), &serial)) {
                return self.issued(host, planned).ok().map(|l| leaf_ref(&l));
            }
            let minted = self.minted.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(l) = minted.values().find(|l| same_serial(l.serial.as_ref(), &serial)) {
                return Some(leaf_ref(l));
            }
        }
        self.leaf_for(target).map(|l| leaf_ref(&l))
    }

    /// What CA `ca` says about `serial` as of `at`.
    pub fn status(&self, ca: usize, serial: &[u8], at: OffsetDateTime) -> CertState {
        let revoked = self.revocations().into_iter().find(|r| r.issuer == ca && same_serial(r.serial.as_ref(), serial) && r.at <= at);
        if let Some(r) = revoked {
            return CertState::Revoked { at: r.at, reason: r.reason };
        }
        if self.issued_by(ca, serial) { CertState::Good } else { CertState::Unknown }
    }

    /// Did CA `ca` issue `serial`, or plan to? (No allocation: OCSP asks this for every request.)
    fn issued_by(&self, ca: usize, serial: &[u8]) -> bool {
        let leaf = |l: &super::Leaf| l.issuer == ca && same_serial(l.serial.as_ref(), serial);
        self.cas.iter().any(|c| c.parent == Some(ca) && same_serial(c.serial.as_ref(), serial))
            || self.hosts.values().any(|p| p.issuer == ca && same_serial(p.serial.as_ref(), serial))
            || self.minted.lock().unwrap_or_else(|p| p.into_inner()).values().any(|l| leaf(l))
    }

    /// Put a certificate on its issuer's CRL (and OCSP) from `at` on. Revoking it again keeps
    /// the first revocation. A root has no issuer to revoke it.
    pub fn revoke(&self, cert: &CertRef, reason: RevocationReason, at: OffsetDateTime) -> Result<Revocation, PkiError> {
        let issuer = cert.issuer.ok_or_else(|| PkiError::Fault(format!("`{}` is a root: a root is not revoked; distrust it instead", cert.subject)))?;
        let mut list = self.revocations.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = list.iter().find(|r| r.issuer == issuer && same_serial(r.serial.as_ref(), cert.serial.as_ref())) {
            return Ok(r.clone());
        }
        let r = Revocation { issuer, serial: cert.serial.clone(), subject: cert.subject.clone(), at, reason };
        list.push(r.clone());
        self.revocation.revision.fetch_add(1, Ordering::SeqCst);
        Ok(r)
    }

    /// Take a certificate off its issuer's CRL; returns the revocations removed.
    pub fn restore(&self, cert: &CertRef) -> Vec<Revocation> {
        let mut list = self.revocations.lock().unwrap_or_else(|p| p.into_inner());
        let (gone, kept): (Vec<Revocation>, Vec<Revocation>) =
            list.drain(..).partition(|r| Some(r.issuer) == cert.issuer && same_serial(r.serial.as_ref(), cert.serial.as_ref()));
        *list = kept;
        if !gone.is_empty() {
            self.revocation.revision.fetch_add(1, Ordering::SeqCst);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_round_trip_in_openssl_styles() {
        assert_eq!(parse_serial("10:AB:0c"), Some(vec![0x10, 0xab, 0x0c]));
        assert_eq!(parse_serial("0x00ff"), Some(vec![0xff]));
        assert_eq!(parse_serial("abc"), Some(vec![0x0a, 0xbc]));
        assert_eq!(parse_serial("xyz"), None);
        assert_eq!(parse_serial(""), None);
        assert_eq!(serial_hex(&[0, 0x10, 0xab]), "10AB");
    }

    #[test]
    fn urls_split_and_decode_as_iis_compares_them() {
        assert_eq!(split_url("http://crl3.digicert.com/a.crl"), Some(("crl3.digicert.com".into(), "/a.crl".into())));
        assert_eq!(split_url("http://ocsp.digicert.com"), Some(("ocsp.digicert.com".into(), "/".into())));
        assert_eq!(percent_decode("/Microsoft%20RSA%2"), "/Microsoft RSA%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }
}
