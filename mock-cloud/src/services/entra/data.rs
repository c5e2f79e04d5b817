//! `data/entra.toml` typed: the authority's hosts and issuers per cloud, token lifetimes, the
//! default users and app registrations, the resources a token can be asked for, and the errors
//! the authority answers with (issue 12). The file cites its sources; this module only reads it.

use scenarios::{Cloud, SimDuration};
use serde::Deserialize;

/// The whole file (part of the [`crate::Catalog`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraData {
    pub authority: Authorities,
    pub lifetimes: Lifetimes,
    #[serde(rename = "user")]
    pub users: Vec<UserData>,
    #[serde(rename = "app")]
    pub apps: Vec<AppData>,
    #[serde(rename = "resource")]
    pub resources: Vec<ResourceData>,
    #[serde(rename = "error")]
    pub errors: Vec<ErrorData>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorities {
    pub public: AuthorityData,
    pub usgov: AuthorityData,
}

impl Authorities {
    pub fn of(&self, cloud: Cloud) -> &AuthorityData {
        match cloud {
            Cloud::Public => &self.public,
            Cloud::Usgov => &self.usgov,
        }
    }
}

/// One cloud's authority.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorityData {
    /// The host clients are given (`login.microsoftonline.com`).
    pub host: String,
    /// Every host instance discovery names as an alias of it.
    pub aliases: Vec<String>,
    /// The v1 issuer, `{tenant}` standing for the tenant id.
    pub v1_issuer: String,
    #[serde(default)]
    pub v1_issuer_synthetic: bool,
    /// The verification URI the device-code flow shows.
    pub device_login_url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    pub access_token: SimDuration,
    pub refresh_token: SimDuration,
    pub device_code: SimDuration,
    pub auth_code: SimDuration,
    pub sign_in_delay: SimDuration,
    pub assertion_max_age: SimDuration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserData {
    /// `{domain}` stands for the tenant's first verified domain.
    pub upn: String,
    pub display_name: String,
    pub password: String,
    pub object_id: String,
    pub intune_licence: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppData {
    pub client_id: String,
    pub name: String,
    /// A client secret: a confidential client. None: a public client.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceData {
    pub app_id: String,
    pub name: String,
    /// App id URIs.
    pub uris: Vec<String>,
    /// Delegated permissions (`scp`).
    pub scopes: Vec<String>,
    /// Application permissions (`roles`, client credentials).
    #[serde(default)]
    pub roles: Vec<String>,
    /// An Intune resource: a user needs an Intune licence for it.
    #[serde(default)]
    pub intune: bool,
}

/// One refusal: HTTP status, OAuth `error`, AADSTS code, description (with `{placeholders}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorData {
    pub name: String,
    pub status: u16,
    pub error: String,
    pub code: u32,
    pub description: String,
    pub source: String,
    #[serde(default)]
    pub synthetic: bool,
    /// MSAL's `suberror` (e.g. `basic_action` with 50076).
    #[serde(default)]
    pub suberror: Option<String>,
}

impl EntraData {
    /// The error row `name`; every name the service uses is in the file (a test holds it).
    pub fn error(&self, name: &str) -> Option<&ErrorData> {
        self.errors.iter().find(|e| e.name == name)
    }
}
