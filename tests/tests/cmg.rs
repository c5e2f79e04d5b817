//! Issue 15, the cloud management gateway with token-based authentication, through the real
//! binary and third-party peers: `memsim token new` against `memsim up` prints a JWT whose
//! header and claims python3 decodes to seed 004's shapes and whose signature `openssl dgst`
//! verifies with the site's token-signing certificate (served by the CMG as SITESIGNCERT);
//! `--lifetime 20000` is refused naming the maximum; `memsim probe cmg-register` registers with
//! that token, and after `memsim token block` fails with the registration error while the
//! journal says why; a python3 client registers with its own multipart/UTF-16/zlib framing;
//! 95 simulated days without renewal fail in seconds.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use memsim_e2e::{Up, clean_env, memsim_bin, text};
use serde_json::Value;

const CMG: &str = "granitefalls.cloudapp.net";

fn memsim(args: &[&str], env: &[(&str, &str)]) -> Output {
    clean_env(Command::new(memsim_bin())).args(args).envs(env.iter().copied()).output().unwrap()
}

fn python(script: &str, args: &[&str]) -> Output {
    clean_env(Command::new("python3")).arg("-c").arg(script).args(args).output().unwrap()
}

/// python3's standard library decodes a JWT's header and claims, base64url without padding.
const DECODE: &str = r#"
import base64, json, sys
def part(p): return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
h, c, s = sys.argv[1].split(".")
print(json.dumps({"header": part(h), "claims": part(c), "header_keys": list(part(h)), "claim_keys": list(part(c))}))
"#;

