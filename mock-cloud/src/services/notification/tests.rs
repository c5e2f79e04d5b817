//! Router tests for the tenant-attach gateway, in process. Holds are simulated time: a time
//! scale of 600 makes the 3-minute hold last 0.3 s (and leaves a loaded machine tens of
//! milliseconds of slack on every bound).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use futures_util::FutureExt;
use scenarios::{Clock, Journal, SimDuration, WorldSpec};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;

const HOST: &str = "gateway.configmgr.manage.microsoft.com";

#[derive(Clone)]
struct S {
    world: Arc<WorldSpec>,
    journal: Journal,
}

fn state(scale: f64) -> S {
    let clock = Clock::new(time::macros::datetime!(2030-06-01 12:00 UTC), scale);
    S { world: Arc::new(WorldSpec::default()), journal: Journal::new(clock) }
}

fn config() -> Config {
    Config::from_catalog(&Catalog::builtin().unwrap())
}

/// The gateway with the catalog's hold.
fn router(s: S) -> Router {
    router_with(s.world, s.journal, config())
}

fn tenant() -> String {
    WorldSpec::default().tenant_id
}

fn request(method: Method, uri: &str, body: Option<Value>) -> Request {
    let b = axum::http::Request::builder().method(method).uri(uri).header(header::HOST, HOST);
    b.body(body.map_or(Body::empty(), |v| Body::from(v.to_string()))).unwrap()
}

async fn send(router: &Router, req: Request) -> (StatusCode, Value, axum::http::HeaderMap) {
    let res = router.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(bytes.trim_ascii()).unwrap_or(Value::Null), headers)
}

fn poll_uri(extra: &str) -> String {
    format!("{NOTIFICATION_PATH}?TenantId={}{extra}", tenant())
}

#[tokio::test]
async fn onboarding_and_device_upload_follow_our_contract() {
    let r = router(state(1.0));
    let (status, v, headers) =
        send(&r, request(Method::POST, ONBOARDING_PATH, Some(json!({"TenantId": tenant(), "HierarchyId": "h1", "SiteCode": "ABC"})))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["Onboarded"], true);
    assert_eq!(v["HoldSeconds"], 180.0);
    assert_eq!(v["NotificationUrl"], format!("https://{HOST}{NOTIFICATION_PATH}"));
    assert!(headers[header::DATE].to_str().unwrap().ends_with("2030 12:00:00 GMT"), "Date is simulated time: {:?}", headers[header::DATE]);
    let (status, v, _) =
        send(&r, request(Method::POST, DEVICE_POST_PATH, Some(json!({"TenantId": tenant(), "Devices": [{"DeviceId": "d1"}, {"DeviceId": "d2"}]})))).await;
    assert_eq!((status, v["Accepted"].as_u64()), (StatusCode::OK, Some(2)));
}

