//! What the runner reports about each scenario: the sinks (human, JSON, JUnit, journal files)
//! all read these and nothing else.

use scenarios::{Area, Event, Lab};
use schemars::JsonSchema;
use serde::Serialize;

use crate::probes::ProbeResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every expectation held.
    Pass,
    /// An expectation did not hold.
    Fail,
    /// The scenario could not be run (bad input or the harness failed), or its client's run
    /// says nothing about it (it could not start, a signal ended it, it timed out).
    Error,
    /// `memsim run` was stopped (SIGINT/SIGTERM) before the scenario finished.
    Interrupted,
    /// Never started: `--fail-fast` stopped starting scenarios after a failure (issue 18).
    NotRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Held,
    Failed,
    Skipped,
}

/// One expectation: what was expected, what was observed, and the near-miss context.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ExpectationResult {
    pub expectation: String,
    pub check: Check,
    pub expected: String,
    pub observed: String,
    /// For failed event expectations: the journal events that came closest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub near: Vec<Event>,
}

/// What the client did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ClientOutcome {
    /// `probe discovery` or the command line.
    pub describe: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<ProbeResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Why this run of the client tells nothing about the scenario — it could not be started,
    /// a signal ended it, it timed out, the run was interrupted: the scenario is an error
    /// (issue 13), never a pass or an ordinary failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `memsim run` was interrupted (SIGINT/SIGTERM) while the client ran.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScenarioReport {
    pub name: String,
    pub area: Area,
    pub summary: String,
    pub source: String,
    pub seed: u64,
    pub time_scale: f64,
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientOutcome>,
    /// The expectations of the scenario's one `[client]` (empty when it lists `[[check]]`s:
    /// each check has its own).
    pub expectations: Vec<ExpectationResult>,
    /// A scenario listing `[[check]]`s: each check's client and expectations, in run order
    /// (all in the one world; each check held to the events of its own run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckReport>,
    pub wall_ms: f64,
    /// Simulated time the scenario covered (wall time × time scale).
    pub sim_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab: Option<Lab>,
    /// Earlier runs of this scenario that failed, with `--retries` (issue 18): when the
    /// verdict is a pass, the scenario is flaky — reported as such, never hidden.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_attempts: Vec<Attempt>,
    #[serde(skip)]
    pub journal: Vec<Event>,
}

/// One `[[check]]` of a scenario: its client's run and its expectations.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CheckReport {
    /// The check's `name` (default: its probe's name, or `command`).
    pub name: String,
    /// Pass, fail, or error (its client's run says nothing: see [`ClientOutcome::error`]).
    pub verdict: Verdict,
    pub client: ClientOutcome,
    pub expectations: Vec<ExpectationResult>,
    /// Wall time of its client's run (and the settling after it).
    pub wall_ms: f64,
    /// The `seq`s of the journal events it was held to: those below the first, then those in
    /// the range (the world's start, then its own run).
    #[serde(skip)]
    pub window: (u64, std::ops::Range<u64>),
}

impl CheckReport {
    /// Whether the check was held to event `e`.
    pub fn saw(&self, e: &Event) -> bool {
        e.seq < self.window.0 || self.window.1.contains(&e.seq)
    }
}

/// A run of a scenario that failed before a retry: its verdict, why, and its near-miss.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Attempt {
    pub verdict: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub wall_ms: f64,
    /// The near-miss text the human report prints for a failure.
    pub detail: String,
}

impl ScenarioReport {
    /// It passed, but only on a retry.
    pub fn flaky(&self) -> bool {
        self.verdict == Verdict::Pass && !self.failed_attempts.is_empty()
    }

    /// The first expectation that failed, in a line.
    pub fn first_failure(&self) -> Option<String> {
        if let Some(e) = &self.error {
            return Some(e.clone());
        }
        self.all_expectations().find(|(_, x)| x.check == Check::Failed).map(|(check, x)| {
            let at = check.map(|c| format!("check `{c}`: ")).unwrap_or_default();
            format!("{at}{}: expected {}, observed {}", x.expectation, x.expected, x.observed)
        })
    }

