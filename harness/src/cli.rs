//! The `memsim` command line (DESIGN.md's CLI contract). Only this module reads arguments and
//! the environment; everything below it takes typed values.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::exit;
use crate::probes;
use crate::report;
use crate::runner::{self, Reporter, RunOptions};
use crate::select::{load_for_list, resolve_checked, select, select_each};
use crate::world::WorldOptions;

#[derive(Debug, Parser)]
#[command(name = "memsim", version, about = "A simulated Microsoft Intune / ConfigMgr cloud for testing the tools that talk to it")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios (default: the built-in catalog) and check their expectations.
    Run {
        /// Scenario files, directories of them, or built-in scenario names.
        paths: Vec<String>,
        /// Only scenarios whose name contains this (or matches it, with `*` wildcards).
        #[arg(long)]
        filter: Option<String>,
        /// Worlds running at once, at least 1 (default: the number of cores).
        #[arg(long, value_parser = jobs)]
        jobs: Option<usize>,
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        /// Write the report to this file instead of standard output (checked writable before
        /// any world starts).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Simulated seconds per wall second for every scenario (0.001 to 1000000).
        #[arg(long, allow_negative_numbers = true, value_parser = time_scale)]
        time_scale: Option<f64>,
        /// Wall time a client may run before it is stopped (SIGTERM to its process group, SIGKILL
        /// 2 s later) and its scenario reported as an error: "90s", "5m". A scenario's own
        /// `[client] timeout` wins for its built-in client. Default: 60s.
        #[arg(long, value_name = "DURATION", value_parser = wall_timeout)]
        timeout: Option<std::time::Duration>,
        /// Write each scenario's journal as JSON lines (`<name>.jsonl`) into this directory,
        /// made if missing.
        #[arg(long, value_name = "DIR")]
        journal_dir: Option<PathBuf>,
        /// Write each scenario's HTTP exchanges as a HAR 1.2 file (`<name>.har`) into this
        /// directory, made if missing (`memsim har` converts a journal file the same way).
        #[arg(long, value_name = "DIR")]
        har_dir: Option<PathBuf>,
        /// Run one shard of the selection, as cargo-nextest: `count:K/N` (round-robin over the
        /// names sorted) or `hash:K/N` (a stable hash of each name), 1 <= K <= N. The N shards
        /// together run every selected scenario exactly once.
        #[arg(long, value_name = "count:K/N|hash:K/N", value_parser = partition)]
        partition: Option<runner::plan::Partition>,
        /// Start the scenarios in an order drawn from SEED (the same order for the same seed
        /// everywhere); the seed is printed in every report.
        #[arg(long, value_name = "SEED")]
        shuffle: Option<u64>,
        /// After the first scenario that fails or errors, start no other; the rest are reported
        /// as not run.
        #[arg(long)]
        fail_fast: bool,
        /// Run a failing scenario up to N more times; one that passes on a retry is reported
        /// as flaky (FLAKY, `"flaky": true`, JUnit `<flakyFailure>`), never as a plain pass.
        #[arg(long, value_name = "N", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
        retries: u32,
        /// Print the scenarios this run (and its `--partition`) would run, in order, and exit:
        /// `--format json` gives `memsim list --format json`'s rows.
        #[arg(long)]
        list: bool,
        /// Run inside a network namespace as `memsim exec` does (root): each world on
        /// 53/80/443 there, a command client with no proxy or CA variable, one world at a time.
        #[arg(long)]
        transparent: bool,
        /// Set by memsim itself when it runs inside the namespaces it made.
        #[arg(long = "inside-namespace", hide = true)]
        inside: bool,
        /// A command that replaces every scenario's client: `memsim run -- ./my-checker --json`.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Start one world and keep it up until SIGINT/SIGTERM.
    Up {
        /// A scenario file, or the name of a built-in scenario (default: a healthy world).
        #[arg(long)]
        scenario: Option<String>,
        /// Where to write world.json, ca.pem, env.sh (and journal.jsonl on exit).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Simulated seconds per wall second, 0.001 to 1000000 (overrides the scenario's).
        #[arg(long, allow_negative_numbers = true, value_parser = time_scale)]
        time_scale: Option<f64>,
        #[command(flatten)]
        ports: PortArgs,
    },
    /// Run COMMAND, unmodified, inside a fresh network namespace where the world is the whole
    /// network: its DNS in /etc/resolv.conf, its CA as the system trust store, ports 80/443
    /// through the customer network as a transparent proxy, no route out (needs root).
    /// Exits with COMMAND's status.
    Exec {
        /// A scenario file, or the name of a built-in scenario (default: a healthy world).
        #[arg(long)]
        scenario: Option<String>,
        /// The scenario, as `--scenario` gives it: `memsim exec healthy-discovery -- curl …`.
        #[arg(conflicts_with = "scenario", value_name = "SCENARIO")]
        name: Option<String>,
        /// Where to write world.json, ca.pem and journal.jsonl (default: a new temp dir, kept).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Simulated seconds per wall second, 0.001 to 1000000 (overrides the scenario's).
        #[arg(long, allow_negative_numbers = true, value_parser = time_scale)]
        time_scale: Option<f64>,
        /// Set by memsim itself when it runs inside the namespaces it made.
        #[arg(long = "inside-namespace", hide = true)]
        inside: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Run one reference client against a running world (`memsim up`'s world.json, which gives
    /// the world's time scale; MEMSIM_TIME_SCALE, when set, overrides it).
    Probe {
        /// The reference client to run.
        #[arg(value_parser = ProbeName)]
        name: scenarios::Probe,
        /// The world.json of a running world (`memsim up --state-dir D` writes D/world.json).
        #[arg(long, value_name = "D/world.json")]
        world: PathBuf,
    },
    /// Revoke a certificate of a running world (`memsim up`): its CRL and OCSP answers change at once.
    Revoke {
        /// An emulated host name (the leaf it presents) or a serial number in hex.
        target: String,
        /// The world.json of a running world (`memsim up --state-dir D` writes D/world.json).
        #[arg(long, value_name = "D/world.json")]
        world: PathBuf,
        /// RFC 5280 reason: unspecified, key_compromise (default), ca_compromise,
        /// affiliation_changed, superseded, cessation_of_operation.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take a revoked certificate of a running world off its issuer's CRL and OCSP again.
    Restore {
        /// An emulated host name or a serial number in hex.
        target: String,
        /// The world.json of a running world (`memsim up --state-dir D` writes D/world.json).
        #[arg(long, value_name = "D/world.json")]
        world: PathBuf,
    },
    /// Bulk registration tokens of a running world (BulkRegistrationTokenTool.exe and the
    /// console's Certificates node; seed 004).
    Token {
        #[command(subcommand)]
        command: crate::token_cli::TokenCommand,
    },
    /// A training lab: start a scenario's broken world and brief the trainee (summary and
    /// hint, never the fix); `memsim lab check --world D` says whether the fix holds.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Lab {
        #[command(subcommand)]
        command: Option<LabCommand>,
        /// A scenario file, or the name of a built-in scenario.
        #[arg(required = true, value_name = "NAME|FILE")]
        scenario: Option<String>,
        /// Where to write world.json, ca.pem, env.sh, lab.json and journal.jsonl (one per trainee).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Simulated seconds per wall second, 0.001 to 1000000 (overrides the scenario's).
        #[arg(long, allow_negative_numbers = true, value_parser = time_scale)]
        time_scale: Option<f64>,
        #[command(flatten)]
        ports: PortArgs,
    },
    /// A running world's faults: list, add, set, remove them while it runs (issue 17).
    Fault {
        #[command(subcommand)]
        command: crate::fault_cli::FaultCommand,
    },
    /// List scenarios: the built-in catalog, or the given files.
    List {
        /// Scenario files, directories of them, or built-in scenario names (default: the catalog).
        paths: Vec<String>,
        /// `human`: name, area, summary and source; `json`: also each scenario's client, target
        /// URL and what any client must observably cause (its non-probe-only expectations).
        #[arg(long, value_enum, default_value = "human")]
        format: ListFormat,
        /// Only the scenarios of this shard (see `memsim run --partition`).
        #[arg(long, value_name = "count:K/N|hash:K/N", value_parser = partition)]
        partition: Option<runner::plan::Partition>,
    },
    /// Print a shell completion script: `memsim completions bash > /etc/bash_completion.d/memsim`.
    Completions {
        #[arg(value_enum)]
        shell: crate::install::Shell,
    },
    /// Print memsim's man page (roff): `memsim man > memsim.1 && man ./memsim.1`.
    Man,
    /// Export a journal (`journal.jsonl`, or a `--journal-dir` file) as HAR 1.2 on standard
    /// output: one entry per HTTP exchange, memsim's fault names in `_memsim` fields.
    Har {
        /// The journal file; rotated files beside it (`journal.1.jsonl` …) are read first.
        journal: PathBuf,
        /// Write the HAR to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate scenarios as `run` would, without starting a world; errors name file:line:column.
    Check {
        /// Scenario files, directories of them (searched for *.toml), or built-in scenario names.
        #[arg(required = true)]
        paths: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Rerun the lab's client against the world as it is now: exit 0 when the fix holds
    /// (*fixed*), 1 when it does not yet (with the near-miss), 2 for bad input.
    Check {
        /// The lab world's state directory (`memsim lab NAME --state-dir D`).
        #[arg(long, value_name = "D")]
        world: PathBuf,
        /// The verdict as JSON: `{scenario, fixed, proof, client, results}`.
        #[arg(long)]
        json: bool,
    },
}

/// `memsim up`'s fixed addresses (issue 19); every port defaults to an ephemeral one.
#[derive(Debug, clap::Args)]
struct PortArgs {
    /// The loopback address every listener binds (default 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::IpAddr>,
    /// The DNS server's port (UDP and TCP).
    #[arg(long, value_name = "PORT")]
    dns_port: Option<u16>,
    /// The HTTPS front's port.
    #[arg(long, value_name = "PORT")]
    https_port: Option<u16>,
    /// The HTTP front's port.
    #[arg(long, value_name = "PORT")]
    http_port: Option<u16>,
    /// The customer proxy's port.
    #[arg(long, value_name = "PORT")]
    proxy_port: Option<u16>,
    /// Serve a lab network: answer DNS for every emulated name with ADDR and listen on
    /// ADDR:53/80/443 (80/443 through the customer network as a transparent proxy); writes the
    /// trust kit to STATE/trust. Loopback, private (RFC 1918) or link-local addresses only.
    #[arg(long, value_name = "ADDR", conflicts_with = "listen")]
    advertise: Option<std::net::IpAddr>,
}

impl PortArgs {
    fn ports(&self) -> Result<crate::ports::Ports, String> {
        if let Some(ip) = self.advertise {
            let base = crate::ports::Ports::well_known(crate::trust_kit::check_advertise(ip)?);
            return Ok(crate::ports::Ports {
                dns: self.dns_port.unwrap_or(base.dns),
                https: self.https_port.unwrap_or(base.https),
                http: self.http_port.unwrap_or(base.http),
                proxy: self.proxy_port.unwrap_or(base.proxy),
                ..base
            });
        }
        let listen = self.listen.map(crate::ports::check_listen).transpose()?.unwrap_or(std::net::Ipv4Addr::LOCALHOST);
        Ok(crate::ports::Ports {
            listen,
            dns: self.dns_port.unwrap_or(0),
            https: self.https_port.unwrap_or(0),
            http: self.http_port.unwrap_or(0),
            proxy: self.proxy_port.unwrap_or(0),
            transparent: false,
        })
    }
}

/// How long memsim may take to exit after a second signal forced the stop.
const FORCED_EXIT: std::time::Duration = std::time::Duration::from_secs(1);

/// A stop request that asks to stop at the first SIGINT or SIGTERM. Installing the handlers
/// replaces the default action (dying at once, leaving clients running and temporary state
/// dirs behind): the runner stops what runs, reports and cleans up, then exits 130/143.
///
/// A second signal forces the stop: every running client's process group gets SIGKILL at
/// once, and memsim exits within [`FORCED_EXIT`] even if a world hangs in its start (which a
/// swallowed second signal used to leave to SIGKILL, leaking the client groups).
fn stop_on_signals() -> std::io::Result<runner::Stop> {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::watch::channel(runner::StopRequest::default());
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let first = next_signal(&mut int, &mut term).await;
        let _ = tx.send(runner::StopRequest { signal: Some(first), ..Default::default() });
        next_signal(&mut int, &mut term).await;
        let _ = tx.send(runner::StopRequest { signal: Some(first), force: true, ..Default::default() });
        // A plain thread, not a task: it must fire even while the runtime is shutting down
        // (dropping a runtime waits for its blocking tasks).
        std::thread::spawn(move || {
            std::thread::sleep(FORCED_EXIT);
            eprintln!("memsim: stopped by a second signal");
            std::process::exit(128 + first);
        });
    });
    Ok(rx)
}

async fn next_signal(int: &mut tokio::signal::unix::Signal, term: &mut tokio::signal::unix::Signal) -> i32 {
    tokio::select! {
        _ = int.recv() => 2,
        _ = term.recv() => 15,
    }
}

/// `--partition`: `count:K/N` or `hash:K/N`, as cargo-nextest writes them.
fn partition(s: &str) -> Result<runner::plan::Partition, String> {
    s.parse()
}

/// `--list` and `memsim list`: the scenarios for people, or `memsim list --format json`'s rows.
fn print_list(list: &[crate::CheckedScenario], json: bool) -> Result<u8> {
    if json {
        let rows: Vec<serde_json::Value> = list.iter().map(crate::list::json).collect();
        say(&serde_json::to_string_pretty(&rows)?)?;
    } else if !list.is_empty() {
        say(&crate::list::human(list))?;
    }
    Ok(exit::OK)
}

/// `--jobs`: a count of worlds, at least one (0 used to become 1 silently).
fn jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("at least 1 world must run at a time".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a count of worlds, e.g. 2")),
    }
}

/// `--timeout`: a duration as scenarios write them ("90s", "5m"), above zero.
fn wall_timeout(s: &str) -> Result<std::time::Duration, String> {
    match scenarios::SimDuration::parse(s) {
        Ok(d) if !d.0.is_zero() => Ok(d.0),
        Ok(_) => Err("a client needs more than no time: give e.g. \"60s\"".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// `--time-scale`: a number within [`scenarios::TimeScale`]'s range. Negative numbers reach
/// this check instead of clap's "use `-- -1`" hint, which would start `-1` as the COMMAND.
fn time_scale(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|_| format!("`{s}` is not a number: give simulated seconds per wall second, e.g. 60"))?;
    scenarios::TimeScale::new(x).map(|t| t.0)
}

/// `memsim probe NAME`: the names and their help come from `scenarios::Probe`, the one list of
/// probes; a name that is none of them is clap's bad-input error, listing them.
#[derive(Debug, Clone, Copy)]
struct ProbeName;

impl clap::builder::TypedValueParser for ProbeName {
    type Value = scenarios::Probe;

    fn parse_ref(&self, cmd: &clap::Command, arg: Option<&clap::Arg>, value: &std::ffi::OsStr) -> Result<Self::Value, clap::Error> {
        let names = clap::builder::PossibleValuesParser::new(self.possible_values().into_iter().flatten());
        let name = names.parse_ref(cmd, arg, value)?;
        scenarios::Probe::from_name(&name).ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidValue).with_cmd(cmd))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(scenarios::Probe::ALL.iter().map(|p| clap::builder::PossibleValue::new(p.as_str()).help(p.about()))))
    }
}

