//! JUnit XML: a test suite per area, a test case per scenario; a failure carries the failed
//! expectation as its message and the near-miss plus the journal excerpt in system-out, which
//! CI systems render next to the test.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{Output, human::near_miss, sorted};
use crate::runner::report::{Reporter, RunEvent, ScenarioReport, Verdict};

#[derive(Debug)]
pub struct Junit {
    out: Output,
    reports: Vec<ScenarioReport>,
}

impl Junit {
    pub fn new(out: Output) -> Self {
        Junit { out, reports: Vec::new() }
    }
}

fn case(r: &ScenarioReport) -> TestCase {
    let status = match r.verdict {
        Verdict::Pass => TestCaseStatus::success(),
        // Stopped before it finished: neither a pass nor a failure of the tool under test.
        Verdict::Interrupted => {
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

impl Reporter for Junit {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        match event {
            RunEvent::ScenarioFinished(r) => self.reports.push((*r).clone()),
            RunEvent::Finished(_) => {
                sorted(&mut self.reports);
                let mut report = Report::new("memsim");
                let mut current: Option<TestSuite> = None;
                for r in &self.reports {
                    if current.as_ref().is_none_or(|s| s.name.as_str() != r.area.as_str()) {
                        report.add_test_suites(current.take());
                        current = Some(TestSuite::new(r.area.as_str()));
                    }
                    current.as_mut().expect("just set").add_test_case(case(r));
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
