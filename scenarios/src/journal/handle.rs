//! [`Journal`], the handle every component records through: it stamps each event (seq,
//! simulated and wall time), writes its JSON line to the journal file when the world has one
//! ([`Journal::stream_to`]), keeps it in a window bounded in bytes, and tells the listeners.
//!
//! Memory (issue 11, defect 5): the window keeps the newest [`WINDOW_BYTES`] of JSON lines
//! (see `window.rs`); when it evicts, the journal records a `world`/`journal_dropped` event
//! saying how many events (which seqs, how many bytes) left memory. With a journal file they
//! are still in the file, and [`Journal::complete`] reads them back from it. A panic in a task
//! of the world is journaled (`world`/`panic`) and kept as the world's failure.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::stream::{self, ROTATION, Stream};
use super::window::Window;
use super::{Component, Event, NewEvent, is_kind_of, line};
use crate::Clock;

/// The default window: 8 MiB of JSON lines — some 30,000 typical events, more than any
/// scenario of the catalog journals, and a few minutes of a busy lab world.
pub const WINDOW_BYTES: usize = 8 << 20;
/// The smallest window a journal accepts.
pub const MIN_WINDOW_BYTES: usize = 1024;
/// How long [`Journal::complete`] waits for the file to catch up.
const READ_BACK_FLUSH: Duration = Duration::from_secs(5);

/// A listener, and the one kind of event it wants when it wants only one (then the journal
/// builds an [`Event`] for it only for that kind: issue 20, a busy world journals every
/// query and request, and `memsim up` listens only for panics).
struct Listener {
    only: Option<(Component, &'static str)>,
    call: Box<dyn Fn(&Event) + Send + Sync>,
}

impl Listener {
    fn wants(&self, component: Component, what: &str) -> bool {
        self.only.is_none_or(|(c, w)| c == component && w == what)
    }
}

/// A world's journal: cheap to clone, shared by every component.
#[derive(Clone)]
pub struct Journal(Arc<Inner>);

struct State {
    window: Window,
    stream: Option<Stream>,
}

struct Inner {
    clock: Clock,
    state: Mutex<State>,
    /// Replaced whole on subscribe, so that a recorder takes a snapshot (an `Arc` clone) and
    /// calls the listeners with no lock held: a listener may record in turn.
    listeners: Mutex<Arc<Vec<Arc<Listener>>>>,
    /// Connections and exchanges still in flight, so a reader can wait for the world to settle
    /// (a server records a client's rejection a moment after the client has given up).
    active: Mutex<usize>,
    settled: Condvar,
    /// The first panic of a task of the world: the world failed.
    failure: Mutex<Option<String>>,
}

/// One unit of work in flight (a connection, a query). Dropping it ends it.
#[derive(Debug)]
pub struct Activity(Journal);

impl Drop for Activity {
    fn drop(&mut self) {
        let mut n = lock(&self.0.0.active);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.0.0.settled.notify_all();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("events", &self.len()).field("dropped", &self.dropped()).finish()
    }
}

/// A panic's message, as `std` prints it (`&str` or `String` payloads).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic".into())
}

impl Journal {
    /// A journal in memory only, with the default window.
    pub fn new(clock: Clock) -> Self {
        Journal::with_window(clock, WINDOW_BYTES)
    }

    /// A journal whose window keeps at most `bytes` (at least [`MIN_WINDOW_BYTES`]).
    pub fn with_window(clock: Clock, bytes: usize) -> Self {
        Journal(Arc::new(Inner {
            clock,
            state: Mutex::new(State { window: Window::new(bytes.max(MIN_WINDOW_BYTES)), stream: None }),
            listeners: Mutex::new(Arc::new(Vec::new())),
            active: Mutex::new(0),
            settled: Condvar::new(),
            failure: Mutex::new(None),
        }))
    }

    /// From now on, write every event to `path` (created afresh, rotated by size; see
    /// `stream.rs`). The events already recorded and still in memory are written first.
    pub fn stream_to(&self, path: &Path) -> std::io::Result<()> {
        let stream = Stream::create(path, ROTATION)?;
        let mut state = lock(&self.0.state);
        for (_, line) in state.window.lines() {
            stream.push(line);
        }
        state.stream = Some(stream);
        Ok(())
    }

