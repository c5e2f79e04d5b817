//! A scenario's client: a built-in reference probe or an external command.

use serde::{Deserialize, Serialize};

use crate::SimDuration;

/// What runs against the world: a built-in probe or an external command (exactly one).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, try_from = "RawClient")]
pub struct ClientSpec {
    pub kind: ClientKind,
    /// Working directory of a command; a relative one is resolved against the directory of
    /// the scenario file (not where memsim runs), as every relative path in a scenario is.
    pub cwd: Option<String>,
    /// How long the client may run, in wall time whatever the time scale (default: `memsim run
    /// --timeout`, 60 s). Past it the client's process group is stopped and the scenario is an error.
    pub timeout: Option<SimDuration>,
    /// The URL on this scenario's path that a plain HTTP(S) fetch exercises (`https://host/path`):
    /// in a healthy world a GET of it answers 2xx; here the scenario's faults decide. Commands get
    /// it as `MEMSIM_TARGET`; `memsim list --format json` shows it. Scenarios whose failure needs
    /// more than one fetch (a long-poll, ranges, a CNAME walk, a revocation check) have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The `sign-in` probe's grant (default: the resource owner password grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<SignInGrant>,
    /// The `sign-in` probe's resource, as a scope names it without `/.default` (default: the
    /// Intune enrollment service, `https://enrollment.manage.microsoft.com/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The Windows machine's certificate state when a probe starts (`[client.state]`, issue 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<MachineState>,
}

/// What the machine a Windows-like probe runs on already holds, and may do, before it connects
/// (`[client.state]`): the probes verify chains and check revocation with CryptoAPI's state.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MachineState {
    /// CAs (ids of pki.toml) already in the machine's intermediate store (pushed by policy, or
    /// fetched before), as served by the world.
    #[serde(default)]
    pub intermediates: Vec<String>,
    /// Whether CryptoAPI may download a missing issuer from its AIA CA Issuers URL (`false`: a
    /// machine whose policy turns URL retrieval off, or that cannot reach the internet).
    #[serde(default = "yes")]
    pub aia: bool,
    /// Entries of CryptoAPI's URL cache, each fetched `age` (simulated) before the probe starts.
    #[serde(default)]
    pub cached: Vec<CachedAnswer>,
}

impl Default for MachineState {
    fn default() -> Self {
        MachineState { intermediates: Vec::new(), aia: true, cached: Vec::new() }
    }
}

fn yes() -> bool {
    true
}

/// One entry of the URL cache: as the CA or responder issued it `age` before the probe starts,
/// and honoured until its own nextUpdate.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum CachedAnswer {
    /// The CRL of CA `ca` (a pki.toml id), from its first distribution point.
    Crl { ca: String, age: SimDuration },
    /// The OCSP answer about the certificate the world serves for `host`.
    Ocsp { host: String, age: SimDuration },
}

impl CachedAnswer {
    pub fn age(&self) -> SimDuration {
        match self {
            CachedAnswer::Crl { age, .. } | CachedAnswer::Ocsp { age, .. } => *age,
        }
    }
}

/// How the `sign-in` probe gets its token (RFC 6749 §4, RFC 8628).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInGrant {
    /// The user's name and password (the Microsoft Authentication Broker, as libhimmelblau signs in).
    #[default]
    Password,
    /// Then a refresh grant with the refresh token it got.
    RefreshToken,
    /// The device code flow: poll until the simulated user has signed in.
    DeviceCode,
    /// App-only, with the tenant's confidential app's secret.
    ClientCredentials,
}

impl SignInGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInGrant::Password => "password",
            SignInGrant::RefreshToken => "refresh_token",
            SignInGrant::DeviceCode => "device_code",
            SignInGrant::ClientCredentials => "client_credentials",
        }
    }
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
    target: Option<String>,
    grant: Option<SignInGrant>,
    resource: Option<String>,
    state: Option<MachineState>,
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
        if (raw.grant.is_some() || raw.resource.is_some()) && kind != ClientKind::Probe(Probe::SignIn) {
            return Err("`grant` and `resource` go with probe = \"sign-in\"".into());
        }
        if raw.resource.as_deref().is_some_and(|r| r.trim().is_empty() || r.len() > 300 || r.contains(char::is_whitespace)) {
            return Err("`resource` is one app id URI or app id, e.g. \"https://enrollment.manage.microsoft.com/\"".into());
        }
        if raw.state.is_some() && !matches!(kind, ClientKind::Probe(_)) {
            return Err("[client.state] is the state of a Windows-like probe's machine; a command brings its own".into());
        }
        Ok(ClientSpec { kind, cwd: raw.cwd, timeout: raw.timeout, target: raw.target, grant: raw.grant, resource: raw.resource, state: raw.state })
    }
}

