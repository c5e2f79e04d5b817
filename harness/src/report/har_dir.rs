//! Every scenario's exchanges as a HAR 1.2 file, one per scenario: `<dir>/<name>.har`
//! (`memsim run --har-dir D`; the export itself is `crate::har`).

use std::path::PathBuf;

use crate::runner::report::{Reporter, RunEvent};

#[derive(Debug)]
pub struct HarDir(pub PathBuf);

impl Reporter for HarDir {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        match event {
            RunEvent::Started { .. } => std::fs::create_dir_all(&self.0),
            RunEvent::ScenarioFinished(r) => {
                let path = self.0.join(format!("{}.har", r.name));
                let text = crate::har::from_events(&r.journal).to_json();
                std::fs::write(&path, text).map_err(|e| std::io::Error::new(e.kind(), format!("cannot write the HAR {}: {e}", path.display())))
            }
            _ => Ok(()),
        }
    }
}
