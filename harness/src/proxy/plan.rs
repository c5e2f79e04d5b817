//! The connection faults one forwarded connection or request carries: a [`Plan`] is a list of
//! [`ConnFault`]s, each a fault kind and its [`Effect`] in wall time. [`Effect::of`] is the one
//! place a scenario's proxy rule becomes an effect; the pump (shaping, cuts, silence), the
//! tunnel (interception) and the request layer (`Range` stripping) apply effects, never kinds.
//! Adding a connection fault kind is its rule and kind in `scenarios`, one arm in
//! [`Effect::of`], and — only when no existing effect fits — one new effect and where it acts.
//! Toxiproxy's toxics are the model for the mechanisms; nothing here performs I/O.

use std::sync::Arc;
use std::time::Duration;

use scenarios::{Clock, CloseMethod, Direction, ProxyFaultKind, ProxyRule, SimDuration};

use super::ca::InspectionCa;

/// One fault in effect on a connection: its kind (what the journal names) and what it does.
#[derive(Debug, Clone)]
pub struct ConnFault {
    pub kind: ProxyFaultKind,
    pub effect: Effect,
}

/// What a connection fault does, by mechanism.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Every chunk is held back `wall` before it is passed on (a delay line).
    Delay { wall: Duration, direction: Direction },
    /// Data flows at most `rate` wall bytes per second.
    Pace { rate: f64, direction: Direction },
    /// Nothing passes either way and no upstream connection is made; the client is closed
    /// after the delay (`None`: never, it gives up).
    Swallow { close_after: Option<Duration> },
    /// Once `bytes` have gone to the client, the connection is cut.
    CapDown { bytes: u64, close: CloseMethod },
    /// The connection is cut when a timer runs out.
    Cut(Timer),
    /// TLS is terminated by an inspection CA and re-originated (HTTPS front only).
    Intercept(Arc<InspectionCa>),
    /// `Range` and `If-Range` are removed from each request the proxy reads.
    StripRange,
    /// An intercepted tunnel speaks HTTP/1.1 only, both ways (ALPN `http/1.1`).
    Http1Only,
}

/// A cut after a wall delay counted from the connection's start or from its last byte.
#[derive(Debug, Clone, Copy)]
pub struct Timer {
    pub from: Since,
    pub wall: Duration,
    /// The delay as the scenario wrote it, for the journal.
    pub sim: SimDuration,
    pub close: CloseMethod,
}

/// What a [`Timer`] counts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    Open,
    /// The last byte either way: an idle timer.
    LastByte,
}

/// Which way a chunk flows through the pump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

impl Side {
    fn shaped_by(self, d: Direction) -> bool {
        matches!((self, d), (_, Direction::Both) | (Side::Up, Direction::Upstream) | (Side::Down, Direction::Downstream))
    }
}

impl Effect {
    /// The effect of a connection-level rule in wall time, or `None` for a policy rule (the
    /// policy answers those requests itself: deny, allow-list, authentication, status).
    pub fn of(rule: &ProxyRule, clock: &Clock) -> Option<Effect> {
        let wall = |d: SimDuration| clock.to_wall(d);
        let timer = |from, after: SimDuration, close| Effect::Cut(Timer { from, wall: wall(after), sim: after, close });
        Some(match rule {
            ProxyRule::Latency { latency, direction } => Effect::Delay { wall: wall(*latency), direction: *direction },
            ProxyRule::Bandwidth { bytes_per_second, direction } => Effect::Pace { rate: *bytes_per_second as f64 * clock.scale(), direction: *direction },
            ProxyRule::Timeout { after } => Effect::Swallow { close_after: (!after.0.is_zero()).then(|| wall(*after)) },
            ProxyRule::ResetPeer { after } => timer(Since::Open, *after, CloseMethod::Rst),
            ProxyRule::LimitData { bytes, close } => Effect::CapDown { bytes: *bytes, close: *close },
            ProxyRule::IdleTimeout { after, close } => timer(Since::LastByte, *after, *close),
            ProxyRule::MaxLifetime { after, close } => timer(Since::Open, *after, *close),
            ProxyRule::StripRange {} => Effect::StripRange,
            ProxyRule::Http1Only {} => Effect::Http1Only,
            ProxyRule::TlsInspection { .. }
            | ProxyRule::Deny { .. }
            | ProxyRule::AllowList { .. }
            | ProxyRule::AuthRequired { .. }
            | ProxyRule::Status { .. } => {
                return None;
            }
        })
    }
}

/// The connection faults one connection or request carries: at most one of each kind.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub faults: Vec<ConnFault>,
}

impl Plan {
    /// Add a fault unless one of its kind is already in the plan (the first matching rule wins).
    pub fn push(&mut self, fault: ConnFault) {
        if !self.faults.iter().any(|f| f.kind == fault.kind) {
            self.faults.push(fault);
        }
    }

