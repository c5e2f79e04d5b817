//! memsim's composition root and the `memsim` binary.
//!
//! The harness turns a scenario into a running [`World`]: it builds the cloud (PKI, fronts,
//! services) from the catalog, and (as their issues land) the DNS zones and the customer's
//! network, merging every component's events into one journal. It also holds the command
//! line. Nothing imports this crate but the binary and the end-to-end tests.

mod cli;
pub mod client_env;
pub mod control;
pub mod describe;
pub mod dns;
pub mod dns_client;
pub mod exit;
pub mod limits;
mod list;
pub mod probes;
pub mod proxy;
pub mod report;
pub mod runner;
mod select;
pub mod state_dir;
pub mod up;
pub mod validate;
pub mod world;

pub use cli::main;
pub use describe::WorldDescription;
pub use select::resolve_scenario;
pub use validate::{CheckedScenario, validate};
pub use world::{World, WorldError, WorldOptions};
