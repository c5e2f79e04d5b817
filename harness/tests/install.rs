//! `cargo install --path harness --locked` yields a working `memsim` (issue 18): from a fresh
//! clone of this repository (committed files only), into a temporary root, whose
//! `bin/memsim run` then passes the built-in catalog.
//!
//! A full release build takes minutes, so the test runs only when `MEMSIM_TEST_INSTALL=1`
//! (README, "Install"); otherwise it says so and skips.

use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn cargo_install_from_a_fresh_clone_gives_a_working_memsim() {
    if std::env::var_os("MEMSIM_TEST_INSTALL").is_none_or(|v| v != "1") {
        println!("SKIPPED: set MEMSIM_TEST_INSTALL=1 to build and install memsim from a fresh clone (a release build: minutes)");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("memsim");
    run(Command::new("git").args(["clone", "--quiet", "--no-hardlinks"]).arg(&repo).arg(&clone));
    let root = tmp.path().join("root");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // cargo install's own temporary target dir, as on a fresh machine: nothing of this
    // checkout's build is reused.
    run(Command::new(cargo).args(["install", "--locked", "--path"]).arg(clone.join("harness")).arg("--root").arg(&root).env_remove("CARGO_TARGET_DIR"));
    let memsim = root.join("bin/memsim");
    assert!(run(Command::new(&memsim).arg("--version")).starts_with("memsim "));
    let report = run(Command::new(&memsim).args(["run", "--jobs", "2"]));
    assert!(report.contains(" 0 failed, 0 errors"), "{report}");
}
