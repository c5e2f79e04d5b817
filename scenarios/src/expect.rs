//! What a scenario expects once its client has ended: outcome, codes, output, journal events.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::HostPattern;
use crate::journal::FieldType;

/// What should hold once the client has ended. Every key is optional; each one given is one
/// expectation in the report.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A probe's verdict, or a command's exit status (0 = pass).
    pub outcome: Option<Outcome>,
    /// The probe's error code, e.g. "0x80072F8F" (skipped when a command replaces the probe).
    pub code: Option<String>,
    /// The probe's status message ID, e.g. 11488 (skipped when a command replaces the probe).
    pub status_message: Option<u32>,
    /// Texts the client's output must contain: `"text"`, or `{ text = "…", probe_only = true }`
    /// for the reference probe's own wording (skipped when a command replaces the probe).
    #[serde(default)]
    pub stdout_contains: Vec<TextExpectation>,
    #[serde(default)]
    pub stderr_contains: Vec<TextExpectation>,
    /// Regular expressions (regex-lite syntax) the output must match, written like the texts.
    #[serde(default)]
    pub stdout_matches: Vec<TextExpectation>,
    #[serde(default)]
    pub stderr_matches: Vec<TextExpectation>,
    /// Journal events that must (or, with `absent = true`, must not) have happened.
    #[serde(default, deserialize_with = "events")]
    pub events: Vec<EventExpectation>,
}

impl Expect {
    /// No expectation at all (what `Default` gives, usable in a `static`).
    pub const NONE: Expect = Expect {
        outcome: None,
        code: None,
        status_message: None,
        stdout_contains: Vec::new(),
        stderr_contains: Vec::new(),
        stdout_matches: Vec::new(),
        stderr_matches: Vec::new(),
        events: Vec::new(),
    };
}

/// `{ component = "tls", what = "handshake_failed", host = "*.manage.microsoft.com", fault = "pki.expired" }`
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventExpectation {
    pub component: Option<crate::Component>,
    #[serde(default, deserialize_with = "event_kind")]
    pub what: Option<String>,
    pub host: Option<HostPattern>,
    /// The fault the event names (validated: a kind that exists).
    pub fault: Option<crate::FaultKind>,
    /// The HTTP status the event carries (an `http` `request` journals the status answered).
    pub status: Option<u16>,
    /// The HTTP path the event carries, compared case-insensitively (IIS paths are).
    pub path: Option<String>,
    /// Values the event's details must hold, by field (`scenarios::journal::FIELDS` lists each
    /// kind's): a plain value is compared for equality; `{ between = [lo, hi] }`, `{ at_least = n }`,
    /// `{ at_most = n }` compare a number (inclusive).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, DetailMatch>,
    /// Exactly this many matching events.
    pub count: Option<u32>,
    /// At least this many (default 1 unless `count` or `absent` is given).
    pub at_least: Option<u32>,
    /// No matching event at all.
    #[serde(default)]
    pub absent: bool,
    /// What the built-in probe does rather than what any client must cause (e.g. "the probe
    /// fetched the CRL"): skipped, and reported as skipped, when a command replaces the probe.
    #[serde(default)]
    pub probe_only: bool,
}

/// The event expectations, each naming a kind its component journals (when it names both).
fn events<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EventExpectation>, D::Error> {
    let events = Vec::<EventExpectation>::deserialize(d)?;
    for e in &events {
        if let (Some(c), Some(w)) = (e.component, e.what.as_deref())
            && !crate::journal::is_kind_of(c, w)
        {
            let kinds = crate::journal::kinds_of(c);
            return Err(serde::de::Error::custom(format!(
                "the {} component never journals `{w}` events; it journals: {}",
                c.as_str(),
                if kinds.is_empty() { "nothing".to_string() } else { kinds.join(", ") }
            )));
        }
        for (field, m) in &e.details {
            detail_problem(e, field, m).map_err(serde::de::Error::custom)?;
        }
    }
    Ok(events)
}

