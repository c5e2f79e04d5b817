//! The checks a parsed scenario must pass that need nothing but the scenario: names the world
//! turns into DNS records (RFC 1035 §2.3.1, RFC 1123 §2.1), the tenant's identifiers, and
//! expectations that could never fail. Each problem names its place in the file (a path of
//! keys and indices), which [`crate::ScenarioFile::error`] turns into `file:line:column`.
//!
//! This is half of the one validation step (issue 10, deliverable 5): the harness adds what
//! only the endpoint catalog knows (CA ids, endpoint sets, PKI dates, codes) and calls both for
//! `check`, `run`, `up` and `list` alike. Ranges of single values (durations, time scale,
//! ports, statuses) are enforced where they are parsed, so serde points at the token.

use crate::{EventExpectation, Scenario};

/// One step of the way to a value in a scenario file: a key or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Key(&'static str),
    Index(usize),
}

impl From<&'static str> for Step {
    fn from(k: &'static str) -> Self {
        Step::Key(k)
    }
}

impl From<usize> for Step {
    fn from(i: usize) -> Self {
        Step::Index(i)
    }
}

/// Something wrong with a scenario that parsed: where it sits and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The keys and indices leading to the offending value, e.g. `fault`, 2, `since`.
    pub place: Vec<Step>,
    pub message: String,
}

/// `place!["fault", i, "since"]`: a place in a scenario file.
#[macro_export]
macro_rules! place {
    ($($step:expr),* $(,)?) => { vec![$($crate::Step::from($step)),*] };
}

impl Problem {
    pub fn new(place: Vec<Step>, message: impl Into<String>) -> Self {
        Problem { place, message: message.into() }
    }
}

/// The longest DNS name (RFC 1035 §3.1: 255 octets on the wire, 253 characters written).
pub const MAX_DNS_NAME: usize = 253;

/// The most simulated months `[world.cmg] months` may ask for.
pub const MAX_CMG_MONTHS: u32 = 1200;

/// Every catalog-free problem of a scenario, in file order.
pub fn check(s: &Scenario) -> Vec<Problem> {
    let mut problems = Vec::new();
    let w = &s.world;
    if w.domains.is_empty() {
        problems.push(Problem::new(place!["world", "domains"], "a tenant has at least one verified domain, e.g. domains = [\"contoso.com\"]"));
    }
    for (i, d) in w.domains.iter().enumerate() {
        if let Err(why) = dns_name(d) {
            problems.push(Problem::new(place!["world", "domains", i], format!("domain `{d}` is not a DNS name: {why}")));
        } else if w.domains[..i].iter().any(|o| o.eq_ignore_ascii_case(d)) {
            problems.push(Problem::new(place!["world", "domains", i], format!("domain `{d}` is listed twice")));
        }
    }
    if let Err(why) = dns_label(&w.cmg_name) {
        problems.push(Problem::new(
            place!["world", "cmg_name"],
            format!("cmg_name `{}` must be one DNS label, as it is the first label of <name>.cloudapp.net: {why}", w.cmg_name),
        ));
    }
    // ConfigMgr site codes are three letters or digits (the MP's SRV record carries it).
    if w.site_code.len() != 3 || !w.site_code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        problems.push(Problem::new(place!["world", "site_code"], format!("site_code `{}` must be three letters or digits, e.g. \"ABC\"", w.site_code)));
    }
    problems.extend(w.entra.problems());
    if !is_guid(&w.tenant_id) {
        problems.push(Problem::new(
            place!["world", "tenant_id"],
            format!("tenant_id `{}` must be a GUID such as \"cdcc5e91-0adf-4a24-82d0-196667f1c081\" (an Entra tenant id)", w.tenant_id),
        ));
    }
    // Every simulated span is at most 100 years (`36525d`); a month of renewal is 30 days.
    if w.cmg.months > MAX_CMG_MONTHS {
        problems.push(Problem::new(place!["world", "cmg", "months"], format!("months is at most {MAX_CMG_MONTHS} (100 years of monthly renewals)")));
    }
    // Entra's organization display name: 1 to 256 characters.
    if w.tenant_name.trim().is_empty() || w.tenant_name.chars().count() > 256 || w.tenant_name.chars().any(char::is_control) {
        problems.push(Problem::new(place!["world", "tenant_name"], "tenant_name must be 1 to 256 characters without control characters"));
    }
    problems.extend(check_problems(s));
    for (index, client, expect) in tables(s) {
        let at = |table: &'static str, rest: &[Step]| [table_place(s, index, table), rest.to_vec()].concat();
        if let Some(Err(why)) = client.and_then(|c| c.target.as_deref()).map(target_url) {
            problems.push(Problem::new(at("client", &place!["target"]), why));
        }
        // issue 13 follow-up: "0s" passed `check` and then timed every client out at once
        // (`--timeout 0s` is refused by the CLI for the same reason).
        if client.and_then(|c| c.timeout).is_some_and(|t| t.0.is_zero()) {
            problems
                .push(Problem::new(at("client", &place!["timeout"]), "a client needs more than no time: give a wall-time timeout above zero, e.g. \"60s\""));
        }
        for (i, e) in expect.iter().flat_map(|e| e.events.iter().enumerate()) {
            problems.extend(event_problem(e).map(|(key, m)| Problem::new(at("expect", &place!["events", i, key]), m)));
        }
    }
    problems.extend(lab_fixed(s));
    problems
}

