//! Router tests of the interactive flows (device code, authorization code with PKCE) and of
//! certificate client assertions, good and bad (issue 12, deliverables 2 and "bad input").

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use scenarios::{EntraApp, EntraSpec, WorldSpec};
use serde_json::json;
use tower::ServiceExt;

use super::tests::{enc, form, send};
use crate::keys::RsaKey;
use crate::services::AppState;
use crate::services::test_support::app_state_for;

const TID: &str = "cdcc5e91-0adf-4a24-82d0-196667f1c081";
const CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const DAEMON: &str = "5a1e2f0c-7d3b-4c55-9a0e-8f6b1d2c3e4f";

fn world(entra: EntraSpec) -> AppState {
    app_state_for(WorldSpec { entra, ..WorldSpec::default() }, time::OffsetDateTime::now_utc(), 1.0, vec![], vec![], vec![])
}

#[tokio::test]
async fn device_code_is_pending_until_the_simulated_user_signs_in() {
    let slow = world(EntraSpec { sign_in_delay: Some(scenarios::SimDuration::from_secs(3600)), ..Default::default() });
    let fast = world(EntraSpec { sign_in_delay: Some(scenarios::SimDuration::ZERO), ..Default::default() });
    for (app, expect) in [(&slow, None), (&fast, Some(()))] {
        let (s, _, v) = send(
            app,
            "POST",
            &format!("/{TID}/oauth2/v2.0/devicecode"),
            Some(form(&[("client_id", CLI), ("scope", "https://graph.microsoft.com/.default offline_access")])),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert!(v["message"].as_str().unwrap().contains(v["user_code"].as_str().unwrap()));
        assert_eq!(v["verification_uri"], "https://microsoft.com/devicelogin");
        let poll =
            form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", CLI), ("device_code", v["device_code"].as_str().unwrap())]);
        let (s, _, v) = send(app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(poll)).await;
        match expect {
            None => {
                assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("authorization_pending")), "{v}");
                assert_eq!(v["error_codes"], json!([70016]));
            }
            Some(()) => {
                assert_eq!(s, StatusCode::OK, "{v}");
                let c = app.entra.keys.verify(v["access_token"].as_str().unwrap(), &["https://graph.microsoft.com"], &[], app.journal.clock().now()).unwrap();
                assert_eq!(c["upn"], app.entra.directory.users[0].upn);
            }
        }
    }
    // Past its lifetime a device code is `expired_token` (a code sealed an hour ago).
    let now = fast.journal.clock().now().unix_timestamp();
    let old = fast.entra.sealer.seal("dc", &json!({"cid": CLI, "scope": "openid", "iat": now - 3600, "exp": now - 2700}));
    let poll = form(&[("grant_type", "urn:ietf:params:oauth:grant-type:device_code"), ("client_id", CLI), ("device_code", &old)]);
    let (_, _, v) = send(&fast, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(poll)).await;
    assert_eq!((v["error"].as_str(), &v["error_codes"]), (Some("expired_token"), &json!([70020])));
}

async fn raw(app: &AppState, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = super::router(app).oneshot(req).await.unwrap();
    let (s, h) = (res.status(), res.headers().clone());
    let b = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (s, h, String::from_utf8_lossy(&b).into_owned())
}

