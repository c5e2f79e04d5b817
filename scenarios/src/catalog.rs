//! The built-in catalog: scenario files embedded at build time from `scenarios/catalog/`.

use crate::{Scenario, ScenarioError, ScenarioFile, parse_scenario};

include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));

/// Parse every built-in scenario, in file order. A broken built-in file is a build defect, but
/// it is still reported as an error, never a panic.
pub fn load_all() -> Result<Vec<Scenario>, ScenarioError> {
    FILES.iter().map(|(path, text)| parse_scenario(text, &format!("builtin:{path}"))).collect()
}

/// A built-in scenario by its name.
pub fn find(name: &str) -> Result<Option<Scenario>, ScenarioError> {
    Ok(find_file(name)?.map(|f| f.scenario))
}

/// Every built-in scenario with its text, in file order, for the checks that point into it.
pub fn files() -> Result<Vec<ScenarioFile>, ScenarioError> {
    FILES.iter().map(|(path, text)| ScenarioFile::parse(text, &format!("builtin:{path}"))).collect()
}

/// A built-in scenario file by its scenario's name. A catalog file is named after its scenario
/// (a test holds every file to it), so only that one file is parsed, not the whole catalog.
pub fn find_file(name: &str) -> Result<Option<ScenarioFile>, ScenarioError> {
    let file_name = format!("{name}.toml");
    let Some((path, text)) = FILES.iter().find(|(path, _)| path.rsplit('/').next() == Some(file_name.as_str())) else {
        return Ok(None);
    };
    let file = ScenarioFile::parse(text, &format!("builtin:{path}"))?;
    Ok((file.scenario.name.as_str() == name).then_some(file))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_catalog_file_parses_has_a_header_and_a_unique_name() {
        assert!(!FILES.is_empty());
        let mut names = HashSet::new();
        for (path, text) in FILES {
            let s = parse_scenario(text, path).unwrap_or_else(|e| panic!("{e}"));
            assert!(text.starts_with('#'), "{path}: a scenario file opens with a comment");
            assert!(!s.summary.trim().is_empty() && !s.source.trim().is_empty(), "{path}");
            let stem = path.rsplit('/').next().unwrap().trim_end_matches(".toml");
            assert_eq!(stem, s.name.as_str(), "{path}: file name and scenario name agree");
            assert!(path.starts_with(&format!("{}/", s.area.as_str())), "{path}: grouped by area");
            assert!(names.insert(s.name.clone()), "duplicate name {}", s.name);
            let lab = s.lab.as_ref().unwrap_or_else(|| panic!("{path}: a [lab] section"));
            assert!(!lab.hint.trim().is_empty() && !lab.fix.trim().is_empty(), "{path}: lab hint and fix");
        }
    }

    /// Names are an interface: other tools and lab material refer to them.
    #[test]
    fn the_names_the_issues_promise_are_there() {
        let names: HashSet<String> = FILES.iter().map(|(p, _)| p.rsplit('/').next().unwrap().trim_end_matches(".toml").to_string()).collect();
        for name in [
            "pki-expired-root",
            "pki-expired-intermediate",
            "pki-leaf-not-yet-valid",
            "pki-wrong-host",
            "pki-untrusted-root",
            "pki-incomplete-chain",
            "dns-enrollment-cname-missing",
            "dns-enrollment-cname-nonpreferred",
            "dns-registration-cname-missing",
            "dns-servfail-oobe",
            "proxy-idle-timeout-notification",
            "proxy-auth-required-system",
            "proxy-ssl-inspection-manage",
            "proxy-range-stripped",
            "proxy-scp-blocked",
            "cdn-asu-blocked",
            "revocation-crl-hosts-blocked",
            "revocation-leaf-revoked",
            "revocation-ocsp-try-later",
            "cdn-wrong-region-allowed",
            "updates-content-blocked",
            "healthy-scp-validate",
            "healthy-notification",
            "healthy-win32-download",
            "healthy-endpoints",
            "service-enrollment-503",
            // Issue 12 (Entra ID sign-in).
            "healthy-sign-in",
            "entra-mfa-required-enrollment",
            "entra-ca-noncompliant-device",
            "entra-proxy-blocks-login",
            "entra-tls-inspection-login",
            "entra-clock-skew",
            "entra-key-rollover",
            "entra-throttled",
            "entra-user-not-licensed",
        ] {
            assert!(names.contains(name), "the catalog lacks `{name}`");
        }
        for area in ["baseline", "pki", "revocation", "proxy", "dns", "cdn", "notification", "time", "enrollment", "entra"] {
            assert!(FILES.iter().any(|(p, _)| p.starts_with(&format!("{area}/"))), "no scenario in area `{area}`");
        }
        for probe in crate::Probe::ALL {
            assert!(names.contains(&format!("healthy-{}", probe.as_str())), "no baseline for the `{}` probe", probe.as_str());
        }
    }
}
