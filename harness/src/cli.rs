//! The `memsim` command line (DESIGN.md's CLI contract). Only this module reads arguments and
//! the environment; everything below it takes typed values.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use scenarios::{catalog, load_scenario, parse_scenario, Scenario};

use crate::exit;
use crate::world::WorldOptions;

#[derive(Debug, Parser)]
#[command(name = "memsim", version, about = "A simulated Microsoft Intune / ConfigMgr cloud for testing the tools that talk to it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start one world and keep it up until SIGINT/SIGTERM.
    Up {
        /// A scenario file, or the name of a built-in scenario (default: a healthy world).
        #[arg(long)]
        scenario: Option<String>,
        /// Where to write world.json, ca.pem, env.sh (and journal.jsonl on exit).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Simulated seconds per wall second (overrides the scenario's).
        #[arg(long)]
        time_scale: Option<f64>,
    },
    /// List scenarios: the built-in catalog, or the given files.
    List { paths: Vec<PathBuf> },
    /// Validate scenario files; errors name file:line:column.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The world `memsim up` starts without `--scenario`.
const DEFAULT_WORLD: &str = r#"
name = "healthy"
summary = "A healthy world: every emulated host reachable, every certificate valid"
area = "baseline"
source = "memsim default world"
"#;

/// A scenario by file path or built-in name; `Err` is a message for a bad-input exit.
pub fn resolve_scenario(arg: Option<&str>) -> Result<Scenario, String> {
    let Some(arg) = arg else {
        return parse_scenario(DEFAULT_WORLD, "builtin:default").map_err(|e| e.to_string());
    };
    let path = PathBuf::from(arg);
    if path.is_file() {
        return load_scenario(&path).map_err(|e| e.to_string());
    }
    match catalog::find(arg) {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let names: Vec<String> = catalog::load_all().unwrap_or_default().iter().map(|s| s.name.to_string()).collect();
            Err(format!("unknown scenario `{arg}`: not a file, nor a built-in scenario ({})", names.join(", ")))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Parse, then check what the model alone cannot: CA ids against the PKI data.
fn check_one(path: &std::path::Path) -> Result<Scenario, String> {
    let s = load_scenario(path).map_err(|e| e.to_string())?;
    let pki = s.pki_faults();
    mock_cloud::Pki::validate(&mock_cloud::Catalog::builtin().pki, &s.world, &pki)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(s)
}

fn load_for_list(paths: &[PathBuf]) -> Result<Vec<Scenario>, String> {
    if paths.is_empty() {
        return catalog::load_all().map_err(|e| e.to_string());
    }
    paths.iter().map(|p| load_scenario(p).map_err(|e| e.to_string())).collect()
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return exit::code(if e.use_stderr() { exit::BAD_INPUT } else { exit::OK });
        }
    };
    match run(cli) {
        Ok(c) => exit::code(c),
        Err(e) => {
            eprintln!("memsim: {e:#}");
            exit::code(exit::HARNESS_FAILED)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Up { scenario, state_dir, time_scale } => {
            let scenario = match resolve_scenario(scenario.as_deref()) {
                Ok(s) => s,
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(crate::up::run(scenario, WorldOptions { state_dir, time_scale }))
        }
        Command::List { paths } => match load_for_list(&paths) {
            Ok(list) => {
                for s in list {
                    println!("{:<36} {:<12} {}\n{:<36} {:<12} source: {}", s.name, s.area.as_str(), s.summary, "", "", s.source);
                }
                Ok(exit::OK)
            }
            Err(msg) => {
                eprintln!("memsim: {msg}");
                Ok(exit::BAD_INPUT)
            }
        },
        Command::Check { files } => {
            let mut bad = 0;
            for f in &files {
                match check_one(f) {
                    Ok(s) => println!("ok   {} ({})", f.display(), s.name),
                    Err(msg) => {
                        bad += 1;
                        eprintln!("{msg}");
                    }
                }
            }
            Ok(if bad == 0 { exit::OK } else { exit::BAD_INPUT })
        }
    }
}
