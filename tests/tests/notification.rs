//! Issue 5, tenant attach from the service connection point, end to end: curl onboards at the
//! gateway through the world's proxy and an action queued by the admin center reaches the poll;
//! a poll whose client vanishes mid-hold leaves no waiter and no connection behind (journaled);
//! the `notification` probe holds the channel on a healthy world and reports the proxy's idle
//! cut with its simulated time; `scp-validate` passes on a healthy world and raises 11488
//! naming the refused endpoint when the proxy blocks it.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::world::{World, WorldOptions};
use memsim_e2e::{Up, clean_env, memsim_bin, text};
use serde_json::{Value, json};

const GATEWAY: &str = "https://gateway.configmgr.manage.microsoft.com/api/gateway";

fn curl(proxy: &str, ca: &std::path::Path, args: &[&str]) -> Output {
    clean_env(Command::new("curl")).args(["-sS", "--max-time", "30", "-x", proxy, "--cacert"]).arg(ca).args(args).output().expect("run curl")
}

fn probe(up: &Up, name: &str) -> (Option<i32>, Value) {
    let out = clean_env(Command::new(memsim_bin())).args(["probe", name, "--world"]).arg(up.state.path().join("world.json")).output().unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out))))
}

#[test]
fn curl_onboards_and_an_action_queued_by_the_admin_center_reaches_the_poll() {
    let up = Up::start(Some("healthy-notification")); // time scale 1000: the hold is 0.18 s
    let (proxy, tenant) = (up.world["proxy_url"].as_str().unwrap().to_string(), up.world["tenant"]["id"].as_str().unwrap().to_string());
    let post = |path: &str, body: Value| {
        let out = curl(&proxy, &up.ca(), &["-H", "Content-Type: application/json", "-d", &body.to_string(), &format!("{GATEWAY}/{path}")]);
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
    };
    let info = post("AccountOnboardingInfo", json!({"TenantId": tenant, "HierarchyId": "h", "SiteCode": "ABC"}));
    assert_eq!((info["Onboarded"].as_bool(), info["HoldSeconds"].as_f64()), (Some(true), Some(180.0)), "{info}");
    let refused = post("AccountOnboardingInfo", json!({"TenantId": "00000000-0000-0000-0000-000000000000"}));
    assert_eq!(refused, json!({"Message": "An error has occurred."}));
    let queued = post("DeviceAction", json!({"TenantId": tenant, "TemplateID": "RequestMachinePolicy", "TargetDeviceIDs": ["16777220"]}));
    let out = curl(&proxy, &up.ca(), &[&format!("{GATEWAY}/Notification?TenantId={tenant}")]);
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(answer["Notifications"][0]["TaskGuid"], queued["TaskGuid"], "{answer}");
    assert_eq!(answer["Notifications"][0]["TemplateID"], "RequestMachinePolicy");
    // Nothing queued: the poll is held for the whole hold and answered empty.
    let out = curl(&proxy, &up.ca(), &[&format!("{GATEWAY}/Notification?TenantId={tenant}")]);
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(answer["HeldSeconds"].as_f64().unwrap() >= 180.0 && answer["Notifications"] == json!([]), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_hold_leaves_nothing_behind() {
    let scenario = scenarios::catalog::find("healthy-notification").unwrap().unwrap();
    let world = World::start(&scenario, WorldOptions { time_scale: Some(1.0), ..Default::default() }).await.unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let wake = Arc::new(tokio::sync::Notify::new());
    {
        let (seen, wake) = (seen.clone(), wake.clone());
        world.journal().subscribe(move |e| {
            if matches!(e.what.as_str(), "poll_started" | "poll_abandoned") {
                seen.lock().unwrap().push(e.what.clone());
                wake.notify_one();
            }
        });
    }
    let wait_for = |what: &'static str| {
        let (seen, wake) = (seen.clone(), wake.clone());
        async move {
            tokio::time::timeout(Duration::from_secs(20), async {
                while !seen.lock().unwrap().iter().any(|w| w == what) {
                    wake.notified().await;
                }
            })
            .await
            .unwrap_or_else(|_| panic!("no {what} in the journal"))
        }
    };
    let doc = world.describe();
    let tenant = &doc.tenant.id;
    let mut cmd = tokio::process::Command::new("curl");
    // The variables memsim manages for a client, none of them inherited (as clean_env).
    for var in harness::client_env::MANAGED {
        cmd.env_remove(var);
    }
    let mut curl = cmd
        .args(["-sS", "-o", "/dev/null", "-x", &doc.proxy_url, "--cacert"])
        .arg(&doc.ca_bundle)
        .arg(format!("{GATEWAY}/Notification?TenantId={tenant}"))
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for("poll_started").await; // the 3-minute hold has begun (real time: scale 1)
    curl.kill().await.unwrap();
    wait_for("poll_abandoned").await;
    let journal = world.journal().snapshot();
    let gone = journal.iter().find(|e| e.what == "poll_abandoned").unwrap();
    assert_eq!(gone.host.as_deref(), Some("gateway.configmgr.manage.microsoft.com"));
    assert_eq!((gone.detail["polls_left"].as_u64(), gone.detail["pending_actions"].as_u64()), (Some(0), Some(0)), "{gone:?}");
    assert!(gone.detail["held_s"].as_f64().unwrap() < 180.0);
    let j = world.journal().clone();
    assert!(tokio::task::spawn_blocking(move || j.wait_settled(Duration::from_secs(10))).await.unwrap(), "no connection left in flight");
}

#[test]
fn the_notification_probe_holds_on_a_healthy_world_and_reports_the_idle_cut() {
    let up = Up::start(Some("healthy-notification"));
    let (code, r) = probe(&up, "notification");
    assert_eq!(code, Some(0), "{r}");
    assert!(r["message"].as_str().unwrap().contains("held the channel 18"), "{r}");
    drop(up);
    // The catalog runs this at 1000x; at 60x a wall millisecond is a simulated 60 ms, so the
    // probe's outside estimate of the cut is precise enough to check.
    let up = Up::start_with(Some("proxy-idle-timeout-notification"), &["--time-scale", "60"]);
    let (code, r) = probe(&up, "notification");
    assert_eq!((code, r["step"].as_str(), r["code"].as_str()), (Some(1), Some("hold"), Some("0x80131509")), "{r}");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.contains("A connection that was expected to be kept alive was closed by the server"), "{msg}");
    let secs: f64 = msg.split("cut after ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((59.0..=63.0).contains(&secs), "dropped after {secs} simulated seconds: {msg}");
    let (_, journal) = up.stop();
    assert!(journal.iter().any(|e| e["what"] == "idle_timeout" && e["fault"] == "proxy.idle_timeout"));
    assert!(journal.iter().any(|e| e["what"] == "poll_abandoned"), "the gateway saw the channel go");
}

// issue 16 item 6: under a 90 s idle timeout at time scale 100 the probe reported the cut at
// 92-93 s while the proxy journaled 90.1 s. It now times the cut from its request to the EOF it
// reads, at the world's pace: within 1 % of the proxy's own reckoning.
#[test]
fn the_notification_probe_times_the_idle_cut_within_one_percent_of_the_proxy() {
    let up = Up::start(Some("notification-idle-cut-90s"));
    let (code, r) = probe(&up, "notification");
    assert_eq!((code, r["step"].as_str()), (Some(1), Some("hold")), "{r}");
    let probe_ms = r["measured"]["cut_sim_ms"].as_f64().unwrap_or_else(|| panic!("no cut_sim_ms: {r}"));
    let said: f64 = r["message"].as_str().unwrap().split("cut after ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!((said * 1000.0 - probe_ms).abs() <= 50.0, "the message says what was measured: {said} s, {probe_ms} ms");
    let (_, journal) = up.stop();
    let proxy_ms = journal
        .iter()
        .find(|e| e["what"] == "idle_timeout" && e["host"] == "gateway.configmgr.manage.microsoft.com")
        .and_then(|e| e["detail"]["idle_sim_ms"].as_f64())
        .expect("the proxy journaled the cut with its idle time");
    assert!((90_000.0..92_000.0).contains(&proxy_ms), "the proxy cut after {proxy_ms} simulated ms");
    assert!((probe_ms - proxy_ms).abs() <= proxy_ms * 0.01, "probe {probe_ms} ms vs proxy {proxy_ms} ms: more than 1 % apart");
}

#[test]
fn scp_validate_passes_on_a_healthy_world_and_raises_11488_naming_the_refused_endpoint() {
    let up = Up::start(None);
    let (code, r) = probe(&up, "scp-validate");
    assert_eq!(code, Some(0), "{r}");
    assert!(r["message"].as_str().unwrap().contains("revocation of"), "the CRL check ran: {r}");
    drop(up);
    for (scenario, says) in [("proxy-scp-blocked", "(403) Forbidden"), ("updates-content-blocked", "(400) Bad Request")] {
        let up = Up::start(Some(scenario));
        let (code, r) = probe(&up, "scp-validate");
        assert_eq!((code, r["status_message"].as_u64(), r["code"].as_str()), (Some(1), Some(11488), Some("0x80131509")), "{scenario}: {r}");
        let msg = r["message"].as_str().unwrap();
        assert!(msg.contains("SMS_SERVICE_CONNECTOR critical") && msg.contains(says), "{scenario}: {msg}");
    }
}
