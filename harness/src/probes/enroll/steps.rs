//! The `enroll` probe's steps, in the client's order (see `mod.rs`); each returns the verdict
//! of the step that failed, named, with its code.

// A step's error is the probe's verdict itself, made once per run and returned as it is:
// boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Limited};
use hyper::Method;
use mock_cloud::services::enrollment::provisioning::ProvisioningDoc;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::TokenSource;
use super::wire;
use crate::probes::http::{Channel, OpenError, PATIENCE, split_https};
use crate::probes::net::{ClientAuth, NetError};
use crate::probes::{Code, ProbeResult, Run, resolve};

/// The largest answer read (a provisioning document is about 6 KB).
const MAX_ANSWER: usize = 1024 * 1024;

type Step<T> = Result<T, ProbeResult>;

/// One probe run's open connections, by host (discovery, fef, login, r).
#[derive(Default)]
struct Channels(HashMap<String, Channel>);

impl Channels {
    async fn get(&mut self, run: &Run<'_>, step: &str, host: &str, client: Option<&ClientAuth>) -> Step<&mut Channel> {
        if !self.0.contains_key(host) {
            let ch = Channel::open_with(run.target, host, client).await.map_err(|e| open_failure(run, step, &e))?;
            self.0.insert(host.to_string(), ch);
        }
        Ok(self.0.get_mut(host).expect("inserted above"))
    }
}

/// What a channel that could not be opened means to the enrollment client.
fn open_failure(run: &Run<'_>, step: &str, e: &OpenError) -> ProbeResult {
    use rustls::CertificateError::*;
    let net = e.net();
    let code = match (net, net.certificate_error()) {
        (_, Some(Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. })) => Code::MENROLL_E_DISCOVERY_SEC_CERT_DATE_INVALID,
        (NetError::Tls { .. }, Some(_)) => Code::MENROLL_E_INVALIDSSLCERT,
        (NetError::Tls { .. }, None) => Code::ERROR_WINHTTP_SECURE_FAILURE,
        (NetError::Proxy(_, line), _) => match line.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()) {
            Some(status) => return run.fail_http(step, Code::MREGISTER_E_DISCOVERY_HTTP, status, net.to_string()),
            None => Code::WININET_E_CANNOT_CONNECT,
        },
        _ => Code::WININET_E_CANNOT_CONNECT,
    };
    run.fail(step, code, net.to_string())
}

/// An answer's status, headers we judge and body.
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// POST `body` to `url` and read the whole answer, failing as the client does on a cut answer.
async fn post(run: &Run<'_>, chans: &mut Channels, step: &str, url: &str, content_type: &str, body: String, client: Option<&ClientAuth>) -> Step<Answer> {
    let (host, path) = split_https(url).ok_or_else(|| run.fail(step, Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, format!("`{url}` is no https URL")))?;
    let host = host.split(':').next().unwrap_or_default().to_string();
    let ch = chans.get(run, step, &host, client).await?;
    let headers = [("content-type", content_type.to_string()), ("user-agent", "Windows Enrollment Client".to_string())];
    let work = async {
        let res = ch.send(Method::POST, &path, &headers, Some(body.into_bytes())).await.map_err(|e| (false, e.to_string()))?;
        let status = res.status().as_u16();
        let header = |n: &str| res.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
        let (content_type, chunked) = (header("content-type"), header("transfer-encoding").contains("chunked"));
        let bytes = Limited::new(res.into_body(), MAX_ANSWER).collect().await.map_err(|e| (true, e.to_string()))?.to_bytes();
        Ok((status, content_type, chunked, bytes))
    };
    let (status, content_type, chunked, bytes) = match tokio::time::timeout(PATIENCE, work).await {
        Err(_) => return Err(run.fail(step, Code::WININET_E_TIMEOUT, format!("POST {url}: no answer within {PATIENCE:?}"))),
        Ok(Err((true, e))) => {
            return Err(run.fail(
                step,
                Code::ERROR_WINHTTP_INVALID_SERVER_RESPONSE,
                format!("POST {url}: the answer stopped before its announced length ({e})"),
            ));
        }
        Ok(Err((false, e))) => return Err(run.fail(step, Code::WININET_E_CANNOT_CONNECT, format!("POST {url}: {e}"))),
        Ok(Ok(x)) => x,
    };
    if chunked {
        let message = format!("POST {url}: the answer came with Transfer-Encoding: chunked; the enrollment client requires one message with a length");
        return Err(run.fail(step, Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, message));
    }
    Ok(Answer { status, content_type, body: String::from_utf8_lossy(&bytes).into_owned() })
}

