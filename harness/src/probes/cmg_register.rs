//! The `cmg-register` probe: `ccmsetup.exe /mp:https://<cmg>/CCM_Proxy_MutualAuth/<id>
//! CCMHOSTNAME=<cmg>/CCM_Proxy_MutualAuth/<id> SMSSiteCode=<site> /regtoken:<token>` on an
//! internet-only device (seed 004), then the installed client's life on the internet:
//!
//! 1. the MP list through the gateway ("Rotating internet management point, new management
//!    point [1] is: …", the line seed 004 tells admins to look for);
//! 2. the client's content from the CMG (a CMG that is not content-enabled fails here, ccmsetup
//!    `GetDirectoryList failed with a non-recoverable failure, 0x87d00454`, failure catalog PKI-07);
//! 3. the token service: the bulk token for a CCM token ("Getting CCM Token from …/CCM_STS");
//! 4. registration over `ccm_system_tokenauth` with that CCM token: the site's client token (90 days);
//! 5. as many simulated months as `[world.cmg] months` says: each month a new CCM token for the
//!    client token and a client-token renewal; or, with `cmg.client_offline`, silence for that
//!    long and then one contact, which fails once the client token has expired (seed 004: "Als het
//!    token niet binnen 90 dagen wordt verlengd, moet de client rechtstreeks verbinding maken met
//!    een beheerpunt op een intern netwerk").
//!
//! Its output's `log` holds the ccmsetup.log / ClientIDManagerStartup.log / LocationServices.log
//! lines; the server side's (CCM_STS.log, MP_RegistrationManager.log, ClientAuth.log) are the
//! world's journal. Simulated waits are wall time ÷ the world's time scale.
//!
//! Certificates are verified and revocation checked as `cmg-connect` does (CryptoAPI's chain
//! building with CA Issuers downloads, and its revocation provider: `revocation.rs`).

use std::time::{Duration, Instant};

use mock_cloud::services::cmg::tokens::log_time;
use mock_cloud::services::cmg::{MUTUAL_AUTH, SERVER_AUTH};

use super::cmg_session::{HttpFailure, Session};
use super::http::Channel;
use super::{Code, ProbeResult, Run};
use scenarios::CmgAuth;

/// A simulated wait, in wall time at the world's scale.
async fn sim_sleep(scale: f64, secs: u64) {
    tokio::time::sleep(Duration::from_secs_f64(secs as f64 / scale.max(1e-3))).await;
}

/// The client's CCM token and when it was fetched (its remaining life is simulated time).
struct Ccm {
    token: String,
    life: i64,
    fetched: Instant,
}

impl Ccm {
    fn new(token: String, exp: i64) -> Ccm {
        Ccm { life: exp - unix_of(&token).unwrap_or(exp), token, fetched: Instant::now() }
    }

    /// Already expired or close to expiry (`renew_before`), as the client decides.
    fn stale(&self, scale: f64, renew_before: i64) -> bool {
        let used = (self.fetched.elapsed().as_secs_f64() * scale) as i64;
        self.life - used <= renew_before
    }
}

/// Which call failed: the token service or the management point.
enum Failure {
    Sts(HttpFailure),
    Mp(HttpFailure),
}

/// How often a message is sent again after its CCM token was refused as expired.
const RESENDS: usize = 3;

/// Send a registration or renewal; when the MP refuses the CCM token (401: expired in flight,
/// or mid-session), get a new one for `grant` and send again, at most [`RESENDS`] times.
async fn send(
    s: &mut Session<'_>,
    log: &mut Log,
    ccm: &mut Ccm,
    grant: (&str, &str),
    request_type: &str,
    sms_id: &str,
) -> Result<(String, String, i64), Failure> {
    let signing = self_signed_hex();
    let mut attempt = 0;
    loop {
        match s.register(&ccm.token, request_type, "MEMSIM-CLIENT", sms_id, &signing).await {
            Err(f) if f.status == Some(401) && attempt < RESENDS => {
                attempt += 1;
                log.say("ClientIDManagerStartup.log", "[RegTask] - The management point refused the CCM token (expired); getting a new one from CCM_STS.");
                let (t, e) = s.ccm_token(grant.0, grant.1).await.map_err(Failure::Sts)?;
                *ccm = Ccm::new(t, e);
            }
            other => return other.map_err(Failure::Mp),
        }
    }
}

struct Log(Vec<String>);

impl Log {
    fn say(&mut self, file: &str, line: impl Into<String>) {
        self.0.push(format!("{file}: {}", line.into()));
    }
}

