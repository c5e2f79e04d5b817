//! Several clients against one world (issue 16, "the scenario language"): a scenario file with
//! `[[check]]`s runs each check's client, in turn, against the one world and its faults, and
//! every report — the terminal's, JSON, JUnit — shows each check. Driven through the real
//! binary, with the real reference clients.

use std::process::Command;

use memsim_e2e::{clean_env, memsim_bin, text};
use serde_json::Value;

fn memsim() -> Command {
    clean_env(Command::new(memsim_bin()))
}

/// A 407 for the content CDN alone: the Win32 download fails, discovery passes. The discovery
/// check expects `discovery_outcome` ("fail" makes that one check fail on purpose).
fn scenario(discovery_outcome: &str) -> String {
    format!(
        r#"# 407 for the CDN only.
name = "two-checks"
summary = "407 only for the CDN: win32-download fails, discovery passes"
area = "proxy"
source = "issue 16"

[[fault]]
kind = "proxy.auth_required"
hosts = ["naprodimedatapri.azureedge.net", "naprodimedatasec.azureedge.net", "naprodimedatahotfix.azureedge.net"]
user = "CONTOSO\\svc-proxy"
password = "Summer2026!"

[[check]]
name = "content"
[check.client]
probe = "win32-download"
target = "https://naprodimedatapri.azureedge.net/x.bin"
[check.expect]
outcome = "fail"
events = [{{ component = "proxy", what = "auth_required", host = "naprodimedatapri.azureedge.net", details = {{ status = 407 }} }}]

[[check]]
[check.client]
probe = "discovery"
target = "https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc"
[check.expect]
outcome = "{discovery_outcome}"
events = [
  {{ component = "http", what = "request", host = "enterpriseenrollment-s.manage.microsoft.com", status = 200 }},
  {{ component = "proxy", what = "auth_required", absent = true }},
]
"#
    )
}

#[test]
fn one_file_with_two_checks_runs_both_clients_in_one_world_and_reports_two_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two-checks.toml");
    std::fs::write(&file, scenario("pass")).unwrap();
    let (json, xml, journals) = (dir.path().join("r.json"), dir.path().join("r.xml"), dir.path().join("journals"));

    let out = memsim().arg("run").arg(&file).arg("--journal-dir").arg(&journals).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("PASS check content: probe win32-download") && t.contains("PASS check discovery: probe discovery"), "{t}");

    // One world: one start, both probes' verdicts and both clients' traffic in its one journal;
    // the 407 came during the first check, the discovery request during the second.
    let journal: Vec<Value> = std::fs::read_to_string(journals.join("two-checks.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seq = |what: &str, pred: &dyn Fn(&Value) -> bool| {
        journal.iter().filter(|e| e["what"] == what && pred(e)).map(|e| e["seq"].as_u64().unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(seq("starting", &|_| true).len(), 1, "one world");
    let results = seq("probe_result", &|_| true);
    assert_eq!(results.len(), 2, "two clients ran");
    let denied = seq("auth_required", &|_| true);
    let discovered = seq("request", &|e| e["component"] == "http" && e["host"] == "enterpriseenrollment-s.manage.microsoft.com");
    assert!(!denied.is_empty() && denied.iter().all(|s| *s < results[0]), "{denied:?} {results:?}");
    assert!(!discovered.is_empty() && discovered.iter().all(|s| *s > results[0] && *s < results[1]), "{discovered:?} {results:?}");

    // JSON: the scenario's checks, each with its verdict, client and expectations.
    let out = memsim().arg("run").arg(&file).args(["--format", "json", "--output"]).arg(&json).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let checks = doc["scenarios"][0]["checks"].as_array().expect("checks");
    let names: Vec<&str> = checks.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["content", "discovery"]);
    assert_eq!((checks[0]["verdict"].as_str(), checks[1]["verdict"].as_str()), (Some("pass"), Some("pass")));
    assert_eq!(checks[0]["client"]["probe"]["passed"], false, "the download failed, as expected");
    assert_eq!(checks[1]["client"]["probe"]["passed"], true);
    assert!(checks.iter().all(|c| !c["expectations"].as_array().unwrap().is_empty()));

    // JUnit: a test case per check.
    let out = memsim().arg("run").arg(&file).args(["--format", "junit", "--output"]).arg(&xml).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(xml.contains(r#"tests="2""#), "{xml}");
    assert!(xml.contains(r#"<testcase name="two-checks/content""#) && xml.contains(r#"<testcase name="two-checks/discovery""#), "{xml}");
}

#[test]
fn a_failed_check_fails_the_scenario_and_its_near_miss_names_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two-checks.toml");
    std::fs::write(&file, scenario("fail")).unwrap();
    let xml = dir.path().join("r.xml");
    let out = memsim().arg("run").arg(&file).args(["--format", "junit", "--output"]).arg(&xml).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(xml.contains(r#"tests="2""#) && xml.contains(r#"failures="1""#), "{xml}");
    let out = memsim().arg("run").arg(&file).output().unwrap();
    let t = text(&out);
    assert!(t.contains("PASS check content") && t.contains("FAIL check discovery"), "{t}");
    assert!(t.contains("check `discovery`: expected outcome: fail"), "{t}");
}

#[test]
fn a_command_runs_once_per_check_with_that_checks_target() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two-checks.toml");
    std::fs::write(&file, scenario("pass")).unwrap();
    let log = dir.path().join("targets.log");
    let script = format!("echo \"$MEMSIM_TARGET\" >> {}", log.display());
    let out = memsim().arg("run").arg(&file).args(["--format", "json", "--", "sh", "-c", &script]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let targets = std::fs::read_to_string(&log).unwrap();
    let targets: Vec<&str> = targets.lines().collect();
    assert_eq!(targets, ["https://naprodimedatapri.azureedge.net/x.bin", "https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc"]);
    // `true` (exit 0) against a check expecting failure: that check fails, the other's events decide.
    assert_eq!(doc["scenarios"][0]["checks"][0]["verdict"], "fail", "{doc:#}");
}

#[test]
fn check_refuses_a_file_without_checks_or_with_both_forms_where_it_stands() {
    let dir = tempfile::tempdir().unwrap();
    let head = "# t\nname = \"n\"\nsummary = \"s\"\narea = \"proxy\"\nsource = \"t\"\n";
    let cases = [
        ("neither", String::new(), ":6:1: the scenario runs no client"),
        ("expect-only", "[expect]\noutcome = \"pass\"\n".into(), ":6:1: [expect] without a [client]"),
        ("client-only", "[client]\nprobe = \"discovery\"\n".into(), ":8:1: the scenario has no [expect] table"),
        (
            "both",
            "[client]\nprobe = \"discovery\"\n[[check]]\n[check.client]\nprobe = \"discovery\"\n[check.expect]\noutcome = \"pass\"\n".into(),
            ":6:1: [client] and [[check]] do not mix",
        ),
        (
            "no-outcome",
            "[[check]]\n[check.client]\nprobe = \"discovery\"\n[check.expect]\ncode = \"0x80180010\"\n".into(),
            ":9:1: this check's `expect` needs `outcome",
        ),
        ("missing-expect", "[[check]]\n[check.client]\nprobe = \"discovery\"\n".into(), ":6:1: missing key `expect`"),
    ];
    for (name, body, says) in cases {
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(&file, format!("{head}{body}")).unwrap();
        let out = memsim().arg("check").arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        assert!(text(&out).contains(&format!("{}{says}", file.display())), "{name}: {}", text(&out));
    }
}
