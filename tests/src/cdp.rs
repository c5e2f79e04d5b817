//! A small Chrome DevTools Protocol client for the dashboard's acceptance test: real headless
//! Chromium (Debian's `chromium`) driven over `--remote-debugging-pipe` — the protocol's JSON
//! messages, NUL-terminated, on the browser's fds 3 (in) and 4 (out) — so no WebSocket and no
//! crate beyond the standard library.
//!
//! Fail-closed network: Chromium resolves no name but 127.0.0.1 (`--host-resolver-rules "MAP *
//! ~NOTFOUND , EXCLUDE 127.0.0.1"`), sends everything else to the world's proxy (which refuses
//! what the world does not emulate and never connects beyond the world), and runs with its
//! background networking, sync, component updates and first-run fetches off.
//!
//! Nothing is left behind: the browser runs in a process group of its own, killed whole when
//! the [`Chromium`] drops (a test that fails or panics included), and its profile is a
//! temporary directory removed with it. Were the test process itself killed, the browser reads
//! EOF on its protocol pipe and exits.

use std::io::{Read as _, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// `chromium` (Debian) or `chromium-browser`, if either is on PATH.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser"].iter().flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name))).find(|p| p.is_file())
}

/// A running headless Chromium and its protocol pipe.
#[derive(Debug)]
pub struct Chromium {
    child: Child,
    input: Option<ChildStdin>,
    messages: mpsc::Receiver<Value>,
    next_id: u64,
    /// Protocol events received while waiting for something else, in order.
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Start `bin` headless with a fresh profile, every non-loopback request sent to `proxy`.
    pub fn launch(bin: &Path, proxy: &str) -> Chromium {
        let profile = tempfile::Builder::new().prefix("memsim-chromium-").tempdir().unwrap();
        let args = [
            "--headless=new".to_string(),
            "--remote-debugging-pipe".into(),
            // root in a container: Chromium's sandbox needs user namespaces it may not have.
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", profile.path().display()),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-sync".into(),
            "--disable-component-update".into(),
            "--disable-default-apps".into(),
            "--disable-extensions".into(),
            "--disable-domain-reliability".into(),
            "--disable-client-side-phishing-detection".into(),
            "--disable-breakpad".into(),
            "--metrics-recording-only".into(),
            "--no-pings".into(),
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".into(),
            format!("--proxy-server={proxy}"),
            "about:blank".into(),
        ];
        // The protocol pipe on fds 3 and 4, made from this end's stdin and stdout pipes by the
        // shell that then becomes Chromium (`exec`): no extra process, no unsafe fd juggling.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg("sh")
            .arg(bin)
            .args(&args)
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromium");
        let mut child = child;
        let input = child.stdin.take();
        let mut output = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 64 * 1024];
            while let Ok(n) = output.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1])
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            }
        });
        Chromium { child, input, messages, next_id: 0, events: Vec::new(), _profile: profile }
    }

    /// The browser's process id (its process group's too).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a command (to a page's `session`, or to the browser); its id.
    pub fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let mut msg = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let input = self.input.as_mut().expect("the pipe is open");
        input.write_all(msg.to_string().as_bytes()).and_then(|()| input.write_all(b"\0")).and_then(|()| input.flush()).expect("write to chromium");
        self.next_id
    }

    /// The reply to command `id`, waiting at most `timeout`; protocol errors as `Err`.
    pub fn reply(&mut self, id: u64, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.messages.recv_timeout(left).map_err(|e| format!("no reply to command {id} within {timeout:?}: {e}"))?;
            if msg.get("id").and_then(Value::as_u64) == Some(id) {
                return match msg.get("error") {
                    Some(e) => Err(e.to_string()),
                    None => Ok(msg["result"].clone()),
                };
            }
            if msg.get("method").is_some() {
                self.events.push(msg);
            }
        }
    }

    /// Send and wait for the reply.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value, timeout: Duration) -> Result<Value, String> {
        let id = self.send(session, method, params);
        self.reply(id, timeout)
    }

    /// The first event `method` (already received or arriving within `timeout`).
    pub fn event(&mut self, method: &str, timeout: Duration) -> Result<Value, String> {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return Ok(self.events.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.messages.recv_timeout(left).map_err(|e| format!("no {method} within {timeout:?}: {e}"))?;
            if msg["method"] == method {
                return Ok(msg);
            }
            if msg.get("method").is_some() {
                self.events.push(msg);
            }
        }
    }

    /// Open `url` in a new tab and wait for its load event; the tab's session id.
    pub fn open(&mut self, url: &str, timeout: Duration) -> Result<String, String> {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}), timeout)?;
        let attached = self.call(None, "Target.attachToTarget", json!({"targetId": target["targetId"], "flatten": true}), timeout)?;
        let session = attached["sessionId"].as_str().ok_or("no session")?.to_string();
        self.call(Some(&session), "Page.enable", json!({}), timeout)?;
        self.call(Some(&session), "Network.enable", json!({}), timeout)?;
        self.call(Some(&session), "Runtime.enable", json!({}), timeout)?;
        self.events.clear();
        self.call(Some(&session), "Page.navigate", json!({"url": url}), timeout)?;
        self.event("Page.loadEventFired", timeout)?;
        Ok(session)
    }

    /// Evaluate `expression` in the page (a promise is awaited); its value.
    pub fn eval(&mut self, session: &str, expression: &str, timeout: Duration) -> Result<Value, String> {
        let id = self.send(Some(session), "Runtime.evaluate", json!({"expression": expression, "awaitPromise": true, "returnByValue": true}));
        let r = self.reply(id, timeout)?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("{expression}: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Start evaluating `expression` without waiting: read it later with [`Chromium::reply`].
    pub fn eval_later(&mut self, session: &str, expression: &str) -> u64 {
        self.send(Some(session), "Runtime.evaluate", json!({"expression": expression, "awaitPromise": true, "returnByValue": true}))
    }

    /// Every URL the page requested so far (`Network.requestWillBeSent`).
    pub fn requested_urls(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Chromium {
    /// Kill the browser's whole process group (renderers, GPU and utility processes), then
    /// reap it; the profile directory goes after.
    fn drop(&mut self) {
        drop(self.input.take());
        let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", self.child.id())).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The group's other processes die with SIGKILL but are reaped by init, a moment later:
        // wait (bounded) until none is left, so that whoever drops this can count on it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let alive = Command::new("kill").arg("-0").arg("--").arg(format!("-{}", self.child.id())).stderr(Stdio::null()).status();
            if !alive.is_ok_and(|s| s.success()) {
                break;
            }
            // The poll's interval: the loop ends when the group is empty.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A JavaScript promise that resolves with `value` once `condition` holds in the page (checked
/// at each animation frame and DOM change: the page's own wait, not the test's).
pub fn when(condition: &str, value: &str) -> String {
    format!(
        "new Promise((resolve) => {{ const ok = () => {{ try {{ return ({condition}); }} catch (_) {{ return false; }} }}; \
         if (ok()) return resolve({value}); \
         const o = new MutationObserver(() => {{ if (ok()) {{ o.disconnect(); resolve({value}); }} }}); \
         o.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}}); }})"
    )
}
