use axum::http::Method;

use super::*;
use crate::services::control::tests::{call, state};

#[tokio::test]
async fn add_list_set_remove_through_the_endpoint() {
    let s = state();
    let t = s.token.as_str().to_string();
    let (status, body) = call(&s, Method::POST, FAULTS_PATH, &t, "kind = \"proxy.idle_timeout\"\nafter = \"60s\"\n").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["added"][0]["id"], 1);
    assert_eq!(body["added"][0]["kind"], "proxy.idle_timeout");
    assert_eq!(body["added"][0]["layer"], "proxy");
    let (status, body) = call(&s, Method::PUT, "/v1/faults/1", &t, "kind = \"proxy.idle_timeout\"\nafter = \"4m\"\n").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["fault"]["toml"].as_str().unwrap().contains("4m"), "{body}");
    let (status, body) = call(&s, Method::GET, FAULTS_PATH, &t, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["faults"].as_array().unwrap().len(), 1, "{body}");
    let (status, body) = call(&s, Method::DELETE, "/v1/faults/1", &t, "").await;
    assert_eq!((status, body["removed"]["id"].as_u64()), (StatusCode::OK, Some(1)), "{body}");
    assert_eq!(call(&s, Method::DELETE, "/v1/faults/1", &t, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&s, Method::DELETE, "/v1/faults/x", &t, "").await.0, StatusCode::NOT_FOUND);
    let whats: Vec<String> = s.journal.snapshot().into_iter().filter(|e| e.component == scenarios::Component::Control).map(|e| e.what).collect();
    assert_eq!(whats, ["fault_added", "fault_changed", "fault_removed"]);
}

#[tokio::test]
async fn an_invalid_fault_is_refused_with_the_checkers_message_and_nothing_changes() {
    let s = state();
    let t = s.token.as_str().to_string();
    let (status, body) = call(&s, Method::POST, FAULTS_PATH, &t, "kind = \"proxy.idle_timeot\"\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let problem = body["problems"][0].as_str().unwrap();
    assert!(problem.starts_with("request:1:") && problem.contains("proxy.idle_timeot"), "{body}");
    assert_eq!(body["error"].as_str(), Some(problem));
    let (status, body) = call(&s, Method::POST, FAULTS_PATH, &t, "kind = \"pki.expired\"\nca = \"x\"\n").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = call(&s, Method::POST, FAULTS_PATH, &t, "\u{0}\u{fffd}").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(s.faults.list().is_empty());
    assert!(s.journal.snapshot().iter().all(|e| e.component != scenarios::Component::Control));
}
