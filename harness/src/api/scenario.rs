//! Scenarios for the in-process API (issue 18 #1): a built-in one by name, a file, TOML text,
//! or one built in code (`Scenario::healthy().with_fault(Fault::proxy_idle_timeout("60s"))`).
//!
//! A scenario built in code is kept as the TOML document a file would hold and is read back
//! through the one validation step ([`crate::validate`]) when a world starts: a fault built
//! here is checked exactly as the same fault in a file is, with the same messages.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::Error;

/// A scenario to start a [`World`](super::World) from: a world, its faults, and (for the
/// runner) a client and expectations. Nothing is checked until the world starts (or
/// [`Scenario::check`] is called); then it is checked as a scenario file is.
///
/// ```
/// use memsim::{Fault, Scenario};
///
/// let s = Scenario::healthy()
///     .named("idle-cut")
///     .with_fault(Fault::proxy_idle_timeout("60s").hosts("*.manage.microsoft.com"));
/// assert!(s.to_toml().contains("proxy.idle_timeout"));
/// s.check()?;
/// # Ok::<(), memsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    doc: Table,
    /// Where it came from, for error messages: `builtin:<path>`, a file, or `code`.
    origin: String,
    /// The directory of the file it was read from: relative paths in it are resolved there.
    dir: Option<PathBuf>,
}

impl Scenario {
    /// A scenario of the built-in catalog by name (`memsim list` shows them), e.g.
    /// `"pki-expired-root"`.
    ///
    /// ```
    /// let s = memsim::Scenario::builtin("pki-expired-root")?;
    /// assert_eq!(s.name(), "pki-expired-root");
    /// assert!(memsim::Scenario::builtin("no-such-scenario").is_err());
    /// # Ok::<(), memsim::Error>(())
    /// ```
    pub fn builtin(name: &str) -> Result<Scenario, Error> {
        let file = format!("{name}.toml");
        let Some((path, text)) = scenarios::catalog::FILES.iter().find(|(p, _)| p.rsplit('/').next() == Some(file.as_str())) else {
            let names: Vec<&str> = scenarios::catalog::FILES.iter().filter_map(|(p, _)| p.rsplit('/').next()?.strip_suffix(".toml")).collect();
            return Err(Error::Scenario(format!("unknown built-in scenario `{name}`; the catalog has: {}", names.join(", "))));
        };
        Scenario::parse(text, &format!("builtin:{path}"), None)
    }

