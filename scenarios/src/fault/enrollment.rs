//! Enrollment faults: the Windows MDM enrollment services (MS-MDE2 discovery, MS-XCEP policies,
//! MS-WSTEP enrollment, the OMA-DM check-in) answering as Intune does when something is wrong
//! on its side or with the device, user or request (protocols.md §5; failure catalog §11a and
//! its "policy errors that look like network faults").
//!
//! The layer's one shape: the target is `step` (which exchange: `discover`, `policies`,
//! `enroll`, `checkin`; default: the step where Intune reports that error) and/or `hosts`; the
//! window `after`/`until`; the effect the kind with its keys. Three families of effect:
//! - **a SOAP fault** with the subcode and `DeviceEnrollmentServiceError/ErrorType` of MS-MDE2
//!   §2.2.10 (`device_cap_reached` … `internal_service_fault`), sent with HTTP `status` 500
//!   (the SOAP 1.2 HTTP binding) or 200 (as fleet's server and others do);
//! - **a broken transport** of a correct answer: `wrong_content_type`, `chunked` (the client
//!   requires one message with a length), `truncated` (the body cut short);
//! - **a changed parameter** that the service's real checks then act on: `min_key_length` (the
//!   policy demands a longer key than the device's TPM makes), `token_age` (the bearer token is
//!   older than it looks: cached past its lifetime, as on a device left in OOBE for hours).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{EnrollmentFaultKind, HostList, Window};
use crate::SimDuration;

/// One exchange of a Windows enrollment, in the order the client makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollStep {
    /// MS-MDE2 Discover (`/EnrollmentServer/Discovery.svc`).
    Discover,
    /// MS-XCEP GetPolicies.
    Policies,
    /// MS-WSTEP RequestSecurityToken.
    Enroll,
    /// The first OMA-DM session (`cimhandler.ashx`).
    Checkin,
}

impl EnrollStep {
    pub const ALL: &[EnrollStep] = &[EnrollStep::Discover, EnrollStep::Policies, EnrollStep::Enroll, EnrollStep::Checkin];

    pub fn as_str(self) -> &'static str {
        match self {
            EnrollStep::Discover => "discover",
            EnrollStep::Policies => "policies",
            EnrollStep::Enroll => "enroll",
            EnrollStep::Checkin => "checkin",
        }
    }
}

/// One enrollment fault: which exchanges, when, and what happens to them.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentFault {
    pub target: EnrollmentTarget,
    pub window: Window,
    pub effect: EnrollmentEffect,
}

/// Which exchanges an enrollment fault selects: those of `step` (default: the effect's own
/// step), and/or those for `hosts`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<EnrollStep>,
    #[serde(default, skip_serializing_if = "HostList::is_empty")]
    pub hosts: HostList,
}

impl EnrollmentTarget {
    const KEYS: &[&str] = &["step", "hosts"];
}

fn soap_status() -> u16 {
    500
}

fn html() -> String {
    "text/html; charset=utf-8".into()
}

