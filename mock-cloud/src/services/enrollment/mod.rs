//! Windows MDM enrollment end to end (issue 14; protocols.md §2–§5): MS-MDE2 discovery
//! ([`discovery`]), MS-XCEP policies ([`policy`]), MS-WSTEP enrollment with the provisioning
//! document ([`enroll`], [`provisioning`]), the federated sign-in page ([`federated`]), and the
//! first OMA-DM check-in over mutual TLS ([`checkin`]). SOAP in and out through quick-xml's serde
//! ([`soap`]); every refusal is one [`faults::EnrollError`] rendered as an MS-MDE2 SOAP fault, and
//! the `enrollment.*` scenario faults are one layer in front of each router ([`faults::layer`]).
//!
//! Three services (scenarios' [`Service`](scenarios::Service)): `enrollment_discovery` on the
//! discovery hosts, `enrollment` on `fef.<asu>.manage.microsoft.com` (policies, enrollment, the
//! sign-in page), `checkin` on `r.manage.microsoft.com`. Their URLs, token audiences, policy and
//! provisioning values are data (`data/enrollment.toml`).

pub mod auth;
pub mod checkin;
pub mod discovery;
pub mod enroll;
pub mod faults;
pub mod federated;
pub mod policy;
pub mod provisioning;
pub mod soap;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scenarios::{Cloud, EnrollStep, EnrollmentFault, SimDuration, WorldSpec};
use serde::Deserialize;

use super::AppState;
use faults::{EnrollError, SoapFault};

pub use discovery::DISCOVERY_PATH;

