//! The `notification` probe: the service connection point's tenant-attach channel
//! (CMGatewayNotificationWorker, seed 000; failure catalog PRX-01, NOT-02). It onboards, then
//! holds the long poll to the notification service on the same keep-alive connection, as .NET's
//! HttpWebRequest does, for the service's whole hold (3 minutes simulated by default).
//!
//! Steps: `connect`, `tls`, `onboarding` (`AccountOnboardingInfo`: 200, the hold, the server's
//! simulated time), `hold` (the poll is answered by the server — at the end of the hold or with
//! device actions — rather than cut). The gateway's JSON is memsim's own contract
//! (mock-cloud `services::notification`).
//!
//! A poll that gets no answer at all (a proxy that drops the connection in silence) times out
//! a request timeout past the hold, in simulated time.
//!
//! A drop is reported with its simulated time and cause: the probe reconnects at once (as the
//! worker does) and asks `WaitSeconds=0`. The drop is timed from the poll's request to the
//! moment its EOF (or reset) is read, at the world's pace (`time_scale`, the clock the proxy's
//! idle timer runs on), and measured as `cut_sim_ms`: within 1 % of the proxy's `idle_sim_ms`
//! (issue 16 item 6; two server times read after the reconnection made it 2-3 % late). Codes: every failure is
//! a .NET WebException (0x80131509) with .NET's text; the admin-center line is the failure
//! catalog's [S18] for NOT-02 (blocked) and PRX-01 (dropped).

use std::time::{Duration, Instant};

use hyper::Method;
use mock_cloud::services::Service;
use mock_cloud::services::notification::{NOTIFICATION_PATH, ONBOARDING_PATH, PollAnswer};
use scenarios::Cloud;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::http::{self, Channel};
use super::{Code, ProbeResult, ProbeTarget, Run};

/// The least wall time the poll waits past the hold, whatever the time scale.
const JITTER_FLOOR_S: f64 = 0.25;

/// Admin center, failure catalog NOT-02 [S18].
const ADMIN_BLOCKED: &str =
    "Error validating request. Verify that the Configuration Manager service connection point can reach the internet endpoints required for tenant attach.";
/// Admin center, failure catalog PRX-01 [S18].
const ADMIN_TIMED_OUT: &str =
    "Getting results timed out. Make sure the Configuration Manager service connection point is operational and has a connection to the cloud.";

/// The gateway host (services.toml, first name) for the tenant's cloud.
pub fn gateway_host(catalog: &mock_cloud::Catalog, cloud: Cloud) -> Option<String> {
    catalog.service_hosts(Service::Notification, cloud).first().map(|h| h.to_ascii_lowercase())
}

fn server_time(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v["ServerTime"].as_str()?, &Rfc3339).ok()
}

fn fail(run: &Run<'_>, step: &str, message: String) -> ProbeResult {
    run.fail(step, Code::WEB_EXCEPTION, message)
}

/// The server's simulated time, on a fresh connection (`WaitSeconds=0` answers at once), and
/// the wall instant it was read at (the middle of the exchange).
async fn server_now(target: &ProbeTarget, host: &str) -> Option<(OffsetDateTime, Instant)> {
    let mut ch = Channel::open(target, host).await.ok()?;
    let path = format!("{NOTIFICATION_PATH}?TenantId={}&WaitSeconds=0", target.tenant_id);
    let sent = Instant::now();
    let (res, body) = ch.exchange(Method::GET, &path, &[], None, 1 << 20).await.ok()?;
    let at = sent + sent.elapsed() / 2;
    let t = (res.status() == 200).then(|| serde_json::from_slice(body.trim_ascii()).ok().as_ref().and_then(server_time))??;
    Some((t, at))
}

