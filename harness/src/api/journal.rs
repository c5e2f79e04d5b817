//! Waiting on a world's journal from a test (issue 18 #1): [`EventMatcher`] says which event,
//! [`Journal::wait_for`] waits for it without polling.
//!
//! A matcher is the scenario file's event expectation (`scenarios::EventExpectation`: the same
//! keys, the same matching, the same check that a `what` is a kind its component journals),
//! built in code and read through the same deserializer as a file's `[[expect.events]]`.
//!
//! Waiting: one journal listener per world bumps a `watch` channel with each event's seq; a
//! waiter scans the journal's window from where it last looked, then sleeps on the channel
//! until the next event or its deadline. The window is bounded in bytes: when events have left
//! it, the waiter reads the journal file back instead ([`scenarios::Journal::complete`]), so an
//! eviction never hides an event.

use std::cell::Cell;
use std::time::Duration;

use scenarios::{Component, Event, EventExpectation};
use serde_json::{Map, Value};
use tokio::sync::watch;

use super::Error;

/// Which journal events a test waits for or expects: a scenario file's event expectation
/// (`{ component = "tls", what = "handshake_failed", host = "…" }`), built in code.
///
/// ```
/// use memsim::{Component, EventMatcher};
///
/// let m = EventMatcher::new(Component::Proxy).what("open").host("*.manage.microsoft.com");
/// assert_eq!(m.describe()?, "an event with component=proxy what=open host=*.manage.microsoft.com");
/// // Checked as a scenario file's expectation is: the proxy never journals `handshake`.
/// assert!(EventMatcher::new(Component::Proxy).what("handshake").describe().is_err());
/// # Ok::<(), memsim::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EventMatcher {
    keys: Map<String, Value>,
}

impl EventMatcher {
    /// Events of `component`.
    pub fn new(component: Component) -> EventMatcher {
        EventMatcher::any().set("component", component.as_str())
    }

    /// Any event (narrow it with the other methods).
    pub fn any() -> EventMatcher {
        EventMatcher { keys: Map::new() }
    }

    fn set(mut self, key: &str, value: impl Into<Value>) -> EventMatcher {
        self.keys.insert(key.to_string(), value.into());
        self
    }

    /// Of kind `what` (`handshake_failed`, `request`, `open` …; a kind the component journals).
    pub fn what(self, what: &str) -> EventMatcher {
        self.set("what", what)
    }

    /// For a host, or any host under a `*.` wildcard.
    pub fn host(self, pattern: &str) -> EventMatcher {
        self.set("host", pattern)
    }

    /// Naming a fault kind (`pki.expired`, `proxy.idle_timeout` …).
    pub fn fault(self, kind: &str) -> EventMatcher {
        self.set("fault", kind)
    }

    /// Carrying an HTTP status.
    pub fn status(self, status: u16) -> EventMatcher {
        self.set("status", status)
    }

    /// Carrying an HTTP path (compared case-insensitively).
    pub fn path(self, path: &str) -> EventMatcher {
        self.set("path", path)
    }

    /// Whose detail `field` equals `value` (a string, number or boolean; the fields of each
    /// kind are README's "Event details").
    pub fn detail(mut self, field: &str, value: impl Into<Value>) -> EventMatcher {
        self.details().insert(field.to_string(), value.into());
        self
    }

    /// Whose numeric detail `field` lies in `lo..=hi` (a scenario file's
    /// `details = { field = { between = [lo, hi] } }`).
    ///
    /// ```
    /// use memsim::{Component, EventMatcher};
    ///
    /// let cut = EventMatcher::new(Component::Proxy).what("idle_timeout").detail_between("idle_sim_ms", 89_000.0, 91_000.0);
    /// assert!(cut.describe()?.contains("idle_sim_ms between 89000 and 91000"));
    /// assert!(EventMatcher::new(Component::Proxy).what("idle_timeout").detail_between("idle_ms", 1.0, 2.0).describe().is_err());
    /// # Ok::<(), memsim::Error>(())
    /// ```
    pub fn detail_between(mut self, field: &str, lo: f64, hi: f64) -> EventMatcher {
        self.details().insert(field.to_string(), serde_json::json!({ "between": [lo, hi] }));
        self
    }

