//! Intune for Linux check-in (intune-spec §2.1.2, §2.1.3, §2.1.5, §2.1.6; protocols.md §7.3–7.6):
//! `details` (device metadata → `deviceFriendlyName`), `policies/{id}` (the tenant's Linux
//! policies, data/devices.toml), `status` (per-rule compliance, PascalCase or camelCase; echoed
//! back as libhimmelblau reads it) and the IWService `Devices(guid'…')` compliance record, whose
//! state follows the last status report.

use axum::extract::Request;
use axum::response::Response;
use scenarios::Service;
use serde_json::{Value, json};

use super::{LinuxError, refused};
use crate::services::AppState;
use crate::services::bearer::{self, INTUNE, IW_SERVICE, Resource};
use crate::services::devices::EnrolledDevice;
use crate::services::json_input::{self as input, InputError};

/// The device id in an IWService key path: `/Devices(guid'<id>')`, any case.
pub(super) fn device_key(rest: &str) -> Option<String> {
    let inner = rest.strip_prefix('/')?;
    let head = inner.get(..13)?;
    if !head.eq_ignore_ascii_case("Devices(guid'") {
        return None;
    }
    let id = inner[13..].strip_suffix("')")?;
    (!id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')).then(|| id.to_string())
}

/// Check the token for `resource` and read the JSON body (journaling a bad one).
async fn authorized(state: &AppState, req: Request, resource: Resource) -> Result<(String, serde_json::Map<String, Value>), LinuxError> {
    let (parts, body) = req.into_parts();
    let host = bearer::host_of(&parts.headers, &parts.uri);
    bearer::check(state, &parts.headers, &host, Service::IntuneLinux, resource).await?;
    let obj = input::read_object(body).await.inspect_err(|e| refused(state, &host, e))?;
    Ok((host, obj))
}

pub(super) async fn details(state: &AppState, req: Request) -> Result<Response, LinuxError> {
    let (host, obj) = authorized(state, req, INTUNE).await?;
    let fields = (|| {
        Ok::<_, InputError>((
            input::string(&obj, "DeviceId")?.to_string(),
            input::string(&obj, "DeviceName")?.to_string(),
            input::string(&obj, "Manufacturer")?.to_string(),
            input::string(&obj, "OSDistribution")?.to_string(),
            input::string(&obj, "OSVersion")?.to_string(),
        ))
    })()
    .inspect_err(|e| refused(state, &host, e))?;
    let (id, name, manufacturer, distribution, version) = fields;
    let known = state.devices.update_enrolled(&id, |d| {
        d.device_name = name.clone();
        d.details = Some((manufacturer, distribution, version));
    });
    if !known {
        return Err(LinuxError::UnknownDevice(id.chars().take(64).collect()));
    }
    Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &json!({ "deviceFriendlyName": name })))
}

pub(super) async fn policies(state: &AppState, req: Request, id: &str) -> Result<Response, LinuxError> {
    let host = bearer::host_of(req.headers(), req.uri());
    bearer::check(state, req.headers(), &host, Service::IntuneLinux, INTUNE).await?;
    if state.devices.enrolled(id).is_none() {
        return Err(LinuxError::UnknownDevice(id.chars().take(64).collect()));
    }
    let account = &state.world.tenant_id;
    let policies: Vec<Value> = state
        .catalog
        .devices
        .intune_linux
        .policies
        .iter()
        .map(|p| {
            let settings: Vec<Value> = p
                .settings
                .iter()
                .map(|s| {
                    json!({ "cspPath": s.csp_path, "cspPathId": s.csp_path_id, "ruleId": s.rule_id, "ruleName": null,
                        "settingDefinitionItemId": s.item_id, "settingDefinitionReportingId": s.reporting_id, "value": s.value })
                })
                .collect();
            json!({ "accountId": account, "description": p.description, "policyId": p.policy_id, "policySettings": settings,
                "policyType": p.policy_type, "version": p.version })
        })
        .collect();
    Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &json!({ "policies": policies })))
}

/// One rule's report: (setting id, expected value, new state).
fn rule_report(detail: &Value) -> Option<(String, String, String)> {
    let d = detail.as_object()?;
    let get = |k: &str| input::member(d, k).and_then(Value::as_str).map(str::to_string);
    Some((get("SettingDefinitionItemId")?, get("ExpectedValue").unwrap_or_default(), get("NewComplianceState")?))
}

pub(super) async fn status(state: &AppState, req: Request) -> Result<Response, LinuxError> {
    let (host, obj) = authorized(state, req, INTUNE).await?;
    let id = match input::member(&obj, "DeviceId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(LinuxError::DeviceValidation),
    };
    let statuses = match input::member(&obj, "PolicyStatuses") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => vec![],
        Some(_) => {
            let e = InputError::Invalid("PolicyStatuses", "an array");
            refused(state, &host, &e);
            return Err(e.into());
        }
    };
    let details: Vec<Value> =
        statuses.iter().filter_map(|s| s.as_object().and_then(|o| input::member(o, "Details")).and_then(Value::as_array)).flatten().cloned().collect();
    let noncompliant: Vec<(String, String)> =
        details.iter().filter_map(rule_report).filter(|(_, _, st)| st.eq_ignore_ascii_case("noncompliant")).map(|(id, exp, _)| (id, exp)).collect();
    let known = state.devices.update_enrolled(&id, |d| {
        d.noncompliant = noncompliant;
        d.reported = true;
    });
    if !known {
        return Err(LinuxError::DeviceValidation);
    }
    Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &json!({ "DeviceId": id, "PolicyStatuses": statuses })))
}

