//! Training labs through the real binary (issue 17): `memsim lab` starts a scenario's broken
//! world and briefs the trainee, `memsim fault` changes the running world's faults through the
//! control endpoint, and `memsim lab check` says *not yet* until the fix holds, then *fixed*.
//! The control endpoint refuses what `memsim check` refuses, with its message, and changes
//! nothing; it stays token-guarded.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use memsim_e2e::{clean_env, memsim_bin, read_journal, text};

/// A `memsim lab` process; SIGTERM on drop.
struct Lab {
    child: Child,
    state: tempfile::TempDir,
    briefing: String,
}

impl Lab {
    fn start(scenario: &str) -> Lab {
        let state = tempfile::tempdir().unwrap();
        let mut child = clean_env(Command::new(memsim_bin()))
            .arg("lab")
            .arg(scenario)
            .arg("--state-dir")
            .arg(state.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The briefing ends the lab's start: world.json and lab.json are written before it.
        let mut briefing = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        while !briefing.contains("Ctrl-C ends the lab") {
            let mut line = String::new();
            assert_ne!(out.read_line(&mut line).unwrap(), 0, "memsim lab ended before its briefing: {briefing:?}");
            briefing.push_str(&line);
        }
        assert!(state.path().join("world.json").is_file() && state.path().join("lab.json").is_file());
        Lab { child, state, briefing }
    }

    fn dir(&self) -> &Path {
        self.state.path()
    }

    fn memsim(&self, args: &[&str]) -> Output {
        clean_env(Command::new(memsim_bin())).args(args).arg("--world").arg(self.dir()).output().unwrap()
    }

    fn check(&self) -> Output {
        self.memsim(&["lab", "check"])
    }

    /// curl the control endpoint: `(status, body)`.
    fn control(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (String, String) {
        let control: serde_json::Value = serde_json::from_slice(&std::fs::read(self.dir().join("control.json")).unwrap()).unwrap();
        let mut cmd = clean_env(Command::new("curl"));
        cmd.args(["-sS", "--max-time", "30", "-w", "\n%{http_code}", "-X", method]);
        if let Some(t) = token {
            cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some(b) = body {
            cmd.args(["-H", "Content-Type: application/toml", "--data-binary", b]);
        }
        let out = cmd.arg(format!("http://{}{path}", control["addr"].as_str().unwrap())).output().unwrap();
        let all = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = all.rsplit_once('\n').unwrap();
        (status.to_string(), body.to_string())
    }

    fn token(&self) -> String {
        std::fs::read_to_string(self.dir().join("control.token")).unwrap().trim().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn control_events(dir: &Path) -> Vec<serde_json::Value> {
    read_journal(dir).into_iter().filter(|e| e["component"] == "control").collect()
}

#[test]
fn removing_the_deny_rule_fixes_the_crl_lab() {
    let lab = Lab::start("revocation-crl-hosts-blocked");
    let scenario = scenarios::catalog::find("revocation-crl-hosts-blocked").unwrap().unwrap();
    let hint = scenario.lab.as_ref().unwrap();
    assert!(lab.briefing.contains(&scenario.summary) && lab.briefing.contains(&hint.hint), "{}", lab.briefing);
    assert!(!lab.briefing.contains(&hint.fix), "the briefing never gives the fix: {}", lab.briefing);

    let out = lab.check();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).starts_with("not yet:"), "{}", text(&out));
    // The near-miss names the refusals the trainee has to find.
    assert!(text(&out).contains("proxy  deny") && text(&out).contains("www.microsoft.com"), "{}", text(&out));

    let list = lab.memsim(&["fault", "list", "--json"]);
    let faults: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(faults["faults"][0]["kind"], "proxy.deny", "{faults}");
    let id = faults["faults"][0]["id"].to_string();
    let out = lab.memsim(&["fault", "remove", &id]);
    assert!(out.status.success(), "{}", text(&out));

    let out = lab.check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).starts_with("fixed:"), "{}", text(&out));
    let removed = control_events(lab.dir());
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert_eq!((removed[0]["what"].as_str(), removed[0]["fault"].as_str()), (Some("fault_removed"), Some("proxy.deny")));
    assert_eq!(removed[0]["detail"]["id"].to_string(), id);
}

#[test]
fn a_longer_idle_timeout_fixes_the_notification_lab() {
    let lab = Lab::start("proxy-idle-timeout-notification");
    let out = lab.check();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("idle_timeout"), "the near-miss shows the cut: {}", text(&out));
    // Three minutes: still cut (the service holds the channel for 3 minutes, seed 000).
    let set = |after: &str| {
        lab.memsim(&["fault", "set", "1", "kind = \"proxy.idle_timeout\"", "hosts = [\"*.manage.microsoft.com\"]", &format!("after = \"{after}\"")])
    };
    let out = set("2m");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(lab.check().status.code(), Some(1));
    let out = set("4m");
    assert!(out.status.success(), "{}", text(&out));
    let out = lab.check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).starts_with("fixed:"), "{}", text(&out));
    let list = text(&lab.memsim(&["fault", "list"]));
    assert!(list.contains("after = \"4m\""), "{list}");
    let whats: Vec<String> = control_events(lab.dir()).iter().map(|e| e["what"].as_str().unwrap().to_string()).collect();
    assert_eq!(whats, ["fault_changed", "fault_changed"]);
}

