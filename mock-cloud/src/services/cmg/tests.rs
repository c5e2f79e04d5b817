//! The gateway's router in process (`oneshot`): routes, the token service, MP messaging with
//! good and bad bodies (truncated multipart, a zlib bomb, odd-length UTF-16: issue 15), faults.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use scenarios::{CmgEffect, CmgFault, Window};
use tower::ServiceExt;

use super::*;

fn state_with(faults: Vec<CmgFault>) -> CmgState {
    let mut app = crate::services::test_support::app_state();
    app.cmg = CmgState::new(&app.catalog, &app.world, app.journal.clone(), faults, vec![], app.entra.clone());
    app.cmg
}

async fn call(s: &CmgState, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, Option<String>, Vec<u8>, Option<FaultKind>) {
    let mut req = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path).header("host", "granitefalls.cloudapp.net");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = Router::new().fallback(handle).with_state(s.clone()).oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let reason = res.extensions().get::<hyper::ext::ReasonPhrase>().map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
    let fault = res.extensions().get::<FaultKind>().copied();
    let status = res.status();
    (status, reason, axum::body::to_bytes(res.into_body(), 1 << 22).await.unwrap().to_vec(), fault)
}

const ID: &str = "72186325152220500";

async fn ccm_for(s: &CmgState, token_type: &str, token: &str) -> (StatusCode, serde_json::Value, Option<String>) {
    let body = json!({"TokenType": token_type, "Token": token}).to_string().into_bytes();
    let (status, reason, bytes, _) = call(s, "POST", &format!("/CCM_Proxy_ServerAuth/{ID}/CCM_STS"), &[("content-type", "application/json")], body).await;
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes))), reason)
}

fn registration(request_type: &str) -> Vec<u8> {
    let body = format!(
        "<ClientRegistrationRequest><Data RequestType=\"{request_type}\"><Certificates><Signing Encoding=\"HexBinary\">3082</Signing></Certificates></Data></ClientRegistrationRequest>"
    );
    framing::build("<Msg><SourceHost>PC1</SourceHost><TargetEndpoint>MP_ClientRegistration</TargetEndpoint></Msg>", &body)
}

fn whats(s: &CmgState) -> Vec<String> {
    s.journal.snapshot().into_iter().map(|e| e.what).collect()
}

#[test]
fn any_numeric_id_routes_in_any_case() {
    assert_eq!(route("/CCM_Proxy_MutualAuth/1/SMS_MP/.sms_aut"), Route::Mp { channel: Channel::MutualAuth, rest: "sms_mp/.sms_aut".into() });
    assert_eq!(route("/CCM_PROXY_SERVERAUTH/72057594037937981/CCM_STS"), Route::Mp { channel: Channel::ServerAuth, rest: "ccm_sts".into() });
    assert_eq!(route("/CCM_Proxy_ServerAuth/abc/CCM_STS"), Route::NotFound);
    assert_eq!(route("/CCM_Proxy_ServerAuth/AADAuthInfo"), Route::AadAuthInfo);
    assert_eq!(route("/ccm_proxy_mutualauth/servicemetadata"), Route::ServiceMetadata);
}

#[tokio::test]
async fn register_then_renew_through_the_token_service() {
    let s = state_with(vec![]);
    let (status, _, body, _) = call(&s, "GET", &format!("/CCM_Proxy_MutualAuth/{ID}/SMS_MP/.sms_aut?MPLIST"), &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("<MP Name=\"GRANITEFALLS.CLOUDAPP.NET/CCM_Proxy_MutualAuth/72186325152220500\""));
    let (_, _, cert, _) = call(&s, "GET", &format!("/CCM_Proxy_MutualAuth/{ID}/SMS_MP/.sms_aut?SITESIGNCERT"), &[], vec![]).await;
    let der: Vec<u8> = (0..cert.len()).step_by(2).map(|i| u8::from_str_radix(std::str::from_utf8(&cert[i..i + 2]).unwrap(), 16).unwrap()).collect();
    assert_eq!(der, s.site.signer().unwrap().cert_der, "SITESIGNCERT is the token-signing certificate");
    let bulk = s.mint(Some(60)).unwrap().token;
    let (status, v, _) = ccm_for(&s, "BulkRegistration", &bulk).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let ccm = format!("Bearer {}", v["CcmToken"].as_str().unwrap());
    let path = format!("/CCM_Proxy_ServerAuth/{ID}/ccm_system_tokenauth/request");
    let headers = [("content-type", framing::CONTENT_TYPE), ("authorization", ccm.as_str())];
    let (status, _, reply, _) = call(&s, CCM_POST, &path, &headers, registration("Registration")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply));
    let m = framing::parse(framing::CONTENT_TYPE, &reply).unwrap();
    let sms = framing::xml_value(&m.body, "ClientRegistrationReply", Some("SMSID")).unwrap();
    let client = framing::xml_value(&m.body, "ClientToken", None).unwrap();
    assert!(sms.starts_with("GUID:"));
    // A renewal needs the client's own CCM token, not the pre-auth one.
    let (status, _, _, _) = call(&s, CCM_POST, &path, &headers, registration("TokenRenewal")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, v, _) = ccm_for(&s, "ClientToken", &client).await;
    let own = format!("Bearer {}", v["CcmToken"].as_str().unwrap());
    let (status, _, _, _) =
        call(&s, CCM_POST, &path, &[("content-type", framing::CONTENT_TYPE), ("authorization", own.as_str())], registration("TokenRenewal")).await;
    assert_eq!(status, StatusCode::OK);
    let w = whats(&s);
    for kind in ["bulk_token_minted", "ccm_token_issued", "client_registered", "registration_refused", "client_token_renewed"] {
        assert!(w.iter().any(|x| x == kind), "{kind} in {w:?}");
    }
}

