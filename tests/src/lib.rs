//! Test support for memsim's end-to-end tests: start the real `memsim` binary, wait for its
//! readiness line, and run real clients (curl, openssl, python3) against the world it serves.
//! Every client is given the world's CA explicitly: the machine's own bundle never applies.

pub mod cdp;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use harness::WorldDescription;
use harness::describe::Ready;
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
    /// world.json as read (for tests of the document itself).
    pub world: Value,
    /// world.json read strictly as the typed description; the ready line carried the same.
    pub description: WorldDescription,
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
        Up::start_in(tempfile::tempdir().unwrap(), scenario, args, &[])
    }

    /// `memsim up --state-dir <state>` with `args` and environment variables `env`, waiting
    /// for its ready line.
    pub fn start_in(state: tempfile::TempDir, scenario: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Up {
        let mut child = spawn_up(state.path(), scenario, args, env, Stdio::null());
        let line = read_line(&mut child);
        let ready = Ready::parse(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        let path = state.path().join("world.json");
        let description = WorldDescription::read(&path).unwrap();
        assert_eq!(ready.description, description, "the ready line and world.json describe one world");
        assert_eq!(ready.world, path);
        let world: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        Up { child, state, world, description }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn https_addr(&self) -> String {
        self.description.https_addr.to_string()
    }

    pub fn http_addr(&self) -> String {
        self.description.http_addr.to_string()
    }

    pub fn ca(&self) -> PathBuf {
        self.description.ca_bundle.clone()
    }

    pub fn hosts(&self) -> Vec<String> {
        self.description.hosts.clone()
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
        (status, read_journal(self.state.path()))
    }

    /// Stop with SIGKILL: nothing of memsim's own runs after it (the state directory stays).
    pub fn kill(&mut self) -> std::process::ExitStatus {
        self.signal("KILL");
        self.child.wait().unwrap()
    }

    /// Send a signal (`TERM`, `KILL` …) to the process.
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
    }

    /// Wait for the process to exit (after a signal, or by itself), at most `limit`: past it
    /// the process is killed and the test fails.
    pub fn wait(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if std::time::Instant::now() >= deadline {
                self.signal("KILL");
                panic!("memsim (pid {}) still running after {limit:?}", self.child.id());
            }
            // The poll's interval: the loop ends on the process's exit, not on time.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.child.wait().unwrap()
    }
}

/// Start `memsim up` on `state` without waiting for it (stdout piped: its ready line, if any).
/// A piped `stderr` must be read: memsim blocks on a full pipe.
pub fn spawn_up(state: &Path, scenario: Option<&str>, args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Child {
    let mut cmd = clean_env(Command::new(memsim_bin()));
    cmd.arg("up").arg("--state-dir").arg(state).args(args).envs(env.iter().copied());
    if let Some(s) = scenario {
        cmd.arg("--scenario").arg(s);
    }
    cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn memsim")
}

/// The first line of a child's stdout (its ready line); empty when it exited without one.
pub fn read_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    line
}

/// The events of `dir/journal.jsonl` (every rotated file first, oldest first), as JSON.
pub fn read_journal(dir: &Path) -> Vec<Value> {
    let path = dir.join("journal.jsonl");
    let files = scenarios::journal::stream::files_oldest_first(&path, scenarios::journal::stream::ROTATION);
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap_or_default()).collect();
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect()
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
