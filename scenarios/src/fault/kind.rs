//! Fault identity as values: one fieldless kind enum per layer, and [`FaultKind`] over all of
//! them. A scenario names a fault `kind = "<layer>.<name>"`; past the parser, components carry
//! these values and only the journal turns them back into names. Adding a fault kind is one
//! line in the layer's table below (plus the variant with its keys in the layer's file).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares every layer's kind enum (via `fault_kinds_with!`) and [`FaultKind`] over them.
macro_rules! layer_kinds {
    ($($layer_variant:ident => $(#[$doc:meta])* $enum:ident, $layer:literal, { $($body:tt)* };)+) => {
        $(
            fault_kinds_with!($layer_variant, $(#[$doc])* $enum, $layer, { $($body)* });
        )+

        /// Any fault kind, by layer.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FaultKind {
            $($layer_variant($enum)),+
        }

        impl FaultKind {
            /// The kind as a scenario writes it, e.g. `pki.expired`.
            pub fn name(self) -> &'static str {
                match self {
                    $(FaultKind::$layer_variant(k) => k.name()),+
                }
            }

            /// The kind's layer, its prefix: `pki`, `proxy` …
            pub fn layer(self) -> &'static str {
                match self {
                    $(FaultKind::$layer_variant(_) => $enum::LAYER),+
                }
            }

            /// Every fault kind of every layer.
            pub fn all() -> impl Iterator<Item = FaultKind> {
                std::iter::empty()$(.chain($enum::ALL.iter().map(|k| FaultKind::$layer_variant(*k))))+
            }

            /// The layer prefixes, for error messages.
            pub const LAYERS: &'static [&'static str] = &[$($enum::LAYER),+];
        }
    };
}

