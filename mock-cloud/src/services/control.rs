//! The world's control endpoint: revoke or restore a certificate of a running world, and list
//! its certificates (PEM included, so a test can hand them to `openssl ocsp`). It is how
//! `memsim revoke` and `memsim restore` break a world while a trainee watches.
//!
//! It is not an emulated service and no Host reaches it: it listens on a loopback listener of
//! its own (the harness binds `127.0.0.1:0`), which the world's proxy never connects to, and
//! every request must carry `Authorization: Bearer <token>` with the world's random token (the
//! harness writes it to the state directory as `control.token`, mode 0600). Revoking changes
//! the CRL and the OCSP answers at once (`pki/revocation.rs`) and is journaled.

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use scenarios::{Component, Journal, NewEvent, RevocationReason};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::pki::{CertRef, Pki, serial_hex};

pub const CERTIFICATES_PATH: &str = "/v1/certificates";
pub const CERTIFICATE_PATH: &str = "/v1/certificates/{target}";
pub const REVOKE_PATH: &str = "/v1/revoke";
pub const RESTORE_PATH: &str = "/v1/restore";
/// The world's journal after a sequence number (issue 17: `memsim lab check` judges its run by it).
pub const JOURNAL_PATH: &str = "/v1/journal";
const MAX_BODY: usize = 16 * 1024;

/// A random bearer token (32 bytes from the OS, hex).
#[derive(Clone)]
pub struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    pub fn generate() -> Result<Token, ring::error::Unspecified> {
        let bytes: [u8; 32] = ring::rand::generate(&ring::rand::SystemRandom::new())?.expose();
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>().into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compare without leaking where the first difference lies.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

#[derive(Debug, Clone)]
pub struct ControlState {
    pub pki: Arc<Pki>,
    pub journal: Journal,
    pub token: Token,
    /// The site's bulk registration tokens (`services::cmg::console`).
    pub cmg: crate::services::cmg::CmgState,
    /// The world's faults (`services::control_faults`, issue 17).
    pub faults: scenarios::FaultStore,
}

pub fn router(state: ControlState) -> Router {
    Router::new()
        .route(CERTIFICATES_PATH, get(list))
        .route(CERTIFICATE_PATH, get(one))
        .route(REVOKE_PATH, post(revoke))
        .route(RESTORE_PATH, post(restore))
        .route(JOURNAL_PATH, get(journal))
        .merge(crate::services::cmg::console::router())
        .merge(crate::services::control_faults::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// Serve the control router on `listener` until the task is dropped, with the fronts' limits
/// (issue 11: 50 slowloris connections held the endpoint for 45 s): the header and idle timeout,
/// the connection cap, and panics journaled as the world's failure.
pub async fn serve(listener: tokio::net::TcpListener, state: ControlState) {
    let journal = state.journal.clone();
    let svc = hyper_util::service::TowerToHyperService::new(router(state));
    let front = crate::front::Listener { name: "the control endpoint", scheme: crate::front::Scheme::Http };
    crate::front::accept_loop(listener, journal, front, move |tcp, _peer| {
        let svc = svc.clone();
        async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(crate::front::HANDSHAKE_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .await;
        }
    })
    .await
}

async fn authorize(State(state): State<ControlState>, req: Request, next: axum::middleware::Next) -> Response {
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|t| state.token.matches(t.trim())) {
        return next.run(req).await;
    }
    let mut res = reply(StatusCode::UNAUTHORIZED, json!({"error": "missing or wrong bearer token (see control.token in the world's state directory)"}));
    res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"memsim control\""));
    res
}

pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    let mut res = (status, format!("{body:#}\n")).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

pub fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"))
}

/// One certificate as JSON: names, serial, issuer, revocation state, PEM and revocation URLs.
fn describe(pki: &Pki, c: &CertRef) -> Value {
    let issuer = c.issuer.map(|i| &pki.cas()[i]);
    let revoked = pki.revocations().into_iter().find(|r| Some(r.issuer) == c.issuer && r.serial == c.serial);
    json!({
        "subject": c.subject,
        "serial": serial_hex(c.serial.as_ref()),
        "issuer": issuer.map(|i| i.spec.id.clone()),
        "revoked": revoked.map(|r| json!({"at": r.at.unix_timestamp(), "reason": r.reason})),
        "pem": pem(&c.der),
        "issuer_pem": issuer.map(|i| i.pem.clone()),
        "ocsp_url": issuer.map(|i| i.spec.ocsp.clone()),
        "crl_urls": issuer.map(|i| i.spec.crl.clone()),
    })
}

