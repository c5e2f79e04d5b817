//! Parsing scenario files, with errors a person can act on: `file:line:column: what was expected`.

use std::path::Path;

use crate::Scenario;

/// A scenario that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct ScenarioError {
    /// The file path, or `builtin:<path>` for a catalog file.
    pub origin: String,
    /// 1-based; 0 when the error has no position (e.g. the file could not be read).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The largest scenario file memsim reads: 1 MiB. The catalog's files are a few KiB; a larger
/// file is a mistake (a log, a binary), and reading it whole cost 30 times its size in memory
/// (issue 11: a 50 MB file took 1.58 GB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A parsed scenario with the text it came from, so that later checks (`crate::validate` and
/// the harness's catalog checks) can point into the file.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub scenario: Scenario,
    /// The file path, or `builtin:<path>` for a catalog file.
    pub origin: String,
    text: String,
    /// Lines the text has ahead of what its author wrote (a `[[fault]]` header put above one
    /// fault's bare keys, see [`ScenarioFile::for_faults`]): taken off every line reported.
    shift: usize,
}

impl ScenarioFile {
    /// Parse TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ScenarioFile, ScenarioError> {
        Ok(ScenarioFile { scenario: parse_scenario(text, origin)?, origin: origin.to_string(), text: text.to_string(), shift: 0 })
    }

    /// Faults for a running world (issue 17): `text` holds `[[fault]]` tables as a scenario file
    /// writes them, or one fault's keys alone (`kind = "proxy.deny"`, `hosts = …`: what `memsim
    /// fault add` takes). The result is `base` with these faults instead of its own, and its
    /// errors point into `text` as written, so the one validation step checks them as it checks
    /// a scenario file.
    pub fn for_faults(base: &Scenario, text: &str, origin: &str) -> Result<ScenarioFile, ScenarioError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Faults {
            #[serde(default, rename = "fault")]
            faults: Vec<crate::Fault>,
        }
        // No table header at all: the keys of one fault.
        let no_fault = || {
            let message = "no fault given: write one fault's keys (kind = \"proxy.deny\" …) or [[fault]] tables".to_string();
            ScenarioError { origin: origin.to_string(), line: 1, column: 1, message }
        };
        if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
            return Err(no_fault());
        }
        let bare = !text.lines().any(|l| l.trim_start().starts_with('['));
        let (doc, shift) = if bare { (format!("[[fault]]\n{text}"), 1) } else { (text.to_string(), 0) };
        let parsed: Faults = toml::from_str(&doc).map_err(|e| toml_error(&doc, origin, &e, shift))?;
        if parsed.faults.is_empty() {
            return Err(no_fault());
        }
        let scenario = Scenario { faults: parsed.faults, ..base.clone() };
        Ok(ScenarioFile { scenario, origin: origin.to_string(), text: doc, shift })
    }

    /// Read and parse a file of at most [`MAX_FILE_BYTES`], without reading more than that.
    /// Relative paths in it (an allow-list `file`, a command's `cwd`) are resolved against the
    /// file's own directory, so a scenario and the files beside it work from anywhere (issue 13).
    pub fn read(path: &Path) -> Result<ScenarioFile, ScenarioError> {
        let origin = path.display().to_string();
        let text = read_scenario_text(path).map_err(|message| ScenarioError { origin: origin.clone(), line: 0, column: 0, message })?;
        let mut file = ScenarioFile::parse(&text, &origin)?;
        if let Some(dir) = path.parent() {
            file.scenario.resolve_paths(dir);
        }
        Ok(file)
    }

    /// How many lines the file's text has.
    pub fn line_count(&self) -> usize {
        self.text.lines().count()
    }

    /// A problem found after parsing, as `file:line:column: message`, pointing at the value its
    /// place names (or the nearest enclosing table or array when the value was left to its
    /// default).
    pub fn error(&self, problem: &crate::Problem) -> ScenarioError {
        let (line, column) = locate(&self.text, &problem.place).map_or((1, 1), |at| line_col(&self.text, at));
        ScenarioError { origin: self.origin.clone(), line: line.saturating_sub(self.shift).max(1), column, message: problem.message.clone() }
    }
}

