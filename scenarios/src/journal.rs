//! The journal: every DNS query, connection, TLS handshake, HTTP exchange and fired fault of a
//! world, as one structured event each. Expectations, reports and exports all read it.
//!
//! The event model lives in this leaf crate so that every component writes the same shape
//! and the scenario model can match on it; the harness merges them into one journal.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{Clock, FaultKind, ProxyFaultKind};

/// Which part of the world saw the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    World,
    Pki,
    Tls,
    Http,
    Dns,
    Proxy,
    Client,
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
        }
    }
}

/// Every kind of event a world journals, by component, besides the fault events derived from
/// the fault-kind enums ([`kinds_of`] has both): the `what` an expectation may name. Emitters
/// use only these (checked when a debug build records an event), so an expectation with a
/// misspelt kind is an error, not a check that can never fail.
pub const KINDS: &[(Component, &[&str])] = &[
    (Component::World, &["starting", "ready"]),
    (Component::Pki, &["generated", "revoked", "restored", "crl_served", "crl_unavailable", "ocsp_response"]),
    (Component::Tls, &["handshake", "handshake_failed", "handshake_refused", "closed_without_request"]),
    (Component::Http, &["request", "misdirected", "content", "content_aborted", "action_queued", "notifications_delivered", "poll_started", "poll_abandoned"]),
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
            // and one event per proxy fault kind (`ProxyFaultKind::event`), from `kinds_of`
        ],
    ),
    (Component::Client, &[]),
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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Event {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
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

/// An event before the journal stamps it.
#[derive(Debug, Clone)]
pub struct NewEvent {
    component: Component,
    what: String,
    host: Option<String>,
    fault: Option<String>,
    detail: Map<String, Value>,
}

impl NewEvent {
    pub fn new(component: Component, what: impl Into<String>) -> Self {
        NewEvent { component, what: what.into(), host: None, fault: None, detail: Map::new() }
    }

    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The fault that caused or shaped the event: the journal is where its kind becomes a name.
    pub fn fault(mut self, fault: impl Into<FaultKind>) -> Self {
        self.fault = Some(fault.into().name().to_string());
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_string(), value.into());
        self
    }
}

type Listener = Box<dyn Fn(&Event) + Send + Sync>;

/// A world's journal: cheap to clone, shared by every component.
#[derive(Clone)]
pub struct Journal(Arc<Inner>);

/// How many events a journal keeps. Past it the oldest tenth is dropped (and counted), so a
/// world kept up for days, or a load test, cannot exhaust memory.
pub const CAPACITY: usize = 1_000_000;

#[derive(Default)]
struct Events {
    /// A ring: dropping the oldest tenth moves nothing.
    kept: VecDeque<Event>,
    /// Events dropped from the front; `seq` keeps counting across them.
    dropped: u64,
}

struct Inner {
    clock: Clock,
    capacity: usize,
    events: Mutex<Events>,
    listeners: Mutex<Vec<Listener>>,
    /// Connections and exchanges still in flight, so a reader can wait for the world to settle
    /// (a server records a client's rejection a moment after the client has given up).
    active: Mutex<usize>,
    settled: Condvar,
}

/// One unit of work in flight (a connection, a query). Dropping it ends it.
#[derive(Debug)]
pub struct Activity(Journal);

impl Drop for Activity {
    fn drop(&mut self) {
        let mut n = self.0.0.active.lock().unwrap_or_else(|p| p.into_inner());
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.0.0.settled.notify_all();
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("events", &self.len()).finish()
    }
}

impl Journal {
    pub fn new(clock: Clock) -> Self {
        Journal::with_capacity(clock, CAPACITY)
    }

    /// A journal that keeps at most `capacity` events (at least 10).
    pub fn with_capacity(clock: Clock, capacity: usize) -> Self {
        Journal(Arc::new(Inner {
            clock,
            capacity: capacity.max(10),
            events: Mutex::new(Events::default()),
            listeners: Mutex::new(Vec::new()),
            active: Mutex::new(0),
            settled: Condvar::new(),
        }))
    }

    /// Mark work in flight until the returned guard drops.
    pub fn begin(&self) -> Activity {
        *self.0.active.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Activity(self.clone())
    }

