//! The built-in reference clients ("probes"). Each behaves like the real Windows / ConfigMgr
//! component: it knows only what a client knows — the world's addresses, CA bundle, proxy and
//! tenant, as `world.json` gives them — validates TLS against the world's CA, and returns a
//! structured verdict: passed, or failed at a step with a code and a message.

mod aia;
pub mod client_state;
mod cmg;
mod cmg_entra;
mod cmg_register;
mod cmg_session;
pub(crate) mod code;
mod device_cert;
mod device_join;
mod discovery;
mod endpoints;
pub mod enroll;
mod http;
mod net;
mod notification;
mod registration;
mod resolve;
pub mod revocation;
mod revocation_ocsp;
mod scp;
pub mod sign_in;
pub mod verify;
mod win32;

use std::net::SocketAddr;
use std::path::PathBuf;

use mock_cloud::Catalog;
use scenarios::{Cloud, Probe};
use serde::Serialize;

pub use code::{Code, CodeBook, CodeBookError, StatusMessage};

use crate::describe::WorldDescription;

/// What a probe knows about the world it runs against (the content of `world.json`).
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub https_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub dns_addr: Option<SocketAddr>,
    pub proxy_url: Option<String>,
    pub ca_bundle: PathBuf,
    pub domains: Vec<String>,
    pub cloud: Cloud,
    pub cmg_name: String,
    /// The tenant's Entra id, as the tenant-attach gateway wants it.
    pub tenant_id: String,
    /// The tenant's Azure Scale Unit (seed 002), e.g. `AMSUA0101`.
    pub asu: String,
    /// world.json's `content`: every package the CDNs serve, with its URL, size and SHA-256.
    pub content: Vec<mock_cloud::services::content::ManifestEntry>,
    /// The world's time scale (simulated ÷ wall), for a client's own deadlines in simulated
    /// time: world.json's `time_scale`; `memsim probe` lets `MEMSIM_TIME_SCALE` override it.
    pub time_scale: f64,
    /// How the `enroll` probe signs in: world.json's Entra authority and first user.
    pub enroll_sign_in: Option<enroll::TokenSource>,
    /// world.json's `client_ca_bundle`: the roots that verify a device certificate the world
    /// issued (the device-join probe checks its certificate against them).
    pub client_ca_bundle: PathBuf,
    /// The Entra user a sign-in uses (world.json's first `entra.users`): UPN and password.
    pub entra_user: Option<(String, String)>,
    /// world.json's `entra`: the authority, users and apps the `sign-in` probe signs in with.
    pub entra: mock_cloud::services::entra::EntraDescription,
    /// The `sign-in` probe's grant and resource (the scenario's `[client]`).
    pub sign_in: sign_in::SignIn,
    /// The client's clock: the world's simulated clock less the world's skew, when the probe
    /// runs inside the world's process; else (`memsim probe`) the machine's.
    pub client_clock: Option<scenarios::Clock>,
    /// What `cmg-register` is given besides world.json (issue 15).
    pub cmg: CmgPlan,
    /// The Windows machine's certificate state: intermediate store, AIA downloads allowed,
    /// OCSP staples, CryptoAPI's URL cache (issue 16; the scenario's `[client.state]`).
    pub client_state: std::sync::Arc<client_state::ClientState>,
}

/// The `cmg-register` probe's command line and life: what ccmsetup is given (`/mp:`, `SMSSiteCode=`,
/// `/regtoken:`) and how long the installed client lives on. The runner fills it from the
/// scenario and the world's site; `memsim probe` from `MEMSIM_CMG_*` or the control endpoint.
#[derive(Debug, Clone)]
pub struct CmgPlan {
    /// The bulk registration token; `Err`: what the tool said when it refused to make one.
    pub regtoken: Option<Result<String, String>>,
    /// The management point's role id in `/CCM_Proxy_MutualAuth/<id>`.
    pub mp_id: u64,
    pub site_code: String,
    /// Simulated months of monthly contact after registering (`[world.cmg] months`).
    pub months: u32,
    /// `cmg.client_offline`: silence this long after registering, then one contact.
    pub offline: Option<scenarios::SimDuration>,
    /// Register with the bulk token, or with an Entra ID token of the target's `entra_user` from
    /// its `entra.authority` (world.json's).
    pub auth: scenarios::CmgAuth,
}

impl CmgPlan {
    /// The plan a scenario's world gives its client, without a token yet.
    pub fn of(scenario: &scenarios::Scenario) -> CmgPlan {
        CmgPlan {
            regtoken: None,
            mp_id: scenario.world.cmg.mp_id,
            site_code: scenario.world.site_code.clone(),
            months: scenario.world.cmg.months,
            offline: mock_cloud::services::cmg::faults::offline(&scenario.cmg_faults()),
            auth: scenario.world.cmg.auth,
        }
    }
}

impl ProbeTarget {
    /// What a client knows of the world described, at the world's time scale.
    pub fn new(world: &WorldDescription, time_scale: f64) -> ProbeTarget {
        ProbeTarget {
            https_addr: world.https_addr,
            http_addr: world.http_addr,
            dns_addr: Some(world.dns_addr),
            proxy_url: Some(world.proxy_url.clone()),
            ca_bundle: world.ca_bundle.clone(),
            domains: world.tenant.domains.clone(),
            cloud: world.tenant.cloud,
            cmg_name: world.tenant.cmg_name.clone(),
            tenant_id: world.tenant.id.clone(),
            asu: world.tenant.asu.clone(),
            content: world.content.clone(),
            time_scale,
            enroll_sign_in: world.entra.users.first().map(|u| enroll::TokenSource::Authority {
                authority: world.entra.authority.clone(),
                upn: u.upn.clone(),
                password: u.password.clone(),
            }),
            client_ca_bundle: world.client_ca_bundle.clone(),
            entra_user: world.entra.users.first().map(|u| (u.upn.clone(), u.password.clone())),
            entra: world.entra.clone(),
            sign_in: sign_in::SignIn::default(),
            client_clock: None,
            cmg: CmgPlan {
                regtoken: None,
                mp_id: scenarios::CmgSpec::default().mp_id,
                site_code: world.tenant.site_code.clone(),
                months: 0,
                offline: None,
                auth: scenarios::CmgAuth::BulkToken,
            },
            client_state: Default::default(),
        }
    }

