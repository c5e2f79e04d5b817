//! Issue 14, Windows MDM enrollment end to end with real clients: a third-party SOAP client
//! (python3's standard library and the openssl command line, `tests/clients/mde_client.py`)
//! enrolls against `memsim up` and its certificate passes `openssl verify` against the world's
//! `ca.pem`; curl's bad input (a billion-laughs body, 10 MB, a truncated token) gets a SOAP
//! fault python's XML parser reads, and a journal entry; the check-in refuses a client without
//! the device certificate; `memsim run healthy-enroll` passes.

use std::process::Command;

use memsim_e2e::{Up, clean_env, memsim_bin, text};
use serde_json::Value;

const DISCOVERY: &str = "/EnrollmentServer/Discovery.svc";
const FEF: &str = "fef.amsua0101.manage.microsoft.com";

/// The SOAP fault in `xml`, read by python3's xml.etree: [code, subcode, ErrorType or null].
fn fault_by_python(xml: &str) -> Value {
    let script = r#"
import json, sys, xml.etree.ElementTree as ET
S = "http://www.w3.org/2003/05/soap-envelope"
E = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
f = ET.fromstring(sys.stdin.read()).find("./{%s}Body/{%s}Fault" % (S, S))
print(json.dumps([f.findtext("./{%s}Code/{%s}Value" % (S, S)), f.findtext("./{%s}Code/{%s}Subcode/{%s}Value" % (S, S, S)), f.findtext(".//{%s}ErrorType" % E)]))
"#;
    let mut child = clean_env(Command::new("python3"))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), xml.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}: {xml}", text(&out)))
}

