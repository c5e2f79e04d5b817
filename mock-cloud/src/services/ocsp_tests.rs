//! OCSP responder router tests (in process, `oneshot`): answers as RFC 6960 says, checked by
//! decoding them and verifying the issuer's signature; the service faults; garbage in.

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use der::asn1::{Null, OctetString};
use der::oid::db::{rfc5912, rfc6960};
use der::{Decode, Encode};
use proptest::prelude::*;
use scenarios::{RevocationReason, ServiceEffect, ServiceFault, SimDuration};
use tower::ServiceExt;
use x509_cert::ext::Extension;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_ocsp::{BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, TbsRequest};

use super::*;
use crate::services::revocation::test_state;

const HOST: &str = "granitefalls.cloudapp.net";

/// A CertID for `host`'s leaf (SHA-1, as openssl and CryptoAPI send by default).
fn cert_id(state: &RevocationState, host: &str) -> (CertId, Vec<u8>) {
    let leaf = state.pki.find(host).unwrap();
    let issuer = x509_cert::Certificate::from_der(&state.pki.cas()[leaf.issuer.unwrap()].der).unwrap();
    let sha1 = |b: &[u8]| OctetString::new(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b).as_ref().to_vec()).unwrap();
    let id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned { oid: rfc5912::ID_SHA_1, parameters: Some(Null.into()) },
        issuer_name_hash: sha1(&issuer.tbs_certificate.subject.to_der().unwrap()),
        issuer_key_hash: sha1(issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes()),
        serial_number: x509_cert::serial_number::SerialNumber::new(leaf.serial.as_ref()).unwrap(),
    };
    let spki = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes().to_vec();
    (id, spki)
}

fn request_der(id: CertId) -> Vec<u8> {
    let nonce = Extension { extn_id: rfc6960::ID_PKIX_OCSP_NONCE, critical: false, extn_value: OctetString::new(vec![4, 2, 7, 7]).unwrap() };
    request_with(id, Some(vec![nonce]))
}

/// A request as CryptoAPI and RFC 5019 clients send it: one CertID, no nonce.
fn request_without_nonce(id: CertId) -> Vec<u8> {
    request_with(id, None)
}

fn request_with(id: CertId, request_extensions: Option<Vec<Extension>>) -> Vec<u8> {
    let req = OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![x509_ocsp::Request { req_cert: id, single_request_extensions: None }],
            request_extensions,
        },
        optional_signature: None,
    };
    req.to_der().unwrap()
}

async fn call(state: &RevocationState, req: Request<Body>) -> (u16, Vec<u8>) {
    let res = with(state.clone()).oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    if status == 200 {
        assert_eq!(res.headers()[header::CONTENT_TYPE], OCSP_RESPONSE);
    }
    (status, axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap().to_vec())
}

async fn post(state: &RevocationState, host: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
    let req = Request::post("/").header(header::HOST, host).header(header::CONTENT_TYPE, OCSP_REQUEST).body(Body::from(body)).unwrap();
    call(state, req).await
}

/// Decode a successful answer and verify it is signed by the issuer key `spki`.
fn basic(der: &[u8], spki: &[u8]) -> BasicOcspResponse {
    let res = OcspResponse::from_der(der).unwrap();
    assert_eq!(res.response_status, OcspResponseStatus::Successful);
    let basic = BasicOcspResponse::from_der(res.response_bytes.unwrap().response.as_bytes()).unwrap();
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, spki);
    key.verify(&basic.tbs_response_data.to_der().unwrap(), basic.signature.raw_bytes()).expect("signed by the issuer");
    basic
}

fn ocsp_host(state: &RevocationState) -> String {
    let leaf = state.pki.find(HOST).unwrap();
    split_url(&state.pki.cas()[leaf.issuer.unwrap()].spec.ocsp).unwrap().0
}

#[tokio::test]
async fn good_then_revoked_then_good_again() {
    let state = test_state(vec![], vec![]);
    let (id, spki) = cert_id(&state, HOST);
    let host = ocsp_host(&state);
    let (status, der) = post(&state, &host, request_der(id.clone())).await;
    assert_eq!(status, 200);
    let b = basic(&der, &spki);
    assert_eq!(b.tbs_response_data.responses[0].cert_status, CertStatus::Good(Null));
    assert_eq!(b.tbs_response_data.responses[0].cert_id, id);
    assert!(b.tbs_response_data.nonce().is_some(), "the nonce is echoed");
    let leaf = state.pki.find(HOST).unwrap();
    state.pki.revoke(&leaf, RevocationReason::Superseded, state.journal.clock().now()).unwrap();
    let b = basic(&post(&state, &host, request_der(id.clone())).await.1, &spki);
    let CertStatus::Revoked(info) = b.tbs_response_data.responses[0].cert_status else { panic!("not revoked") };
    assert_eq!(info.revocation_reason, Some(x509_cert::ext::pkix::CrlReason::Superseded));
    assert_eq!(state.pki.restore(&leaf).len(), 1);
    let b = basic(&post(&state, &host, request_der(id)).await.1, &spki);
    assert_eq!(b.tbs_response_data.responses[0].cert_status, CertStatus::Good(Null));
    let events = state.journal.snapshot();
    assert_eq!(events.iter().filter(|e| e.what == "ocsp_response").count(), 3);
}

