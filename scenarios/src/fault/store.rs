//! A running world's faults (issue 17): one [`FaultStore`] per world, made from the scenario's
//! faults when the world starts and shared by every component that reads faults — the proxy
//! and the DNS in the harness, the services in mock-cloud — and by everything that changes
//! them: the control endpoint (`/v1/faults`), `memsim fault`, the lab dashboard.
//!
//! The store holds an immutable [`FaultSet`] behind a lock; a component loads the current set
//! (one read lock and an `Arc` clone) when a new connection, request or query starts, so a
//! change applies from the next one on. A change makes a new set: it is validated first by the
//! world's [`FaultChecker`] (the harness's is exactly `memsim check`'s validation), and refused
//! whole, with the checker's `file:line:column` messages, when anything is wrong: nothing
//! changes then. Every change is journaled (`control`/`fault_added`, `fault_removed`,
//! `fault_changed`, with the fault's kind and id).
//!
//! Which layers change while a world runs is [`FaultStore::is_live`]: the customer's network
//! (`proxy.*`) and the DNS (`dns.*`). The other layers shape what is built when the world
//! starts — certificates (`pki.*`; use `memsim revoke`/`restore` for revocation), the
//! services' routers (`service.*`), the CMG site's tokens, Entra's and enrollment's state — and
//! are refused with [`FaultError::FixedAtStart`]; they are listed all the same.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::{DnsFault, Fault, FaultKind, ProxyFault, ServiceFault};
use crate::{Component, Journal, NewEvent, ScenarioError};

/// A fault's id in its world: 1, 2, … in the order the faults were added (the scenario's first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FaultId(pub u64);

impl std::fmt::Display for FaultId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for FaultId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(FaultId).map_err(|_| format!("`{s}` is no fault id: give the number `memsim fault list` shows, e.g. 1"))
    }
}

/// One fault of a running world, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultEntry {
    pub id: FaultId,
    pub kind: FaultKind,
    /// The layer, the kind's prefix: `proxy`, `dns`, `pki` …
    pub layer: &'static str,
    /// The fault in a scenario file's syntax: `kind = "…"` and its keys.
    pub toml: String,
    /// Whether it can be changed or removed while the world runs ([`FaultStore::is_live`]).
    pub live: bool,
    #[serde(skip)]
    pub fault: Fault,
}

impl FaultEntry {
    fn new(id: FaultId, fault: Fault) -> FaultEntry {
        let kind = fault.kind();
        FaultEntry { id, kind, layer: kind.layer(), toml: fault_toml(&fault), live: FaultStore::is_live(&fault), fault }
    }
}

/// A fault written back in a scenario file's syntax.
pub fn fault_toml(fault: &Fault) -> String {
    toml::to_string(fault).unwrap_or_else(|_| format!("kind = \"{}\"\n", fault.kind()))
}

/// One version of a world's faults: never changed, replaced whole.
#[derive(Debug, Default)]
pub struct FaultSet {
    generation: u64,
    entries: Vec<FaultEntry>,
    dns: Arc<[DnsFault]>,
    proxy: Arc<[ProxyFault]>,
    service: Arc<[ServiceFault]>,
}

impl FaultSet {
    fn new(generation: u64, entries: Vec<FaultEntry>) -> FaultSet {
        let of = |pick: &dyn Fn(&Fault) -> bool| entries.iter().filter(|e| pick(&e.fault)).map(|e| e.fault.clone()).collect::<Vec<_>>();
        let dns = of(&|f| matches!(f, Fault::Dns(_))).into_iter().filter_map(|f| if let Fault::Dns(d) = f { Some(d) } else { None }).collect();
        let proxy = of(&|f| matches!(f, Fault::Proxy(_))).into_iter().filter_map(|f| if let Fault::Proxy(p) = f { Some(p) } else { None }).collect();
        let service = of(&|f| matches!(f, Fault::Service(_))).into_iter().filter_map(|f| if let Fault::Service(s) = f { Some(s) } else { None }).collect();
        FaultSet { generation, entries, dns, proxy, service }
    }