    /// What the client's clock reads now.
    pub fn client_now(&self) -> time::OffsetDateTime {
        self.client_clock.map_or_else(time::OffsetDateTime::now_utc, |c| c.now())
    }
}

/// A probe's verdict.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProbeResult {
    pub probe: &'static str,
    pub passed: bool,
    /// The step that failed (or the last step, when it passed).
    pub step: String,
    /// The error code the real component would report, e.g. `0x80072F8F`.
    pub code: Option<String>,
    /// The code's symbolic name and whether the catalog marks it synthetic.
    pub code_name: Option<String>,
    pub code_synthetic: bool,
    /// A status message ID the component would raise, e.g. 11488.
    pub status_message: Option<u32>,
    pub message: String,
    /// The client's own log lines, `<file>: <line>` (ccmsetup.log …), for probes that keep them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
    /// Numbers the probe measured, by name (e.g. the notification probe's `cut_sim_ms`): the
    /// runner journals them as the details of a `client` `probe_result` event, so expectations
    /// can hold them to a range (`details = { cut_sim_ms = { between = [89000, 91000] } }`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub measured: std::collections::BTreeMap<String, f64>,
}

/// What one probe run has at hand: the probe, the world it runs against, the catalog, and
/// the codes it may report (looked up once, for the whole run).
pub(crate) struct Run<'a> {
    pub probe: Probe,
    pub target: &'a ProbeTarget,
    pub catalog: &'a Catalog,
    pub codes: CodeBook,
}

impl Run<'_> {
    pub(crate) fn pass(&self, step: &str, message: String) -> ProbeResult {
        ProbeResult {
            probe: self.probe.as_str(),
            passed: true,
            step: step.into(),
            code: None,
            code_name: None,
            code_synthetic: false,
            status_message: None,
            message,
            log: Vec::new(),
            measured: Default::default(),
        }
    }

    /// A failure with its code from codes.toml.
    pub(crate) fn fail(&self, step: &str, code: Code, message: String) -> ProbeResult {
        let entry = self.codes.entry(code);
        ProbeResult {
            code: Some(entry.value.clone()),
            code_name: Some(entry.name.clone()),
            code_synthetic: entry.synthetic,
            passed: false,
            ..self.pass(step, message)
        }
    }

    /// A failure with an Entra code (`AADSTS50076`), named and labelled as its entra.toml row.
    pub(crate) fn fail_aadsts(&self, step: &str, code: &str, message: String) -> ProbeResult {
        let row = code::aadsts(&self.catalog.entra, code);
        ProbeResult {
            probe: self.probe.as_str(),
            passed: false,
            step: step.into(),
            code: Some(code.to_string()),
            code_name: Some(row.map_or_else(|| "unknown AADSTS code".to_string(), |r| r.name.clone())),
            code_synthetic: row.is_some_and(|r| r.synthetic),
            status_message: None,
            message,
            log: Vec::new(),
            measured: Default::default(),
        }
    }

    /// A failure whose HRESULT carries an HTTP status in its low word (0x8019xxxx). Only
    /// 0x80190190 (400) is attested [T2]; other statuses follow the failure catalog's rule [X],
    /// so their values are labelled synthetic.
    pub(crate) fn fail_http(&self, step: &str, code: Code, status: u16, message: String) -> ProbeResult {
        let failed = self.fail(step, code, message);
        ProbeResult { code: Some(self.codes.with_http_status(code, status)), code_synthetic: failed.code_synthetic || status != 400, ..failed }
    }
}

/// Run one probe against a world, with the facts and codes of `catalog`.
pub async fn run_with(probe: Probe, target: &ProbeTarget, catalog: &Catalog) -> ProbeResult {
    let codes = match CodeBook::load(&catalog.codes) {
        Ok(c) => c,
        // A data defect (a test holds every code in codes.toml), reported, not a panic.
        Err(e) => {
            return ProbeResult {
                probe: probe.as_str(),
                passed: false,
                step: "codes".into(),
                code: None,
                code_name: None,
                code_synthetic: false,
                status_message: None,
                message: e.to_string(),
                log: Vec::new(),
                measured: Default::default(),
            };
        }
    };
    let run = Run { probe, target, catalog, codes };
    match probe {
        Probe::Discovery => discovery::run(&run).await,
        Probe::CmgConnect => cmg::run(&run).await,
        Probe::CmgRegister => cmg_register::run(&run).await,
        Probe::ScpValidate => scp::run(&run).await,
        Probe::Notification => notification::run(&run).await,
        Probe::Win32Download => win32::run(&run).await,
        Probe::Endpoints => endpoints::run(&run).await,
        Probe::Registration => registration::run(&run).await,
        Probe::Enroll => enroll::run(&run).await,
        Probe::DeviceJoin => device_join::run(&run).await,
        Probe::SignIn => sign_in::run(&run).await,
    }
}