    /// Block until no work is in flight or `timeout` passes; true when settled. Blocking:
    /// call it from a blocking context (`spawn_blocking`).
    pub fn wait_settled(&self, timeout: Duration) -> bool {
        let n = self.0.active.lock().unwrap_or_else(|p| p.into_inner());
        let (n, _) = self.0.settled.wait_timeout_while(n, timeout, |n| *n > 0).unwrap_or_else(|p| p.into_inner());
        *n == 0
    }

    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// Stamp and append an event, then tell the listeners; gives the event's `seq`.
    pub fn record(&self, e: NewEvent) -> u64 {
        debug_assert!(is_kind_of(e.component, &e.what), "journal event kind `{}` of `{}` is not in journal::KINDS", e.what, e.component.as_str());
        let wall = self.0.clock.wall_elapsed();
        let event = Event {
            seq: 0,
            sim_time: self.0.clock.sim_at(wall),
            wall_ms: wall.as_secs_f64() * 1000.0,
            component: e.component,
            what: e.what,
            host: e.host,
            fault: e.fault,
            detail: e.detail,
        };
        // Listeners are told in order (the lock is held), and without a copy when there are none.
        let listeners = self.0.listeners.lock().unwrap_or_else(|p| p.into_inner());
        let mut events = self.0.events.lock().unwrap_or_else(|p| p.into_inner());
        if events.kept.len() >= self.0.capacity {
            let n = self.0.capacity / 10;
            events.kept.drain(..n);
            events.dropped += n as u64;
        }
        let seq = events.dropped + events.kept.len() as u64;
        events.kept.push_back(Event { seq, ..event });
        if !listeners.is_empty() {
            let event = events.kept.back().cloned().expect("just pushed");
            drop(events);
            for l in listeners.iter() {
                l(&event);
            }
        }
        seq
    }

    /// Call `f` for every event recorded from now on (e.g. to wake a waiter).
    pub fn subscribe(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.0.listeners.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(f));
    }

    /// Events kept (see [`CAPACITY`]).
    pub fn len(&self) -> usize {
        self.0.events.lock().unwrap_or_else(|p| p.into_inner()).kept.len()
    }

    /// Events dropped from the front because the journal reached [`CAPACITY`].
    pub fn dropped(&self) -> u64 {
        self.0.events.lock().unwrap_or_else(|p| p.into_inner()).dropped
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.0.events.lock().unwrap_or_else(|p| p.into_inner()).kept.iter().cloned().collect()
    }

    /// The first event from `from_seq` on that satisfies `pred`.
    pub fn find(&self, from_seq: u64, pred: impl Fn(&Event) -> bool) -> Option<Event> {
        let events = self.0.events.lock().unwrap_or_else(|p| p.into_inner());
        let skip = from_seq.saturating_sub(events.dropped) as usize;
        events.kept.iter().skip(skip).find(|e| pred(e)).cloned()
    }

    /// The whole journal as JSON lines, one event a line.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for e in self.snapshot() {
            out.push_str(&serde_json::to_string(&e).expect("events serialize"));
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn records_in_order_and_exports_json_lines() {
        let j = Journal::new(Clock::new(OffsetDateTime::UNIX_EPOCH, 1.0));
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        j.subscribe(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
        });
        j.record(NewEvent::new(Component::Tls, "handshake").host("a.example").detail("version", "TLSv1.3"));
        j.record(NewEvent::new(Component::Http, "request").fault(crate::PkiFaultKind::Expired));
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        let lines = j.to_json_lines();
        let parsed: Vec<Event> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].seq, 0);
        assert_eq!(parsed[0].host.as_deref(), Some("a.example"));
        assert_eq!(parsed[0].detail["version"], "TLSv1.3");
        assert_eq!(parsed[1].fault.as_deref(), Some("pki.expired"));
        assert!(j.find(1, |e| e.what == "handshake").is_none());
    }

    #[test]
    fn a_full_journal_drops_its_oldest_tenth_and_keeps_counting() {
        let j = Journal::with_capacity(Clock::new(OffsetDateTime::UNIX_EPOCH, 1.0), 100);
        for i in 0..250 {
            j.record(NewEvent::new(Component::Dns, "query").detail("i", i));
        }
        assert!(j.len() <= 100);
        assert_eq!(j.dropped() + j.len() as u64, 250);
        let events = j.snapshot();
        assert_eq!(events.last().unwrap().seq, 249);
        assert_eq!(events[0].seq, j.dropped());
        assert_eq!(j.find(240, |_| true).unwrap().seq, 240);
    }

    #[test]
    fn waits_for_activity_to_settle() {
        let j = Journal::new(Clock::new(OffsetDateTime::UNIX_EPOCH, 1.0));
        assert!(j.wait_settled(Duration::ZERO));
        let a = j.begin();
        assert!(!j.wait_settled(Duration::from_millis(1)));
        let j2 = j.clone();
        let t = std::thread::spawn(move || j2.wait_settled(Duration::from_secs(10)));
        drop(a);
        assert!(t.join().unwrap());
    }
}