    /// The kinds in effect, for the journal.
    pub fn kinds(&self) -> impl Iterator<Item = ProxyFaultKind> + '_ {
        self.faults.iter().map(|f| f.kind)
    }

    fn find<T>(&self, pick: impl Fn(&Effect) -> Option<T>) -> Option<T> {
        self.faults.iter().find_map(|f| pick(&f.effect))
    }

    /// The delay line on `side`, if any.
    pub fn delay(&self, side: Side) -> Option<Duration> {
        self.find(|e| match e {
            Effect::Delay { wall, direction } if side.shaped_by(*direction) => Some(*wall),
            _ => None,
        })
    }

    /// The pacing rate on `side` (wall bytes per second), if any.
    pub fn pace(&self, side: Side) -> Option<f64> {
        self.find(|e| match e {
            Effect::Pace { rate, direction } if side.shaped_by(*direction) => Some(*rate),
            _ => None,
        })
    }

    /// The fault that swallows everything and when it closes, if any.
    pub fn swallow(&self) -> Option<(ProxyFaultKind, Option<Duration>)> {
        self.faults.iter().find_map(|f| match f.effect {
            Effect::Swallow { close_after } => Some((f.kind, close_after)),
            _ => None,
        })
    }

    /// Whether an upstream connection is worth making: not when nothing would cross it.
    pub fn reaches_upstream(&self) -> bool {
        self.swallow().is_none()
    }

    /// The data cap toward the client: its fault, bytes and close.
    pub fn cap_down(&self) -> Option<(ProxyFaultKind, u64, CloseMethod)> {
        self.faults.iter().find_map(|f| match f.effect {
            Effect::CapDown { bytes, close } => Some((f.kind, bytes, close)),
            _ => None,
        })
    }

    /// Every timer that cuts the connection, with its fault.
    pub fn timers(&self) -> impl Iterator<Item = (ProxyFaultKind, Timer)> + '_ {
        self.faults.iter().filter_map(|f| match f.effect {
            Effect::Cut(t) => Some((f.kind, t)),
            _ => None,
        })
    }

    /// The shortest idle timer, if any: the emulated proxy's own keep-alive limit.
    pub fn idle_limit(&self) -> Option<Duration> {
        self.timers().filter(|(_, t)| t.from == Since::LastByte).map(|(_, t)| t.wall).min()
    }

    /// The fault that intercepts the connection and its inspection CA, if any.
    pub fn interception(&self) -> Option<(ProxyFaultKind, Arc<InspectionCa>)> {
        self.faults.iter().find_map(|f| match &f.effect {
            Effect::Intercept(ca) => Some((f.kind, ca.clone())),
            _ => None,
        })
    }

    /// The fault that keeps an intercepted tunnel on HTTP/1.1, if any.
    pub fn http1_only(&self) -> Option<ProxyFaultKind> {
        self.faults.iter().find(|f| matches!(f.effect, Effect::Http1Only)).map(|f| f.kind)
    }

    /// The fault that strips `Range` and `If-Range` from requests, if any.
    pub fn range_stripping(&self) -> Option<ProxyFaultKind> {
        self.faults.iter().find(|f| matches!(f.effect, Effect::StripRange)).map(|f| f.kind)
    }
}

#[cfg(test)]
mod tests {
    use scenarios::parse_scenario;

    use super::*;

    fn plan(toml: &str, scale: f64) -> Plan {
        let text = format!("name = \"t\"\nsummary = \"s\"\narea = \"proxy\"\nsource = \"t\"\n{toml}");
        let clock = Clock::new(time::OffsetDateTime::UNIX_EPOCH, scale);
        let mut plan = Plan::default();
        for f in parse_scenario(&text, "t.toml").unwrap().proxy_faults() {
            if let Some(effect) = Effect::of(&f.rule, &clock) {
                plan.push(ConnFault { kind: f.kind(), effect });
            }
        }
        plan
    }

    #[test]
    fn every_connection_rule_becomes_one_effect_in_wall_time() {
        let p = plan(
            "[[fault]]\nkind = \"proxy.idle_timeout\"\nafter = \"60s\"\n[[fault]]\nkind = \"proxy.idle_timeout\"\nafter = \"1s\"\n\
             [[fault]]\nkind = \"proxy.latency\"\nlatency = \"6s\"\ndirection = \"upstream\"\n[[fault]]\nkind = \"proxy.reset_peer\"\nafter = \"2m\"\n\
             [[fault]]\nkind = \"proxy.deny\"\nports = [80]\n[[fault]]\nkind = \"proxy.strip_range\"\n",
            60.0,
        );
        let kinds: Vec<ProxyFaultKind> = p.kinds().collect();
        assert_eq!(kinds, [ProxyFaultKind::IdleTimeout, ProxyFaultKind::Latency, ProxyFaultKind::ResetPeer, ProxyFaultKind::StripRange]);
        assert_eq!(p.idle_limit(), Some(Duration::from_secs(1)), "the first idle_timeout wins: 60 s at scale 60");
        assert_eq!((p.delay(Side::Up), p.delay(Side::Down)), (Some(Duration::from_millis(100)), None));
        let (_, reset) = p.timers().find(|(k, _)| *k == ProxyFaultKind::ResetPeer).unwrap();
        assert_eq!((reset.from, reset.wall, reset.close), (Since::Open, Duration::from_secs(2), CloseMethod::Rst));
        assert!(p.range_stripping() == Some(ProxyFaultKind::StripRange) && p.reaches_upstream() && p.interception().is_none());
        let swallowing = plan("[[fault]]\nkind = \"proxy.timeout\"\n", 1.0);
        assert_eq!(swallowing.swallow(), Some((ProxyFaultKind::Timeout, None)));
        assert!(!swallowing.reaches_upstream());
    }
}