/// A scenario file's text: [`read_bounded`] with a scenario's name for what it is.
fn read_scenario_text(path: &Path) -> Result<String, String> {
    read_bounded(path, "a scenario file")
}

/// A text file a scenario names or is (a scenario, a customer's allow-list), refused before it
/// is read whole when it is larger than [`MAX_FILE_BYTES`] (by its size, and by a bounded read
/// for files whose size says nothing, e.g. a pipe). `what` names it in the error.
pub fn read_bounded(path: &Path, what: &str) -> Result<String, String> {
    use std::io::Read;
    let too_big = || format!("the file is larger than {} KiB, the most {what} may be", MAX_FILE_BYTES / 1024);
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read file: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read file: {e}"))?;
    if meta.is_dir() {
        return Err("cannot read file: it is a directory".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read file: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| format!("cannot read file: not UTF-8 text ({e})"))
}

/// Parse one scenario from TOML text. `origin` names the text in errors.
pub fn parse_scenario(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
    toml::from_str::<Scenario>(text).map_err(|e| toml_error(text, origin, &e, 0))
}

/// A TOML or serde error as `origin:line:column: message`, `shift` lines taken off.
fn toml_error(text: &str, origin: &str, e: &toml::de::Error, shift: usize) -> ScenarioError {
    let (line, column) = e.span().map(|s| line_col(text, refine(text, s, e.message()))).unwrap_or((1, 1));
    ScenarioError { origin: origin.to_string(), line: line.saturating_sub(shift).max(1), column, message: tidy(e.message()) }
}

/// Read and parse a scenario file (at most [`MAX_FILE_BYTES`]).
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    ScenarioFile::read(path).map(|f| f.scenario)
}

/// The byte offset of the value at `place` in a TOML text: the deepest step of the place the
/// text holds (a key left to its default points at its table).
fn locate(text: &str, place: &[crate::Step]) -> Option<usize> {
    use toml::de::DeValue;
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut best = None;
    let mut table = Some(root.get_ref());
    let mut array: Option<&toml::de::DeArray<'_>> = None;
    for step in place {
        let next = match (step, table, array) {
            (crate::Step::Key(k), Some(t), _) => t.iter().find(|(key, _)| key.get_ref() == k).map(|(_, v)| v),
            (crate::Step::Index(i), _, Some(a)) => a.get(*i),
            _ => None,
        };
        let Some(v) = next else { break };
        best = Some(v.span().start);
        (table, array) = match v.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(a)),
            _ => (None, None),
        };
    }
    best
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Errors inside a buffered table (a fault) carry the table's span; point at the offending
/// token instead when the message quotes one that appears inside that span.
fn refine(text: &str, span: std::ops::Range<usize>, message: &str) -> usize {
    let quoted = message.split('`').nth(1).filter(|q| !q.is_empty());
    // The span of an array-of-tables entry may cover only its header: look up to the next header.
    let rest = text.get(span.start..).unwrap_or_default();
    let end = rest.get(1..).and_then(|r| r.find("\n[")).map_or(rest.len(), |i| i + 1).max(span.len().min(rest.len()));
    // The span of an array of tables may be its first entry's header while the token is in a
    // later entry: then the first place after it that quotes the token.
    match quoted {
        Some(q) => rest[..end].find(q).or_else(|| rest.find(q)).map_or(span.start, |i| span.start + i),
        None => span.start,
    }
}

