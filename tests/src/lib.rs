//! Test support for memsim's end-to-end tests: start the real `memsim` binary, wait for its
//! readiness line, and run real clients (curl, openssl, python3) against the world it serves.
//! Every client is given the world's CA explicitly: the machine's own bundle never applies.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The `memsim` binary cargo built next to this test (harness's integration tests make cargo
/// build it for every `cargo test --workspace`).
pub fn memsim_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MEMSIM_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps");
    let bin = dir.join("memsim");
    assert!(bin.exists(), "{} not built: run `cargo build -p harness` (or the whole workspace's tests)", bin.display());
    bin
}

/// A `memsim up` process and the world it announced. Stopped (SIGTERM) on drop.
#[derive(Debug)]
pub struct Up {
    child: Child,
    pub state: tempfile::TempDir,
    pub world: Value,
}

impl Up {
    /// `memsim up --scenario <scenario>` (a built-in name or a file), waiting for its ready line.
    pub fn start(scenario: Option<&str>) -> Up {
        Up::start_with(scenario, &[])
    }

    /// A world from a scenario written here: `body` ([world], [[fault]] …) under a header of
    /// `name` and `area`.
    pub fn start_toml(name: &str, area: &str, body: &str) -> Up {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("# test scenario\nname = \"{name}\"\nsummary = \"s\"\narea = \"{area}\"\nsource = \"test\"\n{body}")).unwrap();
        // memsim reads the file before its ready line: the directory may go after start.
        Up::start(Some(path.to_str().unwrap()))
    }

    /// As [`Up::start`], with more `memsim up` arguments (e.g. `["--time-scale", "60"]`).
    pub fn start_with(scenario: Option<&str>, args: &[&str]) -> Up {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(memsim_bin());
        cmd.arg("up").arg("--state-dir").arg(state.path()).args(args);
        if let Some(s) = scenario {
            cmd.arg("--scenario").arg(s);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn memsim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("ready line {line:?}: {e}"));
        assert_eq!(ready["event"], "ready");
        let world: Value = serde_json::from_slice(&std::fs::read(state.path().join("world.json")).unwrap()).unwrap();
        Up { child, state, world }
    }

    pub fn https_addr(&self) -> String {
        self.world["https_addr"].as_str().unwrap().to_string()
    }

    pub fn http_addr(&self) -> String {
        self.world["http_addr"].as_str().unwrap().to_string()
    }

    pub fn ca(&self) -> PathBuf {
        PathBuf::from(self.world["ca_bundle"].as_str().unwrap())
    }

    pub fn hosts(&self) -> Vec<String> {
        self.world["hosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect()
    }

    /// curl `https://<host><path>` through the HTTPS front, trusting only the world's CA.
    pub fn curl_https(&self, host: &str, path: &str) -> Output {
        self.curl_https_with(host, path, &[])
    }

    /// As [`Up::curl_https`], with more curl arguments (a later `-w` wins over the default).
    pub fn curl_https_with(&self, host: &str, path: &str, extra: &[&str]) -> Output {
        let (_, port) = self.https_addr().rsplit_once(':').map(|(a, p)| (a.to_string(), p.to_string())).unwrap();
        clean_env(Command::new("curl"))
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"])
            .arg("--cacert")
            .arg(self.ca())
            .arg("--connect-to")
            .arg(format!("{host}:443:127.0.0.1:{port}"))
            .args(extra)
            .arg(format!("https://{host}{path}"))
            .output()
            .expect("run curl")
    }

    /// `openssl s_client -verify_return_error` against the HTTPS front with `server_name` as SNI.
    pub fn s_client(&self, server_name: &str) -> Output {
        clean_env(Command::new("openssl"))
            .args(["s_client", "-verify_return_error", "-servername", server_name, "-connect"])
            .arg(self.https_addr())
            .arg("-CAfile")
            .arg(self.ca())
            .stdin(Stdio::null())
            .output()
            .expect("run openssl")
    }

    /// Stop with SIGTERM and return the exit status and the journal it wrote.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<Value>) {
        let status = self.terminate();
        let text = std::fs::read_to_string(self.state.path().join("journal.jsonl")).unwrap_or_default();
        (status, text.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().unwrap()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// A command without the machine's own CA and proxy settings, so only what a test passes applies.
pub fn clean_env(mut cmd: Command) -> Command {
    // The variables memsim manages for a client (harness::client_env), none of them inherited.
    for var in harness::client_env::MANAGED {
        cmd.env_remove(var);
    }
    cmd
}

/// The stderr and stdout of a client, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
