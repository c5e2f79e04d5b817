//! MS-MDE2 SOAP faults (§2.2.10, protocols.md §5) and the seam where `enrollment.*` faults take
//! effect (CONVENTIONS §5: faults are layers, not `if`s in handlers).
//!
//! [`EnrollError`] is the enrollment services' one error type: every way a request can be
//! refused, each with its subcode (and `DeviceEnrollmentServiceError/ErrorType` where MS-MDE2
//! has one). [`SoapFault`] renders it: `s:Receiver` (the docs' and Intune's code for every
//! enrollment fault), the subcode (`s:` ones in the SOAP namespace, `a:` ones in WS-Addressing,
//! as the docs' samples bind them), the Reason, the Detail — with HTTP 500 (the SOAP 1.2 HTTP
//! binding) unless a fault says 200, as fleet's server answers.
//!
//! [`layer`] reads top to bottom: select (every fault whose step, hosts and window hold for the
//! request), then apply: parameter faults ride into the handler as [`Tuning`]; the first SOAP
//! fault answers instead of the handler; a transport fault reshapes the handler's answer.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use scenarios::{Clock, Component, EnrollStep, EnrollmentEffect, EnrollmentFault, EnrollmentFaultKind, Journal, NewEvent, SimDuration};
use serde::Serialize;

use super::soap::{self, OutEnvelope};

/// The SOAP fault subcodes of MS-MDE2 §2.2.10 and the HRESULT each becomes on the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subcode {
    MessageFormat,
    Authentication,
    Authorization,
    CertificateRequest,
    EnrollmentServer,
    InternalServiceFault,
    InvalidSecurity,
}

impl Subcode {
    /// The qualified name in `s:Subcode/s:Value`.
    pub fn qname(self) -> &'static str {
        match self {
            Subcode::MessageFormat => "s:MessageFormat",
            Subcode::Authentication => "s:Authentication",
            Subcode::Authorization => "s:Authorization",
            Subcode::CertificateRequest => "s:CertificateRequest",
            Subcode::EnrollmentServer => "s:EnrollmentServer",
            Subcode::InternalServiceFault => "a:InternalServiceFault",
            Subcode::InvalidSecurity => "a:InvalidSecurity",
        }
    }
}

/// `DeviceEnrollmentServiceError/ErrorType` values (MS-MDE2 §2.2.10, protocols.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorType {
    DeviceCapReached,
    DeviceNotSupported,
    NotSupported,
    NotEligibleToRenew,
    InMaintenance,
    UserLicense,
    InvalidEnrollmentData,
}

/// Why an enrollment service refused a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnrollError {
    #[error("{0}")]
    MessageFormat(String),
    #[error("{0}")]
    InvalidSecurity(String),
    #[error("{0}")]
    Authentication(String),
    #[error("{0}")]
    CertificateRequest(String),
    #[error("{reason}")]
    Refused { subcode: Subcode, error_type: ErrorType, reason: String },
    #[error("{0}")]
    Internal(String),
}

impl EnrollError {
    pub fn subcode(&self) -> Subcode {
        match self {
            EnrollError::MessageFormat(_) => Subcode::MessageFormat,
            EnrollError::InvalidSecurity(_) => Subcode::InvalidSecurity,
            EnrollError::Authentication(_) => Subcode::Authentication,
            EnrollError::CertificateRequest(_) => Subcode::CertificateRequest,
            EnrollError::Refused { subcode, .. } => *subcode,
            EnrollError::Internal(_) => Subcode::InternalServiceFault,
        }
    }

    pub fn error_type(&self) -> Option<ErrorType> {
        match self {
            EnrollError::Refused { error_type, .. } => Some(*error_type),
            _ => None,
        }
    }

    /// The error an `enrollment.*` SOAP-fault kind stands for, with Intune's wording where
    /// public (DeviceNotSupported: "Device Identifier not preregistered", protocols.md §5).
    pub fn injected(kind: EnrollmentFaultKind) -> Option<EnrollError> {
        use EnrollmentFaultKind as K;
        let refused = |subcode, error_type, reason: &str| Some(EnrollError::Refused { subcode, error_type, reason: reason.into() });
        match kind {
            K::DeviceCapReached => {
                refused(Subcode::Authorization, ErrorType::DeviceCapReached, "The user has reached the maximum number of devices they may enroll.")
            }
            K::DeviceNotSupported => refused(Subcode::Authorization, ErrorType::DeviceNotSupported, "Device Identifier not preregistered"),
            K::NotSupported => refused(Subcode::Authorization, ErrorType::NotSupported, "The enrollment service does not support this request."),
            K::UserLicense => refused(Subcode::Authorization, ErrorType::UserLicense, "The user is not licensed for Microsoft Intune."),
            K::InMaintenance => refused(Subcode::EnrollmentServer, ErrorType::InMaintenance, "The enrollment service is in maintenance; try again later."),
            K::Authentication => Some(EnrollError::Authentication("The security token is not valid for this service.".into())),
            K::CertificateRequest => Some(EnrollError::CertificateRequest("The certificate request was refused.".into())),
            K::InvalidSecurity => Some(EnrollError::InvalidSecurity("The security header could not be processed.".into())),
            K::MessageFormat => Some(EnrollError::MessageFormat("The request message could not be processed.".into())),
            K::InternalServiceFault => Some(EnrollError::Internal("The server was unable to process the request due to an internal error.".into())),
            K::WrongContentType | K::Chunked | K::Truncated | K::MinKeyLength | K::TokenAge => None,
        }
    }
}

