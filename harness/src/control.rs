//! The harness side of a world's control endpoint (mock-cloud's `services::control`): how
//! `memsim up` publishes it, and the client `memsim revoke` / `memsim restore` use.
//!
//! `world.json` keeps exactly its keys, so the endpoint is published beside it: `control.json`
//! (`{"addr": "127.0.0.1:PORT", "token_file": "control.token"}`) and `control.token` (the
//! bearer token, mode 0600, readable by the user who started the world only). Both files are
//! removed when the world stops. The endpoint listens on loopback only and is no emulated host:
//! a client under test cannot reach it through the world's proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use mock_cloud::services::cmg::console::{BLOCK_PATH, TOKENS_PATH, UNBLOCK_PATH};
use mock_cloud::services::control::{CERTIFICATES_PATH, JOURNAL_PATH, RESTORE_PATH, REVOKE_PATH, Token};
use mock_cloud::services::control_faults::{FAULT_PATH, FAULTS_PATH, ORIGIN_HEADER};
use scenarios::RevocationReason;
use serde_json::{Value, json};

pub const CONTROL_JSON: &str = "control.json";
pub const CONTROL_TOKEN: &str = "control.token";

/// The published control files; dropping this removes them.
#[derive(Debug)]
pub struct ControlFiles(Vec<PathBuf>);

impl Drop for ControlFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Write `control.token` (0600, created afresh) and then `control.json` into `dir`.
pub fn publish(dir: &Path, addr: SocketAddr, token: &Token) -> std::io::Result<ControlFiles> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let token_path = dir.join(CONTROL_TOKEN);
    let _ = std::fs::remove_file(&token_path);
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&token_path)?;
    f.write_all(token.as_str().as_bytes())?;
    let mut files = ControlFiles(vec![token_path]);
    let json_path = dir.join(CONTROL_JSON);
    std::fs::write(&json_path, serde_json::to_vec_pretty(&json!({"addr": addr.to_string(), "token_file": CONTROL_TOKEN}))?)?;
    files.0.push(json_path);
    Ok(files)
}

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No running world with a control endpoint there (the harness side: exit 3).
    #[error("no control endpoint for {0}: is `memsim up` running with that state directory? ({1})")]
    NotRunning(String, String),
    /// The endpoint refused the request: an unknown certificate, a root (bad input: exit 2).
    #[error("{0}")]
    Rejected(String),
}

impl ControlError {
    /// Say what went wrong on stderr and give the exit code a CLI command ends with: a request
    /// the world refused is bad input (2), anything else the harness's failure (3).
    pub fn report(&self) -> u8 {
        eprintln!("memsim: {self}");
        match self {
            ControlError::Rejected(_) => crate::exit::BAD_INPUT,
            _ => crate::exit::HARNESS_FAILED,
        }
    }
}

/// What a control call sends.
enum Body<'a> {
    None,
    Json(&'a str),
    /// Fault text, and the name it goes by in the checker's messages.
    Toml(&'a str, &'a str),
}

/// A client of one world's control endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    addr: SocketAddr,
    token: String,
}

