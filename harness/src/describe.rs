//! The world description: one serde struct that is the single truth for `world.json`, the
//! ready line of `memsim up`, `env.sh`, the probes, the runner and the tests (issue 10,
//! deliverable 3; DESIGN.md "One world description").
//!
//! Reading is strict: an unknown key or a missing one is an error, never a silent default. To
//! add a world fact (say, a token endpoint URL), add one field here and fill it in
//! [`crate::world::World::describe`]; README's world.json section lists the keys.
//!
//! Reading also checks that every address is loopback (127.0.0.0/8 or ::1): `memsim probe`
//! connects where a world.json says, and a hand-edited one must not send it off the machine
//! (network safety, common rules). The check runs while deserializing, before any socket.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use mock_cloud::services::content::ManifestEntry;
use mock_cloud::services::entra::EntraDescription;
use scenarios::{Cloud, WorldSpec};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// The version of `world.json`'s shape (issue 18 #5), its `schema` key: the number changes
/// when a key is removed or changes meaning (adding one is a change too: reading is strict).
/// `harness/schemas/world.schema.json` is its JSON Schema, generated from this type.
pub const SCHEMA: &str = "memsim/world/1";

/// Everything a client may know about a running world: `world.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldDescription {
    /// The shape's version, [`SCHEMA`]: a reader refuses any other.
    #[serde(deserialize_with = "schema")]
    #[schemars(extend("const" = SCHEMA))]
    pub schema: String,
    /// The HTTPS front (`127.0.0.1:PORT`): every emulated name, certificate by SNI.
    #[serde(deserialize_with = "https_addr")]
    pub https_addr: SocketAddr,
    /// The plain HTTP front (CRL, OCSP, discovery's fallback).
    #[serde(deserialize_with = "http_addr")]
    pub http_addr: SocketAddr,
    /// The world's DNS server, UDP and TCP.
    #[serde(deserialize_with = "dns_addr")]
    pub dns_addr: SocketAddr,
    /// The customer's proxy: `http://127.0.0.1:PORT`.
    #[serde(deserialize_with = "proxy_url")]
    pub proxy_url: String,
    /// The world's time scale (simulated ÷ wall): a client's own deadlines are in simulated
    /// time (issue 10 #3).
    #[serde(deserialize_with = "time_scale")]
    pub time_scale: f64,
    /// Absolute path of the CA bundle a client should trust.
    pub ca_bundle: PathBuf,
    /// Absolute path of the CAs that issue device certificates (DRS's `MS-Organization-Access`,
    /// the Intune root and MDM device CA): what verifies a certificate the world issued to a
    /// device. Not TLS trust anchors, so not in `ca_bundle`.
    pub client_ca_bundle: PathBuf,
    /// The tenant the world emulates.
    pub tenant: Tenant,
    /// Every emulated host name (and wildcard), sorted.
    pub hosts: Vec<String>,
    /// Every package the content CDNs serve: url, size, sha256 (issue 5).
    pub content: Vec<ManifestEntry>,
    /// Entra ID (issue 12): `tenant_id`, `authority`, `users` (each `upn`, `password`,
    /// `intune_licence`) and `apps` (each `client_id`, `name`, and `client_secret` for a
    /// confidential client), for a test to sign in with no docs at hand.
    pub entra: EntraDescription,
}

/// The tenant, as the scenario's `[world]` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The Entra tenant id (a GUID).
    pub id: String,
    /// The tenant's display name (`Contoso`).
    pub name: String,
    /// Verified domains: the UPN suffixes (seed 003).
    pub domains: Vec<String>,
    /// The public cloud or the US government cloud.
    pub cloud: Cloud,
    /// The Azure Scale Unit (seed 002), e.g. `AMSUA0101`.
    pub asu: String,
    /// The CMG's cloud service name (seed 001).
    pub cmg_name: String,
    /// The Configuration Manager site code.
    pub site_code: String,
}

impl Tenant {
    /// The tenant of a scenario's `[world]`.
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

fn schema<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let v = String::deserialize(d)?;
    if v == SCHEMA {
        return Ok(v);
    }
    Err(serde::de::Error::custom(format!("`schema` is {v:?}: this memsim reads {SCHEMA:?} (a world.json written by another memsim version?)")))
}

fn loopback<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<SocketAddr, D::Error> {
    let addr = SocketAddr::deserialize(d)?;
    check_loopback(key, addr.ip()).map(|()| addr).map_err(serde::de::Error::custom)
}

fn check_loopback(key: &str, ip: IpAddr) -> Result<(), String> {
    if ip.is_loopback() {
        return Ok(());
    }
    Err(format!("`{key}` is {ip}, not a loopback address (127.0.0.0/8 or ::1): a world only listens on loopback, and memsim connects nowhere else"))
}

fn https_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    loopback(d, "https_addr")
}

fn http_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    loopback(d, "http_addr")
}

fn dns_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    loopback(d, "dns_addr")
}

