//! The committed JSON Schemas (`harness/schemas/`) are the ones the Rust types generate
//! (issue 18 #5): a change to `WorldDescription` or the JSON report's types that is not
//! committed with its schema fails here, naming the file and the first lines that differ.
//!
//! `MEMSIM_UPDATE_SCHEMAS=1 cargo test -p harness --test schemas` rewrites the files.

use std::path::PathBuf;

use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// The first differing lines of two texts, numbered, for the failure message.
fn diff(committed: &str, generated: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (committed.lines().collect(), generated.lines().collect());
    let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let mut out = String::new();
    for i in first..(first + 6).min(a.len().max(b.len())) {
        if a.get(i) == b.get(i) {
            out.push_str(&format!("  {:>4}   {}\n", i + 1, a[i]));
            continue;
        }
        if let Some(l) = a.get(i) {
            out.push_str(&format!("  {:>4} - {l}\n", i + 1));
        }
        if let Some(l) = b.get(i) {
            out.push_str(&format!("  {:>4} + {l}\n", i + 1));
        }
    }
    out
}

// issue 18 #5: the types and the committed schemas may not drift apart.
#[test]
fn committed_schemas_match_the_types() {
    let update = std::env::var_os("MEMSIM_UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let mut drifted = Vec::new();
    for (name, generated) in memsim::schema::all() {
        let path = dir().join(name);
        if update {
            std::fs::create_dir_all(dir()).unwrap();
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            drifted.push(format!(
                "harness/schemas/{name} differs from what the Rust types generate (- committed, + generated):\n{}",
                diff(&committed, &generated)
            ));
        }
    }
    assert!(
        drifted.is_empty(),
        "{}\nIf the change is meant, rewrite the files with `MEMSIM_UPDATE_SCHEMAS=1 cargo test -p harness --test schemas`, bump the `schema` version (memsim::schema::WORLD / REPORT) when the change breaks a reader, and commit them.",
        drifted.join("\n")
    );
}

// The schemas describe what memsim writes: every version key is pinned to its constant.
#[test]
fn each_schema_pins_its_version() {
    for ((name, text), version) in memsim::schema::all().into_iter().zip([memsim::schema::WORLD, memsim::schema::REPORT]) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["properties"]["schema"]["const"], version, "{name}");
        assert!(v["required"].as_array().unwrap().iter().any(|k| k == "schema"), "{name}: `schema` is required");
    }
}

#[test]
fn the_diff_names_the_first_differing_line() {
    let d = diff("a\nb\nc\n", "a\nB\nc\n");
    assert_eq!(d, "     2 - b\n     2 + B\n     3   c\n");
}

/// The keys an object schema (or the `$defs` entry it refers to) declares.
fn keys(schema: &Value, root: &Value) -> Vec<String> {
    let schema = match schema["$ref"].as_str() {
        Some(r) => &root["$defs"][r.trim_start_matches("#/$defs/")],
        None => schema,
    };
    let mut k: Vec<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted_keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn schema_of(name: &str) -> Value {
    serde_json::from_str(&memsim::schema::all().into_iter().find(|(n, _)| *n == name).unwrap().1).unwrap()
}

// issue 18 #5: the schemas describe what memsim really writes — world.json of a running world
// and `memsim run --format json` — key for key, with the `schema` version the schema pins.
#[test]
fn real_outputs_have_the_schemas_keys_and_versions() {
    let state = tempfile::tempdir().unwrap();
    let mut up = std::process::Command::new(env!("CARGO_BIN_EXE_memsim"))
        .args(["up", "--state-dir"])
        .arg(state.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(up.stdout.take().unwrap()), &mut line).unwrap();
    let world: Value = serde_json::from_slice(&std::fs::read(state.path().join("world.json")).unwrap()).unwrap();
    up.kill().unwrap();
    up.wait().unwrap();
    let schema = schema_of("world.schema.json");
    assert_eq!(world["schema"], memsim::schema::WORLD);
    assert_eq!(sorted_keys(&world), keys(&schema, &schema));
    assert_eq!(sorted_keys(&world["tenant"]), keys(&schema["properties"]["tenant"], &schema));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_memsim")).args(["run", "healthy-discovery", "--format", "json"]).output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let schema = schema_of("report.schema.json");
    assert_eq!(report["schema"], memsim::schema::REPORT);
    assert_eq!(sorted_keys(&report), keys(&schema, &schema));
    let scenario = &report["scenarios"][0];
    let declared = keys(&schema["properties"]["scenarios"]["items"], &schema);
    for k in sorted_keys(scenario) {
        assert!(declared.contains(&k), "the report's scenario key `{k}` is in the schema ({declared:?})");
    }
}
