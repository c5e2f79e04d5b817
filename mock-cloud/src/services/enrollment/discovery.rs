//! MS-MDE2 discovery (protocols.md §2): the `GET` probe a Windows client sends first, and the
//! SOAP `Discover` it POSTs next, answered with the tenant's auth policy and the enrollment
//! URLs in Intune's shapes (`data/enrollment.toml`).
//!
//! Both routes a client takes land here: the email route (`EnterpriseEnrollment.<domain>` →
//! `enterpriseenrollment-s.manage.microsoft.com`, seed 003) and the Entra-provisioned one
//! (`enrollment.manage.microsoft.com`, the MDM discovery URL Entra hands out). Parsing is
//! tolerant (soap.rs); `RequestVersion` is any decimal (3.0 in the docs, 5.0 fleet, 6.0 Windows 11),
//! answered with `EnrollmentVersion` up to the data's maximum; the client's auth policies are
//! matched against the tenant's in the tenant's order of preference.
//!
//! Dispatch is by hand, not by axum routes: IIS ignores path case and Intune publishes the
//! lower-case URL, so the path is matched case-insensitively, which axum's router does not do.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scenarios::{Component, EnrollStep, NewEvent};
use serde::Serialize;

use super::faults::{EnrollError, ErrorType, Subcode, soap_response};
use super::soap::{self, OutEnvelope};
use crate::services::AppState;

/// MS-MDE2 §3.1.4.1: the discovery service endpoint.
pub const DISCOVERY_PATH: &str = "/EnrollmentServer/Discovery.svc";

pub fn router(state: &AppState) -> Router {
    let r = Router::new().fallback(handle).with_state(state.clone());
    super::faults::layer(r, &state.enrollment.faults, &state.journal, super::step_of)
}

/// What the discovery service refuses outside SOAP, in its own words.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no such endpoint on the enrollment discovery service")]
    NotFound,
    #[error("the discovery service takes GET (the probe) and POST (Discover)")]
    MethodNotAllowed,
}

impl IntoResponse for DiscoveryError {
    fn into_response(self) -> Response {
        let status = match self {
            DiscoveryError::NotFound => StatusCode::NOT_FOUND,
            DiscoveryError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        };
        crate::services::plain_error(status, self, "GET, HEAD, POST")
    }
}

async fn handle(State(state): State<AppState>, req: Request) -> Result<Response, DiscoveryError> {
    if !req.uri().path().eq_ignore_ascii_case(DISCOVERY_PATH) {
        return Err(DiscoveryError::NotFound);
    }
    match *req.method() {
        // §2.1: 200 with an empty body (the docs show Content-Type text/html, Content-Length 0).
        Method::GET | Method::HEAD => {
            let mut res = StatusCode::OK.into_response();
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=UTF-8"));
            Ok(res)
        }
        Method::POST => Ok(discover(&state, req).await),
        _ => Err(DiscoveryError::MethodNotAllowed),
    }
}

async fn discover(state: &AppState, req: Request) -> Response {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let env = match super::read_soap(req).await {
        Ok(env) => env,
        Err(e) => return super::answer(state, EnrollStep::Discover, &host, "", Err(e)),
    };
    let relates_to = env.header.message_id().to_string();
    let result = answer(state, &env, &host);
    super::answer(state, EnrollStep::Discover, &host, &relates_to, result)
}

