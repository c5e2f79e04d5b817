//! Customer-network faults at the proxy: the shaping faults named after Toxiproxy's toxics
//! (latency, bandwidth, timeout, reset_peer, limit_data), the connection limits of a corporate
//! proxy (idle_timeout, max_lifetime) and its policies (deny, allow_list, auth_required,
//! tls_inspection, strip_range, status, http1_only).
//!
//! A proxy fault is a rule plus a target. The target keys (`hosts`, `endpoint_sets`,
//! `category`, `ports`) sit beside `kind` in the same table and say which requests the rule
//! applies to (for `proxy.allow_list`: which requests pass). No target key means every request.
//! Durations are simulated time; the proxy turns them into wall time with the world's clock.
//! This file is the model only: the proxy in the harness gives these rules their effect.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ProxyFaultKind;
use crate::{HostPattern, SimDuration};

/// The keys that select requests, shared by every proxy fault.
const TARGET_KEYS: &[&str] = &["hosts", "endpoint_sets", "category", "ports"];

/// One proxy fault: which requests, and what happens to them.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyFault {
    pub target: ProxyTarget,
    pub rule: ProxyRule,
}

/// Which requests a fault selects, by the host the client asked for (the host keys combine as a
/// union) and the port it asked for (`ports` narrows that selection).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyTarget {
    /// Host patterns: one (`hosts = "*.manage.microsoft.com"`) or a list.
    #[serde(default, skip_serializing_if = "HostList::is_empty")]
    pub hosts: HostList,
    /// Endpoint-set IDs of the Intune endpoint table (seed 002), e.g. `[170]` for Win32 apps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoint_sets: Vec<u32>,
    /// Every endpoint set of one category of the endpoint table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<EndpointCategory>,
    /// Destination ports, as a proxy's port ACL: `[80]` selects plain-HTTP requests (an
    /// "HTTPS only" policy denies them). Narrows the host keys; alone, any host on these ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "ports")]
    pub ports: Vec<u16>,
}

fn ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u16>, D::Error> {
    let wrong = || D::Error::custom("`ports` takes TCP port numbers from 1 to 65535, e.g. [80]");
    let v = Vec::<i64>::deserialize(d).map_err(|_| wrong())?;
    v.into_iter().map(|p| u16::try_from(p).ok().filter(|p| *p != 0).ok_or_else(wrong)).collect()
}

impl ProxyTarget {
    /// No target key given: the fault applies to every request.
    pub fn is_everything(&self) -> bool {
        self.every_host() && self.ports.is_empty()
    }

    /// No host key given: the fault applies to every host (on the selected ports).
    pub fn every_host(&self) -> bool {
        self.hosts.is_empty() && self.endpoint_sets.is_empty() && self.category.is_none()
    }
}

/// One host pattern or a list of them.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct HostList(pub Vec<HostPattern>);

impl HostList {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for HostList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(HostPattern),
            Many(Vec<HostPattern>),
        }
        match OneOrMany::deserialize(d) {
            Ok(OneOrMany::One(p)) => Ok(HostList(vec![p])),
            Ok(OneOrMany::Many(v)) => Ok(HostList(v)),
            Err(_) => Err(D::Error::custom("`hosts` takes a host pattern or a list of them, e.g. [\"*.manage.microsoft.com\", \"login.microsoftonline.com\"]")),
        }
    }
}

/// The category column of the endpoint table (seed 002: Toestaan, Optimaliseren, Standaard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointCategory {
    Allow,
    Optimize,
    Default,
}

/// How the proxy ends a connection when a fault cuts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseMethod {
    /// An orderly close: the client reads end-of-stream.
    #[default]
    Fin,
    /// A TCP reset: the client gets "connection reset by peer".
    Rst,
    /// Silence: nothing more is forwarded and nothing is closed, as a firewall that forgot the flow.
    Drop,
}

/// How a denied request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockStyle {
    /// 403 Forbidden with a block page, as web filters answer.
    #[default]
    Page,
    /// A TCP reset instead of an answer.
    Reset,
    /// No answer at all: the client waits until it gives up.
    Drop,
}

/// Which way data flows for a shaping fault (Toxiproxy's `stream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Client to server.
    Upstream,
    /// Server to client.
    #[default]
    Downstream,
    Both,
}

/// The schemes a `Proxy-Authenticate` challenge offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    Negotiate,
    Ntlm,
    Basic,
}