#[tokio::test]
async fn other_tenants_and_broken_bodies_get_the_gateway_errors() {
    let r = router(state(1.0));
    let other = json!({"TenantId": "00000000-0000-0000-0000-000000000000"});
    for (path, body, want) in [
        (ONBOARDING_PATH, Some(other.clone()), StatusCode::UNAUTHORIZED),
        (DEVICE_POST_PATH, Some(json!({"TenantId": tenant()})), StatusCode::BAD_REQUEST),
        (DEVICE_ACTION_PATH, Some(json!({"TenantId": tenant(), "TemplateID": "", "TargetDeviceIDs": []})), StatusCode::BAD_REQUEST),
    ] {
        let (status, v, _) = send(&r, request(Method::POST, path, body)).await;
        assert_eq!(status, want, "{path}");
        assert_eq!(v, serde_json::from_str::<Value>(ERROR_BODY).unwrap());
    }
    let garbage = axum::http::Request::builder().method(Method::POST).uri(ONBOARDING_PATH).header(header::HOST, HOST).body(Body::from("{nope")).unwrap();
    assert_eq!(send(&r, garbage).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(send(&r, request(Method::GET, "/api/gateway/Nope", None)).await.0, StatusCode::NOT_FOUND);
    let (status, _, headers) = send(&r, request(Method::POST, &poll_uri(""), None)).await;
    assert_eq!((status, &headers[header::ALLOW]), (StatusCode::METHOD_NOT_ALLOWED, &HeaderValue::from_static("GET")));
    assert_eq!(send(&r, request(Method::GET, &format!("{NOTIFICATION_PATH}?TenantId=x"), None)).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&r, request(Method::GET, &poll_uri("&WaitSeconds=-1"), None)).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_idle_poll_is_held_for_the_whole_hold_and_answers_empty() {
    let s = state(600.0);
    let r = router(s.clone());
    let started = std::time::Instant::now();
    let (status, v, _) = send(&r, request(Method::GET, &poll_uri(""), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["Notifications"], json!([]));
    let held = v["HeldSeconds"].as_f64().unwrap();
    assert!((180.0..200.0).contains(&held), "held {held} simulated seconds");
    assert!(started.elapsed() >= s.journal.clock().to_wall(SimDuration::from_secs(180)));
    // WaitSeconds=0 answers at once: how a client reads the server's time.
    let (_, v, _) = send(&r, request(Method::GET, &poll_uri("&WaitSeconds=0"), None)).await;
    assert!(v["HeldSeconds"].as_f64().unwrap() < 60.0 && v["ServerTime"].as_str().unwrap().starts_with("2030-06-01T12:"));
}

/// Issue 11: a finite `WaitSeconds` beyond any `Duration` (1e300) is the whole hold, not a
/// panic in the handler (the value was converted before it was bounded).
#[tokio::test]
async fn a_huge_wait_is_the_hold() {
    let r = router(state(600.0));
    let (status, v, _) = send(&r, request(Method::GET, &poll_uri("&WaitSeconds=1e300"), None)).await;
    assert_eq!(status, StatusCode::OK);
    let held = v["HeldSeconds"].as_f64().unwrap();
    assert!((180.0..200.0).contains(&held), "held {held} simulated seconds");
}

#[tokio::test]
async fn a_queued_action_is_delivered_to_the_waiting_poll() {
    let s = state(1.0); // a real 3-minute hold: only the action can end this poll in time
    let r = router(s.clone());
    let polling = Arc::new(tokio::sync::Notify::new());
    let seen = polling.clone();
    s.journal.subscribe(move |e| {
        if e.what == "poll_started" {
            seen.notify_one();
        }
    });
    let waiting = tokio::spawn({
        let r = r.clone();
        async move { send(&r, request(Method::GET, &poll_uri(""), None)).await }
    });
    // The action must wake a poll already waiting, not be picked up by one that starts later.
    polling.notified().await;
    let action = json!({"TenantId": tenant(), "TemplateID": "RequestMachinePolicy", "AADUserID": "u1", "TargetDeviceIDs": ["16777220"]});
    let (status, queued, _) = send(&r, request(Method::POST, DEVICE_ACTION_PATH, Some(action))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, v, _) = tokio::time::timeout(std::time::Duration::from_secs(30), waiting).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK);
    let delivered: Vec<Action> = serde_json::from_value(v["Notifications"].clone()).unwrap();
    assert_eq!(delivered.len(), 1);
    assert_eq!((delivered[0].template_id.as_str(), delivered[0].task_guid.as_str()), ("RequestMachinePolicy", queued["TaskGuid"].as_str().unwrap()));
    assert!(s.journal.find(0, |e| e.what == "notifications_delivered").is_some());
}

#[tokio::test]
async fn a_client_that_vanishes_mid_hold_leaves_nothing_behind() {
    let s = state(1.0);
    let hub = Arc::new(Hub::new(0));
    let r = Router::new().fallback(handle).with_state(Gateway { world: s.world.clone(), journal: s.journal.clone(), config: config(), hub: hub.clone() });
    // Poll once (the request reaches its hold), then drop it: the client is gone.
    let pending = r.clone().oneshot(request(Method::GET, &poll_uri(""), None)).now_or_never();
    assert!(pending.is_none(), "the poll is held, not answered");
    assert_eq!(hub.polls(), 0, "no waiter left");
    let e = s.journal.find(0, |e| e.what == "poll_abandoned").expect("journaled");
    assert_eq!(e.host.as_deref(), Some(HOST));
    assert_eq!(e.detail["polls_left"], 0);
    // An action queued afterwards waits for the next poll instead of being lost.
    hub.queue("RequestUserPolicy".into(), tenant(), None, vec![], "t".into());
    let (_, v, _) = send(&r, request(Method::GET, &poll_uri(""), None)).await;
    assert_eq!(v["Notifications"][0]["TemplateID"], "RequestUserPolicy");
}

#[tokio::test]
async fn with_a_heartbeat_bytes_flow_inside_the_hold() {
    let s = state(600.0);
    let r = router_with(s.world, s.journal, Config { hold: SimDuration::from_secs(180), heartbeat: Some(SimDuration::from_secs(30)) });
    let res = r.oneshot(request(Method::GET, &poll_uri(""), None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let beats = body.iter().take_while(|b| **b == b'\n').count();
    assert!((4..=6).contains(&beats), "{beats} heartbeats in 180 s at one per 30 s");
    let v: Value = serde_json::from_slice(body.trim_ascii()).unwrap();
    assert_eq!(v["Notifications"], json!([]));
}
