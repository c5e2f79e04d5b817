//! Certificate faults, named after rustls' `CertificateError` (Expired, NotValidYet,
//! UnknownIssuer, Revoked, NotValidForName) plus the chain fault a server causes itself (an
//! intermediate not served).
//!
//! The layer's shape is target + effect, with no time window: a fault changes the certificates
//! the world generates (their target: `hosts` with a chain `level`, or one `ca`), and a
//! certificate's validity period already is its window (`since`, `until` say where it lies
//! against the simulated now). A fault that came and went during a run would be a certificate
//! re-issued mid-run, which no scenario needs yet.

use serde::{Deserialize, Serialize};

use super::PkiFaultKind;
use crate::{HostPattern, SimDuration};

/// Which certificate in a chain a host-targeted fault changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertLevel {
    #[default]
    Leaf,
    Intermediate,
    Root,
}

/// RFC 5280 CRLReason values a scenario may give a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationReason {
    Unspecified,
    #[default]
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

/// Certificate faults. Each changes the generated PKI material, never a server code path.
///
/// A fault names its certificates either by `hosts` (the leaf for those hosts, or with `level`
/// the intermediate or root of their chain) or by `ca` (that CA's own certificate, by the id
/// in the PKI data, e.g. `baltimore-cybertrust-root`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum PkiFault {
    /// The certificate's notAfter lies `since` before the simulated now.
    #[serde(rename = "pki.expired")]
    Expired {
        hosts: Option<HostPattern>,
        ca: Option<String>,
        #[serde(default)]
        level: CertLevel,
        #[serde(default = "one_day")]
        since: SimDuration,
    },
    /// The certificate's notBefore lies `until` after the simulated now (e.g. a skewed clock).
    #[serde(rename = "pki.not_valid_yet")]
    NotValidYet {
        hosts: Option<HostPattern>,
        ca: Option<String>,
        #[serde(default)]
        level: CertLevel,
        #[serde(default = "one_day")]
        until: SimDuration,
    },
    /// The certificate is on its issuer's CRL and OCSP says revoked.
    #[serde(rename = "pki.revoked")]
    Revoked {
        hosts: Option<HostPattern>,
        ca: Option<String>,
        #[serde(default)]
        level: CertLevel,
        #[serde(default = "one_day")]
        since: SimDuration,
        #[serde(default)]
        reason: RevocationReason,
    },
    /// The hosts present a certificate issued for `presented` instead of their own name.
    #[serde(rename = "pki.not_valid_for_name")]
    NotValidForName { hosts: HostPattern, presented: HostPattern },
    /// The hosts' chain is issued by a root that is absent from the world's CA bundle.
    #[serde(rename = "pki.unknown_issuer")]
    UnknownIssuer { hosts: Option<HostPattern>, ca: Option<String> },
    /// The server sends the leaf without its intermediate.
    #[serde(rename = "pki.incomplete_chain")]
    IncompleteChain { hosts: HostPattern },
    /// What the hosts' server staples to its handshakes (RFC 6066 `status_request`) instead of
    /// a current OCSP answer: nothing, a stale answer, or one that says revoked (issue 16).
    #[serde(rename = "pki.staple")]
    Staple {
        hosts: HostPattern,
        staple: StapleState,
        /// `stale`: how long before now the stapled answer's nextUpdate passed.
        #[serde(default = "one_day")]
        since: SimDuration,
    },
}

/// The OCSP staple a `pki.staple` fault makes a server send (a current, good one is the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StapleState {
    /// No staple: the server answers `status_request` with nothing (OCSP stapling off).
    Absent,
    /// The server keeps stapling an answer whose nextUpdate has passed (its refresh is broken).
    Stale,
    /// The staple says revoked; the CA's CRL and responder are left as they are (use
    /// `pki.revoked` for a certificate revoked everywhere).
    Revoked,
}

fn one_day() -> SimDuration {
    SimDuration::from_days(1)
}

impl PkiFault {
    pub fn kind(&self) -> PkiFaultKind {
        match self {
            PkiFault::Expired { .. } => PkiFaultKind::Expired,
            PkiFault::NotValidYet { .. } => PkiFaultKind::NotValidYet,
            PkiFault::Revoked { .. } => PkiFaultKind::Revoked,
            PkiFault::NotValidForName { .. } => PkiFaultKind::NotValidForName,
            PkiFault::UnknownIssuer { .. } => PkiFaultKind::UnknownIssuer,
            PkiFault::IncompleteChain { .. } => PkiFaultKind::IncompleteChain,
            PkiFault::Staple { .. } => PkiFaultKind::Staple,
        }
    }

    /// What the fault selects: hosts (with a chain level) or one CA by id.
    pub fn target(&self) -> CertTarget<'_> {
        match self {
            PkiFault::Expired { hosts, ca, level, .. } | PkiFault::NotValidYet { hosts, ca, level, .. } | PkiFault::Revoked { hosts, ca, level, .. } => {
                match (hosts, ca) {
                    (Some(h), _) => CertTarget::Hosts(h, *level),
                    (None, Some(ca)) => CertTarget::Ca(ca),
                    (None, None) => unreachable!("validated at parse time"),
                }
            }
            PkiFault::UnknownIssuer { hosts, ca } => match (hosts, ca) {
                (Some(h), _) => CertTarget::Hosts(h, CertLevel::Root),
                (None, Some(ca)) => CertTarget::Ca(ca),
                (None, None) => unreachable!("validated at parse time"),
            },
            PkiFault::NotValidForName { hosts, .. } => CertTarget::Hosts(hosts, CertLevel::Leaf),
            PkiFault::IncompleteChain { hosts } => CertTarget::Hosts(hosts, CertLevel::Intermediate),
            PkiFault::Staple { hosts, .. } => CertTarget::Hosts(hosts, CertLevel::Leaf),
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let (hosts, ca, level) = match self {
            PkiFault::Expired { hosts, ca, level, .. } | PkiFault::NotValidYet { hosts, ca, level, .. } | PkiFault::Revoked { hosts, ca, level, .. } => {
                (hosts, ca, Some(*level))
            }
            PkiFault::UnknownIssuer { hosts, ca } => (hosts, ca, None),
            _ => return Ok(()),
        };
        match (hosts, ca) {
            (Some(_), Some(_)) | (None, None) => Err(format!("{}: give exactly one of `hosts` (a host pattern) or `ca` (a CA id)", self.kind())),
            (None, Some(_)) if level.is_some_and(|l| l != CertLevel::Leaf) => {
                Err(format!("{}: `level` goes with `hosts`; with `ca` the fault applies to that CA's own certificate", self.kind()))
            }
            _ => Ok(()),
        }
    }
}

/// The certificates a PKI fault selects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CertTarget<'a> {
    Hosts(&'a HostPattern, CertLevel),
    Ca(&'a str),
}
