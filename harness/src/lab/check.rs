//! `memsim lab check` and the dashboard's "check my fix" (issue 17 #3): rerun the scenario's
//! client against the world as the trainee left it and judge the run by what proves the fix —
//! the scenario's `[lab.fixed]`, or by default the healthy baseline of its probe (the catalog's
//! `healthy-<probe>` scenario, whose `[expect]` is what that probe does in a healthy world).
//! *Fixed* when every expectation holds; *not yet* with the near-miss otherwise: what was
//! expected, what was observed, and the journal events that came closest.
//!
//! Only the events of this run count: the journal from the check's start on. In process
//! ([`check_world`]) the world's journal is at hand; from another process ([`check_remote`],
//! `memsim lab check --world D`) the world's control endpoint gives the events after a sequence
//! number (`GET /v1/journal?after=N`).

use std::path::Path;
use std::time::Duration;

use scenarios::{Event, Expect, Probe, Scenario};
use serde::Serialize;

use crate::probes::{self, ProbeTarget};
use crate::runner::report::{Check, ClientOutcome, ExpectationResult};
use crate::world::World;

/// How long a probe of a check may run (wall time), as `memsim run`'s default client timeout.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What proves a lab's fix: the probe to rerun and what holds once the fault is fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    pub probe: Probe,
    pub expect: Expect,
    /// Where the expectation comes from: `[lab.fixed]`, or the baseline scenario's name.
    pub from: String,
    /// The scenario's own `client` table for that probe, when one of its checks runs it (the
    /// machine's `[client.state]`, the sign-in grant): the trainee fixes the network, not the
    /// client.
    pub client: Option<scenarios::ClientSpec>,
}

/// The proof of `scenario`'s fix (see the module).
pub fn proof(scenario: &Scenario) -> Result<Proof, String> {
    let fixed = scenario.lab.as_ref().and_then(|l| l.fixed.clone()).unwrap_or_default();
    let probe_of = |c: &scenarios::ClientSpec| match &c.kind {
        scenarios::ClientKind::Probe(p) => Some(*p),
        scenarios::ClientKind::Command(_) => None,
    };
    // The first check's probe (a multi-check scenario's first client is the one its lab is about).
    let own = scenario.checks().next().and_then(|c| probe_of(c.client));
    let probe = fixed.probe.or(own).ok_or_else(|| {
        format!("{}: the scenario's client is a command and its [lab.fixed] names no probe, so memsim cannot rerun it to check the fix", scenario.name)
    })?;
    let client = scenario.checks().map(|c| c.client).find(|c| probe_of(c) == Some(probe)).cloned();
    if let Some(expect) = fixed.expect {
        return Ok(Proof { probe, expect, from: "[lab.fixed]".into(), client });
    }
    let name = format!("healthy-{}", probe.as_str());
    let baseline =
        scenarios::catalog::find(&name).map_err(|e| e.to_string())?.ok_or_else(|| format!("no baseline scenario `{name}` for the {} probe", probe.as_str()))?;
    let expect = baseline.checks().find(|c| probe_of(c.client) == Some(probe)).map(|c| c.expect.clone()).unwrap_or_default();
    Ok(Proof { probe, expect, from: name, client })
}

/// A check's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub scenario: String,
    /// Every expectation of the proof held.
    pub fixed: bool,
    /// Where the expectation comes from: `[lab.fixed]` or the baseline's name.
    pub proof: String,
    pub client: ClientOutcome,
    pub results: Vec<ExpectationResult>,
}

impl Verdict {
    /// For a person: `fixed`, or `not yet` and what did not hold, with the near-miss.
    pub fn render(&self) -> String {
        if self.fixed {
            return format!("fixed: {} now behaves as in a healthy world ({} held; {})\n", self.client.describe, self.proof, self.client_line());
        }
        let mut out = format!("not yet: {} does not behave as in a healthy world yet ({}; {})\n", self.client.describe, self.proof, self.client_line());
        if let Some(e) = &self.client.error {
            out.push_str(&format!("  the client's run says nothing: {e}\n"));
        }
        for r in self.results.iter().filter(|r| r.check == Check::Failed) {
            out.push_str(&format!("  {}: expected {}, observed {}\n", r.expectation, r.expected, r.observed));
            for e in &r.near {
                out.push_str(&format!("    near: {}\n", crate::runner::report::event_line(e)));
            }
        }
        out
    }

