//! README's scenario reference names every key the parser takes (issue 13, deliverable 5): the
//! list of keys comes from the parser itself — the "expected one of …" of an unknown key in
//! each table — so a key added to the model without its line in the reference fails here.

use std::process::Command;

const HEAD: &str = "name = \"t\"\nsummary = \"s\"\narea = \"dns\"\nsource = \"x\"\n";

/// The keys the parser names for an unknown key `zzz` placed by `body`.
fn keys_of(body: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.toml");
    std::fs::write(&path, body).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_memsim")).arg("check").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let listed = err.split("unknown key `zzz`, expected ").nth(1).unwrap_or_else(|| panic!("{body}: {err}"));
    listed.split('`').skip(1).step_by(2).map(String::from).collect()
}

#[test]
fn the_scenario_reference_names_every_key_of_every_table() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let reference = readme.split("### Scenario reference").nth(1).expect("README has a scenario reference").split("\n### ").next().unwrap();
    let tables = [
        ("(top)", "zzz = 1\n".to_string()),
        ("`[world]`", format!("{HEAD}[world]\nzzz = 1\n")),
        ("`[[world.issuer]]`", format!("{HEAD}[[world.issuer]]\nzzz = 1\n")),
        ("`[world.cmg]`", format!("{HEAD}[world.cmg]\nzzz = 1\n")),
        ("`[world.entra]`", format!("{HEAD}[world.entra]\nzzz = 1\n")),
        ("`[[world.entra.user]]`", format!("{HEAD}[[world.entra.user]]\nupn = \"a@b.c\"\nzzz = 1\n")),
        ("`[[world.entra.app]]`", format!("{HEAD}[[world.entra.app]]\nclient_id = \"x\"\nzzz = 1\n")),
        ("`[client]`", format!("{HEAD}[client]\nprobe = \"discovery\"\nzzz = 1\n")),
        ("`[client.state]`", format!("{HEAD}[client]\nprobe = \"discovery\"\n[client.state]\nzzz = 1\n")),
        ("cache entry", format!("{HEAD}[client]\nprobe = \"discovery\"\n[client.state]\ncached = [{{ kind = \"crl\", zzz = 1 }}]\n")),
        ("`[expect]`", format!("{HEAD}[expect]\nzzz = 1\n")),
        ("`[[check]]`", format!("{HEAD}[[check]]\nzzz = 1\n")),
        ("text", format!("{HEAD}[expect]\nstdout_contains = [{{ zzz = 1 }}]\n")),
        ("event", format!("{HEAD}[expect]\nevents = [{{ zzz = 1 }}]\n")),
        ("`[lab]`", format!("{HEAD}[lab]\nzzz = 1\n")),
        ("`[lab.fixed]`", format!("{HEAD}[lab]\nhint = \"h\"\nfix = \"f\"\n[lab.fixed]\nzzz = 1\n")),
    ];
    let mut checked = 0;
    for (table, body) in tables {
        let keys = keys_of(&body);
        assert!(keys.len() >= 2, "{table}: {keys:?}");
        for key in keys {
            let row = format!("| {table} | `{key}` |");
            assert!(reference.contains(&row), "README's scenario reference lacks {row}");
            checked += 1;
        }
    }
    assert!(checked >= 45, "{checked}");
}

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap()
}

/// issue 16: README's scenario example shows every key `[expect]` takes (`status_message` was
/// missing): its keys, read from the example itself, are the parser's.
#[test]
fn the_scenario_example_shows_every_expect_key() {
    let readme = readme();
    let example = readme
        .split("## Scenarios\n")
        .nth(1)
        .and_then(|s| s.split("```toml\n").nth(1))
        .and_then(|s| s.split("\n```").next())
        .expect("README's scenario example");
    let doc: toml::Table = example.parse().unwrap_or_else(|e| panic!("README's scenario example is not TOML: {e}"));
    let mut shown: Vec<String> = doc["expect"].as_table().expect("an [expect] table").keys().cloned().collect();
    let mut accepted = keys_of(&format!("{HEAD}[expect]\nzzz = 1\n"));
    shown.sort();
    accepted.sort();
    assert_eq!(shown, accepted, "README's [expect] example and the parser's keys differ");
    // And its events show every key an event expectation takes.
    let mut event_keys: Vec<String> = doc["expect"]["events"].as_array().unwrap().iter().flat_map(|e| e.as_table().unwrap().keys().cloned()).collect();
    event_keys.sort();
    event_keys.dedup();
    let mut accepted = keys_of(&format!("{HEAD}[expect]\nevents = [{{ zzz = 1 }}]\n"));
    accepted.sort();
    let missing: Vec<&String> = accepted.iter().filter(|k| !event_keys.contains(k)).collect();
    assert!(
        missing.iter().all(|k| ["count", "at_least"].contains(&k.as_str())),
        "README's event examples lack {missing:?} (count and at_least are in its comment)"
    );
}

/// issue 16: README's table of event details is made from the one list the validator uses
/// (`MEMSIM_UPDATE_README=1` rewrites it).
#[test]
fn the_event_details_table_is_the_validators_list() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = readme();
    let (begin, end) = ("<!-- event-fields: begin (generated from scenarios::journal::fields::markdown) -->\n", "<!-- event-fields: end -->");
    let start = readme.find(begin).expect("README has the event-fields markers") + begin.len();
    let stop = readme[start..].find(end).expect("README has the end marker") + start;
    let table = scenarios::journal::fields::markdown();
    if std::env::var_os("MEMSIM_UPDATE_README").is_some() {
        std::fs::write(path, format!("{}{table}{}", &readme[..start], &readme[stop..])).unwrap();
        return;
    }
    assert_eq!(readme[start..stop], table, "README's event details table is stale: run with MEMSIM_UPDATE_README=1");
}
