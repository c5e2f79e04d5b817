//! `memsim up`: readiness, the files it writes, Host dispatch, shutdown.

use memsim_e2e::{Up, clean_env, text};

#[test]
fn world_json_has_exactly_the_documented_keys_and_env_sh_points_at_it() {
    let up = Up::start(None);
    let mut keys: Vec<&str> = up.world.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["ca_bundle", "client_ca_bundle", "content", "dns_addr", "entra", "hosts", "http_addr", "https_addr", "proxy_url", "schema", "tenant", "time_scale"]
    );
    // issue 18 #5: the shape's version.
    assert_eq!(up.world["schema"], "memsim/world/1");
    // Issue 12: the Entra entry a test signs in with, no docs needed.
    assert_eq!(up.world["entra"]["authority"], format!("https://login.microsoftonline.com/{}", up.world["tenant"]["id"].as_str().unwrap()));
    assert!(
        up.world["entra"]["users"][0]["password"].is_string() && up.world["entra"]["apps"].as_array().unwrap().iter().any(|a| a["client_secret"].is_string())
    );
    // issue 12: the device-certificate CAs, apart from the TLS trust bundle.
    let client_ca = std::fs::read_to_string(up.description.client_ca_bundle.clone()).unwrap();
    assert_eq!(client_ca.matches("BEGIN CERTIFICATE").count(), 3, "MS-Organization-Access, the Intune root and its MDM device CA");
    let tls_ca = std::fs::read_to_string(up.ca()).unwrap();
    // MS-Organization-Access (first) is not a TLS root; the Intune root (second) is in both, as an
    // enrolled device has it in Root/System (issue 14: its MDM certificates verify against ca.pem).
    let in_tls: Vec<bool> = client_ca.split("-----END CERTIFICATE-----").filter(|c| c.contains("BEGIN")).map(|c| tls_ca.contains(c.trim())).collect();
    assert_eq!(in_tls, [false, true, true], "the Intune root and its MDM device CA are in ca.pem as well");
    assert!(up.world["time_scale"].as_f64().is_some_and(|s| s > 0.0), "the world's time scale: {}", up.world["time_scale"]);
    assert!(up.ca().is_absolute() && up.ca().exists());
    assert_eq!(up.world["tenant"]["domains"], serde_json::json!(["contoso.com", "us.contoso.com", "eu.contoso.com"]));
    assert!(up.https_addr().starts_with("127.0.0.1:") && up.http_addr().starts_with("127.0.0.1:"));
    let env = std::fs::read_to_string(up.state.path().join("env.sh")).unwrap();
    for var in ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "MEMSIM_WORLD"] {
        assert!(env.contains(&format!("export {var}=")), "{var} missing:\n{env}");
    }
    // Sourcing env.sh is enough for curl: no --cacert.
    let script = format!(
        ". '{}' && curl -sS -o /dev/null -w '%{{http_code}}' --connect-to enrollment.manage.microsoft.com:443:{} https://enrollment.manage.microsoft.com/enrollmentserver/discovery.svc",
        up.state.path().join("env.sh").display(),
        up.https_addr()
    );
    let out = clean_env(std::process::Command::new("sh")).arg("-c").arg(script).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", text(&out));
}

#[test]
fn sigterm_stops_cleanly_and_leaves_the_journal() {
    let up = Up::start(None);
    let out = up.curl_https("enterpriseenrollment-s.manage.microsoft.com", "/EnrollmentServer/Discovery.svc");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", text(&out));
    let state = up.state.path().to_path_buf();
    let (status, journal) = up.stop();
    assert!(status.success(), "{status:?}");
    assert!(!state.join("world.json").exists(), "world.json removed once the world is down");
    let request = journal.iter().find(|e| e["component"] == "http" && e["what"] == "request").expect("the HTTP exchange is journaled");
    assert_eq!(request["host"], "enterpriseenrollment-s.manage.microsoft.com");
    assert_eq!(request["detail"]["status"], 200);
    assert_eq!(request["detail"]["service"], "enrollment_discovery");
    assert!(journal.iter().any(|e| e["component"] == "tls" && e["what"] == "handshake"));
}

#[test]
fn unknown_hosts_get_421_and_a_journal_entry() {
    let up = Up::start(None);
    let out = clean_env(std::process::Command::new("curl"))
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: example.org"])
        .arg(format!("http://{}/", up.http_addr()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "421", "{}", text(&out));
    // Over TLS the name must be emulated to get a certificate at all.
    let out = up.s_client("example.org");
    assert!(!out.status.success(), "{}", text(&out));
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "misdirected" && e["host"] == "example.org"));
    assert!(
        journal
            .iter()
            .any(|e| e["what"] == "handshake_refused" && e["host"] == "example.org" && e["detail"]["error"].as_str().unwrap().contains("not emulated"))
    );
}

