//! `memsim run`: the built-in catalog passes with the reference clients; a command can replace
//! every client; reports (human, JSON, JUnit, journals) agree; exit codes mean what they say.

use std::process::Command;

use memsim_e2e::{clean_env, memsim_bin, text};

fn memsim() -> Command {
    clean_env(Command::new(memsim_bin()))
}

#[test]
fn the_builtin_catalog_passes_with_the_reference_clients() {
    let dir = tempfile::tempdir().unwrap();
    let out = memsim().args(["run", "--jobs", "2", "--journal-dir"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("0 failed, 0 errors"), "{t}");
    for name in ["healthy-discovery", "healthy-cmg-connect", "pki-expired-root", "time-clock-skew-not-yet-valid"] {
        assert!(t.contains(name), "{name} not run:\n{t}");
    }
    // Every event the catalog's worlds journaled is of a kind expectations may name.
    let mut kinds = std::collections::BTreeSet::new();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        for line in std::fs::read_to_string(f.unwrap().path()).unwrap().lines() {
            let e: scenarios::Event = serde_json::from_str(line).unwrap();
            assert!(scenarios::journal::is_kind_of(e.component, &e.what), "{line}");
            // issue 16: every detail is in the one list of each kind's fields (README's table),
            // with its type, so `details = { … }` expectations are checked against the truth.
            let fields = scenarios::journal::fields::fields_of(e.component, &e.what);
            for (key, value) in &e.detail {
                let field = fields.iter().find(|f| f.name == key);
                assert!(field.is_some(), "{} `{}` carries `{key}`, which journal::fields::FIELDS does not list: {line}", e.component.as_str(), e.what);
                assert!(
                    value.is_null() || field.is_some_and(|f| f.ty.holds(value)),
                    "{} `{}`: `{key}` is not {}: {line}",
                    e.component.as_str(),
                    e.what,
                    field.unwrap().ty.describe()
                );
            }
            kinds.insert((e.component.as_str(), e.what));
        }
    }
    assert!(kinds.len() >= 20, "the journals were read: {kinds:?}");
}

#[test]
fn json_and_junit_reports_agree_and_junit_parses_as_xml() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("r.json");
    let xml_path = dir.path().join("r.xml");
    let journals = dir.path().join("journals");
    let out = memsim().args(["run", "--filter", "pki-", "--format", "json", "--output"]).arg(&json_path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = memsim().args(["run", "--filter", "pki-", "--format", "junit", "--output"]).arg(&xml_path).arg("--journal-dir").arg(&journals).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let scenarios = doc["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 7);
    assert!(scenarios.iter().all(|s| s["verdict"] == "pass"));
    // Python's XML parser reads the JUnit file: one testcase per scenario, named alike.
    let script =
        "import sys, xml.etree.ElementTree as ET\nr = ET.parse(sys.argv[1]).getroot()\nprint(' '.join(sorted(c.get('name') for c in r.iter('testcase'))))";
    let out = clean_env(Command::new("python3")).args(["-c", script]).arg(&xml_path).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // A scenario of several checks is a testcase per check, `<scenario>/<check>` (issue 16).
    let mut case_names: Vec<String> = scenarios
        .iter()
        .flat_map(|s| match s["checks"].as_array() {
            Some(checks) => checks.iter().map(|c| format!("{}/{}", s["name"].as_str().unwrap(), c["name"].as_str().unwrap())).collect(),
            None => vec![s["name"].as_str().unwrap().to_string()],
        })
        .collect();
    case_names.sort();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), case_names.join(" "));
    let json_names: Vec<&str> = scenarios.iter().map(|s| s["name"].as_str().unwrap()).collect();
    for name in json_names {
        let lines = std::fs::read_to_string(journals.join(format!("{name}.jsonl"))).unwrap();
        assert!(lines.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{name}");
        assert!(lines.contains("\"component\":\"tls\""), "{name}: no TLS event journaled");
    }
}

