//! The one validation step (issue 10, deliverable 5): a scenario is checked once, before any
//! world starts, the same way for `memsim check`, `run`, `up` and `list`, built-in scenarios
//! included. [`validate`] returns a [`CheckedScenario`] or every problem found, each as
//! `file:line:column: message` pointing at the offending value.
//!
//! Two halves: `scenarios::validate` checks what the scenario alone decides (DNS names, tenant
//! identifiers, expectations that cannot fail); this module adds what only the endpoint catalog
//! knows — CA ids and the PKI's date ranges ([`dates`]), endpoint sets and allow-list files,
//! the DNS zones the tenant's names make, the ASU, the codes and status messages a probe can
//! report. `World::start` still refuses what slips through, as a second line.

mod dates;

use mock_cloud::Catalog;
use scenarios::{CertLevel, CertTarget, Fault, PkiFault, Problem, ProxyRule, Scenario, ScenarioError, ScenarioFile, place};

/// A scenario that passed [`validate`]: only that function makes one.
#[derive(Debug, Clone)]
pub struct CheckedScenario {
    scenario: Scenario,
    origin: String,
}

impl CheckedScenario {
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn into_scenario(self) -> Scenario {
        self.scenario
    }

    /// The file it came from, or `builtin:<path>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Check a parsed scenario against itself and the catalog: the checked scenario, or every
/// problem found, in file order.
pub fn validate(file: &ScenarioFile, catalog: &Catalog) -> Result<CheckedScenario, Vec<ScenarioError>> {
    let s = &file.scenario;
    let mut problems = scenarios::validate::check(s);
    problems.extend(catalog_problems(s, catalog));
    // The zones the tenant's names make, once each name is known to be good (a bad name would
    // be reported twice).
    let clock = scenarios::Clock::new(time::OffsetDateTime::UNIX_EPOCH, s.world.time_scale.0);
    if problems.iter().all(|p| p.place.first() != Some(&scenarios::Step::Key("world")))
        && let Err(e) = crate::dns::zones_for(catalog, &s.world, &clock)
    {
        problems.push(Problem::new(place!["world", "domains"], format!("the tenant's DNS names cannot be built: {e}")));
    }
    if problems.is_empty() {
        // Backstops: the components' own checks, for anything the placed checks above missed.
        if let Err(e) = mock_cloud::Pki::validate(&catalog.pki, &s.world, &s.pki_faults()) {
            problems.push(Problem::new(place!["fault"], e.to_string()));
        }
    }
    if problems.is_empty() {
        return Ok(CheckedScenario { scenario: s.clone(), origin: file.origin.clone() });
    }
    let mut errors: Vec<ScenarioError> = problems.iter().map(|p| file.error(p)).collect();
    errors.sort_by_key(|e| (e.line, e.column));
    Err(errors)
}

fn catalog_problems(s: &Scenario, catalog: &Catalog) -> Vec<Problem> {
    let mut problems = Vec::new();
    let w = &s.world;
    if catalog.asu_region(&w.asu).is_none() {
        let known: Vec<&str> = catalog.asu.regions.iter().flat_map(|r| r.asus.iter().map(String::as_str)).collect();
        problems.push(Problem::new(place!["world", "asu"], format!("unknown ASU `{}`; the catalog's scale units are: {}", w.asu, known.join(", "))));
    }
    for (i, rule) in w.issuers.iter().enumerate() {
        match catalog.pki.cas.iter().find(|c| c.id == rule.ca) {
            None => problems.push(Problem::new(place!["world", "issuer", i, "ca"], unknown_ca(&rule.ca, catalog))),
            Some(ca) if ca.is_root() => {
                problems.push(Problem::new(place!["world", "issuer", i, "ca"], format!("`{}` is a root; leaves are issued by an intermediate", rule.ca)))
            }
            Some(_) => {}
        }
    }
    // The directory the world's Entra builds: a certificate that does not parse is found here.
    let directory = if w.entra.problems().is_empty() {
        mock_cloud::services::entra::Directory::build(&catalog.entra, w).map_err(|e| problems.push(Problem::new(place!["world", "entra"], e))).ok()
    } else {
        None
    };
    let max = catalog.tokens.bulk_registration.max_lifetime_minutes;
    if let Some(l) = w.cmg.regtoken_lifetime.filter(|l| !(1..=max).contains(l)) {
        let why =
            format!("regtoken_lifetime is {l} minutes; the tool makes tokens of 1 to {max} minutes (a larger request is the fault token.lifetime_over_max)");
        problems.push(Problem::new(place!["world", "cmg", "regtoken_lifetime"], why));
    }
    for (i, fault) in s.faults.iter().enumerate() {
        match fault {
            Fault::Pki(f) => problems.extend(pki_fault(f, catalog).map(|(key, m)| Problem::new(place!["fault", i, key], m))),
            Fault::Proxy(f) => {
                let unknown = f.target.endpoint_sets.iter().position(|id| catalog.endpoint_set(*id).is_none());
                if let Some(j) = unknown {
                    let id = f.target.endpoint_sets[j];
                    problems.push(Problem::new(
                        place!["fault", i, "endpoint_sets", j],
                        format!("unknown endpoint set {id}: the Intune endpoint table (seed 002) has no such ID"),
                    ));
                } else if let Err(e) = crate::proxy::validate(std::slice::from_ref(f), w, catalog) {
                    let key = if matches!(f.rule, ProxyRule::AllowList { file: Some(_), .. }) { "file" } else { "kind" };
                    problems.push(Problem::new(place!["fault", i, key], e.to_string()));
                }
            }
            Fault::Entra(f) => {
                if let Some(dir) = &directory {
                    problems.extend(entra_target(f, dir).map(|(key, j, m)| Problem::new(place!["fault", i, key, j], m)));
                }
            }
            Fault::Token(scenarios::TokenFault { effect: scenarios::TokenEffect::LifetimeOverMax { lifetime } })
                if *lifetime <= catalog.tokens.bulk_registration.max_lifetime_minutes =>
            {
                let max = catalog.tokens.bulk_registration.max_lifetime_minutes;
                problems.push(Problem::new(
                    place!["fault", i, "lifetime"],
                    format!("{lifetime} minutes is within the tool's maximum of {max}: the tool would make that token"),
                ));
            }
            Fault::Dns(_) | Fault::Service(_) | Fault::Enrollment(_) | Fault::Cmg(_) | Fault::Token(_) => {}
        }
    }
    problems.extend(dates::problems(s, catalog));
    for (index, client, expect) in scenarios::validate::tables(s) {
        if let Some(target) = client.and_then(|c| c.target.as_deref())
            && scenarios::validate::target_url(target).is_ok()
            && let Some(why) = target_problem(target, s, catalog)
        {
            problems.push(Problem::new([scenarios::validate::table_place(s, index, "client"), place!["target"]].concat(), why));
        }
        if let Some(state) = client.and_then(|c| c.state.as_ref()) {
            problems.extend(machine_state_problems(state, s, catalog, &scenarios::validate::table_place(s, index, "client")));
        }
        if let Some(expect) = expect {
            problems.extend(expect_problems(expect, catalog, &scenarios::validate::table_place(s, index, "expect")));
        }
    }
    // `[lab.fixed]` (issue 17): its expectation is checked as `[expect]` is.
    if let Some(expect) = s.lab.as_ref().and_then(|l| l.fixed.as_ref()).and_then(|f| f.expect.as_ref()) {
        problems.extend(expect_problems(expect, catalog, &place!["lab", "fixed", "expect"]));
    }
    problems
}

/// `[client.state]` entries the world cannot make: CAs it does not have (an intermediate store
/// holds intermediates), hosts it does not serve (issue 16).
fn machine_state_problems(state: &scenarios::MachineState, s: &Scenario, catalog: &Catalog, client: &[scenarios::Step]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let at = |rest: Vec<scenarios::Step>| [client.to_vec(), rest].concat();
    for (j, id) in state.intermediates.iter().enumerate() {
        match catalog.pki.cas.iter().find(|c| c.id == *id) {
            None => problems.push(Problem::new(at(place!["state", "intermediates", j]), unknown_ca(id, catalog))),
            Some(ca) if ca.is_root() => problems.push(Problem::new(
                at(place!["state", "intermediates", j]),
                format!("`{id}` is a root: roots are trusted through ca.pem, the intermediate store holds intermediates"),
            )),
            Some(_) => {}
        }
    }
    let hosts = catalog.hosts_for(&s.world);
    for (j, entry) in state.cached.iter().enumerate() {
        match entry {
            scenarios::CachedAnswer::Crl { ca, .. } if !catalog.pki.cas.iter().any(|c| c.id == *ca) => {
                problems.push(Problem::new(at(place!["state", "cached", j, "ca"]), unknown_ca(ca, catalog)));
            }
            scenarios::CachedAnswer::Ocsp { host, .. } => {
                let host = host.to_ascii_lowercase();
                let served = hosts.iter().any(|h| match h.strip_prefix("*.") {
                    Some(base) => host.strip_suffix(base).is_some_and(|l| l.ends_with('.')),
                    None => *h == host,
                });
                if !served {
                    problems.push(Problem::new(at(place!["state", "cached", j, "host"]), format!("`{host}` is no host the world serves a certificate for")));
                }
            }
            _ => {}
        }
        if entry.age().0 > std::time::Duration::from_secs(3650 * 86400) {
            problems.push(Problem::new(
                at(place!["state", "cached", j, "age"]),
                "a cache entry is at most 3650d old: CryptoAPI keeps nothing that long".to_string(),
            ));
        }
    }
    problems
}

/// An Entra fault's targets the tenant's directory does not have: only its users and apps get
/// tokens, so such a fault could never fire (key, index, message).
fn entra_target<'a>(f: &'a scenarios::EntraFault, dir: &'a mock_cloud::services::entra::Directory) -> impl Iterator<Item = (&'static str, usize, String)> + 'a {
    let t = &f.target;
    let users = t.users.iter().enumerate().filter(|(_, u)| dir.user(u).is_none()).map(|(j, u)| {
        let known: Vec<&str> = dir.users.iter().map(|x| x.upn.as_str()).collect();
        ("users", j, format!("the tenant has no user `{u}` (entra.toml and [world.entra] have: {})", known.join(", ")))
    });
    let clients =
        t.clients.iter().enumerate().filter(|(_, c)| dir.app(c).is_none()).map(|(j, c)| {
            ("clients", j, format!("the tenant has no app `{c}`: give a client id of world.json's `entra.apps` or add it in [[world.entra.app]]"))
        });
    let resources = t
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| dir.resource(r.strip_suffix("/.default").unwrap_or(r)).is_none())
        .map(|(j, r)| ("resources", j, format!("the tenant has no resource `{r}`: name an app id URI or app id of entra.toml's resources")));
    users.chain(clients).chain(resources)
}

