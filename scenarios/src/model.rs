//! The scenario file model. Every struct rejects unknown keys.

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::{Fault, HostPattern, SimDuration};

/// One scenario: a world with faults, a client, and what should happen.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: ScenarioName,
    pub summary: String,
    pub area: Area,
    /// Where the failure comes from: a seed document or a failure-catalog entry.
    pub source: String,
    #[serde(default)]
    pub world: WorldSpec,
    #[serde(default, rename = "fault")]
    pub faults: Vec<Fault>,
    pub client: Option<ClientSpec>,
    pub expect: Option<Expect>,
    pub lab: Option<Lab>,
}

impl Scenario {
    /// The certificate faults, in file order.
    pub fn pki_faults(&self) -> Vec<crate::PkiFault> {
        self.faults.iter().filter_map(|f| if let Fault::Pki(p) = f { Some(p.clone()) } else { None }).collect()
    }

    /// The DNS faults, in file order.
    pub fn dns_faults(&self) -> Vec<crate::DnsFault> {
        self.faults.iter().filter_map(|f| if let Fault::Dns(d) = f { Some(d.clone()) } else { None }).collect()
    }

    /// The customer-network (proxy) faults, in file order.
    pub fn proxy_faults(&self) -> Vec<crate::ProxyFault> {
        self.faults.iter().filter_map(|f| if let Fault::Proxy(n) = f { Some(n.clone()) } else { None }).collect()
    }

    /// The service faults (the cloud's own services misbehaving), in file order.
    pub fn service_faults(&self) -> Vec<crate::ServiceFault> {
        self.faults.iter().filter_map(|f| if let Fault::Service(x) = f { Some(x.clone()) } else { None }).collect()
    }
}

/// A stable scenario name: lower-case letters, digits and dashes. Other tools refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ScenarioName(String);

impl ScenarioName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ScenarioName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ok = !s.is_empty() && s.len() <= 80 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') && !s.starts_with('-');
        if ok {
            Ok(ScenarioName(s))
        } else {
            Err(serde::de::Error::custom(format!("invalid scenario name `{s}`: use lower-case letters, digits and dashes, e.g. \"pki-expired-root\"")))
        }
    }
}

/// The area a scenario belongs to (a JUnit test suite per area).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Baseline,
    Pki,
    Revocation,
    Tls,
    Proxy,
    Dns,
    Cdn,
    Enrollment,
    Cmg,
    Notification,
    Time,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Baseline => "baseline",
            Area::Pki => "pki",
            Area::Revocation => "revocation",
            Area::Tls => "tls",
            Area::Proxy => "proxy",
            Area::Dns => "dns",
            Area::Cdn => "cdn",
            Area::Enrollment => "enrollment",
            Area::Cmg => "cmg",
            Area::Notification => "notification",
            Area::Time => "time",
        }
    }
}

/// Microsoft's public cloud or the US government cloud (`*.manage.microsoft.us`, `login.microsoftonline.us`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cloud {
    #[default]
    Public,
    Usgov,
}

/// The tenant and the world's knobs. Every key has a default; an empty `[world]` is the
/// Contoso tenant of seed 003 on the public cloud.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorldSpec {
    /// Entra tenant id (a GUID). Default: the TenantId of seed 004's sample token.
    pub tenant_id: String,
    pub tenant_name: String,
    /// Verified domains, i.e. the UPN suffixes (seed 003).
    pub domains: Vec<String>,
    pub cloud: Cloud,
    /// Azure Scale Unit that hosts the tenant (seed 002), e.g. `AMSUA0101`.
    pub asu: String,
    /// CMG cloud service name (seed 001), e.g. `GraniteFalls` for `GraniteFalls.cloudapp.net`.
    pub cmg_name: String,
    pub site_code: String,
    /// Simulated "now" at world start (RFC 3339). Default: the wall clock at start.
    #[serde(with = "time::serde::rfc3339::option")]
    pub now: Option<OffsetDateTime>,
    /// How far the world's clock runs ahead of the machine's (and so every client's) clock: a
    /// device whose clock lags sees the world's fresh certificates as not yet valid.
    pub skew: Option<SimDuration>,
    /// Simulated seconds per wall second.
    pub time_scale: TimeScale,
    /// Seed for everything derived deterministically (content, serials). Printed in reports.
    pub seed: u64,
    /// Which CA issues which hosts, ahead of the PKI data's defaults.
    #[serde(rename = "issuer")]
    pub issuers: Vec<IssuerRule>,
    /// Who signs the OCSP answers (RFC 6960 §4.2.2.2): each CA itself, or a delegated
    /// responder certificate it issued for that purpose.
    pub ocsp_signer: OcspSigner,
}

