//! The journal: every DNS query, connection, TLS handshake, HTTP exchange and fired fault of a
//! world, as one structured event each. Expectations, reports and exports all read it.
//!
//! The event model lives in this leaf crate so that every component writes the same shape
//! and the scenario model can match on it; the harness merges them into one journal.
//!
//! The journal is a stream (DESIGN.md, "Growing the house"; issue 11): events go to the
//! world's `journal.jsonl` as they happen (`stream.rs`), memory keeps a window bounded in
//! bytes (`window.rs`), and `handle.rs` ties both to the [`Journal`] every component holds.

mod catch;
pub mod fields;
mod handle;
mod line;
pub mod stream;
#[cfg(test)]
mod tests;
mod window;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{FaultKind, ProxyFaultKind};

pub use catch::Catching;
pub use fields::{Field, FieldType, KindFields};
pub use handle::{Activity, Journal, MIN_WINDOW_BYTES, WINDOW_BYTES, panic_message};
pub use window::ENTRY_OVERHEAD;

/// The kind of the marker the journal records when events leave its window in memory.
pub const DROPPED: &str = "journal_dropped";

/// Which part of the world saw the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    World,
    Pki,
    Tls,
    Http,
    Dns,
    Proxy,
    Client,
    // The world's control endpoint: its faults changed while it runs (issue 17). (A plain
    // comment: a doc comment would turn the schema's enum into a oneOf.)
    Control,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::World => "world",
            Component::Pki => "pki",
            Component::Tls => "tls",
            Component::Http => "http",
            Component::Dns => "dns",
            Component::Proxy => "proxy",
            Component::Client => "client",
            Component::Control => "control",
        }
    }
}

/// Every kind of event a world journals, by component, besides the fault events derived from
/// the fault-kind enums ([`kinds_of`] has both): the `what` an expectation may name. Emitters
/// use only these (checked when a debug build records an event), so an expectation with a
/// misspelt kind is an error, not a check that can never fail.
pub const KINDS: &[(Component, &[&str])] = &[
    (Component::World, &["starting", "ready", "journal_dropped", "panic"]),
    (Component::Pki, &["generated", "revoked", "restored", "crl_served", "crl_unavailable", "ocsp_response", "ca_cert_served"]),
    (Component::Tls, &["handshake", "handshake_failed", "handshake_refused", "closed_without_request"]),
    (
        Component::Http,
        &[
            "request",
            "misdirected",
            "content",
            "content_aborted",
            "action_queued",
            "notifications_delivered",
            "poll_started",
            "poll_abandoned",
            "turned_away",
            // The CMG's management point and token service (issue 15): the server-side logs of
            // seed 004 (CCM_STS.log, MP_RegistrationManager.log, ClientAuth.log) as events.
            "ccm_token_issued",
            "ccm_token_refused",
            "client_registered",
            "registration_refused",
            "client_token_renewed",
            "bad_message",
            "bulk_token_minted",
            "bulk_token_refused",
            "bulk_token_blocked",
            "bulk_token_unblocked",
            // Entra ID's authority (issue 12): a token issued, a request refused with its AADSTS code.
            "token_issued",
            "token_refused",
            "discover",
            "policies",
            "enroll",
            "checkin",
            "soap_fault",
            "sign_in",
            // the device services (DRS, Graph, Intune for Linux; issue 12): a bearer token refused
            // (`token_refused` above, with the service and the reason), a request body refused, a
            // device joined or enrolled
            "bad_request",
            "device_joined",
            "device_enrolled",
        ],
    ),
    (Component::Dns, &["query", "malformed"]),
    (
        Component::Proxy,
        &[
            "open",
            "close",
            "request",
            "refused",
            "bad_request",
            "upstream",
            "upstream_failed",
            "allow_list_gaps",
            // a fault a transparent connection cannot show (407), not fired (issue 19)
            "not_applicable",
            // and one event per proxy fault kind (`ProxyFaultKind::event`), from `kinds_of`
        ],
    ),
    // the runner's record of a built-in probe's verdict and measurements (issue 16)
    (Component::Client, &["probe_result"]),
    (Component::Control, &["fault_added", "fault_removed", "fault_changed"]),
];

/// Every kind of event `component` journals: its own kinds, and for the proxy one event per
/// proxy fault kind (the proxy journals a fault that fires as an event named after it).
pub fn kinds_of(component: Component) -> Vec<&'static str> {
    let own = KINDS.iter().filter(|(c, _)| *c == component).flat_map(|(_, kinds)| kinds.iter().copied());
    let faults = ProxyFaultKind::ALL.iter().filter(move |_| component == Component::Proxy).map(|k| k.event());
    own.chain(faults).collect()
}

/// Whether any component journals events of kind `what`.
pub fn is_event_kind(what: &str) -> bool {
    KINDS.iter().any(|(c, _)| is_kind_of(*c, what))
}

/// Whether `component` journals events of kind `what`.
pub fn is_kind_of(component: Component, what: &str) -> bool {
    kinds_of(component).contains(&what)
}

/// One thing that happened, stamped with simulated and wall time.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
pub struct Event {
    pub seq: u64,
    /// Simulated time (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub sim_time: OffsetDateTime,
    /// Wall milliseconds since the world started.
    pub wall_ms: f64,
    pub component: Component,
    /// What happened, e.g. `handshake`, `handshake_failed`, `request`, `misdirected`.
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The fault that caused or shaped this event, by kind (e.g. `pki.expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub detail: Map<String, Value>,
}

/// An event before the journal stamps it. Its details are kept as a list in the order given
/// (issue 20: a map per event cost a node per detail); the journal writes them sorted by key,
/// the last of a repeated key winning, exactly as [`Event`]'s map serializes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    component: Component,
    what: String,
    host: Option<String>,
    fault: Option<&'static str>,
    detail: Vec<(String, Value)>,
}

impl NewEvent {
    pub fn new(component: Component, what: impl Into<String>) -> Self {
        NewEvent { component, what: what.into(), host: None, fault: None, detail: Vec::new() }
    }

    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The fault that caused or shaped the event: the journal is where its kind becomes a name.
    pub fn fault(mut self, fault: impl Into<FaultKind>) -> Self {
        self.fault = Some(fault.into().name());
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.push((key.to_string(), value.into()));
        self
    }
}
