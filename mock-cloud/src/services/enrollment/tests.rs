//! Router tests of the enrollment services (issue 14): the happy path discover → policies →
//! enroll as captured clients send it, every refusal with its subcode, and every
//! `enrollment.*` fault at its step, in process (no sockets).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use scenarios::{EnrollStep, EnrollmentEffect, EnrollmentFault, EnrollmentTarget, SimDuration, Window};
use serde::Deserialize;

use super::provisioning::ProvisioningDoc;
use super::soap::Text;
use super::test_support::*;
use crate::services::AppState;
use crate::services::test_support::app_state_full;

#[derive(Debug, Deserialize)]
struct Env {
    #[serde(rename = "Body")]
    body: Body,
}

#[derive(Debug, Deserialize)]
struct Body {
    #[serde(rename = "Fault")]
    fault: Option<Fault>,
    #[serde(rename = "DiscoverResponse")]
    discover: Option<DiscoverResponse>,
    #[serde(rename = "GetPoliciesResponse")]
    policies: Option<GetPoliciesResponse>,
    #[serde(rename = "RequestSecurityTokenResponseCollection")]
    rstrc: Option<Rstrc>,
}

#[derive(Debug, Deserialize)]
struct Fault {
    #[serde(rename = "Code")]
    code: FaultCode,
    #[serde(rename = "Detail")]
    detail: Option<Detail>,
}

#[derive(Debug, Deserialize)]
struct FaultCode {
    #[serde(rename = "Value")]
    value: Text,
    #[serde(rename = "Subcode")]
    subcode: Sub,
}

#[derive(Debug, Deserialize)]
struct Sub {
    #[serde(rename = "Value")]
    value: Text,
}

#[derive(Debug, Deserialize)]
struct Detail {
    #[serde(rename = "DeviceEnrollmentServiceError")]
    error: ServiceError,
}

#[derive(Debug, Deserialize)]
struct ServiceError {
    #[serde(rename = "ErrorType")]
    error_type: Text,
}