    fn details(&mut self) -> &mut Map<String, Value> {
        let details = self.keys.entry("details").or_insert_with(|| Value::Object(Map::new()));
        if !details.is_object() {
            *details = Value::Object(Map::new());
        }
        details.as_object_mut().expect("an object")
    }

    /// As an expectation: exactly `n` matching events.
    pub fn count(self, n: u32) -> EventMatcher {
        self.set("count", n)
    }

    /// As an expectation: at least `n` matching events.
    pub fn at_least(self, n: u32) -> EventMatcher {
        self.set("at_least", n)
    }

    /// As an expectation: no matching event at all.
    pub fn absent(self) -> EventMatcher {
        self.set("absent", true)
    }

    /// The matcher as the scenario model's expectation, checked as a file's is.
    pub(crate) fn expectation(&self) -> Result<EventExpectation, Error> {
        let expect: scenarios::Expect = serde_json::from_value(serde_json::json!({ "events": [Value::Object(self.keys.clone())] }))
            .map_err(|e| Error::Scenario(format!("event matcher {}: {e}", Value::Object(self.keys.clone()))))?;
        Ok(expect.events.into_iter().next().expect("one event expectation in, one out"))
    }

    /// The one-line description reports use (`an event with component=tls what=…`), or why
    /// the matcher is invalid.
    pub fn describe(&self) -> Result<String, Error> {
        self.expectation().map(|e| e.describe())
    }

    /// Whether `event` matches (the quantity keys play no part here).
    pub fn matches(&self, event: &Event) -> Result<bool, Error> {
        self.expectation().map(|e| e.matches(event))
    }
}

/// A world's journal as a test sees it: what happened, and waiting for what should.
#[derive(Debug, Clone)]
pub struct Journal {
    pub(crate) journal: scenarios::Journal,
    /// The seq of the latest event, bumped by the world's one journal listener.
    pub(crate) latest: watch::Receiver<u64>,
}

impl Journal {
    /// Listen to `journal`: the one listener a world installs for its waiters.
    pub(crate) fn listen(journal: &scenarios::Journal) -> Journal {
        let (tx, latest) = watch::channel(0);
        journal.subscribe(move |e| {
            tx.send_if_modified(|s| {
                let newer = e.seq > *s;
                *s = (*s).max(e.seq);
                newer
            });
        });
        Journal { journal: journal.clone(), latest }
    }

    /// Every event so far, in seq order (read back from the journal file for those that left
    /// the bounded window in memory).
    pub fn events(&self) -> Result<Vec<Event>, Error> {
        self.journal.complete().map_err(|e| Error::Io { context: "read the journal back".into(), message: e.to_string() })
    }

    /// The first event (already recorded, or recorded within `timeout` of wall time) that
    /// `matcher` matches. On timeout the error names the closest events, as the runner's
    /// near-miss does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), memsim::Error> {
    /// use std::time::Duration;
    /// use memsim::{Component, EventMatcher, Scenario, World};
    ///
    /// let world = World::start(Scenario::healthy()).await?;
    /// let ready = world.journal().wait_for(&EventMatcher::new(Component::World).what("ready"), Duration::from_secs(5)).await?;
    /// assert_eq!(ready.detail["proxy_url"], world.proxy_url());
    /// # Ok(()) }
    /// ```
    pub async fn wait_for(&self, matcher: &EventMatcher, timeout: Duration) -> Result<Event, Error> {
        let expectation = matcher.expectation()?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut latest = self.latest.clone();
        let mut next = 0u64;
        loop {
            // Marked seen before the scan: an event recorded after this wakes the wait below.
            latest.borrow_and_update();
            if let Some(found) = self.scan(&expectation, &mut next)? {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, latest.changed()).await {
                Ok(Ok(())) => {}
                // The world is gone (its listener with it): nothing more will come.
                Ok(Err(_)) | Err(_) => return Err(self.timed_out(&expectation, timeout)),
            }
        }
    }

    /// The first match from seq `next` on; `next` moves past every event looked at.
    fn scan(&self, e: &EventExpectation, next: &mut u64) -> Result<Option<Event>, Error> {
        if self.journal.dropped() > 0 {
            let from = *next;
            let all = self.events()?;
            *next = all.last().map_or(from, |l| l.seq + 1);
            return Ok(all.into_iter().filter(|ev| ev.seq >= from).find(|ev| e.matches(ev)));
        }
        let seen = Cell::new(*next);
        let found = self.journal.find(*next, |ev| {
            seen.set(seen.get().max(ev.seq + 1));
            e.matches(ev)
        });
        *next = seen.get();
        Ok(found)
    }