/// `[lab.fixed]` (issue 17): a probe to rerun, and an expectation that can fail.
fn lab_fixed(s: &Scenario) -> Vec<Problem> {
    let Some(fixed) = s.lab.as_ref().and_then(|l| l.fixed.as_ref()) else { return Vec::new() };
    let mut problems = Vec::new();
    // The probe `memsim lab check` reruns by default: the first check's (harness/src/lab/check.rs).
    let probe = s.checks().next().and_then(|c| match &c.client.kind {
        crate::ClientKind::Probe(p) => Some(*p),
        crate::ClientKind::Command(_) => None,
    });
    if fixed.probe.is_none() && probe.is_none() {
        problems.push(Problem::new(
            place!["lab", "fixed"],
            "the scenario's client is no probe: name the probe whose run proves the fix, e.g. probe = \"scp-validate\"",
        ));
    }
    if let Some(expect) = &fixed.expect {
        for (i, e) in expect.events.iter().enumerate() {
            problems.extend(event_problem(e).map(|(key, m)| Problem::new(place!["lab", "fixed", "expect", "events", i, key], m)));
        }
    }
    problems
}

/// Every `client` and `expect` table to check, with its check's index: each `[[check]]`'s, or
/// the top-level ones (either may be missing; `memsim check` reports that apart).
pub fn tables(s: &Scenario) -> Vec<(usize, Option<&crate::ClientSpec>, Option<&crate::Expect>)> {
    if s.checks.is_empty() {
        vec![(0, s.client.as_ref(), s.expect.as_ref())]
    } else {
        s.checks.iter().enumerate().map(|(i, c)| (i, Some(&c.client), Some(&c.expect))).collect()
    }
}

/// The place of a check's `client` or `expect` table: `check.<index>.<table>` in a scenario
/// listing `[[check]]`s, the top-level table otherwise.
pub fn table_place(s: &Scenario, index: usize, table: &'static str) -> Vec<Step> {
    if s.checks.is_empty() { place![table] } else { place!["check", index, table] }
}

/// The `[[check]]` list's own problems: mixed with `[client]`/`[expect]`, names that are not
/// names, and two checks of one name (their reports would not tell them apart).
fn check_problems(s: &Scenario) -> Vec<Problem> {
    let mut problems = Vec::new();
    if s.checks.is_empty() {
        return problems;
    }
    for table in ["client", "expect"] {
        if (table == "client" && s.client.is_some()) || (table == "expect" && s.expect.is_some()) {
            problems.push(Problem::new(
                place![table],
                format!("[{table}] and [[check]] do not mix: give every client and its expectations as a [[check]] with `client` and `expect` tables"),
            ));
        }
    }
    let names: Vec<&str> = s.checks().map(|c| c.name).collect();
    for (i, c) in s.checks.iter().enumerate() {
        if let Some(name) = &c.name
            && !is_check_name(name)
        {
            problems.push(Problem::new(
                place!["check", i, "name"],
                format!("invalid check name `{name}`: use lower-case letters, digits and dashes, e.g. \"cdn-blocked\""),
            ));
        } else if names[..i].contains(&names[i]) {
            let key = if c.name.is_some() { "name" } else { "client" };
            problems.push(Problem::new(
                place!["check", i, key],
                format!("two checks are named `{}`: give each a distinct `name` (reports and JUnit tell checks apart by it)", names[i]),
            ));
        }
    }
    problems
}

