//! MS-WSTEP RequestSecurityToken (protocols.md §4; MS-WSTEP §3.1.4.1; MS-MDE2 §3.4): the
//! caller's token checked, the PKCS#10 checked (base64 DER, its signature, its key against the
//! policy's minimal length, its subject against the enrollment type), the certificate issued by
//! the world's `Microsoft Intune MDM Device CA`, and the provisioning document returned in a
//! `RequestSecurityTokenResponseCollection` with the `o:Security` timestamp.
//!
//! Subject per enrollment type (azure-active-directory-integration-with-mdm.md's table): an
//! Entra-joined device (`EnrollmentType=Device`) asks for its Entra device id as CN, so when its
//! token names a `deviceid` the CN must be that id, and the certificate goes to `My/System`; a
//! user enrollment (`Full`, the default) gets `My/User`.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenarios::{Component, EnrollStep, NewEvent};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;

use super::faults::{EnrollError, Tuning, soap_response};
use super::provisioning::{Contents, ProvisioningDoc};
use super::soap::{self, OutEnvelope, OutSecurity, Timestamp};
use crate::pki::{ClientCertRequest, CsrError, check_csr};
use crate::services::AppState;

pub async fn handle(state: &AppState, req: Request) -> Response {
    let host = crate::front::request_host(&req).unwrap_or_default();
    let tuning = req.extensions().get::<Tuning>().copied().unwrap_or_default();
    let env = match super::read_soap(req).await {
        Ok(env) => env,
        Err(e) => return super::answer(state, EnrollStep::Enroll, &host, "", Err(e)),
    };
    let relates_to = env.header.message_id().to_string();
    let result = enroll(state, &env, &tuning, &host);
    super::answer(state, EnrollStep::Enroll, &host, &relates_to, result)
}