/// Declares one layer's kind enum: each variant with the name it has after the layer's prefix,
/// which is also the journal's `what` when the layer journals a fault as an event of its own.
macro_rules! fault_kinds_with {
    ($layer_variant:ident, $(#[$doc:meta])* $enum:ident, $layer:literal, { $($(#[$vdoc:meta])* $variant:ident = $name:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $enum {
            $($(#[$vdoc])* $variant),+
        }

        impl $enum {
            /// Every kind of the layer, in declaration order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),+];
            /// The layer's prefix in `kind = "<layer>.<name>"`.
            pub const LAYER: &'static str = $layer;

            /// The kind as a scenario writes it, e.g. `proxy.idle_timeout`.
            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => concat!($layer, ".", $name)),+
                }
            }

            /// The kind without its layer, e.g. `idle_timeout`: the journal's `what` for a layer
            /// that journals its faults as events of their own (the proxy).
            pub fn event(self) -> &'static str {
                match self {
                    $($enum::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl From<$enum> for FaultKind {
            fn from(k: $enum) -> FaultKind {
                FaultKind::$layer_variant(k)
            }
        }
    };
}

layer_kinds! {
    Pki => /// Certificate faults, named after rustls' `CertificateError`.
    PkiFaultKind, "pki", {
        Expired = "expired",
        NotValidYet = "not_valid_yet",
        Revoked = "revoked",
        NotValidForName = "not_valid_for_name",
        UnknownIssuer = "unknown_issuer",
        IncompleteChain = "incomplete_chain",
        Staple = "staple",
    };
    Dns => /// DNS faults, named after hickory's response codes plus what a network does to DNS.
    DnsFaultKind, "dns", {
        NxDomain = "nx_domain",
        ServFail = "serv_fail",
        Refused = "refused",
        Drop = "drop",
        Delay = "delay",
        WrongAddress = "wrong_address",
        CnameTarget = "cname_target",
        Truncate = "truncate",
        Ttl = "ttl",
    };
    Proxy => /// Customer-network faults at the proxy: Toxiproxy's toxics, connection limits, policies.
    ProxyFaultKind, "proxy", {
        Latency = "latency",
        Bandwidth = "bandwidth",
        Timeout = "timeout",
        ResetPeer = "reset_peer",
        LimitData = "limit_data",
        IdleTimeout = "idle_timeout",
        MaxLifetime = "max_lifetime",
        Deny = "deny",
        AllowList = "allow_list",
        AuthRequired = "auth_required",
        TlsInspection = "tls_inspection",
        StripRange = "strip_range",
        Status = "status",
        Http1Only = "http1_only",
    };
    Service => /// The cloud's own services misbehaving at their HTTP seam: generic effects first
    /// (any service, from the composition's layer), then the revocation responders' own.
    ServiceFaultKind, "service", {
        Status = "status",
        Delay = "delay",
        Malformed = "malformed",
        Close = "close",
        OcspTryLater = "ocsp_try_later",
        OcspMalformed = "ocsp_malformed",
        OcspStale = "ocsp_stale",
        OcspSlow = "ocsp_slow",
        CrlStale = "crl_stale",
        CrlUnavailable = "crl_unavailable",
        CrlSlow = "crl_slow",
        DrsDirectoryError = "drs_directory_error",
    };
    Cmg => /// The cloud management gateway and the management point behind it (issue 15).
    CmgFaultKind, "cmg", {
        ConnectionPointDown = "connection_point_down",
        ContentMissing = "content_missing",
        CcmTokenExpired = "ccm_token_expired",
        EntraRefused = "entra_refused",
        ClientOffline = "client_offline",
    };
    Token => /// The scenario's bulk registration token (seed 004, failure catalog CMG-01/02, TIME-02).
    TokenFaultKind, "token", {
        Expired = "expired",
        LifetimeOverMax = "lifetime_over_max",
        Blocked = "blocked",
        WrongSigner = "wrong_signer",
        WrongIssuer = "wrong_issuer",
        NotYetValid = "not_yet_valid",
        Malformed = "malformed",
    };
    Entra => /// Entra ID's authority answering as Entra does when it refuses (AADSTS codes), or
    /// rolling its keys, disagreeing on the time, or slowing down (issue 12).
    EntraFaultKind, "entra", {
        BadPassword = "bad_password",
        UnknownClient = "unknown_client",
        BadSecret = "bad_secret",
        MfaRequired = "mfa_required",
        ConditionalAccess = "conditional_access",
        NotLicensed = "not_licensed",
        TenantNotFound = "tenant_not_found",
        RefreshTokenExpired = "refresh_token_expired",
        Throttled = "throttled",
        KeyRollover = "key_rollover",
        ClockSkew = "clock_skew",
        Slow = "slow",
    };
    Enrollment => /// The Windows MDM enrollment services' own errors (MS-MDE2 §2.2.10 ErrorTypes and
    /// subcodes), broken transports of their answers, and changed policy parameters.
    EnrollmentFaultKind, "enrollment", {
        DeviceCapReached = "device_cap_reached",
        DeviceNotSupported = "device_not_supported",
        NotSupported = "not_supported",
        UserLicense = "user_license",
        InMaintenance = "in_maintenance",
        Authentication = "authentication",
        CertificateRequest = "certificate_request",
        InvalidSecurity = "invalid_security",
        MessageFormat = "message_format",
        InternalServiceFault = "internal_service_fault",
        WrongContentType = "wrong_content_type",
        Chunked = "chunked",
        Truncated = "truncated",
        MinKeyLength = "min_key_length",
        TokenAge = "token_age",
    };
}

impl FaultKind {
    /// The kind a scenario's name stands for, if any (`"proxy.idle_timeout"`).
    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::all().find(|k| k.name() == name)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for FaultKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// A fault kind by name, e.g. an expectation's `fault = "pki.expired"`: a misspelt one is an
/// error (an `absent` check on it could never fail), listing the kinds there are.
impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        FaultKind::from_name(&name).ok_or_else(|| {
            let known: Vec<&str> = FaultKind::all().map(FaultKind::name).collect();
            serde::de::Error::custom(format!("unknown fault kind `{name}`; the kinds are: {}", known.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_prefixed_and_round_trip() {
        let all: Vec<FaultKind> = FaultKind::all().collect();
        assert_eq!(all.len(), 7 + 9 + 14 + 12 + 12 + 15 + 5 + 7);
        let mut names: Vec<&str> = all.iter().map(|k| k.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len(), "two kinds share a name");
        for k in all {
            assert_eq!(FaultKind::from_name(k.name()), Some(k));
            assert!(FaultKind::LAYERS.iter().any(|l| k.name().starts_with(&format!("{l}."))), "{k}");
        }
        assert_eq!(FaultKind::from_name("proxy.idle_timout"), None);
        assert_eq!(ProxyFaultKind::IdleTimeout.event(), "idle_timeout");
        assert_eq!(FaultKind::from(DnsFaultKind::NxDomain).to_string(), "dns.nx_domain");
    }
}