/// Declares [`Probe`] once: each probe's variant, its name in scenario files and on the command
/// line, and its doc (the `memsim probe` help). `ALL` and `as_str` follow from
/// it; nothing else lists the probes.
macro_rules! probes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $name:literal,)+) => {
        /// The built-in reference clients, each behaving like the real Windows / ConfigMgr component.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
        pub enum Probe {
            $($(#[doc = $doc])+ #[serde(rename = $name)] $variant,)+
        }

        impl Probe {
            pub const ALL: &[Probe] = &[$(Probe::$variant,)+];

            /// The name scenarios and `memsim probe` use, e.g. `scp-validate`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Probe::$variant => $name,)+
                }
            }

            /// What the probe does: its doc as one line (`memsim probe --help` lists it).
            pub fn about(self) -> &'static str {
                match self {
                    $(Probe::$variant => concat!($($doc),+).trim_ascii_start(),)+
                }
            }
        }
    };
}

probes! {
    /// MS-MDE2 discovery as the Windows enrollment client starts it: find the enrollment
    /// server for the user's domain and probe `/EnrollmentServer/Discovery.svc` over HTTPS.
    Discovery = "discovery",
    /// The Windows MDM enrollment client end to end: MS-MDE2 discovery, a token from the
    /// world's Entra, MS-XCEP policies, an RSA key and PKCS#10, MS-WSTEP enrollment, the
    /// provisioning document, and the first OMA-DM check-in over mutual TLS.
    Enroll = "enroll",
    /// What a ConfigMgr client's CCMHTTP does before any management point message through the
    /// cloud management gateway: reach `<cmg_name>.cloudapp.net`, verify its certificate as
    /// Windows does, and get an HTTP answer.
    CmgConnect = "cmg-connect",
    /// ccmsetup.exe with `/mp:https://<cmg>/CCM_Proxy_MutualAuth/<id>` and `/regtoken:` on an
    /// internet-only device (seed 004): MP list, token service, registration, client-token renewal.
    CmgRegister = "cmg-register",
    /// The ConfigMgr service connection point validating the internet endpoints of its
    /// features (seed 001) and tenant attach (seed 000), CRL checks included; on failure status
    /// message 11488 with SMS_SERVICE_CONNECTOR critical.
    ScpValidate = "scp-validate",
    /// The SCP's tenant-attach notification channel: onboard, then hold the long poll to the
    /// notification service for its whole hold time (seed 000: 3 minutes).
    Notification = "notification",
    /// The Intune Management Extension downloading a Win32 app from the tenant's ASU CDN:
    /// HEAD, ranged chunks with resume, hash check (seed 002).
    Win32Download = "win32-download",
    /// Seed 002's PowerShell one-liner: the MEM IPs and URLs from the endpoints web service.
    Endpoints = "endpoints",
    /// Entra device registration discovery (dsregcmd's "DRS Discovery Test"): the tenant's
    /// EnterpriseRegistration CNAME (seed 003) and a verified TLS channel to its target.
    Registration = "registration",
    /// `dsregcmd`'s device join (Entra join, protocols.md §6): DRS discovery through the tenant's
    /// EnterpriseRegistration CNAME, a token for DRS from the world's Entra, nonce, join with an
    /// RSA-2048 PKCS#10, and the returned device certificate checked (chains to
    /// MS-Organization-Access, holds the request's key, names the device id).
    DeviceJoin = "device-join",
    /// An MSAL-like public client signing in to Entra ID (issue 12): OpenID discovery of the
    /// tenant's authority, then the scenario's grant, then the token checked against the JWKS
    /// and the client's clock; on refusal the authority's AADSTS code.
    SignIn = "sign-in",
}

impl Probe {
    /// The probe of that name.
    pub fn from_name(name: &str) -> Option<Probe> {
        Probe::ALL.iter().copied().find(|p| p.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serde name, the `as_str` name and `from_name` are one spelling (issue 10, #7).
    #[test]
    fn one_name_per_probe_everywhere() {
        for p in Probe::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::Value::String(p.as_str().into()));
            assert_eq!(Probe::from_name(p.as_str()), Some(*p));
            assert!(!p.about().is_empty() && !p.about().contains('\n'), "{p:?}");
        }
        assert_eq!(Probe::about(Probe::Endpoints), "Seed 002's PowerShell one-liner: the MEM IPs and URLs from the endpoints web service.");
        assert_eq!(Probe::from_name("scp_validate"), None);
    }
}
