//! The lab dashboard (issue 17 #2): one page, served on loopback by `memsim lab`, with a live
//! timeline of the world's journal, its current faults (add and remove, for trainers), the
//! scenario's hint (never its fix), a "check my fix" action and the journal as a HAR download.
//!
//! The page, its script and stylesheet are embedded in the binary (`assets/`, `include_str!`):
//! no CDN, nothing fetched from anywhere but this listener. Live updates are server-sent events
//! fed by a journal listener (`events.rs`); a new page first gets the journal's window in memory
//! (the journal keeps a bounded window, `scenarios::journal`), then every event as it is
//! recorded. The script writes journal values with `textContent` only, never as markup, and the
//! page's Content-Security-Policy allows no inline script: a host or header that holds
//! `<script>` is shown as text.
//!
//! Guard (`guard.rs`): the listener is loopback-only; every request must name this listener in
//! `Host` (no DNS rebinding), and a request that changes the world (add or remove a fault, run
//! the check) must carry the world's dashboard token — written into the page, so only a page
//! this listener served has it — and, when the browser sends one, this listener's own `Origin`.
//!
//! Faults and the check belong to the lab (`memsim lab`); the dashboard reaches them through
//! [`LabControl`], so it knows nothing of how they are stored or checked.

mod events;
mod guard;
mod lab;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use scenarios::{Journal, Scenario};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub use events::Live;
pub use lab::WorldLab;

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The file `memsim lab` writes beside world.json: `{"url": …}`.
pub const DASHBOARD_JSON: &str = "dashboard.json";
/// The header a changing request carries the page's token in.
pub const TOKEN_HEADER: &str = "x-memsim-dashboard-token";
/// The largest request body (a fault in TOML) the dashboard reads.
const MAX_BODY: usize = 64 * 1024;
/// Connections the dashboard serves at once (a trainer's browser or two; the rest wait).
const MAX_CONNECTIONS: usize = 64;

/// Why a lab call failed: the request was refused (a fault that does not validate, an unknown
/// id: 400 with the message), or the lab could not do it (500).
#[derive(Debug, Clone, thiserror::Error)]
pub enum LabError {
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Failed(String),
}

/// A lab call's answer, as JSON.
pub type LabReply = Pin<Box<dyn Future<Output = Result<Value, LabError>> + Send>>;

/// What the dashboard asks of the lab: the world's faults (list, add, remove) and the check of
/// the trainee's fix. Answers are JSON the page shows as text.
pub trait LabControl: Send + Sync {
    /// The world's current faults: `{"faults": [{"id": …, …}, …]}` (or a bare array).
    fn faults(&self) -> LabReply;
    /// Add one fault written as a scenario file's `[[fault]]` table (TOML).
    fn add_fault(&self, toml: String) -> LabReply;
    /// Remove the fault with this id.
    fn remove_fault(&self, id: String) -> LabReply;
    /// Rerun the scenario's check: `{"verdict": "fixed" | "not_yet", …}`.
    fn check(&self) -> LabReply;
}

/// What the dashboard shows and serves.
pub struct DashboardConfig {
    pub journal: Journal,
    pub scenario: Scenario,
    /// Faults and the check; without it the page says they are not available (`memsim up`).
    pub lab: Option<Arc<dyn LabControl>>,
}

impl std::fmt::Debug for DashboardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardConfig").field("scenario", &self.scenario.name).field("lab", &self.lab.is_some()).finish()
    }
}

#[derive(Clone)]
struct AppState {
    journal: Journal,
    live: Live,
    lab: Option<Arc<dyn LabControl>>,
    /// Name, summary and hint: what the page may show of the scenario (never the fix).
    briefing: Arc<Value>,
    file_name: Arc<str>,
    token: Arc<str>,
    addr: SocketAddr,
}

/// A running dashboard; dropping it stops the listener and every connection (live streams
/// included).
#[derive(Debug)]
pub struct Dashboard {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    file: Option<PathBuf>,
}

