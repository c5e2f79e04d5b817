//! The memsim scenario model: what a scenario file may say, parsed strictly from TOML.
//!
//! This is the leaf of the workspace (serde only, no I/O beyond reading a file): the
//! [`Scenario`] and its per-layer [`Fault`] vocabulary, simulated durations and the
//! [`Clock`], the [`journal`] event model every component writes, and the built-in
//! [`catalog`] of scenario files embedded at build time, and the catalog-free half of the one
//! validation step ([`validate`]; the harness adds what the endpoint catalog knows). It does not
//! run anything.

pub mod catalog;
mod client;
mod clock;
mod duration;
mod entra;
mod expect;
mod fault;
mod host;
pub mod journal;
mod model;
mod parse;
mod service;
pub mod validate;

pub use client::{CachedAnswer, ClientKind, ClientSpec, MachineState, Probe, SignInGrant};
pub use clock::Clock;
pub use duration::{DurationError, SimDuration};
pub use entra::{EntraApp, EntraSpec, EntraUser};
pub use expect::{EventExpectation, Expect, Outcome, TextExpectation};
pub use fault::{AuthScheme, BlockStyle, CloseMethod, Direction, EndpointCategory, HostList, ProxyRule, ProxyTarget};
pub use fault::{CaRequirement, DnsEffect, EntraEffect, EntraFault, EntraTarget, ServiceEffect, ServiceFault, ServiceTarget, Window, same_resource};
pub use fault::{CertLevel, CertTarget, DnsFault, Fault, PkiFault, ProxyFault, RevocationReason, StapleState};
pub use fault::{CmgEffect, CmgFault, TokenEffect, TokenFault};
pub use fault::{CmgFaultKind, DnsFaultKind, EnrollmentFaultKind, EntraFaultKind, FaultKind, PkiFaultKind, ProxyFaultKind, ServiceFaultKind, TokenFaultKind};
pub use fault::{EnrollStep, EnrollmentEffect, EnrollmentFault, EnrollmentTarget};
pub use fault::{FaultChecker, FaultEntry, FaultError, FaultId, FaultSet, FaultStore, SyntaxChecker, fault_toml};
pub use host::{HostPattern, HostPatternError};
pub use journal::{Activity, Component, Event, Journal, NewEvent};
pub use model::{Area, Check, CheckRef, Cloud, CmgAuth, CmgSpec, IssuerRule, Lab, LabFixed, OcspSigner, Scenario, ScenarioName, TimeScale, WorldSpec};
pub use parse::{MAX_FILE_BYTES, ScenarioError, ScenarioFile, load_scenario, parse_scenario, read_bounded};
pub use service::Service;
pub(crate) use validate::is_guid;
pub use validate::{Problem, Step};
