//! A scenario's client: a built-in reference probe or an external command.

use serde::{Deserialize, Serialize};

use crate::SimDuration;

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
