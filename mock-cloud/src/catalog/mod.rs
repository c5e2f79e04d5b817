//! The endpoint catalog: the seeds' tables as typed data, and the names a world emulates derived
//! from them. A hostname never appears in logic; it comes from here.
//!
//! The catalog is a value, not a global: [`Catalog::builtin`] parses the embedded data files
//! (every one of them, the content library's and the endpoints web service's included), the
//! caller loads it once and passes it down (`CloudConfig::catalog`, the services' `AppState`),
//! and a test can build a world from a catalog of its own by changing a loaded one.

pub mod data;
pub mod devices;

use std::collections::BTreeSet;

use scenarios::{Cloud, WorldSpec};

pub use data::*;

use crate::pki::PkiData;

/// Everything the seeds (and memsim's own PKI/service data) say, typed.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub intune: IntuneEndpoints,
    pub configmgr: ConfigMgrEndpoints,
    pub tenant_attach: TenantAttach,
    pub asu: AsuTable,
    pub cnames: CnameRules,
    pub tokens: TokenFacts,
    pub services: ServiceHosts,
    pub pki: PkiData,
    pub codes: Codes,
    /// The content CDNs' packages (`content.toml`).
    pub content: crate::services::content::ContentData,
    /// The endpoints web service's instances and service areas (`endpoints-service.toml`).
    pub endpoints_service: crate::services::endpoints::ServiceData,
    /// Entra ID's authority, default users and apps, resources and errors (`entra.toml`).
    pub entra: crate::services::entra::EntraData,
    /// The Windows enrollment services' URLs, token, policy and provisioning (`enrollment.toml`).
    pub enrollment: crate::services::enrollment::EnrollmentData,
    /// Device registration and Intune for Linux (`devices.toml`).
    pub devices: devices::DeviceData,
}

/// A data file that does not parse: a build defect, reported with the file's name.
#[derive(Debug, thiserror::Error)]
#[error("data file mock-cloud/data/{file}: {message}")]
pub struct CatalogError {
    pub file: &'static str,
    pub message: String,
}

macro_rules! data_file {
    ($name:literal) => {
        ($name, include_str!(concat!("../../data/", $name)))
    };
}

fn parse<T: serde::de::DeserializeOwned>((file, text): (&'static str, &'static str)) -> Result<T, CatalogError> {
    toml::from_str(text).map_err(|e| CatalogError { file, message: e.to_string() })
}

impl Catalog {
    /// The tenant CNAME rule (seed 003) for `purpose` (`enrollment`, `registration`) in `cloud`.
    pub fn cname_rule(&self, purpose: &str, cloud: Cloud) -> Option<&CnameRule> {
        self.cnames.rules.iter().find(|r| r.purpose == purpose && r.cloud.includes(cloud))
    }

    /// The hosts of one service in the world of `spec`, lower-case, placeholders filled in
    /// (`<scale-unit>` from the tenant's ASU, `<name>` from its CMG name).
    pub fn service_hosts_in(&self, service: scenarios::Service, spec: &WorldSpec) -> Vec<String> {
        self.service_hosts(service, spec.cloud).iter().filter_map(|h| world_host(h, spec)).collect()
    }

    /// The hosts of one service (services.toml) in `cloud`, as written (placeholders unfilled);
    /// empty when the catalog has none.
    pub fn service_hosts(&self, service: scenarios::Service, cloud: Cloud) -> &[String] {
        self.services.services.iter().find(|s| s.service == service).map_or(&[], |s| s.hosts(cloud))
    }