/// The signer of a world's OCSP answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OcspSigner {
    /// The CA that issued the certificate asked about.
    #[default]
    Issuer,
    /// A responder certificate the CA issued (id-kp-OCSPSigning, id-pkix-ocsp-nocheck), sent
    /// along in the answer.
    Delegated,
}

impl Default for WorldSpec {
    fn default() -> Self {
        WorldSpec {
            tenant_id: "cdcc5e91-0adf-4a24-82d0-196667f1c081".into(),
            tenant_name: "Contoso".into(),
            domains: vec!["contoso.com".into(), "us.contoso.com".into(), "eu.contoso.com".into()],
            cloud: Cloud::Public,
            asu: "AMSUA0101".into(),
            cmg_name: "GraniteFalls".into(),
            site_code: "ABC".into(),
            now: None,
            skew: None,
            time_scale: TimeScale(1.0),
            seed: 0,
            issuers: Vec::new(),
            ocsp_signer: OcspSigner::Issuer,
        }
    }
}

/// `[[world.issuer]] hosts = "*.manage.microsoft.com"  ca = "microsoft-rsa-tls-ca-01"`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerRule {
    pub hosts: HostPattern,
    /// A CA id from the PKI data (an intermediate that issues leaves).
    pub ca: String,
}

/// Simulated seconds per wall second: 60 makes a 3-minute timeout take 3 wall seconds.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct TimeScale(pub f64);

impl TimeScale {
    pub const MAX: f64 = 1_000_000.0;

    pub fn new(x: f64) -> Result<Self, String> {
        if x.is_finite() && x > 0.0 && x <= Self::MAX {
            Ok(TimeScale(x))
        } else {
            Err(format!("invalid time scale {x}: give a number above 0 and at most {}", Self::MAX))
        }
    }
}

impl<'de> Deserialize<'de> for TimeScale {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Num {
            I(i64),
            F(f64),
        }
        let x = match Num::deserialize(d)? {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        };
        TimeScale::new(x).map_err(serde::de::Error::custom)
    }
}

/// What runs against the world: a built-in probe or an external command (exactly one).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, try_from = "RawClient")]
pub struct ClientSpec {
    pub kind: ClientKind,
    /// Working directory of a command (relative to where memsim runs).
    pub cwd: Option<String>,
    /// How long the client may run, in simulated time (default: 60 wall seconds).
    pub timeout: Option<SimDuration>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    Probe(Probe),
    Command(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    probe: Option<Probe>,
    command: Option<Vec<String>>,
    cwd: Option<String>,
    timeout: Option<SimDuration>,
}

impl TryFrom<RawClient> for ClientSpec {
    type Error = String;

    fn try_from(raw: RawClient) -> Result<Self, String> {
        let kind = match (raw.probe, raw.command) {
            (Some(p), None) => ClientKind::Probe(p),
            (None, Some(c)) if !c.is_empty() && !c[0].is_empty() => ClientKind::Command(c),
            (None, Some(_)) => return Err("`command` needs at least a program, e.g. [\"./check.sh\", \"--json\"]".into()),
            _ => return Err("[client] takes exactly one of `probe` (a built-in client) or `command`".into()),
        };
        Ok(ClientSpec { kind, cwd: raw.cwd, timeout: raw.timeout })
    }
}

/// The built-in reference clients, each behaving like the real Windows / ConfigMgr component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// MS-MDE2 discovery as the Windows enrollment client starts it: find the enrollment
    /// server for the user's domain and probe `/EnrollmentServer/Discovery.svc` over HTTPS.
    Discovery,
    /// What a ConfigMgr client's CCMHTTP does before any management point message through the
    /// cloud management gateway: reach `<cmg_name>.cloudapp.net`, verify its certificate as
    /// Windows does, and get an HTTP answer.
    CmgConnect,
    /// The ConfigMgr service connection point validating the internet endpoints of its
    /// features (seed 001) and tenant attach (seed 000), CRL checks included; on failure status
    /// message 11488 with SMS_SERVICE_CONNECTOR critical.
    ScpValidate,
    /// The SCP's tenant-attach notification channel: onboard, then hold the long poll to the
    /// notification service for its whole hold time (seed 000: 3 minutes).
    Notification,
    /// The Intune Management Extension downloading a Win32 app from the tenant's ASU CDN:
    /// HEAD, ranged chunks with resume, hash check (seed 002).
    Win32Download,
    /// Seed 002's PowerShell one-liner: the MEM IPs and URLs from the endpoints web service.
    Endpoints,
    /// Entra device registration discovery (dsregcmd's "DRS Discovery Test"): the tenant's
    /// EnterpriseRegistration CNAME (seed 003) and a verified TLS channel to its target.
    Registration,
}

