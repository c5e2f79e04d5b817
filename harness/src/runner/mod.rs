//! The scenario runner: each scenario in its own world (in parallel, isolated), its client run
//! against it, its expectations checked, and a report sent to every sink.

pub(crate) mod client;
pub(crate) mod expect;
pub mod plan;
pub(crate) mod process;
pub mod report;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use scenarios::{ClientKind, Event, Scenario};
use tokio::task::JoinSet;

pub use client::{Stop, StopRequest};
/// The one check of an event expectation, near-misses included: the runner's, and the
/// in-process API's (`World::expect`, `Journal::wait_for`).
pub(crate) use expect::check_events as check_event;
pub use report::Plan;
pub use report::Reporter;
use report::{Attempt, CheckReport, ClientOutcome, RunEvent, ScenarioReport, Summary, Verdict};

use crate::world::{World, WorldOptions};

/// How long the runner waits for a world's in-flight connections to end after its client.
const SETTLE: Duration = Duration::from_secs(3);
/// How long a world's DNS server and journal file may take to stop.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// How long a client may run (wall time) unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How to run a set of scenarios.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Worlds running at once.
    pub jobs: usize,
    /// Overrides every scenario's time scale.
    pub time_scale: Option<f64>,
    /// Replaces the client of every scenario (`memsim run -- COMMAND…`).
    pub command: Option<Vec<String>>,
    /// Wall time a client may take when its scenario gives no `[client] timeout` (and always
    /// when `command` replaces the scenarios' clients): `--timeout`, default [`DEFAULT_TIMEOUT`].
    pub default_timeout: Duration,
    /// The catalog every world is built from (none: each world loads the embedded one).
    pub catalog: Option<std::sync::Arc<mock_cloud::Catalog>>,
    /// Debug builds: arm every world's panicking test route (see [`WorldOptions::panic_route`]).
    pub panic_route: bool,
    /// Every world's journal window in memory, in bytes (see [`WorldOptions::journal_window`]).
    pub journal_window: Option<usize>,
    /// Retries and fail-fast, and how the caller chose and ordered the scenarios (reported).
    pub plan: Plan,
    /// `memsim run --transparent` (issue 19): the run is inside a namespace `memsim exec`'s way;
    /// each world listens on 53/80/443 there, and a command client gets no proxy or CA
    /// variable, the world's trust store and resolv.conf instead. One world at a time.
    pub transparent: bool,
}

/// The outcome of the whole run, for the exit code.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    pub summary: Summary,
    pub bad_input: bool,
    pub harness_failed: bool,
    /// A client could not start, was killed by a signal, or timed out (exit 3).
    pub client_errors: bool,
    /// The signal (SIGINT 2, SIGTERM 15) that stopped the run before every scenario finished.
    pub interrupted: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum ErrorKind {
    None,
    BadInput,
    Harness,
    /// The client could not start, a signal ended it, or it timed out.
    Client,
}

