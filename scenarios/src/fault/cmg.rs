//! CMG and token faults (issue 15): the cloud management gateway and the site's tokens failing
//! as customers meet them (failure catalog CMG-01..05, TIME-02; seed 004).
//!
//! Two layers, one shape each:
//! - `cmg.*`: the gateway and the management point behind it. Target: the world's CMG (there is
//!   one); window `after`/`until` (simulated time since the world started); effect: the kind
//!   with its keys. `cmg.client_offline` is the one device-side effect: the reference client is
//!   off the internet for `offline` after registering (a laptop in a drawer for 100 days).
//! - `token.*`: the bulk registration token the scenario's world mints for its client, as the
//!   admin got it from BulkRegistrationTokenTool.exe. Target: that token (implicit); no window
//!   (a token is minted once); effect: how it is wrong.
//!
//! This file is the model only: mock-cloud's `services::cmg` gives these faults their effect.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{CmgFaultKind, TokenFaultKind, Window};
use crate::SimDuration;

/// One gateway fault: when, and what happens.
#[derive(Debug, Clone, PartialEq)]
pub struct CmgFault {
    pub window: Window,
    pub effect: CmgEffect,
}

fn five_days() -> SimDuration {
    SimDuration::from_days(5)
}

fn two_hours() -> SimDuration {
    SimDuration::from_secs(2 * 3600)
}

/// What a gateway fault does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum CmgEffect {
    /// The CMG connection point is down: the gateway answers 503 for every management point path.
    #[serde(rename = "cmg.connection_point_down")]
    ConnectionPointDown {},
    /// The CMG is not content-enabled: its content location endpoint answers 404 (ccmsetup
    /// `GetDirectoryList failed with a non-recoverable failure, 0x87d00454`).
    #[serde(rename = "cmg.content_missing")]
    ContentMissing {},
    /// The CCM token a client presents expires mid-session: the management point refuses the
    /// next token-authenticated request once with 401 (a correct client fetches a new one).
    #[serde(rename = "cmg.ccm_token_expired")]
    CcmTokenExpired {},
    /// The token service refuses Entra ID tokens (tenant not onboarded for cloud management).
    #[serde(rename = "cmg.entra_refused")]
    EntraRefused {},
    /// The device is off the internet for `offline` after it registered; then it contacts the
    /// site again.
    #[serde(rename = "cmg.client_offline")]
    ClientOffline { offline: SimDuration },
}

impl CmgFault {
    pub fn kind(&self) -> CmgFaultKind {
        match self.effect {
            CmgEffect::ConnectionPointDown {} => CmgFaultKind::ConnectionPointDown,
            CmgEffect::ContentMissing {} => CmgFaultKind::ContentMissing,
            CmgEffect::CcmTokenExpired {} => CmgFaultKind::CcmTokenExpired,
            CmgEffect::EntraRefused {} => CmgFaultKind::EntraRefused,
            CmgEffect::ClientOffline { .. } => CmgFaultKind::ClientOffline,
        }
    }

    /// Is the fault active `elapsed` simulated time after the world started?
    pub fn active(&self, elapsed: SimDuration) -> bool {
        self.window.contains(elapsed)
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        self.window.validate().map_err(|e| format!("{kind}: {e}"))?;
        match self.effect {
            CmgEffect::ClientOffline { offline } if offline.0.is_zero() => Err(format!("{kind}: `offline` must be above zero, e.g. \"100d\"")),
            _ => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for CmgFault {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let window = super::split(&mut table, Window::KEYS);
        let effect = CmgEffect::deserialize(toml::Value::Table(table)).map_err(|e| super::effect_error(e, "cmg fault also takes `after` and `until`"))?;
        let window = Window::deserialize(window).map_err(|e| D::Error::custom(e.message()))?;
        Ok(CmgFault { window, effect })
    }
}

impl Serialize for CmgFault {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            effect: &'a CmgEffect,
            #[serde(flatten)]
            window: &'a Window,
        }
        Flat { effect: &self.effect, window: &self.window }.serialize(s)
    }
}

/// One fault of the scenario's bulk registration token.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct TokenFault {
    pub effect: TokenEffect,
}

