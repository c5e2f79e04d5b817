//! issue 13, "Loud CLI": every mistake in a file or a flag is exit 2 with a message that names
//! the place (file:line:column, the path) and the valid values — before any world starts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn memsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memsim"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn err(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const HEAD: &str = "# a test scenario\nname = \"t\"\nsummary = \"s\"\narea = \"pki\"\nsource = \"test\"\n";
const PROBE: &str = "[client]\nprobe = \"discovery\"\n";

// issue 13: with --format human an unwritable --output printed an error and exited 0; json and
// junit ran every world, then exited 3 with "No such file or directory" and no path.
#[test]
fn unwritable_report_and_journal_paths_are_bad_input_before_any_world_starts() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a-file", "");
    let missing = dir.path().join("no-such-dir/report.out");
    for format in ["human", "json", "junit"] {
        let out = memsim().args(["run", "healthy-discovery", "--format", format, "--output"]).arg(&missing).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{format}: {}", err(&out));
        assert!(err(&out).contains(&format!("cannot write the report to {}", missing.display())), "{format}: {}", err(&out));
        assert!(!err(&out).contains("running"), "a world started: {}", err(&out));
    }
    let under_file = file.join("journals");
    let out = memsim().args(["run", "healthy-discovery", "--journal-dir"]).arg(&under_file).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains(&format!("cannot write journals into {}", under_file.display())), "{}", err(&out));
}

// issue 13: two files of one name both ran and overwrote each other's journal.
#[test]
fn duplicate_scenario_names_are_bad_input_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{HEAD}{PROBE}[expect]\noutcome = \"pass\"\n");
    let a = write(dir.path(), "a.toml", &body);
    let b = write(dir.path(), "b.toml", &body);
    for cmd in ["run", "check", "list"] {
        let out = memsim().arg(cmd).arg(dir.path()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", err(&out));
        let e = err(&out);
        assert!(e.contains(&b.display().to_string()) && e.contains(&a.display().to_string()) && e.contains("`t`"), "{cmd}: {e}");
    }
}

// issue 13: `check DIR` refused a directory that `run DIR` accepted.
#[test]
fn check_takes_a_directory_as_run_does() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.toml", &format!("{HEAD}{PROBE}[expect]\noutcome = \"pass\"\n"));
    let out = memsim().arg("check").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("good.toml (t)"));
    let empty = tempfile::tempdir().unwrap();
    let out = memsim().arg("check").arg(empty.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "an empty directory checks nothing: {}", err(&out));
}

// issue 13: each file mistake `check` accepted (or explained poorly) is exit 2 at file:line:column.
#[test]
fn each_file_mistake_is_exit_2_at_its_place_with_the_valid_values() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("no-expect.toml", format!("{HEAD}{PROBE}"), ":8:1: the scenario has no [expect] table", "outcome = \"pass\""),
        ("empty-expect.toml", format!("{HEAD}{PROBE}[expect]\n"), ":8:1: [expect] needs `outcome", "\"fail\""),
        ("no-0x.toml", format!("{HEAD}{PROBE}[expect]\noutcome = \"fail\"\ncode = \"80072EE2\"\n"), ":10:8: write the code in hex", "\"0x80072EE2\""),
        ("outcome-1.toml", format!("{HEAD}{PROBE}[expect]\noutcome = 1\n"), ":9:11: invalid type: integer `1`", "\"pass\" or \"fail\""),
        (
            "scale.toml",
            format!("{HEAD}[world]\ntime_scale = \"fast\"\n{PROBE}[expect]\noutcome = \"pass\"\n"),
            ":7:14: invalid type: string \"fast\"",
            "from 0.001 to 1000000",
        ),
        (
            "target.toml",
            format!("{HEAD}[client]\nprobe = \"discovery\"\ntarget = \"ftp://x\"\n[expect]\noutcome = \"pass\"\n"),
            ":8:10: target `ftp://x`",
            "https://",
        ),
        (
            "target-host.toml",
            format!("{HEAD}[client]\nprobe = \"discovery\"\ntarget = \"https://example.org/\"\n[expect]\noutcome = \"pass\"\n"),
            ":8:10: target host `example.org` is neither emulated",
            "contoso.com",
        ),
        ("text.toml", format!("{HEAD}{PROBE}[expect]\noutcome = \"pass\"\nstdout_contains = [{{ txt = \"x\" }}]\n"), ":10:22: unknown key `txt`", "text"),
    ];
    for (name, text, place, values) in cases {
        let path = write(dir.path(), name, &text);
        let out = memsim().arg("check").arg(&path).output().unwrap();
        let e = err(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {e}");
        assert!(e.contains(&format!("{}{place}", path.display())), "{name}: {e}");
        assert!(e.contains(values), "{name} names the valid values: {e}");
    }
}