/// One SOAP fault answer: the error, the operation's response action, the request it answers.
#[derive(Debug, Clone)]
pub struct SoapFault {
    pub error: EnrollError,
    pub action: &'static str,
    pub relates_to: String,
    pub trace_id: String,
    pub status: StatusCode,
}

#[derive(Serialize)]
struct FaultBody {
    #[serde(rename = "s:Fault")]
    fault: FaultXml,
}

#[derive(Serialize)]
struct FaultXml {
    #[serde(rename = "s:Code")]
    code: Code,
    #[serde(rename = "s:Reason")]
    reason: Reason,
    #[serde(rename = "s:Detail", skip_serializing_if = "Option::is_none")]
    detail: Option<Detail>,
}

#[derive(Serialize)]
struct Code {
    #[serde(rename = "s:Value")]
    value: &'static str,
    #[serde(rename = "s:Subcode")]
    subcode: Value,
}

#[derive(Serialize)]
struct Value {
    #[serde(rename = "s:Value")]
    value: &'static str,
}

#[derive(Serialize)]
struct Reason {
    #[serde(rename = "s:Text")]
    text: LangText,
}

#[derive(Serialize)]
struct LangText {
    #[serde(rename = "@xml:lang")]
    lang: &'static str,
    #[serde(rename = "$text")]
    text: String,
}

#[derive(Serialize)]
struct Detail {
    #[serde(rename = "DeviceEnrollmentServiceError")]
    error: ServiceError,
}

#[derive(Serialize)]
struct ServiceError {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "ErrorType")]
    error_type: ErrorType,
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "TraceId")]
    trace_id: String,
}

impl SoapFault {
    /// The fault as XML.
    pub fn to_xml(&self) -> Result<String, quick_xml::SeError> {
        let detail = self.error.error_type().map(|error_type| Detail {
            error: ServiceError { xmlns: soap::NS_ENROLL, error_type, message: self.error.to_string(), trace_id: self.trace_id.clone() },
        });
        let body = FaultBody {
            fault: FaultXml {
                code: Code { value: "s:Receiver", subcode: Value { value: self.error.subcode().qname() } },
                reason: Reason { text: LangText { lang: "en-US", text: soap::short(&self.error.to_string()) } },
                detail,
            },
        };
        OutEnvelope::new(self.action, &self.relates_to, self.trace_id.clone(), None, body).to_xml()
    }
}

impl IntoResponse for SoapFault {
    fn into_response(self) -> Response {
        match self.to_xml() {
            Ok(xml) => soap_response(self.status, xml),
            // Serialising fixed structs of strings cannot fail; if it ever did, say so plainly.
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("memsim: SOAP fault not serialisable: {e}\n")).into_response(),
        }
    }
}

/// A SOAP answer: one message with its length (never chunked, protocols.md §1.1).
pub fn soap_response(status: StatusCode, xml: String) -> Response {
    let mut res = (status, xml).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(soap::CONTENT_TYPE));
    res
}

/// Parameters the enrollment faults change for the handlers (the request's extension).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tuning {
    /// `enrollment.min_key_length`: the policy's minimal key length instead of the data's.
    pub min_key_length: Option<(u32, EnrollmentFaultKind)>,
    /// `enrollment.token_age`: tokens are checked as if issued this much earlier.
    pub token_age: Option<(SimDuration, EnrollmentFaultKind)>,
}

#[derive(Debug, Clone)]
struct Layer {
    faults: Arc<[EnrollmentFault]>,
    clock: Clock,
    journal: Journal,
    step_of: fn(&str) -> Option<EnrollStep>,
}

/// `router` behind the enrollment faults; `step_of` names the step of a request path.
/// Unchanged when the scenario has no enrollment fault.
pub fn layer(router: Router, faults: &Arc<[EnrollmentFault]>, journal: &Journal, step_of: fn(&str) -> Option<EnrollStep>) -> Router {
    if faults.is_empty() {
        return router;
    }
    let layer = Layer { faults: faults.clone(), clock: *journal.clock(), journal: journal.clone(), step_of };
    router.layer(middleware::from_fn_with_state(layer, apply))
}