impl Probe {
    pub const ALL: &[Probe] =
        &[Probe::Discovery, Probe::CmgConnect, Probe::ScpValidate, Probe::Notification, Probe::Win32Download, Probe::Endpoints, Probe::Registration];

    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Discovery => "discovery",
            Probe::CmgConnect => "cmg-connect",
            Probe::ScpValidate => "scp-validate",
            Probe::Notification => "notification",
            Probe::Win32Download => "win32-download",
            Probe::Endpoints => "endpoints",
            Probe::Registration => "registration",
        }
    }
}

/// What should hold once the client has ended. Every key is optional; each one given is one
/// expectation in the report.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A probe's verdict, or a command's exit status (0 = pass).
    pub outcome: Option<Outcome>,
    /// The probe's error code, e.g. "0x80072F8F" (skipped when a command replaces the probe).
    pub code: Option<String>,
    /// The probe's status message ID, e.g. 11488 (skipped when a command replaces the probe).
    pub status_message: Option<u32>,
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    /// Regular expressions (regex-lite syntax) the output must match.
    #[serde(default)]
    pub stdout_matches: Vec<String>,
    #[serde(default)]
    pub stderr_matches: Vec<String>,
    /// Journal events that must (or, with `absent = true`, must not) have happened.
    #[serde(default)]
    pub events: Vec<EventExpectation>,
}

/// `{ component = "tls", what = "handshake_failed", host = "*.manage.microsoft.com", fault = "pki.expired" }`
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EventExpectation {
    pub component: Option<crate::Component>,
    #[serde(default, deserialize_with = "event_kind")]
    pub what: Option<String>,
    pub host: Option<HostPattern>,
    pub fault: Option<String>,
    /// Exactly this many matching events.
    pub count: Option<u32>,
    /// At least this many (default 1 unless `count` or `absent` is given).
    pub at_least: Option<u32>,
    /// No matching event at all.
    #[serde(default)]
    pub absent: bool,
    /// What the built-in probe does rather than what any client must cause (e.g. "the probe
    /// fetched the CRL"): skipped, and reported as skipped, when a command replaces the probe.
    #[serde(default)]
    pub probe_only: bool,
}

/// An event kind the world journals (`journal::KINDS`): a misspelt one could never match, and
/// an `absent` check on it could never fail.
fn event_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let what = String::deserialize(d)?;
    if crate::journal::is_event_kind(&what) {
        return Ok(Some(what));
    }
    let known: Vec<String> =
        crate::journal::KINDS.iter().map(|(c, kinds)| format!("{}: {}", c.as_str(), kinds.join(" "))).filter(|l| !l.ends_with(": ")).collect();
    Err(serde::de::Error::custom(format!("no component journals `{what}` events; the kinds are ({})", known.join("; "))))
}

impl EventExpectation {
    pub fn matches(&self, e: &crate::Event) -> bool {
        self.component.is_none_or(|c| c == e.component)
            && self.what.as_deref().is_none_or(|w| w == e.what)
            && self.host.as_ref().is_none_or(|h| e.host.as_deref().is_some_and(|eh| h.matches(eh)))
            && self
                .fault
                .as_deref()
                .is_none_or(|f| e.fault.as_deref() == Some(f) || e.detail.get("faults").and_then(|v| v.as_array()).is_some_and(|a| a.iter().any(|x| x == f)))
    }

    /// A one-line description: what a support engineer reads in a near-miss.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.component {
            parts.push(format!("component={}", c.as_str()));
        }
        if let Some(w) = &self.what {
            parts.push(format!("what={w}"));
        }
        if let Some(h) = &self.host {
            parts.push(format!("host={h}"));
        }
        if let Some(f) = &self.fault {
            parts.push(format!("fault={f}"));
        }
        let quantity = match (self.absent, self.count, self.at_least) {
            (true, _, _) => "no event".to_string(),
            (_, Some(n), _) => format!("exactly {n} event(s)"),
            (_, _, Some(n)) => format!("at least {n} event(s)"),
            _ => "an event".to_string(),
        };
        format!("{quantity} with {}", if parts.is_empty() { "any fields".into() } else { parts.join(" ") })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        }
    }
}

/// For training labs: what to tell a trainee, in a support engineer's words.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub hint: String,
    pub fix: String,
}