impl Client {
    /// The control endpoint of the world whose `world.json` is at `world_json`.
    pub fn for_world(world_json: &Path) -> Result<Client, ControlError> {
        let dir = world_json.parent().unwrap_or(Path::new("."));
        let shown = world_json.display().to_string();
        let not_running = |e: String| ControlError::NotRunning(shown.clone(), e);
        let doc: Value = std::fs::read(dir.join(CONTROL_JSON))
            .map_err(|e| not_running(format!("{CONTROL_JSON}: {e}")))
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| not_running(format!("{CONTROL_JSON}: {e}"))))?;
        let addr = doc["addr"].as_str().and_then(|a| a.parse().ok()).ok_or_else(|| not_running(format!("{CONTROL_JSON}: no `addr`")))?;
        let token_file = doc["token_file"].as_str().unwrap_or(CONTROL_TOKEN);
        let token = std::fs::read_to_string(dir.join(token_file)).map_err(|e| not_running(format!("{token_file}: {e}")))?;
        Ok(Client { addr, token: token.trim().to_string() })
    }

    pub async fn revoke(&self, target: &str, reason: Option<RevocationReason>) -> Result<Value, ControlError> {
        self.call(hyper::Method::POST, REVOKE_PATH, Some(json!({"target": target, "reason": reason}))).await
    }

    pub async fn restore(&self, target: &str) -> Result<Value, ControlError> {
        self.call(hyper::Method::POST, RESTORE_PATH, Some(json!({"target": target}))).await
    }

    /// `memsim token new`: a bulk registration token of `lifetime` minutes (the tool's default: none).
    pub async fn new_token(&self, lifetime: Option<u32>) -> Result<Value, ControlError> {
        self.call(hyper::Method::POST, TOKENS_PATH, Some(json!({"lifetime": lifetime}))).await
    }

    /// `memsim token list`: every bulk token the site knows, by GUID.
    pub async fn tokens(&self) -> Result<Value, ControlError> {
        self.call(hyper::Method::GET, TOKENS_PATH, None).await
    }

    /// `memsim token block|unblock GUID`.
    pub async fn block_token(&self, id: &str, blocked: bool) -> Result<Value, ControlError> {
        let path = if blocked { BLOCK_PATH } else { UNBLOCK_PATH }.replace("{id}", id);
        self.call(hyper::Method::POST, &path, None).await
    }

    /// One certificate with its PEM, its issuer's PEM and revocation URLs.
    pub async fn certificate(&self, target: &str) -> Result<Value, ControlError> {
        self.call(hyper::Method::GET, &format!("{CERTIFICATES_PATH}/{target}"), None).await
    }

    /// The sequence number of the world's last event, and the events after `after` (none
    /// without it): what `memsim lab check` judges its run by.
    pub async fn journal_after(&self, after: Option<u64>) -> Result<(u64, Vec<scenarios::Event>), ControlError> {
        let path = after.map_or_else(|| JOURNAL_PATH.to_string(), |n| format!("{JOURNAL_PATH}?after={n}"));
        let v = self.call(hyper::Method::GET, &path, None).await?;
        let events =
            serde_json::from_value(v["events"].clone()).map_err(|e| ControlError::NotRunning(self.addr.to_string(), format!("the journal's events: {e}")))?;
        Ok((v["last"].as_u64().unwrap_or_default(), events))
    }

    /// `memsim fault list`: the world's faults (issue 17).
    pub async fn faults(&self) -> Result<Value, ControlError> {
        self.call(hyper::Method::GET, FAULTS_PATH, None).await
    }

    /// `memsim fault add`: the faults `text` holds (`origin` names it in the checker's messages).
    pub async fn add_faults(&self, text: &str, origin: &str) -> Result<Value, ControlError> {
        self.send(hyper::Method::POST, FAULTS_PATH, Body::Toml(text, origin)).await
    }

    /// `memsim fault set ID`: replace fault `id` with the one fault `text` holds.
    pub async fn set_fault(&self, id: &str, text: &str, origin: &str) -> Result<Value, ControlError> {
        self.send(hyper::Method::PUT, &FAULT_PATH.replace("{id}", id), Body::Toml(text, origin)).await
    }

    /// `memsim fault remove ID`.
    pub async fn remove_fault(&self, id: &str) -> Result<Value, ControlError> {
        self.send(hyper::Method::DELETE, &FAULT_PATH.replace("{id}", id), Body::None).await
    }

    async fn call(&self, method: hyper::Method, path: &str, body: Option<Value>) -> Result<Value, ControlError> {
        let json = body.map(|b| b.to_string());
        self.send(method, path, json.as_deref().map_or(Body::None, Body::Json)).await
    }

    async fn send(&self, method: hyper::Method, path: &str, body: Body<'_>) -> Result<Value, ControlError> {
        let down = |e: String| ControlError::NotRunning(self.addr.to_string(), e);
        let tcp = tokio::net::TcpStream::connect(self.addr).await.map_err(|e| down(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.map_err(|e| down(e.to_string()))?;
        // Not `Journal::catching`: this client runs in `memsim revoke`/`restore`'s own process,
        // which has no world journal. A panic in the driver drops the connection, so the call
        // below fails as `NotRunning` (exit 3) rather than going unnoticed.
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .header(hyper::header::AUTHORIZATION, format!("Bearer {}", self.token));
        let body = match body {
            Body::None => String::new(),
            Body::Json(j) => {
                req = req.header(hyper::header::CONTENT_TYPE, "application/json");
                j.to_string()
            }
            Body::Toml(t, origin) => {
                // A header value is visible ASCII: a file name that is not keeps its place as `?`.
                let origin: String = origin.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
                req = req.header(hyper::header::CONTENT_TYPE, "application/toml").header(ORIGIN_HEADER, origin);
                t.to_string()
            }
        };
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| down(e.to_string()))?;
        let res = sender.send_request(req).await.map_err(|e| down(e.to_string()))?;
        let status = res.status();
        let bytes = res.into_body().collect().await.map_err(|e| down(e.to_string()))?.to_bytes();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match status.as_u16() {
            200 | 201 => Ok(value),
            401 => Err(down(format!("the token in {CONTROL_TOKEN} was refused"))),
            _ => Err(ControlError::Rejected(value["error"].as_str().map_or_else(|| format!("control endpoint answered {status}"), str::to_string))),
        }
    }
}