/// Issue 20 item 4 (RFC 5019 §2.2): one signed answer per certificate and window, the same
/// bytes for every request in it (the staple too), a new one when revocation changes or the
/// window rolls in simulated time.
#[tokio::test]
async fn answers_are_pre_produced_per_window_and_renewed_on_revocation() {
    let state = test_state(vec![], vec![]);
    let (id, spki) = cert_id(&state, HOST);
    let host = ocsp_host(&state);
    let (_, first) = post(&state, &host, request_without_nonce(id.clone())).await;
    let (_, second) = post(&state, &host, request_without_nonce(id.clone())).await;
    assert_eq!(first, second, "two requests in one window get the same bytes");
    let b = basic(&first, &spki);
    assert_eq!(b.tbs_response_data.responses[0].cert_status, CertStatus::Good(Null));
    assert!(b.tbs_response_data.nonce().is_none());
    let leaf = state.pki.leaf_for(HOST).unwrap();
    let now = state.journal.clock().now();
    assert_eq!(state.pki.staple(&leaf, now, pki::StapleKind::Current).unwrap(), first, "the front staples the same answer");

    let answer = |at| state.pki.ocsp_answer(&request_without_nonce(id.clone()), &host, at).der.clone();
    let reissue = state.pki.revocation_times().ocsp_reissue.0;
    assert_eq!(answer(now + reissue / 2), first, "still in the window");
    let rolled = answer(now + reissue + std::time::Duration::from_secs(1));
    assert_ne!(rolled, first, "a new window, a new answer");
    assert!(basic(&rolled, &spki).tbs_response_data.produced_at.0.to_unix_duration().as_secs() as i64 > now.unix_timestamp());

    let cert = state.pki.find(HOST).unwrap();
    state.pki.revoke(&cert, RevocationReason::KeyCompromise, state.journal.clock().now()).unwrap();
    let (_, revoked) = post(&state, &host, request_without_nonce(id.clone())).await;
    assert!(matches!(basic(&revoked, &spki).tbs_response_data.responses[0].cert_status, CertStatus::Revoked(_)));
    assert_eq!(post(&state, &host, request_without_nonce(id.clone())).await.1, revoked);
    state.pki.restore(&cert);
    let (_, good) = post(&state, &host, request_without_nonce(id)).await;
    assert_eq!(basic(&good, &spki).tbs_response_data.responses[0].cert_status, CertStatus::Good(Null));
}

/// The staple variants a server-side knob asks for: stale (nextUpdate passed), revoked.
#[tokio::test]
async fn staples_can_be_made_stale_or_revoked() {
    let state = test_state(vec![], vec![]);
    let (_, spki) = cert_id(&state, HOST);
    let leaf = state.pki.leaf_for(HOST).unwrap();
    let now = state.journal.clock().now();
    let stale = basic(&state.pki.staple(&leaf, now, pki::StapleKind::Stale).unwrap(), &spki);
    let next = stale.tbs_response_data.responses[0].next_update.unwrap().0.to_unix_duration().as_secs() as i64;
    assert!(next < now.unix_timestamp());
    let revoked = basic(&state.pki.staple(&leaf, now, pki::StapleKind::Revoked).unwrap(), &spki);
    assert!(matches!(revoked.tbs_response_data.responses[0].cert_status, CertStatus::Revoked(_)));
    let current = basic(&state.pki.staple(&leaf, now, pki::StapleKind::Current).unwrap(), &spki);
    assert_eq!(current.tbs_response_data.responses[0].cert_status, CertStatus::Good(Null), "the CA's own state is untouched");
}

#[tokio::test]
async fn get_carries_the_request_in_the_path_under_the_url_path() {
    let state = test_state(vec![], vec![]);
    let (id, spki) = cert_id(&state, HOST);
    let host = ocsp_host(&state);
    let url_path = split_url(&state.pki.cas()[state.pki.find(HOST).unwrap().issuer.unwrap()].spec.ocsp).unwrap().1;
    let b64 = base64::engine::general_purpose::STANDARD.encode(request_der(id));
    let encoded = b64.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let path = format!("{}/{encoded}", url_path.trim_end_matches('/'));
    let req = Request::get(path).header(header::HOST, &host).body(Body::empty()).unwrap();
    let res = with(state.clone()).oneshot(req).await.unwrap();
    assert!(res.headers()[header::CACHE_CONTROL].to_str().unwrap().contains("max-age="));
    let der = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    basic(&der, &spki);
}

