//! SOAP 1.2 envelopes of MS-MDE2, MS-XCEP and MS-WSTEP (protocols.md §1.1): the request the
//! services read and the envelope every answer goes out in, both through quick-xml's serde.
//!
//! Reading is tolerant as real clients require: elements are matched by local name (any prefix,
//! either spelling of a namespace — the docs' sample writes the discovery namespace with a
//! trailing slash, real clients without), unknown elements and attributes are skipped, every
//! field is optional and the handlers say what they miss. Reading is also strict where the
//! spec is: a body over [`MAX_BODY`] is refused unread, and a document type declaration is
//! refused before any parsing (SOAP 1.2 Part 1 §5: "The XML infoset of a SOAP message MUST NOT
//! contain a document type declaration information item"), so no entity is ever expanded —
//! quick-xml does not expand DTD entities anyway; the billion-laughs test proves both.

use serde::{Deserialize, Serialize};

/// SOAP 1.2 (`s`).
pub const NS_SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WS-Addressing (`a`).
pub const NS_ADDRESSING: &str = "http://www.w3.org/2005/08/addressing";
/// WS-Security utility (`u`).
pub const NS_WSU: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// WS-Security extension (`wsse` / `o`).
pub const NS_WSSE: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Trust 1.3.
pub const NS_WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// The MS-MDE2 discovery body.
pub const NS_DISCOVERY: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment";
/// The MS-XCEP policy body.
pub const NS_POLICY: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy";
/// The MS-WSTEP extensions (and the fault detail's `DeviceEnrollmentServiceError`).
pub const NS_ENROLL: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment";
/// WCF diagnostics (`ActivityId`).
pub const NS_DIAGNOSTICS: &str = "http://schemas.microsoft.com/2004/09/ServiceModel/Diagnostics";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

pub const ACTION_DISCOVER: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/Discover";
pub const ACTION_DISCOVER_RESPONSE: &str = "http://schemas.microsoft.com/windows/management/2012/01/enrollment/IDiscoveryService/DiscoverResponse";
pub const ACTION_GET_POLICIES: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPolicies";
pub const ACTION_GET_POLICIES_RESPONSE: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy/IPolicy/GetPoliciesResponse";
pub const ACTION_RST: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RST/wstep";
pub const ACTION_RSTRC: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep";

/// BinarySecurityToken value types (MS-MDE2 §3.3.4.1.1.1.x; fleet's `BinarySecurityAzureEnroll`).
pub const VT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const VT_FEDERATED: &str = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentUserToken";
pub const VT_PKCS10: &str = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment#PKCS10";
pub const VT_PROVISION_DOC: &str = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentProvisionDoc";
pub const ENCODING_BASE64: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd#base64binary";
pub const TOKEN_TYPE_DEVICE: &str = "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken";

/// The media type of every request and answer (SOAP 1.2 HTTP binding).
pub const CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";

/// The largest request body read: a real RequestSecurityToken is about 8 KB (a Burp capture of
/// Intune's shows Content-Length 8306); 256 KiB leaves room for any CSR and context.
pub const MAX_BODY: usize = 256 * 1024;

/// Why a request is no SOAP message the services can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    #[error("the request body is over {MAX_BODY} bytes")]
    TooLarge,
    #[error("the request body is not UTF-8")]
    NotUtf8,
    #[error("the message carries a document type declaration, which SOAP 1.2 forbids")]
    Dtd,
    #[error("the message is not well-formed SOAP: {0}")]
    Xml(String),
}

/// Parse a SOAP request (at most [`MAX_BODY`] bytes, no DTD).
pub fn parse(bytes: &[u8]) -> Result<Envelope, SoapError> {
    if bytes.len() > MAX_BODY {
        return Err(SoapError::TooLarge);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| SoapError::NotUtf8)?;
    refuse_dtd(text)?;
    let env: Envelope = quick_xml::de::from_str(text).map_err(|e| SoapError::Xml(short(&e.to_string())))?;
    Ok(env)
}