/// Split a JWT for openssl: the signed input and the signature as files; the certificate from
/// hex DER; and the certificate's base64url SHA-1 (the `x5t` it should carry).
const SPLIT: &str = r#"
import base64, hashlib, sys
token, cert_hex, out = sys.argv[1], sys.argv[2], sys.argv[3]
h, c, s = token.split(".")
open(out + "/signed", "wb").write((h + "." + c).encode())
open(out + "/sig", "wb").write(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
der = bytes.fromhex(cert_hex)
open(out + "/site.der", "wb").write(der)
print(base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("="))
"#;

fn world(up: &Up) -> String {
    up.state.path().join("world.json").display().to_string()
}

#[test]
fn token_new_is_seed_004s_jwt_signed_by_the_site_certificate_and_blocking_refuses_registration() {
    let up = Up::start(None);
    let world = world(&up);
    let out = memsim(&["token", "new", "--lifetime", "60", "--world", &world], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let token = stdout.lines().last().unwrap().trim().to_string();
    let guid = stdout.lines().find_map(|l| l.strip_prefix("Token GUID: ")).unwrap().trim().to_string();

    // Header and claims as a third party reads them: seed 004's names, order and value shapes.
    let decoded = python(DECODE, &[&token]);
    assert!(decoded.status.success(), "{}", text(&decoded));
    let d: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(d["header_keys"], serde_json::json!(["typ", "alg", "x5t"]));
    assert_eq!((d["header"]["typ"].as_str(), d["header"]["alg"].as_str()), (Some("JWT"), Some("RS256")));
    assert_eq!(d["claim_keys"], serde_json::json!(["SCCMTokenCategory", "Authority", "License", "Type", "TenantId", "UniqueId", "iss", "aud", "exp", "nbf"]));
    let c = &d["claims"];
    assert_eq!(c["SCCMTokenCategory"], "SCCMPreAuthToken");
    assert_eq!((c["Authority"].as_str(), c["License"].as_str(), c["Type"].as_str()), (Some("SCCM"), Some("SCCM"), Some("BulkRegistration")));
    assert_eq!(c["TenantId"], "CDCC5E91-0ADF-4A24-82D0-196667F1C081", "upper-case, as the seed's sample");
    assert_eq!(c["iss"], "urn:sccm:oauth2:cdcc5e91-0adf-4a24-82d0-196667f1c081");
    assert_eq!(c["aud"], "urn:sccm:service");
    assert_eq!(c["UniqueId"], guid.as_str());
    assert_eq!(c["exp"].as_i64().unwrap() - c["nbf"].as_i64().unwrap(), 3600);

    // The signature verifies with the site's token-signing certificate, which the CMG serves.
    let port = up.https_addr().rsplit_once(':').unwrap().1.to_string();
    let cert = clean_env(Command::new("curl"))
        .args(["-sS", "--max-time", "10", "--cacert"])
        .arg(up.ca())
        .arg("--connect-to")
        .arg(format!("{CMG}:443:127.0.0.1:{port}"))
        .arg(format!("https://{CMG}/CCM_Proxy_MutualAuth/72186325152220500/SMS_MP/.sms_aut?SITESIGNCERT"))
        .output()
        .unwrap();
    let cert_hex = String::from_utf8_lossy(&cert.stdout).trim().to_string();
    assert!(cert.status.success() && cert_hex.len() > 500, "{}", text(&cert));
    let dir = up.state.path().join("jwt");
    std::fs::create_dir_all(&dir).unwrap();
    let split = python(SPLIT, &[&token, &cert_hex, dir.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&split.stdout).trim(), d["header"]["x5t"].as_str().unwrap(), "x5t = base64url SHA-1 of the certificate");
    let openssl = |args: &[&str]| clean_env(Command::new("openssl")).current_dir(&dir).args(args).output().unwrap();
    let key = openssl(&["x509", "-inform", "DER", "-in", "site.der", "-pubkey", "-noout", "-out", "site.pub"]);
    assert!(key.status.success(), "{}", text(&key));
    let verify = openssl(&["dgst", "-sha256", "-verify", "site.pub", "-signature", "sig", "signed"]);
    assert!(verify.status.success() && text(&verify).contains("Verified OK"), "{}", text(&verify));

    // Over the tool's maximum: refused, naming it; nothing minted.
    let over = memsim(&["token", "new", "--lifetime", "20000", "--world", &world], &[]);
    assert_eq!(over.status.code(), Some(2), "{}", text(&over));
    assert!(String::from_utf8_lossy(&over.stderr).contains("10080"), "{}", text(&over));
    let list = memsim(&["token", "list", "--world", &world], &[]);
    assert!(text(&list).contains(&guid) && text(&list).lines().count() == 2, "{}", text(&list));

    // ccmsetup /regtoken:<that token> registers; blocked, the rerun fails and the journal says why.
    let probe = |tok: &str| memsim(&["probe", "cmg-register", "--world", &world], &[("MEMSIM_CMG_REGTOKEN", tok)]);
    let ok = probe(&token);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("Rotating internet management point, new management point [1] is: https://GRANITEFALLS.CLOUDAPP.NET/CCM_Proxy_MutualAuth/"));
    let block = memsim(&["token", "block", &guid.to_ascii_uppercase(), "--world", &world], &[]);
    assert!(block.status.success(), "{}", text(&block));
    let refused = probe(&token);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let verdict: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!((verdict["step"].as_str(), verdict["code"].as_str()), (Some("token_service"), Some("0x87D0027E")));
    assert!(verdict["message"].as_str().unwrap().contains("StatusText=CMGService_Invalid_Token"), "{verdict}");

    // Garbage as /regtoken: a clear refusal, journaled, no panic.
    let garbage = probe("not-a-token");
    assert_eq!(garbage.status.code(), Some(1), "{}", text(&garbage));
    assert!(text(&garbage).contains("not a JWT"), "{}", text(&garbage));
    let unblock = memsim(&["token", "unblock", &guid, "--world", &world], &[]);
    assert!(unblock.status.success(), "{}", text(&unblock));
    assert!(probe(&token).status.success(), "unblocked, the token registers again");

    let (status, journal) = up.stop();
    assert!(status.success());
    let refusals: Vec<&Value> = journal.iter().filter(|e| e["what"] == "ccm_token_refused").collect();
    assert_eq!(refusals.len(), 2, "{refusals:#?}");
    assert_eq!(refusals[0]["detail"]["reason"], "blocked");
    assert_eq!(refusals[0]["detail"]["log"], "CCM_STS.log");
    assert!(refusals[0]["detail"]["text"].as_str().unwrap().contains(&format!("the bulk registration token {guid} is blocked")));
    assert_eq!(refusals[1]["detail"]["reason"], "malformed");
    assert!(journal.iter().any(|e| e["what"] == "bulk_token_blocked" && e["detail"]["id"] == guid.as_str()));
    assert_eq!(journal.iter().filter(|e| e["what"] == "client_registered").count(), 2);
}

#[test]
fn inspect_decodes_offline_and_names_what_does_not_decode() {
    let sample = mock_cloud::services::cmg::faults::SEED_SAMPLE;
    let out = memsim(&["token", "inspect", sample], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("claims do not decode"), "{}", text(&out));
    let bad = memsim(&["token", "new", "--lifetime", "soon", "--world", "/nonexistent/world.json"], &[]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
}

#[test]
fn monthly_renewal_passes_and_95_days_offline_fail_in_seconds() {
    let out = memsim(&["run", "cmg-client-token-renewed-monthly", "cmg-client-offline-95-days", "--format", "json"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for s in report["scenarios"].as_array().unwrap() {
        assert_eq!(s["verdict"], "pass", "{s:#}");
        // Months of simulated time in seconds of wall time.
        assert!(s["wall_ms"].as_f64().unwrap() < 30_000.0, "{}", s["wall_ms"]);
        assert!(s["sim_ms"].as_f64().unwrap() > 30.0 * 86_400_000.0, "{}", s["sim_ms"]);
    }
    let healthy = memsim(&["run", "healthy-cmg-register"], &[]);
    assert!(healthy.status.success(), "{}", text(&healthy));
    let offline = report["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == "cmg-client-offline-95-days").unwrap();
    assert_eq!(offline["client"]["probe"]["step"], "renewal");
}

/// A python3 client with its own framing (sccmwtf.py's: UTF-16 header with BOM, zlib of
/// UTF-16LE, NUL and CRLF; `CCM_POST`) registers through the world's proxy with the bulk token the
/// scenario's world hands a command (`MEMSIM_CMG_REGTOKEN`, `MEMSIM_CMG_MP`).
const PY_CLIENT: &str = r#"
import http.client, json, os, re, ssl, sys, urllib.parse, zlib
mp = urllib.parse.urlsplit(os.environ["MEMSIM_CMG_MP"])
host, mid = mp.hostname, mp.path.rsplit("/", 1)[1]
proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
conn = http.client.HTTPSConnection(proxy.hostname, proxy.port, context=ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"]), timeout=20)
conn.set_tunnel(host, 443)
conn.request("POST", f"/CCM_Proxy_ServerAuth/{mid}/CCM_STS", body=json.dumps({"TokenType": "BulkRegistration", "Token": os.environ["MEMSIM_CMG_REGTOKEN"]}), headers={"Content-Type": "application/json"})
r = conn.getresponse(); b = r.read()
if r.status != 200: sys.exit(f"CCM_STS: {r.status} {r.reason} {b!r}")
ccm = json.loads(b)["CcmToken"]
B = "aAbBcCdDv1234567890VxXyYzZ"
body = '<ClientRegistrationRequest><Data HashAlgorithm="1.2.840.113549.1.1.11" SMSID="" RequestType="Registration"><Certificates><Signing Encoding="HexBinary" KeyType="1">3082ABCD</Signing></Certificates><DiscoveryProperties><Property Name="Netbios Name" Value="PYCLIENT" /></DiscoveryProperties></Data></ClientRegistrationRequest>\x00'
req = body.encode("utf-16")[2:] + b"\r\n"
header = f'<Msg ReplyCompression="zlib" SchemaVersion="1.1"><Body Type="ByteRange" Length="{len(req) - 2}" Offset="0" /><ReplyMode>Sync</ReplyMode><SourceHost>PYCLIENT</SourceHost><TargetAddress>mp:MP_ClientRegistration</TargetAddress><TargetEndpoint>MP_ClientRegistration</TargetEndpoint></Msg>'
data = f"--{B}\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n".encode() + header.encode("utf-16") + f"\r\n--{B}\r\ncontent-type: application/octet-stream\r\n\r\n".encode() + zlib.compress(req) + f"\r\n--{B}--".encode()
conn.request("CCM_POST", f"/CCM_Proxy_ServerAuth/{mid}/ccm_system_tokenauth/request", body=data, headers={"Content-Type": f'multipart/mixed; boundary="{B}"', "User-Agent": "ConfigMgr Messaging HTTP Sender", "Authorization": "Bearer " + ccm})
r = conn.getresponse(); b = r.read()
if r.status != 200: sys.exit(f"registration: {r.status} {r.reason} {b!r}")
part = b.split(f"--{B}".encode())[2].split(b"\r\n\r\n", 1)[1][:-2]
reply = zlib.decompress(part)[:-2].decode("utf-16-le")
print("registered", re.findall('SMSID="GUID:([^"]+)"', reply)[0])
"#;

/// The scenario the python client runs: a healthy world at wall speed (a real client's start-up
/// must not eat a time-compressed token's lifetime), `cmg-register` as its probe.
const PY_SCENARIO: &str = r#"# A command client registers through the CMG with the world's bulk token.
name = "py-cmg-register"
summary = "a python3 client registers through the CMG"
area = "cmg"
source = "issue 15"

[client]
probe = "cmg-register"

[expect]
outcome = "pass"
events = [{ component = "http", what = "client_registered", host = "granitefalls.cloudapp.net", count = 1 }]
"#;

#[test]
fn a_python_client_with_its_own_framing_registers_with_the_worlds_token() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("client.py");
    std::fs::write(&script, PY_CLIENT).unwrap();
    let scenario = dir.path().join("py-cmg-register.toml");
    std::fs::write(&scenario, PY_SCENARIO).unwrap();
    let started = Instant::now();
    let out = memsim(&["run", scenario.to_str().unwrap(), "--format", "json", "--", "python3", script.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = &report["scenarios"][0];
    assert!(s["client"]["stdout"].as_str().unwrap().starts_with("registered "), "{s:#}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Bad bodies built by python3's zlib, sent by curl with `-X CCM_POST` (issue 15): a truncated
/// multipart body, a zlib bomb (64 MiB of zeros) and a UTF-16 header of odd length each get a
/// clear 400 naming the problem, and a `bad_message` entry in the journal.
const BAD_BODIES: &str = r#"
import sys, zlib
B = "aAbBcCdDv1234567890VxXyYzZ"
head = f"--{B}\r\ncontent-type: text/plain; charset=UTF-16\r\n\r\n".encode()
mid = f"\r\n--{B}\r\ncontent-type: application/octet-stream\r\n\r\n".encode()
end = f"\r\n--{B}--".encode()
msg = "<Msg><TargetEndpoint>MP_ClientRegistration</TargetEndpoint></Msg>".encode("utf-16")
good = head + msg + mid + zlib.compress("<ClientRegistrationRequest/>\x00".encode("utf-16-le") + b"\r\n") + end
open(sys.argv[1] + "/truncated", "wb").write(good[: len(good) // 2])
open(sys.argv[1] + "/bomb", "wb").write(head + msg + mid + zlib.compress(bytes(64 << 20), 9) + end)
open(sys.argv[1] + "/odd", "wb").write(head + msg[:-1] + mid + zlib.compress(b"ab") + end)
"#;

#[test]
fn bad_ccm_post_bodies_from_curl_get_a_clear_400_and_a_journal_entry() {
    let up = Up::start(None);
    let world = world(&up);
    let out = memsim(&["token", "new", "--world", &world], &[]);
    let token = String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim().to_string();
    let port = up.https_addr().rsplit_once(':').unwrap().1.to_string();
    let curl = |args: &[&str]| {
        clean_env(Command::new("curl"))
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(up.ca())
            .arg("--connect-to")
            .arg(format!("{CMG}:443:127.0.0.1:{port}"))
            .args(args)
            .output()
            .unwrap()
    };
    let base = format!("https://{CMG}/CCM_Proxy_ServerAuth/72186325152220500");
    let sts = curl(&[
        "-H",
        "content-type: application/json",
        "--data",
        &format!(r#"{{"TokenType":"BulkRegistration","Token":"{token}"}}"#),
        &format!("{base}/CCM_STS"),
    ]);
    let ccm: Value = serde_json::from_slice(&sts.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&sts)));
    let bearer = format!("authorization: Bearer {}", ccm["CcmToken"].as_str().unwrap());
    let dir = up.state.path().join("bodies");
    std::fs::create_dir_all(&dir).unwrap();
    let made = python(BAD_BODIES, &[dir.to_str().unwrap()]);
    assert!(made.status.success(), "{}", text(&made));
    for (file, says) in [("truncated", "truncated"), ("bomb", "zlib bomb"), ("odd", "odd length")] {
        let path = format!("@{}", dir.join(file).display());
        let r = curl(&[
            "-X",
            "CCM_POST",
            "-w",
            "\n%{http_code}",
            "-H",
            "content-type: multipart/mixed; boundary=\"aAbBcCdDv1234567890VxXyYzZ\"",
            "-H",
            &bearer,
            "--data-binary",
            &path,
            &format!("{base}/ccm_system_tokenauth/request"),
        ]);
        let answer = String::from_utf8_lossy(&r.stdout).into_owned();
        assert!(answer.ends_with("\n400") && answer.contains(says), "{file}: {answer}");
    }
    let (_, journal) = up.stop();
    let bad: Vec<&Value> = journal.iter().filter(|e| e["what"] == "bad_message").collect();
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(journal.iter().all(|e| e["what"] != "panic"));
}

/// The Entra path (issue 15 item 5): the world's Entra ID issues a token for
/// `https://ConfigMgrService` to world.json's first user, CCM_STS takes it and the client
/// registers; with `cmg.entra_refused` CCM_STS refuses it and the journal names the fault.
#[test]
fn the_entra_path_registers_and_its_refusal_is_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let out = memsim(&["run", "cmg-entra-registration", "cmg-entra-refused", "--format", "json", "--journal-dir", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_name = |n: &str| report["scenarios"].as_array().unwrap().iter().find(|s| s["name"] == n).unwrap().clone();
    let ok = by_name("cmg-entra-registration");
    assert_eq!(ok["client"]["probe"]["passed"], true, "{ok:#}");
    assert!(ok["client"]["probe"]["log"].as_array().unwrap().iter().any(|l| l.as_str().unwrap().contains("Registering client using AAD auth")));
    let refused = by_name("cmg-entra-refused");
    assert_eq!(refused["client"]["probe"]["step"], "token_service", "{refused:#}");
    let journal = std::fs::read_to_string(dir.path().join("cmg-entra-refused.jsonl")).unwrap();
    let event = journal.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|e| e["what"] == "ccm_token_refused").unwrap();
    assert_eq!((event["fault"].as_str(), event["detail"]["log"].as_str()), (Some("cmg.entra_refused"), Some("CCM_STS.log")));
}
