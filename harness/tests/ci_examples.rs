//! The example CI pipelines in `harness/examples/ci/` (issue 18): each parses as YAML, has the
//! shape its CI system needs (4 shards, a JUnit report, the journals kept), and every `memsim`
//! command in it uses only subcommands and flags the real CLI's `--help` lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_norway::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci")
}

fn load(name: &str) -> Value {
    let path = examples().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

/// The keys whose values are shell scripts: GitHub's `run`, GitLab's `script` and
/// `before_script`, Azure's `script` and `bash`.
const SCRIPT_KEYS: [&str; 5] = ["run", "script", "before_script", "after_script", "bash"];

/// Every script in a YAML document (strings under [`SCRIPT_KEYS`], or in lists under them).
fn scripts(v: &Value, in_script: bool, out: &mut Vec<String>) {
    match v {
        Value::String(s) if in_script => out.push(s.clone()),
        Value::Sequence(items) => items.iter().for_each(|i| scripts(i, in_script, out)),
        Value::Mapping(m) => m.iter().for_each(|(k, v)| scripts(v, k.as_str().is_some_and(|k| SCRIPT_KEYS.contains(&k)), out)),
        Value::Tagged(t) => scripts(&t.value, in_script, out),
        _ => {}
    }
}

/// The `memsim …` command lines in a script (continuation lines joined), as words up to a
/// `--` that hands the rest to the client.
fn memsim_commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("memsim "))
        .map(|l| l.split_whitespace().take_while(|w| *w != "--").map(|w| w.trim_matches('"').to_string()).collect())
        .collect()
}

/// `memsim [SUB] --help`, cached: the flags it lists.
fn help(sub: Option<&str>, cache: &mut BTreeMap<Option<String>, String>) -> String {
    cache
        .entry(sub.map(str::to_string))
        .or_insert_with(|| {
            let out = Command::new(env!("CARGO_BIN_EXE_memsim")).args(sub).arg("--help").output().unwrap();
            assert!(out.status.success(), "memsim {sub:?} --help: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).unwrap()
        })
        .clone()
}

// issue 18: every flag the pipelines give memsim exists, with every subcommand they name.
#[test]
fn every_memsim_flag_in_the_pipelines_exists() {
    let mut cache = BTreeMap::new();
    let top = help(None, &mut cache);
    let mut checked = 0;
    for file in ["github-actions.yml", "gitlab-ci.yml", "azure-pipelines.yml"] {
        let mut all = Vec::new();
        scripts(&load(file), false, &mut all);
        let commands: Vec<Vec<String>> = all.iter().flat_map(|s| memsim_commands(s)).collect();
        assert!(commands.iter().any(|c| c.get(1).is_some_and(|s| s == "run")), "{file} runs `memsim run`");
        for words in commands {
            let sub = words.get(1).filter(|w| !w.starts_with('-')).map(String::as_str);
            if let Some(sub) = sub {
                assert!(top.lines().any(|l| l.trim_start().starts_with(&format!("{sub} "))), "{file}: `memsim {sub}` is no subcommand:\n{top}");
            }
            let text = help(sub, &mut cache);
            for flag in words.iter().filter(|w| w.starts_with("--")) {
                let flag = flag.split('=').next().unwrap();
                assert!(
                    text.contains(&format!("{flag} ")) || text.contains(&format!("{flag}\n")),
                    "{file}: `memsim {}` has no {flag}:\n{text}",
                    sub.unwrap_or("")
                );
                checked += 1;
            }
        }
        // The command under test is handed over after `--`, as README shows.
        assert!(all.iter().any(|s| s.contains("-- ./your-tool")), "{file}");
    }
    assert!(checked >= 15, "only {checked} flags were checked: the parser missed the commands");
}

// issue 18: the check above can fail: a flag memsim does not have is caught.
#[test]
fn a_made_up_flag_is_caught() {
    let mut cache = BTreeMap::new();
    let words = &memsim_commands("set +e\nmemsim run --partition count:1/4 \\\n  --shard-me -- ./your-tool --shard-me")[0];
    assert_eq!(words, &["memsim", "run", "--partition", "count:1/4", "--shard-me"]);
    let text = help(Some("run"), &mut cache);
    assert!(text.contains("--partition "));
    assert!(!text.contains("--shard-me"));
}

fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| v.get(*k).unwrap_or_else(|| panic!("no `{k}` in {v:?}")))
}

#[test]
fn github_actions_runs_four_shards_and_keeps_reports_and_journals() {
    let doc = load("github-actions.yml");
    let job = get(&doc, &["jobs", "memsim"]);
    assert_eq!(get(job, &["strategy", "matrix", "shard"]).as_sequence().unwrap().len(), 4);
    let steps = get(job, &["steps"]).as_sequence().unwrap();
    let uploads: Vec<&Value> =
        steps.iter().filter(|s| s.get("uses").and_then(Value::as_str).is_some_and(|u| u.starts_with("actions/upload-artifact"))).collect();
    let path_of = |cond: &str| {
        uploads.iter().find(|s| s["if"].as_str().is_some_and(|c| c.contains(cond))).map(|s| get(s, &["with", "path"]).as_str().unwrap().to_string())
    };
    assert!(path_of("always()").unwrap().ends_with(".xml"), "the JUnit report is uploaded always");
    assert_eq!(path_of("failure()").unwrap(), "journals/", "the journals are uploaded on failure");
}

#[test]
fn gitlab_runs_four_nodes_with_a_junit_report() {
    let doc = load("gitlab-ci.yml");
    let job = get(&doc, &["memsim"]);
    assert_eq!(get(job, &["parallel"]).as_u64(), Some(4));
    assert_eq!(get(job, &["artifacts", "reports", "junit"]).as_str(), Some("memsim-*.xml"));
    let script: Vec<String> = get(job, &["script"]).as_sequence().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    assert!(script.iter().any(|s| s.contains("count:${CI_NODE_INDEX}/${CI_NODE_TOTAL}")), "{script:?}");
}

#[test]
fn azure_runs_four_agents_and_publishes_test_results() {
    let doc = load("azure-pipelines.yml");
    let job = &get(&doc, &["jobs"]).as_sequence().unwrap()[0];
    assert_eq!(get(job, &["strategy", "parallel"]).as_u64(), Some(4));
    let steps = get(job, &["steps"]).as_sequence().unwrap();
    let publish = steps.iter().find(|s| s.get("task").and_then(Value::as_str) == Some("PublishTestResults@2")).expect("PublishTestResults");
    assert_eq!(get(publish, &["inputs", "testResultsFormat"]).as_str(), Some("JUnit"));
    assert_eq!(get(publish, &["condition"]).as_str(), Some("succeededOrFailed()"));
}