async fn apply(State(layer): State<Layer>, mut req: Request, next: Next) -> Response {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let Some(step) = (layer.step_of)(req.uri().path()) else { return next.run(req).await };
    let elapsed = layer.clock.to_sim(layer.clock.wall_elapsed());
    let selected: Vec<&EnrollmentFault> = layer.faults.iter().filter(|f| f.applies(step, &host, elapsed)).collect();
    let mut tuning = Tuning::default();
    for f in &selected {
        match f.effect {
            EnrollmentEffect::MinKeyLength { bits } => tuning.min_key_length = Some((bits, f.kind())),
            EnrollmentEffect::TokenAge { age } => tuning.token_age = Some((age, f.kind())),
            _ => {}
        }
    }
    req.extensions_mut().insert(tuning);
    let Some(fault) = selected.into_iter().find(|f| !matches!(f.effect, EnrollmentEffect::MinKeyLength { .. } | EnrollmentEffect::TokenAge { .. })) else {
        return next.run(req).await;
    };
    let kind = fault.kind();
    let event = NewEvent::new(Component::Http, step.as_str()).host(host.clone()).fault(kind).detail("path", req.uri().path().to_string());
    if let (Some(error), Some(status)) = (EnrollError::injected(kind), fault.effect.soap_status()) {
        let (relates_to, action) = request_identity(req, step).await;
        let fault = SoapFault {
            error,
            action,
            relates_to,
            trace_id: super::trace_id(),
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        };
        layer.journal.record(soap_fault_event(&fault, step, &host).fault(kind));
        return fault.into_response();
    }
    let res = next.run(req).await;
    match &fault.effect {
        EnrollmentEffect::WrongContentType { content_type } => {
            layer.journal.record(event.detail("content_type", content_type.clone()));
            let (mut parts, body) = res.into_parts();
            let value = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/html"));
            parts.headers.insert(header::CONTENT_TYPE, value);
            Response::from_parts(parts, body)
        }
        EnrollmentEffect::Chunked {} => {
            layer.journal.record(event.detail("transfer_encoding", "chunked"));
            reshape(res, |bytes| {
                let mid = bytes.len() / 2;
                let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![Ok(bytes.slice(..mid)), Ok(bytes.slice(mid..))];
                (None, Body::from_stream(futures_util::stream::iter(chunks)))
            })
            .await
        }
        EnrollmentEffect::Truncated { fraction } => {
            layer.journal.record(event.detail("fraction", *fraction));
            let fraction = *fraction;
            reshape(res, move |bytes| {
                let cut = ((bytes.len() as f64) * fraction) as usize;
                // The head announces every byte; the body stops short and the stream fails, so
                // the front aborts the connection instead of finishing the message. The stream
                // yields once between the two: hyper flushes what it holds when a body is
                // pending, so the head and the first part reach the client before the abort.
                let first = bytes.slice(..cut);
                let stream = futures_util::stream::unfold(0u8, move |state| {
                    let first = first.clone();
                    async move {
                        match state {
                            0 => Some((Ok(first), 1)),
                            1 => {
                                tokio::task::yield_now().await;
                                Some((Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "enrollment.truncated")), 2))
                            }
                            _ => None,
                        }
                    }
                });
                (Some(bytes.len()), Body::from_stream(stream))
            })
            .await
        }
        _ => res,
    }
}

/// The handler's answer with its body re-sent by `f` (which may announce a length).
async fn reshape(res: Response, f: impl FnOnce(bytes::Bytes) -> (Option<usize>, Body)) -> Response {
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "memsim: answer unreadable\n").into_response();
    };
    let (length, body) = f(bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(n) = length {
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Response::from_parts(parts, body)
}

/// The MessageID a fault relates to and the response action of the step, read leniently from
/// the request (an unreadable request still gets the fault the scenario asked for).
async fn request_identity(req: Request, step: EnrollStep) -> (String, &'static str) {
    let action = response_action(step);
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), soap::MAX_BODY).await else { return (String::new(), action) };
    let id = soap::parse(&bytes).map(|e| e.header.message_id().to_string()).unwrap_or_default();
    (id, action)
}

/// The response action of a step's operation (a fault's Action; clients ignore it, MS-DVRE §3.1.4.1.1.3).
pub fn response_action(step: EnrollStep) -> &'static str {
    match step {
        EnrollStep::Discover => soap::ACTION_DISCOVER_RESPONSE,
        EnrollStep::Policies => soap::ACTION_GET_POLICIES_RESPONSE,
        EnrollStep::Enroll | EnrollStep::Checkin => soap::ACTION_RSTRC,
    }
}

/// The journal's `soap_fault` event for an answer.
pub fn soap_fault_event(fault: &SoapFault, step: EnrollStep, host: &str) -> NewEvent {
    let mut e = NewEvent::new(Component::Http, "soap_fault")
        .host(host.to_string())
        .detail("step", step.as_str())
        .detail("subcode", fault.error.subcode().qname())
        .detail("status", fault.status.as_u16())
        .detail("reason", soap::short(&fault.error.to_string()))
        .detail("trace_id", fault.trace_id.clone());
    if let Some(t) = fault.error.error_type() {
        e = e.detail("error_type", format!("{t:?}"));
    }
    e
}
