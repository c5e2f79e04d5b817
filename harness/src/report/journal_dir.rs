//! Every scenario's journal as JSON lines, one file per scenario: `<dir>/<name>.jsonl`.

use std::path::PathBuf;

use crate::runner::report::{Reporter, RunEvent};

#[derive(Debug)]
pub struct JournalDir(pub PathBuf);

impl Reporter for JournalDir {
    fn on(&mut self, event: &RunEvent<'_>) -> std::io::Result<()> {
        match event {
            RunEvent::Started { .. } => std::fs::create_dir_all(&self.0),
            RunEvent::ScenarioFinished(r) => {
                let mut text = String::new();
                for e in &r.journal {
                    text.push_str(&serde_json::to_string(e)?);
                    text.push('\n');
                }
                let path = self.0.join(format!("{}.jsonl", r.name));
                std::fs::write(&path, text).map_err(|e| std::io::Error::new(e.kind(), format!("cannot write the journal {}: {e}", path.display())))
            }
            _ => Ok(()),
        }
    }
}
