//! The `device-join` probe: an Entra join as `dsregcmd` performs it, phase by phase (Microsoft
//! Entra "Troubleshoot devices by using the dsregcmd command": discover, auth, join), speaking
//! DRS as protocols.md §6 and libhimmelblau (`discovery.rs`) do:
//!
//! 1. **discover** — the tenant's `EnterpriseRegistration.<domain>` CNAME (seed 003) leads to the
//!    device registration service; `GET /<domain>/Discover?api-version=1.9&managed=True` there;
//!    every later endpoint is the one the document names (clients follow it);
//! 2. **auth** — a token for the Device Registration Service from the world's Entra: the resource
//!    owner password grant of the Microsoft Authentication Broker on the v2.0 token endpoint of
//!    the document's authority, for world.json's first Entra user;
//! 3. **join** — a nonce, then `POST JoinEndpoint?api-version=2.0` with an RSA-2048 PKCS#10 whose
//!    CN is `7E980AD9-…`, a `BCRYPT_RSAKEY_BLOB` transport key, `JoinType` 0;
//! 4. **certificate** — the returned certificate chains to `MS-Organization-Access` (world.json's
//!    `client_ca_bundle`), holds the request's key, and its subject's first RDN is the device id.
//!
//! Codes: 0x801C0021 in discover (as the registration probe), 0x80072F8F when a server
//! certificate does not verify (failure catalog TLS-03), the DRS codes of codes.toml in auth and
//! join, E_INVALIDDATA for an answer that is not JSON (failure catalog PRX-02).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hyper::Method;
use serde_json::{Value, json};

use super::device_cert;
use super::http::{self, Channel};
use super::resolve::{self, Found};
use super::{Code, ProbeResult, Run};

/// Microsoft Authentication Broker: the public client dsregcmd and libhimmelblau sign in with
/// (protocols.md §7, aad-join-spec §3.3).
const BROKER_CLIENT_ID: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";
/// The scope of a token for the Device Registration Service (its application id), with the
/// OpenID scopes libhimmelblau always adds (protocols.md §7 note).
const DRS_SCOPE: &str = "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9/.default openid profile offline_access";
/// The subject CN every join request carries (aad-join-spec §2.1.1.1.1).
const CSR_CN: &str = "7E980AD9-B86D-4306-9425-9AC066FB014A";
/// The largest answer the probe reads.
const LIMIT: usize = 256 * 1024;

/// A failed phase: the step, the code, the message.
type Fail = (&'static str, Code, String);

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    match join(run).await {
        Ok(message) => run.pass("certificate", message),
        Err((step, code, message)) => run.fail(step, code, message),
    }
}

