//! The world description: one serde struct that is the single truth for `world.json`, the
//! ready line of `memsim up`, `env.sh`, the probes, the runner and the tests (issue 10,
//! deliverable 3; DESIGN.md "One world description").
//!
//! Reading is strict: an unknown key or a missing one is an error, never a silent default. To
//! add a world fact (say, a token endpoint URL), add one field here and fill it in
//! [`crate::World::describe`]; README's world.json section lists the keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mock_cloud::services::content::ManifestEntry;
use scenarios::{Cloud, WorldSpec};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything a client may know about a running world: `world.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldDescription {
    /// The HTTPS front (`127.0.0.1:PORT`): every emulated name, certificate by SNI.
    pub https_addr: SocketAddr,
    /// The plain HTTP front (CRL, OCSP, discovery's fallback).
    pub http_addr: SocketAddr,
    /// The world's DNS server, UDP and TCP.
    pub dns_addr: SocketAddr,
    /// The customer's proxy: `http://127.0.0.1:PORT`.
    pub proxy_url: String,
    /// Absolute path of the CA bundle a client should trust.
    pub ca_bundle: PathBuf,
    pub tenant: Tenant,
    /// Every emulated host name (and wildcard), sorted.
    pub hosts: Vec<String>,
    /// Every package the content CDNs serve: url, size, sha256 (issue 5).
    pub content: Vec<ManifestEntry>,
}

/// The tenant, as the scenario's `[world]` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The Entra tenant id (a GUID).
    pub id: String,
    pub name: String,
    /// Verified domains: the UPN suffixes (seed 003).
    pub domains: Vec<String>,
    pub cloud: Cloud,
    /// The Azure Scale Unit (seed 002), e.g. `AMSUA0101`.
    pub asu: String,
    /// The CMG's cloud service name (seed 001).
    pub cmg_name: String,
    pub site_code: String,
}

impl Tenant {
    pub fn of(w: &WorldSpec) -> Tenant {
        Tenant {
            id: w.tenant_id.clone(),
            name: w.tenant_name.clone(),
            domains: w.domains.clone(),
            cloud: w.cloud,
            asu: w.asu.clone(),
            cmg_name: w.cmg_name.clone(),
            site_code: w.site_code.clone(),
        }
    }
}

/// Why a world description could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    #[error("{path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: not a world description: {error}")]
    Invalid { path: String, error: serde_json::Error },
}

impl WorldDescription {
    /// Read and check a `world.json`.
    pub fn read(path: &Path) -> Result<WorldDescription, DescribeError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| DescribeError::Read { path: shown.clone(), error })?;
        serde_json::from_slice(&bytes).map_err(|error| DescribeError::Invalid { path: shown, error })
    }
}

/// The line `memsim up` prints on stdout when its world is ready: the description's keys,
/// plus `event` (`"ready"`), `scenario`, `world` (the path of world.json) and `ms` (start-up
/// wall time).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadyLine {
    pub event: &'static str,
    pub scenario: String,
    pub world: PathBuf,
    pub ms: f64,
    #[serde(flatten)]
    pub description: WorldDescription,
}

/// The ready line as read back: its own keys, and the description checked as strictly as
/// world.json (serde cannot reject unknown keys through `flatten`, so the keys are split here).
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    pub scenario: String,
    pub world: PathBuf,
    pub ms: f64,
    pub description: WorldDescription,
}

impl Ready {
    pub fn parse(line: &str) -> Result<Ready, String> {
        let mut v: serde_json::Map<String, Value> = serde_json::from_str(line).map_err(|e| format!("ready line: {e}"))?;
        let mut take = |k: &str| v.remove(k).ok_or_else(|| format!("ready line: no `{k}`"));
        if take("event")? != "ready" {
            return Err("ready line: `event` is not \"ready\"".into());
        }
        let scenario = take("scenario")?.as_str().ok_or("ready line: `scenario` is not a string")?.to_string();
        let world = PathBuf::from(take("world")?.as_str().ok_or("ready line: `world` is not a string")?);
        let ms = take("ms")?.as_f64().ok_or("ready line: `ms` is not a number")?;
        let description = serde_json::from_value(Value::Object(v)).map_err(|e| format!("ready line: {e}"))?;
        Ok(Ready { scenario, world, ms, description })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WorldDescription {
        WorldDescription {
            https_addr: "127.0.0.1:1".parse().unwrap(),
            http_addr: "127.0.0.1:2".parse().unwrap(),
            dns_addr: "127.0.0.1:3".parse().unwrap(),
            proxy_url: "http://127.0.0.1:4".into(),
            ca_bundle: "/tmp/ca.pem".into(),
            tenant: Tenant::of(&WorldSpec::default()),
            hosts: vec!["a.example".into()],
            content: vec![],
        }
    }

    #[test]
    fn reading_is_strict_both_ways() {
        let d = sample();
        let mut v = serde_json::to_value(&d).unwrap();
        assert_eq!(serde_json::from_value::<WorldDescription>(v.clone()).unwrap(), d);
        v["extra"] = Value::Bool(true);
        let e = serde_json::from_value::<WorldDescription>(v.clone()).unwrap_err();
        assert!(e.to_string().contains("unknown field `extra`"), "{e}");
        v.as_object_mut().unwrap().remove("extra");
        v["tenant"].as_object_mut().unwrap().remove("asu");
        let e = serde_json::from_value::<WorldDescription>(v).unwrap_err();
        assert!(e.to_string().contains("missing field `asu`"), "{e}");
    }

    #[test]
    fn the_ready_line_carries_the_description() {
        let line =
            serde_json::to_string(&ReadyLine { event: "ready", scenario: "s".into(), world: "/w/world.json".into(), ms: 1.5, description: sample() }).unwrap();
        let ready = Ready::parse(&line).unwrap();
        assert_eq!((ready.scenario.as_str(), ready.ms, ready.description), ("s", 1.5, sample()));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["https_addr"], "127.0.0.1:1", "the documented keys stay at the top level");
        let mut extra: serde_json::Map<String, Value> = serde_json::from_str(&line).unwrap();
        extra.insert("surprise".into(), Value::Null);
        assert!(Ready::parse(&Value::Object(extra).to_string()).unwrap_err().contains("unknown field `surprise`"));
    }
}
