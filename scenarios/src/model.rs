//! The scenario file model. Every struct rejects unknown keys.

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::{ClientSpec, Expect, Fault, HostPattern, SimDuration};

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
    /// `[[check]]`: several clients run one after another against this one world and its
    /// faults, each with its own expectations (instead of one `[client]` and `[expect]`).
    #[serde(default, rename = "check", skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    pub lab: Option<Lab>,
}

/// One `[[check]]`: a client and what it should cause, with the same keys as `[client]` and
/// `[expect]`. The checks of a scenario run in file order, one after another, in one world.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Names the check in reports (default: the probe's name, or `command`); unique in its
    /// scenario, in lower-case letters, digits and dashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub client: ClientSpec,
    pub expect: Expect,
}

/// One check of a scenario as the runner, the reports and the lab iterate them: a `[[check]]`
/// entry, or the scenario's one `[client]` with its `[expect]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckRef<'a> {
    /// 0-based, in run order.
    pub index: usize,
    /// The check's `name`, else its probe's name (`discovery`), else `command`.
    pub name: &'a str,
    pub client: &'a ClientSpec,
    pub expect: &'a Expect,
}

/// What a `[client]` without `[expect]` is held to (an `up` scenario; `run` refuses it).
static NO_EXPECTATIONS: Expect = Expect::NONE;

impl ClientSpec {
    /// The default name of a check running this client: its probe's name, or `command`.
    pub fn label(&self) -> &'static str {
        match &self.kind {
            crate::ClientKind::Probe(p) => p.as_str(),
            crate::ClientKind::Command(_) => "command",
        }
    }
}

impl Scenario {
    /// The checks, in run order: each `[[check]]`, or the one `[client]` (with its `[expect]`,
    /// or none). A scenario without a client (a world for `memsim up`) has none.
    pub fn checks(&self) -> impl Iterator<Item = CheckRef<'_>> + '_ {
        let single = self.client.as_ref().filter(|_| self.checks.is_empty()).map(|client| CheckRef {
            index: 0,
            name: client.label(),
            client,
            expect: self.expect.as_ref().unwrap_or(&NO_EXPECTATIONS),
        });
        let listed = self.checks.iter().enumerate().map(|(index, c)| CheckRef {
            index,
            name: c.name.as_deref().unwrap_or_else(|| c.client.label()),
            client: &c.client,
            expect: &c.expect,
        });
        single.into_iter().chain(listed)
    }

    /// The target URL of the first check that has one: the one `MEMSIM_TARGET` of a world
    /// `memsim up` (or the in-process API) starts from the scenario.
    pub fn first_target(&self) -> Option<&str> {
        self.checks().find_map(|c| c.client.target.as_deref())
    }

    /// Whether the scenario lists `[[check]]`s (reports then name each check).
    pub fn has_check_list(&self) -> bool {
        !self.checks.is_empty()
    }

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

    /// Make the relative paths a scenario file names — allow-list `file`s and the command's
    /// `cwd` — relative to `dir`, the file's directory, instead of wherever memsim runs.
    pub fn resolve_paths(&mut self, dir: &std::path::Path) {
        let resolve = |p: &mut String| {
            if !p.trim().is_empty() && std::path::Path::new(p.as_str()).is_relative() {
                *p = dir.join(p.as_str()).display().to_string();
            }
        };
        for f in &mut self.faults {
            if let Fault::Proxy(crate::ProxyFault { rule: crate::ProxyRule::AllowList { file: Some(file), .. }, .. }) = f {
                resolve(file);
            }
        }
        if let Some(cwd) = self.client.as_mut().and_then(|c| c.cwd.as_mut()) {
            resolve(cwd);
        }
        for cwd in self.checks.iter_mut().filter_map(|c| c.client.cwd.as_mut()) {
            resolve(cwd);
        }
    }

    /// The Entra ID faults (the authority's own errors), in file order.
    pub fn entra_faults(&self) -> Vec<crate::EntraFault> {
        self.faults.iter().filter_map(|f| if let Fault::Entra(x) = f { Some(x.clone()) } else { None }).collect()
    }

    /// The CMG faults (issue 15), in file order.
    pub fn cmg_faults(&self) -> Vec<crate::CmgFault> {
        self.faults.iter().filter_map(|f| if let Fault::Cmg(x) = f { Some(x.clone()) } else { None }).collect()
    }

