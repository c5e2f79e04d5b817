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

/// issue 11: each of these passed `memsim check` and panicked (or failed) in `memsim run`; now
/// `check` refuses each with exit 2 and the place of the offending value.
#[test]
fn check_refuses_values_the_world_cannot_build_where_they_stand() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("skew", "[world]\nskew = \"100000000d\"\n", ":7:9: invalid duration `100000000d`"),
        ("late-now", "[world]\nnow = \"9999-12-31T23:59:59Z\"\n", ":7:7: the world's certificates"),
        ("early-now", "[world]\nnow = \"0001-01-01T00:00:00Z\"\n", ":7:7: the world's certificates"),
        ("since", "[[fault]]\nkind = \"pki.expired\"\nca = \"baltimore-cybertrust-root\"\nsince = \"100000000d\"\n", ":9:10: invalid duration"),
        ("until", "[[fault]]\nkind = \"pki.not_valid_yet\"\nhosts = \"*.manage.microsoft.com\"\nuntil = \"3000000d\"\n", ":9:10: invalid duration"),
        ("domains", "[world]\ndomains = [\"\", \"..\", \"a..b\"]\n", ":7:12: domain `` is not a DNS name"),
        ("scale", "[world]\ntime_scale = 1e-300\n", ":7:14: invalid time scale"),
        ("fault-name", "[expect]\nevents = [{ component = \"tls\", fault = \"pki.expird\", absent = true }]\n", ":7:41: unknown fault kind `pki.expird`"),
    ];
    for (name, extra, expected) in cases {
        let path = write(&dir, &format!("{name}.toml"), &format!("{HEAD}{extra}"));
        let out = memsim().arg("check").arg(&path).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(&format!("{}{expected}", path.display())), "{name}: {err}");
    }
}

/// issue 10: one validation reports every problem of a file, and `run`, `up` and `list` refuse
/// what `check` refuses, before any world starts.
#[test]
fn every_problem_is_reported_and_every_command_validates_alike() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEAD}[world]\ndomains = [\"a..b\"]\nasu = \"NOWHERE\"\n[[fault]]\nkind = \"pki.expired\"\nca = \"nope\"\n");
    let path = write(&dir, "three.toml", &text);
    let p = path.display().to_string();
    let out = memsim().arg("check").arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for at in [format!("{p}:7:12: "), format!("{p}:8:7: unknown ASU"), format!("{p}:11:6: unknown CA `nope`")] {
        assert!(err.contains(&at), "{at} in {err}");
    }
    for args in [vec!["run", p.as_str()], vec!["up", "--scenario", p.as_str()], vec!["list", p.as_str()]] {
        let out = memsim().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(&format!("{p}:11:6: unknown CA `nope`")), "{args:?}: {err}");
    }
}

/// issue 11: a 50 MB scenario cost 1.58 GB of memory; a file above 1 MiB is refused unread,
/// and so is a device that never ends.
#[test]
fn check_refuses_a_file_above_one_mib_without_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{HEAD}# padding\n");
    text.push_str(&"#".repeat(1 << 20));
    let path = write(&dir, "big.toml", &text);
    for file in [path.as_path(), std::path::Path::new("/dev/zero")] {
        let out = memsim().arg("check").arg(file).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("{}:0:0: the file is larger than 1024 KiB", file.display())), "{err}");
    }
}

/// issue 10: `memsim probe` takes its names, and its help, from the one list of probes.
#[test]
fn probe_names_and_help_come_from_the_probe_enum() {
    let out = memsim().args(["probe", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{help}");
    for p in scenarios::Probe::ALL {
        assert!(help.contains(&format!("- {}:", p.as_str())) && help.contains(p.about()), "{} in {help}", p.as_str());
    }
    let out = memsim().args(["probe", "scp_validate", "--world", "w.json"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid value 'scp_validate'") && err.contains("scp-validate"), "{err}");
}

/// Network safety (review of issues 10/11): `memsim probe` connects where world.json says, so a
/// hand-edited world.json naming another machine is refused while it is read — exit 2 naming
/// the key, before any socket (with a socket first, the message would be "no world is running").
#[test]
fn probe_refuses_a_world_json_that_points_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = memsim::describe::Tenant::of(&scenarios::WorldSpec::default());
    let mut world = serde_json::json!({
        "https_addr": "127.0.0.1:1", "http_addr": "127.0.0.1:2", "dns_addr": "127.0.0.1:3",
        "proxy_url": "http://127.0.0.1:4", "time_scale": 1.0, "ca_bundle": "ca.pem",
        "tenant": tenant, "hosts": [], "content": [],
    });
    for (key, far) in [("proxy_url", "http://10.0.0.1:8080"), ("https_addr", "10.0.0.1:443")] {
        let mut w = world.clone();
        w[key] = far.into();
        let file = write(&dir, "world.json", &w.to_string());
        let out = memsim().args(["probe", "discovery", "--world"]).arg(&file).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("`{key}` is 10.0.0.1, not a loopback address")), "{key}: {err}");
    }
    world["time_scale"] = 0.into();
    let file = write(&dir, "world.json", &world.to_string());
    let out = memsim().args(["probe", "discovery", "--world"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`time_scale`"));
}
