//! Entra ID faults: the authority (`login.microsoftonline.com`) refusing as Entra refuses, with
//! its AADSTS codes (failure catalog ENR-01/ENR-04/CMG-05/TIME-02; issue 12 deliverable 3), or
//! misbehaving in the ways sign-in breaks in the field: signing-key rollover, a clock that
//! disagrees with the client's, throttling, a slow token endpoint.
//!
//! The layer's one shape: the target is who and what a token request is about — `users` (UPNs),
//! `clients` (client ids), `resources` (what the scope or `resource` names) — each empty for
//! any; the window `after`/`until`; the effect the kind with its keys. The codes and texts each
//! refusal answers with are data (mock-cloud's `data/entra.toml`), not here.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{EntraFaultKind, Window};
use crate::SimDuration;

/// One Entra fault: which token requests, when, and what the authority does.
#[derive(Debug, Clone, PartialEq)]
pub struct EntraFault {
    pub target: EntraTarget,
    pub window: Window,
    pub effect: EntraEffect,
}

/// Which token requests an Entra fault selects (every list given must match; empty: any).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EntraTarget {
    /// User principal names, case-insensitive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Client (application) ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// Resources as requested: an app id URI (`https://enrollment.manage.microsoft.com/`) or an
    /// app id; a scope's `/.default` suffix and a trailing slash are ignored in the comparison.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

impl EntraTarget {
    const KEYS: &[&str] = &["users", "clients", "resources"];
}

/// What Conditional Access demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaRequirement {
    /// A policy blocks access outright (AADSTS53003).
    #[default]
    Block,
    /// A policy requires a compliant device, and this one is not (AADSTS53000).
    CompliantDevice,
}

fn thirty_seconds() -> SimDuration {
    SimDuration::from_secs(30)
}

/// What an Entra fault does to the requests it selects.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum EntraEffect {
    /// Every password is wrong: AADSTS50126.
    #[serde(rename = "entra.bad_password")]
    BadPassword {},
    /// The client id is not registered in the tenant: AADSTS700016.
    #[serde(rename = "entra.unknown_client")]
    UnknownClient {},
    /// The client secret is wrong (expired or rotated): AADSTS7000215.
    #[serde(rename = "entra.bad_secret")]
    BadSecret {},
    /// Multi-factor authentication is required, which a non-interactive grant cannot do:
    /// AADSTS50076.
    #[serde(rename = "entra.mfa_required")]
    MfaRequired {},
    /// Conditional Access refuses the sign-in: AADSTS53003 (blocked) or AADSTS53000 (device not
    /// compliant).
    #[serde(rename = "entra.conditional_access")]
    ConditionalAccess {
        #[serde(default)]
        require: CaRequirement,
    },
    /// The users hold no Intune licence (as if the data file said so).
    #[serde(rename = "entra.not_licensed")]
    NotLicensed {},
    /// The tenant does not exist: AADSTS90002, on discovery and the token endpoint alike.
    #[serde(rename = "entra.tenant_not_found")]
    TenantNotFound {},
    /// Refresh tokens have expired (or were revoked): AADSTS70008.
    #[serde(rename = "entra.refresh_token_expired")]
    RefreshTokenExpired {},
    /// The token endpoint throttles: 429 with `Retry-After`.
    #[serde(rename = "entra.throttled")]
    Throttled {
        #[serde(default = "thirty_seconds")]
        retry_after: SimDuration,
    },
    /// Entra rolls its signing key: tokens are signed with a new key the JWKS does not list yet
    /// (inside the window); after the window the JWKS lists it too.
    #[serde(rename = "entra.key_rollover")]
    KeyRollover {},
    /// The authority's clock disagrees with the client's by `ahead` (or `behind`): token
    /// times are stamped, and client assertions checked, with that clock.
    #[serde(rename = "entra.clock_skew")]
    ClockSkew {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ahead: Option<SimDuration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        behind: Option<SimDuration>,
    },
    /// The token endpoint answers `delay` (simulated time) late.
    #[serde(rename = "entra.slow")]
    Slow { delay: SimDuration },
}

impl EntraFault {
    /// A fault with `effect` on every token request, at any time (for tests and tools).
    pub fn new(effect: EntraEffect) -> EntraFault {
        EntraFault { target: EntraTarget::default(), window: Window::default(), effect }
    }

    pub fn kind(&self) -> EntraFaultKind {
        match self.effect {
            EntraEffect::BadPassword {} => EntraFaultKind::BadPassword,
            EntraEffect::UnknownClient {} => EntraFaultKind::UnknownClient,
            EntraEffect::BadSecret {} => EntraFaultKind::BadSecret,
            EntraEffect::MfaRequired {} => EntraFaultKind::MfaRequired,
            EntraEffect::ConditionalAccess { .. } => EntraFaultKind::ConditionalAccess,
            EntraEffect::NotLicensed {} => EntraFaultKind::NotLicensed,
            EntraEffect::TenantNotFound {} => EntraFaultKind::TenantNotFound,
            EntraEffect::RefreshTokenExpired {} => EntraFaultKind::RefreshTokenExpired,
            EntraEffect::Throttled { .. } => EntraFaultKind::Throttled,
            EntraEffect::KeyRollover {} => EntraFaultKind::KeyRollover,
            EntraEffect::ClockSkew { .. } => EntraFaultKind::ClockSkew,
            EntraEffect::Slow { .. } => EntraFaultKind::Slow,
        }
    }

