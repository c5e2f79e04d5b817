//! issue 13, "errors are errors" and "process hygiene": a client that cannot start, is killed
//! by a signal or times out is an ERROR (exit 3, `<error>` in JUnit); every client runs in its
//! own process group, which a timeout or a SIGINT/SIGTERM of `memsim run` stops whole; an
//! interrupted run writes what finished, removes its temporary state dirs and exits 130/143.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use memsim_e2e::{clean_env, memsim_bin, text};

fn memsim() -> Command {
    clean_env(Command::new(memsim_bin()))
}

/// The pids of running processes whose argv is exactly `argv` (zombies have none, so only
/// live ones count). Test-unique arguments (`sleep 997.123`) find this test's processes only.
fn running(argv: &[&str]) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = raw.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
        if args.len() == argv.len() && args.iter().zip(argv).all(|(a, b)| *a == b.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Wait (bounded) until `done` holds.
fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "waited {deadline:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait (bounded) for memsim to exit: its exit code and what it said on stderr.
fn exit_and_stderr(child: &mut std::process::Child) -> (Option<i32>, String) {
    let mut status = None;
    wait_for("memsim run to exit", Duration::from_secs(20), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.unwrap().code(), err)
}

fn memsim_dirs(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("memsim-")).collect()
}

/// JUnit's counts by python3's XML parser: (tests, failures, errors).
fn junit_counts(path: &Path) -> (u32, u32, u32) {
    let script = "import sys, xml.etree.ElementTree as ET\nr = ET.parse(sys.argv[1]).getroot()\nc = list(r.iter('testcase'))\nprint(len(c), sum(len(t.findall('failure')) for t in c), sum(len(t.findall('error')) for t in c))";
    let out = clean_env(Command::new("python3")).args(["-c", script]).arg(path).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let n: Vec<u32> = String::from_utf8_lossy(&out.stdout).split_whitespace().map(|x| x.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

// issue 13: `-- /nonexistent` was an ordinary failure (exit 1, JUnit failures, 0 errors), and
// a scenario expecting failure through `absent` events alone passed with a missing binary.
#[test]
fn a_command_that_cannot_start_is_an_error_in_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("r.xml");
    let out = memsim().args(["run", "--format", "junit", "--output"]).arg(&xml).args(["--", "/nonexistent/memsim-checker"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let (tests, failures, errors) = junit_counts(&xml);
    assert!(tests >= 30);
    assert_eq!((failures, errors), (0, tests), "JUnit shows errors, not failures");
    let absent_only = dir.path().join("absent.toml");
    std::fs::write(
        &absent_only,
        "# t\nname = \"absent-only\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"t\"\n[client]\nprobe = \"discovery\"\n[expect]\noutcome = \"fail\"\nevents = [{ component = \"http\", what = \"request\", absent = true }]\n",
    )
    .unwrap();
    let out = memsim().arg("run").arg(&absent_only).args(["--", "/nonexistent/memsim-checker"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("ERROR absent-only") && text(&out).contains("cannot start `/nonexistent/memsim-checker`"), "{}", text(&out));
}

#[test]
fn a_client_killed_by_a_signal_is_an_error() {
    let out = memsim().args(["run", "pki-expired-root", "--", "sh", "-c", "kill -SEGV $$"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("killed by signal 11 (SIGSEGV)"), "{}", text(&out));
}

// issue 13: on a client timeout only the direct child was killed: `sh -c 'sleep 997 & sleep
// 998'` left both sleeps running.
#[test]
fn a_timed_out_client_is_an_error_and_its_whole_process_group_goes() {
    let out = memsim().args(["run", "pki-expired-root", "--timeout", "1s", "--", "sh", "-c", "sleep 997.201 & sleep 998.201"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("timed out after 1 s (wall time); its process group got SIGTERM"), "{}", text(&out));
    assert_eq!(running(&["sleep", "997.201"]), Vec::<u32>::new(), "the background sleep survived");
    assert_eq!(running(&["sleep", "998.201"]), Vec::<u32>::new());
    // A client that ignores SIGTERM gets SIGKILL after the grace period.
    let out =
        memsim().args(["run", "pki-expired-root", "--timeout", "1s", "--", "sh", "-c", "trap '' TERM; sleep 997.202 & sleep 998.202; wait"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("SIGTERM, then SIGKILL after the grace period"), "{}", text(&out));
    assert_eq!(running(&["sleep", "997.202"]), Vec::<u32>::new());
}

// issue 13: a scenario's `timeout = "30s"` was read as simulated time: at a time scale of 60,
// "killed after 500ms".
#[test]
fn a_scenario_timeout_is_wall_time_whatever_the_time_scale() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("slow.toml");
    let body = "# t\nname = \"slow-client\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"t\"\n[world]\ntime_scale = 600\n[client]\ncommand = [\"sleep\", \"0.5\"]\ntimeout = \"20s\"\n[expect]\noutcome = \"pass\"\n";
    std::fs::write(&f, body).unwrap();
    let out = memsim().arg("run").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

// issue 13: SIGTERM killed memsim at once: the client ran on with PPID 1, no report was
// written and the temporary `memsim-*` state dirs stayed.
#[test]
fn sigterm_and_sigint_stop_every_client_write_the_report_and_clean_up() {
    for (signal, code, marker) in [("-TERM", 143, "997.123"), ("-INT", 130, "997.124")] {
        let tmp = tempfile::tempdir().unwrap();
        let report = tmp.path().join("report.json");
        let mut child = memsim()
            .env("TMPDIR", tmp.path())
            .args(["run", "--jobs", "2", "--format", "json", "--output"])
            .arg(&report)
            .args(["--", "sh", "-c", &format!("sleep {marker} & sleep 998.123")])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the clients' background sleeps", Duration::from_secs(30), || !running(&["sleep", marker]).is_empty());
        assert!(!memsim_dirs(tmp.path()).is_empty(), "the worlds' state dirs are in the test's TMPDIR");
        let _ = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
        let (exited, err) = exit_and_stderr(&mut child);
        assert_eq!(exited, Some(code), "{signal}: {err}");
        assert_eq!(running(&["sleep", marker]), Vec::<u32>::new(), "{signal}: a client's sleep survived");
        assert_eq!(memsim_dirs(tmp.path()), Vec::<String>::new(), "{signal}: temporary state dirs remain");
        let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        let scenarios = doc["scenarios"].as_array().unwrap();
        assert!(scenarios.len() >= 30, "every scenario is in the report");
        assert!(scenarios.iter().all(|s| s["verdict"] == "interrupted"), "{signal}: {scenarios:#?}");
        assert_eq!(doc["summary"]["interrupted"], scenarios.len());
    }
}

// issue 13 follow-up: a report sink that failed (`memsim run -- tool | head` closed stdout)
// made `run` return at once: the running scenario tasks were aborted mid-client, only the
// client's group leader got SIGKILL (its background children ran on), no world was stopped,
// its state dir stayed, and `main` turned the broken pipe into exit 0.
#[test]
fn a_lost_report_stops_the_run_cleans_up_and_is_not_success() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("release");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let head = "summary = \"s\"\narea = \"pki\"\nsource = \"t\"\n[expect]\noutcome = \"pass\"\n";
    let toml = |name: &str, command: &str| format!("# t\nname = \"{name}\"\n{head}[client]\ncommand = {command}\n");
    // `slow` runs until the run stops it; `quick` ends when the test opens the FIFO, so that
    // its report line is written after the reader went away, while `slow` still runs.
    std::fs::write(tmp.path().join("slow.toml"), toml("lost-slow", r#"["sh", "-c", "sleep 997.321 & sleep 998.321"]"#)).unwrap();
    std::fs::write(tmp.path().join("quick.toml"), toml("lost-quick", &format!("[\"cat\", {:?}]", fifo.display().to_string()))).unwrap();
    let state = tmp.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut child = memsim()
        .env("TMPDIR", &state)
        .args(["run", "--jobs", "2", "--format", "human"])
        .arg(tmp.path().join("slow.toml"))
        .arg(tmp.path().join("quick.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the slow client's background sleep", Duration::from_secs(30), || !running(&["sleep", "997.321"]).is_empty());
    // The reader goes away (as `head` does), then the quick client ends and is reported.
    drop(child.stdout.take());
    // In a thread: opening a FIFO waits for its reader, which a broken memsim may never start.
    std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(&fifo)));
    let (code, err) = exit_and_stderr(&mut child);
    assert_eq!(code, Some(3), "a run whose report was lost is not a success: {err}");
    assert!(err.contains("the report could not be written"), "{err}");
    assert_eq!(running(&["sleep", "997.321"]), Vec::<u32>::new(), "the client's background sleep survived");
    assert_eq!(running(&["sleep", "998.321"]), Vec::<u32>::new(), "the client survived");
    assert_eq!(memsim_dirs(&state), Vec::<String>::new(), "temporary state dirs remain");
}

// issue 13 follow-up: after the first SIGTERM, later signals were swallowed: a client group
// that outlived SIGTERM kept memsim waiting out the whole grace period (and a hung world
// start could only be SIGKILLed). A second signal now forces the stop: SIGKILL at once.
#[test]
fn a_second_signal_forces_the_stop() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("term");
    // The client survives SIGTERM (its shell traps it, notes it, and starts a new sleep).
    let script = "trap 'touch \"$0\"' TERM; while :; do sleep 998.401; done";
    let mut child = memsim()
        .args(["run", "pki-expired-root", "--format", "json", "--output"])
        .arg(tmp.path().join("r.json"))
        .args(["--", "sh", "-c", script])
        .arg(&marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the client's sleep", Duration::from_secs(30), || !running(&["sleep", "998.401"]).is_empty());
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    wait_for("the client to get the first SIGTERM", Duration::from_secs(20), || marker.exists());
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let (code, err) = exit_and_stderr(&mut child);
    assert_eq!(code, Some(143), "{err}");
    let out = std::fs::read_to_string(tmp.path().join("r.json")).unwrap();
    assert!(out.contains("SIGKILL: a second signal forced the stop"), "{out}");
    assert_eq!(running(&["sleep", "998.401"]), Vec::<u32>::new(), "the client survived");
}
