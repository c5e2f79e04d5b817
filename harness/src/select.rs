//! Which scenarios a command means: a built-in name, a file, a directory of files, the whole
//! catalog, narrowed by `--filter` — each one put through the one validation step
//! ([`crate::validate`]) before anything runs, built-in scenarios included.

use std::path::{Path, PathBuf};

use mock_cloud::Catalog;
use scenarios::{Scenario, ScenarioError, ScenarioFile, catalog};

use crate::validate::{CheckedScenario, validate};

/// The world `memsim up` starts without `--scenario`.
pub(crate) const DEFAULT_WORLD: &str = r#"
name = "healthy"
summary = "A healthy world: every emulated host reachable, every certificate valid"
area = "baseline"
source = "memsim default world"
"#;

/// Every problem of a scenario, one `file:line:column: message` a line: a bad-input exit.
fn lines(errors: &[ScenarioError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}

fn checked(file: Result<ScenarioFile, ScenarioError>, catalog: &Catalog) -> Result<CheckedScenario, String> {
    validate(&file.map_err(|e| e.to_string())?, catalog).map_err(|e| lines(&e))
}

/// Read and validate one scenario file: what `memsim check` does to each file.
pub fn check_file(path: &Path, catalog: &Catalog) -> Result<CheckedScenario, String> {
    checked(ScenarioFile::read(path), catalog)
}

/// A scenario by file path or built-in name (none: the default healthy world), validated;
/// `Err` is a message for a bad-input exit.
pub fn resolve_checked(arg: Option<&str>, catalog: &Catalog) -> Result<CheckedScenario, String> {
    let Some(arg) = arg else {
        return checked(ScenarioFile::parse(DEFAULT_WORLD, "builtin:default"), catalog);
    };
    let path = PathBuf::from(arg);
    if path.is_file() {
        return check_file(&path, catalog);
    }
    match catalog::find_file(arg) {
        Ok(Some(f)) => checked(Ok(f), catalog),
        Ok(None) => {
            let names: Vec<String> = catalog::load_all().unwrap_or_default().iter().map(|s| s.name.to_string()).collect();
            Err(format!("unknown scenario `{arg}`: not a file, nor a built-in scenario ({})", names.join(", ")))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// [`resolve_checked`], for callers that want the scenario. The caller's `catalog` is the one
/// catalog of its invocation (issue 10 #4: this used to load the built-in one again).
pub fn resolve_scenario(arg: Option<&str>, catalog: &Catalog) -> Result<Scenario, String> {
    resolve_checked(arg, catalog).map(CheckedScenario::into_scenario)
}

/// The scenarios a `run` selects: files, directories, built-in names (default: the catalog),
/// every one validated. All problems of every selected file are reported together.
pub fn select(paths: &[String], filter: Option<&str>, catalog: &Catalog) -> Result<Vec<CheckedScenario>, String> {
    let (all, errors) = select_each(paths, filter, catalog)?;
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    if all.is_empty() {
        return Err(format!("no scenario selected{}", filter.map(|f| format!(" by --filter {f:?}")).unwrap_or_default()));
    }
    Ok(all)
}

/// What `run` (and `check`, `list`) select, each file on its own: the scenarios that passed
/// validation and one message per file that did not (or per name two files share). `Err` when
/// the built-in catalog itself cannot be read.
pub fn select_each(paths: &[String], filter: Option<&str>, catalog: &Catalog) -> Result<(Vec<CheckedScenario>, Vec<String>), String> {
    let mut files: Vec<Result<ScenarioFile, ScenarioError>> = Vec::new();
    let mut errors = Vec::new();
    if paths.is_empty() {
        files.extend(catalog::files().map_err(|e| e.to_string())?.into_iter().map(Ok));
    }
    for p in paths {
        let path = PathBuf::from(p);
        if path.is_dir() {
            let mut found = Vec::new();
            toml_files(&path, &mut found);
            found.sort();
            if found.is_empty() {
                errors.push(format!("{p}: the directory holds no .toml scenario file"));
            }
            files.extend(found.iter().map(|f| ScenarioFile::read(f)));
        } else if path.exists() {
            // A file, or something read like one (a pipe, a device: read bounded).
            files.push(ScenarioFile::read(&path));
        } else {
            match catalog::find_file(p) {
                Ok(Some(f)) => files.push(Ok(f)),
                Ok(None) | Err(_) => errors.extend(resolve_checked(Some(p), catalog).err()),
            }
        }
    }
    // A filter narrows by name, so a file that does not parse cannot be filtered out: it is
    // reported whatever the filter says.
    let mut all: Vec<CheckedScenario> = Vec::new();
    for f in files {
        if let Ok(f) = &f
            && filter.is_some_and(|pat| !name_matches(f.scenario.name.as_str(), pat))
        {
            continue;
        }
        let missing = f.as_ref().ok().and_then(expectation_missing).map(|e| e.to_string());
        let c = match (checked(f, catalog), missing) {
            (Ok(c), None) => c,
            (Ok(_), Some(m)) => {
                errors.push(m);
                continue;
            }
            (Err(e), m) => {
                errors.push(m.map_or(e.clone(), |m| format!("{e}\n{m}")));
                continue;
            }
        };
        // Two files of one name would run as one report and one journal, the second
        // overwriting the first (issue 13).
        match all.iter().find(|o| o.scenario().name == c.scenario().name) {
            Some(first) => {
                errors.push(format!("{}: scenario name `{}` is also used by {}; names must be unique in a run", c.origin(), c.scenario().name, first.origin()))
            }
            None => all.push(c),
        }
    }
    Ok((all, errors))
}

/// A scenario that is run must say what runs and what should happen: one `[client]` with its
/// `[expect]`, or `[[check]]`s each with both; without an expectation's `outcome`, a run would
/// silently expect a pass. (`up` starts worlds without either.) Mixing the two forms is
/// `scenarios::validate`'s to report.
fn expectation_missing(f: &ScenarioFile) -> Option<ScenarioError> {
    let s = &f.scenario;
    let (place, message) = if s.has_check_list() {
        let c = s.checks().find(|c| c.expect.outcome.is_none())?;
        (scenarios::place!["check", c.index, "expect"], "this check's `expect` needs `outcome = \"pass\"` or `outcome = \"fail\"`".to_string())
    } else {
        match (&s.client, &s.expect) {
            (None, None) => (
                scenarios::place![],
                "the scenario runs no client: give a [client] with an [expect] table (`outcome = \"pass\"` or `\"fail\"`), or [[check]] entries each with `client` and `expect` tables".into(),
            ),
            (None, Some(_)) => (
                scenarios::place!["expect"],
                "[expect] without a [client]: add the [client] it checks (`probe = \"…\"` or `command = [\"…\"]`), or give [[check]] entries".into(),
            ),
            (Some(_), None) => (scenarios::place![], "the scenario has no [expect] table: add one with `outcome = \"pass\"` or `outcome = \"fail\"`".into()),
            (Some(_), Some(e)) if e.outcome.is_none() => (scenarios::place!["expect"], "[expect] needs `outcome = \"pass\"` or `outcome = \"fail\"`".into()),
            (Some(_), Some(_)) => return None,
        }
    };
    let mut e = f.error(&scenarios::Problem::new(place.clone(), message));
    if place.is_empty() {
        // No table to point at: the end of the file, where it would go.
        e.line = f.line_count() + 1;
        e.column = 1;
    }
    Some(e)
}

/// The `.toml` files below `dir`. Symbolic links to directories are not followed: a link
/// loop would otherwise recurse until the stack overflows.
fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") && p.is_file() {
            out.push(p);
        }
    }
}

/// `*` matches any run of characters; without a `*` the filter is a substring.
fn name_matches(name: &str, filter: &str) -> bool {
    if !filter.contains('*') {
        return name.contains(filter);
    }
    let parts: Vec<&str> = filter.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

/// What `memsim list` shows: the catalog, or the given files, directories and names —
/// selected and validated as `run` would.
pub fn load_for_list(paths: &[String], catalog: &Catalog) -> Result<Vec<CheckedScenario>, String> {
    select(paths, None, catalog)
}

/// The selection narrowed to one `--partition` shard and put in `--shuffle` order (issue 18);
/// without either, unchanged.
pub fn planned(selected: Vec<CheckedScenario>, partition: Option<crate::runner::plan::Partition>, shuffle: Option<u64>) -> Vec<CheckedScenario> {
    let mut selected = match partition {
        Some(p) => p.select(selected, |c| c.scenario().name.as_str()),
        None => selected,
    };
    if let Some(seed) = shuffle {
        crate::runner::plan::shuffle(&mut selected, seed, |c| c.scenario().name.as_str());
    }
    selected
}
