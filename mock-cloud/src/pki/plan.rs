//! From faults to material: which chain each host gets and how each certificate is changed.
//!
//! A fault that names `ca = …` changes that CA for everyone. A fault that names `hosts = …` at
//! the root or intermediate level gives only those hosts a *shadow* chain: the same subject
//! names with fresh keys, changed as the fault says, so other hosts keep their healthy chain.

use scenarios::{CertLevel, CertTarget, PkiFault, RevocationReason, WorldSpec};
use time::OffsetDateTime;

use super::PkiError;
use super::spec::{PkiData, Window};

/// How one certificate departs from its healthy form.
#[derive(Debug, Clone, Default)]
pub struct Mods {
    pub not_before: Option<OffsetDateTime>,
    pub not_after: Option<OffsetDateTime>,
    pub revoked: Option<(OffsetDateTime, RevocationReason)>,
    /// Roots only: left out of the world's CA bundle.
    pub untrusted: bool,
    /// The fault kinds behind these changes, for the journal.
    pub faults: Vec<scenarios::PkiFaultKind>,
}

/// The dates X.509 can write (RFC 5280 §4.1.2.5: UTCTime from 1950, GeneralizedTime to 9999).
/// Scenario validation keeps every date inside; the clamp keeps a case it missed from
/// overflowing here or panicking in the DER encoder (issue 11).
const EARLIEST: OffsetDateTime = time::macros::datetime!(1950-01-01 0:00 UTC);
const LATEST: OffsetDateTime = time::macros::datetime!(9999-12-31 23:59:59 UTC);

/// `t + d` (`later`) or `t - d`, clamped to what a certificate can carry.
fn shift(t: OffsetDateTime, d: std::time::Duration, later: bool) -> OffsetDateTime {
    let d = time::Duration::try_from(d).unwrap_or(time::Duration::MAX);
    let moved = if later { t.checked_add(d) } else { t.checked_sub(d) };
    moved.unwrap_or(if later { LATEST } else { EARLIEST }).clamp(EARLIEST, LATEST)
}

impl Mods {
    pub fn apply(&mut self, fault: &PkiFault, now: OffsetDateTime, window: Window) {
        match fault {
            PkiFault::Expired { since, .. } => {
                let not_after = shift(now, since.0, false);
                self.not_after = Some(not_after);
                self.not_before = Some(shift(not_after, window.span(), false));
            }
            PkiFault::NotValidYet { until, .. } => {
                let not_before = shift(now, until.0, true);
                self.not_before = Some(not_before);
                self.not_after = Some(shift(not_before, window.span(), true));
            }
            PkiFault::Revoked { since, reason, .. } => self.revoked = Some((shift(now, since.0, false), *reason)),
            PkiFault::UnknownIssuer { .. } => self.untrusted = true,
            PkiFault::NotValidForName { .. } | PkiFault::IncompleteChain { .. } | PkiFault::Staple { .. } => {}
        }
        self.faults.push(fault.kind());
    }

    pub fn validity(&self, now: OffsetDateTime, window: Window) -> (OffsetDateTime, OffsetDateTime) {
        let not_before = self.not_before.unwrap_or_else(|| shift(now, window.before.0, false));
        (not_before, self.not_after.unwrap_or_else(|| shift(now, window.after.0, true)))
    }
}

/// The chain a host's leaf hangs from: its issuing CA and the host-targeted faults (by index)
/// that shape a shadow copy of that chain. Empty fault lists mean the healthy chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainKey {
    pub issuer: String,
    pub root_faults: Vec<usize>,
    pub intermediate_faults: Vec<usize>,
}

impl ChainKey {
    pub fn is_shadow(&self) -> bool {
        !self.root_faults.is_empty() || !self.intermediate_faults.is_empty()
    }
}

/// Everything that decides one host's certificate.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub chain: ChainKey,
    pub leaf_faults: Vec<usize>,
    /// `pki.not_valid_for_name`: the name the leaf is issued for instead.
    pub presented: Option<String>,
    /// `pki.incomplete_chain`: the intermediate is not sent.
    pub omit_intermediate: bool,
    pub faults: Vec<scenarios::PkiFaultKind>,
}

/// The faults and rules that plan every host's certificate.
#[derive(Debug, Clone)]
pub struct Planner {
    pub data: PkiData,
    pub world: WorldSpec,
    pub faults: Vec<PkiFault>,
    pub now: OffsetDateTime,
}

