//! Router tests of the `entra.*` faults: each refuses with its AADSTS code and journals the
//! fault, only for the requests its target selects and only inside its window; key rollover,
//! clock skew, throttling and slowness (issue 12, deliverable 3).

use axum::http::{StatusCode, header};
use scenarios::{CaRequirement, EntraEffect, EntraFault, EntraTarget, SimDuration, Window, WorldSpec};
use serde_json::{Value, json};

use super::tests::{form, password_of, send};
use crate::services::AppState;
use crate::services::test_support::app_state_for;

const TID: &str = "cdcc5e91-0adf-4a24-82d0-196667f1c081";
const BROKER: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";
const REPORTING: &str = "7f3c1c8e-9a55-4a8b-b3f4-5b0e3c2d1a90";
const SECRET: &str = "memsim~Contoso.Reporting.Secret-2026";
const ENROLL: &str = "https://enrollment.manage.microsoft.com/";

fn with(faults: Vec<EntraFault>, scale: f64) -> AppState {
    app_state_for(WorldSpec::default(), time::OffsetDateTime::now_utc(), scale, vec![], vec![], faults)
}

async fn ropc(app: &AppState, user: usize, scope: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let (upn, pw) = password_of(app, user);
    let body = form(&[("grant_type", "password"), ("client_id", BROKER), ("scope", scope), ("username", &upn), ("password", &pw)]);
    send(app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(body)).await
}

async fn client_credentials(app: &AppState) -> (StatusCode, Value) {
    let body =
        form(&[("grant_type", "client_credentials"), ("client_id", REPORTING), ("client_secret", SECRET), ("scope", "https://graph.microsoft.com/.default")]);
    let (s, _, v) = send(app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(body)).await;
    (s, v)
}

fn fault_journaled(app: &AppState, kind: &str) -> bool {
    app.journal.snapshot().iter().any(|e| e.fault.as_deref() == Some(kind))
}

#[tokio::test]
async fn each_refusal_fault_answers_its_aadsts_code_and_is_journaled() {
    let enroll = format!("{ENROLL}/.default");
    for (effect, user_grant, status, code) in [
        (EntraEffect::BadPassword {}, true, 400, 50126),
        (EntraEffect::MfaRequired {}, true, 400, 50076),
        (EntraEffect::ConditionalAccess { require: CaRequirement::Block }, true, 400, 53003),
        (EntraEffect::ConditionalAccess { require: CaRequirement::CompliantDevice }, true, 400, 53000),
        (EntraEffect::NotLicensed {}, true, 400, 50105),
        (EntraEffect::TenantNotFound {}, true, 400, 90002),
        (EntraEffect::UnknownClient {}, false, 400, 700016),
        (EntraEffect::BadSecret {}, false, 401, 7000215),
    ] {
        let f = EntraFault::new(effect.clone());
        let kind = f.kind().name();
        let app = with(vec![f], 1.0);
        let (s, v) = if user_grant {
            let (s, _, v) = ropc(&app, 0, &enroll).await;
            (s, v)
        } else {
            client_credentials(&app).await
        };
        assert_eq!((s.as_u16(), &v["error_codes"]), (status, &json!([code])), "{kind}: {v}");
        assert!(fault_journaled(&app, kind), "{kind} journaled");
    }
    // MFA: `suberror` as MSAL reads it.
    let app = with(vec![EntraFault::new(EntraEffect::MfaRequired {})], 1.0);
    assert_eq!(ropc(&app, 0, &enroll).await.2["suberror"], "basic_action");
}

