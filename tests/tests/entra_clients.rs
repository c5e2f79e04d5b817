//! Real Entra clients against a running world (issue 12, deliverable 7): MSAL Python and
//! azure-identity (PyPI) and @azure/msal-node (npm) sign in through the world's proxy with
//! nothing but the world's environment (`. env.sh`; no `verify=` override, no instance-discovery
//! switch), get tokens whose signatures verify against the world's JWKS, and report the right
//! AADSTS code under each `entra.*` fault.
//!
//! The clients are installed by `.ci/run` under the target directory (`entra-clients/venv`,
//! `entra-clients/node`); `MEMSIM_ENTRA_CLIENTS` names another place. A test that cannot find
//! them fails and says how to install them: it never passes without running them.

use std::path::PathBuf;
use std::process::Command;

use memsim_e2e::{Up, clean_env, text};
use serde_json::{Value, json};

const TID: &str = "cdcc5e91-0adf-4a24-82d0-196667f1c081";
const REPORTING: &str = "7f3c1c8e-9a55-4a8b-b3f4-5b0e3c2d1a90";
const SECRET: &str = "memsim~Contoso.Reporting.Secret-2026";
const ROTATED: &str = "a1a1a1a1-1111-4111-8111-000000000001";
const RETIRED: &str = "a1a1a1a1-1111-4111-8111-000000000002";

/// A world whose faults each catch one kind of request, so one world shows every code.
const FAULTS: &str = r#"
[[world.entra.app]]
client_id = "a1a1a1a1-1111-4111-8111-000000000001"
name = "Rotated daemon"
secret = "old-secret"
[[world.entra.app]]
client_id = "a1a1a1a1-1111-4111-8111-000000000002"
name = "Retired daemon"
secret = "retired"
[[fault]]
kind = "entra.bad_secret"
clients = ["a1a1a1a1-1111-4111-8111-000000000001"]
[[fault]]
kind = "entra.unknown_client"
clients = ["a1a1a1a1-1111-4111-8111-000000000002"]
[[fault]]
kind = "entra.bad_password"
users = ["meganb@contoso.com"]
[[fault]]
kind = "entra.mfa_required"
resources = ["https://enrollment.manage.microsoft.com/"]
[[fault]]
kind = "entra.conditional_access"
resources = ["01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9"]
[[fault]]
kind = "entra.refresh_token_expired"
resources = ["https://ConfigMgrService"]
[[fault]]
kind = "entra.throttled"
resources = ["https://api.manage.microsoft.com"]
retry_after = "1s"
"#;

/// Where `.ci/run` installed the clients.
fn clients() -> PathBuf {
    if let Some(p) = std::env::var_os("MEMSIM_ENTRA_CLIENTS") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target
    exe.ancestors().nth(3).unwrap().join("entra-clients")
}

fn installed(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: {what} is not installed. Run .ci/run, or install by hand:\n  python3 -m venv {dir}/venv && {dir}/venv/bin/pip install msal azure-identity\n  mkdir -p {dir}/node && cd {dir}/node && npm install @azure/msal-node undici@6\n(or set MEMSIM_ENTRA_CLIENTS to where they are)",
        path.display(),
        dir = clients().display()
    );
    path
}

/// `program args…` run with only the world's environment (`. env.sh`), at most 150 s.
fn in_world(up: &Up, program: &PathBuf, args: &[String], extra_env: &[(&str, PathBuf)]) -> Value {
    let env_sh = up.state.path().join("env.sh");
    let mut cmd = clean_env(Command::new("timeout"));
    cmd.arg("150").arg("sh").arg("-c").arg(". \"$0\" && exec \"$@\"").arg(&env_sh).arg(program).args(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the client");
    assert!(out.status.success(), "{} failed: {}", program.display(), text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out)))
}

/// The world's JWKS, fetched by curl through the proxy with the world's environment.
fn jwks(up: &Up) -> Value {
    let env_sh = up.state.path().join("env.sh");
    let url = format!("https://login.microsoftonline.com/{TID}/discovery/v2.0/keys");
    let out = clean_env(Command::new("sh")).arg("-c").arg(". \"$0\" && curl -sS --max-time 20 \"$1\"").arg(&env_sh).arg(&url).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("JWKS: {e}: {}", text(&out)))
}

/// Verify `token`'s RS256 signature with the JWKS key its `kid` names; its claims.
fn verified(jwks: &Value, token: &str) -> Value {
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid");
    let key = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == kid.as_str()).unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let dk = jsonwebtoken::DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &dk, &v).expect("the signature verifies against the world's JWKS").claims
}

