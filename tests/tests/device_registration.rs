//! Issue 12, deliverable 4, end to end: DRS and Intune for Linux through real peers. python3's
//! standard library joins a device (`tests/tests/drs_join.py`: a token from the world's Entra,
//! Discover, nonce, join with an `openssl req` CSR) and `openssl verify` checks the certificate
//! against world.json's `client_ca_bundle` (and fails against `ca.pem`: the device CA is no TLS
//! trust anchor). curl drives Intune for Linux as libhimmelblau does (Graph's endpoints, enroll
//! with a PEM CSR, details, policies, status, compliance). Bad tokens and bad bodies get JSON
//! errors and journal entries.

use std::path::Path;
use std::process::{Command, Output};

use memsim_e2e::{Up, clean_env, text};
use serde_json::{Value, json};

/// A command with the world's CA (and only it) where every client looks for one.
fn with_world_ca(up: &Up, program: &str) -> Command {
    let mut cmd = clean_env(Command::new(program));
    let ca = up.ca();
    for var in ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"] {
        cmd.env(var, &ca);
    }
    cmd.env("SSL_CERT_DIR", up.state.path().join("no-cert-dir"));
    cmd
}

/// curl through the world's proxy: (status, JSON body).
fn curl(up: &Up, method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let mut cmd = with_world_ca(up, "curl");
    cmd.args(["-sS", "--max-time", "30", "-w", "\n%{http_code}", "-x", up.world["proxy_url"].as_str().unwrap(), "-X", method]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = cmd.arg(url).output().expect("curl");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or_else(|| panic!("{}", text(&out)));
    (status.trim().parse().unwrap_or_else(|_| panic!("{}", text(&out))), serde_json::from_str(body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}")))
}

/// A token for `scope` by the password grant of world.json's first Entra user.
fn token(up: &Up, scope: &str) -> String {
    let tenant = up.world["tenant"]["id"].as_str().unwrap();
    let user = &up.world["entra"]["users"][0];
    let out = with_world_ca(up, "curl")
        .args(["-sS", "--max-time", "30", "-x", up.world["proxy_url"].as_str().unwrap()])
        .args(["--data-urlencode", "grant_type=password", "--data-urlencode", "client_id=29d9ed98-a469-4536-ade2-f981bc1d605e"])
        .args(["--data-urlencode", &format!("scope={scope} openid profile offline_access")])
        .args(["--data-urlencode", &format!("username={}", user["upn"].as_str().unwrap())])
        .args(["--data-urlencode", &format!("password={}", user["password"].as_str().unwrap())])
        .arg(format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"))
        .output()
        .expect("curl");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    v["access_token"].as_str().unwrap_or_else(|| panic!("no token for {scope}: {v}")).to_string()
}

fn openssl(args: &[&str], dir: &Path) -> Output {
    clean_env(Command::new("openssl")).args(args).current_dir(dir).output().expect("openssl")
}

#[test]
fn python_joins_a_device_and_openssl_verifies_its_certificate_against_the_client_ca_bundle() {
    let up = Up::start(None);
    let work = tempfile::tempdir().unwrap();
    let user = &up.world["entra"]["users"][0];
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/drs_join.py");
    let out = with_world_ca(&up, "python3")
        .arg(script)
        .arg(up.world["proxy_url"].as_str().unwrap())
        .arg(up.world["tenant"]["id"].as_str().unwrap())
        .arg(up.world["tenant"]["domains"][0].as_str().unwrap())
        .arg(user["upn"].as_str().unwrap())
        .arg(user["password"].as_str().unwrap())
        .arg(work.path())
        .output()
        .expect("python3");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!((r["step"].as_str(), r["discover"].as_u64(), r["nonce"].as_u64(), r["join"].as_u64()), (Some("join"), Some(200), Some(200), Some(200)), "{r}");
    assert_eq!((r["nonce_value"].as_bool(), r["reponse_status"].as_bool()), (Some(true), Some(true)), "the nonce answer, typo included");
    for url in r["endpoints"].as_array().unwrap() {
        let host = url.as_str().unwrap().trim_start_matches("https://").split('/').next().unwrap();
        assert!(up.description.hosts.iter().any(|h| h == host), "{url} is not inside the world");
    }
    let client_ca = up.description.client_ca_bundle.to_str().unwrap().to_string();
    let ok = openssl(&["verify", "-CAfile", &client_ca, "device.pem"], work.path());
    assert!(text(&ok).contains("device.pem: OK"), "{}", text(&ok));
    let tls = openssl(&["verify", "-CAfile", up.ca().to_str().unwrap(), "device.pem"], work.path());
    assert!(!tls.status.success(), "the device CA is not in ca.pem: {}", text(&tls));
    let cert_key = openssl(&["x509", "-in", "device.pem", "-noout", "-pubkey"], work.path());
    let csr_key = openssl(&["pkey", "-in", "device.key", "-pubout"], work.path());
    assert_eq!(cert_key.stdout, csr_key.stdout, "the certificate holds the CSR's key");
    let subject =
        String::from_utf8_lossy(&openssl(&["x509", "-in", "device.pem", "-noout", "-subject", "-nameopt", "RFC2253"], work.path()).stdout).into_owned();
    let device_id = subject.trim().trim_start_matches("subject=").trim_start_matches("CN=").to_string();
    assert_eq!(device_id.len(), 36, "{subject}");
    let issuer = String::from_utf8_lossy(&openssl(&["x509", "-in", "device.pem", "-noout", "-issuer", "-nameopt", "RFC2253"], work.path()).stdout).into_owned();
    assert!(issuer.contains("CN=MS-Organization-Access"), "{issuer}");
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "device_joined" && e["detail"]["device_id"] == device_id.to_ascii_lowercase()), "journaled");
}

#[test]
fn curl_enrolls_a_linux_device_as_libhimmelblau_does() {
    let up = Up::start(None);
    let graph = token(&up, "https://graph.microsoft.com/.default");
    let (status, doc) =
        curl(&up, "GET", "https://graph.microsoft.com/v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints", Some(&graph), None);
    assert_eq!(status, 200, "{doc}");
    let uri = |name: &str| doc["value"].as_array().unwrap().iter().find(|e| e["providerName"] == name).unwrap()["uri"].as_str().unwrap().to_string();
    let (enroll, checkin, iw) = (uri("LinuxEnrollmentService"), uri("LinuxDeviceCheckinService"), uri("IWService"));
    assert!(enroll.starts_with("https://fef.msua01.manage.microsoft.com/"), "{enroll}");

    let work = tempfile::tempdir().unwrap();
    let made = openssl(&["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-subj", "/CN=lab-linux-01", "-out", "csr.pem"], work.path());
    assert!(made.status.success(), "{}", text(&made));
    let pem = std::fs::read_to_string(work.path().join("csr.pem")).unwrap();
    let body = json!({ "AppVersion": "1.2511.7", "DeviceName": "lab-linux-01", "CertificateSigningRequest": pem }).to_string();
    let enrollment = token(&up, "https://enrollment.manage.microsoft.com/.default");
    let (status, res) = curl(&up, "POST", &format!("{enroll}/enroll?api-version=1.0&client-version=1.2511.7"), Some(&enrollment), Some(&body));
    assert_eq!(status, 200, "{res}");
    let id = res["deviceId"].as_str().unwrap().to_string();
    let blob: Vec<u8> = res["certificate"]["certBlob"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
    std::fs::write(work.path().join("mdm.der"), blob).unwrap();
    let pem = openssl(&["x509", "-inform", "DER", "-in", "mdm.der", "-out", "mdm.pem"], work.path());
    assert!(pem.status.success(), "{}", text(&pem));
    let chain = openssl(&["verify", "-CAfile", up.description.client_ca_bundle.to_str().unwrap(), "mdm.pem"], work.path());
    assert!(text(&chain).contains("mdm.pem: OK"), "the Intune root and its MDM device CA are in client-ca.pem: {}", text(&chain));
    let issuer = openssl(&["x509", "-inform", "DER", "-in", "mdm.der", "-noout", "-issuer"], work.path());
    assert!(text(&issuer).contains("Microsoft Intune MDM Device CA"), "{}", text(&issuer));

    let intune = token(&up, "0000000a-0000-0000-c000-000000000000/.default");
    let details = json!({ "DeviceId": id, "DeviceName": "lab-linux-01", "Manufacturer": "QEMU", "OSDistribution": "Debian", "OSVersion": "12" }).to_string();
    let (status, res) = curl(&up, "POST", &format!("{checkin}/details?api-version=1.0"), Some(&intune), Some(&details));
    assert_eq!((status, res["deviceFriendlyName"].as_str()), (200, Some("lab-linux-01")), "{res}");
    let (status, res) = curl(&up, "GET", &format!("{checkin}/policies/{id}?api-version=1.0"), Some(&intune), None);
    assert_eq!(status, 200, "{res}");
    assert!(!res["policies"].as_array().unwrap().is_empty());
    let report = json!({ "DeviceId": id, "PolicyStatuses": [{ "PolicyId": "p", "LastStatusDateTime": "2026-12-02T08:00:00+00:00",
        "Details": [{ "RuleId": "r", "SettingDefinitionItemId": "linux_distribution_alloweddistros_item_$type", "ExpectedValue": "ubuntu",
            "ActualValue": "debian", "NewComplianceState": "NonCompliant", "OldComplianceState": "Unknown" }] }] })
    .to_string();
    let (status, _) = curl(&up, "POST", &format!("{checkin}/status?api-version=1.0"), Some(&intune), Some(&report));
    assert_eq!(status, 200);
    let iw_token = token(&up, "b8066b99-6e67-41be-abfa-75db1a2c8809/.default");
    let (status, info) = curl(&up, "GET", &format!("{iw}/Devices(guid'{id}')?api-version=16.4&ssp=LinuxCP&os=Linux&mgmt-agent=mdm"), Some(&iw_token), None);
    assert_eq!((status, info["ComplianceState"].as_str()), (200, Some("Noncompliant")), "{info}");
}

/// issue 12: without a good token, or with a body the service cannot read, every device service
/// answers a JSON error and journals why — never a hang or a non-JSON body.
#[test]
fn bad_tokens_and_bodies_get_json_errors_and_journal_entries() {
    let up = Up::start(None);
    let (status, doc) = curl(&up, "GET", "https://enterpriseregistration.windows.net/contoso.com/Discover?api-version=1.9&managed=True", None, None);
    assert_eq!(status, 200, "Discover needs no token: {doc}");
    let join = doc["DeviceJoinService"]["JoinEndpoint"].as_str().unwrap().to_string();
    let (status, err) = curl(&up, "POST", &format!("{join}?api-version=2.0"), None, Some("{}"));
    assert_eq!((status, err["ErrorCode"].as_str()), (401, Some("AuthenticationError")), "{err}");
    let (status, err) = curl(&up, "POST", &format!("{join}?api-version=2.0"), Some("eyJhbGciOiJub25lIn0.e30."), Some("{}"));
    assert_eq!((status, err["ErrorCode"].as_str()), (401, Some("AuthenticationError")), "alg none: {err}");
    let (status, err) =
        curl(&up, "GET", "https://graph.microsoft.com/v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints", Some("x.y.z"), None);
    assert_eq!((status, err["error"]["code"].as_str()), (401, Some("InvalidAuthenticationToken")), "{err}");
    let (status, err) = curl(&up, "GET", "https://enterpriseregistration.windows.net/fabrikam.com/Discover?api-version=1.9", None, None);
    assert_eq!((status, err["ErrorCode"].as_str()), (404, Some("TenantNotFound")), "{err}");
    // With a good DRS token, bad bodies: garbage, too large.
    let drs = token(&up, "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9/.default");
    let (status, err) = curl(&up, "POST", &format!("{join}?api-version=2.0"), Some(&drs), Some("{garbage"));
    assert_eq!(status, 400, "{err}");
    let big = format!("{{\"x\":\"{}\"}}", "a".repeat(70 * 1024));
    let (status, err) = curl(&up, "POST", &format!("{join}?api-version=2.0"), Some(&drs), Some(&big));
    assert_eq!(status, 413, "{err}");
    let (_, journal) = up.stop();
    let count = |what: &str| journal.iter().filter(|e| e["what"] == what).count();
    assert_eq!(count("token_refused"), 3, "each refusal journaled");
    assert_eq!(count("bad_request"), 2);
}