/// Debug builds: `MEMSIM_DEBUG_PANIC_ROUTE=1` arms the fronts' panicking route, for the tests
/// that prove a panic fails the world (`WorldOptions::panic_route`). Release builds ignore it.
fn debug_panic_route() -> bool {
    cfg!(debug_assertions) && std::env::var_os("MEMSIM_DEBUG_PANIC_ROUTE").is_some_and(|v| v == "1")
}

/// `--output FILE`: a file memsim can write (made empty if missing, kept otherwise until the
/// report replaces it).
fn writable_file(path: &std::path::Path) -> Result<(), String> {
    std::fs::OpenOptions::new().append(true).create(true).open(path).map(drop).map_err(|e| format!("cannot write the report to {}: {e}", path.display()))
}

/// `--journal-dir DIR`: a directory memsim can make and write files in.
fn writable_dir(dir: &std::path::Path) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write journals into {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    tempfile::tempfile_in(dir).map(drop).map_err(fail)
}

/// Whether the world a world.json describes still runs: its proxy (every probe's way in)
/// accepts a connection. A stopped world would otherwise look like a broken network — a
/// probe's resolver timing out as 0x80072EE2 (issue 13).
fn world_running(world: &crate::describe::WorldDescription) -> Result<(), String> {
    let addr = world.proxy_addr()?;
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).map(drop).map_err(|e| {
        format!("no world is running: its proxy at {addr} does not answer ({e}); this world.json is left from a world that stopped. Start one with `memsim up --state-dir D`")
    })
}