/// Run `scenarios`, telling every sink as they start and finish. A world that crashes (a
/// panic in its task, or in any task of the world: see [`World::failure`]) becomes an error
/// report for its scenario and a harness failure of the run, never a silent gap.
///
/// `stop` asking to stop (the CLI's SIGINT/SIGTERM) stops the run: scenarios not yet started
/// are not started, running clients' process groups are stopped (SIGTERM, then SIGKILL after
/// a grace period, or SIGKILL at once when the stop is forced), every world is dropped (its
/// temporary state dir with it), and the sinks get what finished, the rest marked interrupted.
///
/// A sink that fails (`memsim run | head` closed stdout) stops the run the same way: the run
/// winds down (every client group stopped, every world dropped) and then returns that sink's
/// error; the other sinks still get every event.
pub async fn run(scenarios: Vec<Scenario>, options: &RunOptions, sinks: &mut [Box<dyn Reporter>], stop: Stop) -> std::io::Result<RunOutcome> {
    let started = Instant::now();
    let jobs = options.jobs.max(1);
    let mut outer = stop;
    let mut outcome = RunOutcome { interrupted: outer.borrow_and_update().signal, ..RunOutcome::default() };
    // What the scenarios watch: the caller's stop, and a lost report (issue 13 follow-up: a
    // failing sink used to return at once, aborting the tasks mid-client and leaving the
    // clients' children and the worlds' state dirs behind).
    let (halt_tx, halt) = tokio::sync::watch::channel(*outer.borrow());
    let mut report = SinkSet { sinks, dead: Vec::new(), lost: None, halt: halt_tx };
    report.emit(&RunEvent::Started { total: scenarios.len(), jobs, plan: &options.plan });
    // Scenarios start from this queue in its order, at most `jobs` at a time: the order a
    // `--shuffle` seed gives is the order they start in, and `--fail-fast` can stop starting.
    let mut pending: VecDeque<Scenario> = scenarios.into();
    let mut tasks = JoinSet::new();
    let mut by_task = HashMap::new();
    let mut first_failure: Option<String> = None;
    loop {
        while tasks.len() < jobs && first_failure.is_none() && !halt.borrow().stopping() {
            let Some(scenario) = pending.pop_front() else { break };
            report.emit(&RunEvent::ScenarioStarted { name: scenario.name.as_str() });
            let blank = blank(&scenario, options.time_scale.unwrap_or(scenario.world.time_scale.0));
            let (options, stop) = (options.clone(), halt.clone());
            let handle = tasks.spawn(async move { run_retried(&scenario, &options, stop).await });
            by_task.insert(handle.id(), blank);
        }
        let (finished, kind) = tokio::select! {
            done = tasks.join_next_with_id() => match done {
                None => break,
                Some(Ok((_, result))) => result,
                Some(Err(e)) => {
                    let mut report = by_task.remove(&e.id()).expect("every task is known");
                    report.error = Some(format!("the world crashed: {}", panic_message(e)));
                    (report, ErrorKind::Harness)
                }
            },
            // The tasks see the same stop and wind down; the loop keeps collecting them.
            Ok(()) = outer.changed() => {
                let asked = *outer.borrow_and_update();
                outcome.interrupted = outcome.interrupted.or(asked.signal);
                report.halt.send_modify(|h| {
                    h.signal = h.signal.or(asked.signal);
                    h.force |= asked.force;
                });
                continue;
            }
        };
        if options.plan.fail_fast && matches!(finished.verdict, Verdict::Fail | Verdict::Error) && first_failure.is_none() {
            first_failure = Some(finished.name.clone());
        }
        finish(&mut outcome, &mut report, finished, kind);
    }
    // What never started: stopped by a signal or a lost report (interrupted), or by
    // `--fail-fast` (not run). Each is still reported: a gap in a report reads as a pass.
    let stopping = halt.borrow().stopping();
    for scenario in pending {
        let blank = blank(&scenario, options.time_scale.unwrap_or(scenario.world.time_scale.0));
        let (finished, kind) = match (&first_failure, stopping) {
            (Some(failed), false) => not_run(blank, failed),
            _ => interrupted(blank, "interrupted before it started: memsim run was stopped"),
        };
        finish(&mut outcome, &mut report, finished, kind);
    }
    outcome.summary.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    report.emit(&RunEvent::Finished(&outcome.summary));
    match report.lost {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Count a finished scenario and tell the sinks.
fn finish(outcome: &mut RunOutcome, report: &mut SinkSet<'_>, finished: ScenarioReport, kind: ErrorKind) {
    outcome.summary.add(&finished);
    outcome.bad_input |= kind == ErrorKind::BadInput;
    outcome.harness_failed |= kind == ErrorKind::Harness;
    outcome.client_errors |= kind == ErrorKind::Client;
    report.emit(&RunEvent::ScenarioFinished(&finished));
}

/// A scenario `--fail-fast` did not start.
fn not_run(mut report: ScenarioReport, failed: &str) -> (ScenarioReport, ErrorKind) {
    report.verdict = Verdict::NotRun;
    report.error = Some(format!("not run: --fail-fast stopped starting scenarios after `{failed}` failed"));
    (report, ErrorKind::None)
}

/// [`run_one`], again up to `--retries` times while it fails (an expectation, or a client
/// that timed out or was killed). A bad scenario or a crashed harness is not retried: another
/// run says nothing new. The failed runs stay in the report: a later pass is flaky.
async fn run_retried(s: &Scenario, options: &RunOptions, stop: Stop) -> (ScenarioReport, ErrorKind) {
    let mut failed = Vec::new();
    loop {
        let (mut report, kind) = run_one(s, options, stop.clone()).await;
        let retryable = report.verdict == Verdict::Fail || (report.verdict == Verdict::Error && kind == ErrorKind::Client);
        if retryable && failed.len() < options.plan.retries as usize && !stop.borrow().stopping() {
            failed.push(Attempt {
                verdict: report.verdict,
                failure: report.first_failure(),
                wall_ms: report.wall_ms,
                detail: crate::report::near_miss(&report, false),
            });
            continue;
        }
        report.failed_attempts = failed;
        return (report, kind);
    }
}

/// The run's sinks; the first that fails is set aside (it gets no more events), its error
/// kept, and the run told to stop.
struct SinkSet<'a> {
    sinks: &'a mut [Box<dyn Reporter>],
    dead: Vec<usize>,
    lost: Option<std::io::Error>,
    halt: tokio::sync::watch::Sender<client::StopRequest>,
}

impl SinkSet<'_> {
    fn emit(&mut self, e: &RunEvent<'_>) {
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            if self.dead.contains(&i) {
                continue;
            }
            if let Err(err) = sink.on(e) {
                self.dead.push(i);
                if self.lost.is_none() {
                    self.lost = Some(err);
                    self.halt.send_modify(|h| h.report_lost = true);
                }
            }
        }
    }
}