#[tokio::test]
async fn garbage_unknown_serials_and_foreign_issuers_get_protocol_answers() {
    let state = test_state(vec![], vec![]);
    let host = ocsp_host(&state);
    let (status, der) = post(&state, &host, b"GET / HTTP/1.1\r\n".to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(OcspResponse::from_der(&der).unwrap().response_status, OcspResponseStatus::MalformedRequest);
    let (mut id, spki) = cert_id(&state, HOST);
    id.serial_number = x509_cert::serial_number::SerialNumber::new(&[0x42]).unwrap();
    let b = basic(&post(&state, &host, request_der(id.clone())).await.1, &spki);
    assert_eq!(b.tbs_response_data.responses[0].cert_status, CertStatus::Unknown(Null));
    let (_, der) = post(&state, "ocsp.d-trust-elsewhere.example", request_der(id)).await;
    assert_eq!(OcspResponse::from_der(&der).unwrap().response_status, OcspResponseStatus::Unauthorized);
    let req = Request::delete("/").header(header::HOST, &host).body(Body::empty()).unwrap();
    assert_eq!(call(&state, req).await.0, 405);
}

#[tokio::test]
async fn faults_try_later_malformed_stale_are_layers() {
    let f = |fault: ServiceFault| test_state(vec![], vec![fault]);
    let state = f(ServiceFault::new(ServiceEffect::OcspTryLater {}));
    let (id, spki) = cert_id(&state, HOST);
    let host = ocsp_host(&state);
    let (_, der) = post(&state, &host, request_der(id.clone())).await;
    assert_eq!(OcspResponse::from_der(&der).unwrap().response_status, OcspResponseStatus::TryLater);
    assert!(state.journal.snapshot().iter().any(|e| e.fault.as_deref() == Some("service.ocsp_try_later")));
    let state = f(ServiceFault::new(ServiceEffect::OcspMalformed {}));
    assert!(OcspResponse::from_der(&post(&state, &host, request_der(id.clone())).await.1).is_err());
    let state = f(ServiceFault::new(ServiceEffect::OcspStale { since: SimDuration::from_days(2) }));
    let (id, spki2) = cert_id(&state, HOST);
    let b = basic(&post(&state, &host, request_der(id)).await.1, &spki2);
    let next = b.tbs_response_data.responses[0].next_update.unwrap().0.to_unix_duration().as_secs() as i64;
    assert!(next < state.journal.clock().now().unix_timestamp() - 86_400, "nextUpdate lies in the past");
    let _ = spki;
}

proptest! {
    // PROPTEST_CASES raises the count (bench/fuzz-parsers.sh).
    #![proptest_config(ProptestConfig::default())]

    /// Issue 5: bad input gets a protocol answer, never a panic.
    #[test]
    fn request_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), path in "[ -~]{0,200}") {
        let state = STATE.with(|s| s.clone());
        let a = state.pki.ocsp_answer(&bytes, "ocsp.digicert.com", state.journal.clock().now());
        prop_assert!(matches!(a.response_status, "malformed_request" | "unauthorized"), "{}", a.response_status);
        prop_assert!(OcspResponse::from_der(&a.der).is_ok());
        let _ = request_from_path(&state, "oneocsp.microsoft.com", &format!("/{path}"));
    }

    /// Well-formed requests with arbitrary serials: `unknown`, signed; foreign hashes: `unauthorized`.
    #[test]
    fn arbitrary_cert_ids_get_signed_or_refused_answers(serial in proptest::collection::vec(any::<u8>(), 1..20), hash in proptest::collection::vec(any::<u8>(), 20)) {
        let state = STATE.with(|s| s.clone());
        let host = ocsp_host(&state);
        let (mut id, spki) = cert_id(&state, HOST);
        let mut serial = serial;
        serial[0] = (serial[0] & 0x7f) | 0x01; // positive, minimal: a valid INTEGER
        id.serial_number = x509_cert::serial_number::SerialNumber::new(&serial).unwrap();
        let a = state.pki.ocsp_answer(&request_der(id.clone()), &host, state.journal.clock().now());
        prop_assert_eq!(a.response_status, "successful");
        let b = basic(&a.der, &spki);
        prop_assert_eq!(&b.tbs_response_data.responses[0].cert_id, &id);
        id.issuer_key_hash = OctetString::new(hash).unwrap();
        let a = state.pki.ocsp_answer(&request_der(id), &host, state.journal.clock().now());
        prop_assert_eq!(a.response_status, "unauthorized");
    }
}

thread_local! {
    static STATE: RevocationState = test_state(vec![], vec![]);
}