#[tokio::test]
async fn refused_tokens_get_the_gateways_401_and_a_journal_line() {
    let s = state_with(vec![]);
    let m = s.mint(None).unwrap();
    s.set_blocked(&m.record.id.to_ascii_uppercase(), true).unwrap();
    let (status, body, reason) = ccm_for(&s, "BulkRegistration", &m.token).await;
    assert_eq!((status, reason.as_deref()), (StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN)));
    assert!(body.as_str().unwrap().starts_with("Return code: 401, Description: PreAuth token validation failed"), "{body}");
    for garbage in ["not a token", "", super::faults::SEED_SAMPLE] {
        let (status, _, _) = ccm_for(&s, "BulkRegistration", garbage).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{garbage:.20}");
    }
    let (status, _, _, _) = call(&s, "POST", &format!("/CCM_Proxy_ServerAuth/{ID}/CCM_STS"), &[], b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _, _) = call(&s, "GET", &format!("/CCM_Proxy_ServerAuth/{ID}/CCM_STS"), &[], vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "IIS answers a GET of CCM_STS with 404");
    let refused = s.journal.snapshot().into_iter().filter(|e| e.what == "ccm_token_refused").collect::<Vec<_>>();
    assert_eq!(refused.len(), 4);
    assert_eq!(refused[0].detail["reason"], "blocked");
    assert_eq!(refused[0].detail["log"], "CCM_STS.log");
    assert!(s.journal.snapshot().iter().any(|e| e.what == "bad_message"));
}

