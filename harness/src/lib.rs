//! memsim: a simulated Microsoft Intune / Configuration Manager cloud for testing the tools that
//! talk to it — in process from a Rust test, or as the `memsim` binary.
//!
//! This is the `harness` package's library, named `memsim`. It turns a [`Scenario`] (a world
//! and its faults: an expired root, a proxy that cuts idle tunnels, a missing DNS record …)
//! into a running [`World`] on ephemeral loopback ports: the emulated cloud's HTTPS and HTTP
//! fronts, the customer's proxy and DNS, a CA to trust, and one journal of everything that
//! happened.
//!
//! # Use memsim from a Rust test
//!
//! Start a built-in scenario (`memsim list` shows the catalog), point a client at the world
//! through its proxy, trusting its CA, then check what the world saw:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), memsim::Error> {
//! use std::time::Duration;
//! use memsim::{Component, EventMatcher, Scenario, World};
//!
//! let world = memsim::World::start(Scenario::builtin("pki-expired-root")?).await?;
//! // A client: `world.proxy_url()`, `world.ca_pem()` (or `world.ca_bundle()`), or a whole
//! // environment for a child process: `world.command("./my-tool")`.
//! let mut tool = world.command("curl");
//! tool.args(["-sS", "-o", "/dev/null", "https://enterpriseenrollment.manage.microsoft.com/"]);
//! # let _ = tool;
//! // Wait for what should happen (no polling), then assert it as `memsim run` would.
//! let ready = EventMatcher::new(Component::World).what("ready");
//! world.journal().wait_for(&ready, Duration::from_secs(5)).await?;
//! world.expect([ready]).await?;
//! # Ok(()) }
//! // Dropping the world stops it: listeners closed, temporary directory removed.
//! ```
//!
//! Or build a scenario in code; it is checked by the same validation step as a scenario file:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), memsim::Error> {
//! use memsim::{Fault, Scenario, World};
//!
//! let scenario = Scenario::healthy()
//!     .named("idle-proxy")
//!     .with_fault(Fault::proxy_idle_timeout("60s").hosts("*.manage.microsoft.com"));
//! let world = World::start(scenario).await?;
//! assert_eq!(world.env().get("HTTPS_PROXY"), Some(world.proxy_url()));
//! assert_eq!(world.env().get("SSL_CERT_FILE"), world.ca_bundle().to_str());
//! # Ok(()) }
//! ```
//!
//! A failed expectation's message is the near-miss `memsim run` prints: what was expected,
//! what was observed, the events that came closest and the journal's last events.
//!
//! Worlds share nothing: start as many as a test needs, in parallel. The examples in
//! `harness/examples/` drive a world with reqwest, hyper and a child process.
//!
//! # Outputs
//!
//! `world.json` ([`WorldDescription`]) and `memsim run --format json` carry a `schema` version
//! ([`schema::WORLD`], [`schema::REPORT`]); their JSON Schemas ([`schema::all`]), generated from these
//! types, are committed in `harness/schemas/`.
//!
//! The other public modules are the binary's and memsim's own tests' (hidden from these docs):
//! nothing there is a stable API.

#![warn(missing_docs)]

mod api;
mod cli;
#[doc(hidden)]
pub mod client_env;
#[doc(hidden)]
pub mod control;
mod control_cli;
#[doc(hidden)]
pub mod dashboard;
pub mod describe;
#[doc(hidden)]
pub mod dns;
#[doc(hidden)]
pub mod dns_client;
#[doc(hidden)]
pub mod exec;
#[doc(hidden)]
pub mod exit;
mod fault_cli;
#[doc(hidden)]
pub mod har;
mod install;
#[doc(hidden)]
pub mod lab;
#[doc(hidden)]
pub mod limits;
mod list;
#[doc(hidden)]
pub mod ports;
#[doc(hidden)]
pub mod probes;
#[doc(hidden)]
pub mod proxy;
#[doc(hidden)]
pub mod report;
#[doc(hidden)]
pub mod runner;
pub mod schema;
mod select;
#[doc(hidden)]
pub mod state_dir;
mod subject_hash;
mod token_cli;
#[doc(hidden)]
pub mod trust_kit;
#[doc(hidden)]
pub mod up;
#[doc(hidden)]
pub mod validate;
#[doc(hidden)]
pub mod world;

pub use api::{Env, Error, EventMatcher, ExpectationFailed, Fault, Journal, Scenario, World};
pub use describe::WorldDescription;
pub use runner::report::{Check, ExpectationResult};
pub use scenarios::{Component, Event};
#[doc(hidden)]
pub use select::resolve_scenario;
#[doc(hidden)]
pub use validate::{CheckedScenario, validate};

/// The `memsim` binary's entry point: parse the command line and run it.
#[doc(hidden)]
pub fn main() -> std::process::ExitCode {
    cli::main()
}
