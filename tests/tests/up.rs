//! `memsim up`: readiness, the files it writes, Host dispatch, shutdown.

use memsim_e2e::{Up, clean_env, text};

#[test]
fn world_json_has_exactly_the_documented_keys_and_env_sh_points_at_it() {
    let up = Up::start(None);
    let mut keys: Vec<&str> = up.world.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["ca_bundle", "content", "dns_addr", "hosts", "http_addr", "https_addr", "proxy_url", "tenant"]);
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