impl Planner {
    /// Check every CA id the scenario names against the data, before anything is generated.
    pub fn validate(&self) -> Result<(), PkiError> {
        for rule in &self.world.issuers {
            self.issuing_ca(&rule.ca, "[[world.issuer]]")?;
        }
        for f in &self.faults {
            match (f, f.target()) {
                (PkiFault::Revoked { .. }, CertTarget::Hosts(_, CertLevel::Root)) => {
                    return Err(PkiError::Fault(
                        "pki.revoked at level = \"root\": a root is not revoked; distrust it (pki.unknown_issuer) or expire it".into(),
                    ));
                }
                (_, CertTarget::Ca(id)) => {
                    let ca = self.ca(id, f.kind())?;
                    match f {
                        PkiFault::Revoked { .. } if ca.is_root() => {
                            return Err(PkiError::Fault(format!("pki.revoked: `{id}` is a root; name an intermediate")));
                        }
                        PkiFault::UnknownIssuer { .. } if !ca.is_root() => {
                            return Err(PkiError::Fault(format!("pki.unknown_issuer: `{id}` is not a root; name the root to distrust")));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The CA `id`, or an error naming where it was asked for (a fault kind, an issuer rule).
    fn ca(&self, id: &str, context: impl std::fmt::Display) -> Result<&super::spec::CaSpec, PkiError> {
        self.data.cas.iter().find(|c| c.id == id).ok_or_else(|| PkiError::UnknownCa {
            id: id.to_string(),
            context: context.to_string(),
            known: self.data.cas.iter().map(|c| c.id.clone()).collect(),
        })
    }

    fn issuing_ca(&self, id: &str, context: &str) -> Result<(), PkiError> {
        if self.ca(id, context)?.is_root() {
            return Err(PkiError::Fault(format!("{context}: `{id}` is a root; leaves are issued by an intermediate")));
        }
        Ok(())
    }

    /// The intermediate that issues `host`: the scenario's rules, then the data's, then the default.
    pub fn issuer_for(&self, host: &str) -> String {
        let scenario = self.world.issuers.iter().find(|r| r.hosts.matches(host)).map(|r| &r.ca);
        let data = || self.data.issue_rules.iter().find(|r| r.hosts.iter().any(|p| p.matches(host))).map(|r| &r.ca);
        scenario.or_else(data).unwrap_or(&self.data.default_issuer.ca).clone()
    }

    pub fn plan(&self, host: &str) -> HostPlan {
        let mut plan = HostPlan {
            chain: ChainKey { issuer: self.issuer_for(host), root_faults: vec![], intermediate_faults: vec![] },
            leaf_faults: vec![],
            presented: None,
            omit_intermediate: false,
            faults: vec![],
        };
        for (i, f) in self.faults.iter().enumerate() {
            let CertTarget::Hosts(pattern, level) = f.target() else { continue };
            if !pattern.matches(host) {
                continue;
            }
            plan.faults.push(f.kind());
            match f {
                PkiFault::NotValidForName { presented, .. } => plan.presented = Some(presented.base().to_string()),
                PkiFault::IncompleteChain { .. } => plan.omit_intermediate = true,
                _ => match level {
                    CertLevel::Leaf => plan.leaf_faults.push(i),
                    CertLevel::Intermediate => plan.chain.intermediate_faults.push(i),
                    CertLevel::Root => plan.chain.root_faults.push(i),
                },
            }
        }
        plan
    }

    /// What `pki.staple` makes the server of `host` staple instead of a current answer.
    pub fn staple_for(&self, host: &str) -> Option<(scenarios::StapleState, std::time::Duration)> {
        self.faults.iter().find_map(|f| match f {
            PkiFault::Staple { hosts, staple, since } if hosts.matches(host) => Some((*staple, since.0)),
            _ => None,
        })
    }

    /// The changes `ca = id` faults make to a CA for everyone.
    pub fn ca_mods(&self, id: &str, window: Window) -> Mods {
        let mut mods = Mods::default();
        for f in &self.faults {
            if f.target() == CertTarget::Ca(id) {
                mods.apply(f, self.now, window);
            }
        }
        mods
    }

    /// Apply host-targeted faults (by index) on top of `base`.
    pub fn with_faults(&self, mut base: Mods, faults: &[usize], window: Window) -> Mods {
        for &i in faults {
            base.apply(&self.faults[i], self.now, window);
        }
        base
    }
}