/// A stop that never comes: for callers without signals to watch (tests, an embedding).
pub fn no_stop() -> Stop {
    tokio::sync::watch::channel(StopRequest::default()).1
}

/// A report for a scenario the stop caught.
fn interrupted(mut report: ScenarioReport, why: &str) -> (ScenarioReport, ErrorKind) {
    report.verdict = Verdict::Interrupted;
    report.error = Some(why.to_string());
    (report, ErrorKind::None)
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "a panic".into()),
        Err(e) => e.to_string(),
    }
}

/// A scenario's report before anything ran (an error until a verdict is set).
pub(crate) fn blank(s: &Scenario, time_scale: f64) -> ScenarioReport {
    ScenarioReport {
        name: s.name.to_string(),
        area: s.area,
        summary: s.summary.clone(),
        source: s.source.clone(),
        seed: s.world.seed,
        time_scale,
        verdict: Verdict::Error,
        error: None,
        client: None,
        expectations: Vec::new(),
        checks: Vec::new(),
        wall_ms: 0.0,
        sim_ms: 0.0,
        lab: s.lab.clone(),
        failed_attempts: Vec::new(),
        journal: Vec::new(),
    }
}

async fn run_one(s: &Scenario, options: &RunOptions, mut stop: Stop) -> (ScenarioReport, ErrorKind) {
    let t0 = Instant::now();
    let mut report = blank(s, options.time_scale.unwrap_or(s.world.time_scale.0));
    let options_for_world = WorldOptions {
        state_dir: None,
        time_scale: options.time_scale,
        catalog: options.catalog.clone(),
        panic_route: options.panic_route,
        journal_window: options.journal_window,
        ports: if options.transparent { crate::ports::Ports::well_known(std::net::Ipv4Addr::LOCALHOST) } else { crate::ports::Ports::default() },
    };
    let world = match World::start(s, options_for_world).await {
        Ok(w) => w,
        Err(e) => {
            let kind = if e.is_bad_input() { ErrorKind::BadInput } else { ErrorKind::Harness };
            report.error = Some(format!("the world did not start: {e}"));
            return (report, kind);
        }
    };
    if stop.borrow().stopping() {
        return interrupted(report, "interrupted before its client started: memsim run was stopped");
    }
    let clock = *world.journal().clock();
    // Events before the first client (the world starting) belong to every check's window.
    let prelude = world.journal().next_seq();
    let mut runs: Vec<(scenarios::CheckRef<'_>, ClientOutcome, u64, f64)> = Vec::new();
    for check in s.checks() {
        if !runs.is_empty() && stop.borrow().stopping() {
            break;
        }
        let (from, started) = (world.journal().next_seq(), Instant::now());
        let outcome = match run_check(check, &world, options, &mut stop).await {
            Ok(o) => o,
            Err((message, kind)) => {
                report.error = Some(message);
                return (report, kind);
            }
        };
        // The server side records a client's rejection a moment after the client gave up: wait
        // for in-flight connections to finish (bounded) before the next check, and before
        // reading the journal. A stopped run does not wait.
        let interrupted = outcome.interrupted;
        if !interrupted {
            let journal = world.journal().clone();
            let _ = tokio::task::spawn_blocking(move || journal.wait_settled(SETTLE)).await;
        }
        runs.push((check, outcome, from, started.elapsed().as_secs_f64() * 1000.0));
        if interrupted {
            break;
        }
    }
    if runs.is_empty() {
        report.error = Some("the scenario has no [client]: give one with its [expect], or [[check]] entries".into());
        return (report, ErrorKind::BadInput);
    }
    // A stop between two checks: the scenario did not finish, whatever the first ones say.
    let unrun = s.checks().nth(runs.len()).map(|c| c.name.to_string());
    let stopped = world.shutdown(STOP_GRACE).await;
    // Every event, even those a busy world evicted from memory: they are read back from the
    // world's journal file (scenarios are short; this is rare).
    report.journal = match stopped.journal().complete() {
        Ok(all) => all,
        Err(e) => {
            report.error = Some(format!("could not read the world's journal back: {e}"));
            return (report, ErrorKind::Harness);
        }
    };
    // Each check is held to the events of its own run: the world's start, then from its client's
    // start to the next client's (the last one's to the end). One check sees the whole journal.
    let bounds: Vec<u64> = runs.iter().skip(1).map(|(_, _, from, _)| *from).chain([u64::MAX]).collect();
    let single = !s.has_check_list();
    for ((check, outcome, from, wall_ms), to) in runs.into_iter().zip(bounds) {
        let expectations = if single {
            expect::check(check.expect, &outcome, &report.journal)
        } else {
            let window: Vec<Event> = report.journal.iter().filter(|e| e.seq < prelude || (from..to).contains(&e.seq)).cloned().collect();
            expect::check(check.expect, &outcome, &window)
        };
        if single {
            report.verdict = verdict_of(&expectations);
            report.expectations = expectations;
            report.client = Some(outcome);
        } else {
            let verdict = if outcome.error.is_some() { Verdict::Error } else { verdict_of(&expectations) };
            let window = (prelude, from..to);
            report.checks.push(CheckReport { name: check.name.to_string(), verdict, client: outcome, expectations, wall_ms, window });
        }
    }
    if !single {
        report.verdict = if report.checks.iter().any(|c| c.verdict == Verdict::Fail) { Verdict::Fail } else { Verdict::Pass };
    }
    let wall = t0.elapsed();
    report.wall_ms = wall.as_secs_f64() * 1000.0;
    report.sim_ms = clock.to_sim(wall).0.as_secs_f64() * 1000.0;
    if let Some(failure) = stopped.failure() {
        report.verdict = Verdict::Error;
        report.error = Some(format!("the world failed: {failure}"));
        return (report, ErrorKind::Harness);
    }
    // A client run that says nothing about the scenario is an error whatever the expectations
    // say: a missing binary must not pass a scenario that expects failure (issue 13).
    let clients = report.client.iter().chain(report.checks.iter().map(|c| &c.client));
    let first_error = clients.filter_map(|c| c.error.clone().map(|e| (e, c.interrupted))).next();
    let named = |e: String| match report.checks.iter().find(|c| c.client.error.is_some()) {
        Some(c) => format!("check `{}`: {e}", c.name),
        None => e,
    };
    match first_error {
        Some((e, true)) => {
            let e = named(e);
            interrupted(report, &e)
        }
        Some((e, false)) => {
            report.error = Some(named(e));
            report.verdict = Verdict::Error;
            (report, ErrorKind::Client)
        }
        None => match unrun {
            Some(name) => interrupted(report, &format!("interrupted before check `{name}` ran: memsim run was stopped")),
            None => (report, ErrorKind::None),
        },
    }
}

fn verdict_of(expectations: &[report::ExpectationResult]) -> Verdict {
    if expectations.iter().any(|x| x.check == report::Check::Failed) { Verdict::Fail } else { Verdict::Pass }
}

/// Run one check's client against the world: its probe, or a command (the check's own, or
/// `memsim run -- COMMAND` replacing every client). An `Err` is the scenario's error.
async fn run_check(check: scenarios::CheckRef<'_>, world: &World, options: &RunOptions, stop: &mut Stop) -> Result<ClientOutcome, (String, ErrorKind)> {
    let spec = check.client;
    let kind = match &options.command {
        Some(argv) => ClientKind::Command(argv.clone()),
        None => spec.kind.clone(),
    };
    // Wall time (issue 13: a scenario's "30s" was read as simulated time, and at a time scale
    // of 60 killed the client after 500 ms). A command replacing the clients has `--timeout`.
    let own_timeout = spec.timeout.filter(|_| options.command.is_none());
    let timeout = own_timeout.map_or(options.default_timeout, |t| t.0);
    let argv = match &kind {
        ClientKind::Probe(p) => return Ok(client::run_probe(*p, Some(spec), world, timeout, stop).await),
        ClientKind::Command(argv) => argv,
    };
    let clock = *world.journal().clock();
    let prepared = async {
        let (world_json, description) = crate::up::write_state(world).await.map_err(|e| format!("{e:#}"))?;
        let certs = world.state_dir().join("certs");
        let mut env = crate::client_env::vars(&description, clock.scale(), spec.target.as_deref(), &world_json, &certs);
        // A CMG registration scenario hands a command the bulk token its probe would get.
        if spec.kind == ClientKind::Probe(scenarios::Probe::CmgRegister) {
            env.extend(client::cmg_env(world).await);
        }
        let mut mounted = Vec::new();
        if options.transparent {
            // No proxy or CA variable: the namespace's resolv.conf and trust store.
            env.retain(|(k, _)| k.starts_with("MEMSIM_") && *k != "MEMSIM_DNS");
            mounted = crate::exec::trust(world).await.map_err(|e| format!("{e:#}"))?;
        }
        Ok::<_, String>((env, mounted))
    };
    match prepared.await {
        Ok((env, mounted)) => {
            let outcome = client::run_command(argv, spec.cwd.as_deref(), &env, timeout, stop).await;
            if let Err(e) = crate::exec::untrust(mounted).await {
                return Err((format!("could not restore the namespace's trust store: {e:#}"), ErrorKind::Harness));
            }
            Ok(outcome)
        }
        Err(e) => Err((format!("could not prepare the client's environment: {e}"), ErrorKind::Harness)),
    }
}