fn answer(state: &AppState, env: &soap::Envelope, host: &str) -> Result<Response, EnrollError> {
    let request =
        env.body.discover.as_ref().and_then(|d| d.request.as_ref()).ok_or_else(|| EnrollError::MessageFormat("the body holds no Discover request".into()))?;
    let data = &state.catalog.enrollment;
    let max: f64 = data.discovery.max_enrollment_version.parse().unwrap_or(5.0);
    let version = match request.request_version() {
        "" => max,
        v => v
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| EnrollError::MessageFormat(format!("RequestVersion `{}` is not a decimal", soap::short(v))))?,
    };
    let offered: Vec<&str> = request.auth_policies.as_ref().map(|a| a.policies.iter().map(soap::Text::trimmed).collect()).unwrap_or_default();
    // A client that lists no policy gets the tenant's first (older clients send none).
    let policy = data.discovery.auth_policies.iter().find(|p| offered.is_empty() || offered.iter().any(|o| o.eq_ignore_ascii_case(p))).ok_or_else(|| {
        EnrollError::Refused {
            subcode: Subcode::Authorization,
            error_type: ErrorType::NotSupported,
            reason: format!("the client offers {}; the tenant supports {}", offered.join(", "), data.discovery.auth_policies.join(", ")),
        }
    })?;
    let world = &state.world;
    let federated = policy.eq_ignore_ascii_case("Federated");
    let result = DiscoverResult {
        auth_policy: policy.clone(),
        version: format!("{:.1}", version.min(max)),
        policy_url: data.url(&data.urls.policy, world),
        enrollment_url: data.url(&data.urls.enrollment, world),
        authentication_url: federated.then(|| data.url(&data.urls.authentication, world)),
    };
    // The email route ends at the EnterpriseEnrollment CNAME's target (or a non-preferred one,
    // seed 003); the Entra-provisioned route names the discovery host itself.
    let cnames = &state.catalog.cnames;
    let email = cnames
        .rules
        .iter()
        .filter(|r| r.purpose == "enrollment")
        .map(|r| &r.target)
        .chain(cnames.nonpreferred_targets.iter().map(|t| &t.target))
        .any(|t| t.eq_ignore_ascii_case(host));
    let route = if email { "email" } else { "entra" };
    state.journal.record(
        NewEvent::new(Component::Http, "discover")
            .host(host.to_string())
            .detail("route", route)
            .detail("email", soap::short(request.email()))
            .detail("request_version", soap::short(request.request_version()))
            .detail("device_type", soap::short(request.device_type()))
            .detail("auth_policy", policy.clone())
            .detail("enrollment_url", result.enrollment_url.clone()),
    );
    let body = DiscoverBody { response: DiscoverResponse { xmlns: soap::NS_DISCOVERY, result } };
    let xml = OutEnvelope::new(soap::ACTION_DISCOVER_RESPONSE, env.header.message_id(), super::guid(), None, body)
        .to_xml()
        .map_err(|e| EnrollError::Internal(e.to_string()))?;
    Ok(soap_response(StatusCode::OK, xml))
}

#[derive(Serialize)]
struct DiscoverBody {
    #[serde(rename = "DiscoverResponse")]
    response: DiscoverResponse,
}

#[derive(Serialize)]
struct DiscoverResponse {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "DiscoverResult")]
    result: DiscoverResult,
}

/// MS-MDE2 §3.1.4.1.3.2 (an `xsd:all`: order free).
#[derive(Serialize)]
struct DiscoverResult {
    #[serde(rename = "AuthPolicy")]
    auth_policy: String,
    #[serde(rename = "EnrollmentVersion")]
    version: String,
    #[serde(rename = "EnrollmentPolicyServiceUrl")]
    policy_url: String,
    #[serde(rename = "EnrollmentServiceUrl")]
    enrollment_url: String,
    #[serde(rename = "AuthenticationServiceUrl", skip_serializing_if = "Option::is_none")]
    authentication_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    async fn call(method: Method, path: &str) -> Response {
        let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        router(&crate::services::test_support::app_state()).oneshot(req).await.unwrap()
    }

    #[tokio::test]
    async fn probe_answers_200_empty_in_any_case() {
        for path in ["/EnrollmentServer/Discovery.svc", "/enrollmentserver/discovery.svc"] {
            let res = call(Method::GET, path).await;
            assert_eq!(res.status(), StatusCode::OK);
            let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
            assert!(body.is_empty());
        }
    }

    #[tokio::test]
    async fn other_paths_and_methods_are_refused_properly() {
        assert_eq!(call(Method::GET, "/").await.status(), StatusCode::NOT_FOUND);
        let res = call(Method::DELETE, DISCOVERY_PATH).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET, HEAD, POST");
    }
}