impl Dashboard {
    /// Serve the dashboard on `listener` (bind it on loopback: `crate::world::bind_loopback`).
    pub fn start(listener: TcpListener, config: DashboardConfig) -> std::io::Result<Dashboard> {
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("the dashboard listens on loopback only, not {addr}")));
        }
        let token = mock_cloud::services::control::Token::generate().map_err(|_| std::io::Error::other("no randomness from the OS for the dashboard token"))?;
        let lab = config.scenario.lab.as_ref();
        let briefing = json!({
            "scenario": config.scenario.name.as_str(),
            "summary": config.scenario.summary,
            "area": config.scenario.area,
            "hint": lab.map(|l| l.hint.clone()),
            "lab_controls": config.lab.is_some(),
        });
        let state = AppState {
            live: Live::attach(&config.journal),
            journal: config.journal.clone(),
            lab: config.lab,
            briefing: Arc::new(briefing),
            file_name: format!("{}.har", config.scenario.name).into(),
            token: token.as_str().into(),
            addr,
        };
        let journal = config.journal;
        let app = router(state);
        let task = tokio::spawn(serve(listener, app, journal));
        Ok(Dashboard { addr, task, file: None })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Write `dashboard.json` (`{"url": …}`) into `dir`; removed when the dashboard stops.
    pub fn publish(&mut self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join(DASHBOARD_JSON);
        std::fs::write(&path, serde_json::to_vec_pretty(&json!({"url": self.url()}))?)?;
        self.file = Some(path.clone());
        Ok(path)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Accept until dropped; each connection a task of a set the loop owns, so aborting the loop
/// ends them all. A panic in one is journaled as the world's failure, as in any task of it.
async fn serve(listener: TcpListener, app: Router, journal: Journal) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if conns.len() < MAX_CONNECTIONS => {
                let Ok((tcp, _)) = accepted else { continue };
                let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                conns.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                if let Err(e) = done && e.is_panic() {
                    journal.record_panic("the dashboard", &scenarios::journal::panic_message(&*e.into_panic()));
                }
            }
        }
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/app.css", get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }))
        .route("/api/lab", get(briefing))
        .route("/api/events", get(events::stream))
        .route("/api/faults", get(faults).post(add_fault))
        .route("/api/faults/{id}", delete(remove_fault))
        .route("/api/check", post(check))
        .route("/journal.har", get(har))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// The page, with this dashboard's token (hex) in a meta tag: the only value written into markup.
async fn index(State(s): State<AppState>) -> Response {
    asset_owned(INDEX_HTML.replace("{{TOKEN}}", &s.token), "text/html; charset=utf-8")
}

fn asset_owned(body: String, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

fn reply(status: StatusCode, body: Value) -> Response {
    let mut res = (status, body.to_string()).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

async fn briefing(State(s): State<AppState>) -> Response {
    reply(StatusCode::OK, (*s.briefing).clone())
}

async fn lab_call(s: &AppState, call: impl FnOnce(&dyn LabControl) -> LabReply) -> Response {
    let Some(lab) = &s.lab else {
        return reply(
            StatusCode::NOT_IMPLEMENTED,
            json!({"error": "this world has no lab controls: start it with `memsim lab` to change faults and check a fix"}),
        );
    };
    match call(lab.as_ref()).await {
        Ok(v) => reply(StatusCode::OK, v),
        Err(LabError::Rejected(m)) => reply(StatusCode::BAD_REQUEST, json!({"error": m})),
        Err(LabError::Failed(m)) => reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": m})),
    }
}

async fn faults(State(s): State<AppState>) -> Response {
    lab_call(&s, |l| l.faults()).await
}

async fn add_fault(State(s): State<AppState>, body: Bytes) -> Response {
    if body.len() > MAX_BODY {
        return reply(StatusCode::PAYLOAD_TOO_LARGE, json!({"error": format!("a fault is at most {MAX_BODY} bytes of TOML")}));
    }
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return reply(StatusCode::BAD_REQUEST, json!({"error": "the fault is not UTF-8 text"}));
    };
    lab_call(&s, |l| l.add_fault(text)).await
}

async fn remove_fault(State(s): State<AppState>, UrlPath(id): UrlPath<String>) -> Response {
    lab_call(&s, |l| l.remove_fault(id)).await
}

async fn check(State(s): State<AppState>) -> Response {
    lab_call(&s, |l| l.check()).await
}

/// The journal as HAR 1.2, every event of the world (read back from the file when the window
/// has dropped some).
async fn har(State(s): State<AppState>) -> Response {
    let journal = s.journal.clone();
    let events = match tokio::task::spawn_blocking(move || journal.complete()).await {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => return reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": format!("the journal could not be read: {e}")})),
        Err(e) => return reply(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()})),
    };
    let mut res = crate::har::from_events(&events).to_json().into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // The scenario's name is a checked file-name-safe token (letters, digits, hyphens).
    let disposition = format!("attachment; filename=\"{}\"", s.file_name.replace(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'), "_"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}
