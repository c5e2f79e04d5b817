//! Router tests of the authority, in process (tower `oneshot`, no sockets): the discovery
//! documents, the JWKS, the grants the enrollment, DRS and CMG services' clients rely on, and
//! Entra's error shape for bad input (issue 12).

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::services::AppState;
use crate::services::test_support::{app_state, app_state_for};

const HOST: &str = "login.microsoftonline.com";
const TID: &str = "cdcc5e91-0adf-4a24-82d0-196667f1c081";
const BROKER: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";
const REPORTING: &str = "7f3c1c8e-9a55-4a8b-b3f4-5b0e3c2d1a90";
const REPORTING_SECRET: &str = "memsim~Contoso.Reporting.Secret-2026";

pub(super) async fn send(app: &AppState, method: &str, uri: &str, body: Option<String>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut req = Request::builder().method(method).uri(uri).header(header::HOST, HOST);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).unwrap();
    let res = super::router(app).oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let v = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, headers, v)
}

pub(super) fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

pub(super) fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

pub(super) fn password_of(app: &AppState, i: usize) -> (String, String) {
    let u = &app.entra.directory.users[i];
    (u.upn.clone(), u.password.clone())
}

fn now(app: &AppState) -> time::OffsetDateTime {
    app.journal.clock().now()
}

fn assert_aadsts(v: &Value, code: u32) {
    assert_eq!(v["error_codes"], serde_json::json!([code]), "{v}");
    let d = v["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    for k in ["error", "timestamp", "trace_id", "correlation_id"] {
        assert!(v[k].is_string(), "{k} in {v}");
    }
}

#[tokio::test]
async fn openid_configuration_names_the_tenant_id_for_an_id_a_domain_and_common() {
    let app = app_state();
    for t in [TID, "contoso.com", "contoso.onmicrosoft.com"] {
        let (s, _, v) = send(&app, "GET", &format!("/{t}/v2.0/.well-known/openid-configuration"), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["token_endpoint"], format!("https://{HOST}/{TID}/oauth2/v2.0/token"));
        assert_eq!(v["issuer"], format!("https://{HOST}/{TID}/v2.0"));
        assert_eq!(v["device_authorization_endpoint"], format!("https://{HOST}/{TID}/oauth2/v2.0/devicecode"));
    }
    let (_, _, v) = send(&app, "GET", "/common/v2.0/.well-known/openid-configuration", None).await;
    assert_eq!(v["issuer"], format!("https://{HOST}/{{tenantid}}/v2.0"));
    assert_eq!(v["token_endpoint"], format!("https://{HOST}/common/oauth2/v2.0/token"));
    let (_, _, v) = send(&app, "GET", &format!("/{TID}/.well-known/openid-configuration"), None).await;
    assert_eq!(v["issuer"], format!("https://sts.windows.net/{TID}/"));
    assert_eq!(v["token_endpoint"], format!("https://{HOST}/{TID}/oauth2/token"));
    let (s, _, v) = send(&app, "GET", "/fabrikam.com/v2.0/.well-known/openid-configuration", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "invalid_tenant");
    assert_aadsts(&v, 90002);
}

#[tokio::test]
async fn instance_discovery_lists_the_aliases_and_refuses_foreign_instances() {
    let app = app_state();
    let uri = format!("/common/discovery/instance?api-version=1.1&authorization_endpoint=https://{HOST}/{TID}/oauth2/v2.0/authorize");
    let (s, _, v) = send(&app, "GET", &uri, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["tenant_discovery_endpoint"], format!("https://{HOST}/{TID}/v2.0/.well-known/openid-configuration"));
    assert!(v["metadata"][0]["aliases"].as_array().unwrap().iter().any(|a| a == "login.windows.net"));
    let (s, _, v) = send(&app, "GET", "/common/discovery/instance?api-version=1.0&authorization_endpoint=https://evil.example/x/oauth2/authorize", None).await;
    assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_instance")));
    let (_, _, v) = send(&app, "GET", "/common/userrealm/adelev@contoso.com?api-version=1.0", None).await;
    assert_eq!(v["account_type"], "Managed");
}