/// One line (or block) on stdout; an error (the reader went away) goes back to the caller
/// instead of a panic.
fn say(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{text}")
}

fn sinks(format: Format, output: Option<PathBuf>, journal_dir: Option<PathBuf>) -> Result<Vec<Box<dyn Reporter>>, String> {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let progress = std::io::stderr().is_terminal();
    let out = || output.clone().map_or(report::Output::Stdout, report::Output::File);
    let mut sinks: Vec<Box<dyn Reporter>> = Vec::new();
    match (format, &output) {
        (Format::Human, None) => {
            let color = !no_color && std::io::stdout().is_terminal();
            sinks.push(Box::new(report::Human::new(Box::new(std::io::stdout()), color, progress)));
        }
        (Format::Human, Some(path)) => match std::fs::File::create(path) {
            Ok(f) => sinks.push(Box::new(report::Human::new(Box::new(f), false, progress))),
            Err(e) => return Err(format!("cannot write the report to {}: {e}", path.display())),
        },
        (Format::Json | Format::Junit, _) => {
            let color = !no_color && std::io::stderr().is_terminal();
            sinks.push(Box::new(report::Human::new(Box::new(std::io::stderr()), color, progress)));
            if matches!(format, Format::Json) {
                sinks.push(Box::new(report::Json::new(out())));
            } else {
                sinks.push(Box::new(report::Junit::new(out())));
            }
        }
    }
    if let Some(dir) = journal_dir {
        sinks.push(Box::new(report::JournalDir(dir)));
    }
    Ok(sinks)
}