async fn list(State(state): State<ControlState>) -> Response {
    let all: Vec<Value> = state.pki.certificates().iter().map(|c| describe(&state.pki, c)).collect();
    reply(StatusCode::OK, json!({ "certificates": all }))
}

fn not_found(target: &str) -> Response {
    reply(StatusCode::NOT_FOUND, json!({"error": format!("no certificate for `{target}`: give an emulated host name or a serial number in hex")}))
}

async fn one(State(state): State<ControlState>, Path(target): Path<String>) -> Response {
    match state.pki.find(&target) {
        Some(c) => reply(StatusCode::OK, describe(&state.pki, &c)),
        None => not_found(&target),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct After {
    after: Option<u64>,
}

/// `GET /v1/journal?after=N`: `{"last": SEQ, "events": [...]}`, the events in memory after
/// `N` (none without `after`: then `last` alone, where the next call starts), once the work in
/// flight has settled (bounded).
async fn journal(State(state): State<ControlState>, query: axum::extract::Query<After>) -> Response {
    let journal = state.journal.clone();
    let _ = tokio::task::spawn_blocking(move || journal.wait_settled(std::time::Duration::from_secs(2))).await;
    let all = state.journal.snapshot();
    let last = all.last().map_or(0, |e| e.seq);
    let events: Vec<&scenarios::Event> = match query.after {
        Some(n) => all.iter().filter(|e| e.seq > n).collect(),
        None => Vec::new(),
    };
    reply(StatusCode::OK, json!({"last": last, "events": events}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    target: String,
    #[serde(default)]
    reason: Option<RevocationReason>,
}

async fn change(req: Request) -> Result<Change, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY).await.map_err(|_| reply(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": "body too large"})))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| reply(StatusCode::BAD_REQUEST, json!({"error": format!("expected {{\"target\": HOST|SERIAL, \"reason\": REASON}}: {e}")})))
}

async fn revoke(State(state): State<ControlState>, req: Request) -> Response {
    let change = match change(req).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let Some(cert) = state.pki.find(&change.target) else { return not_found(&change.target) };
    let reason = change.reason.unwrap_or_default();
    match state.pki.revoke(&cert, reason, state.journal.clock().now()) {
        Ok(r) => {
            let issuer = &state.pki.cas()[r.issuer].spec.id;
            state.journal.record(
                NewEvent::new(Component::Pki, "revoked")
                    .host(cert.subject.clone())
                    .detail("serial", serial_hex(r.serial.as_ref()))
                    .detail("reason", serde_json::to_value(r.reason).unwrap_or_default())
                    .detail("ca", issuer.clone())
                    .detail("by", "control"),
            );
            reply(StatusCode::OK, describe(&state.pki, &cert))
        }
        Err(e) => reply(StatusCode::CONFLICT, json!({"error": e.to_string()})),
    }
}

async fn restore(State(state): State<ControlState>, req: Request) -> Response {
    let change = match change(req).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let Some(cert) = state.pki.find(&change.target) else { return not_found(&change.target) };
    let removed = state.pki.restore(&cert);
    state.journal.record(
        NewEvent::new(Component::Pki, "restored")
            .host(cert.subject.clone())
            .detail("serial", serial_hex(cert.serial.as_ref()))
            .detail("removed", removed.len())
            .detail("by", "control"),
    );
    reply(StatusCode::OK, describe(&state.pki, &cert))
}

#[cfg(test)]
pub(crate) mod tests {
    use axum::body::Body;
    use axum::http::Method;
    use tower::ServiceExt;

    use super::*;

    pub(crate) fn state() -> ControlState {
        let r = crate::services::revocation::test_state(vec![], vec![]);
        let cmg = crate::services::test_support::app_state().cmg;
        let faults = scenarios::FaultStore::fixed(vec![], r.journal.clone());
        ControlState { pki: r.pki, journal: r.journal, token: Token::generate().unwrap(), cmg, faults }
    }

    pub(crate) async fn call(s: &ControlState, method: Method, path: &str, token: &str, body: &str) -> (StatusCode, Value) {
        let req = axum::http::Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = router(s.clone()).oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 22).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    // issue 11: the control endpoint held slow and idle clients for ever; it now has the fronts'
    // header timeout (on the paused clock, which runs ahead whenever the runtime waits).
    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_finishes_its_head_is_cut_off() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, state()));
        for first in [&b"GET /v1/certificates HTTP/1.1\r\nHost: x\r\n"[..], b""] {
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(first).await.unwrap();
            let started = tokio::time::Instant::now();
            let mut buf = Vec::new();
            let read = tokio::time::timeout(crate::front::HANDSHAKE_TIMEOUT * 6, tcp.read_to_end(&mut buf)).await;
            assert!(read.is_ok(), "still held after {:?} ({first:?})", started.elapsed());
            assert!(started.elapsed() >= crate::front::HANDSHAKE_TIMEOUT, "cut at the timeout, not before");
        }
        server.abort();
    }

    #[tokio::test]
    async fn every_route_wants_the_token() {
        let s = state();
        use crate::services::control_faults::{FAULT_PATH, FAULTS_PATH};
        let one = FAULT_PATH.replace("{id}", "1");
        for (m, p) in [
            (Method::GET, CERTIFICATES_PATH),
            (Method::POST, REVOKE_PATH),
            (Method::POST, RESTORE_PATH),
            (Method::GET, FAULTS_PATH),
            (Method::POST, FAULTS_PATH),
            (Method::PUT, one.as_str()),
            (Method::DELETE, one.as_str()),
        ] {
            assert_eq!(call(&s, m, p, "nope", "").await.0, StatusCode::UNAUTHORIZED, "{p}");
        }
    }

    #[tokio::test]
    async fn revoke_and_restore_by_host_and_serial_are_journaled() {
        let s = state();
        let t = s.token.as_str().to_string();
        let (status, cert) = call(&s, Method::POST, REVOKE_PATH, &t, r#"{"target": "granitefalls.cloudapp.net", "reason": "superseded"}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(cert["revoked"]["reason"], "superseded");
        assert!(cert["pem"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
        let serial = cert["serial"].as_str().unwrap();
        let (status, cert) = call(&s, Method::POST, RESTORE_PATH, &t, &format!(r#"{{"target": "{serial}"}}"#)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(cert["revoked"].is_null());
        let whats: Vec<String> = s.journal.snapshot().into_iter().map(|e| e.what).collect();
        assert_eq!(whats, ["revoked", "restored"]);
    }

    // issue 11: the control endpoint's JSON is outside input too. Any body, on either route, gets
    // an answer in the endpoint's own vocabulary and never a panic (PROPTEST_CASES raises the
    // count: bench/fuzz-parsers.sh).
    mod props {
        use proptest::prelude::*;

        use super::*;

        fn body() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
                ("[a-z.:0-9A-F-]{0,40}", "[a-z_]{0,20}", "[a-z_]{1,8}").prop_map(|(t, r, k)| format!(r#"{{"target": "{t}", "reason": "{r}", "{k}": 1}}"#)),
                "[\\[\\]{}\":, 0-9a-z]{0,60}",
            ]
        }

        /// One world's PKI for every case: generating one per case would be most of the cost.
        static STATE: std::sync::LazyLock<ControlState> = std::sync::LazyLock::new(state);

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(ProptestConfig::default().cases.max(256)))]
            #[test]
            fn any_body_gets_a_json_answer(body in body(), restore in any::<bool>()) {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let s = &*STATE;
                let t = s.token.as_str().to_string();
                let (status, answer) = rt.block_on(call(s, Method::POST, if restore { RESTORE_PATH } else { REVOKE_PATH }, &t, &body));
                let known = [StatusCode::OK, StatusCode::BAD_REQUEST, StatusCode::NOT_FOUND, StatusCode::CONFLICT, StatusCode::UNSUPPORTED_MEDIA_TYPE, StatusCode::PAYLOAD_TOO_LARGE, StatusCode::UNPROCESSABLE_ENTITY];
                prop_assert!(known.contains(&status), "{} for {:?}", status, body);
                prop_assert!(!answer.is_null(), "{} without a JSON answer for {:?}", status, body);
            }
        }
    }

    #[tokio::test]
    async fn bad_input_gets_a_clear_refusal() {
        let s = state();
        let t = s.token.as_str().to_string();
        assert_eq!(call(&s, Method::POST, REVOKE_PATH, &t, r#"{"target": "nowhere.example"}"#).await.0, StatusCode::NOT_FOUND);
        assert_eq!(call(&s, Method::POST, REVOKE_PATH, &t, r#"{"target": 3}"#).await.0, StatusCode::BAD_REQUEST);
        let root = serial_hex(s.pki.cas()[0].serial.as_ref());
        let (status, body) = call(&s, Method::POST, REVOKE_PATH, &t, &format!(r#"{{"target": "{root}"}}"#)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, list) = call(&s, Method::GET, CERTIFICATES_PATH, &t, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(list["certificates"].as_array().unwrap().len() > 150);
    }
}
