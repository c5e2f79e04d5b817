//! DRS router tests (issue 12, deliverable 4), in process: Discover, nonce, join and key
//! provisioning with tokens the world's Entra signed, and every refusal answered in JSON with a
//! journal entry.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::services::test_support::{app_state, csr, entra_token, rsa_2048};

const HOST: &str = "enterpriseregistration.windows.net";
const CN: &str = "7E980AD9-B86D-4306-9425-9AC066FB014A";

async fn call(state: &AppState, method: Method, uri: &str, token: Option<&str>, body: Body) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, HOST);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = router(state).oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status();
    assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"), "{status}: always JSON");
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn blob(key: &crate::keys::RsaKey) -> String {
    let (n, e) = key.jwk_n_e();
    let dec = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap();
    let (n, e) = (dec(n), dec(e));
    let mut b = b"RSA1".to_vec();
    for v in [2048u32, e.len() as u32, n.len() as u32, 0, 0] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&e);
    b.extend_from_slice(&n);
    STANDARD.encode(b)
}

fn join_body(csr_der: &[u8], transport: &str, join_type: Value) -> Value {
    json!({
        "CertificateRequest": { "Type": "pkcs10", "Data": STANDARD.encode(csr_der) },
        "TransportKey": transport, "TargetDomain": "contoso.com", "DeviceType": "Linux",
        "OSVersion": "Ubuntu 24.04", "DeviceDisplayName": "lab-01", "JoinType": join_type,
        "Attributes": { "ReuseDevice": "true", "ReturnClientSid": "true" },
    })
}

fn events(state: &AppState, what: &str) -> Vec<scenarios::Event> {
    state.journal.snapshot().into_iter().filter(|e| e.what == what).collect()
}