    /// A scenario file (the format `memsim check` reads); relative paths in it are resolved
    /// against the file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, Error> {
        let path = path.as_ref();
        let text = scenarios::read_bounded(path, "scenario").map_err(Error::Scenario)?;
        Scenario::parse(&text, &path.display().to_string(), path.parent().map(Path::to_path_buf))
    }

    /// A scenario from TOML text, as a scenario file holds it.
    pub fn from_toml(text: &str) -> Result<Scenario, Error> {
        Scenario::parse(text, "code", None)
    }

    /// The healthy world (`memsim up`'s default): every emulated host reachable, every
    /// certificate valid, no faults. Add faults with [`Scenario::with_fault`].
    pub fn healthy() -> Scenario {
        Scenario::parse(crate::select::DEFAULT_WORLD, "code", None).expect("the default world is TOML")
    }

    fn parse(text: &str, origin: &str, dir: Option<PathBuf>) -> Result<Scenario, Error> {
        let doc: Table = text.parse().map_err(|e: toml::de::Error| Error::Scenario(format!("{origin}: {}", e.message().trim())))?;
        Ok(Scenario { doc, origin: origin.to_string(), dir })
    }

    /// The scenario's name (as written; checked when the world starts).
    pub fn name(&self) -> &str {
        self.doc.get("name").and_then(Value::as_str).unwrap_or_default()
    }

    /// The names of its checks, in run order: each `[[check]]`'s, or its one `[client]`'s (the
    /// probe's name, or `command`); none for a world without a client. Checked as a file is.
    ///
    /// ```
    /// let s = memsim::Scenario::builtin("pki-untrusted-root")?;
    /// assert_eq!(s.checks()?, ["cmg-connect", "cmg-register", "discovery"]);
    /// assert_eq!(memsim::Scenario::builtin("pki-expired-root")?.checks()?, ["discovery"]);
    /// # Ok::<(), memsim::Error>(())
    /// ```
    pub fn checks(&self) -> Result<Vec<String>, Error> {
        let catalog = mock_cloud::Catalog::builtin().map_err(|e| Error::Io { context: "load the endpoint catalog".into(), message: e.to_string() })?;
        Ok(self.checked(&catalog)?.checks().map(|c| c.name.to_string()).collect())
    }

    /// Rename it (lower-case letters, digits and dashes): reports and journals carry the name.
    pub fn named(mut self, name: &str) -> Scenario {
        self.doc.insert("name".into(), name.into());
        self
    }

    /// Add a fault, after those the scenario already has.
    pub fn with_fault(mut self, fault: Fault) -> Scenario {
        let faults = self.doc.entry("fault").or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = faults {
            a.push(Value::Table(fault.table));
        }
        self
    }

    /// Set a `[world]` key (`time_scale`, `now`, `skew`, `seed`, `tenant_name` …), as the
    /// file's `[world]` table would.
    pub fn world(mut self, key: &str, value: impl Into<Value>) -> Scenario {
        let world = self.doc.entry("world").or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(t) = world {
            t.insert(key.to_string(), value.into());
        }
        self
    }

    /// Simulated seconds per wall second (the `[world] time_scale` key).
    pub fn time_scale(self, scale: f64) -> Scenario {
        self.world("time_scale", scale)
    }

    /// The scenario as a scenario file would hold it (`memsim check` and `memsim run` take it).
    pub fn to_toml(&self) -> String {
        toml::to_string(&self.doc).unwrap_or_default()
    }

    /// Run the one validation step a scenario file goes through (the one `memsim check`
    /// runs), against the built-in endpoint catalog.
    pub fn check(&self) -> Result<(), Error> {
        let catalog = mock_cloud::Catalog::builtin().map_err(|e| Error::Io { context: "load the endpoint catalog".into(), message: e.to_string() })?;
        self.checked(&catalog).map(drop)
    }

    /// The checked scenario model, or every problem, one `origin:line:column: message` a line.
    pub(crate) fn checked(&self, catalog: &mock_cloud::Catalog) -> Result<scenarios::Scenario, Error> {
        let text = self.to_toml();
        let mut file = scenarios::ScenarioFile::parse(&text, &self.origin).map_err(|e| Error::Scenario(e.to_string()))?;
        if let Some(dir) = &self.dir {
            file.scenario.resolve_paths(dir);
        }
        crate::validate(&file, catalog)
            .map(crate::CheckedScenario::into_scenario)
            .map_err(|errors| Error::Scenario(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))
    }
}

/// One fault, built in code: its `kind` and the keys the scenario file format gives it (see
/// README's scenario reference). Builders cover the common kinds; [`Fault::new`] and [`Fault::set`]
/// reach every other. Checked with the scenario, as a file's `[[fault]]` is.
///
/// ```
/// use memsim::Fault;
///
/// let idle = Fault::proxy_idle_timeout("60s").hosts("*.manage.microsoft.com").set("close", "rst");
/// let nx = Fault::dns_nx_domain("EnterpriseEnrollment.contoso.com");
/// let expired = Fault::pki_expired().set("ca", "baltimore-cybertrust-root").set("since", "30d");
/// # let _ = (idle, nx, expired);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    table: Table,
}

impl Fault {
    /// A fault of `kind` (e.g. `"proxy.bandwidth"`), with no other keys yet.
    pub fn new(kind: &str) -> Fault {
        let mut table = Table::new();
        table.insert("kind".into(), kind.into());
        Fault { table }
    }

