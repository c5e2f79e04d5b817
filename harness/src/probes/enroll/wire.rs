//! The `enroll` probe's messages, written as the Windows enrollment client writes them
//! (protocols.md §1.1–§4; the docs' samples; fleet's `pkg/mdm/mdmtest/windows.go`) and read as
//! it reads the answers: by local name, any prefix, the fault detail's element names in either
//! case (the docs' sample writes them lower-case, Intune PascalCase, protocols.md §5). The
//! probe's own serde types, not the server's: a shape both got wrong would not pass unnoticed.

use serde::{Deserialize, Serialize};

pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const NS_ADDRESSING: &str = "http://www.w3.org/2005/08/addressing";
pub const NS_WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const NS_WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
pub const NS_AC: &str = "http://schemas.xmlsoap.org/ws/2006/12/authorization";
pub const NS_DISCOVERY: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment";
pub const NS_POLICY: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const ACTION_DISCOVER: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover";
pub const ACTION_GET_POLICIES: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies";
pub const ACTION_RST: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep";
pub const VT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const VT_PKCS10: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10";
pub const ENCODING_BASE64: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary";
pub const TOKEN_TYPE: &str = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken";
pub const REQUEST_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";

// --- requests -----------------------------------------------------------------------------------

#[derive(Serialize)]
struct Mu<'a> {
    #[serde(rename = "@s:mustUnderstand")]
    mu: &'static str,
    #[serde(rename = "$text")]
    value: &'a str,
}

#[derive(Serialize)]
struct ReplyTo {
    #[serde(rename = "a:Address")]
    address: &'static str,
}

#[derive(Serialize)]
struct Header<'a> {
    #[serde(rename = "a:Action")]
    action: Mu<'a>,
    #[serde(rename = "a:MessageID")]
    message_id: String,
    #[serde(rename = "a:ReplyTo")]
    reply_to: ReplyTo,
    #[serde(rename = "a:To")]
    to: Mu<'a>,
    #[serde(rename = "wsse:Security", skip_serializing_if = "Option::is_none")]
    security: Option<Security<'a>>,
}

#[derive(Serialize)]
struct Security<'a> {
    #[serde(rename = "@s:mustUnderstand")]
    mu: &'static str,
    #[serde(rename = "wsse:BinarySecurityToken")]
    token: Bst<'a>,
}

#[derive(Serialize)]
struct Bst<'a> {
    #[serde(rename = "@ValueType")]
    value_type: &'static str,
    #[serde(rename = "@EncodingType")]
    encoding: &'static str,
    #[serde(rename = "$text")]
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename = "s:Envelope")]
struct Envelope<'a, B: Serialize> {
    #[serde(rename = "@xmlns:s")]
    s: &'static str,
    #[serde(rename = "@xmlns:a")]
    a: &'static str,
    #[serde(rename = "@xmlns:wsse")]
    wsse: &'static str,
    #[serde(rename = "@xmlns:wst")]
    wst: &'static str,
    #[serde(rename = "@xmlns:ac")]
    ac: &'static str,
    #[serde(rename = "s:Header")]
    header: Header<'a>,
    #[serde(rename = "s:Body")]
    body: B,
}

fn envelope<B: Serialize>(action: &str, to: &str, message_id: &str, token_b64: Option<&str>, body: B) -> Result<String, String> {
    let security = token_b64.map(|value| Security { mu: "1", token: Bst { value_type: VT_JWT, encoding: ENCODING_BASE64, value } });
    let env = Envelope {
        s: NS_SOAP,
        a: NS_ADDRESSING,
        wsse: NS_WSSE,
        wst: NS_WST,
        ac: NS_AC,
        header: Header {
            action: Mu { mu: "1", value: action },
            message_id: format!("urn:uuid:{message_id}"),
            reply_to: ReplyTo { address: "http://www.w3.org/2005/08/addressing/anonymous" },
            to: Mu { mu: "1", value: to },
            security,
        },
        body,
    };
    quick_xml::se::to_string(&env).map_err(|e| e.to_string())
}