/// A check's name: as a scenario name (1 to 80 lower-case letters, digits and dashes).
fn is_check_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 80 && !s.starts_with('-') && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// An event expectation whose quantities contradict each other or can never fail.
fn event_problem(e: &EventExpectation) -> Option<(&'static str, String)> {
    match (e.absent, e.count, e.at_least) {
        (true, Some(_), _) => Some(("count", "`absent = true` means no event; leave out `count`".into())),
        (true, _, Some(_)) => Some(("at_least", "`absent = true` means no event; leave out `at_least`".into())),
        (_, Some(_), Some(_)) => Some(("at_least", "give `count` (exactly) or `at_least`, not both".into())),
        (_, _, Some(0)) => Some(("at_least", "`at_least = 0` holds whatever happens; write `absent = true` or a number above 0".into())),
        _ => None,
    }
}

/// `[client] target`: an `http://` or `https://` URL whose host is a DNS name, without
/// credentials or a port (the world's proxy takes 80 and 443 to its fronts).
pub fn target_url(url: &str) -> Result<(), String> {
    let example = "e.g. \"https://enterpriseenrollment-s.manage.microsoft.com/EnrollmentServer/Discovery.svc\"";
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return Err(format!("target `{url}` must be an http:// or https:// URL, {example}"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.contains(['@', ':']) {
        return Err(format!("target `{url}`: give the host alone, without credentials or a port, {example}"));
    }
    dns_name(host).map_err(|why| format!("target `{url}`: the host `{host}` is not a DNS name: {why}"))?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("target `{url}` holds a space or control character; percent-encode it (%20)"));
    }
    Ok(())
}

/// A host name as DNS carries it: letters, digits and hyphens (RFC 1123 §2.1), labels of 1 to
/// 63 characters, at most [`MAX_DNS_NAME`] in all, no trailing dot.
pub fn dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".into());
    }
    if name.len() > MAX_DNS_NAME {
        return Err(format!("it is {} characters long; a DNS name has at most {MAX_DNS_NAME}", name.len()));
    }
    if name.ends_with('.') {
        return Err("write it without the trailing dot".into());
    }
    name.split('.').try_for_each(dns_label)
}

