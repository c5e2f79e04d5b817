//! Which scenarios a command means: a built-in name, a file, a directory of files, the whole
//! catalog, narrowed by `--filter` — each one put through the one validation step
//! ([`crate::validate`]) before anything runs, built-in scenarios included.

use std::path::{Path, PathBuf};

use mock_cloud::Catalog;
use scenarios::{Scenario, ScenarioError, ScenarioFile, catalog};

use crate::validate::{CheckedScenario, validate};

/// The world `memsim up` starts without `--scenario`.
const DEFAULT_WORLD: &str = r#"
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

/// [`resolve_checked`] against the built-in catalog, for callers that want the scenario.
pub fn resolve_scenario(arg: Option<&str>) -> Result<Scenario, String> {
    let catalog = Catalog::builtin().map_err(|e| e.to_string())?;
    resolve_checked(arg, &catalog).map(CheckedScenario::into_scenario)
}

/// The scenarios a `run` selects: files, directories, built-in names (default: the catalog),
/// every one validated. All problems of every selected file are reported together.
pub fn select(paths: &[String], filter: Option<&str>, catalog: &Catalog) -> Result<Vec<CheckedScenario>, String> {
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
            files.extend(found.iter().map(|f| ScenarioFile::read(f)));
        } else if path.is_file() {
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
    let mut all = Vec::new();
    for f in files {
        match f {
            Ok(f) if filter.is_some_and(|pat| !name_matches(f.scenario.name.as_str(), pat)) => {}
            f => match checked(f, catalog) {
                Ok(c) => all.push(c),
                Err(e) => errors.push(e),
            },
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    if all.is_empty() {
        return Err(format!("no scenario selected{}", filter.map(|f| format!(" by --filter {f:?}")).unwrap_or_default()));
    }
    Ok(all)
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

/// What `memsim list` shows: the catalog, or the given files — validated as `run` would.
pub fn load_for_list(paths: &[PathBuf], catalog: &Catalog) -> Result<Vec<CheckedScenario>, String> {
    if paths.is_empty() {
        return select(&[], None, catalog);
    }
    let (ok, bad): (Vec<_>, Vec<_>) = paths.iter().map(|p| check_file(p, catalog)).partition(Result::is_ok);
    if !bad.is_empty() {
        return Err(bad.into_iter().filter_map(Result::err).collect::<Vec<_>>().join("\n"));
    }
    Ok(ok.into_iter().filter_map(Result::ok).collect())
}
