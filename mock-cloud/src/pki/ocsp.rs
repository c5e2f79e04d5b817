//! OCSP answers (RFC 6960) from a world's PKI. A request's CertIDs name the issuer by hashes of
//! its name and key (§4.1.1, SHA-1 or SHA-256); the answer is a BasicOCSPResponse (§4.2.1)
//! signed (ECDSA P-256 with SHA-256) by that issuer's own key or, in a world with
//! `ocsp_signer = "delegated"`, by a responder certificate the issuer made for it (§4.2.2.2,
//! sent along in `certs`); responder named by key hash (§4.2.2.3), the request's nonce echoed
//! (§4.4.1). Errors are OCSP answers too (§2.3):
//! `malformedRequest` for bytes that are no OCSPRequest, `unauthorized` for an issuer this
//! responder host does not answer for (the CA's `ocsp` URL in pki.toml names its host).
//!
//! Answers are pre-produced (RFC 5019 §2.2, as the public CAs serve them from CDNs): one signed
//! answer per certificate and CertID hash, kept until revocation changes or `ocsp_reissue` has
//! passed (pki.toml `[revocation]`), so two requests in one window get the same bytes and cost
//! no signature. A request with a nonce (RFC 6960 §4.4.1) or several CertIDs is signed afresh,
//! the nonce echoed; a serial the CA never planned is answered `unknown`, signed each time
//! (nothing an arbitrary request asks about is kept). The HTTPS front staples the same answers.
//!
//! DER in and out goes through RustCrypto's x509-ocsp and der; nothing here is hand-written
//! ASN.1. This module does no HTTP.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::oid::db::{rfc5912, rfc6960};
use der::{Decode, Encode};

use rcgen::{KeyPair, PublicKeyData, SigningKey};
use scenarios::{OcspSigner, RevocationReason};
use time::OffsetDateTime;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse, ResponderId, ResponseData, RevokedInfo, SingleResponse, Version,
};

use super::revocation::{CertState, serial_hex, split_url};
use super::{Leaf, Pki};

/// A delegated OCSP responder of one CA: its certificate and key.
pub struct Responder {
    certificate: x509_cert::Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder").field("subject", &self.certificate.tbs_certificate.subject.to_string()).finish()
    }
}

/// The name and key hashes of every CA, by which CertIDs find their issuer.
#[derive(Debug)]
pub struct IssuerIndex(Vec<IssuerIds>);

#[derive(Debug)]
struct IssuerIds {
    ca: usize,
    sha1: (Vec<u8>, Vec<u8>),
    sha256: (Vec<u8>, Vec<u8>),
}

/// What one OCSP answer said, for the journal.
#[derive(Debug, Clone, PartialEq)]
pub struct OcspAnswer {
    pub der: Vec<u8>,
    /// `successful`, `malformed_request`, `unauthorized`, `internal_error`.
    pub response_status: &'static str,
    /// Per certificate asked about: serial (hex), `good` / `revoked` / `unknown`.
    pub statuses: Vec<(String, &'static str)>,
    /// The id of the CA that answered.
    pub ca: Option<String>,
    /// The answer's nextUpdate (successful answers): until when a cache may keep it.
    pub next_update: Option<OffsetDateTime>,
}

/// One pre-produced answer and what it was made for.
#[derive(Debug)]
pub(super) struct Produced {
    revision: u64,
    this_update: OffsetDateTime,
    answer: Arc<OcspAnswer>,
}

/// The answer a server staples (the `rev` knobs build on it): the responder's current one, one
/// whose nextUpdate has passed, or one saying revoked whatever the CA's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StapleKind {
    Current,
    Stale,
    Revoked,
}

fn digest(alg: &'static ring::digest::Algorithm, data: &[u8]) -> Vec<u8> {
    ring::digest::digest(alg, data).as_ref().to_vec()
}

fn gtime(t: OffsetDateTime) -> Result<OcspGeneralizedTime, der::Error> {
    let secs = u64::try_from(t.unix_timestamp()).unwrap_or(0);
    Ok(OcspGeneralizedTime(GeneralizedTime::from_unix_duration(Duration::from_secs(secs))?))
}