/// serde's messages name Rust types; say what a scenario author wrote instead.
fn tidy(message: &str) -> String {
    message.trim().replace("unknown field", "unknown key").replace("missing field", "missing key")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "pki-x"
summary = "s"
area = "pki"
source = "seed 001"
"#;

    fn err(text: &str) -> ScenarioError {
        parse_scenario(text, "x.toml").unwrap_err()
    }

    #[test]
    fn minimal_scenario_parses_with_defaults() {
        let s = parse_scenario(GOOD, "x.toml").unwrap();
        assert_eq!(s.name.as_str(), "pki-x");
        assert_eq!(s.world.domains, ["contoso.com", "us.contoso.com", "eu.contoso.com"]);
        assert!(s.faults.is_empty());
    }

    #[test]
    fn unknown_top_level_key_points_at_the_key() {
        let e = err(&format!("{GOOD}sumary = \"typo\"\n"));
        assert_eq!((e.line, e.column), (6, 1), "{e}");
        assert!(e.message.contains("unknown key `sumary`"), "{e}");
        assert!(e.to_string().starts_with("x.toml:6:1: "), "{e}");
    }

    #[test]
    fn unknown_world_key_points_at_the_key() {
        let e = err(&format!("{GOOD}[world]\ntime_scael = 60\n"));
        assert_eq!((e.line, e.column), (7, 1), "{e}");
        assert!(e.message.contains("time_scael"), "{e}");
    }

    #[test]
    fn misspelt_fault_kind_is_rejected_with_the_choices() {
        let e = err(&format!("{GOOD}[[fault]]\nkind = \"pki.expird\"\nca = \"x\"\n"));
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("pki.expird") && e.message.contains("pki.expired"), "{e}");
    }

    /// Issue 10: an expectation's `fault` is validated like its `what`, so an `absent` check on
    /// a misspelt fault cannot pass for ever.
    #[test]
    fn misspelt_fault_in_an_expectation_points_at_it() {
        let e = err(&format!("{GOOD}[expect]\nevents = [{{ component = \"tls\", fault = \"pki.expird\", absent = true }}]\n"));
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("unknown fault kind `pki.expird`") && e.message.contains("pki.expired"), "{e}");
        let ok = parse_scenario(&format!("{GOOD}[expect]\nevents = [{{ fault = \"proxy.idle_timeout\" }}]\n"), "x.toml").unwrap();
        assert_eq!(ok.expect.unwrap().events[0].fault, Some(crate::ProxyFaultKind::IdleTimeout.into()));
    }

    #[test]
    fn unknown_fault_layer_is_rejected() {
        let e = err(&format!("{GOOD}[[fault]]\nkind = \"pkk.expired\"\n"));
        assert!(e.message.contains("unknown fault kind `pkk.expired`"), "{e}");
    }

    #[test]
    fn unknown_key_inside_a_fault_is_rejected() {
        let e = err(&format!("{GOOD}[[fault]]\nkind = \"pki.expired\"\nca = \"x\"\nsinse = \"1d\"\n"));
        assert!(e.message.contains("sinse"), "{e}");
        assert_eq!((e.line, e.column), (9, 1), "{e}");
    }

    #[test]
    fn bad_duration_is_rejected_where_it_stands() {
        let e = err(&format!("{GOOD}[[fault]]\nkind = \"pki.expired\"\nca = \"x\"\nsince = \"3 weeks\"\n"));
        assert!(e.message.contains("invalid duration `3 weeks`"), "{e}");
        assert_eq!((e.line, e.column), (9, 10), "{e}");
    }

    #[test]
    fn fault_target_must_be_exactly_one() {
        let e = err(&format!("{GOOD}[[fault]]\nkind = \"pki.expired\"\n"));
        assert!(e.message.contains("exactly one of `hosts`"), "{e}");
        let e = err(&format!("{GOOD}[[fault]]\nkind = \"pki.expired\"\nca = \"x\"\nhosts = \"a.com\"\n"));
        assert!(e.message.contains("exactly one of `hosts`"), "{e}");
    }

    #[test]
    fn bad_name_and_time_scale_are_rejected() {
        let e = err(&GOOD.replace("pki-x", "PKI X"));
        assert!(e.message.contains("invalid scenario name"), "{e}");
        assert_eq!(e.line, 2);
        let e = err(&format!("{GOOD}[world]\ntime_scale = 0\n"));
        assert!(e.message.contains("invalid time scale"), "{e}");
        assert_eq!((e.line, e.column), (7, 14), "{e}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
        assert_eq!(line_col("ab\ncé\nx", 3), (2, 1));
    }
}
