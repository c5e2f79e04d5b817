//! One JSON document for the whole run: summary and every scenario's report
//! ([`JsonReport`]; its JSON Schema is `harness/schemas/report.schema.json`, issue 18 #5).

use schemars::JsonSchema;
use serde::Serialize;

use super::{Output, sorted};
use crate::runner::report::{Plan, Reporter, RunEvent, ScenarioReport, Summary, event_line};

/// The version of the JSON report's shape, its `schema` key (issue 18 #5).
pub const REPORT_SCHEMA: &str = "memsim/report/1";

/// `memsim run --format json`: the whole run.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JsonReport {
    /// The shape's version, [`REPORT_SCHEMA`].
    #[schemars(extend("const" = REPORT_SCHEMA))]
    pub schema: String,
    /// The memsim version that wrote it.
    pub memsim: String,
    /// How the run chose and ordered its scenarios: partition, shuffle seed, retries, fail-fast.
    pub plan: Plan,
    /// The run's counts and times.
    pub summary: Summary,
    /// Simulated time covered per wall second spent in scenarios.
    pub compression: f64,
    /// Every scenario, by area then name.
    pub scenarios: Vec<JsonScenario>,
}

/// One scenario's report in the JSON document.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct JsonScenario {
    /// The report's own keys.
    #[serde(flatten)]
    pub report: ScenarioReport,
    /// It passed only on a retry (`--retries`): its `failed_attempts` say how it failed.
    pub flaky: bool,
    /// The scenario's last 20 journal events, one line each as the human view shows them.
    pub journal_excerpt: Vec<String>,
}

impl JsonReport {
    /// The document for `reports` (in the order given) and the run's `summary`.
    pub fn new(reports: &[ScenarioReport], summary: &Summary, plan: &Plan) -> JsonReport {
        JsonReport {
            schema: REPORT_SCHEMA.into(),
            memsim: env!("CARGO_PKG_VERSION").into(),
            plan: plan.clone(),
            summary: summary.clone(),
            compression: summary.compression(),
            scenarios: reports
                .iter()
                .map(|r| JsonScenario { report: r.clone(), flaky: r.flaky(), journal_excerpt: r.journal.iter().rev().take(20).rev().map(event_line).collect() })
                .collect(),
        }
    }
}

/// The sink: collects the reports, writes the document when the run finishes.
#[derive(Debug)]
pub struct Json {
    out: Output,
    reports: Vec<ScenarioReport>,
    plan: Plan,
}

impl Json {
    /// A sink writing to `out`.
    pub fn new(out: Output) -> Self {
        Json { out, reports: Vec::new(), plan: Plan::default() }
    }
}

impl Reporter for Json {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        match event {
            RunEvent::Started { plan, .. } => self.plan = (*plan).clone(),
            RunEvent::ScenarioFinished(r) => self.reports.push((*r).clone()),
            RunEvent::Finished(summary) => {
                sorted(&mut self.reports);
                let mut bytes = serde_json::to_vec_pretty(&JsonReport::new(&self.reports, summary, &self.plan))?;
                bytes.push(b'\n');
                self.out.write(&bytes)?;
            }
            _ => {}
        }
        Ok(())
    }
}