fn crl_reason(r: RevocationReason) -> Option<CrlReason> {
    Some(match r {
        // RFC 5280 §5.3.1: unspecified is better left out.
        RevocationReason::Unspecified => return None,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
    })
}

fn error_answer(response: OcspResponse, name: &'static str) -> OcspAnswer {
    OcspAnswer { der: response.to_der().unwrap_or_default(), response_status: name, statuses: Vec::new(), ca: None, next_update: None }
}

/// `malformedRequest` (RFC 6960 §2.3): what any bytes that are no OCSPRequest get.
pub fn malformed_request() -> OcspAnswer {
    error_answer(OcspResponse::malformed_request(), "malformed_request")
}

/// `tryLater` (RFC 6960 §2.3).
pub fn try_later() -> Vec<u8> {
    OcspResponse::try_later().to_der().unwrap_or_default()
}

impl Pki {
    fn issuer_index(&self) -> &IssuerIndex {
        self.revocation.ocsp.get_or_init(|| {
            let ids = self.cas.iter().enumerate().filter_map(|(ca, c)| {
                let cert = x509_cert::Certificate::from_der(&c.der).ok()?;
                let name = cert.tbs_certificate.subject.to_der().ok()?;
                let key = cert.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
                let sha1 = &ring::digest::SHA1_FOR_LEGACY_USE_ONLY;
                let sha256 = &ring::digest::SHA256;
                Some(IssuerIds { ca, sha1: (digest(sha1, &name), digest(sha1, &key)), sha256: (digest(sha256, &name), digest(sha256, &key)) })
            });
            IssuerIndex(ids.collect())
        })
    }

    /// The CA a CertID names, if any.
    fn issuer_of(&self, id: &x509_ocsp::CertId) -> Option<usize> {
        let wanted = (id.issuer_name_hash.as_bytes(), id.issuer_key_hash.as_bytes());
        self.issuer_index().0.iter().find_map(|e| {
            let (name, key) = match id.hash_algorithm.oid {
                rfc5912::ID_SHA_1 => &e.sha1,
                rfc5912::ID_SHA_256 => &e.sha256,
                _ => return None,
            };
            ((name.as_slice(), key.as_slice()) == wanted).then_some(e.ca)
        })
    }

    /// Answer an OCSP request that reached responder `host`, as of simulated time `at`.
    pub fn ocsp_answer(&self, request: &[u8], host: &str, at: OffsetDateTime) -> Arc<OcspAnswer> {
        let Ok(req) = OcspRequest::from_der(request) else { return Arc::new(malformed_request()) };
        let list = &req.tbs_request.request_list;
        if list.is_empty() {
            return Arc::new(malformed_request());
        }
        // One answer is signed by one key: every CertID must name the same issuer, and this
        // responder must be the one that issuer's certificates point to.
        let issuers: Vec<Option<usize>> = list.iter().map(|r| self.issuer_of(&r.req_cert)).collect();
        let Some(ca) = issuers[0].filter(|ca| issuers.iter().all(|i| *i == Some(*ca))) else {
            return Arc::new(error_answer(OcspResponse::unauthorized(), "unauthorized"));
        };
        let authoritative = split_url(&self.cas[ca].spec.ocsp).is_some_and(|(h, _)| h == host);
        if !authoritative {
            return Arc::new(error_answer(OcspResponse::unauthorized(), "unauthorized"));
        }
        let nonce = req.tbs_request.request_extensions.iter().flatten().find(|e| e.extn_id == rfc6960::ID_PKIX_OCSP_NONCE);
        let answer = match (nonce, list.as_slice()) {
            // The kept answer itself (issue 20: it was copied per request).
            (None, [one]) => self.produced(&one.req_cert, ca, at),
            _ => self.sign_answer(&list.iter().map(|r| &r.req_cert).collect::<Vec<_>>(), nonce, ca, at, None).map(Arc::new),
        };
        answer.unwrap_or_else(|_| Arc::new(error_answer(OcspResponse::internal_error(), "internal_error")))
    }