    /// Every expectation with the name of its check (none for a scenario's one `[client]`).
    pub fn all_expectations(&self) -> impl Iterator<Item = (Option<&str>, &ExpectationResult)> {
        let own = self.expectations.iter().map(|x| (None, x));
        own.chain(self.checks.iter().flat_map(|c| c.expectations.iter().map(move |x| (Some(c.name.as_str()), x))))
    }

    /// Each client run with its check's name (none for a scenario's one `[client]`).
    pub fn clients(&self) -> impl Iterator<Item = (Option<&str>, &ClientOutcome)> {
        self.client.iter().map(|c| (None, c)).chain(self.checks.iter().map(|c| (Some(c.name.as_str()), &c.client)))
    }

    /// The last `n` journal events, one JSON line each: the context around a failure.
    pub fn journal_excerpt(&self, n: usize) -> String {
        let start = self.journal.len().saturating_sub(n);
        self.journal[start..].iter().map(|e| format!("{}\n", event_line(e))).collect()
    }
}

/// An event as a support engineer scans it: time, component, what, host, fault, details.
pub fn event_line(e: &Event) -> String {
    let mut s = format!("#{:<3} {:>9.1}ms {:<6} {:<22}", e.seq, e.wall_ms, e.component.as_str(), e.what);
    if let Some(h) = &e.host {
        s.push_str(&format!(" {h}"));
    }
    if let Some(f) = &e.fault {
        s.push_str(&format!(" fault={f}"));
    }
    for key in ["status", "path", "error", "certificate", "reason"] {
        if let Some(v) = e.detail.get(key) {
            s.push_str(&format!(" {key}={v}"));
        }
    }
    s
}

/// The whole run.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    /// Scenarios `memsim run`'s SIGINT/SIGTERM stopped before they finished.
    #[serde(skip_serializing_if = "is_zero")]
    pub interrupted: usize,
    /// Passed scenarios that passed only on a retry (`--retries`); counted in `passed` too.
    #[serde(skip_serializing_if = "is_zero")]
    pub flaky: usize,
    /// Scenarios `--fail-fast` never started.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_run: usize,
    pub wall_ms: f64,
    /// Sum of the scenarios' simulated durations.
    pub sim_ms: f64,
    /// Sum of the scenarios' wall durations.
    pub scenario_wall_ms: f64,
}

impl Summary {
    /// Simulated time covered per wall second spent in scenarios.
    pub fn compression(&self) -> f64 {
        if self.scenario_wall_ms > 0.0 { self.sim_ms / self.scenario_wall_ms } else { 0.0 }
    }

    pub fn add(&mut self, r: &ScenarioReport) {
        self.total += 1;
        match r.verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Error => self.errors += 1,
            Verdict::Interrupted => self.interrupted += 1,
            Verdict::NotRun => self.not_run += 1,
        }
        self.flaky += usize::from(r.flaky());
        self.sim_ms += r.sim_ms;
        self.scenario_wall_ms += r.wall_ms;
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What the runner tells its sinks, in order.
#[derive(Debug)]
pub enum RunEvent<'a> {
    Started { total: usize, jobs: usize, plan: &'a Plan },
    ScenarioStarted { name: &'a str },
    ScenarioFinished(&'a ScenarioReport),
    Finished(&'a Summary),
}

/// How this run chose and ordered its scenarios, printed in every report so that a shard or a
/// shuffled order can be run again exactly (issue 18).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Plan {
    /// `count:K/N` or `hash:K/N`: this run is one shard of the selection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// `--shuffle SEED`: the order scenarios started in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shuffle_seed: Option<u64>,
    /// `--retries N`: a failed scenario ran up to N more times.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
    /// `--fail-fast`: no scenario started after the first failure.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fail_fast: bool,
}

impl Plan {
    /// One line for people, empty when the run is plain.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.partition {
            parts.push(format!("partition {p}"));
        }
        if let Some(seed) = self.shuffle_seed {
            parts.push(format!("shuffled with seed {seed} (--shuffle {seed} repeats this order)"));
        }
        if self.retries > 0 {
            parts.push(format!("up to {} retries", self.retries));
        }
        if self.fail_fast {
            parts.push("fail-fast".into());
        }
        parts.join("; ")
    }
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// A consumer of the runner's events. Sinks know nothing of each other.
pub trait Reporter {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()>;
}