    fn timed_out(&self, e: &EventExpectation, timeout: Duration) -> Error {
        let events = self.events().unwrap_or_default();
        let result = crate::runner::check_event(e, &events);
        let near: String = result.near.iter().map(|ev| format!("\n    near: {}", crate::runner::report::event_line(ev))).collect();
        Error::Timeout(format!("no {} within {timeout:?}; {}{near}", e.describe().trim_start_matches("an "), result.observed))
    }
}

#[cfg(test)]
mod tests {
    use scenarios::{Clock, NewEvent};

    use super::*;

    fn journal(window: usize) -> (scenarios::Journal, Journal) {
        let j = scenarios::Journal::with_window(Clock::new(time::OffsetDateTime::UNIX_EPOCH, 1.0), window);
        let view = Journal::listen(&j);
        (j, view)
    }

    // issue 18 #1: a waiter wakes on the event recorded after it started waiting (no polling),
    // and finds one recorded before it.
    #[tokio::test]
    async fn wait_for_sees_past_and_future_events() {
        let (j, view) = journal(scenarios::journal::WINDOW_BYTES);
        j.record(NewEvent::new(Component::Proxy, "open"));
        let open = EventMatcher::new(Component::Proxy).what("open");
        assert_eq!(view.wait_for(&open, Duration::from_secs(1)).await.unwrap().seq, 0);
        let later = EventMatcher::new(Component::Proxy).what("request").host("a.example.com");
        let waiting = tokio::spawn({
            let view = view.clone();
            async move { view.wait_for(&later, Duration::from_secs(30)).await }
        });
        tokio::task::yield_now().await;
        j.record(NewEvent::new(Component::Proxy, "request").host("b.example.com"));
        j.record(NewEvent::new(Component::Proxy, "request").host("a.example.com"));
        let found = waiting.await.unwrap().unwrap();
        assert_eq!((found.seq, found.host.as_deref()), (2, Some("a.example.com")));
    }

    // A timeout names the closest events, as the runner's near-miss does.
    #[tokio::test]
    async fn a_timeout_names_the_near_misses() {
        let (j, view) = journal(scenarios::journal::WINDOW_BYTES);
        j.record(NewEvent::new(Component::Proxy, "request").host("b.example.com"));
        let m = EventMatcher::new(Component::Proxy).what("request").host("a.example.com");
        let e = view.wait_for(&m, Duration::from_millis(50)).await.unwrap_err().to_string();
        assert!(e.starts_with("no event with component=proxy what=request host=a.example.com within 50ms; 0 matching event(s)"), "{e}");
        assert!(e.contains("near: ") && e.contains("b.example.com"), "{e}");
    }

    // The journal's window is bounded: events evicted from memory are read back from the file.
    #[tokio::test]
    async fn an_evicted_event_is_still_found() {
        let dir = tempfile::tempdir().unwrap();
        // A small window (not the smallest: at 1 KiB the journal's own eviction marker may not
        // fit beside a line, which its debug assertion catches).
        let (j, view) = journal(8 * 1024);
        j.stream_to(&dir.path().join("journal.jsonl")).unwrap();
        j.record(NewEvent::new(Component::Proxy, "request").host("first.example.com"));
        for _ in 0..300 {
            j.record(NewEvent::new(Component::Proxy, "open"));
        }
        assert!(j.dropped() > 0, "the first event left memory");
        let m = EventMatcher::new(Component::Proxy).what("request").host("first.example.com");
        assert_eq!(view.wait_for(&m, Duration::from_secs(5)).await.unwrap().seq, 0);
    }

    #[test]
    fn a_matcher_is_checked_as_a_files_expectation() {
        let e = EventMatcher::new(Component::Tls).what("open").describe().unwrap_err().to_string();
        assert!(e.contains("the tls component never journals `open` events"), "{e}");
        assert!(EventMatcher::any().host("not a host").describe().unwrap_err().to_string().contains("invalid host pattern"));
    }
}