    /// Parse the embedded data files: one catalog, loaded by whoever composes a world and passed
    /// down from there. Each call parses anew (a few milliseconds); nothing is kept globally.
    ///
    /// The files are parsed in two halves of about the same size, the second on a thread of its
    /// own: every `memsim up` and `run` parses them all (about 115 KB of TOML) before its first
    /// world (issue 20 item 2), and the machine a start is measured on has two cores.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        type Later = (Codes, crate::services::content::ContentData, crate::services::endpoints::ServiceData, crate::services::entra::EntraData);
        type Later2 = (crate::services::enrollment::EnrollmentData, devices::DeviceData, TokenFacts);
        let second = || -> Result<(Later, Later2), CatalogError> {
            Ok((
                (
                    parse(data_file!("codes.toml"))?,
                    parse(data_file!("content.toml"))?,
                    parse(data_file!("endpoints-service.toml"))?,
                    parse(data_file!("entra.toml"))?,
                ),
                (parse(data_file!("enrollment.toml"))?, parse(data_file!("devices.toml"))?, parse(data_file!("tokens.toml"))?),
            ))
        };
        std::thread::scope(|s| {
            // Without a thread (none to be had), the second half is parsed here after the first.
            let handle = std::thread::Builder::new().name("memsim-catalog".into()).spawn_scoped(s, second).ok();
            let intune = parse(data_file!("intune-endpoints.toml"));
            let configmgr = parse(data_file!("configmgr-endpoints.toml"));
            let tenant_attach = parse(data_file!("tenant-attach.toml"));
            let asu = parse(data_file!("asu.toml"));
            let cnames = parse(data_file!("cname-rules.toml"));
            let services = parse(data_file!("services.toml"));
            let pki = parse(data_file!("pki.toml"));
            let later = match handle {
                Some(h) => h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => second(),
            };
            // The first half's errors first, as the files were read in this order.
            let (intune, configmgr, tenant_attach, asu, cnames, services, pki) = (intune?, configmgr?, tenant_attach?, asu?, cnames?, services?, pki?);
            let ((codes, content, endpoints_service, entra), (enrollment, devices, tokens)) = later?;
            Ok(Catalog { intune, configmgr, tenant_attach, asu, cnames, tokens, services, pki, codes, content, endpoints_service, entra, enrollment, devices })
        })
    }

    /// The CMG's cloud service name in `cloud` for the tenant's `cmg_name`, e.g.
    /// `GraniteFalls.cloudapp.net`: the seed 001 rows the data marks `cmg_cloud_service`.
    pub fn cmg_host(&self, cloud: Cloud, cmg_name: &str) -> Option<String> {
        self.configmgr
            .groups
            .iter()
            .filter(|g| g.cmg_cloud_service && g.cloud.includes(cloud))
            .flat_map(|g| g.urls.iter())
            .find(|u| u.starts_with("<name>."))
            .map(|u| u.replace("<name>", cmg_name))
    }

    pub fn endpoint_set(&self, id: u32) -> Option<&EndpointSet> {
        self.intune.sets.iter().find(|s| s.id == id)
    }

    /// The ASU region that serves a tenant's Azure Scale Unit, e.g. `na` for `AMSUA0101`.
    pub fn asu_region(&self, asu: &str) -> Option<&AsuRegion> {
        self.asu.regions.iter().find(|r| r.asus.iter().any(|a| a.eq_ignore_ascii_case(asu)))
    }

    /// Every host name (and wildcard) a world for `spec` emulates, lower-case, sorted, unique.
    pub fn hosts_for(&self, spec: &WorldSpec) -> Vec<String> {
        let mut hosts = BTreeSet::new();
        let mut add = |raw: &str| {
            if let Some(h) = world_host(raw, spec) {
                hosts.insert(h);
            }
        };
        for set in &self.intune.sets {
            set.urls.iter().for_each(|u| add(u));
        }
        for group in &self.intune.unnumbered {
            group.hosts.iter().for_each(|h| add(h));
        }
        self.configmgr.always_allow.iter().for_each(|u| add(u));
        for group in self.configmgr.groups.iter().filter(|g| g.cloud.includes(spec.cloud)) {
            group.urls.iter().for_each(|u| add(u));
        }
        self.tenant_attach.endpoints.get(spec.cloud).iter().for_each(|u| add(u));
        self.tenant_attach.revocation.urls.iter().for_each(|u| add(u));
        for region in &self.asu.regions {
            region.stores.iter().for_each(|s| add(&s.cdn));
        }
        for rule in self.cnames.rules.iter().filter(|r| r.cloud.includes(spec.cloud)) {
            add(&rule.target);
        }
        for t in self.cnames.nonpreferred_targets.iter().filter(|t| t.cloud.includes(spec.cloud)) {
            add(&t.target);
        }
        add(match spec.cloud {
            Cloud::Public => &self.cnames.manual_server.public,
            Cloud::Usgov => &self.cnames.manual_server.usgov,
        });
        for s in &self.services.services {
            s.hosts(spec.cloud).iter().for_each(|h| add(h));
        }
        for (h, _) in self.enrollment.hosts(spec) {
            add(&h);
        }
        for url in self.pki.cas.iter().flat_map(|ca| ca.crl.iter().chain(std::iter::once(&ca.ocsp)).chain(&ca.ca_issuers)) {
            add(url);
        }
        hosts.into_iter().collect()
    }
}

/// The host of a catalog entry written as a host, a wildcard or a URL; `<name>` becomes the CMG
/// service name. `None` for an entry with no usable host.
/// The scale-unit label of a tenant's front-end host names (`fef.<scale-unit>.manage.microsoft.com`):
/// the ASU without its leading `A` and its two-digit instance, lower-case — `AMSUA0101` → `msua01`,
/// as `fef.msua08.manage.microsoft.com` is for the AMSUA08xx units (intune-spec §3.4's example).
/// The rule is inferred from such examples and the storage names of seed 002's ASU table; no
/// document states it.
pub fn scale_unit_label(asu: &str) -> String {
    let asu = asu.trim().to_ascii_lowercase();
    let body: Vec<char> = asu.strip_prefix('a').unwrap_or(&asu).chars().collect();
    // Keep at least six characters (`msua01`); drop the two-digit instance of a longer name.
    let keep = body.len().saturating_sub(2).max(body.len().min(6));
    body[..keep].iter().collect()
}

/// [`host_of`] for a data host of the world of `spec`: `<scale-unit>` and `<name>` filled in.
pub fn world_host(raw: &str, spec: &WorldSpec) -> Option<String> {
    if raw.contains("<scale-unit>") {
        return host_of(&raw.replace("<scale-unit>", &scale_unit_label(&spec.asu)), &spec.cmg_name);
    }
    host_of(raw, &spec.cmg_name)
}

pub fn host_of(raw: &str, cmg_name: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let s = s.split(['/', '?']).next()?;
    let s = s.split(':').next()?;
    let s = s.replace("<name>", cmg_name).to_ascii_lowercase();
    scenarios::HostPattern::parse(&s).ok().map(|p| p.to_string())
}

#[cfg(test)]
mod tests;