/// `memsim probe cmg-register`'s `/regtoken:`: `MEMSIM_CMG_REGTOKEN` when set (a token from
/// `memsim token new`, a garbage one to see it refused), else a fresh one from the world's site.
fn probe_regtoken(world: &std::path::Path, runtime: &tokio::runtime::Runtime) -> Result<String, String> {
    if let Ok(t) = std::env::var("MEMSIM_CMG_REGTOKEN") {
        return Ok(t);
    }
    runtime
        .block_on(async { crate::control::Client::for_world(world)?.new_token(None).await })
        .map(|v| v["token"].as_str().unwrap_or_default().to_string())
        .map_err(|e| e.to_string())
}

/// `memsim revoke` (`revoke` is `Some(reason)`) and `memsim restore`, through the world's
/// control endpoint; prints the certificate as the endpoint describes it, without its PEMs.
fn control(world: &std::path::Path, target: &str, revoke: Option<Option<String>>) -> Result<u8> {
    use crate::control::Client;
    let reason =
        match revoke.clone().flatten().map(|r| serde_json::from_value::<scenarios::RevocationReason>(serde_json::Value::String(r.clone())).map_err(|_| r)) {
            Some(Err(r)) => {
                eprintln!("memsim: unknown reason `{r}`: unspecified, key_compromise, ca_compromise, affiliation_changed, superseded, cessation_of_operation");
                return Ok(exit::BAD_INPUT);
            }
            Some(Ok(r)) => Some(r),
            None => None,
        };
    if !world.is_file() {
        eprintln!("memsim: {}: no such world.json (start one with `memsim up --state-dir D`)", world.display());
        return Ok(exit::BAD_INPUT);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(async {
        let client = Client::for_world(world)?;
        match revoke {
            Some(_) => client.revoke(target, reason).await,
            None => client.restore(target).await,
        }
    });
    match result {
        Ok(mut cert) => {
            // The PEMs (the issuer's carries every emulated name) drown the answer on a terminal;
            // the control endpoint's certificate lookup still gives them.
            if let Some(o) = cert.as_object_mut() {
                o.remove("pem");
                o.remove("issuer_pem");
            }
            say(&serde_json::to_string_pretty(&cert)?)?;
            let state = if cert["revoked"].is_null() { "valid (not revoked)" } else { "revoked" };
            eprintln!(
                "memsim: {} (serial {}) is {state}: its CRL and OCSP answers say so from now on",
                cert["subject"].as_str().unwrap_or(target),
                cert["serial"].as_str().unwrap_or("?")
            );
            Ok(exit::OK)
        }
        Err(e) => Ok(e.report()),
    }
}

pub fn main() -> ExitCode {
    crate::limits::raise_nofile();
    // `memsim help --help` (and `help -h`): clap's help subcommand takes only subcommand names.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.len() == 3 && args[1] == "help" && (args[2] == "--help" || args[2] == "-h") {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return exit::code(exit::OK);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return exit::code(if e.use_stderr() { exit::BAD_INPUT } else { exit::OK });
        }
    };
    match run(cli) {
        Ok(c) => exit::code(c),
        // `memsim list | head`: the reader went away; nothing is wrong with memsim.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) => exit::code(exit::OK),
        Err(e) => {
            eprintln!("memsim: {e:#}");
            exit::code(exit::HARNESS_FAILED)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    // The one catalog of this invocation, loaded once and passed down (issue 10 #4).
    let catalog = std::sync::Arc::new(mock_cloud::Catalog::builtin()?);
    match cli.command {
        Command::Run {
            paths,
            filter,
            jobs,
            format,
            output,
            time_scale,
            timeout,
            journal_dir,
            har_dir,
            partition,
            shuffle,
            fail_fast,
            retries,
            list,
            transparent,
            inside,
            command,
        } => {
            let selected = match select(&paths, filter.as_deref(), &catalog) {
                Ok(s) => crate::select::planned(s, partition, shuffle),
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            if list {
                return match format {
                    Format::Junit => {
                        eprintln!("memsim: --list prints `human` or `json`, not `junit`");
                        Ok(exit::BAD_INPUT)
                    }
                    f => print_list(&selected, matches!(f, Format::Json)),
                };
            }
            let selected: Vec<scenarios::Scenario> = selected.into_iter().map(crate::CheckedScenario::into_scenario).collect();
            // Where the report and journals go is checked before any world starts: a report
            // that cannot be written is a lost run (issue 13).
            let har_checked = har_dir.as_deref().map(|d| writable_dir(d).map_err(|m| m.replace("cannot write journals", "cannot write HAR files")));
            for checked in [output.as_deref().map(writable_file), journal_dir.as_deref().map(writable_dir), har_checked].into_iter().flatten() {
                if let Err(msg) = checked {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            }
            if transparent && !inside {
                // Everything above was checked out here (bad input before any namespace).
                return Ok(crate::exec::outer(std::env::args_os().collect()).unwrap_or_else(|msg| {
                    eprintln!("memsim: {msg}");
                    exit::HARNESS_FAILED
                }));
            }
            // Transparent worlds share the namespace's ports 53/80/443: one at a time.
            let jobs = if transparent { 1 } else { jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())) };
            let options = RunOptions {
                jobs,
                time_scale,
                command: (!command.is_empty()).then_some(command),
                default_timeout: timeout.unwrap_or(runner::DEFAULT_TIMEOUT),
                catalog: Some(catalog.clone()),
                panic_route: debug_panic_route(),
                plan: runner::Plan { partition: partition.map(|p| p.to_string()), shuffle_seed: shuffle, retries, fail_fast },
                transparent,
                ..RunOptions::default()
            };
            let sinks = match sinks(format, output, journal_dir) {
                Ok(s) => s,
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let mut sinks = sinks;
            if let Some(dir) = har_dir {
                sinks.push(Box::new(report::HarDir(dir)));
            }
            let stop = runtime.block_on(async { stop_on_signals() })?;
            if transparent && let Err(e) = runtime.block_on(crate::exec::enter_network()) {
                eprintln!("memsim: {e:#}");
                return Ok(exit::HARNESS_FAILED);
            }
            let outcome = match runtime.block_on(runner::run(selected, &options, &mut sinks, stop)) {
                Ok(o) => o,
                // A report sink failed (`memsim run | head`): the run stopped and cleaned up,
                // but its report is lost, which is not success (unlike `memsim list | head`).
                Err(e) => {
                    eprintln!("memsim: the report could not be written ({e}); the run was stopped");
                    return Ok(exit::HARNESS_FAILED);
                }
            };
            Ok(if let Some(signal) = outcome.interrupted {
                // The shell's convention for a command a signal ended: 130 SIGINT, 143 SIGTERM.
                128 + signal as u8
            } else if outcome.harness_failed || outcome.client_errors {
                exit::HARNESS_FAILED
            } else if outcome.bad_input {
                exit::BAD_INPUT
            } else if outcome.summary.failed > 0 {
                exit::EXPECTATION_FAILED
            } else {
                exit::OK
            })
        }
        Command::Up { scenario, state_dir, time_scale, ports } => {
            let ports = match ports.ports() {
                Ok(p) => p,
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            let scenario = match resolve_checked(scenario.as_deref(), &catalog) {
                Ok(s) => s.into_scenario(),
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(crate::up::run(
                scenario,
                WorldOptions { state_dir, time_scale, catalog: Some(catalog), panic_route: debug_panic_route(), ports, ..WorldOptions::default() },
            ))
        }
        Command::Exec { scenario, name, state_dir, time_scale, inside, command } => {
            let scenario = match resolve_checked(scenario.or(name).as_deref(), &catalog) {
                Ok(s) => s.into_scenario(),
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            if !inside {
                // Checked here (bad input, exit 2) before any namespace is made.
                if let Some(dir) = &state_dir
                    && let Err(e) = std::fs::create_dir_all(dir)
                {
                    eprintln!("memsim: --state-dir {}: {e}", dir.display());
                    return Ok(exit::BAD_INPUT);
                }
                return Ok(crate::exec::outer(std::env::args_os().collect()).unwrap_or_else(|msg| {
                    eprintln!("memsim: {msg}");
                    exit::HARNESS_FAILED
                }));
            }
            let options = WorldOptions { state_dir, time_scale, catalog: Some(catalog), panic_route: debug_panic_route(), ..WorldOptions::default() };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(crate::exec::inner(scenario, options, command))
        }
        Command::Probe { name: probe, world } => {
            if !world.is_file() {
                eprintln!("memsim: {}: no such world.json: no world is running there (start one with `memsim up --state-dir D`)", world.display());
                return Ok(exit::BAD_INPUT);
            }
            // Read once, typed and checked (every address loopback) before any socket opens.
            let description = match crate::describe::WorldDescription::read(&world) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("memsim: {e}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            if let Err(e) = world_running(&description) {
                eprintln!("memsim: {}: {e}", world.display());
                return Ok(exit::BAD_INPUT);
            }
            // world.json's time scale; MEMSIM_TIME_SCALE, when set, overrides it.
            let scale = std::env::var("MEMSIM_TIME_SCALE").ok().and_then(|s| s.parse::<f64>().ok()).filter(|s| s.is_finite() && *s > 0.0);
            let mut target = probes::ProbeTarget::new(&description, scale.unwrap_or(description.time_scale));
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            if probe == scenarios::Probe::CmgRegister {
                target.cmg.regtoken = Some(probe_regtoken(&world, &runtime));
            }
            let result = runtime.block_on(probes::run_with(probe, &target, &catalog));
            say(&serde_json::to_string_pretty(&result)?)?;
            Ok(if result.passed { exit::OK } else { exit::EXPECTATION_FAILED })
        }
        Command::Revoke { target, world, reason } => control(&world, &target, Some(reason)),
        Command::Restore { target, world } => control(&world, &target, None),
        Command::Token { command } => crate::token_cli::run(command, &catalog),
        Command::Fault { command } => crate::fault_cli::run(command),
        Command::Lab { command: Some(LabCommand::Check { world, json }), .. } => {
            let dir = if world.is_file() { world.parent().map(std::path::Path::to_path_buf).unwrap_or_default() } else { world };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            match runtime.block_on(crate::lab::check::check_remote(&dir, &catalog)) {
                Ok(v) => {
                    say(&if json { serde_json::to_string_pretty(&v)? } else { v.render().trim_end().to_string() })?;
                    Ok(if v.fixed { exit::OK } else { exit::EXPECTATION_FAILED })
                }
                Err(crate::lab::check::CheckError::NoLab(msg)) => {
                    eprintln!("memsim: {msg}");
                    Ok(exit::BAD_INPUT)
                }
                Err(crate::lab::check::CheckError::Control(e)) => Ok(e.report()),
            }
        }
        Command::Lab { command: None, scenario, state_dir, time_scale, ports } => {
            let ports = match ports.ports() {
                Ok(p) => p,
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            let arg = scenario.unwrap_or_default();
            let scenario = match resolve_checked(Some(&arg), &catalog) {
                Ok(s) => s.into_scenario(),
                Err(msg) => {
                    eprintln!("memsim: {msg}");
                    return Ok(exit::BAD_INPUT);
                }
            };
            let lab = crate::lab::Lab::new(&arg, &scenario);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(crate::up::run_with(
                scenario,
                WorldOptions { state_dir, time_scale, catalog: Some(catalog), panic_route: debug_panic_route(), ports, ..WorldOptions::default() },
                Some(lab),
            ))
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            say(&crate::install::completions(shell, &mut Cli::command()))?;
            Ok(exit::OK)
        }
        Command::Man => {
            use clap::CommandFactory;
            use std::io::Write;
            let page = crate::install::man(Cli::command())?;
            let mut out = std::io::stdout().lock();
            out.write_all(&page)?;
            out.flush()?;
            Ok(exit::OK)
        }
        Command::List { paths, format, partition } => match load_for_list(&paths, &catalog) {
            Ok(list) => print_list(&crate::select::planned(list, partition, None), matches!(format, ListFormat::Json)),
            Err(msg) => {
                eprintln!("memsim: {msg}");
                Ok(exit::BAD_INPUT)
            }
        },
        Command::Har { journal, output } => crate::har::cli(&journal, output.as_deref()),
        Command::Check { paths } => {
            let (good, bad) = match select_each(&paths, None, &catalog) {
                Ok(found) => found,
                Err(msg) => (Vec::new(), vec![msg]),
            };
            for s in &good {
                say(&format!("ok   {} ({})", s.origin(), s.scenario().name))?;
            }
            for msg in &bad {
                eprintln!("{msg}");
            }
            Ok(if bad.is_empty() { exit::OK } else { exit::BAD_INPUT })
        }
    }
}