async fn join(run: &Run<'_>) -> Result<String, Fail> {
    let target = run.target;
    let domain = target.domains.first().cloned().unwrap_or_default();
    let discover_fail = |m: String| ("discover", Code::DSREG_E_DISCOVERY_FAILED, format!("DRS Discovery Test : FAIL — {m}"));
    // 1. discover, through the tenant's CNAME (seed 003).
    let rule = run.catalog.cname_rule("registration", target.cloud);
    let expected = rule.map(|r| r.target.to_ascii_lowercase());
    let label = rule.map_or("EnterpriseRegistration", |r| r.label.as_str());
    let server = match resolve::tenant_cname(target.dns_addr, label, &domain, expected.clone()).await {
        Found::Server { name, .. } if Some(&name) == expected.as_ref() => name,
        Found::Server { chain, .. } => return Err(discover_fail(format!("{} does not lead to the device registration service", chain.join(" -> ")))),
        Found::Missing => return Err(discover_fail(format!("{label}.{domain} does not exist (NXDOMAIN)"))),
        Found::Failed(e) => return Err(discover_fail(format!("{label}.{domain}: {e}"))),
    };
    resolve::server(target.dns_addr, &server).await.map_err(|(_, why)| discover_fail(why))?;
    let path = format!("/{domain}/Discover?api-version=1.9&managed=True");
    let doc = call(run, &server, Method::GET, &path, &drs_headers(None), None).await.map_err(|e| e.in_phase("discover", discover_fail))?;
    let endpoint = |service: &str, member: &str| doc.get(service).and_then(|s| s.get(member)).and_then(Value::as_str).map(str::to_string);
    let (Some(join_url), Some(nonce_url), Some(token_url)) =
        (endpoint("DeviceJoinService", "JoinEndpoint"), endpoint("NonceService", "Endpoint"), doc["AuthenticationService"]["OAuth2"]["TokenEndpoint"].as_str())
    else {
        return Err(discover_fail("the Discover document names no JoinEndpoint, NonceService or OAuth2 TokenEndpoint".into()));
    };
    let version = |service: &str, default: &str| endpoint(service, "ServiceVersion").unwrap_or_else(|| default.to_string());

    // 2. auth: a token for DRS from the document's authority (its v2.0 token endpoint).
    let token = token(run, token_url).await?;

    // 3. nonce, then join.
    let (nonce_host, nonce_path) = http::split_https(&nonce_url).ok_or_else(|| discover_fail(format!("NonceService endpoint {nonce_url} is not https")))?;
    let nonce_path = format!("{nonce_path}{}api-version={}", if nonce_path.contains('?') { '&' } else { '?' }, version("NonceService", "1.0"));
    call(run, &nonce_host, Method::GET, &nonce_path, &drs_headers(Some(&token)), None).await.map_err(|e| e.in_phase("join", join_fail))?;
    let keys = tokio::task::spawn_blocking(|| (mock_cloud::keys::RsaKey::generate(2048), mock_cloud::keys::RsaKey::generate(2048)))
        .await
        .map_err(|e| ("join", Code::DSREG_E_DEVICE_INTERNALSERVICE_ERROR, format!("key generation: {e}")))?;
    let (Ok(device_key), Ok(transport_key)) = keys else {
        return Err(("join", Code::DSREG_E_DEVICE_INTERNALSERVICE_ERROR, "the device could not make its RSA keys".into()));
    };
    let csr = request(&device_key).map_err(|e| ("join", Code::DSREG_E_DEVICE_INTERNALSERVICE_ERROR, e))?;
    let body = json!({
        "CertificateRequest": { "Type": "pkcs10", "Data": STANDARD.encode(&csr) },
        "TransportKey": STANDARD.encode(key_blob(&transport_key)),
        "TargetDomain": domain, "DeviceType": "Windows", "OSVersion": "10.0.26100.2605",
        "DeviceDisplayName": "MEMSIM-PROBE", "JoinType": 0,
        "Attributes": { "ReuseDevice": "true", "ReturnClientSid": "true" },
    });
    let (join_host, join_path) = http::split_https(&join_url).ok_or_else(|| discover_fail(format!("JoinEndpoint {join_url} is not https")))?;
    let join_path = format!("{join_path}{}api-version={}", if join_path.contains('?') { '&' } else { '?' }, version("DeviceJoinService", "2.0"));
    let answer = call(run, &join_host, Method::POST, &join_path, &drs_headers(Some(&token)), Some(body.to_string().into_bytes()))
        .await
        .map_err(|e| e.in_phase("join", join_fail))?;

    // 4. The certificate.
    let raw =
        answer["Certificate"]["RawBody"].as_str().ok_or_else(|| ("join", Code::E_INVALIDDATA, "the join answer has no Certificate.RawBody".to_string()))?;
    let der = STANDARD.decode(raw.trim()).map_err(|_| ("certificate", Code::E_INVALIDDATA, "Certificate.RawBody is not base64".to_string()))?;
    let spki = mock_cloud::pki::check_csr(&csr).map(|c| c.spki_der).map_err(|e| ("join", Code::DSREG_E_DEVICE_INTERNALSERVICE_ERROR, e.to_string()))?;
    let roots = std::fs::read_to_string(&target.client_ca_bundle)
        .map_err(|e| ("certificate", Code::CERT_E_CHAINING, format!("client CA bundle {}: {e}", target.client_ca_bundle.display())))?;
    let checked = device_cert::check(&der, &spki, &roots).map_err(|e| ("certificate", e.code(), e.to_string()))?;
    Ok(format!(
        "AzureAdJoined : YES — DeviceId : {}, Thumbprint : {}, issued by {} (joined at {join_host})",
        checked.device_id,
        answer["Certificate"]["Thumbprint"].as_str().unwrap_or("?"),
        checked.issuer
    ))
}

