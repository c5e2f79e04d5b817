//! Running a scenario's client against a world: a built-in probe, or an external command that
//! gets the world through the standard variables — and none of the machine's own — in its own
//! process group ([`process`]). A client that cannot start, is killed by a signal, times out
//! or is interrupted carries an `error`: its run says nothing about the scenario.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::process::{self, Group, Stopped};
use super::report::ClientOutcome;
use crate::client_env;
use crate::probes::{self, ProbeTarget};
use crate::world::World;
use scenarios::Probe;

/// How much of a command's output is kept (each stream).
const OUTPUT_LIMIT: usize = 1 << 20;

/// Why and how hard a run is asked to stop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopRequest {
    /// The signal (SIGINT 2, SIGTERM 15) `memsim run` got first.
    pub signal: Option<i32>,
    /// A report sink failed (`memsim run | head` closed stdout): the rest of the run could
    /// not be reported, so it stops as on a signal (issue 13 follow-up).
    pub report_lost: bool,
    /// A second signal: every client's process group gets SIGKILL at once, no grace period.
    pub force: bool,
}

impl StopRequest {
    /// Whether the run is to stop at all.
    pub fn stopping(&self) -> bool {
        self.signal.is_some() || self.report_lost || self.force
    }
}

/// A request to stop, as it changes: see [`StopRequest`].
pub type Stop = tokio::sync::watch::Receiver<StopRequest>;

