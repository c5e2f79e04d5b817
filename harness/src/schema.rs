//! Versioned outputs (issue 18 #5): the JSON Schemas of what memsim writes for other programs —
//! `world.json` (and `memsim up`'s ready line's keys) and `memsim run --format json` —
//! generated from the Rust types with `schemars`, so that they cannot say other than the code.
//!
//! They are committed in `harness/schemas/`; the test `harness/tests/schemas.rs` regenerates
//! them and fails when the types have drifted from the files (`MEMSIM_UPDATE_SCHEMAS=1 cargo
//! test -p harness --test schemas` rewrites them). Each document also carries its version in
//! its `schema` key ([`WORLD`], [`REPORT`]): bump it when a change breaks a reader.

/// `world.json`'s `schema` value.
pub const WORLD: &str = crate::describe::SCHEMA;
/// The JSON report's `schema` value.
pub const REPORT: &str = crate::report::REPORT_SCHEMA;

/// Every committed schema: its file name in `harness/schemas/` and its text (pretty JSON and a
/// final newline, as committed).
pub fn all() -> Vec<(&'static str, String)> {
    vec![
        ("world.schema.json", text(&schemars::schema_for!(crate::describe::WorldDescription))),
        ("report.schema.json", text(&schemars::schema_for!(crate::report::JsonReport))),
    ]
}

fn text(schema: &schemars::Schema) -> String {
    let mut s = serde_json::to_string_pretty(schema).expect("a schema serializes");
    s.push('\n');
    s
}