/// The code the client logs for a SOAP fault: its ErrorType, else its subcode.
fn fault_code(f: &wire::Fault) -> Code {
    let by_type = match f.error_type().map(str::to_ascii_lowercase).as_deref() {
        Some("devicecapreached") => Some(Code::MENROLL_E_DEVICECAPREACHED),
        Some("devicenotsupported") => Some(Code::MENROLL_E_DEVICENOTSUPPORTED),
        Some("notsupported") => Some(Code::MENROLL_E_NOT_SUPPORTED),
        Some("noteligibletorenew") => Some(Code::MENROLL_E_NOTELIGIBLETORENEW),
        Some("inmaintenance") => Some(Code::MENROLL_E_INMAINTENANCE),
        Some("userlicense") => Some(Code::MENROLL_E_USER_LICENSE),
        Some("invalidenrollmentdata") => Some(Code::MENROLL_E_ENROLLMENTDATAINVALID),
        _ => None,
    };
    by_type.unwrap_or(match f.subcode().to_ascii_lowercase().as_str() {
        "messageformat" => Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR,
        "authentication" => Code::MENROLL_E_DEVICE_AUTHENTICATION_ERROR,
        "authorization" => Code::MENROLL_E_DEVICE_AUTHORIZATION_ERROR,
        "certificaterequest" => Code::MENROLL_E_DEVICE_CERTIFICATEREQUEST_ERROR,
        "internalservicefault" => Code::MENROLL_E_DEVICE_INTERNALSERVICE_ERROR,
        "invalidsecurity" => Code::MENROLL_E_DEVICE_INVALIDSECURITY_ERROR,
        _ => Code::MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR,
    })
}

/// A SOAP exchange: the answer's body, or the failure the client logs (a fault is read whatever
/// the HTTP status, protocols.md §5).
async fn soap(run: &Run<'_>, chans: &mut Channels, step: &str, url: &str, body: String) -> Step<wire::AnswerBody> {
    let a = post(run, chans, step, url, "application/soap+xml; charset=utf-8", body, None).await?;
    if !a.content_type.starts_with("application/soap+xml") {
        if a.status != 200 {
            return Err(run.fail_http(step, Code::MREGISTER_E_DISCOVERY_HTTP, a.status, format!("POST {url} answered {} ({})", a.status, a.content_type)));
        }
        let message = format!("POST {url} answered `{}`, not application/soap+xml: no SOAP message", a.content_type);
        return Err(run.fail(step, Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, message));
    }
    let answer = wire::answer(&a.body)
        .map_err(|e| run.fail(step, Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, format!("POST {url}: the answer is no SOAP envelope: {e}")))?;
    if let Some(f) = &answer.fault {
        let what = f.error_type().map_or_else(|| format!("s:Fault {}", f.subcode()), |t| format!("s:Fault {} / ErrorType {t}", f.subcode()));
        return Err(run.fail(step, fault_code(f), format!("{step}: HTTP {}, {what}: {}", a.status, f.reason.text.get())));
    }
    if a.status != 200 {
        return Err(run.fail_http(step, Code::MREGISTER_E_DISCOVERY_HTTP, a.status, format!("POST {url} answered {}", a.status)));
    }
    Ok(answer)
}

pub(super) async fn enroll(run: &Run<'_>, source: &TokenSource) -> ProbeResult {
    match steps(run, source).await {
        Ok(r) | Err(r) => r,
    }
}