// issue 13: a relative allow-list `file` was read from the current directory, so a scenario
// with its allow-list beside it worked only when run from there.
#[test]
fn a_relative_allow_list_file_is_read_beside_its_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("customer");
    std::fs::create_dir(&sub).unwrap();
    write(&sub, "allow.txt", "*.manage.microsoft.com\n");
    let body = format!("{HEAD}[[fault]]\nkind = \"proxy.allow_list\"\nfile = \"allow.txt\"\n{PROBE}[expect]\noutcome = \"pass\"\n");
    let path = write(&sub, "allow-list.toml", &body);
    let elsewhere = tempfile::tempdir().unwrap();
    let out = memsim().current_dir(elsewhere.path()).arg("check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    // And the world reads the same file: the discovery host is on it, so the probe passes.
    let out = memsim().current_dir(elsewhere.path()).arg("run").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", String::from_utf8_lossy(&out.stdout), err(&out));
}

// issue 13: `--time-scale -1` suggested `-- -1` (which starts -1 as the COMMAND), `--jobs 0`
// became 1 silently, `memsim help --help` was an error.
#[test]
fn flags_out_of_range_are_refused_with_their_range() {
    let out = memsim().args(["run", "--time-scale", "-1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("from 0.001 to 1000000") && !err(&out).contains("'-- -1'"), "{}", err(&out));
    let out = memsim().args(["up", "--time-scale", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    let out = memsim().args(["run", "--jobs", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("at least 1"), "{}", err(&out));
    let out = memsim().args(["help", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", err(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: memsim <COMMAND>"));
    let out = memsim().args(["probe", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("The world.json of a running world"));
}

// issue 13: `memsim probe` against a stopped world waited 3 s and reported 0x80072EE2, as if
// DNS were broken.
#[test]
fn probe_against_a_stopped_world_says_no_world_runs() {
    use std::io::BufRead;
    // A real world's world.json, kept after the world stopped (as after a SIGKILL).
    let state = tempfile::tempdir().unwrap();
    let mut up =
        memsim().arg("up").arg("--state-dir").arg(state.path()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let mut ready = String::new();
    std::io::BufReader::new(up.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert!(ready.contains("\"ready\""), "{ready}");
    let kept = state.path().join("kept-world.json");
    std::fs::copy(state.path().join("world.json"), &kept).unwrap();
    let _ = Command::new("kill").arg("-TERM").arg(up.id().to_string()).status();
    up.wait().unwrap();
    let started = std::time::Instant::now();
    let out = memsim().args(["probe", "discovery", "--world"]).arg(&kept).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", err(&out));
    assert!(err(&out).contains("no world is running"), "{}", err(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "it waited as if DNS were slow");
    let out = memsim().args(["probe", "discovery", "--world"]).arg(state.path().join("world.json")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(err(&out).contains("no world is running"), "{}", err(&out));
}

// issue 13: the client kept the machine's GIT_SSL_CAINFO, PIP_CERT, AWS_CA_BUNDLE and
// NIX_SSL_CERT_FILE although README promises "none of the machine's own".
#[test]
fn a_command_sees_none_of_the_machines_ca_or_proxy_variables() {
    let leaked = ["GIT_SSL_CAINFO", "PIP_CERT", "AWS_CA_BUNDLE", "NIX_SSL_CERT_FILE", "CARGO_HTTP_CAINFO", "npm_config_cafile", "FTP_PROXY"];
    let mut cmd = memsim();
    for v in leaked {
        cmd.env(v, "/machine/own/bundle.pem");
    }
    let out = cmd.args(["run", "healthy-discovery", "--format", "json", "--", "env"]).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", err(&out)));
    let env = doc["scenarios"][0]["client"]["stdout"].as_str().unwrap();
    for v in leaked {
        assert!(!env.lines().any(|l| l.starts_with(&format!("{v}="))), "{v} reached the client:\n{env}");
    }
    assert!(env.contains("MEMSIM_TARGET=https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc"), "{env}");
}
