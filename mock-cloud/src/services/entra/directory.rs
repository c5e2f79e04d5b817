//! The tenant's directory as one world has it: the data file's users, apps and resources with
//! the scenario's `[world.entra]` changes applied (issue 12, deliverable 2), and the authority's
//! names for this world's cloud. Built once per world ([`Directory::build`]); the same build is
//! the validation step's check of `[world.entra]`, so a certificate that does not parse is a
//! scenario error, not a surprise at the token endpoint.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scenarios::{Cloud, SimDuration, WorldSpec};
use serde::{Deserialize, Serialize};

use super::data::{AuthorityData, EntraData, Lifetimes, ResourceData};
use super::ids::derived_guid;

/// One user.
#[derive(Debug, Clone)]
pub struct User {
    pub upn: String,
    pub display_name: String,
    pub password: String,
    pub object_id: String,
    pub intune_licence: bool,
}

/// A certificate credential of an app: what a client assertion's header names and its key.
#[derive(Debug, Clone)]
pub struct AppCert {
    /// base64url SHA-1 of the certificate (the assertion's `x5t`).
    pub x5t: String,
    /// base64url SHA-256 of the certificate (the assertion's `x5t#S256`).
    pub x5t_s256: String,
    /// The public key as PKCS#1 DER.
    pub public_pkcs1: Vec<u8>,
}

/// One app registration (and its service principal).
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub name: String,
    pub secret: Option<String>,
    pub certificate: Option<AppCert>,
    pub redirect_uris: Vec<String>,
    /// The service principal's object id (the `oid` of its app-only tokens).
    pub object_id: String,
}

impl App {
    /// A confidential client: it holds a secret or a certificate.
    pub fn is_confidential(&self) -> bool {
        self.secret.is_some() || self.certificate.is_some()
    }
}

/// The directory of one world.
#[derive(Debug, Clone)]
pub struct Directory {
    pub tenant_id: String,
    pub tenant_name: String,
    pub domains: Vec<String>,
    pub cloud: Cloud,
    pub authority: AuthorityData,
    pub lifetimes: Lifetimes,
    pub users: Vec<User>,
    pub apps: Vec<App>,
    pub resources: Vec<ResourceData>,
}

/// A resource as a request named it: the resource, and the token's `aud` (what was asked).
#[derive(Debug, Clone)]
pub struct Requested<'a> {
    pub resource: &'a ResourceData,
    pub aud: String,
}

impl Directory {
    /// The data file's directory for `world`, with `world.entra`'s changes.
    pub fn build(data: &EntraData, world: &WorldSpec) -> Result<Directory, String> {
        let domain = world.domains.first().cloned().unwrap_or_else(|| "contoso.com".into());
        let mut users: Vec<User> = data
            .users
            .iter()
            .map(|u| User {
                upn: u.upn.replace("{domain}", &domain),
                display_name: u.display_name.clone(),
                password: u.password.clone(),
                object_id: u.object_id.clone(),
                intune_licence: u.intune_licence,
            })
            .collect();
        for u in &world.entra.users {
            match users.iter_mut().find(|x| x.upn.eq_ignore_ascii_case(&u.upn)) {
                Some(x) => {
                    if let Some(p) = &u.password {
                        x.password = p.clone();
                    }
                    if let Some(n) = &u.display_name {
                        x.display_name = n.clone();
                    }
                    if let Some(l) = u.intune_licence {
                        x.intune_licence = l;
                    }
                }
                None => users.push(User {
                    upn: u.upn.clone(),
                    display_name: u.display_name.clone().unwrap_or_else(|| u.upn.split('@').next().unwrap_or_default().to_string()),
                    password: u.password.clone().ok_or_else(|| format!("[world.entra] user `{}` is new: give it a `password`", u.upn))?,
                    object_id: derived_guid(&format!("user:{}", u.upn.to_ascii_lowercase())),
                    intune_licence: u.intune_licence.unwrap_or(true),
                }),
            }
        }
        let localhost = || vec!["http://localhost".to_string()];
        let mut apps: Vec<App> = data
            .apps
            .iter()
            .map(|a| App {
                client_id: a.client_id.clone(),
                name: a.name.clone(),
                secret: a.secret.clone(),
                certificate: None,
                redirect_uris: localhost(),
                object_id: derived_guid(&format!("sp:{}", a.client_id)),
            })
            .collect();
        for a in &world.entra.apps {
            let cert = a.certificate.as_deref().map(parse_cert).transpose().map_err(|e| format!("[world.entra] app `{}`: {e}", a.client_id))?;
            let id = a.client_id.to_ascii_lowercase();
            match apps.iter_mut().find(|x| x.client_id == id) {
                Some(x) => {
                    if let Some(n) = &a.name {
                        x.name = n.clone();
                    }
                    if a.secret.is_some() {
                        x.secret = a.secret.clone();
                    }
                    if cert.is_some() {
                        x.certificate = cert;
                    }
                    if !a.redirect_uris.is_empty() {
                        x.redirect_uris = a.redirect_uris.clone();
                    }
                }
                None => apps.push(App {
                    name: a.name.clone().unwrap_or_else(|| format!("app {id}")),
                    secret: a.secret.clone(),
                    certificate: cert,
                    redirect_uris: if a.redirect_uris.is_empty() { localhost() } else { a.redirect_uris.clone() },
                    object_id: derived_guid(&format!("sp:{id}")),
                    client_id: id,
                }),
            }
        }
        let mut lifetimes = data.lifetimes.clone();
        if let Some(d) = world.entra.sign_in_delay {
            lifetimes.sign_in_delay = d;
        }
        Ok(Directory {
            tenant_id: world.tenant_id.to_ascii_lowercase(),
            tenant_name: world.tenant_name.clone(),
            domains: world.domains.clone(),
            cloud: world.cloud,
            authority: data.authority.of(world.cloud).clone(),
            lifetimes,
            users,
            apps,
            resources: data.resources.clone(),
        })
    }