/// POST `body` (a file) to `https://host/path` with curl through the HTTPS front, trusting only
/// the world's CA: (status, answer body).
fn curl_post(up: &Up, host: &str, path: &str, body: &std::path::Path) -> (String, String) {
    let answer = up.state.path().join("answer.xml");
    let port = up.https_addr().rsplit_once(':').unwrap().1.to_string();
    let out = clean_env(Command::new("curl"))
        .args(["-sS", "-w", "%{http_code}", "--max-time", "20", "-o"])
        .arg(&answer)
        .arg("--cacert")
        .arg(up.ca())
        .arg("--connect-to")
        .arg(format!("{host}:443:127.0.0.1:{port}"))
        .args(["-X", "POST", "-H", "Content-Type: application/soap+xml; charset=utf-8", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg(format!("https://{host}{path}"))
        .output()
        .expect("run curl");
    (String::from_utf8_lossy(&out.stdout).into_owned(), std::fs::read_to_string(&answer).unwrap_or_else(|_| text(&out)))
}

#[test]
fn bad_input_gets_a_soap_fault_and_a_journal_entry() {
    let up = Up::start(None);
    let dir = tempfile::tempdir().unwrap();
    // A billion-laughs entity: refused before any expansion (SOAP forbids a DTD).
    let mut dtd = String::from("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">", format!("&{prev};").repeat(10)));
    }
    dtd.push_str("]><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><x>&lol9;</x></s:Body></s:Envelope>");
    let bomb = dir.path().join("bomb.xml");
    std::fs::write(&bomb, dtd).unwrap();
    let (status, xml) = curl_post(&up, "enrollment.manage.microsoft.com", DISCOVERY, &bomb);
    assert_eq!(status, "500", "{xml}");
    assert_eq!(fault_by_python(&xml), serde_json::json!(["s:Receiver", "s:MessageFormat", null]));
    // 10 MB: refused unread by its declared length.
    let big = dir.path().join("big.xml");
    std::fs::write(&big, vec![b'x'; 10 * 1024 * 1024]).unwrap();
    let (status, xml) = curl_post(&up, FEF, "/StatelessEnrollmentService/DeviceEnrollment.svc", &big);
    assert_eq!(status, "500", "{xml}");
    assert_eq!(fault_by_python(&xml)[1], "s:MessageFormat");
    // Malformed XML, and a truncated base64 token in a well-formed GetPolicies.
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>").unwrap();
    assert_eq!(fault_by_python(&curl_post(&up, FEF, "/StatelessEnrollmentService/EnrollmentPolicy.svc", &broken).1)[1], "s:MessageFormat");
    let truncated = dir.path().join("truncated.xml");
    std::fs::write(
        &truncated,
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><s:Header><wsse:Security><wsse:BinarySecurityToken ValueType="urn:ietf:params:oauth:token-type:jwt">ZXlKaGJHY2lPaUpTVXpJMU5pSjkuZXlKaElqb2lZ</wsse:BinarySecurityToken></wsse:Security></s:Header><s:Body><GetPolicies xmlns="http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"/></s:Body></s:Envelope>"#,
    )
    .unwrap();
    assert_eq!(fault_by_python(&curl_post(&up, FEF, "/StatelessEnrollmentService/EnrollmentPolicy.svc", &truncated).1)[1], "a:InvalidSecurity");
    let (_, journal) = up.stop();
    let faults: Vec<&Value> = journal.iter().filter(|e| e["what"] == "soap_fault").collect();
    assert_eq!(faults.len(), 4, "{faults:?}");
    assert!(faults[0]["detail"]["reason"].as_str().unwrap().contains("document type declaration"), "{}", faults[0]);
}

#[test]
fn the_checkin_wants_the_device_certificate() {
    let up = Up::start(None);
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("syncml.xml");
    std::fs::write(&body, "<SyncML xmlns=\"SYNCML:SYNCML1.2\"><SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Final/></SyncBody></SyncML>").unwrap();
    let (status, answer) = curl_post(&up, "r.manage.microsoft.com", "/devicegatewayproxy/cimhandler.ashx", &body);
    assert_eq!(status, "403", "{answer}");
    assert!(answer.contains("client certificate required"), "{answer}");
    // Every other host is served without asking for a certificate, as before; the services'
    // hosts keep answering a reachability check at their root (issue 14: they answered 404 once
    // the check-in and enrollment services claimed them).
    assert_eq!(text(&up.curl_https("enrollment.manage.microsoft.com", DISCOVERY)), "200");
    assert_eq!(text(&up.curl_https("r.manage.microsoft.com", "/")), "200");
    assert_eq!(text(&up.curl_https(FEF, "/")), "200");
    let (_, journal) = up.stop();
    let handshake = journal.iter().find(|e| e["what"] == "handshake" && e["host"] == "r.manage.microsoft.com").unwrap();
    assert_eq!(handshake["detail"]["client_certificate"], false);
}

#[test]
fn memsim_run_healthy_enroll_passes_and_journals_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = clean_env(Command::new(memsim_bin())).args(["run", "--filter", "healthy-enroll", "--format", "json"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// Run `tests/clients/mde_client.py` against `up` as world.json's first user with `args`.
fn mde_client(up: &Up, out: &std::path::Path, args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/mde_client.py");
    let user = &up.world["entra"]["users"][0];
    let run = clean_env(Command::new("python3"))
        .arg(script)
        .args(["--proxy", up.world["proxy_url"].as_str().unwrap(), "--ca"])
        .arg(up.ca())
        .arg("--out")
        .arg(out)
        .args(["--authority", up.world["entra"]["authority"].as_str().unwrap()])
        .args(["--upn", user["upn"].as_str().unwrap(), "--password", user["password"].as_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&run)))
}

/// The acceptance test of issue 14: a client built from the published message shapes only
/// (python3's standard library, openssl for the key) enrolls, the provisioning document parses,
/// its certificate verifies against the world's ca.pem with `openssl verify`, and the first
/// check-in with that certificate is answered — with an Entra token and with on-premises
/// credentials.
#[test]
fn a_third_party_soap_client_enrolls_and_its_certificate_verifies() {
    let up = Up::start(None);
    for auth in ["jwt", "onpremise"] {
        let dir = tempfile::tempdir().unwrap();
        let r = mde_client(&up, dir.path(), &["--auth", auth]);
        assert_eq!(r["outcome"], "enrolled", "{auth}: {r}");
        assert_eq!(r["min_key_length"], "2048");
        assert_eq!(r["addr"], "https://r.manage.microsoft.com/devicegatewayproxy/cimhandler.ashx");
        let verify = clean_env(Command::new("openssl"))
            .args(["verify", "-purpose", "sslclient", "-CAfile"])
            .arg(up.ca())
            .arg("-untrusted")
            .arg(r["intermediate"].as_str().unwrap())
            .arg(r["cert"].as_str().unwrap())
            .output()
            .unwrap();
        assert!(verify.status.success() && text(&verify).contains(": OK"), "{auth}: {}", text(&verify));
        // ca.pem alone suffices too: it holds the MDM device CA an enrolled device has in CA/System.
        let plain = clean_env(Command::new("openssl")).args(["verify", "-CAfile"]).arg(up.ca()).arg(r["cert"].as_str().unwrap()).output().unwrap();
        assert!(plain.status.success() && text(&plain).contains(": OK"), "{auth}: ca.pem alone: {}", text(&plain));
        let issuer = clean_env(Command::new("openssl")).args(["x509", "-noout", "-issuer", "-in", r["cert"].as_str().unwrap()]).output().unwrap();
        assert!(text(&issuer).contains("Microsoft Intune MDM Device CA"), "{}", text(&issuer));
        assert_eq!(r["checkin_status"], 200, "{auth}: {r}");
        assert!(r["checkin_statuses"].as_array().unwrap().iter().any(|s| s[0] == "SyncHdr" && s[1] == "200"), "{r}");
    }
    let (_, journal) = up.stop();
    for what in ["discover", "policies", "enroll", "checkin"] {
        assert_eq!(journal.iter().filter(|e| e["what"] == what).count(), 2, "{what}");
    }
}

/// Under each SOAP-fault kind of `enrollment.*` the third-party client reads the fault with a
/// standard XML parser: subcode and ErrorType, whatever the HTTP status (500, or 200).
#[test]
fn a_third_party_client_reads_every_fault_a_scenario_injects() {
    for (kind, status, subcode, error_type) in [
        ("device_cap_reached", 500, "s:Authorization", Some("DeviceCapReached")),
        ("device_not_supported", 200, "s:Authorization", Some("DeviceNotSupported")),
        ("not_supported", 500, "s:Authorization", Some("NotSupported")),
        ("user_license", 500, "s:Authorization", Some("UserLicense")),
        ("in_maintenance", 200, "s:EnrollmentServer", Some("InMaintenance")),
        ("authentication", 500, "s:Authentication", None),
        ("certificate_request", 500, "s:CertificateRequest", None),
        ("invalid_security", 500, "a:InvalidSecurity", None),
        ("message_format", 500, "s:MessageFormat", None),
        ("internal_service_fault", 500, "a:InternalServiceFault", None),
    ] {
        let up = Up::start_toml("enroll-fault", "enrollment", &format!("[[fault]]\nkind = \"enrollment.{kind}\"\nstatus = {status}\n"));
        let dir = tempfile::tempdir().unwrap();
        let r = mde_client(&up, dir.path(), &[]);
        assert_eq!(r["outcome"], "fault", "{kind}: {r}");
        assert_eq!((r["status"].as_u64(), r["subcode"].as_str(), r["error_type"].as_str()), (Some(status), Some(subcode), error_type), "{kind}: {r}");
        if kind == "device_not_supported" {
            assert_eq!(r["reason"], "Device Identifier not preregistered");
        }
    }
}