#[test]
fn a_usgov_world_serves_the_us_government_names() {
    let up = Up::start_toml("usgov", "baseline", "[world]\ncloud = \"usgov\"\n");
    let out = up.curl_https("enterpriseenrollment-s.manage.microsoft.us", "/EnrollmentServer/Discovery.svc");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", text(&out));
    assert!(!up.hosts().contains(&"enterpriseenrollment-s.manage.microsoft.com".to_string()));
}

#[test]
fn garbage_and_half_open_connections_do_not_stop_the_front() {
    use std::io::{Read, Write};
    let up = Up::start(None);
    // Not TLS at all on the HTTPS front; then a client that connects and says nothing.
    let mut s = std::net::TcpStream::connect(up.https_addr()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let _silent = std::net::TcpStream::connect(up.https_addr()).unwrap();
    // A garbage request line on the HTTP front gets a 400, not a hang.
    let mut h = std::net::TcpStream::connect(up.http_addr()).unwrap();
    h.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    let mut resp = String::new();
    let _ = h.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp:?}");
    let out = up.curl_https("enrollment.manage.microsoft.com", "/EnrollmentServer/Discovery.svc");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", text(&out));
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "handshake_failed" && e["detail"]["error"].as_str().unwrap().contains("not a TLS ClientHello")));
}

#[test]
fn memsim_probe_runs_a_reference_client_against_a_running_world() {
    let up = Up::start(Some("pki-expired-root"));
    let world = up.state.path().join("world.json");
    let run = |name: &str| clean_env(std::process::Command::new(memsim_e2e::memsim_bin())).args(["probe", name, "--world"]).arg(&world).output().unwrap();
    let out = run("discovery");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((result["passed"].as_bool(), result["step"].as_str(), result["code"].as_str()), (Some(false), Some("tls"), Some("0x8018000D")));
    let out = run("cmg-connect");
    assert_eq!(out.status.code(), Some(0), "the CMG chain is healthy in this scenario: {}", text(&out));
    assert_eq!(run("no-such-probe").status.code(), Some(2));
}