    /// Bumped by every change: a component that compiles the faults recompiles when it moves.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn entries(&self) -> &[FaultEntry] {
        &self.entries
    }

    /// The DNS faults, in the order they were added.
    pub fn dns(&self) -> &Arc<[DnsFault]> {
        &self.dns
    }

    /// The customer-network (proxy) faults, in the order they were added.
    pub fn proxy(&self) -> &Arc<[ProxyFault]> {
        &self.proxy
    }

    /// The cloud's service faults, in the order they were added.
    pub fn service(&self) -> &Arc<[ServiceFault]> {
        &self.service
    }
}

/// Parses and validates fault text for one world: the harness's is `memsim check`'s validation
/// against the world's scenario and catalog; [`SyntaxChecker`] is the scenario crate's half.
pub trait FaultChecker: Send + Sync + 'static {
    /// The faults `text` holds (`[[fault]]` tables, or one fault's keys alone), or every
    /// problem, as `origin:line:column: message`.
    fn check(&self, text: &str, origin: &str) -> Result<Vec<Fault>, Vec<ScenarioError>>;
}

/// The catalog-free checker: parsing and `scenarios::validate`, against `base`'s world.
#[derive(Debug, Clone)]
pub struct SyntaxChecker(pub crate::Scenario);

impl FaultChecker for SyntaxChecker {
    fn check(&self, text: &str, origin: &str) -> Result<Vec<Fault>, Vec<ScenarioError>> {
        let file = crate::ScenarioFile::for_faults(&self.0, text, origin).map_err(|e| vec![e])?;
        let problems = crate::validate::check(&file.scenario);
        if problems.is_empty() { Ok(file.scenario.faults) } else { Err(problems.iter().map(|p| file.error(p)).collect()) }
    }
}

/// Why a change of a world's faults was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// The text is no valid fault: the checker's messages, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ScenarioError>),
    /// No fault has this id.
    #[error("the world has no fault {0} (`memsim fault list` shows its faults)")]
    UnknownId(FaultId),
    /// The fault's layer is built when the world starts and cannot change while it runs.
    #[error("{kind}: {} faults are fixed when the world starts; put it in the scenario and start the world again{}", .kind.layer(), if .kind.layer() == "pki" { " (memsim revoke/restore change revocation while it runs)" } else { "" })]
    FixedAtStart { kind: FaultKind },
    /// `set` replaces one fault with exactly one.
    #[error("set replaces one fault with one; the text holds {0}")]
    NotOne(usize),
}

impl FaultError {
    /// The checker's errors, when the text was at fault.
    pub fn problems(&self) -> &[ScenarioError] {
        match self {
            FaultError::Invalid(e) => e,
            _ => &[],
        }
    }
}

struct Inner {
    current: RwLock<Arc<FaultSet>>,
    next_id: AtomicU64,
    journal: Journal,
    checker: Arc<dyn FaultChecker>,
}

/// The smallest scenario: the world a [`FaultStore::fixed`] store checks faults against.
const MINIMAL: &str = "name = \"faults\"\nsummary = \"s\"\narea = \"baseline\"\nsource = \"issue 17\"\n";

/// A world's faults, shared by every component (clones share the store).
#[derive(Clone)]
pub struct FaultStore(Arc<Inner>);

impl std::fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultStore").field("faults", &self.current().entries.len()).finish()
    }
}

impl FaultStore {
    /// The store of a world whose scenario declares `faults` (ids 1, 2, … in file order).
    pub fn new(faults: Vec<Fault>, journal: Journal, checker: Arc<dyn FaultChecker>) -> FaultStore {
        let entries: Vec<FaultEntry> = faults.into_iter().enumerate().map(|(i, f)| FaultEntry::new(FaultId(i as u64 + 1), f)).collect();
        let next = entries.len() as u64 + 1;
        FaultStore(Arc::new(Inner { current: RwLock::new(Arc::new(FaultSet::new(0, entries))), next_id: AtomicU64::new(next), journal, checker }))
    }