#[derive(Serialize)]
struct DiscoverBody<'a> {
    #[serde(rename = "Discover")]
    discover: DiscoverXml<'a>,
}

#[derive(Serialize)]
struct DiscoverXml<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    request: DiscoverRequest<'a>,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct DiscoverRequest<'a> {
    EmailAddress: &'a str,
    RequestVersion: &'static str,
    DeviceType: &'static str,
    ApplicationVersion: &'static str,
    OSEdition: &'static str,
    AuthPolicies: AuthPolicies,
}

#[derive(Serialize)]
#[allow(non_snake_case)]
struct AuthPolicies {
    AuthPolicy: Vec<&'static str>,
}

/// Discover as Windows 11 22H2 sends it (RequestVersion 6.0, OnPremise + Federated; Mattrax's capture).
pub fn discover(to: &str, email: &str, message_id: &str) -> Result<String, String> {
    let request = DiscoverRequest {
        EmailAddress: email,
        RequestVersion: "6.0",
        DeviceType: "CIMClient_Windows",
        ApplicationVersion: "10.0.22621.3155",
        OSEdition: "101",
        AuthPolicies: AuthPolicies { AuthPolicy: vec!["OnPremise", "Federated"] },
    };
    envelope(ACTION_DISCOVER, to, message_id, None, DiscoverBody { discover: DiscoverXml { xmlns: NS_DISCOVERY, request } })
}

#[derive(Serialize)]
struct Nil {
    #[serde(rename = "@xsi:nil")]
    nil: &'static str,
}

#[derive(Serialize)]
struct PoliciesBody {
    #[serde(rename = "@xmlns:xsi")]
    xsi: &'static str,
    #[serde(rename = "GetPolicies")]
    get: GetPolicies,
}

#[derive(Serialize)]
struct GetPolicies {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    client: Client,
    #[serde(rename = "requestFilter")]
    filter: Nil,
}

#[derive(Serialize)]
struct Client {
    #[serde(rename = "lastUpdate")]
    last_update: Nil,
    #[serde(rename = "preferredLanguage")]
    language: Nil,
}

/// GetPolicies with the MDE2-mandated nils (protocols.md §3).
pub fn get_policies(to: &str, message_id: &str, token_b64: &str) -> Result<String, String> {
    let nil = || Nil { nil: "true" };
    let body = PoliciesBody { xsi: NS_XSI, get: GetPolicies { xmlns: NS_POLICY, client: Client { last_update: nil(), language: nil() }, filter: nil() } };
    envelope(ACTION_GET_POLICIES, to, message_id, Some(token_b64), body)
}

#[derive(Serialize)]
struct RstBody<'a> {
    #[serde(rename = "wst:RequestSecurityToken")]
    rst: Rst<'a>,
}

#[derive(Serialize)]
struct Rst<'a> {
    #[serde(rename = "wst:TokenType")]
    token_type: &'static str,
    #[serde(rename = "wst:RequestType")]
    request_type: &'static str,
    #[serde(rename = "wsse:BinarySecurityToken")]
    csr: Bst<'a>,
    #[serde(rename = "ac:AdditionalContext")]
    context: Context<'a>,
}

#[derive(Serialize)]
struct Context<'a> {
    #[serde(rename = "ac:ContextItem")]
    items: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Item<'a> {
    #[serde(rename = "@Name")]
    name: &'static str,
    #[serde(rename = "ac:Value")]
    value: &'a str,
}

