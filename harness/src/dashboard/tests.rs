use std::sync::Mutex;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use scenarios::{Clock, Component, NewEvent};
use tower::ServiceExt as _;

use super::*;

/// A lab that records what it was asked and answers from a list of faults.
#[derive(Default)]
struct FakeLab {
    faults: Mutex<Vec<Value>>,
}

impl LabControl for FakeLab {
    fn faults(&self) -> LabReply {
        let v = json!({"faults": self.faults.lock().unwrap().clone()});
        Box::pin(async move { Ok(v) })
    }
    fn add_fault(&self, toml: String) -> LabReply {
        let r = if toml.contains("kind") {
            let mut f = self.faults.lock().unwrap();
            let id = (f.len() + 1).to_string();
            f.push(json!({"id": id, "kind": toml}));
            Ok(json!({"added": id}))
        } else {
            Err(LabError::Rejected("fault:1:1: missing field `kind`".into()))
        };
        Box::pin(async move { r })
    }
    fn remove_fault(&self, id: String) -> LabReply {
        let mut f = self.faults.lock().unwrap();
        let before = f.len();
        f.retain(|x| x["id"] != json!(id));
        let r = if f.len() < before { Ok(json!({"removed": id})) } else { Err(LabError::Rejected(format!("no fault {id}"))) };
        Box::pin(async move { r })
    }
    fn check(&self) -> LabReply {
        let fixed = self.faults.lock().unwrap().is_empty();
        Box::pin(async move { Ok(json!({"verdict": if fixed { "fixed" } else { "not_yet" }})) })
    }
}

const ADDR: &str = "127.0.0.1:4567";

fn state(lab: Option<Arc<dyn LabControl>>) -> AppState {
    let journal = Journal::new(Clock::new(time::macros::datetime!(2031-05-01 10:00 UTC), 1.0));
    journal.record(NewEvent::new(Component::World, "starting"));
    let scenario = scenarios::catalog::find("revocation-crl-hosts-blocked").unwrap().unwrap();
    AppState {
        live: Live::attach(&journal),
        journal,
        lab,
        briefing: Arc::new(json!({"scenario": scenario.name.as_str(), "hint": scenario.lab.as_ref().map(|l| l.hint.clone()), "lab_controls": true})),
        file_name: "revocation-crl-hosts-blocked.har".into(),
        token: "abc123".into(),
        addr: ADDR.parse().unwrap(),
    }
}

fn req(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(path).header("host", ADDR)
}