/// A `details` entry the events it could match never carry, or a comparison their type cannot
/// make: it could never hold (or, with `absent`, never fail).
fn detail_problem(e: &EventExpectation, field: &str, m: &DetailMatch) -> Result<(), String> {
    let kinds = crate::journal::fields::kinds_matching(e.component, e.what.as_deref());
    let of = match (e.component, e.what.as_deref()) {
        (Some(c), Some(w)) => format!("{} `{w}` events", c.as_str()),
        (None, Some(w)) => format!("`{w}` events"),
        (Some(c), None) => format!("{} events", c.as_str()),
        (None, None) => "any event".to_string(),
    };
    let types: Vec<FieldType> = kinds.iter().flat_map(|k| k.fields.iter().filter(|f| f.name == field).map(|f| f.ty)).collect();
    if types.is_empty() {
        let mut carried: Vec<&str> = kinds.iter().flat_map(|k| k.fields.iter().map(|f| f.name)).collect();
        carried.sort_unstable();
        carried.dedup();
        let carried = if carried.is_empty() { "no details".to_string() } else { carried.join(", ") };
        return Err(format!("`{field}` is not a detail of {of}; they carry: {carried} (README, \"Event details\")"));
    }
    if let Some(want) = m.needs()
        && !types.contains(&want)
    {
        return Err(format!("`{field}` of {of} is {}; `{}` compares {}", types[0].describe(), m.describe().trim(), want.describe()));
    }
    if let DetailMatch::Range(r) = m {
        r.problem().map_err(|why| format!("`{field}`: {why}"))?;
    }
    Ok(())
}

/// What an event's detail must hold: a value, or a range of numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DetailMatch {
    /// `{ between = [lo, hi] }`, `{ at_least = n }`, `{ at_most = n }` (inclusive; may combine).
    Range(NumberRange),
    /// A plain string, number or boolean: the detail equals it.
    Equals(DetailValue),
}

/// A plain value a detail is compared with.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DetailValue {
    Text(String),
    Number(f64),
    Bool(bool),
}

/// Bounds on a number, each inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NumberRange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub between: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_least: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_most: Option<f64>,
}

impl NumberRange {
    fn holds(&self, x: f64) -> bool {
        self.between.is_none_or(|[lo, hi]| lo <= x && x <= hi) && self.at_least.is_none_or(|lo| x >= lo) && self.at_most.is_none_or(|hi| x <= hi)
    }

    /// Bounds that no number meets, or none at all.
    fn problem(&self) -> Result<(), String> {
        let lo = [self.between.map(|b| b[0]), self.at_least].into_iter().flatten().fold(f64::NEG_INFINITY, f64::max);
        let hi = [self.between.map(|b| b[1]), self.at_most].into_iter().flatten().fold(f64::INFINITY, f64::min);
        if *self == NumberRange::default() {
            Err("give `between = [lo, hi]`, `at_least` or `at_most`".into())
        } else if [lo, hi].iter().any(|x| x.is_nan()) || lo > hi {
            Err(format!("no number is at least {lo} and at most {hi}"))
        } else {
            Ok(())
        }
    }
}

impl DetailMatch {
    pub fn matches(&self, v: &serde_json::Value) -> bool {
        match self {
            DetailMatch::Range(r) => v.as_f64().is_some_and(|x| r.holds(x)),
            DetailMatch::Equals(DetailValue::Number(n)) => v.as_f64() == Some(*n),
            DetailMatch::Equals(DetailValue::Text(t)) => v.as_str() == Some(t.as_str()),
            DetailMatch::Equals(DetailValue::Bool(b)) => v.as_bool() == Some(*b),
        }
    }

    /// The type of detail the comparison needs.
    fn needs(&self) -> Option<FieldType> {
        match self {
            DetailMatch::Range(_) | DetailMatch::Equals(DetailValue::Number(_)) => Some(FieldType::Number),
            DetailMatch::Equals(DetailValue::Text(_)) => Some(FieldType::Text),
            DetailMatch::Equals(DetailValue::Bool(_)) => Some(FieldType::Bool),
        }
    }

    /// ` in [89000, 91000]`, `=407`, ` ≥ 5`: after the field's name.
    pub fn describe(&self) -> String {
        match self {
            DetailMatch::Equals(DetailValue::Text(t)) => format!("={t:?}"),
            DetailMatch::Equals(DetailValue::Number(n)) => format!("={n}"),
            DetailMatch::Equals(DetailValue::Bool(b)) => format!("={b}"),
            DetailMatch::Range(r) => {
                let mut parts = Vec::new();
                if let Some([lo, hi]) = r.between {
                    parts.push(format!(" between {lo} and {hi}"));
                }
                if let Some(lo) = r.at_least {
                    parts.push(format!(" at least {lo}"));
                }
                if let Some(hi) = r.at_most {
                    parts.push(format!(" at most {hi}"));
                }
                parts.join(",")
            }
        }
    }
}

