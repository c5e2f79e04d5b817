//! CRL distribution point router tests (in process, `oneshot`): every CA's CRL at every URL of
//! pki.toml, signed by that CA, regenerated on revocation; the faults; the generic fallback.

use axum::body::Body;
use axum::http::Request;
use der::{Decode, Encode};
use scenarios::{RevocationReason, ServiceEffect, ServiceFault, SimDuration};
use tower::ServiceExt;
use x509_cert::crl::CertificateList;

use super::*;
use crate::pki::{serial_hex, split_url};
use crate::services::revocation::test_state;

async fn get(state: &RevocationState, url: &str) -> (u16, axum::http::HeaderMap, Vec<u8>) {
    let (host, path) = split_url(url).unwrap();
    let req = Request::get(path).header(header::HOST, host).body(Body::empty()).unwrap();
    let res = with(state.clone()).oneshot(req).await.unwrap();
    let (status, headers) = (res.status().as_u16(), res.headers().clone());
    (status, headers, axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap().to_vec())
}

/// Parse a CRL and check its signature with the key of CA `ca`; returns its revoked serials.
fn verify(state: &RevocationState, ca: usize, der: &[u8]) -> (CertificateList, Vec<String>) {
    let crl = CertificateList::from_der(der).unwrap();
    let issuer = x509_cert::Certificate::from_der(&state.pki.cas()[ca].der).unwrap();
    let spki = issuer.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes();
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, spki);
    key.verify(&crl.tbs_cert_list.to_der().unwrap(), crl.signature.raw_bytes()).expect("signed by its CA");
    assert_eq!(crl.tbs_cert_list.issuer, issuer.tbs_certificate.subject);
    let serials = crl.tbs_cert_list.revoked_certificates.iter().flatten().map(|r| serial_hex(r.serial_number.as_bytes())).collect();
    (crl, serials)
}

#[tokio::test]
async fn every_ca_publishes_a_signed_crl_at_each_of_its_urls() {
    let state = test_state(vec![], vec![]);
    for (i, ca) in state.pki.cas().iter().enumerate() {
        for url in &ca.spec.crl {
            let (status, headers, der) = get(&state, url).await;
            assert_eq!(status, 200, "{url}");
            assert_eq!(headers[header::CONTENT_TYPE], PKIX_CRL);
            let (crl, serials) = verify(&state, i, &der);
            assert!(serials.is_empty(), "{url}: {serials:?}");
            let next = crl.tbs_cert_list.next_update.unwrap().to_unix_duration().as_secs() as i64;
            assert!(next > state.journal.clock().now().unix_timestamp(), "{url}: fresh");
        }
    }
}

#[tokio::test]
async fn revoking_regenerates_the_crl_and_restoring_clears_it() {
    let state = test_state(vec![], vec![]);
    let leaf = state.pki.find("enterpriseenrollment-s.manage.microsoft.com").unwrap();
    let ca = leaf.issuer.unwrap();
    let url = state.pki.cas()[ca].spec.crl[0].clone();
    let (_, h0, _) = get(&state, &url).await;
    state.pki.revoke(&leaf, RevocationReason::KeyCompromise, state.journal.clock().now()).unwrap();
    let (_, h1, der) = get(&state, &url).await;
    assert_ne!(h0[header::ETAG], h1[header::ETAG], "a new CRL number");
    assert_eq!(verify(&state, ca, &der).1, [serial_hex(leaf.serial.as_ref())]);
    state.pki.restore(&leaf);
    assert!(verify(&state, ca, &get(&state, &url).await.2).1.is_empty());
    let served = state.journal.snapshot().into_iter().filter(|e| e.what == "crl_served").count();
    assert_eq!(served, 3);
}

#[tokio::test]
async fn scenario_revocations_are_listed_from_the_start() {
    let fault = scenarios::parse_scenario(
        "name = \"r\"\nsummary = \"s\"\narea = \"revocation\"\nsource = \"t\"\n[[fault]]\nkind = \"pki.revoked\"\nhosts = \"granitefalls.cloudapp.net\"\n",
        "r.toml",
    )
    .unwrap()
    .pki_faults();
    let state = test_state(fault, vec![]);
    let leaf = state.pki.find("granitefalls.cloudapp.net").unwrap();
    let ca = leaf.issuer.unwrap();
    let (_, _, der) = get(&state, &state.pki.cas()[ca].spec.crl[0].clone()).await;
    assert_eq!(verify(&state, ca, &der).1, [serial_hex(leaf.serial.as_ref())]);
}

#[tokio::test]
async fn faults_unavailable_and_stale_apply_to_crl_paths_only() {
    let state = test_state(vec![], vec![ServiceFault::new(ServiceEffect::CrlUnavailable { status: 404 })]);
    let url = state.pki.cas()[0].spec.crl[0].clone();
    assert_eq!(get(&state, &url).await.0, 404);
    assert!(state.journal.snapshot().iter().any(|e| e.what == "crl_unavailable" && e.fault.as_deref() == Some("service.crl_unavailable")));
    let (host, _) = split_url(&url).unwrap();
    assert_eq!(get(&state, &format!("http://{host}/")).await.0, 200, "the host itself stays reachable");
    assert_eq!(get(&state, &format!("http://{host}/nothing.crl")).await.0, 404);
    let state = test_state(vec![], vec![ServiceFault::new(ServiceEffect::CrlStale { since: SimDuration::from_days(1) })]);
    let (status, _, der) = get(&state, &url).await;
    assert_eq!(status, 200);
    let (crl, _) = verify(&state, 0, &der);
    let next = crl.tbs_cert_list.next_update.unwrap().to_unix_duration().as_secs() as i64;
    assert!(next < state.journal.clock().now().unix_timestamp() - 3600, "nextUpdate lies in the past");
}

#[tokio::test]
async fn only_get_and_head() {
    let state = test_state(vec![], vec![]);
    let (host, path) = split_url(&state.pki.cas()[0].spec.crl[0]).unwrap();
    let req = Request::post(path).header(header::HOST, host).body(Body::empty()).unwrap();
    let res = with(state).oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}