/// How the scenario's bulk registration token is wrong.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum TokenEffect {
    /// The token was minted `age` before the device used it (default 5 days: past the default
    /// 3-day lifetime; failure catalog CMG-01).
    #[serde(rename = "token.expired")]
    Expired {
        #[serde(default = "five_days")]
        age: SimDuration,
    },
    /// The admin asked the tool for `lifetime` minutes, more than its maximum: no token.
    #[serde(rename = "token.lifetime_over_max")]
    LifetimeOverMax { lifetime: u32 },
    /// The admin blocked the token in the console (after a leak).
    #[serde(rename = "token.blocked")]
    Blocked {},
    /// The token was minted on another site: signed with a certificate this site does not know.
    #[serde(rename = "token.wrong_signer")]
    WrongSigner {},
    /// The token names another tenant (`TenantId`, `iss`); default a tenant that is not the world's.
    #[serde(rename = "token.wrong_issuer")]
    WrongIssuer {
        #[serde(default)]
        tenant: Option<String>,
    },
    /// The site server's clock runs `skew` ahead: the token's `nbf` lies in the gateway's future.
    #[serde(rename = "token.not_yet_valid")]
    NotYetValid {
        #[serde(default = "two_hours")]
        skew: SimDuration,
    },
    /// The token's claims do not decode: seed 004's published sample, corrupted in copying.
    #[serde(rename = "token.malformed")]
    Malformed {},
}

impl TokenFault {
    pub fn kind(&self) -> TokenFaultKind {
        match self.effect {
            TokenEffect::Expired { .. } => TokenFaultKind::Expired,
            TokenEffect::LifetimeOverMax { .. } => TokenFaultKind::LifetimeOverMax,
            TokenEffect::Blocked {} => TokenFaultKind::Blocked,
            TokenEffect::WrongSigner {} => TokenFaultKind::WrongSigner,
            TokenEffect::WrongIssuer { .. } => TokenFaultKind::WrongIssuer,
            TokenEffect::NotYetValid { .. } => TokenFaultKind::NotYetValid,
            TokenEffect::Malformed {} => TokenFaultKind::Malformed,
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        match &self.effect {
            TokenEffect::Expired { age } if age.0.is_zero() => Err(format!("{kind}: `age` must be above zero, e.g. \"5d\"")),
            TokenEffect::NotYetValid { skew } if skew.0.is_zero() => Err(format!("{kind}: `skew` must be above zero, e.g. \"2h\"")),
            TokenEffect::LifetimeOverMax { lifetime: 0 } => Err(format!("{kind}: `lifetime` is in minutes and above zero, e.g. 20160")),
            TokenEffect::WrongIssuer { tenant: Some(t) } if !crate::is_guid(t) => {
                Err(format!("{kind}: `tenant` must be a GUID, e.g. \"72f988bf-86f1-41af-91ab-2d7cd011db47\""))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Fault, parse_scenario};

    use super::*;

    fn parse(fault: &str) -> Result<Fault, String> {
        let text = format!("name = \"s\"\nsummary = \"s\"\narea = \"cmg\"\nsource = \"t\"\n[[fault]]\n{fault}\n");
        let s = parse_scenario(&text, "s.toml").map_err(|e| e.to_string())?;
        Ok(s.faults.into_iter().next().unwrap())
    }

    #[test]
    fn kinds_parse_with_defaults() {
        let Fault::Token(t) = parse("kind = \"token.expired\"").unwrap() else { panic!() };
        assert_eq!(t.effect, TokenEffect::Expired { age: SimDuration::from_days(5) });
        let Fault::Token(t) = parse("kind = \"token.lifetime_over_max\"\nlifetime = 20160").unwrap() else { panic!() };
        assert_eq!(t.kind(), TokenFaultKind::LifetimeOverMax);
        let Fault::Cmg(c) = parse("kind = \"cmg.client_offline\"\noffline = \"100d\"").unwrap() else { panic!() };
        assert_eq!(c.effect, CmgEffect::ClientOffline { offline: SimDuration::from_days(100) });
        let Fault::Cmg(c) = parse("kind = \"cmg.connection_point_down\"\nafter = \"1h\"").unwrap() else { panic!() };
        assert!(!c.active(SimDuration::ZERO) && c.active(SimDuration::from_secs(3600)));
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::json!({"kind": "cmg.connection_point_down", "after": "1h"}));
    }

    #[test]
    fn bad_keys_and_values_are_rejected_with_a_reason() {
        for (fault, why) in [
            ("kind = \"token.expired\"\nage = \"0s\"", "above zero"),
            ("kind = \"token.lifetime_over_max\"", "lifetime"),
            ("kind = \"token.blocked\"\nafter = \"1h\"", "unknown"),
            ("kind = \"token.wrong_issuer\"\ntenant = \"contoso\"", "GUID"),
            ("kind = \"cmg.client_offline\"\noffline = \"0s\"", "above zero"),
            ("kind = \"cmg.content_missing\"\nhosts = \"x\"", "also takes `after`"),
            ("kind = \"cmg.entra_refusd\"", "cmg.entra_refused"),
        ] {
            let e = parse(fault).unwrap_err();
            assert!(e.contains(why), "{fault}: {e}");
        }
    }
}