/// The milestone contract: the broker's password grant for the enrollment, DRS and CMG
/// resources, `aud` the resource as asked, signed by `AppState.entra.keys`, v2 and v1.
#[tokio::test]
async fn password_grant_gives_tokens_for_the_enrollment_drs_and_cmg_resources() {
    let app = app_state();
    let (upn, pw) = password_of(&app, 0);
    for (scope, aud) in [
        ("https://enrollment.manage.microsoft.com//.default", "https://enrollment.manage.microsoft.com/"),
        ("01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9/.default", "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"),
        ("https://ConfigMgrService/.default", "https://ConfigMgrService"),
    ] {
        let body = form(&[
            ("grant_type", "password"),
            ("client_id", BROKER),
            ("scope", &format!("openid profile offline_access {scope}")),
            ("username", &upn),
            ("password", &pw),
            ("client_info", "1"),
        ]);
        let (s, h, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(h[header::CONTENT_TYPE], "application/json; charset=utf-8");
        for k in ["token_type", "expires_in", "ext_expires_in", "refresh_token", "id_token", "client_info", "access_token"] {
            assert!(!v[k].is_null(), "{k} missing: {v}");
        }
        let claims = app.entra.keys.verify(v["access_token"].as_str().unwrap(), &[aud], &[&format!("https://sts.windows.net/{TID}/")], now(&app)).unwrap();
        assert_eq!((claims["upn"].as_str(), claims["appid"].as_str(), claims["tid"].as_str()), (Some(upn.as_str()), Some(BROKER), Some(TID)));
        let id = app.entra.keys.verify(v["id_token"].as_str().unwrap(), &[BROKER], &[&format!("https://{HOST}/{TID}/v2.0")], now(&app)).unwrap();
        for k in ["name", "oid", "tid", "preferred_username"] {
            assert!(id[k].is_string(), "{k}");
        }
    }
    let body = form(&[
        ("grant_type", "password"),
        ("client_id", BROKER),
        ("resource", "https://enrollment.manage.microsoft.com/"),
        ("username", &upn),
        ("password", &pw),
    ]);
    let (s, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/token"), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["expires_in"], "3600", "the v1 endpoint writes numbers as strings");
    assert_eq!(v["resource"], "https://enrollment.manage.microsoft.com/");
    app.entra.keys.verify(v["access_token"].as_str().unwrap(), &["https://enrollment.manage.microsoft.com/"], &[], now(&app)).unwrap();
}

#[tokio::test]
async fn refresh_gives_a_token_for_another_resource_and_refuses_garbage() {
    let app = app_state();
    let (upn, pw) = password_of(&app, 0);
    let body = form(&[
        ("grant_type", "password"),
        ("client_id", BROKER),
        ("scope", "https://enrollment.manage.microsoft.com//.default offline_access"),
        ("username", &upn),
        ("password", &pw),
    ]);
    let (_, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(body)).await;
    let rt = v["refresh_token"].as_str().unwrap().to_string();
    let body =
        form(&[("grant_type", "refresh_token"), ("client_id", BROKER), ("scope", "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9/.default"), ("refresh_token", &rt)]);
    let (s, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let claims = app.entra.keys.verify(v["access_token"].as_str().unwrap(), &["01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"], &[], now(&app)).unwrap();
    assert_eq!(claims["upn"], upn);
    let body = form(&[("grant_type", "refresh_token"), ("client_id", BROKER), ("scope", "openid"), ("refresh_token", &format!("{rt}x"))]);
    let (s, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(body)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_aadsts(&v, 9002313);
}

#[tokio::test]
async fn client_credentials_with_a_secret_give_an_app_token_with_roles() {
    let app = app_state();
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", REPORTING),
        ("client_secret", REPORTING_SECRET),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    let (s, _, v) = send(&app, "POST", "/contoso.com/oauth2/v2.0/token", Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("refresh_token").is_none());
    let c = app.entra.keys.verify(v["access_token"].as_str().unwrap(), &["https://graph.microsoft.com"], &[], now(&app)).unwrap();
    assert_eq!((c["idtyp"].as_str(), c["appidacr"].as_str()), (Some("app"), Some("1")));
    assert!(c["roles"].as_array().is_some_and(|r| !r.is_empty()));
}

#[tokio::test]
async fn refusals_speak_aadsts() {
    let app = app_state();
    let (upn, _) = password_of(&app, 0);
    let t = format!("/{TID}/oauth2/v2.0/token");
    for (body, status, code) in [
        (form(&[("grant_type", "password"), ("client_id", BROKER), ("scope", "openid"), ("username", &upn), ("password", "wrong")]), 400, 50126),
        (form(&[("grant_type", "password"), ("client_id", BROKER), ("scope", "openid"), ("username", "nobody@contoso.com"), ("password", "x")]), 400, 50034),
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", REPORTING),
                ("client_secret", "nope"),
                ("scope", "https://graph.microsoft.com/.default"),
            ]),
            401,
            7000215,
        ),
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "11111111-2222-3333-4444-555555555555"),
                ("client_secret", "x"),
                ("scope", "https://graph.microsoft.com/.default"),
            ]),
            400,
            700016,
        ),
        (
            form(&[
                ("grant_type", "client_credentials"),
                ("client_id", REPORTING),
                ("client_secret", REPORTING_SECRET),
                ("scope", "https://nothing.example/.default"),
            ]),
            400,
            500011,
        ),
        (form(&[("grant_type", "magic"), ("client_id", BROKER)]), 400, 70003),
        (form(&[("client_id", BROKER)]), 400, 900144),
        ("grant_type=password&grant_type=password".to_string(), 400, 90014),
        ("a=%ff%fe".to_string(), 400, 90014),
        ("x".repeat(super::form::MAX_BODY + 1), 400, 90014),
    ] {
        let (s, _, v) = send(&app, "POST", &t, Some(body.chars().take(80).collect::<String>() + &body.chars().skip(80).collect::<String>())).await;
        assert_eq!(s.as_u16(), status, "{v}");
        assert_aadsts(&v, code);
    }
    let (s, h, v) = send(&app, "GET", &t, None).await;
    assert_eq!((s, h[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::METHOD_NOT_ALLOWED, "application/json; charset=utf-8"));
    assert_aadsts(&v, 900561);
    let (s, _, v) = send(&app, "GET", "/nothing/here/at/all", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_aadsts(&v, 90100);
    let refused = app.journal.snapshot().iter().filter(|e| e.what == "token_refused").count();
    assert!(refused >= 12, "every refusal is journaled ({refused})");
}

#[tokio::test]
async fn every_error_row_the_service_names_is_in_the_data() {
    let app = app_state();
    let src =
        [include_str!("token.rs"), include_str!("grants.rs"), include_str!("discovery.rs"), include_str!("assertion.rs"), include_str!("error.rs")].concat();
    let mut names: Vec<&str> = src.split("AadError::new(\"").skip(1).filter_map(|s| s.split('"').next()).collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 15);
    for n in names {
        assert!(app.entra.data.error(n).is_some(), "entra.toml has no error `{n}`");
    }
    let _ = app_state_for;
}

/// `client_secret_basic`, which the OpenID configuration advertises: the credentials in an
/// HTTP Basic header (RFC 6749 §2.3.1), right and wrong.
#[tokio::test]
async fn client_secret_basic_authenticates_like_the_form() {
    use base64::Engine as _;
    let app = app_state();
    for (secret, status) in [(REPORTING_SECRET, StatusCode::OK), ("wrong", StatusCode::UNAUTHORIZED)] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{REPORTING}:{}", enc(secret)));
        let req = Request::builder()
            .method("POST")
            .uri(format!("/{TID}/oauth2/v2.0/token"))
            .header(header::HOST, HOST)
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from(form(&[("grant_type", "client_credentials"), ("scope", "https://graph.microsoft.com/.default")])))
            .unwrap();
        let res = super::router(&app).oneshot(req).await.unwrap();
        assert_eq!(res.status(), status);
    }
}
