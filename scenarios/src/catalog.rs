//! The built-in catalog: scenario files embedded at build time from `scenarios/catalog/`.

use crate::{Scenario, ScenarioError, parse_scenario};

include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));

/// Parse every built-in scenario, in file order. A broken built-in file is a build defect, but
/// it is still reported as an error, never a panic.
pub fn load_all() -> Result<Vec<Scenario>, ScenarioError> {
    FILES.iter().map(|(path, text)| parse_scenario(text, &format!("builtin:{path}"))).collect()
}

/// A built-in scenario by its name.
pub fn find(name: &str) -> Result<Option<Scenario>, ScenarioError> {
    Ok(load_all()?.into_iter().find(|s| s.name.as_str() == name))
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
        }
    }
}
