//! Where the `entra.*` faults take effect — select, then apply — in one file (CONVENTIONS §5):
//! which fault (first in file order) selects a token request, the authority's clock under
//! `entra.clock_skew`, the signing key and JWKS under `entra.key_rollover`, and whether the
//! tenant exists under `entra.tenant_not_found`. Handlers ask here and then answer as Entra does;
//! they hold no fault logic of their own.

use scenarios::{EntraEffect, EntraFault, SimDuration};
use time::OffsetDateTime;

use super::EntraState;

/// Simulated time since the world started.
pub fn elapsed(state: &EntraState) -> SimDuration {
    let clock = state.journal.clock();
    clock.to_sim(clock.wall_elapsed())
}

/// The authority's now: the world's simulated clock, moved by an active `entra.clock_skew`.
pub fn now(state: &EntraState) -> (OffsetDateTime, Option<&EntraFault>) {
    let now = state.journal.clock().now();
    let at = elapsed(state);
    for f in state.faults.iter().filter(|f| f.window.contains(at)) {
        if let EntraEffect::ClockSkew { ahead, behind } = &f.effect {
            let shifted = match (ahead, behind) {
                (Some(d), _) => now.checked_add(time::Duration::try_from(d.0).unwrap_or(time::Duration::ZERO)),
                (None, Some(d)) => now.checked_sub(time::Duration::try_from(d.0).unwrap_or(time::Duration::ZERO)),
                (None, None) => None,
            };
            return (shifted.unwrap_or(now), Some(f));
        }
    }
    (now, None)
}

/// Which key signs, and which keys the JWKS lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPhase {
    /// The current key signs; the JWKS lists it.
    Normal,
    /// Rolling over: the next key signs, the JWKS still lists only the current one.
    Rolling,
    /// Rolled over: the next key signs; the JWKS lists both.
    Rolled,
}

/// The key phase now, and the rollover fault behind it.
pub fn key_phase(state: &EntraState) -> (KeyPhase, Option<&EntraFault>) {
    let at = elapsed(state);
    for f in state.faults.iter().filter(|f| matches!(f.effect, EntraEffect::KeyRollover {})) {
        if f.window.contains(at) {
            return (KeyPhase::Rolling, Some(f));
        }
        if at >= f.window.after {
            return (KeyPhase::Rolled, Some(f));
        }
    }
    (KeyPhase::Normal, None)
}

/// An active `entra.tenant_not_found` (for any request about the tenant).
pub fn tenant_gone(state: &EntraState) -> Option<&EntraFault> {
    let at = elapsed(state);
    state.faults.iter().find(|f| matches!(f.effect, EntraEffect::TenantNotFound {}) && f.applies(None, None, None, at))
}

/// What a token request is about, for selecting faults.
#[derive(Debug, Clone, Copy, Default)]
pub struct About<'a> {
    pub user: Option<&'a str>,
    pub client: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// The first fault of `pick`'s kinds that selects the request now.
pub fn select<'s>(state: &'s EntraState, about: About<'_>, pick: &dyn Fn(&EntraEffect) -> bool) -> Option<&'s EntraFault> {
    let at = elapsed(state);
    state.faults.iter().find(|f| pick(&f.effect) && f.applies(about.user, about.client, about.resource, at))
}

/// Effects decided before the request is read: throttling and slowness.
pub fn is_front(e: &EntraEffect) -> bool {
    matches!(e, EntraEffect::Throttled { .. } | EntraEffect::Slow { .. })
}

/// Effects that refuse a request about a known client and user.
pub fn is_refusal(e: &EntraEffect) -> bool {
    matches!(
        e,
        EntraEffect::BadPassword {}
            | EntraEffect::UnknownClient {}
            | EntraEffect::BadSecret {}
            | EntraEffect::MfaRequired {}
            | EntraEffect::ConditionalAccess { .. }
            | EntraEffect::NotLicensed {}
            | EntraEffect::RefreshTokenExpired {}
    )
}