/// RequestSecurityToken with the PKCS#10 and the context items Windows sends.
pub fn rst(to: &str, message_id: &str, token_b64: &str, csr_b64: &str, context: &[(&'static str, &str)]) -> Result<String, String> {
    let items = context.iter().map(|(name, value)| Item { name, value }).collect();
    let body = RstBody {
        rst: Rst {
            token_type: TOKEN_TYPE,
            request_type: REQUEST_ISSUE,
            csr: Bst { value_type: VT_PKCS10, encoding: ENCODING_BASE64, value: csr_b64 },
            context: Context { items },
        },
    };
    envelope(ACTION_RST, to, message_id, Some(token_b64), body)
}

// --- answers ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Text {
    #[serde(rename = "$text", default)]
    pub value: String,
}

impl Text {
    pub fn get(&self) -> &str {
        self.value.trim()
    }
}

#[derive(Debug, Deserialize)]
pub struct Answer {
    #[serde(rename = "Body")]
    pub body: AnswerBody,
}

#[derive(Debug, Deserialize)]
pub struct AnswerBody {
    #[serde(rename = "Fault")]
    pub fault: Option<Fault>,
    #[serde(rename = "DiscoverResponse")]
    pub discover: Option<DiscoverResponse>,
    #[serde(rename = "GetPoliciesResponse")]
    pub policies: Option<PoliciesResponse>,
    #[serde(rename = "RequestSecurityTokenResponseCollection")]
    pub rstrc: Option<Rstrc>,
}

#[derive(Debug, Deserialize)]
pub struct Fault {
    #[serde(rename = "Code")]
    pub code: Code,
    #[serde(rename = "Reason", default)]
    pub reason: Reason,
    #[serde(rename = "Detail")]
    pub detail: Option<Detail>,
}

#[derive(Debug, Deserialize)]
pub struct Code {
    #[serde(rename = "Subcode")]
    pub subcode: Option<Subcode>,
}

#[derive(Debug, Deserialize)]
pub struct Subcode {
    #[serde(rename = "Value")]
    pub value: Text,
}

#[derive(Debug, Default, Deserialize)]
pub struct Reason {
    #[serde(rename = "Text", default)]
    pub text: Text,
}

#[derive(Debug, Deserialize)]
pub struct Detail {
    #[serde(rename = "DeviceEnrollmentServiceError", alias = "deviceenrollmentserviceerror")]
    pub error: Option<ServiceError>,
}

#[derive(Debug, Deserialize)]
pub struct ServiceError {
    #[serde(rename = "ErrorType", alias = "errortype")]
    pub error_type: Option<Text>,
}

impl Fault {
    /// The subcode's local name (`s:MessageFormat` → `MessageFormat`).
    pub fn subcode(&self) -> &str {
        let v = self.code.subcode.as_ref().map_or("", |s| s.value.get());
        v.rsplit(':').next().unwrap_or(v)
    }

    pub fn error_type(&self) -> Option<&str> {
        self.detail.as_ref()?.error.as_ref()?.error_type.as_ref().map(Text::get)
    }
}

#[derive(Debug, Deserialize)]
pub struct DiscoverResponse {
    #[serde(rename = "DiscoverResult")]
    pub result: DiscoverResult,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
pub struct DiscoverResult {
    pub AuthPolicy: Text,
    pub EnrollmentPolicyServiceUrl: Option<Text>,
    pub EnrollmentServiceUrl: Text,
}

#[derive(Debug, Deserialize)]
pub struct PoliciesResponse {
    pub response: PolicyResponse,
}

#[derive(Debug, Deserialize)]
pub struct PolicyResponse {
    pub policies: PolicyList,
}

#[derive(Debug, Deserialize)]
pub struct PolicyList {
    pub policy: PolicyXml,
}

#[derive(Debug, Deserialize)]
pub struct PolicyXml {
    pub attributes: PolicyAttributes,
}

#[derive(Debug, Deserialize)]
pub struct PolicyAttributes {
    #[serde(rename = "privateKeyAttributes")]
    pub key: KeyAttributes,
}

#[derive(Debug, Deserialize)]
pub struct KeyAttributes {
    #[serde(rename = "minimalKeyLength")]
    pub minimal_key_length: Text,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
pub struct Rstrc {
    pub RequestSecurityTokenResponse: Rstr,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
pub struct Rstr {
    pub RequestedSecurityToken: Requested,
}

#[derive(Debug, Deserialize)]
#[allow(non_snake_case)]
pub struct Requested {
    pub BinarySecurityToken: Text,
}

/// Read an answer (any SOAP 1.2 envelope) as the client does.
pub fn answer(xml: &str) -> Result<AnswerBody, String> {
    quick_xml::de::from_str::<Answer>(xml).map(|a| a.body).map_err(|e| e.to_string())
}
