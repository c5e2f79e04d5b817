//! What every connection task of one proxy shares ([`Shared`]: journal, compiled policy,
//! resolver, the world's fronts, upstream trust, limits) and the safety [`Limits`] that
//! protect the proxy from misbehaving clients. Wall time: the limits are not part of the
//! emulation, and a fault the scenario declares is never pre-empted by them.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use scenarios::{Component, FaultStore, Journal, NewEvent, WorldSpec};

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
    /// Bulk through a tunnel between two sockets moves by splice(2) (Linux; `proxy/splice.rs`);
    /// `false` keeps every byte on the user-space copy (the benchmark compares the two).
    pub splice: bool,
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
            splice: true,
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
    /// The compiled policy: the scenario's, or the running world's (see [`Shared::policy`]).
    pub policy: PolicyCell,
    pub resolver: Arc<dyn Resolve>,
    pub fronts: Fronts,
    pub upstream_roots: Arc<rustls::RootCertStore>,
    pub limits: Limits,
    pub next_conn: AtomicU64,
}

impl Shared {
    /// The policy a new connection or request is decided by: one read lock and an `Arc` clone.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.get(&self.journal)
    }
}

/// What a policy is compiled from besides the faults.
pub(crate) struct Compile {
    pub world: WorldSpec,
    pub catalog: Arc<mock_cloud::Catalog>,
    pub permitted: Vec<String>,
}

/// The proxy's compiled policy, following a running world's fault store (issue 17) when it has
/// one: when the store's faults change, the next connection compiles them once (the proxy's
/// faults were validated by the store's checker, so this does not fail but for the machine:
/// then the last policy stays and the failure is journaled).
pub(crate) struct PolicyCell {
    current: std::sync::RwLock<(u64, Arc<Policy>)>,
    live: Option<(FaultStore, Compile)>,
}

impl PolicyCell {
    pub fn fixed(policy: Policy) -> PolicyCell {
        PolicyCell { current: std::sync::RwLock::new((0, Arc::new(policy))), live: None }
    }

    /// `policy`, compiled from `store`'s faults as they are now, until they change.
    pub fn live(policy: Policy, store: FaultStore, compile: Compile) -> PolicyCell {
        let generation = store.current().generation();
        PolicyCell { current: std::sync::RwLock::new((generation, Arc::new(policy))), live: Some((store, compile)) }
    }

    fn get(&self, journal: &Journal) -> Arc<Policy> {
        let read = || self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some((store, c)) = &self.live else { return read().1.clone() };
        let set = store.current();
        {
            let now = read();
            if now.0 == set.generation() {
                return now.1.clone();
            }
        }
        let mut now = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.0 != set.generation() {
            match Policy::compile_after(set.proxy(), &c.world, &c.catalog, &c.permitted, journal.clock(), Some(&now.1)) {
                Ok(p) => *now = (set.generation(), Arc::new(p)),
                Err(e) => {
                    journal.record(NewEvent::new(Component::Control, "fault_changed").detail("error", format!("the proxy keeps its last policy: {e}")));
                    now.0 = set.generation();
                }
            }
        }
        now.1.clone()
    }
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
