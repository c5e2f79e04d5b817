//! The shape of `data/devices.toml`: what the device registration service (DRS), Graph's Intune
//! endpoints document and Intune for Linux serve (sources in the file: aad-join-spec,
//! intune-spec, libhimmelblau).

use scenarios::{Cloud, SimDuration};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceData {
    pub drs: DrsData,
    pub intune_linux: LinuxData,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerCloud {
    pub public: String,
    pub usgov: String,
}

impl PerCloud {
    pub fn get(&self, cloud: Cloud) -> &str {
        match cloud {
            Cloud::Public => &self.public,
            Cloud::Usgov => &self.usgov,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrsData {
    pub authority: PerCloud,
    pub resource_id: String,
    pub discovery_version: String,
    pub registration_version: String,
    pub join_version: String,
    pub key_version: String,
    pub nonce_version: String,
    pub csr_common_name: String,
    pub csr_rsa_bits: usize,
    pub join_types: Vec<u32>,
    pub device_ca: String,
    pub device_cert_lifetime: SimDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxData {
    pub enrollment_path: String,
    pub checkin_path: String,
    pub iw_path: String,
    pub device_ca: String,
    pub cert_lifetime: SimDuration,
    pub renew_period: u32,
    pub app_version: String,
    #[serde(rename = "endpoint")]
    pub endpoints: Vec<LinuxEndpoint>,
    #[serde(rename = "policy")]
    pub policies: Vec<LinuxPolicy>,
}

impl LinuxData {
    /// The path of one of the three services (`enrollment`, `checkin`, `iw`).
    pub fn path(&self, which: EndpointPath) -> &str {
        match which {
            EndpointPath::Enrollment => &self.enrollment_path,
            EndpointPath::Checkin => &self.checkin_path,
            EndpointPath::Iw => &self.iw_path,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointPath {
    Enrollment,
    Checkin,
    Iw,
}

/// One row of the Intune service principal's endpoints (Graph `servicePrincipals/…/endpoints`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxEndpoint {
    pub id: String,
    pub provider_name: String,
    pub provider_resource_id: String,
    pub path: EndpointPath,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxPolicy {
    pub policy_id: String,
    pub description: String,
    pub policy_type: String,
    pub version: u32,
    pub settings: Vec<LinuxSetting>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxSetting {
    pub csp_path: String,
    pub csp_path_id: String,
    pub rule_id: String,
    pub item_id: String,
    pub reporting_id: String,
    pub value: String,
}