    /// Set one key, as the fault's table in a file would (`set("close", "rst")`).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Fault {
        self.table.insert(key.to_string(), value.into());
        self
    }

    /// Add a host (or `*.` wildcard) the fault applies to (the `hosts` key; call it again for
    /// more).
    pub fn hosts(self, host: &str) -> Fault {
        self.push("hosts", host)
    }

    /// Add a DNS name the fault applies to (the `names` key of a `dns.*` fault).
    pub fn names(self, name: &str) -> Fault {
        self.push("names", name)
    }

    /// Active from `after` simulated time since the world started (e.g. `"5m"`).
    pub fn active_after(self, after: &str) -> Fault {
        self.set("after", after)
    }

    /// Active until `until` simulated time since the world started.
    pub fn active_until(self, until: &str) -> Fault {
        self.set("until", until)
    }

    fn push(mut self, key: &str, item: &str) -> Fault {
        match self.table.get_mut(key) {
            Some(Value::Array(a)) => a.push(item.into()),
            _ => {
                self.table.insert(key.to_string(), Value::Array(vec![item.into()]));
            }
        }
        self
    }

    /// `proxy.idle_timeout`: the customer's proxy cuts a connection idle for `after` (e.g.
    /// `"60s"`).
    pub fn proxy_idle_timeout(after: &str) -> Fault {
        Fault::new("proxy.idle_timeout").set("after", after)
    }

    /// `proxy.deny`: the customer's proxy refuses the selected hosts.
    pub fn proxy_deny() -> Fault {
        Fault::new("proxy.deny")
    }

    /// `proxy.latency`: every chunk of data is held back `latency` (e.g. `"250ms"`).
    pub fn proxy_latency(latency: &str) -> Fault {
        Fault::new("proxy.latency").set("latency", latency)
    }

    /// `proxy.reset_peer`: connections are reset `after` they open (`"0s"`: at once).
    pub fn proxy_reset_peer(after: &str) -> Fault {
        Fault::new("proxy.reset_peer").set("after", after)
    }

    /// `proxy.tls_inspection`: HTTPS is re-signed by a corporate CA, trusted or not.
    pub fn proxy_tls_inspection(trusted: bool) -> Fault {
        Fault::new("proxy.tls_inspection").set("trusted", trusted)
    }

    /// `dns.nx_domain`: the name does not exist.
    pub fn dns_nx_domain(name: &str) -> Fault {
        Fault::new("dns.nx_domain").names(name)
    }

    /// `dns.serv_fail`: the world's DNS server fails to answer for the name.
    pub fn dns_serv_fail(name: &str) -> Fault {
        Fault::new("dns.serv_fail").names(name)
    }

    /// `pki.expired`: a certificate (name it with `ca`, or `hosts` for leaves) has expired.
    pub fn pki_expired() -> Fault {
        Fault::new("pki.expired")
    }

    /// `pki.revoked`: a certificate is revoked (its CRL and OCSP say so).
    pub fn pki_revoked() -> Fault {
        Fault::new("pki.revoked")
    }

    /// `pki.unknown_issuer`: the selected hosts' certificates chain to a root nobody trusts.
    pub fn pki_unknown_issuer() -> Fault {
        Fault::new("pki.unknown_issuer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // issue 18 #1: a fault built in code goes through the same validation as a file, with the
    // same message; a good one passes.
    #[test]
    fn built_faults_are_validated_like_files() {
        Scenario::healthy().with_fault(Fault::proxy_idle_timeout("60s").hosts("*.manage.microsoft.com")).check().unwrap();
        let e = Scenario::healthy().with_fault(Fault::proxy_idle_timeout("0s")).check().unwrap_err().to_string();
        assert!(e.contains("above zero"), "{e}");
        let e = Scenario::healthy().with_fault(Fault::new("proxy.idle_timout").set("after", "1s")).check().unwrap_err().to_string();
        assert!(e.contains("proxy.idle_timeout"), "names the kinds: {e}");
        let e = Scenario::healthy().named("Bad Name").check().unwrap_err().to_string();
        assert!(e.contains("invalid scenario name"), "{e}");
    }

    #[test]
    fn builtins_round_trip_through_toml() {
        let s = Scenario::builtin("pki-expired-root").unwrap();
        assert_eq!(Scenario::from_toml(&s.to_toml()).unwrap().doc, s.doc);
        s.check().unwrap();
        assert!(Scenario::builtin("nope").unwrap_err().to_string().contains("pki-expired-root"));
    }
}
