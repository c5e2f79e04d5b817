//! What the control commands (`memsim fault`, `memsim token`) share: reaching a world's control
//! endpoint from its state directory, exit codes as `memsim revoke`'s, and printing.

use std::path::Path;

use anyhow::Result;
use serde_json::Value;

use crate::control::{Client, ControlError};
use crate::exit;

/// One line on stdout.
pub fn say(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{text}")
}

/// Call the control endpoint of the world at `world` (its state directory or its world.json),
/// print with `show`; exit codes as `memsim revoke`: 2 for bad input (no world, a refusal), 3
/// when no world answers.
pub fn with_world<F, Fut>(world: &Path, call: F, show: impl FnOnce(&Value) -> std::io::Result<()>) -> Result<u8>
where
    F: FnOnce(Client) -> Fut,
    Fut: std::future::Future<Output = Result<Value, ControlError>>,
{
    let joined = world.join(crate::up::WORLD_JSON);
    let world = if world.is_dir() { joined.as_path() } else { world };
    if !world.is_file() {
        return bad(&format!("{}: no such world.json (start a world with `memsim up --state-dir D` or `memsim lab NAME --state-dir D`)", world.display()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match runtime.block_on(async { call(Client::for_world(world)?).await }) {
        Ok(v) => {
            show(&v)?;
            Ok(exit::OK)
        }
        Err(e) => Ok(e.report()),
    }
}

/// A usage error: the message on stderr, exit 2.
pub fn bad(msg: &str) -> Result<u8> {
    eprintln!("memsim: {msg}");
    Ok(exit::BAD_INPUT)
}
