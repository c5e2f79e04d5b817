//! "Run your own tool against every scenario" means something (issue 13, deliverable 1): the
//! catalog holds any client to what it must observably cause, not to the reference probe's
//! wording. Three stand-in tools run against the whole catalog: `true` (does nothing and says
//! it worked), `false` (does nothing and says it failed) and a small real client — curl
//! fetching the scenario's `[client] target` (MEMSIM_TARGET).

use std::collections::BTreeMap;
use std::process::Command;

use memsim_e2e::{clean_env, memsim_bin, text};
use serde_json::Value;

/// `memsim run --format json -- argv…` over the whole catalog: exit code and each scenario's report.
fn run_catalog(argv: &[&str]) -> (Option<i32>, BTreeMap<String, Value>) {
    let out = clean_env(Command::new(memsim_bin())).args(["run", "--jobs", "2", "--format", "json", "--"]).args(argv).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let reports = doc["scenarios"].as_array().unwrap().iter().map(|s| (s["name"].as_str().unwrap().to_string(), s.clone())).collect();
    (out.status.code(), reports)
}

/// The expectations of a report (or of one of its checks) that failed.
fn failed(report: &Value) -> Vec<&Value> {
    let own = report["expectations"].as_array().into_iter().flatten();
    let checks = report["checks"].as_array().into_iter().flatten().flat_map(|c| c["expectations"].as_array().into_iter().flatten());
    own.chain(checks).filter(|e| e["check"] == "failed").collect()
}

/// A scenario's checks, each as `memsim list` and the report show it: the scenario itself when
/// it runs one `[client]`, else each of its `[[check]]`s (issue 16).
fn checks<'a>(listed: &'a Value, report: &'a Value) -> Vec<(&'a Value, &'a Value)> {
    match (listed["checks"].as_array(), report["checks"].as_array()) {
        (Some(l), Some(r)) => {
            assert_eq!(l.len(), r.len(), "{}: every check reported", listed["name"]);
            l.iter().zip(r).collect()
        }
        _ => vec![(listed, report)],
    }
}