/// What an enrollment fault does to the exchanges it selects.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum EnrollmentEffect {
    /// `DeviceCapReached` (s:Receiver/s:Authorization): the user enrolled their maximum of devices.
    #[serde(rename = "enrollment.device_cap_reached")]
    DeviceCapReached {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// `DeviceNotSupported`: an enrollment restriction blocks the platform or version; Intune's
    /// Reason reads "Device Identifier not preregistered".
    #[serde(rename = "enrollment.device_not_supported")]
    DeviceNotSupported {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// `NotSupported`: the server does not support the request (e.g. this enrollment type).
    #[serde(rename = "enrollment.not_supported")]
    NotSupported {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// `UserLicense`: the user has no Intune licence.
    #[serde(rename = "enrollment.user_license")]
    UserLicense {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// `InMaintenance`: the service is in maintenance (s:Receiver/s:EnrollmentServer).
    #[serde(rename = "enrollment.in_maintenance")]
    InMaintenance {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// s:Authentication: the token is refused (expired, or for another audience).
    #[serde(rename = "enrollment.authentication")]
    Authentication {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// s:CertificateRequest: the certificate request is refused.
    #[serde(rename = "enrollment.certificate_request")]
    CertificateRequest {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// a:InvalidSecurity: the `wsse:Security` header is missing or unusable.
    #[serde(rename = "enrollment.invalid_security")]
    InvalidSecurity {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// s:MessageFormat: the request is judged malformed.
    #[serde(rename = "enrollment.message_format")]
    MessageFormat {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// a:InternalServiceFault: the service failed internally.
    #[serde(rename = "enrollment.internal_service_fault")]
    InternalServiceFault {
        #[serde(default = "soap_status")]
        status: u16,
    },
    /// The right answer under the wrong `Content-Type` (default `text/html; charset=utf-8`,
    /// what a captive portal or an error page sends).
    #[serde(rename = "enrollment.wrong_content_type")]
    WrongContentType {
        #[serde(default = "html")]
        content_type: String,
    },
    /// The right answer sent with `Transfer-Encoding: chunked`, which the Windows client refuses.
    #[serde(rename = "enrollment.chunked")]
    Chunked {},
    /// The answer announces its full length and stops after `fraction` of it (default 0.5).
    #[serde(rename = "enrollment.truncated")]
    Truncated {
        #[serde(default = "half")]
        fraction: f64,
    },
    /// The policy (MS-XCEP `minimalKeyLength`) and the enrollment check demand `bits`.
    #[serde(rename = "enrollment.min_key_length")]
    MinKeyLength { bits: u32 },
    /// The service checks bearer tokens as if they were issued `age` earlier than they were.
    #[serde(rename = "enrollment.token_age")]
    TokenAge { age: SimDuration },
}

fn half() -> f64 {
    0.5
}

impl EnrollmentEffect {
    /// The SOAP fault's HTTP status, for the SOAP-fault effects.
    pub fn soap_status(&self) -> Option<u16> {
        use EnrollmentEffect::*;
        match self {
            DeviceCapReached { status }
            | DeviceNotSupported { status }
            | NotSupported { status }
            | UserLicense { status }
            | InMaintenance { status }
            | Authentication { status }
            | CertificateRequest { status }
            | InvalidSecurity { status }
            | MessageFormat { status }
            | InternalServiceFault { status } => Some(*status),
            _ => None,
        }
    }

    /// The step where Intune reports this error, when the fault names none.
    pub fn default_step(&self) -> Option<EnrollStep> {
        use EnrollmentEffect::*;
        match self {
            MessageFormat { .. } | InMaintenance { .. } | NotSupported { .. } => Some(EnrollStep::Discover),
            Authentication { .. } | InvalidSecurity { .. } | TokenAge { .. } => Some(EnrollStep::Policies),
            DeviceCapReached { .. } | DeviceNotSupported { .. } | UserLicense { .. } | CertificateRequest { .. } | InternalServiceFault { .. } => {
                Some(EnrollStep::Enroll)
            }
            // Transport faults hit every step their hosts reach; the key length is the policy's
            // (what GetPolicies announces) and the enrollment's check alike.
            WrongContentType { .. } | Chunked {} | Truncated { .. } | MinKeyLength { .. } => None,
        }
    }
}

impl EnrollmentFault {
    pub fn kind(&self) -> EnrollmentFaultKind {
        use EnrollmentEffect::*;
        match self.effect {
            DeviceCapReached { .. } => EnrollmentFaultKind::DeviceCapReached,
            DeviceNotSupported { .. } => EnrollmentFaultKind::DeviceNotSupported,
            NotSupported { .. } => EnrollmentFaultKind::NotSupported,
            UserLicense { .. } => EnrollmentFaultKind::UserLicense,
            InMaintenance { .. } => EnrollmentFaultKind::InMaintenance,
            Authentication { .. } => EnrollmentFaultKind::Authentication,
            CertificateRequest { .. } => EnrollmentFaultKind::CertificateRequest,
            InvalidSecurity { .. } => EnrollmentFaultKind::InvalidSecurity,
            MessageFormat { .. } => EnrollmentFaultKind::MessageFormat,
            InternalServiceFault { .. } => EnrollmentFaultKind::InternalServiceFault,
            WrongContentType { .. } => EnrollmentFaultKind::WrongContentType,
            Chunked {} => EnrollmentFaultKind::Chunked,
            Truncated { .. } => EnrollmentFaultKind::Truncated,
            MinKeyLength { .. } => EnrollmentFaultKind::MinKeyLength,
            TokenAge { .. } => EnrollmentFaultKind::TokenAge,
        }
    }

    /// The step the fault hits: its target's, else its effect's own (none: every step).
    pub fn step(&self) -> Option<EnrollStep> {
        self.target.step.or(self.effect.default_step())
    }

    /// Does the fault apply, `elapsed` simulated time after the world started, to the `step`
    /// exchange for `host`?
    pub fn applies(&self, step: EnrollStep, host: &str, elapsed: SimDuration) -> bool {
        self.step().is_none_or(|s| s == step)
            && (self.target.hosts.is_empty() || self.target.hosts.0.iter().any(|p| p.matches(host)))
            && self.window.contains(elapsed)
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        self.window.validate().map_err(|e| format!("{kind}: {e}"))?;
        match &self.effect {
            e if e.soap_status().is_some_and(|s| s != 200 && !(400..=599).contains(&s)) => {
                Err(format!("{kind}: `status` is the SOAP fault's HTTP status: 500 (SOAP 1.2 binding) or 200, or another 4xx/5xx"))
            }
            EnrollmentEffect::Truncated { fraction } if !(0.0..1.0).contains(fraction) => {
                Err(format!("{kind}: `fraction` is the part of the body sent, from 0 up to (not including) 1"))
            }
            EnrollmentEffect::MinKeyLength { bits } if !(512..=16384).contains(bits) => Err(format!("{kind}: `bits` must lie from 512 to 16384")),
            EnrollmentEffect::WrongContentType { content_type } if content_type.trim().is_empty() || !content_type.is_ascii() => {
                Err(format!("{kind}: `content_type` must be a non-empty ASCII media type"))
            }
            EnrollmentEffect::TokenAge { age } if age.0.is_zero() => Err(format!("{kind}: `age` must be above zero")),
            _ => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for EnrollmentFault {
    /// Target and window keys are taken out first; the rest must be exactly one effect's keys.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let target = super::split(&mut table, EnrollmentTarget::KEYS);
        let window = super::split(&mut table, Window::KEYS);
        let effect = EnrollmentEffect::deserialize(toml::Value::Table(table))
            .map_err(|e| super::effect_error(e, "enrollment fault also takes `step`, `hosts`, `after` and `until`"))?;
        let target = EnrollmentTarget::deserialize(target).map_err(|e| D::Error::custom(e.message()))?;
        let window = Window::deserialize(window).map_err(|e| D::Error::custom(e.message()))?;
        Ok(EnrollmentFault { target, window, effect })
    }
}

impl Serialize for EnrollmentFault {
    /// Flat, as written: `kind`, the effect's keys, the target and the window in one table.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            effect: &'a EnrollmentEffect,
            #[serde(flatten)]
            target: &'a EnrollmentTarget,
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

    fn parse(fault: &str) -> Result<EnrollmentFault, String> {
        let text = format!("name = \"s\"\nsummary = \"s\"\narea = \"enrollment\"\nsource = \"t\"\n[[fault]]\n{fault}\n");
        let s = parse_scenario(&text, "s.toml").map_err(|e| e.to_string())?;
        match s.faults.into_iter().next() {
            Some(Fault::Enrollment(f)) => Ok(f),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kinds_parse_with_their_default_step_and_status() {
        let f = parse("kind = \"enrollment.device_cap_reached\"").unwrap();
        assert_eq!(f.kind(), EnrollmentFaultKind::DeviceCapReached);
        assert_eq!(f.effect.soap_status(), Some(500));
        assert!(f.applies(EnrollStep::Enroll, "fef.amsua0101.manage.microsoft.com", SimDuration::ZERO));
        assert!(!f.applies(EnrollStep::Discover, "enrollment.manage.microsoft.com", SimDuration::ZERO));
        let f = parse("kind = \"enrollment.in_maintenance\"\nstatus = 200\nstep = \"enroll\"\nafter = \"1m\"\nuntil = \"1h\"").unwrap();
        assert_eq!(f.effect.soap_status(), Some(200));
        assert!(!f.applies(EnrollStep::Enroll, "x", SimDuration::ZERO));
        assert!(f.applies(EnrollStep::Enroll, "x", SimDuration::from_secs(60)));
        let f = parse("kind = \"enrollment.chunked\"\nhosts = \"r.manage.microsoft.com\"").unwrap();
        assert!(f.applies(EnrollStep::Checkin, "r.manage.microsoft.com", SimDuration::ZERO));
        assert!(!f.applies(EnrollStep::Enroll, "fef.amsua0101.manage.microsoft.com", SimDuration::ZERO));
        let f = parse("kind = \"enrollment.token_age\"\nage = \"2h\"").unwrap();
        assert_eq!(f.effect, EnrollmentEffect::TokenAge { age: SimDuration::from_secs(7200) });
        let v = serde_json::to_value(parse("kind = \"enrollment.min_key_length\"\nbits = 4096\nstep = \"enroll\"").unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "enrollment.min_key_length", "bits": 4096, "step": "enroll"}));
    }

    #[test]
    fn bad_keys_and_values_are_rejected_with_a_reason() {
        for (fault, why) in [
            ("kind = \"enrollment.device_cap_reachd\"", "enrollment.device_cap_reached"),
            ("kind = \"enrollment.chunked\"\nstatus = 500", "also takes `step`"),
            ("kind = \"enrollment.user_license\"\nstatus = 302", "SOAP fault's HTTP status"),
            ("kind = \"enrollment.truncated\"\nfraction = 1.0", "fraction"),
            ("kind = \"enrollment.min_key_length\"", "bits"),
            ("kind = \"enrollment.min_key_length\"\nbits = 64", "512"),
            ("kind = \"enrollment.authentication\"\nstep = \"login\"", "unknown variant"),
            ("kind = \"enrollment.token_age\"\nage = \"0s\"", "above zero"),
            ("kind = \"enrollment.not_supported\"\nafter = \"2m\"\nuntil = \"1m\"", "must lie after"),
        ] {
            let e = parse(fault).unwrap_err();
            assert!(e.contains(why), "{fault}: {e}");
        }
    }
}
