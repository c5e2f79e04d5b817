//! The world's content library: `content.toml`'s packages placed on the hosts the seeds name,
//! with their deterministic bytes, validators and SHA-256 digests.
//!
//! Digests for seed 0 are recorded in the data file (checked by a test); for any other seed they
//! are computed on a background thread started with the library, in parallel with the PKI
//! build, and joined the first time they are asked for (world.json).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use scenarios::WorldSpec;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::catalog::{Catalog, host_of};

use super::generator::Generator;

/// `content.toml`, parsed strictly.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentData {
    #[serde(rename = "group")]
    pub groups: Vec<GroupSpec>,
    #[serde(rename = "package")]
    pub packages: Vec<PackageSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupSource {
    Asu,
    EndpointSets,
    Hosts,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    pub name: String,
    pub from: GroupSource,
    pub storage_domain: Option<String>,
    #[serde(default)]
    pub endpoint_sets: Vec<u32>,
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// What a package is for; the reference clients pick by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Win32App,
    Script,
    ConfigmgrManifest,
    ConfigmgrUpdate,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSpec {
    pub name: String,
    pub kind: Kind,
    pub group: String,
    pub path: String,
    pub size: u64,
    /// The host world.json points at, when not the group's own choice (its first host).
    pub host: Option<String>,
    /// The SHA-256 for seed 0 (the default), checked by a test, so default worlds hash nothing.
    pub sha256_seed0: Option<String>,
}

/// One package as this world serves it.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub kind: Kind,
    pub path: String,
    pub size: u64,
    /// Every host that serves it, lower-case, sorted.
    pub hosts: Vec<String>,
    /// The host a client is sent to: for the ASU group, the tenant region's primary CDN.
    pub canonical_host: String,
    pub generator: Generator,
    /// A strong validator in Azure Blob's style (`"0x8D…"`).
    pub etag: String,
    pub last_modified: SystemTime,
    /// The digest recorded in the data file for this world's seed, if any.
    known_sha256: Option<String>,
}

impl Package {
    pub fn url(&self) -> String {
        format!("https://{}{}", self.canonical_host, self.path)
    }

    pub fn last_modified_http(&self) -> String {
        httpdate::fmt_http_date(self.last_modified)
    }
}

/// A package in world.json: where to get it and how to check it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub name: String,
    pub kind: Kind,
    pub url: String,
    pub size: u64,
    pub sha256: String,
    pub hosts: Vec<String>,
}

/// Every package of one world.
#[derive(Debug)]
pub struct Library {
    packages: Vec<Package>,
    digests: OnceLock<Vec<String>>,
    hashing: Mutex<Option<JoinHandle<Vec<String>>>>,
    cancel: Arc<AtomicBool>,
}