/// Walk the prolog: a DOCTYPE before the root element is refused; the body is left to serde.
fn refuse_dtd(text: &str) -> Result<(), SoapError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event().map_err(|e| SoapError::Xml(short(&e.to_string())))? {
            Event::DocType(_) => return Err(SoapError::Dtd),
            Event::Start(_) | Event::Empty(_) | Event::Eof => return Ok(()),
            _ => {}
        }
    }
}

/// An error text as a fault's Reason may quote it: one line, at most 200 characters.
pub fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

// --- What the services read (local names, any prefix) -------------------------------------------

/// An element's text, its attributes ignored (`a:Action s:mustUnderstand="1"`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Text {
    #[serde(rename = "$text", default)]
    pub value: String,
}

impl Text {
    pub fn trimmed(&self) -> &str {
        self.value.trim()
    }
}

fn text(t: &Option<Text>) -> &str {
    t.as_ref().map_or("", Text::trimmed)
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Envelope {
    #[serde(rename = "Header", default)]
    pub header: Header,
    #[serde(rename = "Body", default)]
    pub body: Body,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Header {
    #[serde(rename = "Action")]
    pub action: Option<Text>,
    #[serde(rename = "MessageID")]
    pub message_id: Option<Text>,
    #[serde(rename = "To")]
    pub to: Option<Text>,
    #[serde(rename = "Security")]
    pub security: Option<Security>,
}

impl Header {
    pub fn action(&self) -> &str {
        text(&self.action)
    }

    pub fn message_id(&self) -> &str {
        text(&self.message_id)
    }
}

/// `wsse:Security`: a BinarySecurityToken (Entra JWT, federated token) or a UsernameToken (OnPremise).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Security {
    #[serde(rename = "BinarySecurityToken")]
    pub binary: Option<BinaryToken>,
    #[serde(rename = "UsernameToken")]
    pub username: Option<UsernameToken>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BinaryToken {
    #[serde(rename = "@ValueType", default)]
    pub value_type: String,
    #[serde(rename = "@EncodingType", default)]
    pub encoding_type: String,
    #[serde(rename = "$text", default)]
    pub value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UsernameToken {
    #[serde(rename = "Username")]
    pub username: Option<Text>,
    #[serde(rename = "Password")]
    pub password: Option<Text>,
}

impl UsernameToken {
    pub fn username(&self) -> &str {
        text(&self.username)
    }

    pub fn password(&self) -> &str {
        text(&self.password)
    }
}

/// The body's operation: one of these is present.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Body {
    #[serde(rename = "Discover")]
    pub discover: Option<Discover>,
    #[serde(rename = "GetPolicies")]
    pub get_policies: Option<serde::de::IgnoredAny>,
    #[serde(rename = "RequestSecurityToken")]
    pub rst: Option<RequestSecurityToken>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Discover {
    pub request: Option<DiscoverRequest>,
}

/// MS-MDE2 §3.1.4.1.3.1.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DiscoverRequest {
    #[serde(rename = "EmailAddress")]
    pub email: Option<Text>,
    #[serde(rename = "RequestVersion")]
    pub request_version: Option<Text>,
    #[serde(rename = "DeviceType")]
    pub device_type: Option<Text>,
    #[serde(rename = "ApplicationVersion")]
    pub application_version: Option<Text>,
    #[serde(rename = "OSEdition")]
    pub os_edition: Option<Text>,
    #[serde(rename = "AuthPolicies")]
    pub auth_policies: Option<AuthPolicies>,
}

impl DiscoverRequest {
    pub fn email(&self) -> &str {
        text(&self.email)
    }

    pub fn request_version(&self) -> &str {
        text(&self.request_version)
    }

    pub fn device_type(&self) -> &str {
        text(&self.device_type)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthPolicies {
    #[serde(rename = "AuthPolicy", default)]
    pub policies: Vec<Text>,
}

/// MS-WSTEP §3.1.4.1.2: the request and its AdditionalContext.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RequestSecurityToken {
    #[serde(rename = "TokenType")]
    pub token_type: Option<Text>,
    #[serde(rename = "RequestType")]
    pub request_type: Option<Text>,
    #[serde(rename = "BinarySecurityToken")]
    pub csr: Option<BinaryToken>,
    #[serde(rename = "AdditionalContext")]
    pub context: Option<AdditionalContext>,
}

impl RequestSecurityToken {
    /// The first ContextItem called `name` (names repeat: several MAC items).
    pub fn context(&self, name: &str) -> Option<&str> {
        self.context.as_ref()?.items.iter().find(|i| i.name.eq_ignore_ascii_case(name)).map(|i| text(&i.value))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AdditionalContext {
    #[serde(rename = "ContextItem", default)]
    pub items: Vec<ContextItem>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContextItem {
    #[serde(rename = "@Name", default)]
    pub name: String,
    #[serde(rename = "Value")]
    pub value: Option<Text>,
}

// --- What the services send -----------------------------------------------------------------------

/// An element with `s:mustUnderstand="1"` and text.
#[derive(Debug, Clone, Serialize)]
pub struct MustUnderstand {
    #[serde(rename = "@s:mustUnderstand")]
    pub must_understand: &'static str,
    #[serde(rename = "$text")]
    pub value: String,
}

/// `ActivityId CorrelationId="…"` in WCF's diagnostics namespace.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityId {
    #[serde(rename = "@CorrelationId")]
    pub correlation_id: String,
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "$text")]
    pub value: String,
}

/// WSTEP answers' `o:Security` with its `u:Timestamp` (fleet's ±5 minutes).
#[derive(Debug, Clone, Serialize)]
pub struct OutSecurity {
    #[serde(rename = "@xmlns:o")]
    pub xmlns_o: &'static str,
    #[serde(rename = "@s:mustUnderstand")]
    pub must_understand: &'static str,
    #[serde(rename = "u:Timestamp")]
    pub timestamp: Timestamp,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timestamp {
    #[serde(rename = "@u:Id")]
    pub id: &'static str,
    #[serde(rename = "u:Created")]
    pub created: String,
    #[serde(rename = "u:Expires")]
    pub expires: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutHeader {
    #[serde(rename = "a:Action")]
    pub action: MustUnderstand,
    #[serde(rename = "ActivityId")]
    pub activity: ActivityId,
    #[serde(rename = "a:RelatesTo", skip_serializing_if = "Option::is_none")]
    pub relates_to: Option<String>,
    #[serde(rename = "o:Security", skip_serializing_if = "Option::is_none")]
    pub security: Option<OutSecurity>,
}

/// Every answer's envelope around its body `B`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename = "s:Envelope")]
pub struct OutEnvelope<B: Serialize> {
    #[serde(rename = "@xmlns:s")]
    pub xmlns_s: &'static str,
    #[serde(rename = "@xmlns:a")]
    pub xmlns_a: &'static str,
    #[serde(rename = "@xmlns:u")]
    pub xmlns_u: &'static str,
    #[serde(rename = "s:Header")]
    pub header: OutHeader,
    #[serde(rename = "s:Body")]
    pub body: B,
}

impl<B: Serialize> OutEnvelope<B> {
    /// `body` answering the request whose MessageID was `relates_to`, under `action`.
    pub fn new(action: &str, relates_to: &str, activity: String, security: Option<OutSecurity>, body: B) -> Self {
        OutEnvelope {
            xmlns_s: NS_SOAP,
            xmlns_a: NS_ADDRESSING,
            xmlns_u: NS_WSU,
            header: OutHeader {
                action: MustUnderstand { must_understand: "1", value: action.to_string() },
                activity: ActivityId { correlation_id: activity.clone(), xmlns: NS_DIAGNOSTICS, value: activity },
                relates_to: (!relates_to.is_empty()).then(|| relates_to.to_string()),
                security,
            },
            body,
        }
    }

    /// The envelope as XML text, with its declaration.
    pub fn to_xml(&self) -> Result<String, quick_xml::SeError> {
        Ok(format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{}", quick_xml::se::to_string(self)?))
    }
}

/// `xsi:nil="true"`, as MS-XCEP writes the elements it leaves out.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Nil {
    #[serde(rename = "@xsi:nil")]
    pub nil: &'static str,
}

pub const NIL: Nil = Nil { nil: "true" };

#[cfg(test)]
mod tests;