/// The calls every client makes: two that succeed, then one per fault.
fn plan(library: &str) -> Value {
    let cc = |id: &str, client: &str, secret: &str| json!({"id": id, "library": library, "grant": "client_credentials", "client_id": client, "secret": secret, "scope": "https://graph.microsoft.com/.default"});
    let user = |id: &str, user: usize, scope: &str| json!({"id": id, "library": library, "grant": "password", "user": user, "scope": scope});
    json!([
        cc("cc", REPORTING, SECRET),
        user("ropc", 0, "https://graph.microsoft.com/.default"),
        cc("bad_secret", ROTATED, "old-secret"),
        cc("unknown_client", RETIRED, "retired"),
        user("bad_password", 1, "https://graph.microsoft.com/.default"),
        user("mfa", 0, "https://enrollment.manage.microsoft.com//.default"),
        user("ca", 0, "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9/.default"),
        user("not_licensed", 2, "b8066b99-6e67-41be-abfa-75db1a2c8809/.default"),
        user("throttled", 0, "https://api.manage.microsoft.com/.default"),
    ])
}

/// What each fault's call must report.
const CODES: &[(&str, u32)] = &[
    ("bad_secret", 7000215),
    ("unknown_client", 700016),
    ("bad_password", 50126),
    ("mfa", 50076),
    ("ca", 53003),
    ("not_licensed", 50105),
    ("throttled", 90055),
];

fn check_tokens(up: &Up, out: &Value) {
    let keys = jwks(up);
    let cc = verified(&keys, out["cc"]["access_token"].as_str().unwrap_or_else(|| panic!("no token: {}", out["cc"])));
    assert_eq!((cc["aud"].as_str(), cc["appid"].as_str()), (Some("https://graph.microsoft.com"), Some(REPORTING)));
    let ropc = verified(&keys, out["ropc"]["access_token"].as_str().unwrap_or_else(|| panic!("no token: {}", out["ropc"])));
    assert_eq!(ropc["upn"], "adelev@contoso.com");
}

#[test]
fn msal_python_signs_in_and_reports_each_faults_aadsts_code() {
    let python = installed(clients().join("venv/bin/python"), "MSAL Python");
    let up = Up::start_toml("entra-msal-python", "entra", FAULTS);
    let mut calls = plan("msal").as_array().unwrap().clone();
    calls.push(json!({"id": "refresh_expired", "grant": "refresh_token", "user": 0, "scope": "https://graph.microsoft.com/.default", "refresh_scope": "https://ConfigMgrService/.default"}));
    calls.push(json!({"id": "no_tenant", "grant": "password", "user": 0, "scope": "https://graph.microsoft.com/.default", "authority": "https://login.microsoftonline.com/fabrikam.onmicrosoft.com"}));
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/entra_msal.py"));
    let out = in_world(&up, &python, &[script.display().to_string(), Value::Array(calls).to_string()], &[]);
    check_tokens(&up, &out);
    // The id_token MSAL accepted: issuer and audience as the v2 OpenID configuration says.
    let id = &out["ropc"]["id_token_claims"];
    assert_eq!(
        (id["iss"].as_str(), id["aud"].as_str()),
        (Some(format!("https://login.microsoftonline.com/{TID}/v2.0").as_str()), Some("29d9ed98-a469-4536-ade2-f981bc1d605e"))
    );
    assert!(out["ropc"]["refresh_token"].is_string() && out["ropc"]["ext_expires_in"].is_number(), "{}", out["ropc"]);
    for (id, code) in CODES.iter().chain(&[("refresh_expired", 70008)]) {
        assert_eq!(out[id]["error_codes"], json!([code]), "{id}: {}", out[id]);
    }
    assert_eq!(out["mfa"]["suberror"], "basic_action");
    // MSAL raises on a tenant the authority does not know; the authority said AADSTS90002.
    assert_eq!(out["no_tenant"]["exception"], "ValueError", "{}", out["no_tenant"]);
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "token_refused" && e["detail"]["code"] == "AADSTS90002"));
    assert!(journal.iter().any(|e| e["what"] == "token_refused" && e["fault"] == "entra.throttled"));
}

#[test]
fn azure_identity_gets_tokens_and_raises_with_each_faults_aadsts_code() {
    let python = installed(clients().join("venv/bin/python"), "azure-identity");
    let up = Up::start_toml("entra-azure-identity", "entra", FAULTS);
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/entra_msal.py"));
    let out = in_world(&up, &python, &[script.display().to_string(), plan("azure-identity").to_string()], &[]);
    check_tokens(&up, &out);
    for (id, code) in CODES {
        assert_eq!(out[id]["exception"], "ClientAuthenticationError", "{id}: {}", out[id]);
        assert!(out[id]["message"].as_str().unwrap().contains(&format!("AADSTS{code}:")), "{id}: {}", out[id]);
    }
}

