//! The `memsim` command line: exit codes and messages for good and bad input.
//! (Its presence also makes cargo build the `memsim` binary for the end-to-end tests.)

use std::process::Command;

fn memsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memsim"))
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const HEAD: &str = "# a test scenario\nname = \"t\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"test\"\n";

#[test]
fn check_accepts_every_builtin_scenario_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/catalog");
    let areas = std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path());
    let files: Vec<_> = areas.flat_map(|a| std::fs::read_dir(a).unwrap().map(|e| e.unwrap().path())).collect();
    assert!(files.len() >= 30, "{files:?}");
    let out = memsim().arg("check").args(&files).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn check_rejects_bad_files_with_file_line_column_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown-key.toml", format!("{HEAD}sumary = \"x\"\n"), ":6:1: unknown key `sumary`"),
        ("bad-kind.toml", format!("{HEAD}[[fault]]\nkind = \"pki.expird\"\nca = \"x\"\n"), ":7:9: unknown variant `pki.expird`"),
        (
            "bad-duration.toml",
            format!("{HEAD}[[fault]]\nkind = \"pki.expired\"\nca = \"baltimore-cybertrust-root\"\nsince = \"3 weeks\"\n"),
            ":9:10: invalid duration `3 weeks`",
        ),
        // An `absent` check on an event kind nothing journals could never fail.
        (
            "bad-event.toml",
            format!("{HEAD}[expect]\nevents = [{{ component = \"pki\", what = \"ocsp_answered\", absent = true }}]\n"),
            ":7:40: no component journals `ocsp_answered` events",
        ),
        (
            "wrong-component.toml",
            format!("{HEAD}[expect]\nevents = [{{ component = \"dns\", what = \"handshake\" }}]\n"),
            ":7:40: the dns component never journals `handshake` events",
        ),
    ];
    for (name, text, expected) in cases {
        let path = write(&dir, name, &text);
        let out = memsim().arg("check").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(&format!("{}{expected}", path.display())), "{name}: {err}");
    }
}

#[test]
fn check_rejects_an_unknown_ca_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "ca.toml", &format!("{HEAD}[[fault]]\nkind = \"pki.expired\"\nca = \"baltimore-root\"\n"));
    let out = memsim().arg("check").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown CA `baltimore-root`") && err.contains("baltimore-cybertrust-root"), "{err}");
}

#[test]
fn check_rejects_what_only_the_catalog_knows_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let set = write(&dir, "set.toml", &format!("{HEAD}[[fault]]\nkind = \"proxy.deny\"\nendpoint_sets = [9999]\n"));
    let list = write(&dir, "list.toml", &format!("{HEAD}[[fault]]\nkind = \"proxy.allow_list\"\nfile = \"/nonexistent/allow.txt\"\n"));
    for (path, expected) in [(set, "unknown endpoint set 9999"), (list, "/nonexistent/allow.txt")] {
        let out = memsim().arg("check").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&path.display().to_string()) && err.contains(expected), "{err}");
    }
}

#[test]
fn up_with_an_unknown_scenario_is_bad_input() {
    let out = memsim().args(["up", "--scenario", "no-such-scenario"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown scenario `no-such-scenario`") && err.contains("pki-expired-root"), "{err}");
}

#[test]
fn a_bad_flag_is_bad_input() {
    assert_eq!(memsim().arg("up").arg("--nope").output().unwrap().status.code(), Some(2));
    assert_eq!(memsim().args(["up", "--time-scale", "0"]).output().unwrap().status.code(), Some(2));
}

#[test]
fn list_shows_the_builtin_catalog() {
    let out = memsim().arg("list").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    for name in ["pki-expired-root", "pki-expired-intermediate", "pki-leaf-not-yet-valid", "pki-wrong-host", "pki-untrusted-root", "pki-incomplete-chain"] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}
