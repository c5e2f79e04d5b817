//! `memsim fault list|add|set|remove`: change a running world's faults (issue 17), through its
//! token-guarded loopback control endpoint (`control.rs`), as `memsim revoke` does. Fault text
//! is a scenario file's: `[[fault]]` tables in a file (`--file F`), or one fault's keys as
//! arguments (`memsim fault add --world D 'kind = "proxy.deny"' 'hosts = "crl3.digicert.com"'`,
//! one key per argument, or several on lines of one). The world checks it exactly as `memsim
//! check` checks a scenario file; its messages (`file:line:column: …`) are printed and the
//! command exits 2, and nothing changes.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use serde_json::Value;

use crate::control_cli::{bad, say, with_world};

/// What fault text given as arguments is called in the checker's messages.
pub const ARGUMENTS: &str = "arguments";

#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// List the world's faults: id, kind, whether it can change while the world runs, its keys.
    List {
        /// The state directory of a running world (`memsim up`/`memsim lab --state-dir D`), or D/world.json.
        #[arg(long, value_name = "D")]
        world: PathBuf,
        /// The endpoint's JSON: `{"faults": [{id, kind, layer, toml, live}]}`.
        #[arg(long)]
        json: bool,
    },
    /// Add faults: from the next connection or query on, the world has them too.
    Add {
        #[arg(long, value_name = "D")]
        world: PathBuf,
        #[command(flatten)]
        text: FaultText,
    },
    /// Replace one fault (by the id `list` shows) with another, e.g. a longer idle timeout.
    Set {
        id: String,
        #[arg(long, value_name = "D")]
        world: PathBuf,
        #[command(flatten)]
        text: FaultText,
    },
    /// Remove one fault by the id `list` shows.
    Remove {
        id: String,
        #[arg(long, value_name = "D")]
        world: PathBuf,
    },
}

/// Fault text: a file, or keys as arguments.
#[derive(Debug, clap::Args)]
pub struct FaultText {
    /// A file of `[[fault]]` tables (or one fault's keys), as a scenario file writes them.
    #[arg(long, value_name = "F", conflicts_with = "keys")]
    file: Option<PathBuf>,
    /// One fault's keys, e.g. 'kind = "proxy.idle_timeout"' 'after = "4m"'.
    #[arg(value_name = "KEY = VALUE", required_unless_present = "file")]
    keys: Vec<String>,
}

impl FaultText {
    /// The text and what it is called in messages.
    fn read(&self) -> Result<(String, String), String> {
        match &self.file {
            Some(f) => scenarios::read_bounded(f, "a fault file").map(|t| (t, f.display().to_string())).map_err(|e| format!("{}: {e}", f.display())),
            None => Ok((self.keys.join("\n") + "\n", ARGUMENTS.to_string())),
        }
    }
}

pub fn run(command: FaultCommand) -> Result<u8> {
    match command {
        FaultCommand::List { world, json } => with_world(&world, |c| async move { c.faults().await }, |v| if json { say(&format!("{v:#}")) } else { table(v) }),
        FaultCommand::Add { world, text } => {
            let (text, origin) = match text.read() {
                Ok(t) => t,
                Err(e) => return bad(&e),
            };
            with_world(
                &world,
                |c| async move { c.add_faults(&text, &origin).await },
                |v| {
                    for f in v["added"].as_array().into_iter().flatten() {
                        say(&format!("added fault {} ({}): the world's next connections and queries have it", f["id"], kind(f)))?;
                    }
                    Ok(())
                },
            )
        }
        FaultCommand::Set { id, world, text } => {
            let (text, origin) = match text.read() {
                Ok(t) => t,
                Err(e) => return bad(&e),
            };
            with_world(
                &world,
                |c| async move { c.set_fault(id.trim(), &text, &origin).await },
                |v| {
                    let f = &v["fault"];
                    say(&format!(
                        "set fault {} ({}): the world's next connections and queries have it as\n{}",
                        f["id"],
                        kind(f),
                        f["toml"].as_str().unwrap_or_default().trim_end()
                    ))
                },
            )
        }
        FaultCommand::Remove { id, world } => with_world(
            &world,
            |c| async move { c.remove_fault(id.trim()).await },
            |v| {
                let f = &v["removed"];
                say(&format!("removed fault {} ({}): the world's next connections and queries are without it", f["id"], kind(f)))
            },
        ),
    }
}

fn kind(f: &Value) -> &str {
    f["kind"].as_str().unwrap_or("?")
}

/// `list` for a person: one fault a line, its keys on the line after `kind` is dropped.
fn table(v: &Value) -> std::io::Result<()> {
    let all = v["faults"].as_array().cloned().unwrap_or_default();
    if all.is_empty() {
        return say("The world has no faults.");
    }
    say(&format!("{:<4} {:<32} {:<9} {}", "ID", "KIND", "CHANGES", "KEYS"))?;
    for f in all {
        let keys: Vec<&str> = f["toml"].as_str().unwrap_or_default().lines().filter(|l| !l.trim().is_empty() && !l.starts_with("kind =")).collect();
        let live = if f["live"].as_bool() == Some(true) { "live" } else { "at start" };
        say(&format!("{:<4} {:<32} {:<9} {}", f["id"].to_string(), kind(&f), live, keys.join("; ")))?;
    }
    Ok(())
}