fn rst() -> CloseMethod {
    CloseMethod::Rst
}

fn every_scheme() -> Vec<AuthScheme> {
    vec![AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic]
}

/// What a proxy fault does to the requests it selects.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum ProxyRule {
    /// Every chunk of data is held back `latency` before it is passed on.
    #[serde(rename = "proxy.latency")]
    Latency {
        latency: SimDuration,
        #[serde(default)]
        direction: Direction,
    },
    /// Data flows at most `bytes_per_second` per simulated second.
    #[serde(rename = "proxy.bandwidth")]
    Bandwidth {
        bytes_per_second: u64,
        #[serde(default)]
        direction: Direction,
    },
    /// Nothing gets through; the connection is closed `after` (0s: never, the client gives up).
    #[serde(rename = "proxy.timeout")]
    Timeout {
        #[serde(default)]
        after: SimDuration,
    },
    /// The connection is reset `after` it was opened.
    #[serde(rename = "proxy.reset_peer")]
    ResetPeer {
        #[serde(default)]
        after: SimDuration,
    },
    /// Once `bytes` have gone to the client, the connection is cut (default: reset).
    #[serde(rename = "proxy.limit_data")]
    LimitData {
        bytes: u64,
        #[serde(default = "rst")]
        close: CloseMethod,
    },
    /// A connection or tunnel with no bytes either way for `after` is cut, however old it is.
    #[serde(rename = "proxy.idle_timeout")]
    IdleTimeout {
        after: SimDuration,
        #[serde(default)]
        close: CloseMethod,
    },
    /// A connection or tunnel is cut `after` it was opened, busy or not.
    #[serde(rename = "proxy.max_lifetime")]
    MaxLifetime {
        after: SimDuration,
        #[serde(default)]
        close: CloseMethod,
    },
    /// The selected requests are refused.
    #[serde(rename = "proxy.deny")]
    Deny {
        #[serde(default)]
        block: BlockStyle,
    },
    /// Only the selected requests pass (plus every host in `file`: one host or wildcard a line,
    /// `#` comments; absolute, or relative to the directory memsim runs in).
    #[serde(rename = "proxy.allow_list")]
    AllowList {
        file: Option<String>,
        #[serde(default)]
        block: BlockStyle,
    },
    /// 407 until the client sends Basic credentials `user`/`password`; Negotiate and NTLM are
    /// offered (as a Windows proxy does) but never complete.
    #[serde(rename = "proxy.auth_required")]
    AuthRequired {
        user: String,
        password: String,
        #[serde(default = "every_scheme")]
        schemes: Vec<AuthScheme>,
    },
    /// HTTPS is decrypted with certificates of a corporate inspection CA, which the world's CA
    /// bundle holds when `trusted`, and re-encrypted to the server.
    #[serde(rename = "proxy.tls_inspection")]
    TlsInspection { trusted: bool, ca_name: Option<String> },
    /// `Range` and `If-Range` are removed from requests the proxy can read (plain HTTP and
    /// inspected HTTPS), so servers answer 200 with the whole body instead of 206.
    #[serde(rename = "proxy.strip_range")]
    StripRange {},
    /// The proxy answers `status` itself (e.g. 502, 503, 504) instead of forwarding.
    #[serde(rename = "proxy.status")]
    Status { status: u16 },
    /// Where the proxy inspects TLS (`proxy.tls_inspection` on the same requests), it speaks
    /// only HTTP/1.1: its ALPN offers the client `http/1.1` alone, however the client asked for
    /// h2, and it re-originates over HTTP/1.1 (issue 16 item 5), as Squid's SslBump does. Where
    /// nothing is inspected the tunnel is opaque and this rule has no effect.
    #[serde(rename = "proxy.http1_only")]
    Http1Only {},
}