#[test]
fn msal_node_signs_in_and_reports_each_faults_aadsts_code() {
    let modules = installed(clients().join("node/node_modules/@azure/msal-node"), "@azure/msal-node");
    let modules = modules.parent().and_then(|p| p.parent()).unwrap().to_path_buf();
    let up = Up::start_toml("entra-msal-node", "entra", FAULTS);
    let mut calls = plan("msal-node").as_array().unwrap().clone();
    calls.push(json!({"id": "no_tenant", "grant": "password", "user": 0, "scope": "https://graph.microsoft.com/.default", "authority": "https://login.microsoftonline.com/fabrikam.onmicrosoft.com"}));
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/entra_msal_node.js"));
    let out = in_world(&up, &PathBuf::from("node"), &[script.display().to_string(), Value::Array(calls).to_string()], &[("NODE_PATH", modules)]);
    check_tokens(&up, &out);
    assert_eq!(out["ropc"]["id_token_claims"]["tid"], TID);
    for (id, code) in CODES.iter().chain(&[("no_tenant", 90002)]) {
        assert!(out[id]["message"].as_str().unwrap_or_default().contains(&format!("AADSTS{code}:")), "{id}: {}", out[id]);
    }
    assert_eq!(out["mfa"]["subError"], "basic_action");
}

/// MSAL Python's certificate credential (client assertions, RFC 7523: RS256 naming the SHA-1
/// `x5t`, padded as MSAL pads it, and PS256 naming `x5t#S256`, of a certificate openssl made and
/// the scenario registered) and its device-code flow (polling
/// until the simulated user has signed in), through the proxy with only env.sh; and the same
/// assertion refused with AADSTS700024 when the authority's clock runs two hours ahead.
#[test]
fn msal_python_certificate_credential_and_device_code() {
    let python = installed(clients().join("venv/bin/python"), "MSAL Python");
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let out = clean_env(Command::new("openssl"))
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=memsim daemon"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let fp = clean_env(Command::new("openssl")).args(["x509", "-noout", "-fingerprint", "-sha1", "-in"]).arg(&cert).output().unwrap();
    let thumbprint: String = String::from_utf8_lossy(&fp.stdout).split('=').nth(1).unwrap().trim().replace(':', "");
    let pem = std::fs::read_to_string(&cert).unwrap();
    let daemon = "b2b2b2b2-2222-4222-8222-000000000001";
    let world =
        format!("[world.entra]\nsign_in_delay = \"2s\"\n[[world.entra.app]]\nclient_id = \"{daemon}\"\nname = \"Cert daemon\"\ncertificate = '''\n{pem}'''\n");
    let script = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/clients/entra_msal.py"));
    let calls = json!([
        {"id": "cert", "grant": "client_certificate", "client_id": daemon, "key": key, "thumbprint": thumbprint, "scope": "https://graph.microsoft.com/.default"},
        {"id": "cert_ps256", "grant": "client_certificate", "client_id": daemon, "key": key, "certificate": cert, "scope": "https://graph.microsoft.com/.default"},
        {"id": "device", "grant": "device_code", "user": 0, "scope": "https://enrollment.manage.microsoft.com//.default"},
    ]);
    let up = Up::start_toml("entra-msal-cert", "entra", &world);
    let out = in_world(&up, &python, &[script.display().to_string(), calls.to_string()], &[]);
    let keys = jwks(&up);
    let c = verified(&keys, out["cert"]["access_token"].as_str().unwrap_or_else(|| panic!("{}", out["cert"])));
    assert_eq!((c["appid"].as_str(), c["appidacr"].as_str()), (Some(daemon), Some("2")), "a certificate-authenticated app token");
    let c = verified(&keys, out["cert_ps256"]["access_token"].as_str().unwrap_or_else(|| panic!("{}", out["cert_ps256"])));
    assert_eq!(c["appidacr"], "2", "PS256 with x5t#S256, as MSAL signs when it has the certificate");
    let d = verified(&keys, out["device"]["access_token"].as_str().unwrap_or_else(|| panic!("{}", out["device"])));
    assert_eq!((d["aud"].as_str(), d["upn"].as_str()), (Some("https://enrollment.manage.microsoft.com/"), Some("adelev@contoso.com")));
    assert!(out["device"]["message"].as_str().unwrap().contains("https://microsoft.com/devicelogin"));
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "token_refused" && e["detail"]["code"] == "AADSTS70016"), "MSAL polled while the user had not signed in yet");
    // The authority two hours ahead: MSAL's fresh assertion has expired by the authority's clock.
    let skewed = Up::start_toml("entra-msal-cert-skew", "entra", &format!("{world}[[fault]]\nkind = \"entra.clock_skew\"\nahead = \"2h\"\n"));
    let out = in_world(&skewed, &python, &[script.display().to_string(), json!([calls[0]]).to_string()], &[]);
    assert_eq!(out["cert"]["error_codes"], json!([700024]), "{}", out["cert"]);
}