fn failed(run: &Run<'_>, step: &str, code: Code, log: Log, f: HttpFailure, why: &str) -> ProbeResult {
    let mut log = log;
    for l in &f.lines {
        log.say("ccmsetup.log", l.clone());
    }
    let message = format!("{why}: {}", f.lines.join(" / "));
    ProbeResult { log: log.0, ..run.fail(step, code, message) }
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let target = run.target;
    let plan = &target.cmg;
    let scale = target.time_scale;
    let facts = &run.catalog.tokens;
    let mut log = Log(Vec::new());
    let Some(host) = super::cmg::cmg_host(target, run.catalog) else {
        return run.fail("resolve", Code::WININET_E_NAME_NOT_RESOLVED, "no CMG service name in the catalog for this cloud".into());
    };
    let upper = host.to_ascii_uppercase();
    let mp = format!("https://{upper}/{MUTUAL_AUTH}/{}", plan.mp_id);
    // Without a token (the tool refused to make one), ccmsetup still starts: it finds its
    // management point, then has nothing to present to the token service.
    let regtoken = match &plan.regtoken {
        Some(Ok(t)) => Ok(t.clone()),
        Some(Err(tool)) => {
            log.say("BulkRegistrationTokenTool", tool.clone());
            Err(format!("BulkRegistrationTokenTool.exe made no token ({tool}): ccmsetup ran without /regtoken"))
        }
        None => Err("no /regtoken: give the client a bulk registration token (`memsim token new`, MEMSIM_CMG_REGTOKEN)".to_string()),
    };
    // The command line: the bulk token, or the Entra properties (azure-ccmsetup.md) instead.
    let identity = match plan.auth {
        CmgAuth::BulkToken => format!("/regtoken:{}…", regtoken.as_deref().unwrap_or_default().chars().take(24).collect::<String>()),
        CmgAuth::Entra => format!("AADTENANTID={}", target.tenant_id.to_ascii_uppercase()),
    };
    log.say("ccmsetup.log", format!("ccmsetup.exe /mp:{mp} CCMHOSTNAME={upper}/{MUTUAL_AUTH}/{} SMSSiteCode={} {identity}", plan.mp_id, plan.site_code));
    let mut ch = match Channel::open(target, &host).await {
        Ok(c) => c,
        Err(e) => {
            let (step, code) = (e.step(), if e.step() == "tls" { Code::ERROR_WINHTTP_SECURE_FAILURE } else { Code::WININET_E_CANNOT_CONNECT });
            let line = format!(
                "[CCMHTTP] ERROR: URL={mp}/SMS_MP/.sms_aut?MPLIST, Port=443, Options=63, Code={}, Text={}; {} is set ({})",
                run.codes.win32(code),
                code.name(),
                super::cmg::winhttp_flag(e.net()),
                e.net()
            );
            log.say("LocationServices.log", line.clone());
            return ProbeResult { log: log.0, ..run.fail(step, code, line) };
        }
    };
    // CMG clients check revocation by default (protocols.md §1.2), as cmg-connect does.
    let chain = ch.chain.clone();
    if let Err(failed) = super::revocation::ccmhttp_chain(run, &host, &format!("/{MUTUAL_AUTH}/{}", plan.mp_id), &chain).await {
        log.say("LocationServices.log", failed.message.clone());
        return ProbeResult { log: log.0, ..failed };
    }
    let mut s = Session { ch: &mut ch, base: format!("https://{upper}"), id: plan.mp_id };
    match s.mp_list(MUTUAL_AUTH).await {
        Ok((_, caps)) => {
            log.say("LocationServices.log", format!("Rotating internet management point, new management point [1] is: {mp} (0) with capabilities: {caps}"))
        }
        Err(f) => return failed(run, "location", Code::CCM_E_BAD_HTTP_STATUS_CODE, log, f, "the management point list through the CMG failed"),
    }
    log.say(
        "ccmsetup.log",
        format!("Found remote location 'https://{upper}/downloadrestservice.svc/getcontentxmlsecure?pid={}00002&cid=ccmsetup' (is on Azure)", plan.site_code),
    );
    if let Err(f) = s.content(&plan.site_code).await {
        log.say("ccmsetup.log", "GetDirectoryList failed with a non-recoverable failure, 0x87d00454");
        return failed(run, "content", Code::CCMSETUP_E_GETDIRECTORYLIST, log, f, "the client's content through the CMG failed");
    }
    // What the client presents to the token service: the bulk token, or an Entra ID token.
    let (grant_type, grant, how) = match plan.auth {
        CmgAuth::BulkToken => match regtoken {
            Ok(t) => ("BulkRegistration", t, "token auth (bulk registration token)"),
            Err(why) => {
                log.say(
                    "ClientIDManagerStartup.log",
                    "[RegTask] - Client is not registered. No registration token, Entra ID identity or PKI certificate to register with.",
                );
                return ProbeResult { log: log.0, ..run.fail("regtoken", Code::BULK_TOKEN_TOOL_REFUSED, why) };
            }
        },
        CmgAuth::Entra => match super::cmg_entra::token(target, &mut s, &mut log.0).await {
            Ok(t) => ("AAD", t, "AAD auth"),
            Err(f) => return failed(run, "entra", Code::CCM_E_BAD_HTTP_STATUS_CODE, log, f, "no Entra ID token for the CMG"),
        },
    };
    let sts = s.url(SERVER_AUTH, "CCM_STS");
    log.say("ccmsetup.log", format!("Getting CCM Token from {sts}"));
    let mut ccm = match s.ccm_token(grant_type, &grant).await {
        Ok((token, exp)) => Ccm::new(token, exp),
        Err(f) => return failed(run, "token_service", Code::CCM_E_BAD_HTTP_STATUS_CODE, log, f, &format!("the token service refused the {how} token")),
    };
    log.say("ClientIDManagerStartup.log", format!("[RegTask] - Client is not registered. Sending registration request. Registering client using {how}."));
    let (sms_id, mut client_token, mut exp) = match send(&mut s, &mut log, &mut ccm, (grant_type, &grant), "Registration", "").await {
        Ok(r) => r,
        Err(Failure::Sts(f)) => {
            return failed(run, "token_service", Code::CCM_E_BAD_HTTP_STATUS_CODE, log, f, &format!("the token service refused the {how} token"));
        }
        Err(Failure::Mp(f)) => return failed(run, "registration", Code::CCM_E_BAD_HTTP_STATUS_CODE, log, f, "registration through the CMG failed"),
    };
    log.say("ClientIDManagerStartup.log", format!("[RegTask] - Client is registered. Server assigned ClientID is {sms_id}. Approval status 1"));
    log.say("ClientIDManagerStartup.log", format!("[RegTask] - Client token valid until {} (UTC)", log_time(exp)));
    let renew_before = facts.ccm_token.renew_before.0.as_secs() as i64;
    let interval = facts.client_token.renewal_interval.0.as_secs();
    let mut months = 0;
    let offline = plan.offline.map(|d| d.0.as_secs());
    let contacts: Vec<u64> = match offline {
        Some(o) => vec![o],
        None => std::iter::repeat_n(interval, plan.months as usize).collect(),
    };
    for wait in contacts {
        sim_sleep(scale, wait).await;
        // The CCM token (8 hours) is long gone after a month: a new one for the client token.
        let fresh = if ccm.stale(scale, renew_before) {
            log.say("ccmsetup.log", format!("CCM token already expired or close to expire; getting CCM Token from {sts}"));
            s.ccm_token("ClientToken", &client_token).await.map(|(t, e)| ccm = Ccm::new(t, e)).map_err(Failure::Sts)
        } else {
            Ok(())
        };
        let result = match fresh {
            Ok(()) => send(&mut s, &mut log, &mut ccm, ("ClientToken", &client_token), "TokenRenewal", &sms_id).await,
            Err(e) => Err(e),
        };
        match result {
            Ok((_, t, e)) => {
                (client_token, exp) = (t, e);
                months += 1;
                log.say("ClientIDManagerStartup.log", format!("[RegTask] - Client token renewed, valid until {} (UTC)", log_time(exp)));
            }
            Err(Failure::Sts(f)) => {
                let why = format!(
                    "the site refused the client token after {} simulated days without renewal: the client must connect to a management point on the intranet for a new one",
                    wait / 86400
                );
                return failed(run, "renewal", Code::CCM_E_BAD_HTTP_STATUS_CODE, log, f, &why);
            }
            Err(Failure::Mp(f)) => return failed(run, "renewal", Code::CCM_E_BAD_HTTP_STATUS_CODE, log, f, "the client token renewal failed"),
        }
    }
    let message = format!("registered through {mp} as {sms_id} with {how}; client token renewed {months} time(s), valid until {}", log_time(exp));
    ProbeResult { log: log.0, ..run.pass(if months > 0 { "renewal" } else { "registration" }, message) }
}

/// A JWT's `nbf`, read without checking (the client's own view of its token's age).
fn unix_of(token: &str) -> Option<i64> {
    mock_cloud::jwt::claims_unverified(token).ok()?.get("nbf")?.as_i64()
}

/// The client's self-signed signing certificate, as the registration request's hex (a P-256
/// key: what the site checks is that one is there).
fn self_signed_hex() -> String {
    let der = rcgen::KeyPair::generate()
        .and_then(|k| rcgen::CertificateParams::new(vec!["MEMSIM-CLIENT".to_string()]).and_then(|p| p.self_signed(&k)))
        .map(|c| c.der().to_vec())
        .unwrap_or_default();
    der.iter().map(|b| format!("{b:02X}")).collect()
}