impl ProxyFault {
    pub fn kind(&self) -> ProxyFaultKind {
        match self.rule {
            ProxyRule::Latency { .. } => ProxyFaultKind::Latency,
            ProxyRule::Bandwidth { .. } => ProxyFaultKind::Bandwidth,
            ProxyRule::Timeout { .. } => ProxyFaultKind::Timeout,
            ProxyRule::ResetPeer { .. } => ProxyFaultKind::ResetPeer,
            ProxyRule::LimitData { .. } => ProxyFaultKind::LimitData,
            ProxyRule::IdleTimeout { .. } => ProxyFaultKind::IdleTimeout,
            ProxyRule::MaxLifetime { .. } => ProxyFaultKind::MaxLifetime,
            ProxyRule::Deny { .. } => ProxyFaultKind::Deny,
            ProxyRule::AllowList { .. } => ProxyFaultKind::AllowList,
            ProxyRule::AuthRequired { .. } => ProxyFaultKind::AuthRequired,
            ProxyRule::TlsInspection { .. } => ProxyFaultKind::TlsInspection,
            ProxyRule::StripRange {} => ProxyFaultKind::StripRange,
            ProxyRule::Status { .. } => ProxyFaultKind::Status,
            ProxyRule::Http1Only {} => ProxyFaultKind::Http1Only,
        }
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let kind = self.kind();
        let positive = |d: &SimDuration, key: &str| {
            if d.0.is_zero() { Err(format!("{kind}: `{key}` must be above zero")) } else { Ok(()) }
        };
        match &self.rule {
            ProxyRule::Latency { latency, .. } => positive(latency, "latency")?,
            ProxyRule::IdleTimeout { after, .. } | ProxyRule::MaxLifetime { after, .. } => positive(after, "after")?,
            ProxyRule::Bandwidth { bytes_per_second: 0, .. } => return Err(format!("{kind}: `bytes_per_second` must be above zero")),
            ProxyRule::LimitData { bytes: 0, .. } => return Err(format!("{kind}: `bytes` must be above zero")),
            ProxyRule::Status { status } if !(400..=599).contains(status) || *status == 407 => {
                return Err(format!("{kind}: `status` must be a 4xx or 5xx code such as 502, 503 or 504 (407 is proxy.auth_required)"));
            }
            ProxyRule::AuthRequired { user, schemes, .. } => {
                if user.is_empty() || user.contains(':') {
                    return Err(format!("{kind}: `user` must be a non-empty name without `:` (Basic credentials are user:password)"));
                }
                if schemes.is_empty() {
                    return Err(format!("{kind}: `schemes` must offer at least one of negotiate, ntlm, basic"));
                }
            }
            ProxyRule::AllowList { file: Some(f), .. } if f.trim().is_empty() => {
                return Err(format!("{kind}: `file` must be a path"));
            }
            ProxyRule::AllowList { .. } if !self.target.ports.is_empty() => {
                return Err(format!("{kind}: an allow-list holds hosts; refuse ports with `proxy.deny` and `ports`"));
            }
            ProxyRule::TlsInspection { ca_name: Some(n), .. } if n.trim().is_empty() => {
                return Err(format!("{kind}: `ca_name` must not be empty"));
            }
            _ => {}
        }
        let needs_target = matches!(self.rule, ProxyRule::Deny { .. } | ProxyRule::Status { .. });
        if needs_target && self.target.is_everything() {
            return Err(format!("{kind}: say which requests with `hosts`, `endpoint_sets`, `category` or `ports`"));
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for ProxyFault {
    /// The target keys are taken out first; the rest must be exactly one rule's keys.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        let mut target = toml::Table::new();
        for key in TARGET_KEYS {
            if let Some(v) = table.remove(*key) {
                target.insert((*key).to_string(), v);
            }
        }
        let target = ProxyTarget::deserialize(toml::Value::Table(target)).map_err(|e| D::Error::custom(e.message()))?;
        let rule = ProxyRule::deserialize(toml::Value::Table(table)).map_err(|e| {
            let msg = e.message().trim().to_string();
            if msg.starts_with("unknown field") {
                D::Error::custom(format!("{msg}; every proxy fault also takes `hosts`, `endpoint_sets`, `category` and `ports`"))
            } else {
                D::Error::custom(msg)
            }
        })?;
        Ok(ProxyFault { target, rule })
    }
}

impl Serialize for ProxyFault {
    /// Flat, as written: `kind`, the rule's keys and the target keys in one table.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            #[serde(flatten)]
            rule: &'a ProxyRule,
            #[serde(flatten)]
            target: &'a ProxyTarget,
        }
        Flat { rule: &self.rule, target: &self.target }.serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Fault, parse_scenario};

    use super::*;

