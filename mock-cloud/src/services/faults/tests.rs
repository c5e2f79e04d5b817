//! The generic service-fault layer, in process (`oneshot`): every service gets the generic
//! faults through `routers` alone, selected by service, host and window (issue 10).

use axum::http::{Method, Request};
use scenarios::{HostList, HostPattern, ServiceTarget, SimDuration, Window};
use tower::ServiceExt;

use super::*;
use crate::services::routers;
use crate::services::test_support::app_state_with;

const DISCOVERY_HOST: &str = "enterpriseenrollment-s.manage.microsoft.com";
const GATEWAY_HOST: &str = "gateway.configmgr.manage.microsoft.com";

fn fault(service: Option<Service>, hosts: &[&str], window: Window, effect: ServiceEffect) -> ServiceFault {
    let hosts = HostList(hosts.iter().map(|h| HostPattern::parse(h).unwrap()).collect());
    ServiceFault { target: ServiceTarget { service, hosts }, window, effect }
}

async fn call(faults: Vec<ServiceFault>, service: Service, host: &str, path: &str) -> Response {
    let state = app_state_with(time::OffsetDateTime::now_utc(), 1.0, vec![], faults);
    let req = Request::builder().method(Method::GET).uri(path).header(header::HOST, host).body(Body::empty()).unwrap();
    routers(&state)[&service].clone().oneshot(req).await.unwrap()
}

fn fired(res: &Response) -> Option<ServiceFaultKind> {
    res.extensions().get::<Fired>().map(|f| f.0)
}

#[tokio::test]
async fn a_status_fault_answers_for_its_service_only() {
    let status = fault(Some(Service::EnrollmentDiscovery), &[], Window::default(), ServiceEffect::Status { status: 503 });
    let res = call(vec![status.clone()], Service::EnrollmentDiscovery, DISCOVERY_HOST, "/EnrollmentServer/Discovery.svc").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fired(&res), Some(ServiceFaultKind::Status));
    let res = call(vec![status], Service::Generic, "go.microsoft.com", "/").await;
    assert_eq!((res.status(), fired(&res)), (StatusCode::OK, None), "another service is untouched");
}

#[tokio::test]
async fn host_patterns_select_across_services_and_close_marks_the_exchange() {
    let close = fault(None, &["*.configmgr.manage.microsoft.com"], Window::default(), ServiceEffect::Close {});
    let res = call(vec![close.clone()], Service::Notification, GATEWAY_HOST, "/api/gateway/Notification").await;
    assert_eq!((res.status(), fired(&res)), (CLOSED, Some(ServiceFaultKind::Close)));
    assert!(res.extensions().get::<Fired>().unwrap().closes());
    let res = call(vec![close], Service::EnrollmentDiscovery, DISCOVERY_HOST, "/EnrollmentServer/Discovery.svc").await;
    assert_eq!((res.status(), fired(&res)), (StatusCode::OK, None), "a host the pattern does not cover");
}

#[tokio::test]
async fn malformed_keeps_status_and_type_and_breaks_the_body() {
    let bad = fault(Some(Service::Endpoints), &[], Window::default(), ServiceEffect::Malformed {});
    let uri = "/version?clientrequestid=b10c5ed1-bad1-445f-b386-b919946339a7";
    let res = call(vec![bad], Service::Endpoints, "endpoints.office.com", uri).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    assert_eq!(fired(&res), Some(ServiceFaultKind::Malformed));
    let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
    assert_eq!(&body[..], MALFORMED);
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err(), "not what the content type says");
}

#[tokio::test(start_paused = true)]
async fn delay_holds_the_answer_in_simulated_time() {
    let slow = fault(Some(Service::Generic), &[], Window::default(), ServiceEffect::Delay { delay: SimDuration::from_secs(30) });
    let started = tokio::time::Instant::now();
    let res = call(vec![slow], Service::Generic, "go.microsoft.com", "/").await;
    assert_eq!((res.status(), fired(&res)), (StatusCode::OK, Some(ServiceFaultKind::Delay)));
    assert!(started.elapsed() >= std::time::Duration::from_secs(30), "held {:?}", started.elapsed());
}

#[tokio::test]
async fn a_fault_outside_its_window_does_nothing() {
    let later = Window { after: SimDuration::from_secs(3600), until: None };
    let status = fault(Some(Service::EnrollmentDiscovery), &[], later, ServiceEffect::Status { status: 503 });
    let res = call(vec![status], Service::EnrollmentDiscovery, DISCOVERY_HOST, "/EnrollmentServer/Discovery.svc").await;
    assert_eq!((res.status(), fired(&res)), (StatusCode::OK, None));
}

#[tokio::test]
async fn specific_effects_are_left_to_their_service() {
    let try_later = ServiceFault::new(ServiceEffect::OcspTryLater {});
    let res = call(vec![try_later], Service::Generic, "go.microsoft.com", "/").await;
    assert_eq!((res.status(), fired(&res)), (StatusCode::OK, None));
}
