//! One client connection's journal record ([`ConnLog`]: open, target, decision, upstream, fault,
//! close with bytes each way and cause) and the [`Control`] through which a request handler
//! asks the connection's pump to cut it. It decides nothing.

use std::sync::Mutex;
use std::time::Instant;

use scenarios::ProxyFaultKind;
use scenarios::{CloseMethod, Component, Journal, NewEvent};
use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit};

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// Both sides finished normally.
    Closed,
    /// The proxy answered the request itself and closed (a refusal, a bad request).
    Answered,
    /// A kept-alive connection sent no complete next request head within the proxy's limit.
    KeepAliveTimeout,
    ClientError(String),
    UpstreamError(String),
    /// A fault cut it: its kind and how.
    Fault {
        kind: ProxyFaultKind,
        close: CloseMethod,
    },
}

impl Cause {
    pub fn label(&self) -> &str {
        match self {
            Cause::Closed => "closed",
            Cause::Answered => "answered",
            Cause::KeepAliveTimeout => "keep_alive_timeout",
            Cause::ClientError(_) => "client_error",
            Cause::UpstreamError(_) => "upstream_error",
            Cause::Fault { kind, .. } => kind.event(),
        }
    }
}

/// A cut ordered from outside the pump (a request handler that must reset or go silent).
#[derive(Debug, Default)]
pub struct Control {
    order: Mutex<Option<Cause>>,
    notify: Notify,
}

impl Control {
    pub fn cut(&self, cause: Cause) {
        *self.order.lock().unwrap_or_else(|p| p.into_inner()) = Some(cause);
        self.notify.notify_one();
    }

    /// Wait for a cut order.
    pub async fn ordered(&self) -> Cause {
        loop {
            if let Some(c) = self.order.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return c;
            }
            self.notify.notified().await;
        }
    }
}

/// The journal of one connection: every event carries its id and, once known, its host.
#[derive(Debug)]
pub struct ConnLog {
    journal: Journal,
    pub id: u64,
    host: Mutex<Option<String>>,
    opened: Instant,
    /// The connection's slot under the proxy's cap, given back just before `close` is
    /// journaled: whoever reads the `close` can count on the slot being free.
    slot: Mutex<Option<OwnedSemaphorePermit>>,
}

impl ConnLog {
    pub fn open(journal: Journal, id: u64, peer: &str, slot: Option<OwnedSemaphorePermit>) -> ConnLog {
        journal.record(NewEvent::new(Component::Proxy, "open").detail("conn", id).detail("peer", peer));
        ConnLog { journal, id, host: Mutex::new(None), opened: Instant::now(), slot: Mutex::new(slot) }
    }

    pub fn set_host(&self, host: &str) {
        *self.host.lock().unwrap_or_else(|p| p.into_inner()) = Some(host.to_string());
    }

    /// An event about this connection (host and conn id filled in).
    /// The event of a proxy fault that fires on this connection: named after its kind.
    pub fn fired(&self, kind: ProxyFaultKind) -> NewEvent {
        self.event(kind.event()).fault(kind)
    }

    pub fn event(&self, what: &str) -> NewEvent {
        let mut e = NewEvent::new(Component::Proxy, what).detail("conn", self.id);
        if let Some(h) = self.host.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            e = e.host(h);
        }
        e
    }

    pub fn record(&self, e: NewEvent) {
        self.journal.record(e);
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The last event: bytes each way, how long, and the cause (naming the fault).
    pub fn close(&self, cause: &Cause, bytes_up: u64, bytes_down: u64) {
        drop(self.slot.lock().unwrap_or_else(|p| p.into_inner()).take());
        let wall = self.opened.elapsed();
        let mut e = self
            .event("close")
            .detail("cause", cause.label())
            .detail("bytes_up", bytes_up)
            .detail("bytes_down", bytes_down)
            .detail("wall_ms", wall.as_secs_f64() * 1000.0)
            .detail("sim_ms", self.journal.clock().to_sim(wall).0.as_secs_f64() * 1000.0);
        match cause {
            Cause::Fault { kind, close, .. } => e = e.fault(*kind).detail("close", close_str(*close)),
            Cause::ClientError(m) | Cause::UpstreamError(m) => e = e.detail("error", Value::from(m.as_str())),
            _ => {}
        }
        self.journal.record(e);
    }
}

pub fn close_str(c: CloseMethod) -> &'static str {
    match c {
        CloseMethod::Fin => "fin",
        CloseMethod::Rst => "rst",
        CloseMethod::Drop => "drop",
    }
}
