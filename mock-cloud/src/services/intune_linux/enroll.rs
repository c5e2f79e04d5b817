//! Intune for Linux `enroll` (intune-spec §2.1.1; protocols.md §7.2): a bearer token for Intune
//! Enrollment, `{AppVersion, DeviceName, CertificateSigningRequest}` (members in any case), the
//! CSR as PEM (libhimmelblau) or bare base64 (intune-spec), RSA-2048 with SHA256withRSA, and **no
//! attributes**: libhimmelblau builds its CSR by hand because "Microsoft rejects CSRs with
//! Requested Extensions attributes", so a CSR with any attribute is refused here. The answer:
//! a new Intune device id and the MDM device certificate from the world's "Microsoft Intune MDM
//! Device CA", `certBlob` as a JSON array of bytes (libhimmelblau reads it with `serde_bytes`).

use axum::extract::Request;
use axum::response::Response;
use scenarios::{Component, NewEvent, Service};
use serde_json::{Value, json};

use super::{LinuxError, refused};
use crate::pki::{ClientCertRequest, check_csr};
use crate::services::AppState;
use crate::services::bearer::{self, INTUNE_ENROLLMENT};
use crate::services::devices::{EnrolledDevice, random_uuid};
use crate::services::json_input as input;

/// The key size intune-spec §2.1.1.1.1 requires.
const RSA_BITS: usize = 2048;

pub(super) async fn enroll(state: &AppState, req: Request) -> Result<Response, LinuxError> {
    let (parts, body) = req.into_parts();
    let host = bearer::host_of(&parts.headers, &parts.uri);
    let claims = bearer::check(state, &parts.headers, &host, Service::IntuneLinux, INTUNE_ENROLLMENT).await?;
    let checked = async {
        let obj = input::read_object(body).await?;
        enroll_checked(state, &obj, &claims)
    }
    .await;
    match checked {
        Ok((device, answer)) => {
            state.journal.record(
                NewEvent::new(Component::Http, "device_enrolled")
                    .host(&host)
                    .detail("device_id", device.device_id.as_str())
                    .detail("thumbprint", device.thumbprint.as_str()),
            );
            state.devices.add_enrolled(device);
            Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &answer))
        }
        Err(e) => {
            refused(state, &host, &e);
            Err(e)
        }
    }
}

fn enroll_checked(state: &AppState, obj: &serde_json::Map<String, Value>, claims: &Value) -> Result<(EnrolledDevice, Value), LinuxError> {
    let linux = &state.catalog.devices.intune_linux;
    input::string(obj, "AppVersion")?;
    let name = input::string(obj, "DeviceName")?.to_string();
    let der = input::csr_der("CertificateSigningRequest", input::string(obj, "CertificateSigningRequest")?)?;
    let csr = check_csr(&der)?;
    if csr.has_attributes {
        return Err(LinuxError::CsrRefused("it carries attributes (such as Requested Extensions); send a PKCS#10 request without any".into()));
    }
    if csr.rsa_bits != RSA_BITS {
        let has = if csr.rsa_bits == 0 { "an EC key".to_string() } else { format!("a {}-bit RSA key", csr.rsa_bits) };
        return Err(LinuxError::CsrRefused(format!("it carries {has}; an RSA {RSA_BITS}-bit key is required")));
    }
    let device_id = random_uuid();
    let now = state.journal.clock().now();
    let lifetime = time::Duration::try_from(linux.cert_lifetime.0).unwrap_or(time::Duration::days(365));
    let req = ClientCertRequest { common_name: device_id.clone(), subject_extra: vec![], lifetime, now, eku: vec![] };
    let cert = state.revocation.pki.issue_client(&linux.device_ca, &csr.spki_der, &req).map_err(|e| LinuxError::Issue(e.to_string()))?;
    let answer = json!({
        "deviceId": device_id,
        "certificate": { "thumbprint": cert.thumbprint, "certBlob": cert.der.as_ref() },
        "renewPeriod": linux.renew_period,
    });
    let device = EnrolledDevice {
        device_id,
        device_name: name,
        thumbprint: cert.thumbprint,
        entra_device_id: claims.get("deviceid").and_then(Value::as_str).map(str::to_string),
        details: None,
        noncompliant: vec![],
        reported: false,
    };
    Ok((device, answer))
}