#[tokio::test]
async fn discover_points_every_endpoint_inside_the_world() {
    let state = app_state();
    let tid = state.world.tenant_id.clone();
    for tenant in ["contoso.com", "CONTOSO.COM", tid.as_str()] {
        let (status, doc) = call(&state, Method::GET, &format!("/{tenant}/Discover?api-version=1.9&managed=True"), None, Body::empty()).await;
        assert_eq!(status, StatusCode::OK, "{tenant}");
        assert_eq!(doc["DeviceJoinService"]["JoinEndpoint"], format!("https://{HOST}/EnrollmentServer/device/"));
        assert_eq!(doc["NonceService"]["Endpoint"], format!("https://{HOST}/EnrollmentServer/nonce/{tid}/"));
        assert_eq!(doc["KeyProvisioningService"]["KeyProvisionEndpoint"], format!("https://{HOST}/EnrollmentServer/key/"));
        assert_eq!(doc["AuthenticationService"]["OAuth2"]["TokenEndpoint"], format!("https://login.microsoftonline.com/{tid}/oauth2/token"));
        assert_eq!(doc["TenantInfo"]["TenantId"], tid.as_str());
        assert_eq!(doc["DeviceJoinService"]["JoinResourceId"], "urn:ms-drs:enterpriseregistration.windows.net");
        for (_, service) in doc.as_object().unwrap() {
            for (k, v) in service.as_object().unwrap() {
                if let Some(url) = v.as_str().filter(|v| v.starts_with("https://")) {
                    let host = url[8..].split('/').next().unwrap();
                    assert!(host == HOST || host == "login.microsoftonline.com", "{k} = {url} leaves the world");
                }
            }
        }
    }
    let (status, err) = call(&state, Method::GET, "/fabrikam.com/Discover?api-version=1.9", None, Body::empty()).await;
    assert_eq!((status, err["ErrorCode"].as_str()), (StatusCode::NOT_FOUND, Some("TenantNotFound")));
    let (status, err) = call(&state, Method::GET, "/contoso.com/Discover", None, Body::empty()).await;
    assert_eq!((status, err["ErrorCode"].as_str()), (StatusCode::BAD_REQUEST, Some("InvalidParameter")));
    let (status, _) = call(&state, Method::POST, "/contoso.com/Discover?api-version=1.9", None, Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn nonce_answers_with_its_reponse_status() {
    let state = app_state();
    let (status, n) = call(&state, Method::GET, &format!("/EnrollmentServer/nonce/{}/?api-version=1.0", state.world.tenant_id), None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(n["ReponseStatus"]["message"], "Successfully created a nonce");
    assert!(n["Value"].as_str().unwrap().len() >= 40);
}

#[tokio::test]
async fn a_join_returns_a_device_certificate_for_the_csr_key_from_ms_organization_access() {
    let state = app_state();
    let key = rsa_2048();
    let der = csr(&key, CN);
    let token = entra_token(&state, "urn:ms-drs:enterpriseregistration.windows.net", json!({}));
    let body = join_body(&der, &blob(&key), json!(0));
    let (status, res) = call(&state, Method::POST, "/EnrollmentServer/device/?api-version=2.0", Some(&token), Body::from(body.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["User"]["Upn"], "adele@contoso.com");
    assert_eq!(res["MembershipChanges"][0]["LocalSID"], "S-1-5-32-544");
    let cert_der = STANDARD.decode(res["Certificate"]["RawBody"].as_str().unwrap()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).unwrap();
    let device_id = cert.subject().iter_rdn().next().unwrap().iter().next().unwrap().as_str().unwrap().to_string();
    assert_eq!(device_id.len(), 36, "the first RDN is the device id");
    assert_eq!(cert.issuer().to_string(), "CN=MS-Organization-Access");
    let checked = crate::pki::check_csr(&der).unwrap();
    assert_eq!(cert.public_key().raw, checked.spki_der.as_slice(), "the CSR's key");
    let ca = state.revocation.pki.cas().iter().find(|c| c.spec.id == "ms-organization-access").unwrap();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca.der).unwrap();
    cert.verify_signature(Some(ca_cert.public_key())).expect("signed by MS-Organization-Access");
    assert!(!state.revocation.pki.bundle_pem().contains(&ca.pem), "not a TLS trust anchor");
    assert!(state.revocation.pki.client_bundle_pem().contains(&ca.pem));
    assert_eq!(res["Certificate"]["Thumbprint"].as_str().unwrap().len(), 40);
    let joined = state.devices.joined(&device_id).expect("the world remembers the device");
    assert_eq!((joined.join_type, joined.display_name.as_str()), (0, "lab-01"));
    assert_eq!(events(&state, "device_joined").len(), 1);

    // Key provisioning (MS-KPP) with the same token.
    let (status, kpp) =
        call(&state, Method::POST, "/EnrollmentServer/key/?api-version=1.0", Some(&token), Body::from(json!({ "kngc": blob(&key) }).to_string())).await;
    assert_eq!((status, kpp["upn"].as_str()), (StatusCode::OK, Some("adele@contoso.com")));
}

/// issue 12: a missing, expired, wrong-audience or forged token gets 401 with a JSON error and a
/// journal entry naming why.
#[tokio::test]
async fn join_refuses_bad_tokens_in_json_and_journals_them() {
    let state = app_state();
    let key = rsa_2048();
    let body = join_body(&csr(&key, CN), &blob(&key), json!(0)).to_string();
    let drs = "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9";
    let expired = entra_token(&state, drs, json!({ "exp": state.journal.clock().now().unix_timestamp() - 3600 }));
    let graph = entra_token(&state, "00000003-0000-0000-c000-000000000000", json!({}));
    let good = entra_token(&state, drs, json!({}));
    // One character of the signature changed (not its last, whose spare bits may not decode).
    let at = good.rfind('.').unwrap() + 10;
    let mut forged = good.clone();
    forged.replace_range(at..at + 1, if &good[at..at + 1] == "A" { "B" } else { "A" });
    let other_tenant = entra_token(&state, drs, json!({ "iss": "https://sts.windows.net/00000000-0000-0000-0000-000000000000/" }));
    let cases =
        [(None, "no Authorization"), (Some(expired), "expired"), (Some(graph), "audience"), (Some(forged), "signature"), (Some(other_tenant), "issuer")];
    for (i, (token, why)) in cases.iter().enumerate() {
        let (status, err) = call(&state, Method::POST, "/EnrollmentServer/device/?api-version=2.0", token.as_deref(), Body::from(body.clone())).await;
        assert_eq!((status, err["ErrorCode"].as_str()), (StatusCode::UNAUTHORIZED, Some("AuthenticationError")), "{why}");
        let refused = events(&state, "token_refused");
        assert_eq!(refused.len(), i + 1, "{why}");
        let reason = refused[i].detail["reason"].as_str().unwrap().to_string();
        assert!(reason.contains(why), "{why}: {reason}");
    }
    assert!(state.devices.counts().0 == 0, "no device joined");
}

/// issue 12: bad input gets a JSON error and a journal entry, never a panic.
#[tokio::test]
async fn join_refuses_bad_requests_in_json() {
    let state = app_state();
    let key = rsa_2048();
    let token = entra_token(&state, "urn:ms-drs:enterpriseregistration.windows.net", json!({}));
    let good = csr(&key, CN);
    let mut tampered = good.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let small = crate::keys::RsaKey::generate(1024).unwrap();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("{not json".into(), StatusCode::BAD_REQUEST, "not JSON"),
        ("[]".into(), StatusCode::BAD_REQUEST, "not a JSON object"),
        (join_body(&csr(&key, "someone-else"), &blob(&key), json!(0)).to_string(), StatusCode::BAD_REQUEST, "CN must be"),
        (join_body(&tampered, &blob(&key), json!(0)).to_string(), StatusCode::BAD_REQUEST, "signature"),
        (join_body(&csr(&small, CN), &blob(&key), json!(0)).to_string(), StatusCode::BAD_REQUEST, "1024-bit"),
        (join_body(&good, "AAAA", json!(0)).to_string(), StatusCode::BAD_REQUEST, "TransportKey"),
        (join_body(&good, &blob(&key), json!(5)).to_string(), StatusCode::BAD_REQUEST, "JoinType"),
        (json!({ "CertificateRequest": { "Type": "pkcs7", "Data": "AA==" } }).to_string(), StatusCode::BAD_REQUEST, "pkcs10"),
        ("x".repeat(crate::services::json_input::MAX_BODY + 1), StatusCode::PAYLOAD_TOO_LARGE, "larger than"),
    ];
    for (i, (body, status, says)) in cases.into_iter().enumerate() {
        let (got, err) = call(&state, Method::POST, "/EnrollmentServer/device/?api-version=2.0", Some(&token), Body::from(body)).await;
        assert_eq!(got, status, "{says}: {err}");
        assert!(err["Message"].as_str().unwrap().contains(says), "{says}: {err}");
        assert_eq!(events(&state, "bad_request").len(), i + 1, "{says}: journaled");
    }
    assert_eq!(state.devices.counts().0, 0);
}

#[test]
fn drs_times_read_as_the_nonce_service_writes_them() {
    let t = time::macros::datetime!(2023-10-12 15:05:30 UTC);
    assert_eq!(drs_time(t), "10/12/2023 3:05:30 PM");
    assert_eq!(drs_time(time::macros::datetime!(2023-01-02 00:07:08 UTC)), "1/2/2023 12:07:08 AM");
}

/// issue 12: whatever a client sends to join — random bytes, or the right shape filled with
/// random values — DRS answers a 4xx JSON error and never panics or joins.
#[test]
fn any_join_body_gets_a_json_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let state = app_state();
    let token = entra_token(&state, "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9", json!({}));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let strategy = (proptest::collection::vec(any::<u8>(), 0..1024), ".{0,200}", any::<i64>(), "[A-Za-z0-9+/=]{0,400}");
    TestRunner::new(Config::with_cases(64))
        .run(&strategy, |(bytes, text, n, b64)| {
            let shaped = json!({
                "CertificateRequest": { "Type": "pkcs10", "Data": b64 }, "TransportKey": b64, "TargetDomain": text,
                "DeviceType": text, "OSVersion": text, "DeviceDisplayName": text, "JoinType": n,
            });
            for body in [Body::from(bytes.clone()), Body::from(shaped.to_string())] {
                let (status, err) = rt.block_on(call(&state, Method::POST, "/EnrollmentServer/device/?api-version=2.0", Some(&token), body));
                prop_assert!(status.is_client_error(), "{status}: {err}");
                prop_assert!(err["ErrorCode"].is_string(), "{err}");
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(state.devices.counts().0, 0);
}

/// issue 12: `healthy-registration`'s target is `https://enterpriseregistration.windows.net/`, and
/// a scenario's target answers 2xx in a healthy world (scenarios' `[client] target` contract):
/// DRS answers its root as the generic service did before it existed.
#[tokio::test]
async fn the_root_still_answers_2xx() {
    let state = app_state();
    let (status, body) = call(&state, Method::GET, "/", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(&state, Method::POST, "/", None, Body::empty()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

/// issue 12 (failure catalog ENR-03): while `service.drs_directory_error` holds, a well-formed
/// join with a good token gets 400 `DirectoryError` and no device; a bad token still gets 401.
#[tokio::test]
async fn an_unsynced_directory_answers_directory_error() {
    let fault = scenarios::ServiceFault::new(scenarios::ServiceEffect::DrsDirectoryError {});
    let state = crate::services::test_support::app_state_with(time::OffsetDateTime::now_utc(), 1.0, vec![], vec![fault]);
    let key = rsa_2048();
    let token = entra_token(&state, "urn:ms-drs:enterpriseregistration.windows.net", json!({}));
    let body = join_body(&csr(&key, CN), &blob(&key), json!(6)).to_string();
    let req = Request::builder().method(Method::POST).uri("/EnrollmentServer/device/?api-version=2.0").header(header::HOST, HOST);
    let res = router(&state).oneshot(req.header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::from(body.clone())).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.extensions().get::<crate::services::faults::Fired>().map(|f| f.0),
        Some(scenarios::ServiceFaultKind::DrsDirectoryError),
        "the front journals the fault"
    );
    let v: Value = serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap()).unwrap();
    assert_eq!(v["ErrorCode"], "DirectoryError");
    assert!(v["Message"].as_str().unwrap().starts_with("The device object by the given id ("), "{v}");
    assert_eq!(state.devices.counts().0, 0);
    let (status, _) = call(&state, Method::POST, "/EnrollmentServer/device/?api-version=2.0", None, Body::from(body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "authentication first");
    let (status, _) = call(&state, Method::GET, "/contoso.com/Discover?api-version=1.9", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK, "only the join is affected");
}

/// issue 12 review: an error's `Time` is the world's simulated now, as the nonce's is; it was the
/// machine's wall clock, so a world dated elsewhere (`[world] now`) showed two dates.
#[tokio::test]
async fn error_time_is_the_simulated_clock() {
    let now = time::macros::datetime!(2031-03-04 17:06:07 UTC);
    let state = crate::services::test_support::app_state_with(now, 1.0, vec![], vec![]);
    let (status, body) = call(&state, Method::GET, "/no-such-tenant.example/Discover?api-version=1.9", None, Body::empty()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let time = body["Time"].as_str().unwrap_or_default();
    assert!(time.starts_with("3/4/2031 5:06:"), "the simulated now, as DRS prints it: {body}");
}
