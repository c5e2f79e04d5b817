//! The generated PKI through real TLS clients: openssl and curl (OpenSSL), python3's ssl module.
//! A healthy world verifies for every emulated host; each PKI scenario fails the way the real
//! fault fails.

use std::process::Command;
use std::thread;

use memsim_e2e::{Up, clean_env, text};

const DISCOVERY: &str = "/EnrollmentServer/Discovery.svc";

#[test]
fn openssl_verifies_every_emulated_host_of_the_default_world() {
    let up = Up::start(None);
    let hosts = up.hosts();
    assert!(hosts.len() > 150, "{}", hosts.len());
    // A wildcard is checked through a name one label below it.
    let names: Vec<String> = hosts.iter().map(|h| h.replacen("*.", "probe.", 1)).collect();
    let failures: Vec<String> = thread::scope(|s| {
        let chunks: Vec<_> = names.chunks(names.len().div_ceil(4)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let up = &up;
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|name| {
                            let out = up.s_client(name);
                            let t = text(&out);
                            (!t.contains("Verify return code: 0 (ok)")).then(|| format!("{name}: {t}"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{} hosts failed verification:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn curl_gets_the_discovery_probe_on_every_discovery_host() {
    let up = Up::start(None);
    for host in ["enterpriseenrollment-s.manage.microsoft.com", "enterpriseenrollment.manage.microsoft.com", "enrollment.manage.microsoft.com"] {
        let out = up.curl_https(host, DISCOVERY);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{host}: {}", text(&out));
    }
}

/// Each PKI scenario, the host it breaks, and how curl (OpenSSL) reports it.
const CASES: &[(&str, &str, &str)] = &[
    ("pki-expired-root", "enterpriseenrollment-s.manage.microsoft.com", "certificate has expired"),
    ("pki-expired-intermediate", "enterpriseenrollment-s.manage.microsoft.com", "certificate has expired"),
    ("pki-leaf-not-yet-valid", "enrollment.manage.microsoft.com", "certificate is not yet valid"),
    ("pki-wrong-host", "granitefalls.cloudapp.net", "no alternative certificate subject name matches target host name"),
    ("pki-untrusted-root", "granitefalls.cloudapp.net", "unable to get local issuer certificate"),
    ("pki-incomplete-chain", "enterpriseenrollment-s.manage.microsoft.com", "unable to get local issuer certificate"),
];

#[test]
fn each_pki_scenario_fails_curl_like_the_real_fault_and_spares_other_hosts() {
    thread::scope(|s| {
        for &(scenario, host, message) in CASES {
            s.spawn(move || {
                let up = Up::start(Some(scenario));
                let out = up.curl_https(host, DISCOVERY);
                assert_eq!(out.status.code(), Some(60), "{scenario}: {}", text(&out));
                assert!(text(&out).contains(message), "{scenario}: expected {message:?}, got {}", text(&out));
                // Hosts outside the fault keep a healthy chain.
                let ok = up.curl_https("login.microsoftonline.com", "/");
                assert_eq!(String::from_utf8_lossy(&ok.stdout), "200", "{scenario}: {}", text(&ok));
                let (_, journal) = up.stop();
                // OpenSSL rejects the chain inside the handshake (the server hears its alert);
                // curl checks the name after it and hangs up without a request.
                let refused = journal
                    .iter()
                    .find(|e| e["component"] == "tls" && e["host"] == host && (e["what"] == "handshake_failed" || e["what"] == "closed_without_request"))
                    .unwrap_or_else(|| panic!("{scenario}: no refused handshake journaled"));
                assert!(refused["fault"].as_str().unwrap().starts_with("pki."), "{scenario}: {refused}");
                if refused["what"] == "handshake_failed" {
                    assert!(refused["detail"]["error"].as_str().unwrap().contains("alert"), "{scenario}: {refused}");
                } else {
                    assert_eq!(scenario, "pki-wrong-host");
                }
            });
        }
    });
}

#[test]
fn openssl_names_the_verify_error_of_each_fault() {
    let cases = [
        ("pki-expired-root", "r.manage.microsoft.com", "certificate has expired"),
        ("pki-untrusted-root", "granitefalls.cloudapp.net", "unable to get local issuer certificate"),
        ("pki-incomplete-chain", "r.manage.microsoft.com", "unable to get local issuer certificate"),
        ("pki-leaf-not-yet-valid", "r.manage.microsoft.com", "certificate is not yet valid"),
    ];
    for (scenario, name, expected) in cases {
        let up = Up::start(Some(scenario));
        let out = up.s_client(name);
        assert!(!out.status.success(), "{scenario}");
        assert!(text(&out).contains(expected), "{scenario}: {}", text(&out));
    }
}

#[test]
fn python_ssl_accepts_the_healthy_chain_and_rejects_an_expired_root() {
    const SCRIPT: &str = r#"
import socket, ssl, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(b"GET /EnrollmentServer/Discovery.svc HTTP/1.1\r\nHost: " + host.encode() + b"\r\nConnection: close\r\n\r\n")
            print(tls.recv(100).split(b"\r\n")[0].decode())
except ssl.SSLCertVerificationError as e:
    print("verify failed:", e.verify_message)
"#;
    for (scenario, expected) in [(None, "HTTP/1.1 200 OK"), (Some("pki-expired-root"), "verify failed: certificate has expired")] {
        let up = Up::start(scenario);
        let port = up.https_addr().rsplit_once(':').unwrap().1.to_string();
        let out = clean_env(Command::new("python3")).args(["-c", SCRIPT, "enterpriseenrollment-s.manage.microsoft.com", &port]).arg(up.ca()).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected, "{scenario:?}: {}", text(&out));
    }
}