    /// The pre-produced answer for one CertID of CA `ca` as of `at` (RFC 5019 §2.2): the kept
    /// one while revocation is unchanged and it is younger than `ocsp_reissue`, else a fresh one.
    fn produced(&self, id: &CertId, ca: usize, at: OffsetDateTime) -> Result<Arc<OcspAnswer>, Box<dyn std::error::Error>> {
        let revision = self.revocation.revision.load(Ordering::SeqCst);
        let key = id.to_der()?;
        let reissue = self.revocation_times().ocsp_reissue.0;
        {
            let kept = self.revocation.answers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(p) = kept.get(&key)
                && p.revision == revision
                && p.this_update <= at
                && at < p.this_update + reissue
            {
                return Ok(p.answer.clone());
            }
        }
        let answer = Arc::new(self.sign_answer(&[id], None, ca, at, None)?);
        if answer.statuses.iter().all(|(_, status)| *status != "unknown") {
            let mut kept = self.revocation.answers.lock().unwrap_or_else(|p| p.into_inner());
            kept.insert(key, Produced { revision, this_update: at, answer: answer.clone() });
        }
        Ok(answer)
    }

    /// `leaf`'s CertID as Windows and OpenSSL ask by default (SHA-1 hashes of its issuer).
    fn leaf_cert_id(&self, leaf: &Leaf) -> Option<CertId> {
        let ids = self.issuer_index().0.iter().find(|e| e.ca == leaf.issuer)?;
        Some(CertId {
            hash_algorithm: AlgorithmIdentifierOwned { oid: rfc5912::ID_SHA_1, parameters: Some(Null.into()) },
            issuer_name_hash: OctetString::new(ids.sha1.0.clone()).ok()?,
            issuer_key_hash: OctetString::new(ids.sha1.1.clone()).ok()?,
            serial_number: x509_cert::serial_number::SerialNumber::new(leaf.serial.as_ref()).ok()?,
        })
    }

    /// A freshly signed answer about `leaf` as the responder would have produced it at `at`
    /// (a client's cached OCSP entry of a given age, `[client.state]`); not kept.
    pub fn ocsp_answer_at(&self, leaf: &Leaf, at: OffsetDateTime) -> Option<Vec<u8>> {
        let id = self.leaf_cert_id(leaf)?;
        self.sign_answer(&[&id], None, leaf.issuer, at, None).ok().map(|a| a.der)
    }

    /// The answer a server staples to its handshake (RFC 6066 §8, `status_request`): the
    /// responder's pre-produced answer about `leaf` as of `at` ([`StapleKind::Current`]), or
    /// one made stale or revoked for a server-side knob. `None` when the leaf's issuer is not
    /// known to the index.
    pub fn staple(&self, leaf: &Leaf, at: OffsetDateTime, kind: StapleKind) -> Option<Vec<u8>> {
        let id = self.leaf_cert_id(leaf)?;
        let answer = match kind {
            StapleKind::Current => return self.produced(&id, leaf.issuer, at).ok().map(|a| a.der.clone()),
            // Produced a whole validity before now and a day more: its nextUpdate has passed.
            StapleKind::Stale => {
                let then = at - self.revocation_times().ocsp_validity.0 - time::Duration::days(1);
                self.sign_answer(&[&id], None, leaf.issuer, then, None)
            }
            StapleKind::Revoked => {
                let revoked = CertState::Revoked { at: at - time::Duration::days(1), reason: RevocationReason::Unspecified };
                self.sign_answer(&[&id], None, leaf.issuer, at, Some(revoked))
            }
        };
        answer.ok().map(|a| a.der)
    }

