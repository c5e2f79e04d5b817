//! Requests as real clients send them, for the enrollment services' tests: the docs' and
//! captured shapes (prefixes, namespaces, extra elements vary on purpose), Entra tokens minted
//! with the world's signing key, RSA keys and PKCS#10 requests made with rcgen.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tower::ServiceExt as _;

use crate::keys::RsaKey;
use crate::services::AppState;

pub const FEF: &str = "fef.amsua0101.manage.microsoft.com";
pub const POLICY_PATH: &str = "/StatelessEnrollmentService/EnrollmentPolicy.svc";
pub const ENROLL_PATH: &str = "/StatelessEnrollmentService/DeviceEnrollment.svc?client-request-id=3f1ef0a6-8a5e-4d8e-9d2b-5b8d1e2f6a77";
pub const DEVICE_ID: &str = "7e980ad9-b86d-4306-9425-9ac066fb014a";

/// An Entra access token for the enrollment resource, `exp_in` seconds from the world's now.
pub fn token(state: &AppState, aud: &str, exp_in: i64) -> String {
    let now = state.journal.clock().now().unix_timestamp();
    let claims = serde_json::json!({
        "aud": aud, "iss": format!("https://sts.windows.net/{}/", state.world.tenant_id), "tid": state.world.tenant_id,
        "upn": "adele@contoso.com", "deviceid": DEVICE_ID, "iat": now - 60, "nbf": now - 60, "exp": now + exp_in,
    });
    state.entra.keys.sign(&claims).unwrap()
}

/// A valid enrollment token, base64 as pytune sends it.
pub fn good_token(state: &AppState) -> String {
    STANDARD.encode(token(state, "https://enrollment.manage.microsoft.com/", 3600))
}

/// A PKCS#10 for `cn` with a fresh RSA key of `bits`, base64 DER.
pub fn csr(bits: usize, cn: &str) -> String {
    let key = RsaKey::generate(bits).unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    STANDARD.encode(p.serialize_request(&key).unwrap().der())
}

/// Discover as the docs' sample writes it (namespace with its trailing slash) or as Windows 11
/// sends it (without), with `version` and the `policies` offered.
pub fn discover(version: &str, policies: &[&str], docs_ns: bool) -> String {
    let ns = if docs_ns {
        "http://schemas.microsoft.com/windows/management/2012/01/enrollment/"
    } else {
        "http://schemas.microsoft.com/windows/management/2012/01/enrollment"
    };
    let policies: String = policies.iter().map(|p| format!("<AuthPolicy>{p}</AuthPolicy>")).collect();
    format!(
        r#"<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover</a:Action><a:MessageID>urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478</a:MessageID><a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">https://enrollment.manage.microsoft.com:443/EnrollmentServer/Discovery.svc</a:To></s:Header><s:Body><Discover xmlns="{ns}"><request xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><EmailAddress>adele@contoso.com</EmailAddress><RequestVersion>{version}</RequestVersion><DeviceType>CIMClient_Windows</DeviceType><ApplicationVersion>10.0.22621.3155</ApplicationVersion><OSEdition>101</OSEdition><AuthPolicies>{policies}</AuthPolicies><FutureElement>ignored</FutureElement></request></Discover></s:Body></s:Envelope>"#
    )
}

/// The `wsse:Security` header with a BinarySecurityToken of `value_type`.
fn security(value_type: &str, token: &str) -> String {
    format!(
        r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" s:mustUnderstand="1"><wsse:BinarySecurityToken ValueType="{value_type}" EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary">{token}</wsse:BinarySecurityToken></wsse:Security>"#
    )
}

/// GetPolicies as fleet's test client sends it (with its TPM elements), carrying `token` as a JWT.
pub fn get_policies(token: &str) -> String {
    get_policies_with(&security("urn:ietf:params:oauth:token-type:jwt", token))
}

pub fn get_policies_with(security: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies</a:Action><a:MessageID>urn:uuid:72048B64-0F19-448F-8C2E-B4C661860AA0</a:MessageID><a:To s:mustUnderstand="1">https://{FEF}/StatelessEnrollmentService/EnrollmentPolicy.svc</a:To>{security}</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><GetPolicies xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"><client><lastUpdate xsi:nil="true"/><preferredLanguage xsi:nil="true"/><TPMManufacturer>MSFT</TPMManufacturer></client><requestFilter xsi:nil="true"/></GetPolicies></s:Body></s:Envelope>"#
    )
}

/// RequestSecurityToken as pytune and the docs write it, with `csr` and `enrollment_type`.
pub fn rst(token: &str, csr: &str, enrollment_type: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512" xmlns:ac="http://schemas.xmlsoap.org/ws/2006/12/authorization"><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep</a:Action><a:MessageID>urn:uuid:0d5a1441-5891-453b-becf-a2e5f6ea3749</a:MessageID><a:To s:mustUnderstand="1">https://{FEF}:443/StatelessEnrollmentService/DeviceEnrollment.svc</a:To>{sec}</s:Header><s:Body><wst:RequestSecurityToken><wst:TokenType>http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken</wst:TokenType><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType><wsse:BinarySecurityToken ValueType="http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10" EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary">{csr}</wsse:BinarySecurityToken><ac:AdditionalContext xmlns="http://schemas.xmlsoap.org/ws/2006/12/authorization"><ac:ContextItem Name="UXInitiated"><ac:Value>true</ac:Value></ac:ContextItem><ac:ContextItem Name="MAC"><ac:Value>00-15-5D-00-00-01</ac:Value></ac:ContextItem><ac:ContextItem Name="MAC"><ac:Value>00-15-5D-00-00-02</ac:Value></ac:ContextItem><ac:ContextItem Name="EnrollmentType"><ac:Value>{enrollment_type}</ac:Value></ac:ContextItem><ac:ContextItem Name="DeviceType"><ac:Value>CIMClient_Windows</ac:Value></ac:ContextItem><ac:ContextItem Name="SomethingNew"><ac:Value>x</ac:Value></ac:ContextItem></ac:AdditionalContext></wst:RequestSecurityToken></s:Body></s:Envelope>"#,
        sec = security("urn:ietf:params:oauth:token-type:jwt", token)
    )
}

/// POST `body` to `path` on `host` through `router`.
pub async fn post(router: axum::Router, host: &str, path: &str, body: impl Into<Body>) -> Response {
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/soap+xml; charset=utf-8")
        .body(body.into())
        .unwrap();
    router.oneshot(req).await.unwrap()
}

/// A response's status, content type and body text.
pub async fn read(res: Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let ct = res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}