#[test]
fn a_command_that_fails_a_healthy_scenario_exits_1_and_names_the_expectation() {
    let out = memsim().args(["run", "healthy-discovery", "--", "false"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("expected outcome: pass") && t.contains("observed: fail (exit 1)"), "{t}");
}

#[test]
fn a_command_gets_the_world_through_the_environment_and_nothing_of_the_machine() {
    let script = r#"test -f "$SSL_CERT_FILE" && test "$SSL_CERT_FILE" = "$CURL_CA_BUNDLE" && test -f "$MEMSIM_WORLD" \
        && test -d "$SSL_CERT_DIR" && test -n "$MEMSIM_TIME_SCALE" && test -z "$NO_PROXY" \
        && grep -q BEGIN "$REQUESTS_CA_BUNDLE" && grep -q https_addr "$MEMSIM_WORLD""#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("env-check.toml");
    let scenario = format!(
        "# The client sees the world's variables.\nname = \"env-check\"\nsummary = \"s\"\narea = \"baseline\"\nsource = \"test\"\n[client]\ncommand = [\"sh\", \"-c\", {script:?}]\n[expect]\noutcome = \"pass\"\n"
    );
    std::fs::write(&file, scenario).unwrap();
    let out =
        Command::new(memsim_bin()).env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt").env("NO_PROXY", "*").arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn code_expectations_are_skipped_when_a_command_replaces_the_probe() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("r.json");
    let out = memsim().args(["run", "pki-expired-root", "--format", "json", "--output"]).arg(&json_path).args(["--", "false"]).output().unwrap();
    // `false` fails as the scenario expects, but never touched the world: the journal shows no
    // rejected handshake, so the run fails and says which expectation.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("observed: 0 matching event(s)"), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let checks = doc["scenarios"][0]["expectations"].as_array().unwrap();
    let find = |name: &str| checks.iter().find(|c| c["expectation"] == name).unwrap().clone();
    assert_eq!(find("code")["check"], "skipped");
    assert_eq!(find("outcome")["check"], "held");
    assert_eq!(find("event")["check"], "failed");
}

#[test]
fn bad_input_exits_2() {
    let out = memsim().args(["run", "no-such-scenario"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = memsim().args(["run", "--filter", "zzz-nothing"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.toml");
    std::fs::write(&f, "# x\nname = \"bad\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"t\"\n[expect]\noutcom = \"pass\"\n").unwrap();
    let out = memsim().arg("run").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.toml:7:1: unknown key `outcom`"), "{}", text(&out));
}

#[test]
fn curl_through_the_world_fails_an_expired_root_and_passes_a_healthy_world() {
    // The acceptance of the runner issue: a team's own tool (here curl, through the world's
    // proxy from HTTPS_PROXY, trusting the world's CA from CURL_CA_BUNDLE) replaces the probes.
    let url = "https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc";
    for scenario in ["pki-expired-root", "healthy-discovery"] {
        let out = memsim().args(["run", scenario, "--", "curl", "-sS", "-o", "/dev/null", url]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{scenario}: {}", text(&out));
    }
    // issue 13: a healthy scenario holds any client to the exchanges it is about; reaching
    // another host does not pass it, and the near-miss names what was never done.
    let out = memsim().args(["run", "healthy-scp-validate", "--", "curl", "-sS", "-o", "/dev/null", url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("expected event: an event with component=tls what=handshake host=go.microsoft.com"), "{}", text(&out));
}

// issue 10: a panic in a handler was dropped silently; now the scenario is a harness failure
// (exit 3) with the panic in its journal.
#[test]
fn a_world_whose_handler_panics_fails_the_run_with_exit_3_and_the_panic_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("panics.toml");
    let client = r#"curl -sS -o /dev/null -x "$HTTP_PROXY" http://enrollment.manage.microsoft.com/_memsim/panic; exit 0"#;
    let scenario = format!(
        "# A handler panics.\nname = \"panics\"\nsummary = \"s\"\narea = \"baseline\"\nsource = \"test\"\n[client]\ncommand = [\"sh\", \"-c\", {client:?}]\n[expect]\noutcome = \"pass\"\n"
    );
    std::fs::write(&file, scenario).unwrap();
    let journals = dir.path().join("journals");
    let out = memsim().env("MEMSIM_DEBUG_PANIC_ROUTE", "1").arg("run").arg(&file).arg("--journal-dir").arg(&journals).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("the world failed: a panic in the HTTP front"), "{}", text(&out));
    let lines = std::fs::read_to_string(journals.join("panics.jsonl")).unwrap();
    let events: Vec<scenarios::Event> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let panic = events.iter().find(|e| e.component == scenarios::Component::World && e.what == "panic").expect("journaled");
    assert!(panic.detail["message"].as_str().unwrap().contains("/_memsim/panic"));
    // The same scenario without the route armed is an ordinary pass.
    let out = memsim().arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

// issue 11 (defect 5): memory keeps a bounded window of the journal; a scenario that journals
// more than it still has every event checked by its expectations and written by --journal-dir
// (read back from the world's journal file), with the eviction marked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_larger_than_its_window_is_read_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("busy.toml");
    let client = r#"for i in $(seq 1 40); do curl -sS -o /dev/null -x "$HTTP_PROXY" http://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc || exit 1; done"#;
    let scenario = format!(
        "# Many exchanges.\nname = \"busy\"\nsummary = \"s\"\narea = \"baseline\"\nsource = \"test\"\n[client]\ncommand = [\"sh\", \"-c\", {client:?}]\n[expect]\noutcome = \"pass\"\nevents = [{{ component = \"http\", what = \"request\", count = 40 }}, {{ component = \"world\", what = \"ready\" }}]\n"
    );
    std::fs::write(&file, scenario).unwrap();
    let scenario = scenarios::load_scenario(&file).unwrap();
    let journals = dir.path().join("journals");
    let options = harness::runner::RunOptions {
        jobs: 1,
        default_timeout: std::time::Duration::from_secs(60),
        // A few events' worth: 40 exchanges through the proxy journal far more.
        journal_window: Some(4096),
        ..Default::default()
    };
    let mut sinks: Vec<Box<dyn harness::runner::Reporter>> = vec![Box::new(harness::report::JournalDir(journals.clone()))];
    let outcome = harness::runner::run(vec![scenario], &options, &mut sinks, harness::runner::no_stop()).await.unwrap();
    assert_eq!((outcome.summary.passed, outcome.harness_failed), (1, false), "{outcome:?}");
    let events: Vec<scenarios::Event> =
        std::fs::read_to_string(journals.join("busy.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "every event, none missing");
    assert_eq!(events.iter().filter(|e| e.what == "request" && e.component == scenarios::Component::Http).count(), 40);
    assert!(events.iter().any(|e| e.what == scenarios::journal::DROPPED), "the window did evict, and said so");
}
