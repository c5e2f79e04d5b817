//! Issue 5, revocation: the world's CRL and OCSP responders through real clients — `openssl
//! crl`, `openssl ocsp`, `openssl verify -crl_check`, curl — and runtime revocation with
//! `memsim revoke` / `memsim restore` against a running `memsim up`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memsim_e2e::{Up, clean_env, memsim_bin, text};
use serde_json::Value;

const CMG: &str = "granitefalls.cloudapp.net";

fn world_json(up: &Up) -> PathBuf {
    up.state.path().join("world.json")
}

/// GET `url` (an `http://` URL of the world) from the HTTP front with curl; returns status and
/// the body saved at `out`. `http1_0` sends HTTP/1.0, as CryptoAPI and openssl do.
fn curl_get(up: &Up, url: &str, out: &Path) -> String {
    let (host, path) = mock_cloud::pki::split_url(url).unwrap();
    let o = clean_env(Command::new("curl"))
        .args(["-sS", "--max-time", "10", "-o"])
        .arg(out)
        .args(["-w", "%{http_code} %{content_type}", "-H"])
        .arg(format!("Host: {host}"))
        .arg(format!("http://{}{path}", up.http_addr()))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn openssl(args: &[&str]) -> Output {
    clean_env(Command::new("openssl")).args(args).output().unwrap()
}

fn memsim(args: &[&str]) -> Output {
    clean_env(Command::new(memsim_bin())).args(args).output().unwrap()
}

/// The leaf of `host` and its issuer as PEM files in the world's state dir, from the control
/// endpoint; returns (leaf, issuer, OCSP URL, CRL URLs).
fn certificates(up: &Up, host: &str) -> (PathBuf, PathBuf, String, Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = harness::control::Client::for_world(&world_json(up)).unwrap();
    let cert: Value = rt.block_on(client.certificate(host)).unwrap();
    let (leaf, issuer) = (up.state.path().join("leaf.pem"), up.state.path().join("issuer.pem"));
    std::fs::write(&leaf, cert["pem"].as_str().unwrap()).unwrap();
    std::fs::write(&issuer, cert["issuer_pem"].as_str().unwrap()).unwrap();
    let crls = cert["crl_urls"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_string()).collect();
    (leaf, issuer, cert["ocsp_url"].as_str().unwrap().to_string(), crls)
}

/// `openssl ocsp` against the world's HTTP front, with the responder's Host.
fn ocsp(up: &Up, leaf: &Path, issuer: &Path, url: &str) -> String {
    ocsp_with(up, leaf, issuer, url, &[])
}

/// As [`ocsp`], with more `openssl ocsp` arguments.
fn ocsp_with(up: &Up, leaf: &Path, issuer: &Path, url: &str, more: &[&str]) -> String {
    let (host, path) = mock_cloud::pki::split_url(url).unwrap();
    let url = format!("http://{}{path}", up.http_addr());
    let host = format!("Host={host}");
    let ca = up.ca();
    let mut args =
        vec!["ocsp", "-issuer", issuer.to_str().unwrap(), "-cert", leaf.to_str().unwrap(), "-url", &url, "-header", &host, "-CAfile", ca.to_str().unwrap()];
    args.extend_from_slice(more);
    text(&openssl(&args))
}

#[test]
fn openssl_parses_every_served_crl() {
    let up = Up::start(None);
    let out = up.state.path().join("x.crl");
    let mut n = 0;
    for ca in &mock_cloud::Catalog::builtin().unwrap().pki.cas {
        for url in &ca.crl {
            assert_eq!(curl_get(&up, url, &out), "200 application/pkix-crl", "{url}");
            let t = text(&openssl(&["crl", "-inform", "DER", "-in", out.to_str().unwrap(), "-noout", "-text"]));
            assert!(t.contains("No Revoked Certificates") && t.contains("Next Update"), "{url}: {t}");
            n += 1;
        }
    }
    assert!(n >= 14, "{n} CRL URLs");
}

#[test]
fn runtime_revoke_flips_ocsp_the_crl_openssl_verify_and_the_probe() {
    let up = Up::start(None);
    let world = world_json(&up);
    let (leaf, issuer, ocsp_url, crls) = certificates(&up, CMG);
    let t = ocsp(&up, &leaf, &issuer, &ocsp_url);
    assert!(t.contains("Response verify OK") && t.contains(": good"), "{t}");
    let probe = memsim(&["probe", "cmg-connect", "--world", world.to_str().unwrap()]);
    assert!(probe.status.success(), "{}", text(&probe));

    let out = memsim(&["revoke", CMG, "--world", world.to_str().unwrap(), "--reason", "superseded"]);
    assert!(out.status.success(), "{}", text(&out));
    let serial = serde_json::from_slice::<Value>(&out.stdout).unwrap()["serial"].as_str().unwrap().to_string();
    let t = ocsp(&up, &leaf, &issuer, &ocsp_url);
    assert!(t.contains("Response verify OK") && t.contains(": revoked") && t.contains("Reason: superseded"), "{t}");

    let der = up.state.path().join("issuer.crl");
    assert_eq!(curl_get(&up, &crls[0], &der), "200 application/pkix-crl");
    let crl_text = text(&openssl(&["crl", "-inform", "DER", "-in", der.to_str().unwrap(), "-noout", "-text"]));
    assert!(crl_text.contains(&format!("Serial Number: {serial}")), "{crl_text}");
    let pem = up.state.path().join("issuer-crl.pem");
    assert!(openssl(&["crl", "-inform", "DER", "-in", der.to_str().unwrap(), "-out", pem.to_str().unwrap()]).status.success());
    let v = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        up.ca().to_str().unwrap(),
        "-untrusted",
        issuer.to_str().unwrap(),
        "-CRLfile",
        pem.to_str().unwrap(),
        leaf.to_str().unwrap(),
    ]);
    assert!(!v.status.success() && text(&v).contains("certificate revoked"), "{}", text(&v));
    let probe = memsim(&["probe", "cmg-connect", "--world", world.to_str().unwrap()]);
    assert!(!probe.status.success() && text(&probe).contains("CERT_REVOKED"), "{}", text(&probe));

    let out = memsim(&["restore", &serial, "--world", world.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ocsp(&up, &leaf, &issuer, &ocsp_url).contains(": good"));
    let (_, journal) = up.stop();
    let whats: Vec<&str> = journal.iter().filter(|e| e["component"] == "pki").filter_map(|e| e["what"].as_str()).collect();
    assert!(whats.contains(&"revoked") && whats.contains(&"restored"), "{whats:?}");
}