impl<'de> Deserialize<'de> for DetailMatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = DetailMatch;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a value the detail equals, or a table `{ between = [lo, hi] }`, `{ at_least = n }`, `{ at_most = n }`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DetailMatch, E> {
                Ok(DetailMatch::Equals(DetailValue::Text(v.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DetailMatch, E> {
                Ok(DetailMatch::Equals(DetailValue::Number(v as f64)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DetailMatch, E> {
                Ok(DetailMatch::Equals(DetailValue::Number(v as f64)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DetailMatch, E> {
                Ok(DetailMatch::Equals(DetailValue::Number(v)))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<DetailMatch, E> {
                Ok(DetailMatch::Equals(DetailValue::Bool(v)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<DetailMatch, A::Error> {
                NumberRange::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(DetailMatch::Range)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// An event kind the world journals (`journal::KINDS`): a misspelt one could never match, and
/// an `absent` check on it could never fail.
fn event_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let what = String::deserialize(d)?;
    if crate::journal::is_event_kind(&what) {
        return Ok(Some(what));
    }
    let known: Vec<String> = crate::journal::KINDS
        .iter()
        .map(|(c, _)| format!("{}: {}", c.as_str(), crate::journal::kinds_of(*c).join(" ")))
        .filter(|l| !l.ends_with(": "))
        .collect();
    Err(serde::de::Error::custom(format!("no component journals `{what}` events; the kinds are ({})", known.join("; "))))
}

impl EventExpectation {
    pub fn matches(&self, e: &crate::Event) -> bool {
        self.component.is_none_or(|c| c == e.component)
            && self.what.as_deref().is_none_or(|w| w == e.what)
            && self.host.as_ref().is_none_or(|h| e.host.as_deref().is_some_and(|eh| h.matches(eh)))
            && self
                .fault
                .map(crate::FaultKind::name)
                .is_none_or(|f| e.fault.as_deref() == Some(f) || e.detail.get("faults").and_then(|v| v.as_array()).is_some_and(|a| a.iter().any(|x| x == f)))
            && self.status.is_none_or(|s| e.detail.get("status").and_then(serde_json::Value::as_u64) == Some(u64::from(s)))
            && self.path.as_deref().is_none_or(|p| e.detail.get("path").and_then(serde_json::Value::as_str).is_some_and(|ep| ep.eq_ignore_ascii_case(p)))
            && self.details.iter().all(|(field, m)| e.detail.get(field).is_some_and(|v| m.matches(v)))
    }

    /// A one-line description: what a support engineer reads in a near-miss.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.component {
            parts.push(format!("component={}", c.as_str()));
        }
        if let Some(w) = &self.what {
            parts.push(format!("what={w}"));
        }
        if let Some(h) = &self.host {
            parts.push(format!("host={h}"));
        }
        if let Some(f) = &self.fault {
            parts.push(format!("fault={f}"));
        }
        if let Some(p) = &self.path {
            parts.push(format!("path={p}"));
        }
        if let Some(s) = self.status {
            parts.push(format!("status={s}"));
        }
        for (field, m) in &self.details {
            parts.push(format!("{field}{}", m.describe()));
        }
        let quantity = match (self.absent, self.count, self.at_least) {
            (true, _, _) => "no event".to_string(),
            (_, Some(n), _) => format!("exactly {n} event(s)"),
            (_, _, Some(n)) => format!("at least {n} event(s)"),
            _ => "an event".to_string(),
        };
        format!("{quantity} with {}", if parts.is_empty() { "any fields".into() } else { parts.join(" ") })
    }
}

/// One text (or pattern) an output must hold. Written as a plain string, or as a table when it
/// is the reference probe's own wording (`{ text = "SHA-256 matches", probe_only = true }`): no
/// other tool prints memsim's sentences, so those are skipped when a command replaces the probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextExpectation {
    pub text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub probe_only: bool,
}

impl TextExpectation {
    /// A text any client's output must hold.
    pub fn any_client(text: impl Into<String>) -> Self {
        TextExpectation { text: text.into(), probe_only: false }
    }
}

impl<'de> Deserialize<'de> for TextExpectation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            text: String,
            #[serde(default)]
            probe_only: bool,
        }
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TextExpectation;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"a string, or a table { text = "…", probe_only = true }"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TextExpectation, E> {
                Ok(TextExpectation::any_client(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TextExpectation, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(TextExpectation { text: t.text, probe_only: t.probe_only })
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
}

/// `"pass"` or `"fail"`; anything else (`outcome = 1`, `"passed"`) names the two values.
impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Outcome;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(r#"`outcome` as "pass" or "fail" (the probe's verdict, or the command's exit status: 0 = "pass")"#)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Outcome, E> {
                match v {
                    "pass" => Ok(Outcome::Pass),
                    "fail" => Ok(Outcome::Fail),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "name = \"d\"\nsummary = \"s\"\narea = \"proxy\"\nsource = \"t\"\n[client]\nprobe = \"notification\"\n[expect]\noutcome = \"fail\"\n";

    fn events(line: &str) -> Result<Vec<EventExpectation>, crate::ScenarioError> {
        crate::parse_scenario(&format!("{HEAD}events = [{line}]\n"), "d.toml").map(|s| s.expect.unwrap().events)
    }

    fn event(detail: serde_json::Value) -> crate::Event {
        let mut e: crate::Event = serde_json::from_value(serde_json::json!({
            "seq": 1, "sim_time": "2026-01-01T00:00:00Z", "wall_ms": 1.0, "component": "proxy", "what": "idle_timeout",
        }))
        .unwrap();
        e.detail = detail.as_object().unwrap().clone();
        e
    }

    // issue 16: numeric expectations on an event's details, inclusive bounds.
    #[test]
    fn numbers_are_held_to_their_bounds_and_values_to_equality() {
        let e =
            &events(r#"{ component = "proxy", what = "idle_timeout", details = { idle_sim_ms = { between = [89000, 91000] }, close = "fin" } }"#).unwrap()[0];
        assert!(e.matches(&event(serde_json::json!({ "idle_sim_ms": 90100.4, "close": "fin" }))));
        assert!(e.matches(&event(serde_json::json!({ "idle_sim_ms": 91000, "close": "fin" }))), "inclusive");
        assert!(!e.matches(&event(serde_json::json!({ "idle_sim_ms": 92500.0, "close": "fin" }))));
        assert!(!e.matches(&event(serde_json::json!({ "idle_sim_ms": 90000.0, "close": "rst" }))));
        assert!(!e.matches(&event(serde_json::json!({ "close": "fin" }))), "a missing detail holds nothing");
        assert!(e.describe().contains("idle_sim_ms between 89000 and 91000") && e.describe().contains("close=\"fin\""), "{}", e.describe());
        let e = &events(r#"{ component = "proxy", what = "idle_timeout", details = { bytes_up = { at_least = 10, at_most = 20 } } }"#).unwrap()[0];
        assert!(e.matches(&event(serde_json::json!({ "bytes_up": 10 }))) && e.matches(&event(serde_json::json!({ "bytes_up": 20 }))));
        assert!(!e.matches(&event(serde_json::json!({ "bytes_up": 21 }))) && !e.matches(&event(serde_json::json!({ "bytes_up": "15" }))));
    }

    #[test]
    fn details_are_checked_against_the_fields_of_the_kind() {
        let err = events(r#"{ component = "proxy", what = "idle_timeout", details = { idle_ms = 1 } }"#).unwrap_err();
        assert!(err.message.contains("`idle_ms` is not a detail of proxy `idle_timeout` events") && err.message.contains("idle_sim_ms"), "{err}");
        assert_eq!(err.line, 9, "{err}");
        let err = events(r#"{ component = "proxy", what = "idle_timeout", details = { close = { at_least = 1 } } }"#).unwrap_err();
        assert!(err.message.contains("`close` of proxy `idle_timeout` events is a text") && err.message.contains("compares a number"), "{err}");
        let err = events(r#"{ component = "proxy", what = "idle_timeout", details = { idle_sim_ms = { between = [2, 1] } } }"#).unwrap_err();
        assert!(err.message.contains("no number is at least 2 and at most 1"), "{err}");
        let err = events(r#"{ component = "proxy", what = "idle_timeout", details = { idle_sim_ms = { betwen = [1, 2] } } }"#).unwrap_err();
        assert!(err.message.contains("unknown key `betwen`") && err.message.contains("`between`"), "{err}");
        let err = events(r#"{ component = "proxy", what = "idle_timeout", details = { idle_sim_ms = {} } }"#).unwrap_err();
        assert!(err.message.contains("give `between = [lo, hi]`"), "{err}");
        // Without `what`, any kind of the component that carries the field will do.
        assert!(events(r#"{ component = "http", details = { status = 200 } }"#).is_ok());
        assert!(events(r#"{ details = { cut_sim_ms = { at_least = 1 } } }"#).is_ok());
        let err = events(r#"{ component = "dns", details = { idle_sim_ms = 1 } }"#).unwrap_err();
        assert!(err.message.contains("not a detail of dns events"), "{err}");
    }
}