/// A target whose host the world neither emulates nor has in the tenant's DNS: every fetch of
/// it would be refused by the world's proxy, whatever the scenario says.
fn target_problem(target: &str, s: &Scenario, catalog: &Catalog) -> Option<String> {
    let rest = target.split_once("://").map_or(target, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    let emulated = catalog.hosts_for(&s.world).iter().any(|h| match h.strip_prefix("*.") {
        Some(base) => host.strip_suffix(base).is_some_and(|l| l.ends_with('.')),
        None => *h == host,
    });
    let tenant = s.world.domains.iter().any(|d| {
        let d = d.to_ascii_lowercase();
        host == d || host.strip_suffix(&d).is_some_and(|l| l.ends_with('.'))
    });
    (!emulated && !tenant)
        .then(|| format!("target host `{host}` is neither emulated by the world nor a name in the tenant's domains ({})", s.world.domains.join(", ")))
}

fn unknown_ca(id: &str, catalog: &Catalog) -> String {
    let known: Vec<&str> = catalog.pki.cas.iter().map(|c| c.id.as_str()).collect();
    format!("unknown CA `{id}`; the CAs are: {}", known.join(", "))
}

/// What the PKI data refuses in one certificate fault, and the key that says it.
fn pki_fault(f: &PkiFault, catalog: &Catalog) -> Option<(&'static str, String)> {
    match (f, f.target()) {
        (PkiFault::Revoked { .. }, CertTarget::Hosts(_, CertLevel::Root)) => {
            Some(("level", "pki.revoked at level = \"root\": a root is not revoked; distrust it (pki.unknown_issuer) or expire it".into()))
        }
        (_, CertTarget::Ca(id)) => match catalog.pki.cas.iter().find(|c| c.id == id) {
            None => Some(("ca", unknown_ca(id, catalog))),
            Some(ca) if ca.is_root() && matches!(f, PkiFault::Revoked { .. }) => Some(("ca", format!("pki.revoked: `{id}` is a root; name an intermediate"))),
            Some(ca) if !ca.is_root() && matches!(f, PkiFault::UnknownIssuer { .. }) => {
                Some(("ca", format!("pki.unknown_issuer: `{id}` is not a root; name the root to distrust")))
            }
            Some(_) => None,
        },
        _ => None,
    }
}

/// Codes and status messages no probe reports, and patterns that do not compile, could never
/// match: the expectation would fail for a typo (or, negated, hold for ever).
fn expect_problems(e: &scenarios::Expect, catalog: &Catalog, table: &[scenarios::Step]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let at = |rest: Vec<scenarios::Step>| [table.to_vec(), rest].concat();
    if let Some(code) = &e.code {
        match crate::probes::CodeBook::load(&catalog.codes) {
            Ok(book) if book.is_reportable(code) => {}
            // The sign-in probe reports the AADSTS code the authority answered (entra.toml).
            Ok(_) if crate::probes::code::aadsts(&catalog.entra, code).is_some() => {}
            Ok(book) if !code.starts_with("0x") && book.is_reportable(&format!("0x{code}")) => {
                problems.push(Problem::new(at(place!["code"]), format!("write the code in hex with its prefix, as the probes report it: \"0x{code}\"")));
            }
            Ok(_) => {
                let values: Vec<&str> = catalog.codes.codes.iter().map(|c| c.value.as_str()).collect();
                let message = format!(
                    "no probe reports code `{code}`; the codes are: {} (and 0x8019 + an HTTP status, and the AADSTS codes of entra.toml)",
                    values.join(", ")
                );
                problems.push(Problem::new(at(place!["code"]), message));
            }
            Err(err) => problems.push(Problem::new(at(place!["code"]), err.to_string())),
        }
    }
    if let Some(id) = e.status_message
        && !catalog.codes.status_messages.iter().any(|m| m.id == id)
    {
        let ids: Vec<String> = catalog.codes.status_messages.iter().map(|m| m.id.to_string()).collect();
        problems.push(Problem::new(at(place!["status_message"]), format!("no probe raises status message {id}; they are: {}", ids.join(", "))));
    }
    for (key, patterns) in [("stdout_matches", &e.stdout_matches), ("stderr_matches", &e.stderr_matches)] {
        for (i, p) in patterns.iter().enumerate() {
            if let Err(err) = regex_lite::Regex::new(&p.text) {
                problems.push(Problem::new(at(place![key, i]), format!("not a regular expression: {err}")));
            }
        }
    }
    problems
}

/// The one validation step for a running world's faults (issue 17): fault text is checked as
/// the faults of the world's own scenario would be by `memsim check`, with its messages.
#[derive(Debug)]
pub struct FaultChecker {
    base: Scenario,
    catalog: std::sync::Arc<Catalog>,
}

impl FaultChecker {
    pub fn new(scenario: &Scenario, catalog: std::sync::Arc<Catalog>) -> FaultChecker {
        FaultChecker { base: Scenario { faults: Vec::new(), ..scenario.clone() }, catalog }
    }
}

impl scenarios::FaultChecker for FaultChecker {
    fn check(&self, text: &str, origin: &str) -> Result<Vec<Fault>, Vec<ScenarioError>> {
        let file = ScenarioFile::for_faults(&self.base, text, origin).map_err(|e| vec![e])?;
        validate(&file, &self.catalog).map(CheckedScenario::into_scenario).map(|s| s.faults)
    }
}

#[cfg(test)]
mod tests;
