//! The dashboard's [`LabControl`] for a `memsim lab` world: its faults straight from the world's
//! one [`FaultStore`] (validated, journaled and applied as `memsim fault` and the control
//! endpoint's `/v1/faults` do), and "check my fix" as `memsim lab check` makes it
//! (`crate::lab::check::check_remote`: the scenario's proof rerun against the world's state
//! directory, through its control endpoint, while the world keeps serving).

use std::path::PathBuf;
use std::sync::Arc;

use scenarios::{FaultError, FaultId, FaultStore};
use serde_json::json;

use super::{LabControl, LabError, LabReply};

/// Where the page's changes are named in the checker's messages (`dashboard:1:8: …`).
const ORIGIN: &str = "dashboard";

/// A lab world's faults and check, as the dashboard calls them.
#[derive(Debug, Clone)]
pub struct WorldLab {
    pub faults: FaultStore,
    /// The world's state directory (`lab.json`, `control.json` …).
    pub dir: PathBuf,
    pub catalog: Arc<mock_cloud::Catalog>,
}

impl WorldLab {
    pub fn of(world: &crate::world::World) -> WorldLab {
        WorldLab { faults: world.faults().clone(), dir: world.state_dir().to_path_buf(), catalog: world.cloud().catalog.clone() }
    }
}

fn refused(e: FaultError) -> LabError {
    LabError::Rejected(e.to_string())
}

/// Run a store call off the async workers (validating a fault builds a checker's view).
fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, LabError> + Send + 'static) -> impl std::future::Future<Output = Result<T, LabError>> {
    async move { tokio::task::spawn_blocking(f).await.map_err(|e| LabError::Failed(e.to_string()))? }
}

impl LabControl for WorldLab {
    fn faults(&self) -> LabReply {
        let list = self.faults.list();
        Box::pin(async move { Ok(json!({"faults": list})) })
    }

    fn add_fault(&self, toml: String) -> LabReply {
        let store = self.faults.clone();
        Box::pin(async move {
            let added = blocking(move || store.add(&toml, ORIGIN).map_err(refused)).await?;
            Ok(json!({"added": added}))
        })
    }

    fn remove_fault(&self, id: String) -> LabReply {
        let store = self.faults.clone();
        Box::pin(async move {
            let id: FaultId = id.parse().map_err(LabError::Rejected)?;
            let removed = blocking(move || store.remove(id).map_err(refused)).await?;
            Ok(json!({"removed": removed}))
        })
    }

    fn check(&self) -> LabReply {
        let (dir, catalog) = (self.dir.clone(), self.catalog.clone());
        Box::pin(async move {
            match crate::lab::check::check_remote(&dir, &catalog).await {
                Ok(v) => Ok(json!({
                    "verdict": if v.fixed { "fixed" } else { "not_yet" },
                    "fixed": v.fixed,
                    "detail": v.render(),
                    "result": v,
                })),
                Err(e @ crate::lab::check::CheckError::NoLab(_)) => Err(LabError::Rejected(e.to_string())),
                Err(e) => Err(LabError::Failed(e.to_string())),
            }
        })
    }
}