async fn body(res: Response) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn a_request_naming_another_host_is_refused_dns_rebinding_cannot_read_the_journal() {
    let app = router(state(None));
    let res = app.clone().oneshot(Request::get("/api/lab").header("host", "evil.example:4567").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
    let res = app.clone().oneshot(Request::get("/journal.har").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST, "no Host at all");
    for host in [ADDR, "localhost:4567"] {
        let res = app.clone().oneshot(Request::get("/api/lab").header("host", host).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn changing_the_world_needs_the_pages_token_and_its_own_origin() {
    let lab = Arc::new(FakeLab::default());
    let app = router(state(Some(lab.clone())));
    let add = |token: Option<&str>, origin: Option<&str>| {
        let mut r = req("POST", "/api/faults");
        if let Some(t) = token {
            r = r.header(TOKEN_HEADER, t);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.body(Body::from("kind = \"proxy.deny\"")).unwrap()
    };
    for (token, origin) in
        [(None, None), (Some("wrong!"), None), (Some("abc123"), Some("http://evil.example")), (Some("abc123"), Some("http://127.0.0.1:9999"))]
    {
        let res = app.clone().oneshot(add(token, origin)).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{token:?} {origin:?}");
    }
    assert!(lab.faults.lock().unwrap().is_empty(), "a refused request changed nothing");
    let res = app.clone().oneshot(add(Some("abc123"), Some("http://127.0.0.1:4567"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.clone().oneshot(add(Some("abc123"), None)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no Origin (curl): the token suffices");
    // The check and removal are guarded the same way; a bad fault is the lab's 400 with its message.
    let res = app.clone().oneshot(req("POST", "/api/check").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.clone().oneshot(req("DELETE", "/api/faults/1").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.clone().oneshot(req("POST", "/api/faults").header(TOKEN_HEADER, "abc123").body(Body::from("after = 1")).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(body(res).await.contains("missing field `kind`"));
    let res = app.clone().oneshot(req("POST", "/api/check").header(TOKEN_HEADER, "abc123").body(Body::empty()).unwrap()).await.unwrap();
    assert!(body(res).await.contains("not_yet"));
    for id in ["1", "2"] {
        let res = app.clone().oneshot(req("DELETE", &format!("/api/faults/{id}")).header(TOKEN_HEADER, "abc123").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = app.clone().oneshot(req("POST", "/api/check").header(TOKEN_HEADER, "abc123").body(Body::empty()).unwrap()).await.unwrap();
    assert!(body(res).await.contains("\"fixed\""));
}

#[tokio::test]
async fn without_a_lab_the_controls_say_so() {
    let app = router(state(None));
    let res = app.oneshot(req("POST", "/api/check").header(TOKEN_HEADER, "abc123").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_IMPLEMENTED);
    assert!(body(res).await.contains("memsim lab"));
}

#[tokio::test]
async fn the_page_carries_its_token_and_a_policy_that_runs_no_inline_script() {
    let app = router(state(None));
    let res = app.clone().oneshot(req("GET", "/").body(Body::empty()).unwrap()).await.unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let page = body(res).await;
    assert!(page.contains(r#"<meta name="memsim-token" content="abc123">"#));
    assert!(!page.contains("<script>") && page.contains(r#"<script src="/app.js" defer></script>"#), "no inline script");
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing from elsewhere");
    for (path, kind) in [("/app.js", "text/javascript"), ("/app.css", "text/css")] {
        let res = app.clone().oneshot(req("GET", path).body(Body::empty()).unwrap()).await.unwrap();
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with(kind));
    }
}

// Every journal value reaches the page as text: the script never writes markup. (The Chromium
// acceptance test shows a `<script>` host rendered as text in a real browser.)
#[test]
fn the_script_writes_no_markup() {
    for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
        let uses: Vec<&str> = APP_JS.lines().filter(|l| !l.trim_start().starts_with("//") && l.contains(sink)).collect();
        assert!(uses.is_empty(), "app.js uses {sink}: {uses:?}");
    }
    assert!(!APP_JS.contains("http://") && !APP_JS.contains("https://") && !APP_CSS.contains("url("), "no resource from elsewhere");
}

#[tokio::test]
async fn the_event_stream_sends_the_window_then_each_event_as_it_is_recorded() {
    let s = state(None);
    let journal = s.journal.clone();
    let app = router(s);
    let res = app.oneshot(req("GET", "/api/events").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    let mut seen = String::new();
    let mut read_until = async |needle: &str, seen: &mut String| {
        while !seen.contains(needle) {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.expect("a frame within 5 s").unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                seen.push_str(std::str::from_utf8(&data).unwrap());
            }
        }
    };
    read_until("event: live", &mut seen).await;
    assert!(seen.contains("event: hello") && seen.contains("\"what\":\"starting\""), "{seen}");
    journal.record(NewEvent::new(Component::Http, "misdirected").host("<script>alert(1)</script>"));
    read_until("misdirected", &mut seen).await;
    assert!(seen.contains("id: 1\n"), "{seen}");
    // The backlog's event is not sent twice.
    assert_eq!(seen.matches("\"what\":\"starting\"").count(), 1);
}

#[tokio::test]
async fn a_reconnecting_page_gets_only_what_it_missed() {
    let s = state(None);
    for _ in 0..3 {
        s.journal.record(NewEvent::new(Component::Dns, "query"));
    }
    let app = router(s);
    let res = app.oneshot(req("GET", "/api/events").header("last-event-id", "2").body(Body::empty()).unwrap()).await.unwrap();
    let mut body = res.into_body();
    let mut seen = String::new();
    while !seen.contains("event: live") {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame()).await.unwrap().unwrap().unwrap();
        seen.push_str(std::str::from_utf8(&frame.into_data().unwrap()).unwrap());
    }
    let ids: Vec<&str> = seen.lines().filter_map(|l| l.strip_prefix("id: ")).collect();
    assert_eq!(ids, ["3"]);
}

#[tokio::test]
async fn the_har_download_is_the_whole_journal_as_an_attachment() {
    let app = router(state(None));
    let res = app.oneshot(req("GET", "/journal.har").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"revocation-crl-hosts-blocked.har\"");
    let har: Value = serde_json::from_str(&body(res).await).unwrap();
    assert_eq!(crate::har::rules::violations(&har), Vec::<String>::new());
}
