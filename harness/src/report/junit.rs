//! JUnit XML: a test suite per area, a test case per scenario (per check, `<scenario>/<check>`,
//! for a scenario of several `[[check]]`s); a failure carries the failed
//! expectation as its message and the near-miss plus the journal excerpt in system-out, which
//! CI systems render next to the test.
//!
//! Reports of `--partition` shards merge into one (issue 18): a test case is identified by
//! `classname` `memsim.<area>` and `name` the scenario's name, both stable and, since names are
//! unique in a catalog, unique across every shard; each suite carries the run's plan
//! (partition, shuffle seed) as properties. A scenario that passed on a retry is a success with
//! a `<flakyFailure>`/`<flakyError>` per failed run, one that never passed carries its earlier
//! runs as `<rerunFailure>`/`<rerunError>` — as cargo-nextest and Maven Surefire write them.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::{Output, human::near_miss, sorted};
use crate::runner::report::{Attempt, Plan, Reporter, RunEvent, ScenarioReport, Verdict};

#[derive(Debug)]
pub struct Junit {
    out: Output,
    reports: Vec<ScenarioReport>,
    plan: Plan,
}

impl Junit {
    pub fn new(out: Output) -> Self {
        Junit { out, reports: Vec::new(), plan: Plan::default() }
    }
}

/// A test case per check of a scenario that ran its `[[check]]`s (`<scenario>/<check>`), else
/// one for the scenario.
fn cases(r: &ScenarioReport) -> Vec<TestCase> {
    if r.checks.is_empty() {
        return vec![case(r)];
    }
    r.checks
        .iter()
        .map(|c| {
            // The check's part of the report: its own verdict, client and expectations; an
            // error of the whole world (it failed, the run stopped) is every check's.
            let (verdict, error) = match (&c.client.error, r.verdict) {
                (Some(e), _) => (c.verdict, Some(e.clone())),
                (None, Verdict::Error | Verdict::Interrupted) if r.error.is_some() => (r.verdict, r.error.clone()),
                (None, _) => (c.verdict, None),
            };
            let one = ScenarioReport {
                name: format!("{}/{}", r.name, c.name),
                verdict,
                error,
                client: Some(c.client.clone()),
                expectations: c.expectations.clone(),
                checks: Vec::new(),
                wall_ms: c.wall_ms,
                journal: r.journal.iter().filter(|e| c.saw(e)).cloned().collect(),
                ..r.clone()
            };
            case(&one)
        })
        .collect()
}

fn case(r: &ScenarioReport) -> TestCase {
    let status = match r.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        // Stopped before it finished, or never started: neither a pass nor a failure of the
        // tool under test.
        Verdict::Interrupted | Verdict::NotRun => {
            let mut s = TestCaseStatus::skipped();
            if let TestCaseStatus::Skipped { message, .. } = &mut s {
                *message = Some(r.error.clone().unwrap_or_else(|| "interrupted".into()).into());
            }
            s
        }
        Verdict::Fail | Verdict::Error => {
            let kind = if r.verdict == Verdict::Fail { NonSuccessKind::Failure } else { NonSuccessKind::Error };
            let mut s = TestCaseStatus::non_success(kind);
            if let TestCaseStatus::NonSuccess { message, description, .. } = &mut s {
                *message = r.first_failure().map(Into::into);
                *description = Some(near_miss(r, false).into());
            }
            s
        }
    };
    let mut status = status;
    status.add_reruns(r.failed_attempts.iter().map(rerun));
    let mut tc = TestCase::new(r.name.clone(), status);
    tc.set_classname(format!("memsim.{}", r.area.as_str()));
    tc.set_time(std::time::Duration::from_secs_f64(r.wall_ms / 1000.0));
    let mut out = format!("{}\nsource: {}\nseed: {}  time scale: {}\n", r.summary, r.source, r.seed, r.time_scale);
    if let Some(c) = &r.client {
        out.push_str(&format!("client: {}\n", c.describe));
    }
    out.push_str("journal (last 30 events):\n");
    out.push_str(&r.journal_excerpt(30));
    tc.set_system_out(out);
    tc
}

/// A failed run before a retry.
fn rerun(a: &Attempt) -> TestRerun {
    let kind = if a.verdict == Verdict::Fail { NonSuccessKind::Failure } else { NonSuccessKind::Error };
    let mut run = TestRerun::new(kind);
    run.set_time(std::time::Duration::from_secs_f64(a.wall_ms / 1000.0));
    if let Some(m) = &a.failure {
        run.set_message(m.as_str());
    }
    run.set_stack_trace(a.detail.as_str());
    run
}

impl Reporter for Junit {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        match event {
            RunEvent::Started { plan, .. } => self.plan = (*plan).clone(),
            RunEvent::ScenarioFinished(r) => self.reports.push((*r).clone()),
            RunEvent::Finished(_) => {
                sorted(&mut self.reports);
                let mut report = Report::new("memsim");
                let mut current: Option<TestSuite> = None;
                for r in &self.reports {
                    if current.as_ref().is_none_or(|s| s.name.as_str() != r.area.as_str()) {
                        report.add_test_suites(current.take());
                        let mut suite = TestSuite::new(r.area.as_str());
                        if let Some(p) = &self.plan.partition {
                            suite.add_property(("memsim.partition", p.as_str()));
                        }
                        if let Some(seed) = self.plan.shuffle_seed {
                            suite.add_property(("memsim.shuffle_seed", seed.to_string().as_str()));
                        }
                        current = Some(suite);
                    }
                    current.as_mut().expect("just set").add_test_cases(cases(r));
                }
                report.add_test_suites(current);
                let xml = report.to_string().map_err(std::io::Error::other)?;
                self.out.write(xml.as_bytes())?;
            }
            _ => {}
        }
        Ok(())
    }
}
