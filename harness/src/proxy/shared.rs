//! What every connection task of one proxy shares ([`Shared`]: journal, compiled policy,
//! resolver, the world's fronts, upstream trust, limits) and the safety [`Limits`] that
//! protect the proxy from misbehaving clients. Wall time: the limits are not part of the
//! emulation, and a fault the scenario declares is never pre-empted by them.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use scenarios::Journal;

use super::plan::Plan;
use super::resolve::{Fronts, Resolve};
use super::rules::Policy;

/// Safety bounds against clients that misbehave.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a client may take to send the first request head of a connection (slowloris).
    pub head_timeout: Duration,
    /// How long a kept-alive connection the proxy reads HTTP on (plain or inspected) may wait
    /// for its next request head, idle time included (hyper measures both as one span): then
    /// the proxy closes it with a FIN and journals `close` (cause `keep_alive_timeout`). As
    /// short as the head timeout, so a slow next head is cut as soon as a slow first one; real
    /// proxies keep idle connections longer (Squid's `client_idle_pconn_timeout`: 2 minutes),
    /// and a scenario's `proxy.idle_timeout` lengthens it for the connections it selects.
    pub keep_alive_timeout: Duration,
    /// The largest request head accepted.
    pub max_head_bytes: usize,
    /// Connections served at once; more get 503.
    pub max_connections: usize,
    /// How long to wait for a world listener to accept.
    pub connect_timeout: Duration,
    /// How long a connection whose traffic is silently dropped is held before it is let go.
    pub drop_hold: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            head_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(10),
            max_head_bytes: 32 * 1024,
            max_connections: 1024,
            connect_timeout: Duration::from_secs(5),
            drop_hold: Duration::from_secs(600),
        }
    }
}

impl Limits {
    /// How long a kept-alive connection may wait for its next request head: the proxy's limit,
    /// or longer when an emulated idle timeout is to cut it first (that fault, journaled, must
    /// not be pre-empted by the proxy's own safety limit).
    pub fn keep_alive(&self, plan: &Plan) -> Duration {
        plan.idle_limit().map_or(self.keep_alive_timeout, |idle| self.keep_alive_timeout.max(idle + self.head_timeout))
    }
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub journal: Journal,
    pub policy: Policy,
    pub resolver: Arc<dyn Resolve>,
    pub fronts: Fronts,
    pub upstream_roots: Arc<rustls::RootCertStore>,
    pub limits: Limits,
    pub next_conn: AtomicU64,
}

#[cfg(test)]
mod tests {
    use scenarios::{CloseMethod, ProxyFaultKind, SimDuration};

    use super::*;
    use crate::proxy::plan::{ConnFault, Effect, Since, Timer};

    #[test]
    fn an_emulated_idle_timeout_is_never_pre_empted_by_the_keep_alive_limit() {
        let limits = Limits::default();
        assert_eq!(limits.keep_alive(&Plan::default()), Duration::from_secs(10));
        let idle = |secs| {
            let timer = Timer { from: Since::LastByte, wall: Duration::from_secs(secs), sim: SimDuration::from_secs(secs), close: CloseMethod::Fin };
            let mut plan = Plan::default();
            plan.push(ConnFault { kind: ProxyFaultKind::IdleTimeout, effect: Effect::Cut(timer) });
            plan
        };
        assert_eq!(limits.keep_alive(&idle(60)), Duration::from_secs(70), "the fault fires first, with a head's time to spare");
        assert_eq!(limits.keep_alive(&idle(1)), Duration::from_secs(11));
    }
}