/// The catalog through `memsim list --format json`: name → its entry.
fn catalog() -> BTreeMap<String, Value> {
    let out = clean_env(Command::new(memsim_bin())).args(["list", "--format", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.into_iter().map(|s| (s["name"].as_str().unwrap().to_string(), s)).collect()
}

// issue 13: `memsim run -- true` passed healthy-discovery, healthy-cmg-connect,
// healthy-registration and healthy-scp-validate, every check in them being probe-only.
#[test]
fn a_tool_that_does_nothing_fails_every_scenario_and_is_told_what_it_never_did() {
    let catalog = catalog();
    let (code, reports) = run_catalog(&["true"]);
    assert_eq!(code, Some(1));
    assert_eq!(reports.len(), catalog.len());
    for (name, r) in &reports {
        assert_eq!(r["verdict"], "fail", "{name} passed under `true`");
        for (listed, c) in checks(&catalog[name], r) {
            assert_eq!(c["verdict"], "fail", "{name} {} passed under `true`", listed["name"]);
            if listed["outcome"] == "pass" {
                // The near-miss names an exchange the client never made (an event, not the outcome).
                let missing: Vec<&str> = failed(c).iter().filter(|e| e["expectation"] == "event").map(|e| e["expected"].as_str().unwrap()).collect();
                assert!(missing.iter().any(|m| m.starts_with("an event with") || m.starts_with("at least")), "{name} {}: {missing:?}", listed["name"]);
            }
        }
    }
    let discovery = failed(&reports["healthy-discovery"]).iter().map(|e| e["expected"].as_str().unwrap().to_string()).collect::<Vec<_>>().join("\n");
    assert!(discovery.contains("what=handshake host=enterpriseenrollment-s.manage.microsoft.com"), "{discovery}");
    assert!(discovery.contains("path=/EnrollmentServer/Discovery.svc status=200"), "{discovery}");
}

#[test]
fn a_tool_that_always_fails_fails_every_scenario() {
    let catalog = catalog();
    let (code, reports) = run_catalog(&["false"]);
    assert_eq!(code, Some(1));
    for (name, r) in &reports {
        assert_eq!(r["verdict"], "fail", "{name} passed under `false`: a scenario expecting failure must require the fault on the client's path");
        for (listed, c) in checks(&catalog[name], r) {
            assert_eq!(c["verdict"], "fail", "{name} {} passed under `false`", listed["name"]);
        }
    }
}

/// curl, fetching the scenario's target as any HTTP client would, passes every scenario that
/// has one and fails those that need more than one fetch (and so have none).
#[test]
fn a_real_curl_client_passes_every_scenario_whose_target_it_fetches() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("fetch-target.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ -n \"$MEMSIM_TARGET\" ] || { echo 'no target' >&2; exit 2; }\nexec curl -sS -f -o /dev/null --max-time 20 \"$MEMSIM_TARGET\"\n",
    )
    .unwrap();
    let script = script.to_str().unwrap();
    let catalog = catalog();
    let (_, reports) = run_catalog(&["sh", script]);
    let with_target: Vec<&String> = catalog.keys().filter(|n| catalog[*n]["target"].is_string()).collect();
    assert!(with_target.len() >= 20, "{with_target:?}");
    let mut clients = Vec::new();
    for (name, r) in &reports {
        let pairs = checks(&catalog[name], r);
        for (listed, c) in &pairs {
            let expected = if listed["target"].is_string() { "pass" } else { "fail" };
            assert_eq!(c["verdict"], expected, "{name} {} under curl: {:#?}\n{}", listed["name"], failed(c), c["client"]["stderr"]);
            clients.push((&c["client"], &c["verdict"]));
        }
        let all = pairs.iter().all(|(listed, _)| listed["target"].is_string());
        assert_eq!(r["verdict"], if all { "pass" } else { "fail" }, "{name}");
    }
    // Both kinds of verdict among them: curl's exit status decides, as a tool's would.
    assert!(clients.iter().any(|(c, v)| c["exit_code"] == 0 && *v == "pass"));
    assert!(clients.iter().any(|(c, v)| c["exit_code"] == 60 && *v == "pass"));
}

/// No expectation held against every client quotes the reference probe's wording or its codes:
/// those are `probe_only` (skipped when a command replaces the probe).
#[test]
fn only_probe_only_expectations_quote_the_probes_wording() {
    let scenarios = scenarios::catalog::load_all().unwrap();
    let catalog = mock_cloud::Catalog::builtin().unwrap();
    let codes = &catalog.codes;
    let mut probe_words: Vec<String> = codes.codes.iter().flat_map(|c| [c.value.clone(), c.value.trim_start_matches("0x").to_string()]).collect();
    for (_, e) in scenarios.iter().flat_map(|s| s.checks().map(move |c| (s, c.expect))) {
        for t in [&e.stdout_contains, &e.stderr_contains, &e.stdout_matches, &e.stderr_matches].into_iter().flatten() {
            if t.probe_only {
                probe_words.push(t.text.clone());
            }
        }
    }
    probe_words.extend(["WINHTTP_CALLBACK_STATUS_FLAG", "SMS_SERVICE_CONNECTOR", "SHA-256 matches", "held the channel"].map(String::from));
    let mut any_client = 0;
    // Every check of every scenario (issue 16: a scenario may run several clients).
    for (s, c) in scenarios.iter().flat_map(|s| s.checks().map(move |c| (s, c))) {
        let e = c.expect;
        for t in [&e.stdout_contains, &e.stderr_contains, &e.stdout_matches, &e.stderr_matches].into_iter().flatten().filter(|t| !t.probe_only) {
            any_client += 1;
            let quoted: Vec<&String> = probe_words.iter().filter(|w| t.text.contains(w.as_str()) || w.contains(&t.text)).collect();
            assert!(quoted.is_empty(), "{} ({}): `{}` is held against every client but quotes the probe: {quoted:?}", s.name, c.name, t.text);
        }
        // And every check holds any client to something it must cause.
        let required = e.events.iter().filter(|ev| !ev.probe_only && !ev.absent).count();
        assert!(
            required > 0,
            "{} ({}): no event expectation outside probe_only, so a client that does nothing passes or fails it by exit status alone",
            s.name,
            c.name
        );
    }
    // Today the catalog holds every client to events and outcomes only.
    assert_eq!(any_client, 0);
}