    /// A store that never changes hands: `faults` checked by syntax only (tests, in-process use).
    pub fn fixed(faults: Vec<Fault>, journal: Journal) -> FaultStore {
        // A constant that parses (the tests prove it); no scenario checks a fault's world here.
        let base = crate::parse_scenario(MINIMAL, "builtin:minimal").unwrap_or_else(|e| unreachable!("{e}"));
        FaultStore::new(faults, journal, Arc::new(SyntaxChecker(base)))
    }

    /// Can a fault of this kind change while the world runs? (Documented in the module.)
    pub fn is_live(fault: &Fault) -> bool {
        matches!(fault, Fault::Proxy(_) | Fault::Dns(_))
    }

    /// The current faults: what a new connection, request or query uses.
    pub fn current(&self) -> Arc<FaultSet> {
        self.0.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Every fault, by id.
    pub fn list(&self) -> Vec<FaultEntry> {
        self.current().entries.clone()
    }

    /// Check `text` (see [`FaultChecker::check`]) without changing anything.
    pub fn check(&self, text: &str, origin: &str) -> Result<Vec<Fault>, FaultError> {
        let faults = self.0.checker.check(text, origin).map_err(FaultError::Invalid)?;
        if let Some(f) = faults.iter().find(|f| !FaultStore::is_live(f)) {
            return Err(FaultError::FixedAtStart { kind: f.kind() });
        }
        Ok(faults)
    }

    /// Add the faults `text` holds; they apply from the next connection, request or query.
    pub fn add(&self, text: &str, origin: &str) -> Result<Vec<FaultEntry>, FaultError> {
        let faults = self.check(text, origin)?;
        let added: Vec<FaultEntry> = faults.into_iter().map(|f| FaultEntry::new(FaultId(self.0.next_id.fetch_add(1, Ordering::Relaxed)), f)).collect();
        self.change(|entries| {
            entries.extend(added.iter().cloned());
            Ok(())
        })?;
        for e in &added {
            self.journal("fault_added", e);
        }
        Ok(added)
    }

    /// Replace fault `id` with the one fault `text` holds, keeping its id and place.
    pub fn set(&self, id: FaultId, text: &str, origin: &str) -> Result<FaultEntry, FaultError> {
        self.live_entry(id)?;
        let mut faults = self.check(text, origin)?;
        if faults.len() != 1 {
            return Err(FaultError::NotOne(faults.len()));
        }
        let entry = FaultEntry::new(id, faults.remove(0));
        self.change(|entries| {
            let slot = entries.iter_mut().find(|e| e.id == id).ok_or(FaultError::UnknownId(id))?;
            *slot = entry.clone();
            Ok(())
        })?;
        self.journal("fault_changed", &entry);
        Ok(entry)
    }

    /// Remove fault `id`.
    pub fn remove(&self, id: FaultId) -> Result<FaultEntry, FaultError> {
        let entry = self.live_entry(id)?;
        self.change(|entries| {
            let at = entries.iter().position(|e| e.id == id).ok_or(FaultError::UnknownId(id))?;
            entries.remove(at);
            Ok(())
        })?;
        self.journal("fault_removed", &entry);
        Ok(entry)
    }

    fn live_entry(&self, id: FaultId) -> Result<FaultEntry, FaultError> {
        let entry = self.current().entries.iter().find(|e| e.id == id).cloned().ok_or(FaultError::UnknownId(id))?;
        if entry.live { Ok(entry) } else { Err(FaultError::FixedAtStart { kind: entry.kind }) }
    }

    /// Make the next set from the current one, under the write lock (changes never interleave).
    fn change(&self, edit: impl FnOnce(&mut Vec<FaultEntry>) -> Result<(), FaultError>) -> Result<(), FaultError> {
        let mut current = self.0.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut entries = current.entries.clone();
        edit(&mut entries)?;
        *current = Arc::new(FaultSet::new(current.generation + 1, entries));
        Ok(())
    }

    fn journal(&self, what: &str, e: &FaultEntry) {
        self.0.journal.record(NewEvent::new(Component::Control, what).fault(e.kind).detail("id", e.id.0).detail("toml", e.toml.as_str()));
    }
}

#[cfg(test)]
mod tests;