/// Poll `dir`'s journal until `pred` holds for it (at most 10 s): a file to wait on, not a sleep.
fn journal_until(dir: &std::path::Path, pred: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let journal = memsim_e2e::read_journal(dir);
        if pred(&journal) {
            return journal;
        }
        assert!(std::time::Instant::now() < deadline, "the journal file never held it; it holds {} events", journal.len());
        // The poll's interval, not a wait for the writer: the loop ends on what the file holds.
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn count(journal: &[serde_json::Value], component: &str, what: &str) -> usize {
    journal.iter().filter(|e| e["component"] == component && e["what"] == what).count()
}

// issue 11 (defect 4): a second `memsim up` on the same state dir started too, and its SIGTERM
// deleted the first's world.json and control files; the last to exit overwrote journal.jsonl.
#[test]
fn a_second_up_on_a_state_dir_in_use_exits_2_naming_the_holder_and_touches_nothing() {
    let up = Up::start(None);
    let dir = up.state.path().to_path_buf();
    let out = up.curl_https("enterpriseenrollment-s.manage.microsoft.com", "/EnrollmentServer/Discovery.svc");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", text(&out));
    let files = ["world.json", "control.json", "control.token", "env.sh", "ca.pem"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    journal_until(&dir, |j| count(j, "http", "request") == 1);
    let journal_before = std::fs::read(dir.join("journal.jsonl")).unwrap();

    let second = memsim_e2e::spawn_up(&dir, None, &[], &[], std::process::Stdio::piped());
    let out = second.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(out.stdout.is_empty(), "no ready line: {}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("pid {}", up.pid())) && err.contains("in use"), "{err}");

    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    assert!(before == after, "the second up changed the first's files");
    let journal_after = std::fs::read(dir.join("journal.jsonl")).unwrap();
    assert!(journal_after.starts_with(&journal_before), "the first's journal was rewritten");
    // The first world still serves, and stops with all of its journal.
    let out = up.curl_https("enrollment.manage.microsoft.com", "/EnrollmentServer/Discovery.svc");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", text(&out));
    let (status, journal) = up.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(count(&journal, "http", "request"), 2);
    assert_eq!(count(&journal, "world", "starting"), 1, "one world's journal, not two");
}

// issue 11 (defect 4): the lock of a killed world is taken over (the kernel released it).
#[test]
fn a_killed_worlds_state_dir_is_taken_over() {
    let mut up = Up::start(None);
    let killed = up.pid();
    assert!(!up.kill().success());
    let state = tempfile::TempDir::new().unwrap();
    // The killed world's directory, reused by a new world (its TempDir moves to the new Up).
    let dir = std::mem::replace(&mut up.state, state);
    let again = Up::start_in(dir, None, &[], &[]);
    let lock = std::fs::read_to_string(again.state.path().join("memsim.lock")).unwrap();
    assert_eq!(lock.trim(), again.pid().to_string(), "the new holder's pid replaced {killed}");
    let (status, journal) = again.stop();
    assert!(status.success(), "{status:?}");
    assert_eq!(count(&journal, "world", "ready"), 1, "the new world's journal replaced the old one");
}

// issue 11 (defect 5): a SIGKILL lost the whole journal (it was written only at exit).
#[test]
fn after_sigkill_the_journal_file_holds_the_ready_event_and_the_traffic() {
    let mut up = Up::start(None);
    let dir = up.state.path().to_path_buf();
    for path in ["/EnrollmentServer/Discovery.svc", "/enrollmentserver/discovery.svc"] {
        let out = up.curl_https("enterpriseenrollment-s.manage.microsoft.com", path);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{}", text(&out));
    }
    // The file catches up within the flush interval, while the world runs: no exit needed.
    journal_until(&dir, |j| count(j, "http", "request") == 2);
    up.kill();
    let journal = memsim_e2e::read_journal(&dir);
    assert_eq!((count(&journal, "world", "starting"), count(&journal, "world", "ready")), (1, 1));
    assert_eq!(count(&journal, "http", "request"), 2);
    assert!(count(&journal, "tls", "handshake") >= 2);
    let seqs: Vec<u64> = journal.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>(), "every event, in order, none torn");
}

// issue 11 (defect 5): SIGTERM after load took 7–11 s writing the journal. The precise figure
// is bench/journal-load.py's; this only bounds it generously and checks nothing was lost.
#[test]
fn sigterm_after_load_exits_promptly_with_every_event_in_the_journal() {
    let mut up = Up::start(None);
    let dns: std::net::SocketAddr = up.description.dns_addr;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    // 3,000 queries, each answered before the next: a bounded load on loopback.
    const QUERIES: u16 = 3000;
    let mut buf = [0u8; 512];
    for id in 0..QUERIES {
        let mut q = id.to_be_bytes().to_vec();
        q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        for label in ["enrollment", "manage", "microsoft", "com"] {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        socket.send_to(&q, dns).unwrap();
        let (n, _) = socket.recv_from(&mut buf).unwrap();
        assert!(n > 12 && buf[..2] == id.to_be_bytes());
    }
    let asked = std::time::Instant::now();
    up.signal("TERM");
    let status = up.wait(std::time::Duration::from_secs(30));
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < std::time::Duration::from_secs(5), "SIGTERM took {took:?}");
    let journal = memsim_e2e::read_journal(up.state.path());
    assert_eq!(count(&journal, "dns", "query"), QUERIES as usize);
}

// issue 11: memsim raises its soft descriptor limit toward the hard one at start.
#[test]
fn memsim_raises_its_soft_descriptor_limit_to_the_hard_one() {
    let state = tempfile::tempdir().unwrap();
    let script = format!("ulimit -Sn 256 && exec '{}' up --state-dir '{}'", memsim_e2e::memsim_bin().display(), state.path().display());
    let mut child = clean_env(std::process::Command::new("sh"))
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let line = memsim_e2e::read_line(&mut child);
    assert!(line.contains("\"ready\""), "{line:?}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    assert!(child.wait().unwrap().success());
    let row = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    let (soft, hard) = (cols[3], cols[4]);
    assert_ne!(soft, "256", "{row}");
    let expected = if hard == "unlimited" { (1u64 << 20).to_string() } else { hard.parse::<u64>().unwrap().min(1 << 20).to_string() };
    assert_eq!(soft, expected, "{row}");
}

// issue 10: a panic in a handler fails the world: `memsim up` journals it and exits 3.
#[test]
fn a_panic_in_a_handler_stops_up_with_exit_3_and_the_panic_in_the_journal() {
    let mut up = Up::start_in(tempfile::tempdir().unwrap(), None, &[], &[("MEMSIM_DEBUG_PANIC_ROUTE", "1")]);
    let out = clean_env(std::process::Command::new("curl"))
        .args(["-sS", "-o", "/dev/null", "-H", "Host: enrollment.manage.microsoft.com"])
        .arg(format!("http://{}/_memsim/panic", up.http_addr()))
        .output()
        .unwrap();
    assert!(!out.status.success(), "the connection died with its task: {}", text(&out));
    let status = up.wait(std::time::Duration::from_secs(10));
    assert_eq!(status.code(), Some(3), "{status:?}");
    let journal = memsim_e2e::read_journal(up.state.path());
    let panic = journal.iter().find(|e| e["component"] == "world" && e["what"] == "panic").expect("the panic is journaled");
    assert_eq!(panic["detail"]["task"], "the HTTP front");
    assert!(panic["detail"]["message"].as_str().unwrap().contains("/_memsim/panic"), "{panic}");
    assert!(!up.state.path().join("world.json").exists(), "a failed world is down");
}

// The panic route is armed only on request: an ordinary world answers the path like any other.
#[test]
fn the_panic_route_does_not_exist_in_an_ordinary_world() {
    let up = Up::start(None);
    let out = up.curl_https("enrollment.manage.microsoft.com", "/_memsim/panic");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "404", "{}", text(&out));
    let (status, journal) = up.stop();
    assert!(status.success());
    assert_eq!(count(&journal, "world", "panic"), 0);
}