#[derive(Debug, Deserialize)]
struct DiscoverResponse {
    #[serde(rename = "DiscoverResult")]
    result: DiscoverResult,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct DiscoverResult {
    AuthPolicy: Text,
    EnrollmentVersion: Text,
    EnrollmentPolicyServiceUrl: Text,
    EnrollmentServiceUrl: Text,
    AuthenticationServiceUrl: Option<Text>,
}

#[derive(Debug, Deserialize)]
struct GetPoliciesResponse {
    response: PolicyResponse,
}

#[derive(Debug, Deserialize)]
struct PolicyResponse {
    policies: Policies,
}

#[derive(Debug, Deserialize)]
struct Policies {
    policy: Policy,
}

#[derive(Debug, Deserialize)]
struct Policy {
    attributes: Attributes,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct Attributes {
    policySchema: Text,
    privateKeyAttributes: KeyAttributes,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct KeyAttributes {
    minimalKeyLength: Text,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct Rstrc {
    RequestSecurityTokenResponse: Rstr,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct Rstr {
    RequestedSecurityToken: Requested,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
struct Requested {
    BinarySecurityToken: Text,
}

fn parse(xml: &str) -> Body {
    quick_xml::de::from_str::<Env>(xml).unwrap_or_else(|e| panic!("{e}: {xml}")).body
}

/// (subcode, ErrorType) of a fault answer.
fn fault_of(xml: &str) -> (String, Option<String>) {
    let f = parse(xml).fault.unwrap_or_else(|| panic!("no fault: {xml}"));
    assert_eq!(f.code.value.trimmed(), "s:Receiver");
    (f.code.subcode.value.value.clone(), f.detail.map(|d| d.error.error_type.value))
}

fn state_with(faults: Vec<EnrollmentFault>) -> AppState {
    app_state_full(time::OffsetDateTime::now_utc(), 1.0, vec![], vec![], faults)
}

fn fault(effect: EnrollmentEffect, step: Option<EnrollStep>) -> EnrollmentFault {
    EnrollmentFault { target: EnrollmentTarget { step, ..Default::default() }, window: Window::default(), effect }
}

async fn discover_with(state: &AppState, host: &str, body: String) -> (u16, String, String) {
    read(post(super::discovery::router(state), host, "/EnrollmentServer/Discovery.svc", body).await).await
}

async fn policies_with(state: &AppState, body: String) -> (u16, String, String) {
    read(post(super::router(state), FEF, POLICY_PATH, body).await).await
}

async fn enroll_with(state: &AppState, body: String) -> (u16, String, String) {
    read(post(super::router(state), FEF, ENROLL_PATH, body).await).await
}

fn journaled(state: &AppState, what: &str) -> Vec<scenarios::Event> {
    state.journal.snapshot().into_iter().filter(|e| e.what == what).collect()
}

#[tokio::test]
async fn discovery_answers_every_client_shape_on_both_routes() {
    let state = state_with(vec![]);
    for (host, version, docs_ns) in [
        ("enterpriseenrollment-s.manage.microsoft.com", "3.0", true),
        ("enrollment.manage.microsoft.com", "5.0", false),
        ("enrollment.manage.microsoft.com", "6.0", false),
    ] {
        let (status, ct, xml) = discover_with(&state, host, discover(version, &["OnPremise", "Federated"], docs_ns)).await;
        assert_eq!((status, ct.as_str()), (200, "application/soap+xml; charset=utf-8"), "{xml}");
        let r = parse(&xml).discover.unwrap().result;
        assert_eq!(r.AuthPolicy.trimmed(), "Federated");
        assert_eq!(r.EnrollmentVersion.trimmed(), if version == "3.0" { "3.0" } else { "5.0" });
        let enroll_url = r.EnrollmentServiceUrl.trimmed();
        assert!(
            enroll_url.starts_with("https://fef.amsua0101.manage.microsoft.com:443/StatelessEnrollmentService/DeviceEnrollment.svc?client-request-id="),
            "{enroll_url}"
        );
        assert!(r.EnrollmentPolicyServiceUrl.trimmed().starts_with("https://fef.amsua0101.manage.microsoft.com/"));
        assert!(r.AuthenticationServiceUrl.is_some());
        assert!(xml.contains("urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478"), "RelatesTo the request: {xml}");
    }
    let routes: Vec<String> = journaled(&state, "discover").iter().map(|e| e.detail["route"].as_str().unwrap().to_string()).collect();
    assert_eq!(routes, ["email", "entra", "entra"]);
    // OnPremise alone is served too; Certificate alone is not the tenant's.
    let (_, _, xml) = discover_with(&state, "enrollment.manage.microsoft.com", discover("5.0", &["OnPremise"], false)).await;
    let r = parse(&xml).discover.unwrap().result;
    assert_eq!(r.AuthPolicy.trimmed(), "OnPremise");
    assert!(r.AuthenticationServiceUrl.is_none());
    let (status, _, xml) = discover_with(&state, "enrollment.manage.microsoft.com", discover("5.0", &["Certificate"], false)).await;
    assert_eq!(status, 500);
    assert_eq!(fault_of(&xml), ("s:Authorization".into(), Some("NotSupported".into())));
    let (_, _, xml) = discover_with(&state, "enrollment.manage.microsoft.com", discover("five", &["Federated"], false)).await;
    assert_eq!(fault_of(&xml).0, "s:MessageFormat");
}

#[tokio::test]
async fn policies_take_the_token_in_every_encoding_and_refuse_bad_ones() {
    let state = state_with(vec![]);
    let raw = token(&state, "https://enrollment.manage.microsoft.com/", 3600);
    for t in [raw.clone(), STANDARD.encode(&raw), URL_SAFE_NO_PAD.encode(&raw)] {
        let (status, _, xml) = policies_with(&state, get_policies(&t)).await;
        assert_eq!(status, 200, "{xml}");
        let p = parse(&xml).policies.unwrap().response.policies.policy.attributes;
        assert_eq!((p.policySchema.trimmed(), p.privateKeyAttributes.minimalKeyLength.trimmed()), ("3", "2048"));
    }
    let expired = STANDARD.encode(token(&state, "https://enrollment.manage.microsoft.com/", -3600));
    let wrong_aud = STANDARD.encode(token(&state, "https://graph.microsoft.com/", 3600));
    let good = STANDARD.encode(&raw);
    for (body, subcode) in [
        (get_policies(&expired), "s:Authentication"),
        (get_policies(&wrong_aud), "s:Authentication"),
        (get_policies(&good[..good.len() - 11]), "a:InvalidSecurity"),
        (get_policies(&raw[..raw.len() - 10]), "a:InvalidSecurity"),
        (get_policies_with(""), "a:InvalidSecurity"),
    ] {
        let (status, _, xml) = policies_with(&state, body).await;
        assert_eq!((status, fault_of(&xml).0.as_str()), (500, subcode), "{xml}");
    }
    assert_eq!(journaled(&state, "soap_fault").len(), 5);
}

#[tokio::test]
async fn enrollment_issues_a_chained_certificate_and_a_provisioning_document() {
    let state = state_with(vec![]);
    let (status, _, xml) = enroll_with(&state, rst(&good_token(&state), &csr(2048, DEVICE_ID), "Device")).await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("<o:Security") && xml.contains("<u:Timestamp u:Id=\"_0\">"), "{xml}");
    let b64 = parse(&xml).rstrc.unwrap().RequestSecurityTokenResponse.RequestedSecurityToken.BinarySecurityToken.value;
    let doc = ProvisioningDoc::parse(std::str::from_utf8(&STANDARD.decode(b64.trim()).unwrap()).unwrap()).unwrap();
    let my = doc.find(&["CertificateStore", "My", "System"]).unwrap();
    let cert_node = my.children.iter().find(|c| c.kind != "PrivateKeyContainer").unwrap();
    assert!(my.children.iter().any(|c| c.kind == "PrivateKeyContainer"));
    let der = STANDARD.decode(cert_node.parm("EncodedCertificate").unwrap()).unwrap();
    assert_eq!(cert_node.kind, super::enroll::sha1_hex(&der), "the node is named by the thumbprint");
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    assert_eq!(cert.issuer().iter_common_name().next().unwrap().as_str().unwrap(), "Microsoft Intune MDM Device CA");
    assert_eq!(cert.subject().iter_common_name().next().unwrap().as_str().unwrap(), DEVICE_ID);
    let ca = state.revocation.pki.cas().iter().find(|c| c.spec.id == "intune-mdm-device-ca").unwrap();
    let (_, ca_cert) = x509_parser::parse_x509_certificate(&ca.der).unwrap();
    cert.verify_signature(Some(ca_cert.public_key())).unwrap();
    let root = doc.find(&["CertificateStore", "Root", "System"]).unwrap();
    let root_der = STANDARD.decode(root.children[0].parm("EncodedCertificate").unwrap()).unwrap();
    let (_, root_cert) = x509_parser::parse_x509_certificate(&root_der).unwrap();
    ca_cert.verify_signature(Some(root_cert.public_key())).unwrap();
    let app = doc.find(&["APPLICATION"]).unwrap();
    assert_eq!(app.parm("APPID"), Some("w7"));
    assert_eq!(app.parm("ADDR"), Some("https://r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx"));
    let provider = app.parm("PROVIDER-ID").unwrap();
    let poll = doc.find(&["DMClient", "Provider", provider, "Poll"]).unwrap();
    assert_eq!(poll.parm("IntervalForRemainingScheduledRetries"), Some("480"));
    assert_eq!(journaled(&state, "enroll").len(), 1);
    assert_eq!(state.enrollment.enrolled.lock().unwrap().len(), 1);
    // openssl, a real peer: the client certificate (a GUID CN, no DNS SAN) chains to the world's
    // bundle through the document's CA, name constraints and client-auth purpose included.
    let ca_node = doc.find(&["CertificateStore", "CA", "System"]).unwrap();
    let ca_der = STANDARD.decode(ca_node.children[0].parm("EncodedCertificate").unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = |der: &[u8]| format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", STANDARD.encode(der));
    std::fs::write(dir.path().join("bundle.pem"), state.revocation.pki.bundle_pem()).unwrap();
    std::fs::write(dir.path().join("ca.pem"), pem(&ca_der)).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), pem(&der)).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile", "bundle.pem", "-untrusted", "ca.pem", "leaf.pem"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn bad_requests_get_the_subcode_that_names_them() {
    let state = state_with(vec![]);
    let token = good_token(&state);
    let mut forged = STANDARD.decode(csr(2048, DEVICE_ID)).unwrap();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    for (body, want) in [
        (rst(&token, &csr(1024, DEVICE_ID), "Device"), ("s:CertificateRequest", "1024 bits")),
        (rst(&token, &STANDARD.encode(&forged), "Device"), ("a:InvalidSecurity", "signature")),
        (rst(&token, "not*base64", "Device"), ("s:MessageFormat", "base64")),
        (rst(&token, &STANDARD.encode(b"not der"), "Device"), ("s:MessageFormat", "PKCS#10")),
        (rst(&token, &csr(2048, "another-device"), "Device"), ("s:CertificateRequest", "device id")),
        ("<s:Envelope><s:Body>".into(), ("s:MessageFormat", "well-formed")),
    ] {
        let (status, _, xml) = enroll_with(&state, body).await;
        assert_eq!((status, fault_of(&xml).0.as_str()), (500, want.0), "{xml}");
        assert!(xml.contains(want.1), "{}: {xml}", want.1);
    }
    // A user enrollment (Full) takes any subject.
    let (status, _, xml) = enroll_with(&state, rst(&token, &csr(2048, "adele@contoso.com"), "Full")).await;
    assert_eq!(status, 200, "{xml}");
}

/// Issue 14: a billion-laughs entity is refused before parsing (SOAP forbids a DTD), and
/// quick-xml itself would not expand one: an undeclared-entity reference is an error, not text.
#[tokio::test]
async fn a_dtd_is_refused_and_never_expanded() {
    let state = state_with(vec![]);
    let mut dtd = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&lol{};", if i == 1 { String::new() } else { (i - 1).to_string() }).repeat(10)));
    }
    dtd.push_str("]>");
    let bomb = format!("{dtd}{}", discover("5.0", &["Federated"], false).replace("adele@contoso.com", "&lol9;"));
    let started = std::time::Instant::now();
    let (status, _, xml) = discover_with(&state, "enrollment.manage.microsoft.com", bomb.clone()).await;
    assert_eq!((status, fault_of(&xml).0.as_str()), (500, "s:MessageFormat"));
    assert!(xml.contains("document type declaration"), "{xml}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    // Without the DTD check, quick-xml alone refuses the reference instead of expanding it.
    let body = bomb.split_once("]>").unwrap().1;
    assert!(quick_xml::de::from_str::<super::soap::Envelope>(body).is_err());
    let e = journaled(&state, "soap_fault");
    assert_eq!(e[0].detail["subcode"], "s:MessageFormat");
}

#[tokio::test]
async fn an_oversized_body_is_refused_unread() {
    let state = state_with(vec![]);
    let big = format!("<s:Envelope>{}</s:Envelope>", "x".repeat(10 * 1024 * 1024));
    let (status, _, xml) = discover_with(&state, "enrollment.manage.microsoft.com", big.clone()).await;
    assert_eq!((status, fault_of(&xml).0.as_str()), (500, "s:MessageFormat"));
    assert!(xml.contains("over"), "{xml}");
    // Without a Content-Length (a stream), the cap holds as well.
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = big.into_bytes().chunks(65536).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
    let (status, _, xml) = read(post(super::router(&state), FEF, ENROLL_PATH, body).await).await;
    assert_eq!((status, fault_of(&xml).0.as_str()), (500, "s:MessageFormat"));
}

#[tokio::test]
async fn each_soap_fault_kind_answers_at_its_step_with_its_status() {
    use EnrollmentEffect as E;
    for (effect, subcode, error_type) in [
        (E::DeviceCapReached { status: 500 }, "s:Authorization", Some("DeviceCapReached")),
        (E::DeviceNotSupported { status: 200 }, "s:Authorization", Some("DeviceNotSupported")),
        (E::NotSupported { status: 500 }, "s:Authorization", Some("NotSupported")),
        (E::UserLicense { status: 500 }, "s:Authorization", Some("UserLicense")),
        (E::InMaintenance { status: 500 }, "s:EnrollmentServer", Some("InMaintenance")),
        (E::Authentication { status: 500 }, "s:Authentication", None),
        (E::CertificateRequest { status: 500 }, "s:CertificateRequest", None),
        (E::InvalidSecurity { status: 200 }, "a:InvalidSecurity", None),
        (E::MessageFormat { status: 500 }, "s:MessageFormat", None),
        (E::InternalServiceFault { status: 500 }, "a:InternalServiceFault", None),
    ] {
        let status = effect.soap_status().unwrap();
        let state = state_with(vec![fault(effect.clone(), Some(EnrollStep::Enroll))]);
        // Discovery and policies go through; the enrollment step gets the fault.
        assert_eq!(discover_with(&state, "enrollment.manage.microsoft.com", discover("5.0", &["Federated"], false)).await.0, 200);
        assert_eq!(policies_with(&state, get_policies(&good_token(&state))).await.0, 200);
        let (got, ct, xml) = enroll_with(&state, rst(&good_token(&state), &csr(2048, DEVICE_ID), "Device")).await;
        assert_eq!((got, ct.as_str()), (status, "application/soap+xml; charset=utf-8"), "{effect:?}");
        assert_eq!(fault_of(&xml), (subcode.to_string(), error_type.map(String::from)), "{effect:?}");
        assert!(xml.contains("urn:uuid:0d5a1441-5891-453b-becf-a2e5f6ea3749"), "RelatesTo: {xml}");
        let e = journaled(&state, "soap_fault");
        assert_eq!(e.len(), 1, "{effect:?}");
        assert!(e[0].fault.as_deref().unwrap().starts_with("enrollment."));
        assert!(journaled(&state, "enroll").is_empty(), "the handler never ran");
    }
    // Without a step the fault hits its own: DeviceNotSupported is reported at enrollment.
    let state = state_with(vec![fault(EnrollmentEffect::DeviceNotSupported { status: 500 }, None)]);
    assert_eq!(policies_with(&state, get_policies(&good_token(&state))).await.0, 200);
    let (_, _, xml) = enroll_with(&state, rst(&good_token(&state), &csr(2048, DEVICE_ID), "Device")).await;
    assert!(xml.contains("Device Identifier not preregistered"), "{xml}");
}

#[tokio::test]
async fn transport_faults_reshape_a_correct_answer() {
    let state = state_with(vec![fault(EnrollmentEffect::WrongContentType { content_type: "text/html; charset=utf-8".into() }, Some(EnrollStep::Discover))]);
    let (status, ct, xml) = discover_with(&state, "enrollment.manage.microsoft.com", discover("5.0", &["Federated"], false)).await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(parse(&xml).discover.is_some());

    let state = state_with(vec![fault(EnrollmentEffect::Chunked {}, Some(EnrollStep::Policies))]);
    let res = post(super::router(&state), FEF, POLICY_PATH, get_policies(&good_token(&state))).await;
    assert!(res.headers().get(axum::http::header::CONTENT_LENGTH).is_none(), "no length: the front chunks it");
    assert!(http_body::Body::size_hint(res.body()).exact().is_none());
    let (_, _, xml) = read(res).await;
    assert!(parse(&xml).policies.is_some());

    let state = state_with(vec![fault(EnrollmentEffect::Truncated { fraction: 0.5 }, Some(EnrollStep::Enroll))]);
    let res = post(super::router(&state), FEF, ENROLL_PATH, rst(&good_token(&state), &csr(2048, DEVICE_ID), "Device")).await;
    let announced: usize = res.headers()[axum::http::header::CONTENT_LENGTH].to_str().unwrap().parse().unwrap();
    assert!(axum::body::to_bytes(res.into_body(), 1 << 20).await.is_err(), "the body stops short of {announced} bytes");
    assert_eq!(journaled(&state, "enroll").iter().filter(|e| e.fault.as_deref() == Some("enrollment.truncated")).count(), 1);
}

#[tokio::test]
async fn parameter_faults_act_through_the_real_checks() {
    let state = state_with(vec![fault(EnrollmentEffect::MinKeyLength { bits: 4096 }, None)]);
    // Issue 14: the policy announces it (it announced 2048 while the check demanded 4096), and
    // the enrollment holds the request to it.
    let (_, _, xml) = policies_with(&state, get_policies(&good_token(&state))).await;
    assert_eq!(parse(&xml).policies.unwrap().response.policies.policy.attributes.privateKeyAttributes.minimalKeyLength.trimmed(), "4096");
    let (_, _, xml) = enroll_with(&state, rst(&good_token(&state), &csr(2048, DEVICE_ID), "Device")).await;
    assert_eq!(fault_of(&xml).0, "s:CertificateRequest");
    assert!(xml.contains("minimal key length is 4096"), "{xml}");

    let state = state_with(vec![fault(EnrollmentEffect::TokenAge { age: SimDuration::from_secs(2 * 3600) }, None)]);
    let (_, _, xml) = policies_with(&state, get_policies(&good_token(&state))).await;
    assert_eq!(fault_of(&xml).0, "s:Authentication");
    assert!(xml.contains("expired"), "{xml}");
    // The fault's window: before its `after` the token is fresh.
    let mut f = fault(EnrollmentEffect::TokenAge { age: SimDuration::from_secs(7200) }, None);
    f.window.after = SimDuration::from_secs(3600);
    let state = state_with(vec![f]);
    assert_eq!(policies_with(&state, get_policies(&good_token(&state))).await.0, 200);
}

/// The federated sign-in page: the form, a wrong password, then `wresult` posted to `appru`,
/// which the policy service takes as the federated BinarySecurityToken.
#[tokio::test]
async fn the_federated_page_signs_in_and_its_wresult_is_accepted() {
    use axum::http::{Method, header};
    use tower::ServiceExt as _;
    let state = state_with(vec![]);
    let user = state.entra.directory.users[0].clone();
    let page = |method: Method, uri: String, body: String| {
        let router = super::router(&state);
        async move {
            let req = axum::extract::Request::builder()
                .method(method)
                .uri(uri)
                .header(header::HOST, FEF)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(body))
                .unwrap();
            read(router.oneshot(req).await.unwrap()).await
        }
    };
    let path = "/StatelessEnrollmentService/FederatedSignIn";
    let (status, ct, html) =
        page(Method::GET, format!("{path}?appru=ms-app%3A%2F%2Fwindows.immersivecontrolpanel&login_hint={}", user.upn), String::new()).await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(html.contains("name=\"appru\" value=\"ms-app://windows.immersivecontrolpanel\"") && html.contains(&user.upn), "{html}");
    assert_eq!(page(Method::GET, format!("{path}?appru=javascript:alert(1)"), String::new()).await.0, 400);
    let (_, _, html) = page(Method::GET, format!("{path}?appru=https%3A%2F%2Flab.example%2F%22%3E%3Cscript%3E&login_hint=x"), String::new()).await;
    assert!(!html.contains("\"><script>") && html.contains("&quot;&gt;&lt;script&gt;"), "escaped: {html}");
    let form = |pw: &str| format!("appru=ms-app%3A%2F%2Fwindows.immersivecontrolpanel&login={}&password={}", user.upn.replace('@', "%40"), pw);
    let (_, _, html) = page(Method::POST, path.into(), form("wrong")).await;
    assert!(html.contains("Your account or password is incorrect."), "{html}");
    let encoded: String = user.password.bytes().map(|b| format!("%{b:02X}")).collect();
    let (status, _, html) = page(Method::POST, path.into(), form(&encoded)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("action=\"ms-app://windows.immersivecontrolpanel\""), "{html}");
    let wresult = html.split("name=\"wresult\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let security = format!(
        r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:BinarySecurityToken ValueType="http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken">{}</wsse:BinarySecurityToken></wsse:Security>"#,
        STANDARD.encode(&wresult)
    );
    let (status, _, xml) = policies_with(&state, get_policies_with(&security)).await;
    assert_eq!(status, 200, "{xml}");
    let e = journaled(&state, "policies");
    assert_eq!((e[0].detail["auth"].as_str(), e[0].detail["upn"].as_str()), (Some("federated"), Some(user.upn.as_str())));
    assert_eq!(journaled(&state, "sign_in").len(), 2);
}

/// On-premises credentials in a UsernameToken; a user without an Intune licence is refused at
/// enrollment with UserLicense.
#[tokio::test]
async fn on_premise_credentials_and_the_licence_check() {
    let state = state_with(vec![]);
    let users = state.entra.directory.users.clone();
    let username = |u: &str, p: &str| {
        format!(
            r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>{u}</wsse:Username><wsse:Password>{p}</wsse:Password></wsse:UsernameToken></wsse:Security>"#
        )
    };
    let ok = &users[0];
    assert_eq!(policies_with(&state, get_policies_with(&username(&ok.upn, &ok.password))).await.0, 200);
    let (_, _, xml) = policies_with(&state, get_policies_with(&username(&ok.upn, "wrong"))).await;
    assert_eq!(fault_of(&xml).0, "s:Authentication");
    let unlicensed = users.iter().find(|u| !u.intune_licence).expect("the data has an unlicensed user");
    let now = state.journal.clock().now().unix_timestamp();
    let claims = serde_json::json!({"aud": "https://enrollment.manage.microsoft.com/", "iss": format!("https://sts.windows.net/{}/", state.world.tenant_id), "upn": unlicensed.upn, "nbf": now, "exp": now + 600});
    let token = STANDARD.encode(state.entra.keys.sign(&claims).unwrap());
    let (_, _, xml) = enroll_with(&state, rst(&token, &csr(2048, "x"), "Full")).await;
    assert_eq!(fault_of(&xml), ("s:Authorization".into(), Some("UserLicense".into())));
}