    /// `https://login.microsoftonline.com/<tenant id>`.
    pub fn authority_url(&self) -> String {
        format!("https://{}/{}", self.authority.host, self.tenant_id)
    }

    /// The v1 token issuer, `https://sts.windows.net/<tid>/`.
    pub fn v1_issuer(&self) -> String {
        self.authority.v1_issuer.replace("{tenant}", &self.tenant_id)
    }

    /// The v2 token issuer, `https://login.microsoftonline.com/<tid>/v2.0`.
    pub fn v2_issuer(&self) -> String {
        format!("{}/v2.0", self.authority_url())
    }

    /// The tenant's initial domain, `<name>.onmicrosoft.com`.
    pub fn initial_domain(&self) -> String {
        let name: String = self.tenant_name.chars().filter(char::is_ascii_alphanumeric).collect();
        format!("{}.onmicrosoft.com", name.to_ascii_lowercase())
    }

    /// Is `segment` (the first path segment of a request) this tenant: its id, a verified
    /// domain, or its initial domain?
    pub fn is_tenant(&self, segment: &str) -> bool {
        segment.eq_ignore_ascii_case(&self.tenant_id)
            || self.domains.iter().any(|d| d.eq_ignore_ascii_case(segment))
            || segment.eq_ignore_ascii_case(&self.initial_domain())
    }

    pub fn user(&self, upn: &str) -> Option<&User> {
        self.users.iter().find(|u| u.upn.eq_ignore_ascii_case(upn))
    }

    pub fn user_by_oid(&self, oid: &str) -> Option<&User> {
        self.users.iter().find(|u| u.object_id == oid)
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// The resource a request names (an app id or one of its app id URIs, trailing slashes
    /// aside), with the `aud` its token carries: the name as asked (v1 tokens).
    pub fn resource(&self, asked: &str) -> Option<Requested<'_>> {
        let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
        let want = norm(asked);
        let r = self.resources.iter().find(|r| norm(&r.app_id) == want || r.uris.iter().any(|u| norm(u) == want))?;
        Some(Requested { resource: r, aud: asked.to_string() })
    }

    /// What world.json shows of the directory.
    pub fn describe(&self) -> EntraDescription {
        EntraDescription {
            tenant_id: self.tenant_id.clone(),
            authority: self.authority_url(),
            users: self.users.iter().map(|u| DescribedUser { upn: u.upn.clone(), password: u.password.clone(), intune_licence: u.intune_licence }).collect(),
            apps: self.apps.iter().map(|a| DescribedApp { client_id: a.client_id.clone(), name: a.name.clone(), client_secret: a.secret.clone() }).collect(),
        }
    }

    /// How long a simulated user takes to finish a device-code sign-in.
    pub fn sign_in_delay(&self) -> SimDuration {
        self.lifetimes.sign_in_delay
    }
}

/// world.json's `entra`: what a test needs to sign in without reading docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EntraDescription {
    pub tenant_id: String,
    /// `https://login.microsoftonline.com/<tenant_id>`.
    pub authority: String,
    pub users: Vec<DescribedUser>,
    pub apps: Vec<DescribedApp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribedUser {
    pub upn: String,
    pub password: String,
    pub intune_licence: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribedApp {
    pub client_id: String,
    pub name: String,
    /// Confidential clients only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A PEM certificate's `x5t` and RSA public key.
fn parse_cert(pem: &str) -> Result<AppCert, String> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(|e| format!("the certificate is not PEM: {e}"))?;
    let cert = pem.parse_x509().map_err(|e| format!("the certificate does not parse: {e}"))?;
    let spki = cert.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        return Err("the certificate's key is not RSA (Entra's client assertions are RS256)".into());
    }
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &pem.contents);
    let sha256 = ring::digest::digest(&ring::digest::SHA256, &pem.contents);
    Ok(AppCert {
        x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
        x5t_s256: URL_SAFE_NO_PAD.encode(sha256.as_ref()),
        public_pkcs1: spki.subject_public_key.data.to_vec(),
    })
}