async fn steps(run: &Run<'_>, source: &TokenSource) -> Step<ProbeResult> {
    let mut chans = Channels::default();
    let upn = match source {
        TokenSource::Authority { upn, .. } | TokenSource::Given { upn, .. } => upn.clone(),
    };
    // 1. Discovery: the EnterpriseEnrollment CNAME of the user's domain, then Discover.
    let domain = upn.rsplit('@').next().unwrap_or_default().to_string();
    let server = discovery_server(run, &domain).await?;
    let discovery_url = format!("https://{server}{}", mock_cloud::services::enrollment::DISCOVERY_PATH);
    let msg = wire::discover(&format!("https://{server}:443{}", mock_cloud::services::enrollment::DISCOVERY_PATH), &upn, &guid())
        .map_err(|e| internal(run, "discover", e))?;
    let found = soap(run, &mut chans, "discover", &discovery_url, msg).await?;
    let result = found.discover.ok_or_else(|| run.fail("discover", Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "no DiscoverResponse".into()))?.result;
    let enroll_url = result.EnrollmentServiceUrl.get().to_string();
    let policy_url = result.EnrollmentPolicyServiceUrl.as_ref().map(|t| t.get().to_string()).filter(|u| !u.is_empty());
    // 2. The token.
    let token = token(run, &mut chans, source).await?;
    let token_b64 = STANDARD.encode(&token);
    // 3. Policies (optional per the docs; every client calls it when advertised).
    let mut min_key = 2048;
    if let Some(url) = &policy_url {
        let msg = wire::get_policies(url, &guid(), &token_b64).map_err(|e| internal(run, "policies", e))?;
        let policies = soap(run, &mut chans, "policies", url, msg).await?;
        min_key = policies.policies.and_then(|p| p.response.policies.policy.attributes.key.minimal_key_length.get().parse().ok()).unwrap_or(2048);
    }
    // 4. Key and CSR: a TPM key is RSA-2048 whatever the policy says.
    let key = mock_cloud::keys::RsaKey::generate(2048).map_err(|e| internal(run, "csr", e.to_string()))?;
    let device_id = guid();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, device_id.as_str());
    let csr = params.serialize_request(&key).map_err(|e| internal(run, "csr", e.to_string()))?;
    let csr_b64 = STANDARD.encode(csr.der());
    let context = [
        ("UXInitiated", "true"),
        ("HWDevID", device_id.as_str()),
        ("Locale", "en-US"),
        ("TargetedUserLoggedIn", "true"),
        ("OSEdition", "101"),
        ("DeviceName", "MEMSIM-PROBE"),
        ("MAC", "00-15-5D-00-00-01"),
        ("DeviceID", device_id.as_str()),
        ("EnrollmentType", "Full"),
        ("DeviceType", "CIMClient_Windows"),
        ("OSVersion", "10.0.22621.3155"),
        ("ApplicationVersion", "10.0.22621.3155"),
    ];
    let msg = wire::rst(&enroll_url, &guid(), &token_b64, &csr_b64, &context).map_err(|e| internal(run, "enroll", e))?;
    // 5. Enrollment and the provisioning document.
    let enrolled = soap(run, &mut chans, "enroll", &enroll_url, msg).await?;
    let rstrc =
        enrolled.rstrc.ok_or_else(|| run.fail("enroll", Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "no RequestSecurityTokenResponseCollection".into()))?;
    let doc_b64 = rstrc.RequestSecurityTokenResponse.RequestedSecurityToken.BinarySecurityToken.get().to_string();
    let (cert, addr) = provisioning(run, &doc_b64, min_key)?;
    // 6. The first check-in, with the issued certificate.
    let client =
        ClientAuth { chain: vec![cert.leaf.clone(), cert.issuer.clone()], key_pkcs8: key.pkcs8_der().map_err(|e| internal(run, "checkin", e.to_string()))? };
    let msg = super::syncml::syncml_session1(&addr, &device_id).map_err(|e| internal(run, "checkin", e))?;
    let a = post(run, &mut chans, "checkin", &addr, "application/vnd.syncml.dm+xml", msg, Some(&client)).await?;
    if a.status != 200 {
        let message = format!("POST {addr} answered {} (HTTP_E_STATUS_* {}): {}", a.status, crate::probes::http::reason(a.status), a.body.trim());
        return Err(run.fail_http("checkin", Code::MREGISTER_E_DISCOVERY_HTTP, a.status, message));
    }
    let reply = super::syncml::sync_reply(&a.body)
        .map_err(|e| run.fail("checkin", Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, format!("the check-in answer is no SyncML: {e}")))?;
    let header_ok = reply.statuses.iter().any(|s| s.Cmd.get() == "SyncHdr" && s.Data.get() == "200");
    if !header_ok || reply.final_.is_none() {
        return Err(run.fail("checkin", Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, "the check-in answer lacks a 200 Status for the SyncHdr or Final".into()));
    }
    Ok(run.pass(
        "checkin",
        format!("{upn} enrolled through {server} (AuthPolicy {}): certificate {} (CN={device_id}) chains to {}; first OMA-DM session at {addr} answered {} statuses", result.AuthPolicy.get(), cert.thumbprint, cert.root_name, reply.statuses.len()),
    ))
}

