//! Device join (aad-join-spec §2.1.1.1, §3.3) and key provisioning (MS-KPP §3.1.5.1.1).
//!
//! Join: a bearer token for the DRS resource; a JSON body whose `CertificateRequest` is a PKCS#10
//! (`Type` `pkcs10`, `Data` base64 DER) for an RSA-2048 key with the CN aad-join-spec requires,
//! signed by that key ([`crate::pki::check_csr`]); a `TransportKey` that is a public
//! `BCRYPT_RSAKEY_BLOB`; the device's type, OS version and name, and a known `JoinType`. The
//! answer holds the device certificate (`RawBody`, base64 DER) for the CSR's key, issued by the
//! world's `MS-Organization-Access` CA with the new device id as the first (only) RDN of its
//! subject — libhimmelblau takes the device id from there — and the device is remembered.
//!
//! Not checked: the nonce extension (aad-join-spec: the request SHOULD carry it; libhimmelblau's
//! does not) and the transport key's use (the real service encrypts a session key to it for the
//! PRT; memsim has no PRT).

use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scenarios::{Component, NewEvent, Service};
use serde_json::{Value, json};

use super::DrsError;
use crate::pki::{ClientCertRequest, check_csr};
use crate::services::AppState;
use crate::services::bearer::{self, DRS};
use crate::services::devices::{JoinedDevice, random_uuid};
use crate::services::json_input::{self as input, InputError};

/// Check the request's token, then read its JSON body.
async fn authorized_body(state: &AppState, req: Request) -> Result<(serde_json::Map<String, Value>, Value, String), DrsError> {
    let (parts, body) = req.into_parts();
    let host = bearer::host_of(&parts.headers, &parts.uri);
    let claims = bearer::check(state, &parts.headers, &host, Service::Drs, DRS).await?;
    let obj = input::read_object(body).await.inspect_err(|e| refused(state, &host, e))?;
    Ok((obj, claims, host))
}

/// Journal a refused body (the exchange itself is journaled by the front).
fn refused(state: &AppState, host: &str, why: &dyn std::fmt::Display) {
    state.journal.record(NewEvent::new(Component::Http, "bad_request").host(host).detail("service", Service::Drs.as_str()).detail("reason", why.to_string()));
}

pub(super) async fn join(state: &AppState, req: Request) -> Result<Response, DrsError> {
    let unsynced = req.extensions().get::<super::faults::Unsynced>().is_some();
    let (obj, claims, host) = authorized_body(state, req).await?;
    let result = join_checked(state, &obj, &claims, unsynced);
    match result {
        Ok((device, body)) => {
            state.journal.record(
                NewEvent::new(Component::Http, "device_joined")
                    .host(&host)
                    .detail("device_id", device.device_id.as_str())
                    .detail("join_type", device.join_type)
                    .detail("thumbprint", device.thumbprint.as_str()),
            );
            state.devices.add_joined(device);
            Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &body))
        }
        Err(e) => {
            if !matches!(e, DrsError::Issue(_) | DrsError::DeviceNotFound(_)) {
                refused(state, &host, &e);
            }
            Err(e)
        }
    }
}

/// Check the request, then create the device (`unsynced`: the directory has no object for it yet).
fn join_checked(state: &AppState, obj: &serde_json::Map<String, Value>, claims: &Value, unsynced: bool) -> Result<(JoinedDevice, Value), DrsError> {
    let d = &state.catalog.devices.drs;
    let request = input::object(obj, "CertificateRequest")?;
    if !input::string(request, "Type")?.eq_ignore_ascii_case("pkcs10") {
        return Err(InputError::Invalid("CertificateRequest.Type", "\"pkcs10\"").into());
    }
    let der = input::csr_der("CertificateRequest.Data", input::string(request, "Data")?)?;
    let csr = check_csr(&der)?;
    if csr.rsa_bits != d.csr_rsa_bits {
        let bits = if csr.rsa_bits == 0 { "an EC key".to_string() } else { format!("a {}-bit RSA key", csr.rsa_bits) };
        return Err(DrsError::CsrContent(format!("it carries {bits}; an RSA {}-bit key is required", d.csr_rsa_bits)));
    }
    if !csr.common_name.as_deref().is_some_and(|cn| cn.eq_ignore_ascii_case(&d.csr_common_name)) {
        return Err(DrsError::CsrContent(format!("its subject CN must be {}", d.csr_common_name)));
    }
    input::rsa_key_blob("TransportKey", input::string(obj, "TransportKey")?)?;
    let device_type = input::string(obj, "DeviceType")?.to_string();
    let os_version = input::string(obj, "OSVersion")?.to_string();
    let display_name = input::string(obj, "DeviceDisplayName")?.to_string();
    input::string(obj, "TargetDomain")?;
    let join_type = match input::member(obj, "JoinType") {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => return Err(InputError::Missing("JoinType").into()),
    }
    .filter(|t| d.join_types.contains(t))
    .ok_or(InputError::Invalid("JoinType", "a known join type (0, 3, 4, 6 or 8)"))?;

    let device_id = random_uuid();
    if unsynced {
        // The directory as the fault layer left it (failure catalog ENR-03).
        return Err(DrsError::DeviceNotFound(device_id));
    }
    let now = state.journal.clock().now();
    let lifetime = time::Duration::try_from(d.device_cert_lifetime.0).unwrap_or(time::Duration::days(3650));
    let req = ClientCertRequest { common_name: device_id.clone(), subject_extra: vec![], lifetime, now, eku: vec![] };
    let cert = state.revocation.pki.issue_client(&d.device_ca, &csr.spki_der, &req).map_err(|e| DrsError::Issue(e.to_string()))?;
    let upn = ["upn", "unique_name", "preferred_username"].iter().find_map(|k| claims.get(*k).and_then(Value::as_str)).map(str::to_string);
    let return_sid = input::object(obj, "Attributes").ok().and_then(|a| input::member(a, "ReturnClientSid")).is_some_and(|v| v == true || v == "true");
    let mut body = json!({
        "Certificate": { "Thumbprint": cert.thumbprint, "RawBody": STANDARD.encode(cert.der.as_ref()) },
        "User": { "Upn": upn.clone().unwrap_or_default() },
    });
    if return_sid {
        // aad-join-spec: the client MUST ignore these; memsim sends the local administrators group
        // with no SIDs to add rather than inventing directory SIDs.
        body["MembershipChanges"] = json!([{ "LocalSID": "S-1-5-32-544", "AddSIDs": [] }]);
    }
    let device = JoinedDevice { device_id, display_name, device_type, os_version, join_type, thumbprint: cert.thumbprint, upn };
    Ok((device, body))
}

/// MS-KPP §3.1.5.1.1: register a public key (`kngc`, a `BCRYPT_RSAKEY_BLOB`) for the user. The
/// answer names the key (`kid`) and the user (`upn`), the members MS-KPP's response body has.
pub(super) async fn provision_key(state: &AppState, req: Request) -> Result<Response, DrsError> {
    let (obj, claims, host) = authorized_body(state, req).await?;
    if let Err(e) = input::string(&obj, "kngc").and_then(|k| input::rsa_key_blob("kngc", k)) {
        refused(state, &host, &e);
        return Err(e.into());
    }
    let upn = claims.get("upn").and_then(Value::as_str).unwrap_or_default();
    Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &json!({ "kid": random_uuid(), "upn": upn })))
}
