//! One JSON document for the whole run: summary and every scenario's report.

use serde_json::json;

use super::{Output, sorted};
use crate::runner::report::{Reporter, RunEvent, ScenarioReport, event_line};

#[derive(Debug)]
pub struct Json {
    out: Output,
    reports: Vec<ScenarioReport>,
}

impl Json {
    pub fn new(out: Output) -> Self {
        Json { out, reports: Vec::new() }
    }
}

impl Reporter for Json {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        match event {
            RunEvent::ScenarioFinished(r) => self.reports.push((*r).clone()),
            RunEvent::Finished(summary) => {
                sorted(&mut self.reports);
                let scenarios: Vec<_> = self
                    .reports
                    .iter()
                    .map(|r| {
                        let mut v = serde_json::to_value(r).unwrap_or_default();
                        v["journal_excerpt"] = r.journal.iter().rev().take(20).rev().map(event_line).collect();
                        v
                    })
                    .collect();
                let doc = json!({
                    "memsim": env!("CARGO_PKG_VERSION"),
                    "summary": summary,
                    "compression": summary.compression(),
                    "scenarios": scenarios,
                });
                let mut bytes = serde_json::to_vec_pretty(&doc)?;
                bytes.push(b'\n');
                self.out.write(&bytes)?;
            }
            _ => {}
        }
        Ok(())
    }
}