/// Where discovery starts: the CNAME's target (seed 003), as the discovery probe finds it.
async fn discovery_server(run: &Run<'_>, domain: &str) -> Step<String> {
    let rule = run.catalog.cname_rule("enrollment", run.target.cloud);
    let preferred = rule.map(|r| r.target.to_ascii_lowercase());
    let label = rule.map_or("EnterpriseEnrollment", |r| r.label.as_str());
    match resolve::tenant_cname(run.target.dns_addr, label, domain, preferred).await {
        resolve::Found::Server { name, .. } => {
            resolve::server(run.target.dns_addr, &name)
                .await
                .map_err(|(missing, why)| run.fail("resolve", if missing { Code::MENROLL_E_CONNECTIVITY } else { Code::WININET_E_TIMEOUT }, why))?;
            Ok(name)
        }
        resolve::Found::Missing => Err(run.fail("resolve", Code::MENROLL_E_CONNECTIVITY, format!("{label}.{domain} does not exist (NXDOMAIN)"))),
        resolve::Found::Failed(e) => Err(run.fail("resolve", Code::WININET_E_TIMEOUT, format!("{label}.{domain}: {e}"))),
    }
}

/// The token for the enrollment resource.
async fn token(run: &Run<'_>, chans: &mut Channels, source: &TokenSource) -> Step<String> {
    let (authority, upn, password) = match source {
        TokenSource::Given { token, .. } => return Ok(token.clone()),
        TokenSource::Authority { authority, upn, password } => (authority, upn, password),
    };
    let url = format!("{}/oauth2/v2.0/token", authority.trim_end_matches('/'));
    // The enrollment resource's `.default` scope, written as Windows writes it (the resource URI
    // with its slash, then `/.default`): the first audience of data/enrollment.toml.
    let resource = run.catalog.enrollment.token.audiences.first().map_or("", String::as_str);
    let scope = format!("{resource}/.default openid profile offline_access");
    let form =
        [("grant_type", "password"), ("client_id", ENROLLMENT_CLIENT), ("scope", scope.as_str()), ("username", upn.as_str()), ("password", password.as_str())];
    let body: String = form.iter().map(|(k, v)| format!("{k}={}", percent(v))).collect::<Vec<_>>().join("&");
    let a = post(run, chans, "token", &url, "application/x-www-form-urlencoded", body, None).await?;
    let json: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
    match json.get("access_token").and_then(|t| t.as_str()) {
        Some(t) if a.status == 200 => Ok(t.to_string()),
        _ => {
            let why = json.get("error_description").and_then(|d| d.as_str()).unwrap_or(a.body.trim()).lines().next().unwrap_or_default().to_string();
            Err(run.fail("token", Code::MENROLL_E_DEVICE_AUTHENTICATION_ERROR, format!("POST {url} answered {}: {why}", a.status)))
        }
    }
}

/// The public client the token is asked for (protocols.md §14: the Microsoft Authentication Broker).
const ENROLLMENT_CLIENT: &str = "29d9ed98-a469-4536-ade2-f981bc1d605e";

