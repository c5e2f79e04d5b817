//! The shapes of the data files in `mock-cloud/data/`, parsed strictly.

use serde::Deserialize;

/// `intune-endpoints.toml` (seed 002).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntuneEndpoints {
    pub proxy_requirements: ProxyRequirements,
    #[serde(rename = "set")]
    pub sets: Vec<EndpointSet>,
    pub unnumbered: Vec<UnnumberedGroup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyRequirements {
    pub unauthenticated_access: Vec<String>,
    pub no_tls_inspection: Vec<String>,
    pub range_requests_required_for: Vec<u32>,
}

/// One endpoint set: the unit of the M365 endpoints web service (`id` is the same there).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSet {
    pub id: u32,
    pub section: String,
    pub description: String,
    pub service_area: String,
    pub category: Category,
    pub required: bool,
    pub express_route: bool,
    pub urls: Vec<String>,
    pub ips: Vec<String>,
    pub tcp_ports: Vec<u16>,
    pub udp_ports: Vec<u16>,
    pub notes: Option<String>,
    pub also_listed_under: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Category {
    Optimize,
    Allow,
    Default,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnnumberedGroup {
    pub name: String,
    pub section: String,
    pub hosts: Vec<String>,
    pub tcp_ports: Vec<u16>,
    pub notes: Option<String>,
}

/// `configmgr-endpoints.toml` (seed 001).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigMgrEndpoints {
    pub always_allow: Vec<String>,
    #[serde(rename = "group")]
    pub groups: Vec<RoleGroup>,
}

/// The endpoints one ConfigMgr role needs for one feature, in one cloud (or `any`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleGroup {
    pub role: String,
    pub feature: String,
    pub cloud: CloudScope,
    /// As written in the seed: a host, a wildcard or a URL; `<name>` is the CMG service name.
    pub urls: Vec<String>,
    pub tcp_ports: Vec<u16>,
    pub notes: Option<String>,
    /// The row that names the CMG's cloud service (`<name>.cloudapp.net`): the host the CMG
    /// answers on, its DNS name and its management point SRV target.
    #[serde(default)]
    pub cmg_cloud_service: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloudScope {
    Any,
    Public,
    Usgov,
}

impl CloudScope {
    /// Whether a row of this scope applies in `cloud`.
    pub fn includes(self, cloud: scenarios::Cloud) -> bool {
        use scenarios::Cloud;
        matches!((self, cloud), (CloudScope::Any, _) | (CloudScope::Public, Cloud::Public) | (CloudScope::Usgov, Cloud::Usgov))
    }
}

/// `tenant-attach.toml` (seed 000).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantAttach {
    pub notification_outbound_connection_minimum: scenarios::SimDuration,
    /// The SCP's timeout on gateway requests (failure catalog NOT-03, not the seed).
    pub gateway_request_timeout: scenarios::SimDuration,
    pub notification_host_pattern: PerCloud<String>,
    pub endpoints: PerCloud<Vec<String>>,
    pub revocation: Revocation,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerCloud<T> {
    pub public: T,
    pub usgov: T,
}

impl<T> PerCloud<T> {
    pub fn get(&self, cloud: scenarios::Cloud) -> &T {
        match cloud {
            scenarios::Cloud::Public => &self.public,
            scenarios::Cloud::Usgov => &self.usgov,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub urls: Vec<String>,
    pub scp_checks_crl: bool,
}

/// `asu.toml` (seed 002): Azure Scale Unit -> storage -> CDN.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsuTable {
    pub partial_http_required: bool,
    #[serde(rename = "region")]
    pub regions: Vec<AsuRegion>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsuRegion {
    pub code: String,
    pub name: String,
    pub asus: Vec<String>,
    pub tcp_ports: Vec<u16>,
    #[serde(rename = "store")]
    pub stores: Vec<AsuStore>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsuStore {
    pub tier: String,
    pub storage: String,
    /// The seed's own spelling where it differs (seed 002 writes `approdimedatahotifx`).
    pub storage_as_documented: Option<String>,
    pub cdn: String,
}

/// `cname-rules.toml` (seed 003).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnameRules {
    #[serde(rename = "rule")]
    pub rules: Vec<CnameRule>,
    #[serde(rename = "nonpreferred_target")]
    pub nonpreferred_targets: Vec<NonPreferredTarget>,
    pub manual_server: ManualServer,
    pub example_tenant: ExampleTenant,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnameRule {
    pub cloud: CloudScope,
    pub label: String,
    pub target: String,
    pub ttl: scenarios::SimDuration,
    pub purpose: String,
    pub also_listed_under: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonPreferredTarget {
    pub cloud: CloudScope,
    pub target: String,
    pub needs_user_confirmation: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualServer {
    pub public: String,
    pub public_as_documented: String,
    pub usgov: String,
    pub usgov_as_documented: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExampleTenant {
    pub domains: Vec<String>,
    pub propagation: scenarios::SimDuration,
}

/// `tokens.toml` (seed 004). Only the lifetimes are typed; the rest is reference text.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenFacts {
    pub bulk_registration: BulkRegistration,
    pub client_token: ClientToken,
    pub ccm_token: CcmToken,
    pub entra: CmgEntra,
}

/// The CCM token from CCM_STS (protocols.md §8.3: 8 hours).
#[derive(Debug, Clone, Deserialize)]
pub struct CcmToken {
    pub validity: scenarios::SimDuration,
    /// How long before expiry a client fetches a new one (memsim's own: not public).
    pub renew_before: scenarios::SimDuration,
}

/// The Entra path of the CMG: the app the client asks a token from, and its resource.
#[derive(Debug, Clone, Deserialize)]
pub struct CmgEntra {
    pub client_app_id: String,
    pub resource: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BulkRegistration {
    pub default_lifetime_minutes: u32,
    pub max_lifetime_minutes: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClientToken {
    pub validity: scenarios::SimDuration,
    pub renewal_interval: scenarios::SimDuration,
}

/// `services.toml`: which service answers on which hosts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHosts {
    #[serde(rename = "service")]
    pub services: Vec<ServiceHostEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceHostEntry {
    pub service: scenarios::Service,
    pub public: Vec<String>,
    pub usgov: Vec<String>,
}

impl ServiceHostEntry {
    /// The service's hosts in `cloud`.
    pub fn hosts(&self, cloud: scenarios::Cloud) -> &[String] {
        match cloud {
            scenarios::Cloud::Public => &self.public,
            scenarios::Cloud::Usgov => &self.usgov,
        }
    }
}

/// `codes.toml`: error codes and status messages the reference clients report.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Codes {
    #[serde(rename = "code")]
    pub codes: Vec<CodeEntry>,
    #[serde(rename = "status_message")]
    pub status_messages: Vec<StatusMessage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    pub name: String,
    pub value: String,
    pub meaning: String,
    /// Windows' own message text for a standard code (FormatMessage, `certutil -error`), when
    /// the code is one (winerror.h, corerror.h); `None` for codes Windows has no text for.
    #[serde(default)]
    pub text: Option<String>,
    pub source: String,
    #[serde(default)]
    pub synthetic: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusMessage {
    pub id: u32,
    pub component: String,
    pub severity: String,
    pub meaning: String,
    pub source: String,
}

impl Codes {
    /// A code by its symbolic name; a missing name is a defect in the data, caught by tests.
    pub fn get(&self, name: &str) -> Option<&CodeEntry> {
        self.codes.iter().find(|c| c.name == name)
    }
}
