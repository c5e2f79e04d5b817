//! The OCSP client half of a probe's revocation check (RFC 6960): build the request for a leaf
//! (CertID with SHA-1, as CryptoAPI and `openssl ocsp` send it, §4.1.1), and judge the answer:
//! a successful BasicOCSPResponse signed by the issuer (§4.2.1, §4.2.2.2), for this CertID,
//! current (thisUpdate not ahead, nextUpdate not passed, §4.2.2.1). Anything else — tryLater,
//! bytes that are no OCSPResponse, a stale or foreign answer — is no answer: the caller falls
//! back to the CRL, as Windows does.

use der::asn1::{Null, OctetString};
use der::oid::db::rfc5912;
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_ocsp::{BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request, TbsRequest};

/// What an OCSP responder said about one certificate.
#[derive(Debug, Clone, PartialEq)]
pub enum OcspVerdict {
    Good,
    Revoked,
    /// No definitive answer; why, for the report.
    NoAnswer(String),
}

fn sha1(data: &[u8]) -> Result<OctetString, der::Error> {
    OctetString::new(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref().to_vec())
}

/// The CertID of `leaf` under `issuer` (both DER).
pub fn cert_id(leaf: &[u8], issuer: &[u8]) -> Result<CertId, der::Error> {
    let leaf = Certificate::from_der(leaf)?;
    let issuer = Certificate::from_der(issuer)?;
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned { oid: rfc5912::ID_SHA_1, parameters: Some(Null.into()) },
        issuer_name_hash: sha1(&issuer.tbs_certificate.subject.to_der()?)?,
        issuer_key_hash: sha1(issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes())?,
        serial_number: leaf.tbs_certificate.serial_number,
    })
}

/// A DER OCSPRequest for one CertID, unsigned and without a nonce (CryptoAPI sends none).
pub fn request(id: &CertId) -> Result<Vec<u8>, der::Error> {
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request { req_cert: id.clone(), single_request_extensions: None }],
            request_extensions: None,
        },
        optional_signature: None,
    };
    req.to_der()
}

fn secs(t: &x509_ocsp::OcspGeneralizedTime) -> i64 {
    t.0.to_unix_duration().as_secs() as i64
}

/// Judge an answer for `id`, signed by `issuer` (DER), at `now`. `skew` tolerates a responder
/// clock slightly ahead (CryptoAPI allows a few minutes).
pub fn judge(answer: &[u8], id: &CertId, issuer: &[u8], now: OffsetDateTime, skew: i64) -> OcspVerdict {
    let no = |why: &str| OcspVerdict::NoAnswer(why.to_string());
    let Ok(res) = OcspResponse::from_der(answer) else { return no("the answer is not an OCSPResponse") };
    if res.response_status != OcspResponseStatus::Successful {
        return OcspVerdict::NoAnswer(format!("the responder answered {:?}", res.response_status));
    }
    let Some(bytes) = res.response_bytes else { return no("a successful answer without a response") };
    let Ok(basic) = BasicOcspResponse::from_der(bytes.response.as_bytes()) else { return no("not a BasicOCSPResponse") };
    let Ok(issuer) = Certificate::from_der(issuer) else { return no("the issuer certificate does not parse") };
    // Signed by the issuer itself (a delegated responder is not accepted by this probe).
    let key = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key);
    let signed = basic.tbs_response_data.to_der().is_ok_and(|tbs| verifier.verify(&tbs, basic.signature.raw_bytes()).is_ok());
    if basic.signature_algorithm.oid != rfc5912::ECDSA_WITH_SHA_256 || !signed {
        return no("the answer is not signed by the certificate's issuer");
    }
    let Some(single) = basic.tbs_response_data.responses.iter().find(|r| r.cert_id == *id) else {
        return no("the answer is about another certificate");
    };
    let now = now.unix_timestamp();
    if secs(&single.this_update) > now + skew {
        return no("the answer's thisUpdate lies in the future");
    }
    if single.next_update.as_ref().is_some_and(|n| secs(n) < now) {
        return no("the answer is stale: its nextUpdate has passed");
    }
    match single.cert_status {
        CertStatus::Good(_) => OcspVerdict::Good,
        CertStatus::Revoked(_) => OcspVerdict::Revoked,
        CertStatus::Unknown(_) => no("the responder does not know the certificate"),
    }
}