    /// Does the fault select a request about `user`, `client` and `resource` (each `None` when
    /// the request has none), `elapsed` simulated time after the world started?
    pub fn applies(&self, user: Option<&str>, client: Option<&str>, resource: Option<&str>, elapsed: SimDuration) -> bool {
        let t = &self.target;
        let matches =
            |list: &[String], value: Option<&str>, same: fn(&str, &str) -> bool| list.is_empty() || value.is_some_and(|v| list.iter().any(|x| same(x, v)));
        self.window.contains(elapsed)
            && matches(&t.users, user, |a, b| a.eq_ignore_ascii_case(b))
            && matches(&t.clients, client, |a, b| a.eq_ignore_ascii_case(b))
            && matches(&t.resources, resource, same_resource)
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        self.window.validate().map_err(|e| format!("{kind}: {e}"))?;
        match &self.effect {
            EntraEffect::ClockSkew { ahead, behind } => match (ahead, behind) {
                (Some(d), None) | (None, Some(d)) if !d.0.is_zero() => Ok(()),
                (Some(_), None) | (None, Some(_)) => Err(format!("{kind}: the skew must be above zero")),
                _ => Err(format!("{kind}: give exactly one of `ahead` or `behind`, e.g. ahead = \"10m\"")),
            },
            EntraEffect::Slow { delay } if delay.0.is_zero() => Err(format!("{kind}: `delay` must be above zero")),
            EntraEffect::Throttled { retry_after } if retry_after.0.is_zero() => Err(format!("{kind}: `retry_after` must be above zero")),
            _ => Ok(()),
        }
    }
}

/// Two spellings of one resource: `https://x/` = `https://x` = `https://x//.default`, case-insensitive.
pub fn same_resource(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s = s.strip_suffix("/.default").unwrap_or(s);
        s.trim_end_matches('/').to_ascii_lowercase()
    }
    norm(a) == norm(b)
}

impl<'de> Deserialize<'de> for EntraFault {
    /// Target and window keys are taken out first; the rest must be exactly one effect's keys.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let target = super::split(&mut table, EntraTarget::KEYS);
        let window = super::split(&mut table, Window::KEYS);
        let effect = EntraEffect::deserialize(toml::Value::Table(table))
            .map_err(|e| super::effect_error(e, "entra fault also takes `users`, `clients`, `resources`, `after` and `until`"))?;
        let target = EntraTarget::deserialize(target).map_err(|e| D::Error::custom(e.message()))?;
        let window = Window::deserialize(window).map_err(|e| D::Error::custom(e.message()))?;
        Ok(EntraFault { target, window, effect })
    }
}

impl Serialize for EntraFault {
    /// Flat, as written: `kind`, the effect's keys, the target and the window in one table.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            effect: &'a EntraEffect,
            #[serde(flatten)]
            target: &'a EntraTarget,
            #[serde(flatten)]
            window: &'a Window,
        }
        Flat { effect: &self.effect, target: &self.target, window: &self.window }.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Fault, parse_scenario};

    use super::*;

    fn parse(fault: &str) -> Result<EntraFault, String> {
        let text = format!("name = \"s\"\nsummary = \"s\"\narea = \"entra\"\nsource = \"t\"\n[[fault]]\n{fault}\n");
        let s = parse_scenario(&text, "s.toml").map_err(|e| e.to_string())?;
        match s.faults.into_iter().next() {
            Some(Fault::Entra(f)) => Ok(f),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kinds_parse_with_targets_and_windows() {
        let f = parse("kind = \"entra.mfa_required\"\nresources = [\"https://enrollment.manage.microsoft.com/\"]\nafter = \"1m\"").unwrap();
        assert_eq!(f.kind(), EntraFaultKind::MfaRequired);
        let sixty = SimDuration::from_secs(60);
        assert!(f.applies(Some("a@b.c"), Some("x"), Some("https://enrollment.manage.microsoft.com//.default"), sixty));
        assert!(!f.applies(Some("a@b.c"), Some("x"), Some("https://enrollment.manage.microsoft.com/"), SimDuration::ZERO));
        assert!(!f.applies(Some("a@b.c"), Some("x"), Some("https://graph.microsoft.com"), sixty));
        assert!(!f.applies(None, None, None, sixty), "a target list needs the request to name that dimension");
        let f = parse("kind = \"entra.throttled\"\nusers = [\"AdeleV@contoso.com\"]").unwrap();
        assert_eq!(f.effect, EntraEffect::Throttled { retry_after: SimDuration::from_secs(30) });
        assert!(f.applies(Some("adelev@contoso.com"), None, None, SimDuration::ZERO));
        let f = parse("kind = \"entra.conditional_access\"\nrequire = \"compliant_device\"").unwrap();
        assert_eq!(f.effect, EntraEffect::ConditionalAccess { require: CaRequirement::CompliantDevice });
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "entra.conditional_access", "require": "compliant_device"}));
    }

    #[test]
    fn bad_keys_and_values_are_rejected_with_a_reason() {
        for (fault, why) in [
            ("kind = \"entra.bad_pasword\"", "entra.bad_password"),
            ("kind = \"entra.clock_skew\"", "exactly one of `ahead` or `behind`"),
            ("kind = \"entra.clock_skew\"\nahead = \"1m\"\nbehind = \"1m\"", "exactly one"),
            ("kind = \"entra.slow\"\ndelay = \"0s\"", "above zero"),
            ("kind = \"entra.throttled\"\nretry_after = \"0s\"", "above zero"),
            ("kind = \"entra.bad_secret\"\nclient = \"x\"", "also takes `users`, `clients`"),
            ("kind = \"entra.bad_secret\"\nafter = \"2m\"\nuntil = \"1m\"", "must lie after"),
        ] {
            let e = parse(fault).unwrap_err();
            assert!(e.contains(why), "{fault}: {e}");
        }
    }
}