fn proxy_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let url = String::deserialize(d)?;
    proxy_addr_of(&url).map(|_| url).map_err(serde::de::Error::custom)
}

/// The proxy's address in a `proxy_url`: `http://IP:PORT`, IP loopback.
fn proxy_addr_of(url: &str) -> Result<SocketAddr, String> {
    let addr = url.strip_prefix("http://").ok_or_else(|| format!("`proxy_url` `{url}` is not `http://IP:PORT`"))?;
    let addr: SocketAddr = addr.trim_end_matches('/').parse().map_err(|e| format!("`proxy_url` `{url}` is not `http://IP:PORT`: {e}"))?;
    check_loopback("proxy_url", addr.ip())?;
    Ok(addr)
}

fn time_scale<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let scale = f64::deserialize(d)?;
    if scale.is_finite() && scale > 0.0 { Ok(scale) } else { Err(serde::de::Error::custom(format!("`time_scale` {scale} is not a positive number"))) }
}

/// Why a world description could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not a world description this memsim reads.
    #[error("{path}: not a world description: {error}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        error: serde_json::Error,
    },
}

impl WorldDescription {
    /// The proxy's socket address, from `proxy_url` (loopback, as reading checked).
    pub fn proxy_addr(&self) -> Result<SocketAddr, String> {
        proxy_addr_of(&self.proxy_url)
    }

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
    /// `"ready"`.
    pub event: &'static str,
    /// The scenario's name.
    pub scenario: String,
    /// The path of world.json.
    pub world: PathBuf,
    /// Start-up wall time in milliseconds.
    pub ms: f64,
    /// world.json's keys.
    #[serde(flatten)]
    pub description: WorldDescription,
}

/// The ready line as read back: its own keys, and the description checked as strictly as
/// world.json (serde cannot reject unknown keys through `flatten`, so the keys are split here).
#[derive(Debug, Clone, PartialEq)]
pub struct Ready {
    /// The scenario's name.
    pub scenario: String,
    /// The path of world.json.
    pub world: PathBuf,
    /// Start-up wall time in milliseconds.
    pub ms: f64,
    /// world.json's keys, read as strictly as world.json.
    pub description: WorldDescription,
}

impl Ready {
    /// Read a ready line.
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
            schema: SCHEMA.into(),
            https_addr: "127.0.0.1:1".parse().unwrap(),
            http_addr: "127.0.0.1:2".parse().unwrap(),
            dns_addr: "127.0.0.1:3".parse().unwrap(),
            proxy_url: "http://127.0.0.1:4".into(),
            time_scale: 60.0,
            ca_bundle: "/tmp/ca.pem".into(),
            client_ca_bundle: "/tmp/client-ca.pem".into(),
            tenant: Tenant::of(&WorldSpec::default()),
            hosts: vec!["a.example".into()],
            content: vec![],
            entra: mock_cloud::services::entra::Directory::build(&mock_cloud::Catalog::builtin().unwrap().entra, &WorldSpec::default()).unwrap().describe(),
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

    // Network safety (review of issue 10/11): a hand-edited world.json naming another machine is
    // refused while it is read, naming the key — before `memsim probe` opens any socket.
    #[test]
    fn every_address_must_be_loopback() {
        for key in ["https_addr", "http_addr", "dns_addr", "proxy_url"] {
            let mut v = serde_json::to_value(sample()).unwrap();
            v[key] = Value::from(if key == "proxy_url" { "http://10.0.0.1:8080" } else { "10.0.0.1:443" });
            let e = serde_json::from_value::<WorldDescription>(v.clone()).unwrap_err().to_string();
            assert!(e.contains(&format!("`{key}` is 10.0.0.1, not a loopback address")), "{key}: {e}");
            let mut line = v.as_object().unwrap().clone();
            line.extend([("event".into(), "ready".into()), ("scenario".into(), "s".into()), ("world".into(), "/w".into()), ("ms".into(), 1.0.into())]);
            assert!(Ready::parse(&Value::Object(line).to_string()).unwrap_err().contains(key), "the ready line is checked too");
        }
        let mut v = serde_json::to_value(sample()).unwrap();
        for (key, ok) in [("https_addr", "127.9.9.9:1"), ("dns_addr", "[::1]:53"), ("proxy_url", "http://127.0.0.1:8080/")] {
            v[key] = Value::from(ok);
        }
        assert!(serde_json::from_value::<WorldDescription>(v.clone()).is_ok());
        v["proxy_url"] = Value::from("https://127.0.0.1:1");
        assert!(serde_json::from_value::<WorldDescription>(v.clone()).unwrap_err().to_string().contains("`proxy_url`"));
        v["proxy_url"] = Value::from("http://127.0.0.1:1");
        v["time_scale"] = Value::from(0.0);
        assert!(serde_json::from_value::<WorldDescription>(v).unwrap_err().to_string().contains("`time_scale`"));
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