    /// The faults of the scenario's bulk registration token (issue 15), in file order.
    pub fn token_faults(&self) -> Vec<crate::TokenFault> {
        self.faults.iter().filter_map(|f| if let Fault::Token(x) = f { Some(x.clone()) } else { None }).collect()
    }

    /// The service faults (the cloud's own services misbehaving), in file order.
    pub fn service_faults(&self) -> Vec<crate::ServiceFault> {
        self.faults.iter().filter_map(|f| if let Fault::Service(x) = f { Some(x.clone()) } else { None }).collect()
    }

    /// The enrollment services' faults, in file order.
    pub fn enrollment_faults(&self) -> Vec<crate::EnrollmentFault> {
        self.faults.iter().filter_map(|f| if let Fault::Enrollment(x) = f { Some(x.clone()) } else { None }).collect()
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema)]
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
    Entra,
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
            Area::Entra => "entra",
        }
    }
}

/// Microsoft's public cloud or the US government cloud (`*.manage.microsoft.us`, `login.microsoftonline.us`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize, schemars::JsonSchema)]
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
    /// Users and app registrations beyond (or changing) the data file's (`[world.entra]`).
    #[serde(skip_serializing_if = "crate::EntraSpec::is_default")]
    pub entra: crate::EntraSpec,
    /// The cloud management gateway's management point and its internet clients (issue 15).
    pub cmg: CmgSpec,
}

/// `[world.cmg]`: the site behind the cloud management gateway (seed 004).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CmgSpec {
    /// The management point's site-system role id in `/CCM_Proxy_MutualAuth/<id>` (default: the
    /// id of seed 004's ccmsetup example). The gateway routes any numeric id.
    pub mp_id: u64,
    /// Simulated months the reference client stays in contact after it registered, renewing its
    /// client token each month (seed 004: "eenmaal per maand"); 0: register only.
    pub months: u32,
    /// How the reference client registers: a bulk registration token (`/regtoken`), or an
    /// Entra ID token for `https://ConfigMgrService` (seed 004's recommended path).
    pub auth: CmgAuth,
    /// The `/lifetime` (minutes, 1 to the tool's maximum) the admin gave BulkRegistrationTokenTool
    /// for the scenario's token; none: the tool's default (tokens.toml).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regtoken_lifetime: Option<u32>,
}

/// The identity an internet client registers through the CMG with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CmgAuth {
    #[default]
    BulkToken,
    Entra,
}

impl Default for CmgSpec {
    fn default() -> Self {
        CmgSpec { mp_id: 72186325152220500, months: 0, auth: CmgAuth::BulkToken, regtoken_lifetime: None }
    }
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
            entra: crate::EntraSpec::default(),
            cmg: CmgSpec::default(),
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
    /// A million simulated seconds per wall second: a year in 32 wall seconds.
    pub const MAX: f64 = 1_000_000.0;
    /// A thousand wall seconds per simulated second. Slower is no use to a test, and the
    /// floor keeps every simulated span's wall time finite: a scale of 1e-300 made a 60 s
    /// timeout 6e301 wall seconds, which no `Duration` holds (issue 11).
    pub const MIN: f64 = 0.001;

    pub fn new(x: f64) -> Result<Self, String> {
        if x.is_finite() && (Self::MIN..=Self::MAX).contains(&x) {
            Ok(TimeScale(x))
        } else {
            Err(format!("invalid time scale {x:?}: give a number from {} to {}", Self::MIN, Self::MAX))
        }
    }
}

impl<'de> Deserialize<'de> for TimeScale {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = f64;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a number of simulated seconds per wall second, from {} to {}, e.g. 60", TimeScale::MIN, TimeScale::MAX)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
        }
        let x = d.deserialize_any(Visitor)?;
        TimeScale::new(x).map_err(serde::de::Error::custom)
    }
}

/// For training labs: what to tell a trainee, in a support engineer's words.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lab {
    pub hint: String,
    pub fix: String,
    /// What proves the trainee's fix (`memsim lab check`, issue 17); default: the scenario's
    /// probe with its healthy baseline's expectation. Not in reports.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub fixed: Option<LabFixed>,
}

/// `[lab.fixed]`: the client and expectation that hold once a lab's fault is fixed, e.g.
/// `probe = "notification"` and `[lab.fixed.expect] outcome = "pass"`. Both keys are optional:
/// the probe defaults to the scenario's `[client]` probe, the expectation to the healthy
/// baseline of that probe (the catalog's `baseline` scenario for it).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabFixed {
    pub probe: Option<crate::Probe>,
    pub expect: Option<crate::Expect>,
}