    /// What the server of `leaf` staples under `pki.staple` (issue 16): nothing, the answer it
    /// got `ocsp_validity + since` ago (stale), or an answer that says revoked; `None` for no
    /// such fault (then [`Pki::staple`]).
    pub(super) fn faulted_staple(&self, leaf: &Leaf, at: OffsetDateTime) -> Option<Option<Vec<u8>>> {
        let (state, since) = self.planner.staple_for(&leaf.name)?;
        Some(match state {
            scenarios::StapleState::Absent => None,
            scenarios::StapleState::Stale => {
                let id = self.leaf_cert_id(leaf)?;
                let then = at - self.revocation_times().ocsp_validity.0 - since;
                self.sign_answer(&[&id], None, leaf.issuer, then, None).ok().map(|a| a.der)
            }
            scenarios::StapleState::Revoked => {
                let id = self.leaf_cert_id(leaf)?;
                let revoked = CertState::Revoked { at, reason: RevocationReason::KeyCompromise };
                self.sign_answer(&[&id], None, leaf.issuer, at, Some(revoked)).ok().map(|a| a.der)
            }
        })
    }

    /// CA `ca`'s delegated responder: made once, valid as the world's leaves are.
    fn responder(&self, ca: usize) -> Result<Arc<Responder>, Box<dyn std::error::Error>> {
        let mut all = self.revocation.responders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = all.get(&ca) {
            return Ok(r.clone());
        }
        let validity = super::Mods::default().validity(self.planner.now, self.planner.data.validity.leaf);
        let params = super::material::ocsp_responder_params(&self.cas[ca].spec, validity, self.next_serial());
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cas[ca].issuer)?;
        let r = Arc::new(Responder { certificate: x509_cert::Certificate::from_der(cert.der())?, key });
        all.insert(ca, r.clone());
        Ok(r)
    }

    /// Sign an answer about `ids` as of `at`; `forced` replaces the CA's state for every one.
    fn sign_answer(
        &self,
        ids: &[&CertId],
        nonce: Option<&Extension>,
        ca: usize,
        at: OffsetDateTime,
        forced: Option<CertState>,
    ) -> Result<OcspAnswer, Box<dyn std::error::Error>> {
        let responder = match self.planner.world.ocsp_signer {
            OcspSigner::Issuer => None,
            OcspSigner::Delegated => Some(self.responder(ca)?),
        };
        let key = responder.as_ref().map_or(self.cas[ca].issuer.key(), |r| &r.key);
        if key.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err("the CA key is not ECDSA P-256".into());
        }
        let mut statuses = Vec::new();
        let mut responses = Vec::new();
        for id in ids {
            let serial = id.serial_number.as_bytes();
            let (status, name) = match forced.clone().unwrap_or_else(|| self.status(ca, serial, at)) {
                CertState::Good => (CertStatus::Good(Null), "good"),
                CertState::Revoked { at: when, reason } => {
                    (CertStatus::Revoked(RevokedInfo { revocation_time: gtime(when)?, revocation_reason: crl_reason(reason) }), "revoked")
                }
                CertState::Unknown => (CertStatus::Unknown(Null), "unknown"),
            };
            statuses.push((serial_hex(serial), name));
            responses.push(SingleResponse {
                cert_id: (*id).clone(),
                cert_status: status,
                this_update: gtime(at)?,
                next_update: Some(gtime(at + self.revocation_times().ocsp_validity.0)?),
                single_extensions: None,
            });
        }
        let key_hash = digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.der_bytes());
        let data = ResponseData {
            version: Version::V1,
            responder_id: ResponderId::ByKey(OctetString::new(key_hash)?),
            produced_at: gtime(at)?,
            responses,
            response_extensions: nonce.map(|n| vec![n.clone()]),
        };
        let signature = key.sign(&data.to_der()?)?;
        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned { oid: rfc5912::ECDSA_WITH_SHA_256, parameters: None },
            signature: BitString::from_bytes(&signature)?,
            // A delegated responder sends its certificate along (§4.2.1, §4.2.2.2).
            certs: responder.map(|r| vec![r.certificate.clone()]),
        };
        Ok(OcspAnswer {
            der: OcspResponse::successful(basic)?.to_der()?,
            response_status: "successful",
            statuses,
            ca: Some(self.cas[ca].spec.id.clone()),
            next_update: Some(at + self.revocation_times().ocsp_validity.0),
        })
    }
}
