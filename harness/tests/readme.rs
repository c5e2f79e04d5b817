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
        ("`[expect]`", format!("{HEAD}[expect]\nzzz = 1\n")),
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