/// The compliance state of a device as IWService reports it (`Compliant`, `Noncompliant`,
/// `Unknown`: libhimmelblau's `ComplianceState`).
fn compliance_state(d: &EnrolledDevice) -> &'static str {
    match (d.reported, d.noncompliant.is_empty()) {
        (false, _) => "Unknown",
        (true, true) => "Compliant",
        (true, false) => "Noncompliant",
    }
}

pub(super) async fn compliance(state: &AppState, req: Request, id: &str) -> Result<Response, LinuxError> {
    let host = bearer::host_of(req.headers(), req.uri());
    bearer::check(state, req.headers(), &host, Service::IntuneLinux, IW_SERVICE).await?;
    let d = state.devices.enrolled(id).ok_or_else(|| LinuxError::UnknownDevice(id.to_string()))?;
    let base = format!("https://{host}{}", state.catalog.devices.intune_linux.iw_path);
    let action = |name: &str| json!({ "target": format!("{base}/Devices(guid'{id}')/{name}"), "title": name });
    let (manufacturer, distribution, version) = d.details.clone().unwrap_or_default();
    let now = state.journal.clock().now().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let rules: Vec<Value> = d
        .noncompliant
        .iter()
        .map(|(setting, expected)| json!({ "SettingID": setting, "ExpectedValue": expected, "ComplianceSource": "Intune", "Title": setting }))
        .collect();
    // Every member libhimmelblau's `DeviceInfo` requires (intune.rs), with values for a Linux device
    // (two literals: one is past serde_json's macro recursion limit).
    let mut record = json!({
        "odata.metadata": format!("{base}/$metadata#Devices/@Element"),
        "odata.id": format!("{base}/Devices(guid'{id}')"),
        "#CommonContainer.CheckCompliance": action("CheckCompliance"),
        "#CommonContainer.GetManagementState": action("GetManagementState"),
        "#CommonContainer.RegisterForAppPushNotifications": action("RegisterForAppPushNotifications"),
        "#CommonContainer.RemoveSignedDeviceIdPolicyAssignment": action("RemoveSignedDeviceIdPolicyAssignment"),
        "#CommonContainer.SetHeartBeat": action("SetHeartBeat"),
        "#CommonContainer.SetOptIn": action("SetOptIn"),
        "#CommonContainer.SetRD": action("SetRD"),
        "#CommonContainer.UpdateAadId": action("UpdateAadId"),
    });
    let rest = json!({
        "AadId": d.entra_device_id.clone().unwrap_or_default(),
        "CategorySetByEndUser": false, "ChassisType": "Unknown", "CoManagementFeatures": 0,
        "ComplianceState": compliance_state(&d), "CreatedDate": now, "DeviceActions": [], "EasId": "",
        "EnrollmentType": 0, "ExchangeActivationItemEasId": "", "ExchangeActivationItems": [],
        "InGracePeriodUntilDateTimeUtc": "9999-12-31T23:59:59.9999999Z",
        "IsCompliantInGraph": compliance_state(&d) == "Compliant", "IsExchangeActivated": false, "IsManagedInGraph": true,
        "IsPartnerManaged": false, "IsReadOnly": false, "IsSharedDevice": false, "Key": id, "LastContact": now,
        "LastContactNotification": now, "ManagementAgent": "MDM", "ManagementType": "MDM", "Manufacturer": manufacturer,
        "NoncompliantRules": rules, "OSSubtype": distribution, "OSVersion": version, "OfficialName": d.device_name,
        "OperatingSystem": "Linux", "OperatingSystemId": "Linux", "OwnerType": 1, "SupervisedStatus": 0, "UdaStatus": 0,
        "UserApprovedEnrollment": 0,
    });
    if let (Some(r), Value::Object(more)) = (record.as_object_mut(), rest) {
        r.extend(more);
    }
    Ok(crate::services::json_input::json(axum::http::StatusCode::OK, &record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iw_device_keys() {
        assert_eq!(device_key("/Devices(guid'0f1212dc-d64d-4b55-9bc8-39bdd82a92de')").as_deref(), Some("0f1212dc-d64d-4b55-9bc8-39bdd82a92de"));
        assert_eq!(device_key("/devices(GUID'ab')").as_deref(), Some("ab"));
        for bad in ["/Devices(guid'')", "/Devices(guid'x y')", "/Devices", "/Devicés(guid'ab')", ""] {
            assert_eq!(device_key(bad), None, "{bad}");
        }
    }
}