/// A join-phase failure from a DRS error answer: its status and `ErrorCode` decide the code.
fn join_fail(m: String) -> Fail {
    ("join", Code::DSREG_E_DEVICE_INTERNALSERVICE_ERROR, m)
}

/// Why one exchange failed.
enum CallError {
    /// No answer: connect or HTTP failed (the text says how).
    Net(String),
    /// The TLS channel failed: the server's certificate did not verify (an inspecting proxy).
    Secure(String),
    /// An answer that is not a JSON object.
    NotJson(u16, String),
    /// An error status, with DRS's `ErrorCode` and message (or Entra's `error_description`) if any.
    Status(u16, Option<String>, String),
}

impl CallError {
    /// The failure in `phase`; `other` words a network failure.
    fn in_phase(self, phase: &'static str, other: impl Fn(String) -> Fail) -> Fail {
        match self {
            CallError::Net(m) => other(m),
            // failure catalog TLS-03: an Entra join behind an inspecting proxy fails with
            // 0x80072f8f ("ensure the proxy isn't modifying the server response") [S25].
            CallError::Secure(m) => (phase, Code::ERROR_WINHTTP_SECURE_FAILURE, format!("[0x801c0021/0x80072f8f] {m}")),
            CallError::NotJson(status, m) => (phase, Code::E_INVALIDDATA, format!("the answer (HTTP {status}) is not JSON: {m}")),
            CallError::Status(401, code, m) => (phase, Code::DSREG_E_DEVICE_AUTHENTICATION_ERROR, server_error(401, code, m)),
            CallError::Status(status, Some(code), m) if code == "DirectoryError" => {
                (phase, Code::DSREG_E_DIRECTORY_FAILURE, server_error(status, Some(code), m))
            }
            CallError::Status(status, code, m) if phase == "discover" => other(server_error(status, code, m)),
            CallError::Status(status, code, m) => (phase, Code::DSREG_E_DEVICE_INTERNALSERVICE_ERROR, server_error(status, code, m)),
        }
    }
}

/// dsregcmd's words for a server error: `Server ErrorCode`, `Server Message`, `Https Status`.
fn server_error(status: u16, code: Option<String>, message: String) -> String {
    format!("Server ErrorCode : {} — Server Message : {message} — Https Status : {status}", code.as_deref().unwrap_or("(none)"))
}

/// The headers dsregcmd-like clients send DRS (protocols.md §6; aad-join-spec §3.1).
fn drs_headers(token: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("accept", "application/json".to_string()),
        ("content-type", "application/json".to_string()),
        ("ocp-adrs-client-name", "memsim-device-join".to_string()),
        ("ocp-adrs-client-version", env!("CARGO_PKG_VERSION").to_string()),
        ("user-agent", "Dsreg/10.0 (memsim)".to_string()),
    ];
    if let Some(t) = token {
        h.push(("authorization", format!("Bearer {t}")));
    }
    h
}

/// One exchange with a host of the world; the answer as a JSON object.
async fn call(run: &Run<'_>, host: &str, method: Method, path: &str, headers: &[(&str, String)], body: Option<Vec<u8>>) -> Result<Value, CallError> {
    let mut channel = Channel::open(run.target, host).await.map_err(|e| {
        let text = format!("{} ({})", e.net(), http::open_text(&e));
        if e.net().certificate_error().is_some() { CallError::Secure(text) } else { CallError::Net(text) }
    })?;
    let (res, bytes) = channel.exchange(method, path, headers, body, LIMIT).await.map_err(CallError::Net)?;
    let status = res.status().as_u16();
    let parsed: Option<Value> = serde_json::from_slice(&bytes).ok().filter(Value::is_object);
    let shown = || String::from_utf8_lossy(&bytes[..bytes.len().min(120)]).into_owned();
    match (res.status().is_success(), parsed) {
        (true, Some(v)) => Ok(v),
        (true, None) => Err(CallError::NotJson(status, shown())),
        (false, Some(v)) => {
            let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let code = text("ErrorCode").or_else(|| text("error"));
            Err(CallError::Status(status, code, text("Message").or_else(|| text("error_description")).unwrap_or_default()))
        }
        (false, None) => Err(CallError::Status(status, None, format!("{} {}", status, http::reason(status)))),
    }
}