    fn parse(fault: &str) -> Result<ProxyFault, String> {
        let text = format!("name = \"p\"\nsummary = \"s\"\narea = \"proxy\"\nsource = \"t\"\n[[fault]]\n{fault}\n");
        let s = parse_scenario(&text, "p.toml").map_err(|e| e.to_string())?;
        match s.faults.into_iter().next() {
            Some(Fault::Proxy(p)) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn target_keys_sit_beside_the_rule() {
        let f = parse("kind = \"proxy.idle_timeout\"\nafter = \"60s\"\nhosts = [\"*.manage.microsoft.com\"]\nclose = \"rst\"").unwrap();
        assert_eq!(f.kind(), ProxyFaultKind::IdleTimeout);
        assert_eq!(f.kind().event(), "idle_timeout");
        assert_eq!(f.rule, ProxyRule::IdleTimeout { after: SimDuration::from_secs(60), close: CloseMethod::Rst });
        assert_eq!(f.target.hosts.0, [HostPattern::parse("*.manage.microsoft.com").unwrap()]);
        let f = parse("kind = \"proxy.deny\"\nports = [80]").unwrap();
        assert!((f.target.every_host(), f.target.is_everything()) == (true, false));
        assert_eq!(f.target.ports, [80]);
        let f = parse("kind = \"proxy.deny\"\nendpoint_sets = [170]\nhosts = \"go.microsoft.com\"").unwrap();
        assert_eq!(f.target.endpoint_sets, [170]);
        assert_eq!(f.target.hosts.0.len(), 1);
        assert_eq!(f.rule, ProxyRule::Deny { block: BlockStyle::Page });
    }

    #[test]
    fn defaults_follow_the_toxics() {
        let f = parse("kind = \"proxy.limit_data\"\nbytes = 1000").unwrap();
        assert_eq!(f.rule, ProxyRule::LimitData { bytes: 1000, close: CloseMethod::Rst });
        assert!(f.target.is_everything());
        let f = parse("kind = \"proxy.auth_required\"\nuser = \"u\"\npassword = \"p\"").unwrap();
        let ProxyRule::AuthRequired { schemes, .. } = f.rule else { panic!() };
        assert_eq!(schemes, [AuthScheme::Negotiate, AuthScheme::Ntlm, AuthScheme::Basic]);
        assert_eq!(parse("kind = \"proxy.strip_range\"").unwrap().rule, ProxyRule::StripRange {});
        assert_eq!(parse("kind = \"proxy.http1_only\"").unwrap().rule, ProxyRule::Http1Only {});
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected_with_a_reason() {
        for (fault, why) in [
            ("kind = \"proxy.idle_timeout\"\nafter = \"60s\"\nclsoe = \"rst\"", "unknown key `clsoe`"),
            ("kind = \"proxy.idle_timeout\"\nafter = \"60s\"\nclsoe = \"rst\"", "endpoint_sets"),
            ("kind = \"proxy.idle_timout\"\nafter = \"60s\"", "proxy.idle_timeout"),
            ("kind = \"proxy.idle_timeout\"\nafter = \"0s\"", "above zero"),
            ("kind = \"proxy.idle_timeout\"\nafter = \"60s\"\nclose = \"slam\"", "slam"),
            ("kind = \"proxy.deny\"", "say which requests"),
            ("kind = \"proxy.deny\"\nhosts = [\"a..b\"]", "host pattern"),
            ("kind = \"proxy.deny\"\nhosts = \"x.com\"\ncategory = \"required\"", "required"),
            ("kind = \"proxy.status\"\nhosts = \"x.com\"\nstatus = 200", "4xx or 5xx"),
            ("kind = \"proxy.status\"\nhosts = \"x.com\"\nstatus = 407", "auth_required"),
            ("kind = \"proxy.auth_required\"\nuser = \"a:b\"\npassword = \"p\"", "without `:`"),
            ("kind = \"proxy.tls_inspection\"", "trusted"),
            ("kind = \"proxy.bandwidth\"\nbytes_per_second = 0", "above zero"),
            ("kind = \"proxy.deny\"\nports = [70000]", "from 1 to 65535"),
            ("kind = \"proxy.deny\"\nports = 80", "from 1 to 65535"),
            ("kind = \"proxy.allow_list\"\nhosts = \"x.com\"\nports = [443]", "refuse ports with `proxy.deny`"),
        ] {
            let e = parse(fault).unwrap_err();
            assert!(e.contains(why), "{fault}: {e}");
        }
    }

    #[test]
    fn serializes_flat_as_written() {
        let f = parse("kind = \"proxy.tls_inspection\"\ntrusted = true\nhosts = \"*.manage.microsoft.com\"").unwrap();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "proxy.tls_inspection", "trusted": true, "ca_name": null, "hosts": ["*.manage.microsoft.com"]}));
    }
}
