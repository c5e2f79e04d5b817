//! The runner's sinks. Each consumes [`RunEvent`]s and knows nothing of the others: the human
//! view (progress, summary table, near-misses), one JSON document, JUnit XML, the journal
//! of every scenario as JSON lines in a directory, and its exchanges as HAR files.

mod har_dir;
mod human;
mod journal_dir;
mod json;
mod junit;

pub use har_dir::HarDir;
pub use human::Human;
pub use human::near_miss;
pub use journal_dir::JournalDir;
pub use json::{Json, JsonReport, JsonScenario, REPORT_SCHEMA};
pub use junit::Junit;

use crate::runner::report::ScenarioReport;

/// Reports collected as they finish, in the catalog's order for the document sinks.
fn sorted(reports: &mut [ScenarioReport]) {
    reports.sort_by(|a, b| (a.area, &a.name).cmp(&(b.area, &b.name)));
}

/// Where a document sink writes: a file, or standard output.
#[derive(Debug)]
pub enum Output {
    Stdout,
    File(std::path::PathBuf),
}

impl Output {
    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Stdout => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()
            }
            Output::File(p) => std::fs::write(p, bytes).map_err(|e| std::io::Error::new(e.kind(), format!("cannot write the report to {}: {e}", p.display()))),
        }
    }
}