/// Issue 20 item 4: answers are pre-produced (RFC 5019 §2.2). `openssl ocsp -no_nonce` (a
/// request as CryptoAPI sends it) gets the same bytes twice in one window, and a revocation is
/// in the very next answer, as is the restore after it.
#[test]
fn pre_produced_answers_repeat_within_a_window_and_follow_revocation() {
    let up = Up::start(None);
    let world = world_json(&up);
    let (leaf, issuer, ocsp_url, _) = certificates(&up, CMG);
    let answer = |name: &str| {
        let out = up.state.path().join(name);
        let t = ocsp_with(&up, &leaf, &issuer, &ocsp_url, &["-no_nonce", "-respout", out.to_str().unwrap()]);
        (t, std::fs::read(&out).unwrap())
    };
    let (t, first) = answer("first.der");
    assert!(t.contains("Response verify OK") && t.contains(": good"), "{t}");
    let (_, second) = answer("second.der");
    assert_eq!(first, second, "two requests in one window get the same signed answer");

    let out = memsim(&["revoke", CMG, "--world", world.to_str().unwrap(), "--reason", "key_compromise"]);
    assert!(out.status.success(), "{}", text(&out));
    let (t, revoked) = answer("revoked.der");
    assert!(t.contains("Response verify OK") && t.contains(": revoked") && t.contains("Reason: keyCompromise"), "{t}");
    assert_ne!(revoked, first);
    let out = memsim(&["restore", CMG, "--world", world.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let (t, _) = answer("restored.der");
    assert!(t.contains("Response verify OK") && t.contains(": good"), "{t}");
}

#[test]
fn garbage_gets_malformed_request_over_http_1_0() {
    let up = Up::start(None);
    let out = clean_env(Command::new("curl"))
        .args(["-sS", "-0", "--max-time", "10", "-H", "Host: ocsp.digicert.com", "-H", "Content-Type: application/ocsp-request"])
        .args(["--data-binary", "not an OCSP request", "-w", "\n%{http_code} %{content_type} %{http_version}"])
        .arg(format!("http://{}/", up.http_addr()))
        .output()
        .unwrap();
    let (body, meta) = out.stdout.split_at(out.stdout.iter().rposition(|b| *b == b'\n').unwrap());
    // OCSPResponse { responseStatus malformedRequest(1) } (RFC 6960 §4.2.1).
    assert_eq!(body, [0x30, 0x03, 0x0a, 0x01, 0x01]);
    // curl prints the answer's HTTP version 1.0 as "1" (1.1 would be "1.1").
    let meta = String::from_utf8_lossy(meta).trim().to_string();
    assert!(["200 application/ocsp-response 1", "200 application/ocsp-response 1.0"].contains(&meta.as_str()), "{meta}");
}

#[test]
fn control_is_token_guarded_private_and_gone_after_exit() {
    use std::os::unix::fs::PermissionsExt as _;
    let up = Up::start(None);
    let dir = up.state.path().to_path_buf();
    let token = dir.join("control.token");
    assert_eq!(std::fs::metadata(&token).unwrap().permissions().mode() & 0o777, 0o600);
    let control: Value = serde_json::from_slice(&std::fs::read(dir.join("control.json")).unwrap()).unwrap();
    let addr = control["addr"].as_str().unwrap();
    assert!(addr.starts_with("127.0.0.1:"));
    let status = |auth: &str| {
        let o = clean_env(Command::new("curl"))
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", auth])
            .arg(format!("http://{addr}/v1/certificates"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(status("Authorization: Bearer wrong"), "401");
    assert_eq!(status(&format!("Authorization: Bearer {}", std::fs::read_to_string(&token).unwrap())), "200");
    let world = world_json(&up);
    let bad = memsim(&["revoke", "not-emulated.example", "--world", world.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let bad = memsim(&["revoke", CMG, "--world", world.to_str().unwrap(), "--reason", "bored"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    let (status, _) = up.stop();
    assert!(status.success());
    assert!(!token.exists() && !dir.join("control.json").exists());
}

/// curl `--cert-status` (OpenSSL backend) verifies the OCSP answer the HTTPS front staples.
fn curl_cert_status(up: &Up, host: &str) -> Output {
    up.curl_https_with(host, "/", &["--cert-status"])
}

#[test]
fn the_https_front_staples_ocsp_and_a_runtime_revocation_reaches_the_staple() {
    let up = Up::start(None);
    let world = world_json(&up);
    let s = clean_env(Command::new("openssl"))
        .args(["s_client", "-status", "-servername", CMG, "-connect"])
        .arg(up.https_addr())
        .arg("-CAfile")
        .arg(up.ca())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let t = text(&s);
    assert!(t.contains("OCSP Response Status: successful") && t.contains("Cert Status: good"), "{t}");
    let ok = curl_cert_status(&up, CMG);
    assert!(ok.status.success(), "{}", text(&ok));

    let out = memsim(&["revoke", CMG, "--world", world.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let revoked = curl_cert_status(&up, CMG);
    // curl: (91) SSL certificate revocation reason: keyCompromise (1)
    assert_eq!(revoked.status.code(), Some(91), "{}", text(&revoked));
    assert!(text(&revoked).contains("keyCompromise"), "{}", text(&revoked));
    // Without --cert-status curl ignores the staple, as it ignores revocation by default.
    let plain = up.curl_https(CMG, "/");
    assert!(plain.status.success(), "{}", text(&plain));

    let out = memsim(&["restore", CMG, "--world", world.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(curl_cert_status(&up, CMG).status.success());
}

/// A world whose OCSP answers a delegated responder signs (RFC 6960 §4.2.2.2): openssl checks
/// the responder's certificate against the issuer and accepts the answer, and the ConfigMgr
/// probe does the same checks; revocation still flips the answer.
#[test]
fn a_delegated_responder_signs_and_real_clients_accept_it() {
    let up = Up::start_toml("delegated", "revocation", "[world]\nocsp_signer = \"delegated\"\n");
    let world = world_json(&up);
    let (leaf, issuer, ocsp_url, _) = certificates(&up, CMG);
    let t = ocsp_with(&up, &leaf, &issuer, &ocsp_url, &["-verify_other", issuer.to_str().unwrap(), "-resp_text"]);
    assert!(t.contains("Response verify OK") && t.contains(": good"), "{t}");
    assert!(t.contains("OCSP Responder") && t.contains("OCSP Signing"), "the responder's certificate rides along: {t}");
    let probe = memsim(&["probe", "cmg-connect", "--world", world.to_str().unwrap()]);
    assert!(probe.status.success(), "{}", text(&probe));
    assert!(memsim(&["revoke", CMG, "--world", world.to_str().unwrap()]).status.success());
    let probe = memsim(&["probe", "cmg-connect", "--world", world.to_str().unwrap()]);
    assert!(!probe.status.success() && text(&probe).contains("CERT_REVOKED"), "{}", text(&probe));
}