#[tokio::test]
async fn authorization_code_with_pkce_behind_a_plain_sign_in_page() {
    let app = world(EntraSpec::default());
    let (upn, pw) = super::tests::password_of(&app, 0);
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    let q = form(&[
        ("client_id", CLI),
        ("response_type", "code"),
        ("redirect_uri", "http://localhost:8400"),
        ("scope", "https://graph.microsoft.com/.default openid"),
        ("state", "s<1>"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let get = |uri: String| Request::builder().uri(uri).header(header::HOST, "login.microsoftonline.com").body(Body::empty()).unwrap();
    let (s, h, html) = raw(&app, get(format!("/{TID}/oauth2/v2.0/authorize?{q}"))).await;
    assert_eq!((s, h[header::CONTENT_TYPE].to_str().unwrap()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(html.contains("<label for=\"login\">") && html.contains("<label for=\"passwd\">") && html.contains("lang=\"en\""), "{html}");
    assert!(html.contains("value=\"s&lt;1&gt;\""), "reflected values are escaped");
    let post = |body: String| {
        Request::builder()
            .method("POST")
            .uri(format!("/{TID}/oauth2/v2.0/authorize"))
            .header(header::HOST, "login.microsoftonline.com")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, _, html) = raw(&app, post(format!("{q}&login={}&passwd=wrong", enc(&upn)))).await;
    assert!(s == StatusCode::OK && html.contains("role=\"alert\"") && html.contains("AADSTS50126"), "{html}");
    let (s, h, _) = raw(&app, post(format!("{q}&login={}&passwd={}", enc(&upn), enc(&pw)))).await;
    assert_eq!(s, StatusCode::FOUND);
    let location = h[header::LOCATION].to_str().unwrap().to_string();
    assert!(location.starts_with("http://localhost:8400?code=") && location.contains("&state=s%3C1%3E"), "{location}");
    let code: String = location.split("code=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let code = code.replace("%2E", ".").replace("%2D", "-").replace("%5F", "_");
    let redeem = |verifier: &str, ru: &str| {
        form(&[("grant_type", "authorization_code"), ("client_id", CLI), ("code", &code), ("redirect_uri", ru), ("code_verifier", verifier)])
    };
    let (s, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(redeem(verifier, "http://localhost:8400"))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["id_token"].is_string() && v["refresh_token"].is_string());
    let (_, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(redeem("not-the-verifier", "http://localhost:8400"))).await;
    assert_eq!(v["error_codes"], json!([501481]), "{v}");
    let (_, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/v2.0/token"), Some(redeem(verifier, "http://localhost:9999"))).await;
    assert_eq!(v["error_codes"], json!([50011]), "{v}");
    let bad = form(&[("client_id", CLI), ("response_type", "code"), ("redirect_uri", "https://evil.example/cb"), ("scope", "openid")]);
    let (s, h, html) = raw(&app, get(format!("/{TID}/oauth2/v2.0/authorize?{bad}"))).await;
    assert!(s == StatusCode::BAD_REQUEST && html.contains("AADSTS50011") && !h.contains_key(header::LOCATION), "a bad redirect URI is never redirected to");
}

/// A confidential app whose certificate (RSA, as Entra requires) a test holds the key of.
fn cert_world() -> (AppState, RsaKey, String) {
    let key = RsaKey::generate(2048).unwrap();
    let cert = rcgen::CertificateParams::new(vec![]).unwrap().self_signed(&key).unwrap();
    let x5t = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert.der()));
    let app = EntraApp { client_id: DAEMON.into(), name: Some("daemon".into()), secret: None, certificate: Some(cert.pem()), redirect_uris: vec![] };
    (world(EntraSpec { apps: vec![app], ..Default::default() }), key, x5t)
}

fn assertion(key: &RsaKey, x5t: &str, iat: i64, exp: i64) -> String {
    let claims = json!({"aud": format!("https://login.microsoftonline.com/{TID}/oauth2/v2.0/token"), "iss": DAEMON, "sub": DAEMON, "jti": "1", "nbf": iat, "iat": iat, "exp": exp});
    crate::jwt::sign(&claims, &key.jwt_encoding_key().unwrap(), None, Some(x5t)).unwrap()
}

fn cc(assertion: &str) -> String {
    form(&[
        ("grant_type", "client_credentials"),
        ("client_id", DAEMON),
        ("scope", "https://graph.microsoft.com/.default"),
        ("client_assertion_type", super::token::JWT_BEARER),
        ("client_assertion", assertion),
    ])
}

#[tokio::test]
async fn certificate_assertions_are_checked_like_entra_checks_them() {
    let (app, key, x5t) = cert_world();
    let now = app.journal.clock().now().unix_timestamp();
    let t = format!("/{TID}/oauth2/v2.0/token");
    let (s, _, v) = send(&app, "POST", &t, Some(cc(&assertion(&key, &x5t, now, now + 600)))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let c = app.entra.keys.verify(v["access_token"].as_str().unwrap(), &["https://graph.microsoft.com"], &[], app.journal.clock().now()).unwrap();
    assert_eq!(c["appidacr"], "2");
    let good = assertion(&key, &x5t, now, now + 600);
    let (header, rest) = good.split_once('.').unwrap();
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", rest.split('.').next().unwrap());
    let other = RsaKey::generate(2048).unwrap();
    let forged = assertion(&other, &x5t, now, now + 600);
    let tampered = format!(
        "{header}.{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"iss": DAEMON, "sub": DAEMON, "aud": "x/oauth2/", "exp": now + 99999}).to_string()),
        good.rsplit('.').next().unwrap()
    );
    for (a, code) in [
        (unsigned, 50027),
        ("not.a.jwt".to_string(), 50027),
        (forged, 700027),
        (tampered, 700027),
        (assertion(&key, "d3JvbmcgdGh1bWJwcmludA", now, now + 600), 700027),
        (assertion(&key, &x5t, now - 7200, now - 3600), 700024),
        (assertion(&key, &x5t, now, now + 7 * 86400), 700024),
        ("A".repeat(40_000), 50027),
    ] {
        let (s, _, v) = send(&app, "POST", &t, Some(cc(&a))).await;
        assert_eq!((s, &v["error_codes"]), (StatusCode::UNAUTHORIZED, &json!([code])), "{v}");
    }
    let refused = app.journal.snapshot().iter().filter(|e| e.what == "token_refused").count();
    assert_eq!(refused, 8, "each bad assertion is journaled");
}

/// Any assertion text — random, or a real assertion with bytes flipped — is a typed refusal,
/// never a panic (issue 12: bad input; a proptest over the assertion parser).
#[test]
fn any_assertion_is_refused_not_panicked() {
    let (app, key, x5t) = cert_world();
    let client = app.entra.directory.app(DAEMON).unwrap().clone();
    let now = app.journal.clock().now().unix_timestamp();
    let good = assertion(&key, &x5t, now, now + 600);
    // PROPTEST_CASES sets the count (bench/fuzz-parsers.sh runs far more than CI's 256).
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::default());
    runner
        .run(&"[A-Za-z0-9_.=-]{0,300}", |a| {
            prop_assert!(super::assertion::check(&app.entra, &client, &a).is_err());
            Ok(())
        })
        .unwrap();
    runner
        .run(&(0..good.len(), any::<u8>()), |(i, b)| {
            let mut bytes = good.clone().into_bytes();
            prop_assume!(bytes[i] != b);
            bytes[i] = b;
            let flipped = String::from_utf8_lossy(&bytes).into_owned();
            prop_assert!(super::assertion::check(&app.entra, &client, &flipped).is_err(), "a flipped byte at {} passed", i);
            Ok(())
        })
        .unwrap();
}

/// Any body at the token endpoint — random bytes, or a real request with parameters dropped,
/// doubled or garbled — gets Entra's JSON error (or a token), never a panic or a non-JSON
/// answer, and every refusal is journaled (issue 12: bad input).
#[test]
fn any_token_request_body_gets_entras_json() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = world(EntraSpec::default());
    let real = form(&[
        ("grant_type", "password"),
        ("client_id", CLI),
        ("scope", "openid https://graph.microsoft.com/.default"),
        ("username", "adelev@contoso.com"),
        ("password", "x"),
    ]);
    let pieces: Vec<String> = real.split('&').map(str::to_string).collect();
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600).boxed(),
        proptest::collection::vec(proptest::sample::select(pieces.clone()), 0..8).prop_map(|p| p.join("&").into_bytes()).boxed(),
        ("[a-z_]{1,12}", "[ -~]{0,40}").prop_map(move |(k, v)| format!("{real}&{k}={v}").into_bytes()).boxed(),
    ];
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = refused.clone();
    app.journal.subscribe(move |e| {
        if e.what == "token_refused" {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::default());
    runner
        .run(&strategy, |body| {
            let before = refused.load(std::sync::atomic::Ordering::SeqCst);
            let req = Request::builder()
                .method("POST")
                .uri(format!("/{TID}/oauth2/v2.0/token"))
                .header(header::HOST, "login.microsoftonline.com")
                .body(Body::from(body))
                .unwrap();
            let (status, _, text) = rt.block_on(raw(&app, req));
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {text}")))?;
            if status != StatusCode::OK {
                prop_assert!(v["error_codes"][0].is_u64() && v["error_description"].as_str().is_some_and(|d| d.starts_with("AADSTS")), "{}", v);
                prop_assert!(refused.load(std::sync::atomic::Ordering::SeqCst) > before, "a refusal is journaled");
            }
            Ok(())
        })
        .unwrap();
}

/// Issue 12 (found with MSAL Python 1.39): MSAL pads the `x5t` it sends, signs PS256 naming
/// `x5t#S256` when it has the certificate, and writes `exp`/`nbf` as floats; Entra accepts all
/// three, and so must the world (they were refused with AADSTS700027 and AADSTS50027).
#[tokio::test]
async fn assertions_as_msal_python_writes_them_are_accepted() {
    let (app, key, x5t) = cert_world();
    let now = app.journal.clock().now().unix_timestamp();
    let t = format!("/{TID}/oauth2/v2.0/token");
    let x5t_s256 = app.entra.directory.app(DAEMON).unwrap().certificate.as_ref().unwrap().x5t_s256.clone();
    let claims = json!({"aud": format!("https://login.microsoftonline.com/{TID}/oauth2/v2.0/token"), "iss": DAEMON, "sub": DAEMON, "jti": "1", "nbf": now as f64 + 0.25, "iat": now as f64, "exp": now as f64 + 600.5});
    let mut padded = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    padded.x5t = Some(format!("{x5t}="));
    let mut pss = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
    pss.x5t_s256 = Some(format!("{x5t_s256}="));
    for header in [padded, pss] {
        let a = jsonwebtoken::encode(&header, &claims, &key.jwt_encoding_key().unwrap()).unwrap();
        let (s, _, v) = send(&app, "POST", &t, Some(cc(&a))).await;
        assert_eq!(s, StatusCode::OK, "{:?}: {v}", header.alg);
    }
}

/// The v1 device-code flow (`/oauth2/devicecode` with `resource=`, `verification_url`, polled
/// with `grant_type=device_code` and `code=`), as ADAL-era clients speak it.
#[tokio::test]
async fn the_v1_device_code_flow_speaks_adals_names() {
    let app = world(EntraSpec { sign_in_delay: Some(scenarios::SimDuration::ZERO), ..Default::default() });
    let (s, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/devicecode"), Some(form(&[("client_id", CLI), ("resource", "https://ConfigMgrService")]))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["verification_url"].is_string() && v.get("verification_uri").is_none());
    let poll =
        form(&[("grant_type", "device_code"), ("client_id", CLI), ("code", v["device_code"].as_str().unwrap()), ("resource", "https://ConfigMgrService")]);
    let (s, _, v) = send(&app, "POST", &format!("/{TID}/oauth2/token"), Some(poll)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["resource"].as_str(), v["expires_in"].as_str()), (Some("https://ConfigMgrService"), Some("3600")));
    app.entra
        .keys
        .verify(v["access_token"].as_str().unwrap(), &["https://ConfigMgrService"], &[&format!("https://sts.windows.net/{TID}/")], app.journal.clock().now())
        .unwrap();
}
