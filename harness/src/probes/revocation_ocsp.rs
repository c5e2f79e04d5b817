//! The OCSP client half of a probe's revocation check (RFC 6960): build the request for a leaf
//! (CertID with SHA-1, as CryptoAPI and `openssl ocsp` send it, §4.1.1), and judge the answer:
//! a successful BasicOCSPResponse signed by the issuer or a responder it authorized (§4.2.1,
//! §4.2.2.2), for this CertID,
//! current (thisUpdate not ahead, nextUpdate not passed, §4.2.2.1). Anything else — tryLater,
//! bytes that are no OCSPResponse, a stale or foreign answer — is no answer: the caller falls
//! back to the CRL, as Windows does.

use der::asn1::{Null, OctetString};
use der::oid::db::rfc5912;
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::spki::AlgorithmIdentifierOwned;
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

/// The nextUpdate (Unix seconds) of `answer`'s response for `id`, for the URL cache.
pub fn next_update(answer: &[u8], id: &CertId) -> Option<i64> {
    let res = OcspResponse::from_der(answer).ok()?;
    let basic = BasicOcspResponse::from_der(res.response_bytes?.response.as_bytes()).ok()?;
    let single = basic.tbs_response_data.responses.iter().find(|r| r.cert_id == *id)?;
    single.next_update.as_ref().map(secs)
}

fn secs(t: &x509_ocsp::OcspGeneralizedTime) -> i64 {
    t.0.to_unix_duration().as_secs() as i64
}

fn verify(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key).verify(message, signature).is_ok()
}

/// A delegated responder's key, if the issuer authorized it (RFC 6960 §4.2.2.2): the issuer
/// signed its certificate, which names id-kp-OCSPSigning and is valid at `now`.
fn authorized<'a>(responder: &'a Certificate, issuer_key: &[u8], now: i64) -> Result<&'a [u8], &'static str> {
    let tbs = &responder.tbs_certificate;
    let signed = tbs.to_der().is_ok_and(|der| verify(issuer_key, &der, responder.signature.raw_bytes()));
    if responder.signature_algorithm.oid != rfc5912::ECDSA_WITH_SHA_256 || !signed {
        return Err("its certificate is not signed by the issuer");
    }
    let eku = tbs.extensions.iter().flatten().find(|e| e.extn_id == rfc5912::ID_CE_EXT_KEY_USAGE);
    let for_ocsp = eku.and_then(|e| ExtendedKeyUsage::from_der(e.extn_value.as_bytes()).ok()).is_some_and(|u| u.0.contains(&rfc5912::ID_KP_OCSP_SIGNING));
    if !for_ocsp {
        return Err("its certificate lacks id-kp-OCSPSigning");
    }
    let (from, until) = (tbs.validity.not_before.to_unix_duration().as_secs() as i64, tbs.validity.not_after.to_unix_duration().as_secs() as i64);
    if now < from || now > until {
        return Err("its certificate is not valid now");
    }
    Ok(tbs.subject_public_key_info.subject_public_key.raw_bytes())
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
    // Signed by the issuer itself, or by a responder the issuer authorized (§4.2.2.2).
    let issuer_key = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let key = match basic.certs.as_ref().and_then(|c| c.first()) {
        None => issuer_key,
        Some(responder) => match authorized(responder, issuer_key, now.unix_timestamp()) {
            Ok(key) => key,
            Err(why) => return OcspVerdict::NoAnswer(format!("the answer's delegated responder is not authorized: {why}")),
        },
    };
    let signed = basic.tbs_response_data.to_der().is_ok_and(|tbs| verify(key, &tbs, basic.signature.raw_bytes()));
    if basic.signature_algorithm.oid != rfc5912::ECDSA_WITH_SHA_256 || !signed {
        return no("the answer is not signed by the certificate's issuer or its responder");
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

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};

    use super::*;

    fn ca() -> (Issuer<'static, KeyPair>, Vec<u8>) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        let spki = Certificate::from_der(cert.der()).unwrap().tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
        (Issuer::new(p, key), spki)
    }

    fn responder(by: &Issuer<'static, KeyPair>, eku: bool, days: (i64, i64)) -> Certificate {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        if eku {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::OcspSigning];
        }
        let now = OffsetDateTime::now_utc();
        (p.not_before, p.not_after) = (now + time::Duration::days(days.0), now + time::Duration::days(days.1));
        Certificate::from_der(p.signed_by(&KeyPair::generate().unwrap(), by).unwrap().der()).unwrap()
    }

    #[test]
    fn only_a_current_ocsp_signer_of_the_issuer_is_authorized() {
        let (issuer, key) = ca();
        let (other, _) = ca();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        assert!(authorized(&responder(&issuer, true, (-1, 30)), &key, now).is_ok());
        assert_eq!(authorized(&responder(&issuer, false, (-1, 30)), &key, now).err(), Some("its certificate lacks id-kp-OCSPSigning"));
        assert_eq!(authorized(&responder(&other, true, (-1, 30)), &key, now).err(), Some("its certificate is not signed by the issuer"));
        assert_eq!(authorized(&responder(&issuer, true, (-30, -1)), &key, now).err(), Some("its certificate is not valid now"));
    }
}