/// A DRS token: the password grant at the v2.0 token endpoint of the Discover document's authority.
async fn token(run: &Run<'_>, v1_endpoint: &str) -> Result<String, Fail> {
    let fail = |m: String| ("auth", Code::DSREG_E_DEVICE_AUTHENTICATION_ERROR, format!("Token acquisition Test : FAIL — {m}"));
    let Some((user, password)) = &run.target.entra_user else {
        return Err(fail("world.json names no Entra user to sign in with".into()));
    };
    let (host, path) = http::split_https(v1_endpoint).ok_or_else(|| fail(format!("token endpoint {v1_endpoint} is not https")))?;
    let authority = path.trim_end_matches('/').trim_end_matches("/oauth2/token");
    let form =
        [("grant_type", "password"), ("client_id", BROKER_CLIENT_ID), ("scope", DRS_SCOPE), ("username", user.as_str()), ("password", password.as_str())]
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
    let headers = [("content-type", "application/x-www-form-urlencoded".to_string()), ("accept", "application/json".to_string())];
    let answer = call(run, &host, Method::POST, &format!("{authority}/oauth2/v2.0/token"), &headers, Some(form.into_bytes())).await.map_err(|e| match e {
        CallError::Net(m) => fail(m),
        CallError::Secure(m) => ("auth", Code::ERROR_WINHTTP_SECURE_FAILURE, m),
        CallError::NotJson(s, m) => ("auth", Code::E_INVALIDDATA, format!("the token answer (HTTP {s}) is not JSON: {m}")),
        CallError::Status(s, code, m) => fail(format!("{} ({m}), HTTP {s}", code.unwrap_or_default())),
    })?;
    answer["access_token"].as_str().map(str::to_string).ok_or_else(|| fail("the token answer has no access_token".into()))
}

/// `application/x-www-form-urlencoded` for one value (RFC 3986 unreserved characters kept).
fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The join's PKCS#10 request for `key` (DER).
fn request(key: &mock_cloud::keys::RsaKey) -> Result<Vec<u8>, String> {
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, CSR_CN);
    p.serialize_request(key).map(|r| r.der().to_vec()).map_err(|e| e.to_string())
}

/// The public half of `key` as a `BCRYPT_RSAKEY_BLOB` (aad-join-spec §2.1.1.1.1).
fn key_blob(key: &mock_cloud::keys::RsaKey) -> Vec<u8> {
    let (n, e) = key.jwk_n_e();
    let (n, e) = (URL_SAFE_NO_PAD.decode(n).unwrap_or_default(), URL_SAFE_NO_PAD.decode(e).unwrap_or_default());
    let mut blob = b"RSA1".to_vec();
    for v in [key.bits() as u32, e.len() as u32, n.len() as u32, 0, 0] {
        blob.extend_from_slice(&v.to_le_bytes());
    }
    blob.extend_from_slice(&e);
    blob.extend_from_slice(&n);
    blob
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_are_percent_encoded() {
        assert_eq!(form_encode("a b/c@d.com"), "a+b%2Fc%40d.com");
        assert_eq!(form_encode("Pässw0rd!"), "P%C3%A4ssw0rd%21");
    }

    #[test]
    fn the_key_blob_is_rsa1_with_no_primes() {
        let key = mock_cloud::keys::RsaKey::generate(2048).unwrap();
        let blob = STANDARD.encode(key_blob(&key));
        let (bits, e, n) = mock_cloud::services::json_input::rsa_key_blob("TransportKey", &blob).expect("the service reads it");
        assert_eq!((bits, e, n.len()), (2048, vec![1, 0, 1], 256));
    }
}
