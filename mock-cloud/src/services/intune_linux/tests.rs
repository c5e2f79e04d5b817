//! Intune for Linux router tests (issue 12, deliverable 4), in process: Graph's endpoints
//! document leads to this service; enroll (PEM or bare base64 CSR, no attributes), details,
//! policies, status and compliance, as libhimmelblau calls them; bad tokens and bad bodies get
//! JSON errors and journal entries.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::*;
use crate::services::test_support::{app_state, csr, entra_token, rsa_2048};

const ENROLLMENT: &str = "d4ebce55-015a-49b5-a083-c84d1797ae8c";
const INTUNE: &str = "0000000a-0000-0000-c000-000000000000";
const IW: &str = "b8066b99-6e67-41be-abfa-75db1a2c8809";

async fn send(r: axum::Router, host: &str, method: Method, uri: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, host);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    let res = r.oneshot(req.body(body).unwrap()).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("{status}: not JSON: {}", String::from_utf8_lossy(&bytes))))
}

/// The URIs Graph hands out for the world (providerName → uri).
async fn endpoints(state: &AppState) -> std::collections::HashMap<String, String> {
    let token = entra_token(state, "https://graph.microsoft.com", json!({}));
    let uri = format!("/v1.0/servicePrincipals/appId={}/endpoints", crate::services::graph::INTUNE_APP_ID);
    let (status, doc) = send(crate::services::graph::router(state), "graph.microsoft.com", Method::GET, &uri, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc["value"].as_array().unwrap().iter().map(|e| (e["providerName"].as_str().unwrap().to_string(), e["uri"].as_str().unwrap().to_string())).collect()
}

/// Split an endpoint URI into (host, path).
fn split(uri: &str) -> (String, String) {
    let rest = uri.strip_prefix("https://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    (host.to_string(), format!("/{path}"))
}

#[tokio::test]
async fn a_linux_device_enrolls_checks_in_and_reports_compliance() {
    let state = app_state();
    let eps = endpoints(&state).await;
    let (host, enroll_path) = split(&eps["LinuxEnrollmentService"]);
    assert_eq!(host, "fef.msua01.manage.microsoft.com", "the tenant's scale unit");
    let (_, checkin) = split(&eps["LinuxDeviceCheckinService"]);
    let (_, iw) = split(&eps["IWService"]);
    let r = || router(&state);
    let key = rsa_2048();
    let der = csr(&key, "lab-01");
    let pem = format!("-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n", STANDARD.encode(&der));
    let enroll_token = entra_token(&state, ENROLLMENT, json!({ "deviceid": "11111111-2222-4333-8444-555555555555" }));
    let mut ids = vec![];
    for (csr_text, keys_case) in [(pem, "pascal"), (STANDARD.encode(&der), "camel")] {
        let body = if keys_case == "pascal" {
            json!({ "AppVersion": "1.2511.7", "DeviceName": "lab-01", "CertificateSigningRequest": csr_text })
        } else {
            json!({ "appVersion": "1.2511.7", "deviceName": "lab-01", "certificateSigningRequest": csr_text })
        };
        let (status, res) =
            send(r(), &host, Method::POST, &format!("{enroll_path}/enroll?api-version=1.0&client-version=1.2511.7"), Some(&enroll_token), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{keys_case}: {res}");
        let blob: Vec<u8> = res["certificate"]["certBlob"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
        let (_, cert) = x509_parser::parse_x509_certificate(&blob).unwrap();
        assert_eq!(cert.issuer().to_string(), "CN=Microsoft Intune MDM Device CA");
        assert_eq!(cert.public_key().raw, crate::pki::check_csr(&der).unwrap().spki_der.as_slice());
        ids.push(res["deviceId"].as_str().unwrap().to_string());
    }
    let id = &ids[0];
    let token = entra_token(&state, INTUNE, json!({}));
    let details = json!({ "DeviceId": id, "DeviceName": "lab-01", "Manufacturer": "QEMU", "OSDistribution": "Ubuntu", "OSVersion": "24.04" });
    let (status, res) = send(r(), &host, Method::POST, &format!("{checkin}/details?api-version=1.0"), Some(&token), Some(details)).await;
    assert_eq!((status, res["deviceFriendlyName"].as_str()), (StatusCode::OK, Some("lab-01")));
    let (status, res) = send(r(), &host, Method::GET, &format!("{checkin}/policies/{id}?api-version=1.0"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let policies = res["policies"].as_array().unwrap();
    assert!(policies.iter().any(|p| p["policyType"] == "Configuration" && p["policySettings"][3]["settingDefinitionItemId"] == "linux_customconfig_script"));
    let iw_token = entra_token(&state, IW, json!({}));
    let compliance = format!("{iw}/Devices(guid'{id}')?api-version=16.4&ssp=LinuxCP&os=Linux&mgmt-agent=mdm");
    let (_, info) = send(r(), &host, Method::GET, &compliance, Some(&iw_token), None).await;
    assert_eq!(info["ComplianceState"], "Unknown", "no status yet");
    // libhimmelblau's PascalCase status, one rule not compliant.
    let status_body = json!({ "DeviceId": id, "PolicyStatuses": [{ "PolicyId": "3c9e5f0a-2b7d-4e61-8f3a-1d4b6c8e9a20", "LastStatusDateTime": "2026-12-02T08:00:00+00:00",
        "Details": [{ "RuleId": "ece25d4a-6d2f-4c88-9051-06e044fb9740", "SettingDefinitionItemId": "linux_distribution_alloweddistros_item_$type",
            "ExpectedValue": "ubuntu", "ActualValue": "fedora", "NewComplianceState": "NonCompliant", "OldComplianceState": "Unknown" }] }] });
    let (status, echo) = send(r(), &host, Method::POST, &format!("{checkin}/status?api-version=1.0"), Some(&token), Some(status_body)).await;
    assert_eq!((status, echo["PolicyStatuses"][0]["PolicyId"].as_str()), (StatusCode::OK, Some("3c9e5f0a-2b7d-4e61-8f3a-1d4b6c8e9a20")));
    let (_, info) = send(r(), &host, Method::GET, &compliance, Some(&iw_token), None).await;
    assert_eq!(info["ComplianceState"], "Noncompliant");
    assert_eq!(info["NoncompliantRules"][0]["SettingID"], "linux_distribution_alloweddistros_item_$type");
    assert_eq!(info["AadId"], "11111111-2222-4333-8444-555555555555");
    // The spec's camelCase, everything compliant.
    let camel =
        json!({ "deviceId": id, "policyStatuses": [{ "policyId": "p", "details": [{ "settingDefinitionItemId": "x", "newComplianceState": "Compliant" }] }] });
    send(r(), &host, Method::POST, &format!("{checkin}/status?api-version=1.0"), Some(&token), Some(camel)).await;
    let (_, info) = send(r(), &host, Method::GET, &compliance, Some(&iw_token), None).await;
    assert_eq!(info["ComplianceState"], "Compliant");
    // Unknown devices.
    let (status, _) = send(r(), &host, Method::GET, &format!("{checkin}/policies/nope?api-version=1.0"), Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, err) = send(r(), &host, Method::POST, &format!("{checkin}/status?api-version=1.0"), Some(&token), Some(json!({ "DeviceId": "nope" }))).await;
    assert_eq!((status, err["error"]["message"].as_str()), (StatusCode::BAD_REQUEST, Some("Device validation failed")));
}

/// issue 12: libhimmelblau builds its CSR without attributes because "Microsoft rejects CSRs with
/// Requested Extensions attributes"; so does the world.
#[tokio::test]
async fn enroll_refuses_a_csr_with_requested_extensions() {
    let state = app_state();
    let key = rsa_2048();
    let mut p = rcgen::CertificateParams::new(vec!["lab-01.contoso.com".to_string()]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, "lab-01");
    let der = p.serialize_request(&key).unwrap().der().to_vec();
    assert!(crate::pki::check_csr(&der).unwrap().has_attributes, "a SAN makes rcgen write an extensionRequest attribute");
    let token = entra_token(&state, ENROLLMENT, json!({}));
    let path = format!("{}/enroll?api-version=1.0", state.catalog.devices.intune_linux.enrollment_path);
    let body = json!({ "AppVersion": "1", "DeviceName": "lab-01", "CertificateSigningRequest": STANDARD.encode(&der) });
    let (status, err) = send(router(&state), "fef.msua01.manage.microsoft.com", Method::POST, &path, Some(&token), Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(err["error"]["message"].as_str().unwrap().contains("Requested Extensions"), "{err}");
    assert_eq!(state.journal.snapshot().iter().filter(|e| e.what == "bad_request").count(), 1);
    assert_eq!(state.devices.counts().1, 0);
}

#[tokio::test]
async fn bad_tokens_and_bodies_get_json_errors() {
    let state = app_state();
    let host = "fef.msua01.manage.microsoft.com";
    let path = format!("{}/enroll?api-version=1.0", state.catalog.devices.intune_linux.enrollment_path);
    let intune = entra_token(&state, INTUNE, json!({}));
    let (status, _) = send(router(&state), host, Method::POST, &path, Some(&intune), Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "an Intune token is not an Intune Enrollment token");
    let (status, _) = send(router(&state), host, Method::POST, &path, None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(state.journal.snapshot().iter().filter(|e| e.what == "token_refused").count(), 2);
    let token = entra_token(&state, ENROLLMENT, json!({}));
    for (body, says) in [
        (json!({ "AppVersion": "1", "DeviceName": "x" }), "CertificateSigningRequest"),
        (json!({ "AppVersion": "1", "DeviceName": "x", "CertificateSigningRequest": "bm90IGEgY3Ny" }), "PKCS#10"),
    ] {
        let (status, err) = send(router(&state), host, Method::POST, &path, Some(&token), Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(err["error"]["message"].as_str().unwrap().contains(says), "{err}");
    }
    let (status, _) = send(router(&state), host, Method::GET, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = send(router(&state), host, Method::POST, &path.replace("?api-version=1.0", ""), Some(&token), Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(router(&state), host, Method::GET, "/elsewhere", Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// issue 12: random bodies to enroll and status — bytes, or the right members with random
/// values — get a 4xx JSON error, never a panic, never an enrolled device.
#[test]
fn any_enroll_or_status_body_gets_a_json_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let state = app_state();
    let (enroll_token, token) = (entra_token(&state, ENROLLMENT, json!({})), entra_token(&state, INTUNE, json!({})));
    let linux = state.catalog.devices.intune_linux.clone();
    let host = "fef.msua01.manage.microsoft.com";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let strategy = (proptest::collection::vec(any::<u8>(), 0..1024), ".{0,100}", "[A-Za-z0-9+/=\n-]{0,400}");
    TestRunner::new(Config::with_cases(48))
        .run(&strategy, |(bytes, text, csr)| {
            let enroll = format!("{}/enroll?api-version=1.0", linux.enrollment_path);
            let status = format!("{}/status?api-version=1.0", linux.checkin_path);
            let shaped_enroll = json!({ "AppVersion": text, "DeviceName": text, "CertificateSigningRequest": csr }).to_string();
            let shaped_status = json!({ "DeviceId": text, "PolicyStatuses": [{ "Details": [{ "NewComplianceState": text }] }] }).to_string();
            for (path, tok, body) in [
                (&enroll, &enroll_token, bytes.clone()),
                (&enroll, &enroll_token, shaped_enroll.into_bytes()),
                (&status, &token, bytes.clone()),
                (&status, &token, shaped_status.into_bytes()),
            ] {
                let req = Request::builder()
                    .method(Method::POST)
                    .uri(path.as_str())
                    .header(header::HOST, host)
                    .header(header::AUTHORIZATION, format!("Bearer {tok}"));
                let res = rt.block_on(router(&state).oneshot(req.body(Body::from(body)).unwrap())).unwrap();
                let code = res.status();
                let bytes = rt.block_on(axum::body::to_bytes(res.into_body(), 1 << 20)).unwrap();
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                prop_assert!(code.is_client_error(), "{code}: {v}");
                prop_assert!(v["error"]["code"].is_string(), "{v}");
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(state.devices.counts().1, 0);
}