impl Library {
    /// Place the catalog's packages (`content.toml`) for `spec` and start hashing them in the
    /// background.
    pub fn new(catalog: &Catalog, spec: &WorldSpec, sim_start: OffsetDateTime) -> Library {
        let data = &catalog.content;
        let mut packages = Vec::new();
        for p in &data.packages {
            let Some(group) = data.groups.iter().find(|g| g.name == p.group) else { continue };
            let (hosts, canonical) = group_hosts(group, catalog, spec);
            let chosen = p.host.as_ref().map(|h| h.to_ascii_lowercase()).filter(|h| hosts.contains(h));
            let Some(canonical_host) = chosen.or(canonical).or_else(|| hosts.first().cloned()) else { continue };
            let generator = Generator::new(spec.seed, &p.name);
            let age = Duration::from_secs(86_400 * (1 + generator.key() % 30) + (generator.key() >> 32) % 86_400);
            let start = SystemTime::UNIX_EPOCH + Duration::from_secs(sim_start.unix_timestamp().max(0) as u64);
            packages.push(Package {
                name: p.name.clone(),
                kind: p.kind,
                path: p.path.clone(),
                size: p.size,
                hosts,
                canonical_host,
                etag: generator.etag(p.size),
                last_modified: start.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH),
                generator,
                known_sha256: p.sha256_seed0.clone().filter(|_| spec.seed == 0),
            });
        }
        let cancel = Arc::new(AtomicBool::new(false));
        let jobs: Vec<(Generator, u64, Option<String>)> = packages.iter().map(|p| (p.generator.clone(), p.size, p.known_sha256.clone())).collect();
        let digests = OnceLock::new();
        let mut hashing = None;
        if jobs.iter().all(|(_, _, known)| known.is_some()) {
            let _ = digests.set(jobs.into_iter().filter_map(|(_, _, known)| known).collect());
        } else {
            let stop = cancel.clone();
            hashing = std::thread::Builder::new()
                .name("memsim-content-sha256".into())
                .spawn(move || jobs.into_iter().map(|(g, size, known)| known.unwrap_or_else(|| g.sha256(size, &stop))).collect())
                .ok();
        }
        Library { packages, digests, hashing: Mutex::new(hashing), cancel }
    }

    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// Every host that serves some package.
    pub fn hosts(&self) -> BTreeSet<String> {
        self.packages.iter().flat_map(|p| p.hosts.iter().cloned()).collect()
    }

    /// The package at `path` on `host` (host lower-case, without port).
    pub fn find(&self, host: &str, path: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.path == path && p.hosts.iter().any(|h| h == host))
    }

    /// The SHA-256 of every package, in order, hex. Blocks until the background hashing ends.
    pub fn digests(&self) -> &[String] {
        self.digests.get_or_init(|| {
            let handle = self.hashing.lock().unwrap_or_else(|p| p.into_inner()).take();
            let never = AtomicBool::new(false);
            handle
                .and_then(|h| h.join().ok())
                .unwrap_or_else(|| self.packages.iter().map(|p| p.known_sha256.clone().unwrap_or_else(|| p.generator.sha256(p.size, &never))).collect())
        })
    }

    /// What world.json lists under `content`.
    pub fn manifest(&self) -> Vec<ManifestEntry> {
        self.packages
            .iter()
            .zip(self.digests())
            .map(|(p, d)| ManifestEntry { name: p.name.clone(), kind: p.kind, url: p.url(), size: p.size, sha256: d.clone(), hosts: p.hosts.clone() })
            .collect()
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// A group's hosts for this world, and its canonical host when the group has one.
fn group_hosts(group: &GroupSpec, catalog: &Catalog, spec: &WorldSpec) -> (Vec<String>, Option<String>) {
    let mut hosts = BTreeSet::new();
    let mut canonical = None;
    let add = |raw: &str, hosts: &mut BTreeSet<String>| {
        if let Some(h) = host_of(raw, &spec.cmg_name).filter(|h| !h.starts_with("*.")) {
            hosts.insert(h);
        }
    };
    match group.from {
        GroupSource::Asu => {
            let domain = group.storage_domain.as_deref();
            for region in &catalog.asu.regions {
                for store in &region.stores {
                    add(&store.cdn, &mut hosts);
                    for name in std::iter::once(&store.storage).chain(store.storage_as_documented.as_ref()) {
                        if let Some(d) = domain {
                            add(&format!("{name}.{d}"), &mut hosts);
                        }
                    }
                }
            }
            canonical = catalog.asu_region(&spec.asu).and_then(|r| r.stores.first()).and_then(|s| host_of(&s.cdn, &spec.cmg_name));
        }
        GroupSource::EndpointSets => {
            for id in &group.endpoint_sets {
                catalog.endpoint_set(*id).iter().flat_map(|s| &s.urls).for_each(|u| add(u, &mut hosts));
            }
        }
        GroupSource::Hosts => {
            group.hosts.iter().for_each(|h| add(h, &mut hosts));
            canonical = group.hosts.first().and_then(|h| host_of(h, &spec.cmg_name));
        }
    }
    (hosts.into_iter().collect(), canonical)
}