    /// The probe's verdict in a few words (the outcome line below carries its whole message).
    fn client_line(&self) -> String {
        match &self.client.probe {
            Some(p) if p.passed => "the probe passed".into(),
            Some(p) => format!("the probe failed at step {}{}", p.step, p.code.as_deref().map(|c| format!(" with {c}")).unwrap_or_default()),
            None => self.client.error.clone().unwrap_or_default(),
        }
    }
}

/// Judge one run of the proof's probe by the events of that run.
pub fn judge(scenario: &str, proof: &Proof, client: ClientOutcome, events: &[Event]) -> Verdict {
    let results = crate::runner::expect::check(&proof.expect, &client, events);
    let fixed = client.error.is_none() && results.iter().all(|r| r.check != Check::Failed);
    Verdict { scenario: scenario.to_string(), fixed, proof: proof.from.clone(), client, results }
}

/// How long the journal may take to settle after the probe (the connections it closed).
const SETTLE: Duration = Duration::from_secs(2);

/// Check the fix of a world running in this process (the dashboard's "check my fix").
pub async fn check_world(world: &World) -> Result<Verdict, String> {
    let proof = proof(world.scenario())?;
    let from = world.journal().snapshot().last().map_or(0, |e| e.seq);
    let mut stop = crate::runner::no_stop();
    let client = crate::runner::client::run_probe(proof.probe, proof.client.as_ref(), world, TIMEOUT, &mut stop).await;
    let journal = world.journal().clone();
    let _ = tokio::task::spawn_blocking(move || journal.wait_settled(SETTLE)).await;
    let events: Vec<Event> = world.journal().snapshot().into_iter().filter(|e| e.seq > from).collect();
    Ok(judge(world.scenario().name.as_str(), &proof, client, &events))
}

/// Why a check from another process could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// No lab world there, or its files do not say which scenario it runs (bad input).
    #[error("{0}")]
    NoLab(String),
    /// The world's control endpoint did not answer (the harness failed).
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
}

/// `memsim lab check --world D`: check the fix of the lab world whose state directory is `dir`.
pub async fn check_remote(dir: &Path, catalog: &mock_cloud::Catalog) -> Result<Verdict, CheckError> {
    let lab = super::LabFile::read(dir).map_err(CheckError::NoLab)?;
    let scenario = crate::select::resolve_checked(Some(&lab.scenario), catalog).map_err(CheckError::NoLab)?.into_scenario();
    let proof = proof(&scenario).map_err(CheckError::NoLab)?;
    let world_json = dir.join(crate::up::WORLD_JSON);
    let description = crate::describe::WorldDescription::read(&world_json).map_err(|e| CheckError::NoLab(e.to_string()))?;
    let control = crate::control::Client::for_world(&world_json)?;
    let from = control.journal_after(None).await?.0;
    let mut target = ProbeTarget::new(&description, description.time_scale);
    if let Some(c) = &proof.client {
        target.sign_in = probes::sign_in::SignIn { grant: c.grant.unwrap_or_default(), resource: c.resource.clone() };
    }
    if proof.probe == Probe::CmgRegister {
        target.cmg = probes::CmgPlan::of(&scenario);
        if target.cmg.auth == scenarios::CmgAuth::BulkToken {
            target.cmg.regtoken = Some(control.new_token(None).await.map(|v| v["token"].as_str().unwrap_or_default().to_string()).map_err(|e| e.to_string()));
        }
    }
    let describe = format!("probe {}", proof.probe.as_str());
    let client = match tokio::time::timeout(TIMEOUT, probes::run_with(proof.probe, &target, catalog)).await {
        Ok(result) => crate::runner::client::probed(describe, result),
        Err(_) => ClientOutcome {
            describe,
            passed: false,
            probe: None,
            exit_code: None,
            timed_out: true,
            error: Some(format!("timed out: the probe did not finish within {} s (wall time)", TIMEOUT.as_secs())),
            interrupted: false,
            stdout: String::new(),
            stderr: String::new(),
        },
    };
    let (_, events) = control.journal_after(Some(from)).await?;
    Ok(judge(lab.name.as_str(), &proof, client, &events))
}