#[tokio::test]
async fn targets_and_windows_select_which_requests_a_fault_refuses() {
    // MFA for the enrollment resource only: Graph still works.
    let mfa = EntraFault { target: EntraTarget { resources: vec![ENROLL.into()], ..Default::default() }, ..EntraFault::new(EntraEffect::MfaRequired {}) };
    let app = with(vec![mfa], 1.0);
    assert_eq!(ropc(&app, 0, "https://enrollment.manage.microsoft.com//.default").await.2["error_codes"], json!([50076]));
    assert_eq!(ropc(&app, 0, "https://graph.microsoft.com/.default").await.0, StatusCode::OK);
    // One user refused, another not.
    let app = with(
        vec![EntraFault {
            target: EntraTarget { users: vec!["MeganB@contoso.com".into()], ..Default::default() },
            ..EntraFault::new(EntraEffect::BadPassword {})
        }],
        1.0,
    );
    assert_eq!(ropc(&app, 0, "openid").await.0, StatusCode::OK);
    assert_eq!(ropc(&app, 1, "openid").await.2["error_codes"], json!([50126]));
    // A window that has not opened yet.
    let later = EntraFault { window: Window { after: SimDuration::from_days(1), until: None }, ..EntraFault::new(EntraEffect::BadPassword {}) };
    assert_eq!(ropc(&with(vec![later], 1.0), 0, "openid").await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_data_files_unlicensed_user_cannot_get_intune_tokens() {
    let app = with(vec![], 1.0);
    let unlicensed = app.entra.directory.users.iter().position(|u| !u.intune_licence).expect("entra.toml has an unlicensed user");
    assert_eq!(ropc(&app, unlicensed, "https://enrollment.manage.microsoft.com//.default").await.2["error_codes"], json!([50105]));
    assert_eq!(ropc(&app, unlicensed, "https://graph.microsoft.com/.default").await.0, StatusCode::OK);
}

#[tokio::test]
async fn refresh_tokens_expire_under_the_fault() {
    let app = with(vec![EntraFault::new(EntraEffect::RefreshTokenExpired {})], 1.0);
    let (_, _, v) = ropc(&app, 0, "openid offline_access").await;
    let body = form(&[("grant_type", "refresh_token"), ("client_id", BROKER), ("scope", "openid"), ("refresh_token", v["refresh_token"].as_str().unwrap())]);
    let (s, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(body)).await;
    assert_eq!((s, &v["error_codes"]), (StatusCode::BAD_REQUEST, &json!([70008])), "{v}");
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after() {
    let app = with(vec![EntraFault::new(EntraEffect::Throttled { retry_after: SimDuration::from_secs(30) })], 1.0);
    let (s, h, v) = ropc(&app, 0, "openid").await;
    assert_eq!((s, h[header::RETRY_AFTER].to_str().unwrap()), (StatusCode::TOO_MANY_REQUESTS, "30"));
    assert_eq!(v["error_codes"], json!([90055]));
}

fn kid(token: &str) -> String {
    crate::jwt::header(token).unwrap().kid.unwrap()
}

async fn jwks_kids(app: &AppState) -> Vec<String> {
    let (_, _, v) = send(app, "GET", &format!("/{TID}/discovery/v2.0/keys"), None).await;
    v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn key_rollover_signs_with_a_key_the_jwks_lists_only_afterwards() {
    let app = with(vec![EntraFault::new(EntraEffect::KeyRollover {})], 1.0);
    let t = client_credentials(&app).await.1;
    let signed = kid(t["access_token"].as_str().unwrap());
    assert!(!jwks_kids(&app).await.contains(&signed), "rolling: the JWKS does not list the new key yet");
    assert!(fault_journaled(&app, "entra.key_rollover"));
    // A rollover whose window is over (a million simulated seconds per wall second: its
    // one-second window closed within a microsecond of the world's start).
    let over =
        EntraFault { window: Window { after: SimDuration::ZERO, until: Some(SimDuration::from_secs(1)) }, ..EntraFault::new(EntraEffect::KeyRollover {}) };
    let app = with(vec![over], 1_000_000.0);
    let t = client_credentials(&app).await.1;
    let kids = jwks_kids(&app).await;
    assert_eq!(kids.len(), 2, "rolled: both keys listed");
    assert!(kids.contains(&kid(t["access_token"].as_str().unwrap())));
}

#[tokio::test]
async fn clock_skew_stamps_tokens_with_the_authoritys_clock() {
    let app = with(vec![EntraFault::new(EntraEffect::ClockSkew { ahead: Some(SimDuration::from_secs(7200)), behind: None })], 1.0);
    let t = client_credentials(&app).await.1;
    let claims = crate::jwt::claims_unverified(t["access_token"].as_str().unwrap()).unwrap();
    let now = app.journal.clock().now().unix_timestamp();
    assert!(claims["nbf"].as_i64().unwrap() >= now + 7100, "nbf two hours ahead: {claims}");
    assert!(fault_journaled(&app, "entra.clock_skew"));
}

#[tokio::test]
async fn a_slow_token_endpoint_still_answers() {
    let app = with(vec![EntraFault::new(EntraEffect::Slow { delay: SimDuration::from_secs(20) })], 1_000_000.0);
    assert_eq!(client_credentials(&app).await.0, StatusCode::OK);
    assert!(fault_journaled(&app, "entra.slow"));
}

/// Issue 12 (found with MSAL Python): a fault targeted at a resource must select requests whose
/// scope also carries the OIDC scopes MSAL adds (`openid profile offline_access`); the token
/// endpoint's front (throttling) compared the whole scope string and let them through.
#[tokio::test]
async fn front_faults_select_by_resource_whatever_oidc_scopes_ride_along() {
    let throttle = EntraFault {
        target: EntraTarget { resources: vec!["https://api.manage.microsoft.com".into()], ..Default::default() },
        ..EntraFault::new(EntraEffect::Throttled { retry_after: SimDuration::from_secs(5) })
    };
    let app = with(vec![throttle], 1.0);
    assert_eq!(ropc(&app, 0, "openid profile offline_access https://api.manage.microsoft.com/.default").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(ropc(&app, 0, "openid profile offline_access https://graph.microsoft.com/.default").await.0, StatusCode::OK);
}