/// Resolves once a stop is requested (never, if the sender is gone without one).
pub async fn stopped(stop: &mut Stop) {
    if stop.wait_for(StopRequest::stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves once a stop is forced (a second signal; never, if the sender is gone without one).
pub async fn forced(stop: &mut Stop) {
    if stop.wait_for(|r| r.force).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What a probe that ran to its verdict gives the runner: the verdict, and as the client's
/// stdout its JSON line.
pub fn probed(describe: String, result: probes::ProbeResult) -> ClientOutcome {
    ClientOutcome {
        describe,
        passed: result.passed,
        stdout: format!("{}\n", serde_json::to_string(&result).unwrap_or_default()),
        probe: Some(result),
        exit_code: None,
        timed_out: false,
        error: None,
        interrupted: false,
        stderr: String::new(),
    }
}

/// Run `probe` against `world`; `spec` is the check's `client` table (the sign-in probe's grant).
pub async fn run_probe(probe: Probe, spec: Option<&scenarios::ClientSpec>, world: &World, timeout: Duration, stop: &mut Stop) -> ClientOutcome {
    let describe = format!("probe {}", probe.as_str());
    let mut target = ProbeTarget::new(&world.describe(), world.journal().clock().scale());
    let skew = world.scenario().world.skew;
    target.client_clock = Some(world.journal().clock().behind(skew.map_or(Duration::ZERO, |s| s.0)));
    if let Some(c) = spec {
        target.sign_in = crate::probes::sign_in::SignIn { grant: c.grant.unwrap_or_default(), resource: c.resource.clone() };
        if let Some(state) = &c.state {
            match probes::client_state::from_scenario(state, &world.cloud().pki, world.journal().clock().now()) {
                Ok(s) => target.client_state = std::sync::Arc::new(s),
                Err(e) => return errored(describe, e),
            }
        }
    }
    if probe == Probe::CmgRegister {
        target.cmg = cmg_plan(world).await;
    }
    tokio::select! {
        result = tokio::time::timeout(timeout, probes::run_with(probe, &target, &world.cloud().catalog)) => match result {
            Ok(result) => {
                journal_result(world, &result);
                probed(describe, result)
            }
            Err(_) => ClientOutcome { timed_out: true, ..errored(describe, format!("timed out: the probe did not finish within {} (wall time)", wall(timeout))) },
        },
        () = stopped(stop) => ClientOutcome { interrupted: true, ..errored(describe, "interrupted: memsim run was stopped while the probe ran".into()) },
    }
}

/// The probe's verdict and what it measured, as the world's `client` `probe_result` event: what
/// an expectation holds a probe's own numbers to (`details = { cut_sim_ms = { between = … } }`).
fn journal_result(world: &World, r: &probes::ProbeResult) {
    let mut e = scenarios::NewEvent::new(scenarios::Component::Client, "probe_result")
        .detail("probe", r.probe)
        .detail("passed", r.passed)
        .detail("step", r.step.as_str());
    if let Some(code) = &r.code {
        e = e.detail("code", code.as_str());
    }
    for (name, value) in &r.measured {
        e = e.detail(name, *value);
    }
    world.journal().record(e);
}

/// What the scenario's world gives `cmg-register`: its plan, with the bulk token the world's
/// site mints for it now (the site key is made on first use: off the async workers).
pub async fn cmg_plan(world: &World) -> probes::CmgPlan {
    let mut plan = probes::CmgPlan::of(world.scenario());
    // The Entra path needs no bulk token (and the site's key is not made for nothing).
    if plan.auth == scenarios::CmgAuth::BulkToken {
        plan.regtoken = Some(scenario_token(world).await);
    }
    plan
}

/// The scenario's bulk registration token, or the tool's refusal.
pub async fn scenario_token(world: &World) -> Result<String, String> {
    let cmg = world.cloud().cmg.clone();
    tokio::task::spawn_blocking(move || cmg.scenario_token().map_err(|e| e.to_string())).await.unwrap_or_else(|e| Err(e.to_string()))
}

/// A command replacing `cmg-register` gets what ccmsetup would: `MEMSIM_CMG_MP` (the `/mp:`
/// URL) and `MEMSIM_CMG_REGTOKEN` (the `/regtoken:`), or `MEMSIM_CMG_REGTOKEN_ERROR` with the
/// tool's refusal.
pub async fn cmg_env(world: &World) -> Vec<(&'static str, String)> {
    let cmg = &world.cloud().cmg;
    let id = world.scenario().world.cmg.mp_id;
    let mp = format!("https://{}/{}/{id}", cmg.host.to_ascii_uppercase(), mock_cloud::services::cmg::MUTUAL_AUTH);
    if world.scenario().world.cmg.auth == scenarios::CmgAuth::Entra {
        return vec![("MEMSIM_CMG_MP", mp)];
    }
    match scenario_token(world).await {
        Ok(t) => vec![("MEMSIM_CMG_MP", mp), ("MEMSIM_CMG_REGTOKEN", t)],
        Err(e) => vec![("MEMSIM_CMG_MP", mp), ("MEMSIM_CMG_REGTOKEN_ERROR", e)],
    }
}

/// A client run that says nothing about the scenario: an error with `message`.
fn errored(describe: String, message: String) -> ClientOutcome {
    ClientOutcome {
        describe,
        passed: false,
        probe: None,
        exit_code: None,
        timed_out: false,
        error: Some(message.clone()),
        interrupted: false,
        stdout: String::new(),
        stderr: message,
    }
}

/// `60 s`, `1.5 s`: a wall-time span as reports write it.
fn wall(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Run `argv` in its own process group with the world's environment (and none of the
/// machine's CA or proxy variables) until it exits, `timeout` passes or `stop` fires; then
/// stop whatever is left of its group (SIGTERM, SIGKILL after [`process::GRACE`]).
pub async fn run_command(argv: &[String], cwd: Option<&str>, env: &[(&'static str, String)], timeout: Duration, stop: &mut Stop) -> ClientOutcome {
    let describe = argv.join(" ");
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).process_group(0);
    for var in client_env::cleared(env) {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return errored(describe, format!("cannot start `{}`: {e}", argv[0])),
    };
    let group = Group::of(&child);
    let (out, err) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let (out, err) = (tokio::spawn(read_limited(out)), tokio::spawn(read_limited(err)));
    enum End {
        Exited(std::io::Result<std::process::ExitStatus>),
        TimedOut,
        Interrupted,
    }
    let end = tokio::select! {
        status = child.wait() => End::Exited(status),
        () = tokio::time::sleep(timeout) => End::TimedOut,
        () = stopped(stop) => End::Interrupted,
    };
    // Whatever is left of the group goes: children a finished client left behind, or the
    // whole client when it ran out of time or the run was stopped.
    let stopped = match group {
        Some(g) => g.stop(&mut child, process::GRACE, stop).await,
        None => Stopped::Empty,
    };
    // The pipes close once the group is gone; a process that left the group may hold them.
    let collect = |h: tokio::task::JoinHandle<String>| async move {
        let abort = h.abort_handle();
        let text = tokio::time::timeout(process::GRACE, h).await;
        abort.abort();
        text.ok().and_then(Result::ok).unwrap_or_default()
    };
    let (stdout, stderr) = tokio::join!(collect(out), collect(err));
    let how = match stopped {
        Stopped::Killed if stop.borrow().force => "SIGKILL: a second signal forced the stop",
        Stopped::Killed => "SIGTERM, then SIGKILL after the grace period",
        _ => "SIGTERM",
    };
    let outcome = ClientOutcome { describe, passed: false, probe: None, exit_code: None, timed_out: false, error: None, interrupted: false, stdout, stderr };
    match end {
        End::Exited(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => ClientOutcome { passed: code == 0, exit_code: Some(code), ..outcome },
            (None, Some(sig)) => ClientOutcome { error: Some(format!("the client was killed by {}", process::signal_name(sig))), ..outcome },
            (None, None) => ClientOutcome { error: Some(format!("the client ended without an exit status ({status})")), ..outcome },
        },
        End::Exited(Err(e)) => ClientOutcome { error: Some(format!("could not wait for the client: {e}")), ..outcome },
        End::TimedOut => {
            ClientOutcome { timed_out: true, error: Some(format!("timed out after {} (wall time); its process group got {how}", wall(timeout))), ..outcome }
        }
        End::Interrupted => {
            ClientOutcome { interrupted: true, error: Some(format!("interrupted: memsim run was stopped; the client's process group got {how}")), ..outcome }
        }
    }
}

/// Read a stream to its end, keeping at most `OUTPUT_LIMIT` bytes (the rest is drained).
async fn read_limited(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut buf = Vec::new();
    let _ = (&mut r).take(OUTPUT_LIMIT as u64).read_to_end(&mut buf).await;
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
    String::from_utf8_lossy(&buf).into_owned()
}