/// Issue 15: a truncated multipart body, a zlib bomb and a UTF-16 body of odd length get a
/// clear 400 and a journal entry, never a panic.
#[tokio::test]
async fn bad_messages_get_a_clear_400_and_a_journal_entry() {
    let s = state_with(vec![]);
    let bulk = s.mint(None).unwrap().token;
    let (_, v, _) = ccm_for(&s, "BulkRegistration", &bulk).await;
    let ccm = format!("Bearer {}", v["CcmToken"].as_str().unwrap());
    let path = format!("/CCM_Proxy_ServerAuth/{ID}/ccm_system_tokenauth/request");
    let headers = [("content-type", framing::CONTENT_TYPE), ("authorization", ccm.as_str())];
    let good = registration("Registration");
    let bomb = {
        let mut b = format!("--{}\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n", framing::BOUNDARY).into_bytes();
        b.extend_from_slice(&framing::to_utf16le("<Msg/>"));
        b.extend_from_slice(format!("\r\n--{}\r\ncontent-type: application/octet-stream\r\n\r\n", framing::BOUNDARY).as_bytes());
        b.extend_from_slice(&framing::deflate(&vec![b'A'; 32 << 20]));
        b.extend_from_slice(format!("\r\n--{}--", framing::BOUNDARY).as_bytes());
        b
    };
    let odd = {
        let mut b = format!("--{}\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n", framing::BOUNDARY).into_bytes();
        b.extend_from_slice(&[b'<', 0, b'M']);
        b.extend_from_slice(format!("\r\n--{}\r\ncontent-type: application/octet-stream\r\n\r\nzz\r\n--{}--", framing::BOUNDARY, framing::BOUNDARY).as_bytes());
        b
    };
    for (body, why) in [(good[..good.len() / 2].to_vec(), "truncated"), (bomb, "zlib bomb"), (odd, "odd length")] {
        let (status, _, text, _) = call(&s, CCM_POST, &path, &headers, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert!(String::from_utf8_lossy(&text).contains(why), "{why}: {}", String::from_utf8_lossy(&text));
        let last = s.journal.snapshot().into_iter().rev().find(|e| e.what == "bad_message").unwrap();
        assert!(last.detail["text"].as_str().unwrap().contains(why), "{last:?}");
    }
    assert_eq!(call(&s, "POST", &path, &headers, good.clone()).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let (status, reason, _, _) = call(&s, CCM_POST, &format!("/CCM_Proxy_MutualAuth/{ID}/ccm_system_tokenauth/request"), &headers, good.clone()).await;
    assert_eq!((status, reason.as_deref()), (StatusCode::FORBIDDEN, Some("CMGConnector_Clientcertificaterequired")));
    assert_eq!(call(&s, CCM_POST, &path, &[("content-type", framing::CONTENT_TYPE)], good).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn gateway_faults_mark_their_answers() {
    let down = CmgFault { window: Window::default(), effect: CmgEffect::ConnectionPointDown {} };
    let s = state_with(vec![down, CmgFault { window: Window::default(), effect: CmgEffect::ContentMissing {} }]);
    let (status, _, _, fault) = call(&s, "GET", &format!("/CCM_Proxy_MutualAuth/{ID}/SMS_MP/.sms_aut?MPLIST"), &[], vec![]).await;
    assert_eq!((status, fault), (StatusCode::SERVICE_UNAVAILABLE, Some(CmgFaultKind::ConnectionPointDown.into())));
    let (status, _, _, fault) = call(&s, "GET", "/downloadrestservice.svc/getcontentxmlsecure?pid=ABC00002&cid=x", &[], vec![]).await;
    assert_eq!((status, fault), (StatusCode::NOT_FOUND, Some(CmgFaultKind::ContentMissing.into())));
    let (status, _, _, _) = call(&s, "GET", "/CCM_Proxy_MutualAuth/ServiceMetadata", &[], vec![]).await;
    assert_eq!(status, StatusCode::OK, "the gateway itself still answers");
    let (status, _, body, _) = call(&s, "GET", &format!("/CCM_Proxy_ServerAuth/AADAuthInfo?TenantID={}", s.tenant_id.to_ascii_uppercase()), &[], vec![]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&body).contains("https://ConfigMgrService"));
}

#[test]
fn the_tool_refuses_lifetimes_over_its_maximum() {
    let s = state_with(vec![]);
    let e = s.mint(Some(20160)).unwrap_err();
    assert!(e.to_string().contains("10080"), "{e}");
    assert!(matches!(s.mint(Some(0)), Err(MintError::Lifetime { .. })));
    let m = s.mint(Some(10080)).unwrap();
    assert_eq!(m.record.exp - m.record.nbf, 10080 * 60);
    assert_eq!(s.list().len(), 1, "only the token made is remembered");
    assert!(s.set_blocked("00000000-0000-0000-0000-000000000000", true).is_none());
}

/// The Entra path (issue 15 item 5): a token of the tenant's Entra for `https://ConfigMgrService`
/// buys a CCM token of type UDA that registers; another audience, or `cmg.entra_refused`, is a 401.
#[tokio::test]
async fn an_entra_token_for_configmgrservice_registers() {
    let s = state_with(vec![]);
    let now = s.journal.clock().now().unix_timestamp();
    let claims = |aud: &str| json!({"aud": aud, "iss": format!("https://sts.windows.net/{}/", s.tenant_id), "tid": s.tenant_id, "nbf": now, "exp": now + 3600, "upn": "adele@contoso.com"});
    let entra = s.entra.keys.sign(&claims("https://ConfigMgrService")).unwrap();
    let (status, v, _) = ccm_for(&s, "AAD", &entra).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["TokenType"], "UDA");
    let ccm = format!("Bearer {}", v["CcmToken"].as_str().unwrap());
    let path = format!("/CCM_Proxy_ServerAuth/{ID}/ccm_system_tokenauth/request");
    let (status, _, _, _) =
        call(&s, CCM_POST, &path, &[("content-type", framing::CONTENT_TYPE), ("authorization", ccm.as_str())], registration("Registration")).await;
    assert_eq!(status, StatusCode::OK);
    let other = s.entra.keys.sign(&claims("https://graph.microsoft.com")).unwrap();
    assert_eq!(ccm_for(&s, "AAD", &other).await.0, StatusCode::UNAUTHORIZED);
    let refused = state_with(vec![CmgFault { window: Window::default(), effect: CmgEffect::EntraRefused {} }]);
    let entra = refused.entra.keys.sign(&claims("https://ConfigMgrService")).unwrap();
    let (status, body, reason) = ccm_for(&refused, "AAD", &entra).await;
    assert_eq!((status, reason.as_deref()), (StatusCode::UNAUTHORIZED, Some(INVALID_TOKEN)), "{body}");
    let event = refused.journal.snapshot().into_iter().find(|e| e.what == "ccm_token_refused").unwrap();
    assert_eq!(event.fault.as_deref(), Some("cmg.entra_refused"));
}
