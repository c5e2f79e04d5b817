//! Issue 16's acceptance through real peers: a chain served without its intermediate fails
//! `openssl s_client` and curl while the Windows-like probe completes it from the leaf's AIA
//! "CA Issuers" URL (which curl can fetch too, and with which `openssl verify` completes the chain);
//! with that host blocked every client fails. And the revocation check as CryptoAPI does it:
//! OCSP instead of refused CRLs, the staple instead of a responder answering tryLater, and
//! CRYPT_E_REVOCATION_OFFLINE with Windows' text when nothing can be had.

use std::process::{Command, Output, Stdio};

use memsim_e2e::{Up, clean_env, memsim_bin, text};
use serde_json::Value;

const HOST: &str = "enterpriseenrollment-s.manage.microsoft.com";
const DISCOVERY: &str = "/EnrollmentServer/Discovery.svc";
const CA_ISSUERS: &str = "http://www.microsoft.com/pkiops/certs/Microsoft%20Azure%20TLS%20Issuing%20CA%2001%20-%20xsign.crt";

fn probe(up: &Up, name: &str) -> (Output, Value) {
    let world = up.state.path().join("world.json");
    let out = clean_env(Command::new(memsim_bin())).args(["probe", name, "--world"]).arg(&world).output().expect("run memsim probe");
    let verdict: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out, verdict)
}

/// curl through the world's proxy, saving the body to `file` and printing the content type.
fn curl_via_proxy(up: &Up, url: &str, file: &std::path::Path) -> Output {
    clean_env(Command::new("curl"))
        .args(["-sS", "--max-time", "10", "-w", "%{http_code} %{content_type}", "-o"])
        .arg(file)
        .arg("-x")
        .arg(up.world["proxy_url"].as_str().unwrap())
        .arg(url)
        .output()
        .expect("run curl")
}

fn openssl(args: &[&str], input: Option<&std::path::Path>) -> Output {
    let mut cmd = clean_env(Command::new("openssl"));
    cmd.args(args).stdin(Stdio::null());
    if let Some(p) = input {
        cmd.arg("-in").arg(p);
    }
    cmd.output().expect("run openssl")
}

#[test]
fn incomplete_chain_passes_the_windows_probe_and_fails_openssl_and_curl() {
    let up = Up::start(Some("pki-incomplete-chain"));
    let s_client = up.s_client(HOST);
    assert!(!s_client.status.success() && text(&s_client).contains("unable to get local issuer certificate"), "{}", text(&s_client));
    let curl = up.curl_https(HOST, DISCOVERY);
    assert_eq!(curl.status.code(), Some(60), "{}", text(&curl));

    let (out, verdict) = probe(&up, "discovery");
    assert_eq!(out.status.code(), Some(0), "{verdict:#}");
    assert_eq!(verdict["passed"], true, "{verdict:#}");

    // The leaf names the URL; curl fetches a DER certificate there as application/pkix-cert,
    // and with it OpenSSL builds the chain too.
    let dir = tempfile::tempdir().unwrap();
    let shown = clean_env(Command::new("openssl"))
        .args(["s_client", "-showcerts", "-servername", HOST, "-connect", &up.https_addr()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let served = dir.path().join("served.pem");
    std::fs::write(&served, &shown.stdout).unwrap();
    let leaf_text = openssl(&["x509", "-noout", "-text"], Some(&served));
    assert!(text(&leaf_text).contains(&format!("CA Issuers - URI:{CA_ISSUERS}")), "{}", text(&leaf_text));
    let der = dir.path().join("issuer.crt");
    let fetched = curl_via_proxy(&up, CA_ISSUERS, &der);
    assert_eq!(String::from_utf8_lossy(&fetched.stdout), "200 application/pkix-cert", "{}", text(&fetched));
    let pem = dir.path().join("issuer.pem");
    let convert = openssl(&["x509", "-inform", "DER", "-out", pem.to_str().unwrap()], Some(&der));
    assert!(convert.status.success(), "{}", text(&convert));
    let subject = openssl(&["x509", "-noout", "-subject"], Some(&pem));
    assert!(text(&subject).contains("Microsoft Azure TLS Issuing CA 01"), "{}", text(&subject));
    let leaf = dir.path().join("leaf.pem");
    assert!(openssl(&["x509", "-out", leaf.to_str().unwrap()], Some(&served)).status.success());
    let completed = clean_env(Command::new("openssl")).arg("verify").arg("-CAfile").arg(up.ca()).arg("-untrusted").arg(&pem).arg(&leaf).output().unwrap();
    assert!(completed.status.success() && text(&completed).contains(": OK"), "{}", text(&completed));

    let (_, journal) = up.stop();
    let served = journal.iter().filter(|e| e["component"] == "pki" && e["what"] == "ca_cert_served").count();
    assert!(served >= 2, "the probe's download and curl's: {served}");
    let answered = |e: &&Value| e["component"] == "http" && e["what"] == "request" && e["host"] == HOST && (e["status"] == 200 || e["detail"]["status"] == 200);
    assert!(journal.iter().any(|e| answered(&e)), "the probe's discovery request");
}

#[test]
fn incomplete_chain_with_the_ca_issuers_host_blocked_fails_every_client() {
    let up = Up::start(Some("pki-incomplete-chain-ca-issuers-blocked"));
    let s_client = up.s_client(HOST);
    assert!(!s_client.status.success() && text(&s_client).contains("unable to get local issuer certificate"), "{}", text(&s_client));
    assert_eq!(up.curl_https(HOST, DISCOVERY).status.code(), Some(60));
    let (out, verdict) = probe(&up, "discovery");
    assert_eq!(out.status.code(), Some(1), "{verdict:#}");
    assert_eq!(verdict["code"], "0x80180012", "{verdict:#}");
    assert!(verdict["message"].as_str().unwrap().contains("CA Issuers download"), "{verdict:#}");
    let dir = tempfile::tempdir().unwrap();
    let blocked = curl_via_proxy(&up, CA_ISSUERS, &dir.path().join("x"));
    assert!(String::from_utf8_lossy(&blocked.stdout).starts_with("403"), "{}", text(&blocked));
    let (_, journal) = up.stop();
    assert!(!journal.iter().any(|e| e["what"] == "ca_cert_served"));
    assert!(!journal.iter().any(|e| e["component"] == "http" && e["what"] == "request" && e["host"] == HOST));
}

#[test]
fn revocation_follows_cryptoapi_ocsp_before_crls_staple_for_the_leaf_offline_with_windows_text() {
    let names = ["revocation-crl-refused-ocsp-healthy", "revocation-staple-good-ocsp-try-later", "revocation-offline-no-staple-ocsp-crl"];
    let out = clean_env(Command::new(memsim_bin())).args(["run", "--jobs", "2", "--format", "json"]).args(names).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| report["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == n).cloned().unwrap_or_else(|| panic!("{n}: {report:#}"));
    assert_eq!(by_name(names[0])["client"]["probe"]["passed"], true);
    assert_eq!(by_name(names[1])["client"]["probe"]["passed"], true);
    let offline = &by_name(names[2])["client"]["probe"];
    assert_eq!(offline["passed"], false);
    let message = offline["message"].as_str().unwrap();
    assert!(message.contains("WINHTTP_CALLBACK_STATUS_FLAG_CERT_REV_FAILED is set"), "{message}");
    assert!(
        message.contains(
            "0x80092013 (CRYPT_E_REVOCATION_OFFLINE): The revocation function was unable to check revocation because the revocation server was offline."
        ),
        "{message}"
    );
}