/// application/x-www-form-urlencoded value encoding.
fn percent(v: &str) -> String {
    v.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// What the probe takes from the provisioning document.
struct Issued {
    leaf: CertificateDer<'static>,
    issuer: CertificateDer<'static>,
    thumbprint: String,
    root_name: String,
}

/// Read the provisioning document: the certificate (named by its thumbprint), its chain to a
/// root of the world's bundle through the document's CA, the w7 ADDR.
fn provisioning(run: &Run<'_>, doc_b64: &str, min_key: u32) -> Step<(Issued, String)> {
    let bad = |why: String| run.fail("provisioning", Code::MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR, why);
    let xml =
        STANDARD.decode(doc_b64).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| bad("the provisioning document is not base64 UTF-8".into()))?;
    let doc = ProvisioningDoc::parse(&xml).map_err(|e| bad(format!("the provisioning document does not parse: {e}")))?;
    let cert_of = |path: &[&str]| -> Option<(String, Vec<u8>)> {
        let store = doc.find(path)?;
        let node = store.children.iter().find(|c| c.parm("EncodedCertificate").is_some())?;
        Some((node.kind.clone(), STANDARD.decode(node.parm("EncodedCertificate")?).ok()?))
    };
    let (thumbprint, leaf) = cert_of(&["CertificateStore", "My", "User"])
        .or_else(|| cert_of(&["CertificateStore", "My", "System"]))
        .ok_or_else(|| bad("no My/User or My/System certificate".into()))?;
    let (_, issuer) = cert_of(&["CertificateStore", "CA", "System"]).ok_or_else(|| bad("no CA/System certificate".into()))?;
    let (_, root) = cert_of(&["CertificateStore", "Root", "System"]).ok_or_else(|| bad("no Root/System certificate".into()))?;
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &leaf);
    let actual: String = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    if !actual.eq_ignore_ascii_case(&thumbprint) {
        return Err(bad(format!("the certificate is filed under {thumbprint} but its thumbprint is {actual}")));
    }
    fn parse(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, String> {
        x509_parser::parse_x509_certificate(der).map(|(_, c)| c).map_err(|e| format!("a certificate does not parse: {e}"))
    }
    let (leaf_c, issuer_c, root_c) = (parse(&leaf).map_err(bad)?, parse(&issuer).map_err(bad)?, parse(&root).map_err(bad)?);
    leaf_c.verify_signature(Some(issuer_c.public_key())).map_err(|_| bad("the certificate is not signed by the document's CA".into()))?;
    issuer_c.verify_signature(Some(root_c.public_key())).map_err(|_| bad("the document's CA is not signed by its root".into()))?;
    let bundle: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&run.target.ca_bundle).map(|i| i.filter_map(Result::ok).collect()).unwrap_or_default();
    if !bundle.iter().any(|c| c.as_ref() == root.as_slice()) {
        return Err(bad("the document's root is not one of the world's trusted roots (ca.pem)".into()));
    }
    let key_bits = match leaf_c.public_key().parsed() {
        Ok(x509_parser::public_key::PublicKey::RSA(k)) => k.key_size() as u32,
        _ => 0,
    };
    if key_bits < min_key.min(2048) {
        return Err(bad(format!("the certificate's key has {key_bits} bits")));
    }
    let addr = doc.find(&["APPLICATION"]).and_then(|a| a.parm("ADDR")).ok_or_else(|| bad("no APPLICATION ADDR".into()))?.to_string();
    let root_name = root_c.subject().iter_common_name().next().and_then(|c| c.as_str().ok()).unwrap_or_default().to_string();
    Ok((Issued { leaf: CertificateDer::from(leaf), issuer: CertificateDer::from(issuer), thumbprint, root_name }, addr))
}

fn internal(run: &Run<'_>, step: &str, e: String) -> ProbeResult {
    run.fail(step, Code::MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR, format!("the probe could not build its request: {e}"))
}

fn guid() -> String {
    mock_cloud::services::enrollment::guid()
}