/// One DNS label: 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.
pub fn dns_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("it has an empty label (two dots in a row, or a dot at either end)".into());
    }
    if label.len() > 63 {
        return Err(format!("the label `{label}` is longer than 63 characters"));
    }
    if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(format!("the label `{label}` holds a character other than a letter, a digit or `-`"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("the label `{label}` starts or ends with `-`"));
    }
    Ok(())
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in hex digits.
/// `8-4-4-4-12` hex digits: a tenant id, a client id.
pub fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5 && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScenarioFile;

    const HEAD: &str = "name = \"v\"\nsummary = \"s\"\narea = \"dns\"\nsource = \"t\"\n";

    fn problems(extra: &str) -> Vec<String> {
        let f = ScenarioFile::parse(&format!("{HEAD}{extra}"), "v.toml").unwrap_or_else(|e| panic!("{e}"));
        check(&f.scenario).iter().map(|p| f.error(p).to_string()).collect()
    }

    #[test]
    fn the_default_world_has_no_problem() {
        assert_eq!(problems(""), Vec::<String>::new());
    }

    /// issue 11: `domains = ["", "..", "a..b"]` passed `check` and failed `run`.
    #[test]
    fn bad_domains_are_each_reported_where_they_stand() {
        let p = problems("[world]\ndomains = [\"\", \"..\", \"a..b\", \"ok.com\", \"OK.com\", \"x_y.com\", \"-a.com\", \"a.com.\"]\n");
        assert_eq!(p.len(), 7, "{p:#?}");
        assert!(p[0].starts_with("v.toml:6:12: domain `` is not a DNS name: it is empty"), "{}", p[0]);
        assert!(p[1].starts_with("v.toml:6:16: domain `..`"), "{}", p[1]);
        assert!(p[2].contains("`a..b`") && p[2].contains("empty label"), "{}", p[2]);
        assert!(p[3].contains("`OK.com` is listed twice"), "{}", p[3]);
        assert!(p[4].contains("x_y"), "{}", p[4]);
        assert!(p[5].contains("starts or ends with `-`"), "{}", p[5]);
        assert!(p[6].contains("trailing dot"), "{}", p[6]);
        let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        assert!(problems(&format!("[world]\ndomains = [\"{long}\"]\n"))[0].contains("at most 253"));
        assert!(problems(&format!("[world]\ndomains = [\"{}.com\"]\n", "a".repeat(64)))[0].contains("longer than 63"));
        assert!(problems("[world]\ndomains = []\n")[0].contains("at least one verified domain"));
    }

    #[test]
    fn tenant_identifiers_are_checked() {
        let p = problems("[world]\ntenant_id = \"contoso\"\ncmg_name = \"Granite Falls\"\nsite_code = \"ABCD\"\ntenant_name = \"\"\n");
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(p.iter().any(|m| m.starts_with("v.toml:6:13: tenant_id `contoso` must be a GUID")), "{p:#?}");
        assert!(p.iter().any(|m| m.starts_with("v.toml:7:12: cmg_name")), "{p:#?}");
        assert!(p.iter().any(|m| m.starts_with("v.toml:8:13: site_code")), "{p:#?}");
        assert!(p.iter().any(|m| m.starts_with("v.toml:9:15: tenant_name")), "{p:#?}");
    }

    #[test]
    fn cmg_months_are_bounded_where_they_stand() {
        let p = problems("[world.cmg]\nmonths = 5000\n");
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("v.toml:6:10: months is at most 1200"), "{p:#?}");
        assert!(problems("[world.cmg]\nmonths = 3\nmp_id = 1\n").is_empty());
    }

    #[test]
    fn expectations_that_cannot_fail_or_contradict_are_refused() {
        let p = problems("[expect]\nevents = [\n  { component = \"dns\", at_least = 0 },\n  { component = \"dns\", absent = true, count = 1 },\n]\n");
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].starts_with("v.toml:7:35: `at_least = 0`"), "{}", p[0]);
        assert!(p[1].starts_with("v.toml:8:47: `absent = true`"), "{}", p[1]);
    }

    // issue 13 follow-up: `timeout = "0s"` passed `check`, then every client timed out at once.
    #[test]
    fn a_zero_client_timeout_is_refused_where_it_stands() {
        let p = problems("[client]\ncommand = [\"true\"]\ntimeout = \"0s\"\n");
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("v.toml:7:11: a client needs more than no time"), "{}", p[0]);
        assert_eq!(problems("[client]\ncommand = [\"true\"]\ntimeout = \"1s\"\n"), Vec::<String>::new());
    }

    const TWO_CHECKS: &str = "[[check]]\nclient = { probe = \"discovery\" }\nexpect = { outcome = \"pass\" }\n\n[[check]]\nname = \"cdn\"\nclient = { probe = \"win32-download\" }\nexpect = { outcome = \"fail\" }\n";

    // issue 16: several clients against one world, in file order, each named.
    #[test]
    fn checks_iterate_in_file_order_with_their_names() {
        let f = ScenarioFile::parse(&format!("{HEAD}{TWO_CHECKS}"), "v.toml").unwrap();
        assert!(check(&f.scenario).is_empty(), "{:?}", check(&f.scenario));
        let got: Vec<(usize, &str, crate::Outcome)> = f.scenario.checks().map(|c| (c.index, c.name, c.expect.outcome.unwrap())).collect();
        assert_eq!(got, [(0, "discovery", crate::Outcome::Pass), (1, "cdn", crate::Outcome::Fail)]);
        // The one-client form is one check named after its probe.
        let f = ScenarioFile::parse(&format!("{HEAD}[client]\nprobe = \"endpoints\"\n[expect]\noutcome = \"pass\"\n"), "v.toml").unwrap();
        let got: Vec<&str> = f.scenario.checks().map(|c| c.name).collect();
        assert_eq!(got, ["endpoints"]);
        assert!(!f.scenario.has_check_list());
    }

    #[test]
    fn mixing_the_two_forms_is_refused_where_it_stands() {
        let p = problems(&format!("[client]\nprobe = \"discovery\"\n{TWO_CHECKS}"));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("v.toml:5:1: [client] and [[check]] do not mix"), "{}", p[0]);
    }

    #[test]
    fn check_names_must_be_names_and_distinct() {
        let twice = "[[check]]\nclient = { probe = \"discovery\" }\nexpect = { outcome = \"pass\" }\n[[check]]\nclient = { probe = \"discovery\" }\nexpect = { outcome = \"fail\" }\n";
        let p = problems(twice);
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("v.toml:9:10: two checks are named `discovery`"), "{}", p[0]);
        let p = problems(&TWO_CHECKS.replace("\"cdn\"", "\"CDN check\""));
        assert!(p[0].starts_with("v.toml:10:8: invalid check name `CDN check`"), "{p:#?}");
    }

    #[test]
    fn a_check_without_its_expect_is_a_parse_error_at_the_check() {
        let e = ScenarioFile::parse(&format!("{HEAD}[[check]]\nclient = {{ probe = \"discovery\" }}\n"), "v.toml").unwrap_err();
        assert!(e.message.contains("missing key `expect`"), "{e}");
        assert_eq!(e.line, 5, "{e}");
        let e =
            ScenarioFile::parse(&format!("{HEAD}[[check]]\nclient = {{ probe = \"discovery\" }}\nexpect = {{ outcom = \"pass\" }}\n"), "v.toml").unwrap_err();
        assert!(e.message.contains("unknown key `outcom`"), "{e}");
        assert_eq!(e.line, 7, "{e}");
    }

    #[test]
    fn a_check_s_expectations_are_checked_where_they_stand() {
        let p = problems(
            "[[check]]\nclient = { command = [\"true\"], timeout = \"0s\" }\nexpect = { outcome = \"pass\", events = [{ component = \"dns\", at_least = 0 }] }\n",
        );
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p[0].starts_with("v.toml:6:42: a client needs more than no time"), "{}", p[0]);
        assert!(p[1].starts_with("v.toml:7:72: `at_least = 0`"), "{}", p[1]);
    }

    // issue 17: `memsim check` validates `[lab.fixed]`: a probe to rerun, an expectation that can fail.
    #[test]
    fn lab_fixed_needs_a_probe_and_an_expectation_that_can_fail() {
        let lab = "[lab]\nhint = \"h\"\nfix = \"f\"\n[lab.fixed]\n";
        let p = problems(&format!("[client]\ncommand = [\"true\"]\n{lab}"));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("v.toml:10:1: the scenario's client is no probe"), "{}", p[0]);
        assert!(problems(&format!("[client]\ncommand = [\"true\"]\n{lab}probe = \"notification\"\n")).is_empty());
        assert!(problems(&format!("[client]\nprobe = \"notification\"\n{lab}")).is_empty());
        let p = problems(&format!("[client]\nprobe = \"notification\"\n{lab}[lab.fixed.expect]\nevents = [{{ component = \"proxy\", at_least = 0 }}]\n"));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].starts_with("v.toml:12:45: `at_least = 0`"), "{}", p[0]);
        let e = ScenarioFile::parse(&format!("{HEAD}{lab}probe = \"notifcation\"\n"), "v.toml").unwrap_err();
        assert_eq!(e.line, 9, "{e}");
    }

    #[test]
    fn a_place_the_file_leaves_to_its_default_points_at_its_table() {
        let f = ScenarioFile::parse(&format!("{HEAD}[world]\nseed = 1\n"), "v.toml").unwrap();
        let e = f.error(&Problem::new(place!["world", "skew"], "m"));
        assert_eq!((e.line, e.column), (5, 1), "{e}");
        let e = f.error(&Problem::new(place!["fault", 0], "m"));
        assert_eq!((e.line, e.column), (1, 1), "{e}");
    }
}
