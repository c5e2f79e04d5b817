//! The DRS Discover document and the nonce service (aad-join-spec §3.1, §3.2; libhimmelblau
//! `discovery.rs` reads every member). Discover is asked for by tenant id or by a verified domain
//! (libhimmelblau sends the domain: `/contoso.com/Discover?api-version=1.9&managed=True`); every
//! endpoint in the answer is on the world's DRS host, and the authority is the world's Entra.

use axum::response::Response;
use base64::Engine as _;
use serde_json::json;

use super::DrsError;
use crate::services::AppState;
use crate::services::devices::random_uuid;

/// The tenant a Discover or nonce path names: its id or one of its verified domains (any case).
/// Returns the name the document's `TenantName` gives: the domain asked for, else the first one.
fn tenant_name(state: &AppState, asked: &str) -> Result<String, DrsError> {
    let w = &state.world;
    if asked.eq_ignore_ascii_case(&w.tenant_id) {
        return Ok(w.domains.first().cloned().unwrap_or_else(|| w.tenant_name.clone()));
    }
    w.domains.iter().find(|d| d.eq_ignore_ascii_case(asked)).cloned().ok_or_else(|| DrsError::UnknownTenant(asked.chars().take(200).collect()))
}

/// The world's DRS host (services.toml), where every DRS endpoint of the document points.
pub(super) fn drs_host(state: &AppState) -> String {
    let hosts = state.catalog.service_hosts_in(scenarios::Service::Drs, &state.world);
    hosts.into_iter().next().unwrap_or_default()
}

/// The Discover document (aad-join-spec §3.1), every member libhimmelblau's `Services` reads.
pub fn document(state: &AppState, tenant_name: &str) -> serde_json::Value {
    let d = &state.catalog.devices.drs;
    let w = &state.world;
    let (host, tid, rid) = (drs_host(state), w.tenant_id.as_str(), d.resource_id.as_str());
    let auth = d.authority.get(w.cloud);
    json!({
        "DiscoveryService": { "DiscoveryEndpoint": format!("https://{host}/{tid}/Discover"), "ServiceVersion": d.discovery_version },
        "DeviceRegistrationService": {
            "RegistrationEndpoint": format!("https://{host}/EnrollmentServer/DeviceEnrollmentWebService.svc"),
            "RegistrationResourceId": rid,
            "ServiceVersion": d.registration_version,
        },
        "AuthenticationService": { "OAuth2": {
            "AuthCodeEndpoint": format!("{auth}/{tid}/oauth2/authorize"),
            "TokenEndpoint": format!("{auth}/{tid}/oauth2/token"),
        }},
        "IdentityProviderService": { "Federated": false, "PassiveAuthEndpoint": format!("{auth}/{tid}/wsfed") },
        "DeviceJoinService": { "JoinEndpoint": format!("https://{host}/EnrollmentServer/device/"), "JoinResourceId": rid, "ServiceVersion": d.join_version },
        "KeyProvisioningService": { "KeyProvisionEndpoint": format!("https://{host}/EnrollmentServer/key/"), "KeyProvisionResourceId": rid, "ServiceVersion": d.key_version },
        "WebAuthNService": { "ServiceVersion": "1.0", "WebAuthNEndpoint": format!("https://{host}/webauthn/{tid}/"), "WebAuthNResourceId": rid },
        "DeviceManagementService": { "DeviceManagementEndpoint": format!("https://{host}/manage/{tid}/"), "DeviceManagementResourceId": rid, "ServiceVersion": "1.0" },
        "MsaProviderData": { "SiteId": "", "SiteUrl": host },
        "PrecreateService": { "PrecreateEndpoint": format!("https://{host}/EnrollmentServer/device/precreate/{tid}/"), "PrecreateResourceId": rid, "ServiceVersion": d.join_version },
        "TenantInfo": { "DisplayName": w.tenant_name, "TenantId": tid, "TenantName": tenant_name },
        "DeviceJoinResourceService": { "Endpoint": format!("https://{host}/EnrollmentServer/device/resource/{tid}/"), "ResourceId": rid, "ServiceVersion": d.join_version },
        "NonceService": { "Endpoint": format!("https://{host}/EnrollmentServer/nonce/{tid}/"), "ResourceId": rid, "ServiceVersion": d.nonce_version },
    })
}

pub(super) async fn discover(state: &AppState, tenant: &str) -> Result<Response, DrsError> {
    let name = tenant_name(state, tenant)?;
    Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &document(state, &name)))
}

/// A nonce (aad-join-spec §3.2), with the answer's `ReponseStatus` spelt as DRS spells it.
pub(super) async fn nonce(state: &AppState, tenant: &str) -> Result<Response, DrsError> {
    tenant_name(state, tenant)?;
    let mut raw = [0u8; 32];
    let _ = getrandom::fill(&mut raw);
    // Not remembered: the join does not check the nonce extension (see `join`).
    let value = base64::engine::general_purpose::STANDARD.encode(raw);
    let now = state.journal.clock().now();
    Ok(crate::services::json_input::json(
        axum::http::StatusCode::OK,
        &json!({
            "ReponseStatus": { "message": "Successfully created a nonce", "traceId": random_uuid(), "time": super::drs_time(now) },
            "Value": value,
        }),
    ))
}
