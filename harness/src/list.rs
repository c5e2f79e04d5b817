//! `memsim list`: the scenarios as a table for people, or as JSON for tools choosing which
//! scenarios suit them (issue 13): each scenario's client, its target URL and what any client
//! must observably cause — its expectations outside `probe_only`.

use scenarios::{ClientKind, Scenario};
use serde_json::{Value, json};

use crate::CheckedScenario;

/// Name, area and summary in columns as wide as their widest entry, the source below.
pub fn human(list: &[CheckedScenario]) -> String {
    let name_w = list.iter().map(|s| s.scenario().name.as_str().len()).max().unwrap_or(0);
    let area_w = list.iter().map(|s| s.scenario().area.as_str().len()).max().unwrap_or(0);
    let rows: Vec<String> = list
        .iter()
        .map(CheckedScenario::scenario)
        .map(|s| format!("{:<name_w$}  {:<area_w$}  {}\n{:<name_w$}  {:<area_w$}  source: {}", s.name.as_str(), s.area.as_str(), s.summary, "", "", s.source))
        .collect();
    rows.join("\n")
}

/// One scenario for tools: where it came from, its reference client and target, and the
/// expectations any client is held to. A scenario of several `[[check]]`s lists each under
/// `checks`; the top-level keys are its first check's.
pub fn json(checked: &CheckedScenario) -> Value {
    let s: &Scenario = checked.scenario();
    let mut checks: Vec<Value> = s.checks().map(check).collect();
    let first = checks.first().cloned().unwrap_or_else(|| check_keys(None, &scenarios::Expect::NONE));
    let mut row = json!({
        "name": s.name.as_str(),
        "area": s.area.as_str(),
        "summary": s.summary,
        "source": s.source,
        "origin": checked.origin(),
    });
    let map = row.as_object_mut().expect("an object");
    for key in ["probe", "target", "outcome", "hosts", "requires"] {
        map.insert(key.into(), first[key].clone());
    }
    if s.has_check_list() {
        map.insert("checks".into(), Value::Array(std::mem::take(&mut checks)));
    }
    row
}

/// One check's row: its name, client and what any client must cause.
fn check(c: scenarios::CheckRef<'_>) -> Value {
    let mut row = check_keys(Some(c.client), c.expect);
    row["name"] = c.name.into();
    row
}

fn check_keys(client: Option<&scenarios::ClientSpec>, expect: &scenarios::Expect) -> Value {
    let probe = client.and_then(|c| match &c.kind {
        ClientKind::Probe(p) => Some(p.as_str()),
        ClientKind::Command(_) => None,
    });
    let events: Vec<String> = expect.events.iter().filter(|e| !e.probe_only).map(|e| e.describe()).collect();
    let hosts: std::collections::BTreeSet<String> =
        expect.events.iter().filter(|e| !e.probe_only && !e.absent).filter_map(|e| e.host.as_ref().map(|h| h.to_string())).collect();
    json!({
        "probe": probe,
        "target": client.and_then(|c| c.target.as_deref()),
        "outcome": expect.outcome.map(|o| o.as_str()),
        "hosts": hosts,
        "requires": events,
    })
}
