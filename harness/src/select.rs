//! Which scenarios a command means: a built-in name, a file, a directory of files, the whole
//! catalog, narrowed by `--filter`; and the checks `memsim check` adds to parsing (what only the
//! catalog knows: CA ids, endpoint-set IDs, allow-list files).

use std::path::PathBuf;

use scenarios::{Scenario, catalog, load_scenario, parse_scenario};

/// The world `memsim up` starts without `--scenario`.
const DEFAULT_WORLD: &str = r#"
name = "healthy"
summary = "A healthy world: every emulated host reachable, every certificate valid"
area = "baseline"
source = "memsim default world"
"#;

/// A scenario by file path or built-in name; `Err` is a message for a bad-input exit.
pub fn resolve_scenario(arg: Option<&str>) -> Result<Scenario, String> {
    let Some(arg) = arg else {
        return parse_scenario(DEFAULT_WORLD, "builtin:default").map_err(|e| e.to_string());
    };
    let path = PathBuf::from(arg);
    if path.is_file() {
        return load_scenario(&path).map_err(|e| e.to_string());
    }
    match catalog::find(arg) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let names: Vec<String> = catalog::load_all().unwrap_or_default().iter().map(|s| s.name.to_string()).collect();
            Err(format!("unknown scenario `{arg}`: not a file, nor a built-in scenario ({})", names.join(", ")))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The scenarios a `run` selects: files, directories, built-in names (default: the catalog).
pub fn select(paths: &[String], filter: Option<&str>) -> Result<Vec<Scenario>, String> {
    let mut all = Vec::new();
    if paths.is_empty() {
        all = catalog::load_all().map_err(|e| e.to_string())?;
    }
    for p in paths {
        let path = PathBuf::from(p);
        if path.is_dir() {
            let mut files = Vec::new();
            toml_files(&path, &mut files);
            files.sort();
            for f in files {
                all.push(check_one(&f)?);
            }
        } else if path.is_file() {
            all.push(check_one(&path)?);
        } else {
            all.push(resolve_scenario(Some(p))?);
        }
    }
    if let Some(f) = filter {
        all.retain(|s| name_matches(s.name.as_str(), f));
    }
    if all.is_empty() {
        return Err(format!("no scenario selected{}", filter.map(|f| format!(" by --filter {f:?}")).unwrap_or_default()));
    }
    Ok(all)
}

fn toml_files(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
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

/// Parse, then check what the model alone cannot: CA ids against the PKI data.
pub fn check_one(path: &std::path::Path) -> Result<Scenario, String> {
    let s = load_scenario(path).map_err(|e| e.to_string())?;
    let pki = s.pki_faults();
    mock_cloud::Pki::validate(&mock_cloud::Catalog::builtin().pki, &s.world, &pki).map_err(|e| format!("{}: {e}", path.display()))?;
    crate::proxy::validate(&s.proxy_faults(), &s.world).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s)
}

pub fn load_for_list(paths: &[PathBuf]) -> Result<Vec<Scenario>, String> {
    if paths.is_empty() {
        return catalog::load_all().map_err(|e| e.to_string());
    }
    paths.iter().map(|p| load_scenario(p).map_err(|e| e.to_string())).collect()
}
