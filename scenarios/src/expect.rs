//! What a scenario expects once its client has ended: outcome, codes, output, journal events.

use serde::{Deserialize, Serialize};

use crate::HostPattern;

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
    }
    Ok(events)
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