    /// The journal file, when there is one.
    pub fn file(&self) -> Option<PathBuf> {
        lock(&self.0.state).stream.as_ref().map(|s| s.path().to_path_buf())
    }

    /// Wait (at most `timeout`) until every event recorded so far is in the journal file.
    pub fn flush(&self, timeout: Duration) -> std::io::Result<()> {
        // Not under the state lock: recording goes on while the writer catches up.
        let Some(shared) = lock(&self.0.state).stream.as_ref().map(|s| s.flusher()) else { return Ok(()) };
        shared.flush(timeout)
    }

    /// Write what waits, and stop writing the file (later events stay in memory only).
    pub fn close_file(&self) {
        let stream = lock(&self.0.state).stream.take();
        drop(stream);
    }

    /// Mark work in flight until the returned guard drops.
    pub fn begin(&self) -> Activity {
        *lock(&self.0.active) += 1;
        Activity(self.clone())
    }

    /// Block until no work is in flight or `timeout` passes; true when settled. Blocking:
    /// call it from a blocking context (`spawn_blocking`).
    pub fn wait_settled(&self, timeout: Duration) -> bool {
        let n = lock(&self.0.active);
        let (n, _) = self.0.settled.wait_timeout_while(n, timeout, |n| *n > 0).unwrap_or_else(|p| p.into_inner());
        *n == 0
    }

    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }

    /// The stamp of an event recorded now: simulated time and wall milliseconds since start.
    fn now(&self) -> (time::OffsetDateTime, f64) {
        let wall = self.0.clock.wall_elapsed();
        (self.0.clock.sim_at(wall), wall.as_secs_f64() * 1000.0)
    }

    /// Stamp and append an event, then tell the listeners; gives the event's `seq`.
    pub fn record(&self, mut e: NewEvent) -> u64 {
        debug_assert!(is_kind_of(e.component, &e.what), "journal event kind `{}` of `{}` is not in journal::KINDS", e.what, e.component.as_str());
        // A snapshot of the listeners, called after every lock is released: a listener that
        // records (or subscribes) must not deadlock on a lock this call holds. Concurrent
        // recorders may therefore tell listeners out of `seq` order; events carry their `seq`.
        let listeners = lock(&self.0.listeners).clone();
        // Everything but the stamp is written before the lock is taken.
        line::sort_details(&mut e);
        let mut body = Vec::with_capacity(256);
        line::body(&e, &mut body);
        let mut state = lock(&self.0.state);
        let seq = state.window.next_seq();
        let (sim_time, wall_ms) = self.now();
        let pin = e.component == Component::World && e.what != super::DROPPED;
        let mut told = vec![];
        if let Some(ev) = Self::append(&mut state, line::stamped(seq, sim_time, wall_ms, &body), pin) {
            // The marker: which events left memory, so no reader mistakes the window for the whole.
            let mut marker = NewEvent::new(Component::World, super::DROPPED)
                .detail("events", ev.events)
                .detail("bytes", ev.bytes)
                .detail("first_seq", ev.first_seq)
                .detail("last_seq", ev.last_seq)
                .detail("dropped_total", state.window.dropped())
                .detail("window_bytes", state.window.max_bytes())
                .detail("in_file", state.stream.is_some());
            line::sort_details(&mut marker);
            let mut body = Vec::with_capacity(256);
            line::body(&marker, &mut body);
            let marker_seq = state.window.next_seq();
            let (sim_time, wall_ms) = self.now();
            // At three quarters of the budget after an eviction, one small line cannot evict again.
            let again = Self::append(&mut state, line::stamped(marker_seq, sim_time, wall_ms, &body), false);
            debug_assert!(again.is_none());
            told.push((marker_seq, sim_time, wall_ms, marker));
        }
        drop(state);
        if !listeners.is_empty() {
            for (seq, sim_time, wall_ms, e) in std::iter::once((seq, sim_time, wall_ms, e)).chain(told) {
                if !listeners.iter().any(|l| l.wants(e.component, &e.what)) {
                    continue;
                }
                let event = line::event(seq, sim_time, wall_ms, e);
                for l in listeners.iter().filter(|l| l.wants(event.component, &event.what)) {
                    (l.call)(&event);
                }
            }
        }
        seq
    }

    /// Append a line to the file and the window under the state lock.
    fn append(state: &mut State, line: Box<str>, pin: bool) -> Option<super::window::Eviction> {
        if let Some(s) = &state.stream {
            s.push(&line);
        }
        state.window.push(line, pin)
    }

    /// Journal a panic of one of the world's tasks (`task` says which) and keep it as the
    /// world's failure.
    pub fn record_panic(&self, task: &str, message: &str) -> u64 {
        lock(&self.0.failure).get_or_insert_with(|| format!("a panic in {task}: {message}"));
        self.record(NewEvent::new(Component::World, "panic").detail("task", task).detail("message", message))
    }

    /// The world's failure (its first panic), if any.
    pub fn failure(&self) -> Option<String> {
        lock(&self.0.failure).clone()
    }

    /// Call `f` for every event recorded from now on (e.g. to wake a waiter).
    pub fn subscribe(&self, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.listen(Listener { only: None, call: Box::new(f) });
    }

    /// Call `f` for every event of one kind recorded from now on: cheaper for the journal than
    /// [`Journal::subscribe`] (the other events are never built as [`Event`]s).
    pub fn subscribe_to(&self, component: Component, what: &'static str, f: impl Fn(&Event) + Send + Sync + 'static) {
        self.listen(Listener { only: Some((component, what)), call: Box::new(f) });
    }

    fn listen(&self, l: Listener) {
        let mut listeners = lock(&self.0.listeners);
        let mut next = Vec::clone(&listeners);
        next.push(Arc::new(l));
        *listeners = Arc::new(next);
    }

    /// The `seq` the next event will get: events from here on happened after this call (the
    /// runner splits one world's journal between a scenario's checks by it).
    pub fn next_seq(&self) -> u64 {
        lock(&self.0.state).window.next_seq()
    }

    /// Events in memory.
    pub fn len(&self) -> usize {
        lock(&self.0.state).window.held()
    }

    /// Events recorded that are no longer in memory (see the module doc).
    pub fn dropped(&self) -> u64 {
        lock(&self.0.state).window.dropped()
    }

    /// Bytes the window holds, and its budget.
    pub fn window_bytes(&self) -> (usize, usize) {
        let s = lock(&self.0.state);
        (s.window.bytes(), s.window.max_bytes())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The events in memory, in seq order.
    pub fn snapshot(&self) -> Vec<Event> {
        let state = lock(&self.0.state);
        state.window.lines().map(|(_, l)| parse(l)).collect()
    }

    /// Every event of the world: the window when nothing left memory, else the journal file
    /// read back (every rotated file still on disk, oldest first). Expectations use this, so
    /// an eviction never hides an event from them.
    pub fn complete(&self) -> std::io::Result<Vec<Event>> {
        let Some(path) = self.file().filter(|_| self.dropped() > 0) else { return Ok(self.snapshot()) };
        self.flush(READ_BACK_FLUSH)?;
        let mut out = Vec::new();
        for f in stream::files_oldest_first(&path, ROTATION) {
            let text = std::fs::read_to_string(&f)?;
            for line in text.lines() {
                out.push(serde_json::from_str(line).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", f.display())))?);
            }
        }
        Ok(out)
    }

    /// The first event in memory from `from_seq` on that satisfies `pred`.
    pub fn find(&self, from_seq: u64, pred: impl Fn(&Event) -> bool) -> Option<Event> {
        let state = lock(&self.0.state);
        state.window.lines_from(from_seq).map(|(_, l)| parse(l)).find(|e| pred(e))
    }

    /// The events in memory as JSON lines, one event a line.
    pub fn to_json_lines(&self) -> String {
        let state = lock(&self.0.state);
        let mut out = String::new();
        for (_, l) in state.window.lines() {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

/// A line the journal wrote itself.
fn parse(line: &str) -> Event {
    serde_json::from_str(line).expect("the journal reads back the lines it wrote")
}