pub(crate) async fn run(run: &Run<'_>) -> ProbeResult {
    let target = run.target;
    let Some(host) = gateway_host(run.catalog, target.cloud) else {
        return run.fail("resolve", Code::WININET_E_NAME_NOT_RESOLVED, "no tenant-attach gateway host in the catalog for this cloud".into());
    };
    let mut ch = match Channel::open(target, &host).await {
        Ok(c) => c,
        Err(e) => {
            return fail(
                run,
                e.step(),
                format!("[GetNotifications] https://{host}{NOTIFICATION_PATH}: {} ({}). Admin center: {ADMIN_BLOCKED}", http::open_text(&e), e.net()),
            );
        }
    };
    let onboarding = json!({ "TenantId": target.tenant_id, "HierarchyId": format!("memsim-{}", target.tenant_id), "SiteCode": "" });
    let headers = [("content-type", "application/json".to_string())];
    let (res, body) = match ch.exchange(Method::POST, ONBOARDING_PATH, &headers, Some(onboarding.to_string().into_bytes()), 1 << 20).await {
        Ok(x) => x,
        Err(e) => return fail(run, "onboarding", format!("[OnboardScenario] https://{host}{ONBOARDING_PATH}: {e}")),
    };
    let status = res.status().as_u16();
    let info: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status != 200 {
        return fail(
            run,
            "onboarding",
            format!("[OnboardScenario] Response from https://{host}{ONBOARDING_PATH} is: {status} ({}). Admin center: {ADMIN_BLOCKED}", http::reason(status)),
        );
    }
    let (Some(_), Some(hold)) = (server_time(&info), info["HoldSeconds"].as_f64()) else {
        return fail(run, "onboarding", format!("https://{host}{ONBOARDING_PATH} answered 200 without ServerTime and HoldSeconds: {info}"));
    };
    // The poll: the server ends it; the client's own deadline lies a request timeout past the
    // hold (a connection dropped in silence is noticed only then).
    let path = format!("{NOTIFICATION_PATH}?TenantId={}", target.tenant_id);
    // At high time scales the request timeout is a few wall milliseconds: never less than
    // JITTER_FLOOR past the hold, so a loaded machine's scheduling cannot fake a timeout.
    // How long past the hold: the SCP's gateway request timeout (tenant-attach.toml).
    let request_timeout = run.catalog.tenant_attach.gateway_request_timeout.0.as_secs_f64();
    let wall = ((hold + request_timeout) / target.time_scale).max(hold / target.time_scale + JITTER_FLOOR_S);
    let deadline = wall * target.time_scale;
    // The proxy's idle timer starts at the request's last byte: the moment the poll is sent.
    // The cut is timed where the error comes back (the EOF read), before any other work.
    let polled = Instant::now();
    let poll = async {
        let cut = |e: hyper::Error| (e, Instant::now());
        let res = ch.send(Method::GET, &path, &[], None).await.map_err(cut)?;
        let status = res.status().as_u16();
        let body = http_body_util::BodyExt::collect(res.into_body()).await.map_err(cut)?.to_bytes();
        Ok::<_, (hyper::Error, Instant)>((status, body))
    };
    let Ok(outcome) = tokio::time::timeout(Duration::from_secs_f64(wall), poll).await else {
        return fail(
            run,
            "hold",
            format!(
                "[GetNotifications] Web exception when getting new notification: The operation has timed out. Nothing came back on https://{host}{NOTIFICATION_PATH} for {deadline:.0} s (simulated): past the service's {hold:.0} s hold and the request timeout; the connection was dropped without a close. Admin center: {ADMIN_TIMED_OUT}"
            ),
        );
    };
    match outcome {
        Ok((200, body)) => match serde_json::from_slice::<PollAnswer>(body.trim_ascii()) {
            Ok(answer) => run.pass(
                "hold",
                format!(
                    "https://{host}{NOTIFICATION_PATH} held the channel {:.0} s (simulated; hold {hold:.0} s) and answered with {} notification(s)",
                    answer.held_seconds,
                    answer.notifications.len()
                ),
            ),
            Err(e) => fail(run, "hold", format!("the notification service answered 200 with something else than its document: {e}")),
        },
        Ok((status, _)) => {
            fail(run, "hold", format!("[GetNotifications] Response from https://{host}{NOTIFICATION_PATH} is: {status} ({})", http::reason(status)))
        }
        Err((e, dropped)) => {
            let cut = http::cut(&e);
            // Simulated time is wall time at the world's pace: its clock (`time_scale` of
            // world.json) — the proxy's idle timer runs on the same one (issue 16 item 6: the
            // estimate from two server times read after a reconnect was 2-3 % late).
            let lived_s = (dropped - polled).as_secs_f64() * target.time_scale;
            // As the worker does: reconnect at once, and ask the gateway for its time.
            let lived = match server_now(target, &host).await {
                Some(_) => format!("after {lived_s:.1} s (simulated)"),
                None => format!("after {lived_s:.1} s (simulated; the gateway could not be reached again)"),
            };
            let mut failed = fail(
                run,
                "hold",
                format!(
                    "[GetNotifications] Web exception when getting new notification: {} The channel to https://{host}{NOTIFICATION_PATH} was cut {lived}, before the service's {hold:.0} s hold ended ({e}). Admin center: {ADMIN_TIMED_OUT}",
                    http::cut_text(cut)
                ),
            );
            failed.measured.insert("cut_sim_ms".into(), (lived_s * 1000.0).round());
            failed
        }
    }
}