#[test]
fn the_control_endpoint_refuses_what_check_refuses_and_wants_its_token() {
    let lab = Lab::start("revocation-crl-hosts-blocked");
    let before = lab.control("GET", "/v1/faults", Some(&lab.token()), None);
    assert_eq!(before.0, "200", "{}", before.1);

    // The same fault in a scenario file: `memsim check`'s message is the endpoint's.
    let bad = "[[fault]]\nkind = \"proxy.idle_timeout\"\nafter = \"60 s\"\n";
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("bad-lab.toml");
    let header = "name = \"bad-lab\"\nsummary = \"s\"\narea = \"proxy\"\nsource = \"test\"\n";
    std::fs::write(&file, format!("{header}{bad}")).unwrap();
    let check = clean_env(Command::new(memsim_bin())).arg("check").arg(&file).output().unwrap();
    assert_eq!(check.status.code(), Some(2));
    let checked = String::from_utf8_lossy(&check.stderr);
    let (place, message) = checked.trim().split_once(": ").unwrap();
    assert!(place.ends_with("bad-lab.toml:7:10"), "{checked}");

    let (status, body) = lab.control("POST", "/v1/faults", Some(&lab.token()), Some(bad));
    assert_eq!(status, "422", "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(answer["problems"][0].as_str().unwrap().ends_with(message), "{answer} vs {checked}");
    assert!(answer["problems"][0].as_str().unwrap().starts_with("request:3:10: "), "{answer}");

    // The CLI: the checker's message, exit 2.
    let out = lab.memsim(&["fault", "add", "kind = \"proxy.idle_timeout\"", "after = \"60 s\""]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains(&format!("arguments:2:10: {message}")), "{}", text(&out));
    let out = lab.memsim(&["fault", "add", "--file", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unknown key `area`, expected `fault`"), "a scenario file is no fault file: {}", text(&out));
    // A layer built at start: refused, with the way to change it.
    let out = lab.memsim(&["fault", "add", "kind = \"pki.expired\"", "ca = \"baltimore-cybertrust-root\"", "since = \"30d\""]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("fixed when the world starts"), "{}", text(&out));

    for token in [None, Some("wrong")] {
        assert_eq!(lab.control("GET", "/v1/faults", token, None).0, "401");
        assert_eq!(lab.control("POST", "/v1/faults", token, Some("kind = \"proxy.deny\"\nports = [443]\n")).0, "401");
        assert_eq!(lab.control("DELETE", "/v1/faults/1", token, None).0, "401");
    }
    assert_eq!(lab.control("GET", "/v1/faults", Some(&lab.token()), None), before, "nothing changed");
    assert!(control_events(lab.dir()).is_empty());

    let (status, body) = lab.control("POST", "/v1/faults", Some(&lab.token()), Some("kind = \"proxy.deny\"\nports = [443]\n"));
    assert_eq!(status, "201", "{body}");
    let added: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((added["added"][0]["id"].as_u64(), added["added"][0]["kind"].as_str()), (Some(2), Some("proxy.deny")));
}
