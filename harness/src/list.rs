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
/// expectations any client is held to.
pub fn json(checked: &CheckedScenario) -> Value {
    let s: &Scenario = checked.scenario();
    let client = s.client.as_ref();
    let probe = client.and_then(|c| match &c.kind {
        ClientKind::Probe(p) => Some(p.as_str()),
        ClientKind::Command(_) => None,
    });
    let expect = s.expect.clone().unwrap_or_default();
    let events: Vec<String> = expect.events.iter().filter(|e| !e.probe_only).map(|e| e.describe()).collect();
    let hosts: std::collections::BTreeSet<String> =
        expect.events.iter().filter(|e| !e.probe_only && !e.absent).filter_map(|e| e.host.as_ref().map(|h| h.to_string())).collect();
    json!({
        "name": s.name.as_str(),
        "area": s.area.as_str(),
        "summary": s.summary,
        "source": s.source,
        "origin": checked.origin(),
        "probe": probe,
        "target": client.and_then(|c| c.target.as_deref()),
        "outcome": expect.outcome.map(|o| o.as_str()),
        "hosts": hosts,
        "requires": events,
    })
}