fn enroll(state: &AppState, env: &soap::Envelope, tuning: &Tuning, host: &str) -> Result<Response, EnrollError> {
    let rst = env.body.rst.as_ref().ok_or_else(|| EnrollError::MessageFormat("the body holds no RequestSecurityToken".into()))?;
    let caller = super::auth::authenticate(state, &env.header, tuning)?;
    // Intune enrolls licensed users only (protocols.md §5, ErrorType UserLicense).
    if let Some(user) = state.entra.directory.user(&caller.upn)
        && !user.intune_licence
    {
        return Err(EnrollError::Refused {
            subcode: super::faults::Subcode::Authorization,
            error_type: super::faults::ErrorType::UserLicense,
            reason: format!("The user {} is not licensed for Microsoft Intune.", soap::short(&caller.upn)),
        });
    }
    let csr_token = rst.csr.as_ref().ok_or_else(|| EnrollError::MessageFormat("the request holds no PKCS#10 BinarySecurityToken".into()))?;
    if !csr_token.value_type.trim().is_empty() && csr_token.value_type.trim() != soap::VT_PKCS10 {
        return Err(EnrollError::MessageFormat(format!("the request's token type `{}` is not PKCS#10", soap::short(&csr_token.value_type))));
    }
    let compact: String = csr_token.value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(&compact).map_err(|_| EnrollError::MessageFormat("the PKCS#10 request is not base64".into()))?;
    let csr = check_csr(&der).map_err(|e| match e {
        // The request is not signed by the key it carries: no proof of possession.
        CsrError::Signature => EnrollError::InvalidSecurity(e.to_string()),
        CsrError::Malformed => EnrollError::MessageFormat(e.to_string()),
        CsrError::KeyType => EnrollError::CertificateRequest(e.to_string()),
    })?;
    let policy = &state.catalog.enrollment.policy;
    let min_key = tuning.min_key_length.map_or(policy.minimal_key_length, |(bits, _)| bits);
    if csr.rsa_bits > 0 && (csr.rsa_bits as u32) < min_key {
        return Err(EnrollError::CertificateRequest(format!("the request's RSA key has {} bits; the policy's minimal key length is {min_key}", csr.rsa_bits)));
    }
    let device_type = rst.context("EnrollmentType").unwrap_or("Full");
    let device = device_type.eq_ignore_ascii_case("Device");
    let cn = csr.common_name.clone().unwrap_or_default();
    if device
        && let Some(id) = &caller.device_id
        && !cn.eq_ignore_ascii_case(id)
    {
        return Err(EnrollError::CertificateRequest(format!("a device enrollment's subject must be the Entra device id {id}, not `{}`", soap::short(&cn))));
    }
    let common_name = if cn.is_empty() { super::guid() } else { cn };
    let data = &state.catalog.enrollment;
    let now = state.journal.clock().now();
    let lifetime = time::Duration::try_from(data.certificate.lifetime.0).map_err(|e| EnrollError::Internal(e.to_string()))?;
    let req = ClientCertRequest { common_name: common_name.clone(), subject_extra: vec![], lifetime, now, eku: vec![] };
    let pki = &state.revocation.pki;
    let issued = pki.issue_client(&data.certificate.ca, &csr.spki_der, &req).map_err(|e| EnrollError::Internal(e.to_string()))?;
    let root = pki
        .cas()
        .iter()
        .find(|c| c.spec.id == data.certificate.root && !c.shadow)
        .ok_or_else(|| EnrollError::Internal(format!("no CA `{}`", data.certificate.root)))?;
    let root_thumbprint = sha1_hex(&root.der);
    let store = if device { "System" } else { "User" };
    let addr = data.url(&data.urls.checkin, &state.world);
    let doc = ProvisioningDoc::build(
        &data.provisioning,
        &Contents {
            root_thumbprint: &root_thumbprint,
            root_b64: &STANDARD.encode(&root.der),
            ca_thumbprint: &sha1_hex(&issued.issuer_der),
            ca_b64: &STANDARD.encode(&issued.issuer_der),
            client_thumbprint: &issued.thumbprint,
            client_b64: &STANDARD.encode(&issued.der),
            store,
            subject_cn: &common_name,
            addr: &addr,
        },
    );
    let doc_xml = doc.to_xml().map_err(|e| EnrollError::Internal(e.to_string()))?;
    let body = RstrBody {
        collection: Collection {
            xmlns: soap::NS_WST,
            response: Rstr {
                token_type: soap::TOKEN_TYPE_DEVICE,
                disposition: Empty { xmlns: soap::NS_ENROLL },
                requested: Requested {
                    token: OutToken {
                        value_type: soap::VT_PROVISION_DOC,
                        encoding: soap::ENCODING_BASE64,
                        xmlns: soap::NS_WSSE,
                        value: STANDARD.encode(doc_xml),
                    },
                },
                request_id: RequestId { xmlns: soap::NS_ENROLL, value: "0" },
            },
        },
    };
    let stamp = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let security = OutSecurity {
        xmlns_o: soap::NS_WSSE,
        must_understand: "1",
        timestamp: Timestamp { id: "_0", created: stamp(now - time::Duration::minutes(5)), expires: stamp(now + time::Duration::minutes(5)) },
    };
    let xml = OutEnvelope::new(soap::ACTION_RSTRC, env.header.message_id(), super::guid(), Some(security), body)
        .to_xml()
        .map_err(|e| EnrollError::Internal(e.to_string()))?;
    let device_id = caller.device_id.clone().unwrap_or_else(|| common_name.clone());
    let enrolled = super::Enrolled { upn: caller.upn.clone(), device_id: device_id.clone(), serial_hex: issued.serial_hex.clone() };
    state.enrollment.enrolled.lock().unwrap_or_else(|p| p.into_inner()).remember(issued.thumbprint.clone(), enrolled);
    let mut event = NewEvent::new(Component::Http, "enroll")
        .host(host.to_string())
        .detail("upn", caller.upn)
        .detail("enrollment_type", device_type.to_string())
        .detail("subject", common_name)
        .detail("thumbprint", issued.thumbprint.clone())
        .detail("serial", issued.serial_hex)
        .detail("key_bits", csr.rsa_bits);
    if let Some(kind) = tuning.min_key_length.map(|(_, k)| k).or(caller.fault) {
        event = event.fault(kind);
    }
    state.journal.record(event);
    Ok(soap_response(StatusCode::OK, xml))
}

/// SHA-1 of DER in upper-case hex: the thumbprint Windows shows and the document names.
pub fn sha1_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

#[derive(Serialize)]
struct RstrBody {
    #[serde(rename = "RequestSecurityTokenResponseCollection")]
    collection: Collection,
}

#[derive(Serialize)]
struct Collection {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "RequestSecurityTokenResponse")]
    response: Rstr,
}

#[derive(Serialize)]
struct Rstr {
    #[serde(rename = "TokenType")]
    token_type: &'static str,
    #[serde(rename = "DispositionMessage")]
    disposition: Empty,
    #[serde(rename = "RequestedSecurityToken")]
    requested: Requested,
    #[serde(rename = "RequestID")]
    request_id: RequestId,
}

#[derive(Serialize)]
struct Empty {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
}

#[derive(Serialize)]
struct Requested {
    #[serde(rename = "BinarySecurityToken")]
    token: OutToken,
}

#[derive(Serialize)]
struct OutToken {
    #[serde(rename = "@ValueType")]
    value_type: &'static str,
    #[serde(rename = "@EncodingType")]
    encoding: &'static str,
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "$text")]
    value: String,
}

#[derive(Serialize)]
struct RequestId {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "$text")]
    value: &'static str,
}