/// `data/enrollment.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentData {
    pub urls: Urls,
    pub discovery: DiscoveryData,
    pub token: TokenData,
    pub policy: PolicyData,
    pub certificate: CertificateData,
    pub provisioning: ProvisioningData,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Urls {
    pub enrollment: String,
    pub policy: String,
    pub authentication: String,
    pub checkin: String,
    pub manage: PerCloud,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerCloud {
    pub public: String,
    pub usgov: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryData {
    pub auth_policies: Vec<String>,
    pub max_enrollment_version: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenData {
    pub audiences: Vec<String>,
    pub issuers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyData {
    pub minimal_key_length: u32,
    pub hash_oid: String,
    pub hash_oid_group: u32,
    pub hash_oid_name: String,
    pub validity_seconds: u64,
    pub renewal_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateData {
    pub ca: String,
    pub root: String,
    pub lifetime: SimDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningData {
    pub provider_id: String,
    pub name: String,
    pub conn_retry_freq: u32,
    pub initial_backoff_time: u32,
    pub max_backoff_time: u32,
    pub default_encoding: String,
    pub renew_period: u32,
    pub retry_interval: u32,
    pub poll: PollData,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollData {
    pub first_retries: u32,
    pub first_interval: u32,
    pub second_retries: u32,
    pub second_interval: u32,
    pub remaining_retries: u32,
    pub remaining_interval: u32,
    pub poll_on_login: bool,
}

impl EnrollmentData {
    /// A URL template with the world's values: `{manage}`, `{asu}`, and a fresh `{request_id}`.
    pub fn url(&self, template: &str, world: &WorldSpec) -> String {
        let manage = match world.cloud {
            Cloud::Public => &self.urls.manage.public,
            Cloud::Usgov => &self.urls.manage.usgov,
        };
        template.replace("{manage}", manage).replace("{asu}", &world.asu.to_ascii_lowercase()).replace("{request_id}", &guid())
    }

    /// The host of a URL template in `world` (no scheme, port, path).
    pub fn host(&self, template: &str, world: &WorldSpec) -> String {
        let url = self.url(template, world);
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        rest.split(['/', ':', '?']).next().unwrap_or_default().to_ascii_lowercase()
    }

    /// The hosts of the `enrollment` and `checkin` services in `world` (discovery's are in services.toml).
    pub fn hosts(&self, world: &WorldSpec) -> Vec<(String, scenarios::Service)> {
        vec![
            (self.host(&self.urls.enrollment, world), scenarios::Service::Enrollment),
            (self.host(&self.urls.policy, world), scenarios::Service::Enrollment),
            (self.host(&self.urls.authentication, world), scenarios::Service::Enrollment),
            (self.host(&self.urls.checkin, world), scenarios::Service::Checkin),
        ]
    }
}

/// A device the enrollment service issued a certificate to, by the certificate's thumbprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    pub upn: String,
    pub device_id: String,
    pub serial_hex: String,
}

/// The enrollment services' substate.
#[derive(Debug, Clone)]
pub struct EnrollmentState {
    pub faults: Arc<[EnrollmentFault]>,
    /// Issued MDM certificates (thumbprint → device), for the check-in.
    pub enrolled: Arc<Mutex<EnrolledCerts>>,
}

/// The certificates the enrollment service issued, by SHA-1 thumbprint. Bounded like the DRS
/// and Linux device records ([`MAX_RECORDS`](crate::services::devices::MAX_RECORDS), the oldest
/// forgotten first): every enrollment adds one, so a looping client must not grow a world's
/// memory without end (issue 14 review).
#[derive(Debug, Default)]
pub struct EnrolledCerts {
    by_thumbprint: HashMap<String, Enrolled>,
    order: VecDeque<String>,
}

impl EnrolledCerts {
    /// Remember the device a certificate was issued to.
    pub fn remember(&mut self, thumbprint: String, device: Enrolled) {
        if self.by_thumbprint.insert(thumbprint.clone(), device).is_none() {
            self.order.push_back(thumbprint);
        }
        while self.order.len() > crate::services::devices::MAX_RECORDS {
            if let Some(oldest) = self.order.pop_front() {
                self.by_thumbprint.remove(&oldest);
            }
        }
    }

    pub fn get(&self, thumbprint: &str) -> Option<&Enrolled> {
        self.by_thumbprint.get(thumbprint)
    }

    pub fn len(&self) -> usize {
        self.by_thumbprint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_thumbprint.is_empty()
    }
}

impl EnrollmentState {
    pub fn new(faults: Vec<EnrollmentFault>) -> Self {
        EnrollmentState { faults: faults.into(), enrolled: Arc::default() }
    }
}

/// The `enrollment` service (fef.<asu>): GetPolicies, RequestSecurityToken, the sign-in page.
pub fn router(state: &AppState) -> Router {
    let r = Router::new().fallback(fef).with_state(state.clone());
    faults::layer(r, &state.enrollment.faults, &state.journal, step_of)
}

/// The step a request path belongs to, for the fault layer.
pub fn step_of(path: &str) -> Option<EnrollStep> {
    let p = path.to_ascii_lowercase();
    if p.ends_with("/discovery.svc") {
        Some(EnrollStep::Discover)
    } else if p.ends_with("/enrollmentpolicy.svc") {
        Some(EnrollStep::Policies)
    } else if p.ends_with("/deviceenrollment.svc") {
        Some(EnrollStep::Enroll)
    } else if p.ends_with("/cimhandler.ashx") {
        Some(EnrollStep::Checkin)
    } else {
        None
    }
}

async fn fef(axum::extract::State(state): axum::extract::State<AppState>, req: axum::extract::Request) -> Response {
    let path = req.uri().path().to_ascii_lowercase();
    if path.ends_with("/federatedsignin") {
        return federated::handle(&state, req).await;
    }
    match step_of(&path) {
        Some(EnrollStep::Policies) => policy::handle(&state, req).await,
        Some(EnrollStep::Enroll) => enroll::handle(&state, req).await,
        // Anything else on the host (its root, for a reachability check) as before it had a service.
        _ => super::generic::answer(req).await,
    }
}

/// The request's SOAP envelope, or the fault that answers it: POST only, the body capped at
/// [`soap::MAX_BODY`] (the declared length checked before a byte is read), no DTD.
pub(crate) async fn read_soap(req: axum::extract::Request) -> Result<soap::Envelope, EnrollError> {
    if req.method() != axum::http::Method::POST {
        return Err(EnrollError::MessageFormat(format!("{} is not POST: the service takes SOAP 1.2 messages", req.method())));
    }
    let declared = req.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > soap::MAX_BODY as u64) {
        return Err(EnrollError::MessageFormat(soap::SoapError::TooLarge.to_string()));
    }
    let bytes = axum::body::to_bytes(req.into_body(), soap::MAX_BODY).await.map_err(|_| EnrollError::MessageFormat(soap::SoapError::TooLarge.to_string()))?;
    soap::parse(&bytes).map_err(|e| EnrollError::MessageFormat(e.to_string()))
}

/// A handler's outcome as the answer: the SOAP response, or the fault (journaled).
pub(crate) fn answer(state: &AppState, step: EnrollStep, host: &str, relates_to: &str, result: Result<Response, EnrollError>) -> Response {
    match result {
        Ok(res) => res,
        Err(error) => {
            let fault = SoapFault {
                error,
                action: faults::response_action(step),
                relates_to: relates_to.to_string(),
                trace_id: trace_id(),
                status: StatusCode::INTERNAL_SERVER_ERROR,
            };
            state.journal.record(faults::soap_fault_event(&fault, step, host));
            fault.into_response()
        }
    }
}

/// A fresh GUID (version 4, from the OS's RNG), lower case: request ids, activity and trace ids.
pub fn guid() -> String {
    let mut b = [0u8; 16];
    // The OS RNG does not fail on the platforms memsim runs on; an all-zero id would still be an id.
    let _ = getrandom::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// A trace id for a fault's Detail and the journal.
pub fn trace_id() -> String {
    guid()
}

impl IntoResponse for EnrollError {
    fn into_response(self) -> Response {
        SoapFault { error: self, action: soap::ACTION_RSTRC, relates_to: String::new(), trace_id: trace_id(), status: StatusCode::INTERNAL_SERVER_ERROR }
            .into_response()
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod bounded_tests {
    use super::{Enrolled, EnrolledCerts};
    use crate::services::devices::MAX_RECORDS;

    // issue 14: each enrollment remembers its certificate; a client looping over enrollments
    // must not grow the world's memory without end.
    #[test]
    fn issued_certificates_are_bounded_oldest_first() {
        let mut certs = EnrolledCerts::default();
        let device = |i: usize| Enrolled { upn: "u@contoso.com".into(), device_id: format!("d{i}"), serial_hex: format!("{i:X}") };
        for i in 0..=MAX_RECORDS {
            certs.remember(format!("T{i}"), device(i));
        }
        assert_eq!(certs.len(), MAX_RECORDS);
        assert!(certs.get("T0").is_none(), "the oldest is forgotten");
        assert_eq!(certs.get(&format!("T{MAX_RECORDS}")), Some(&device(MAX_RECORDS)));
        certs.remember(format!("T{MAX_RECORDS}"), device(7));
        assert_eq!(certs.len(), MAX_RECORDS, "a re-issued thumbprint replaces, never duplicates");
    }
}
