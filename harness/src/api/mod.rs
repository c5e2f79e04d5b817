//! The in-process Rust API (issue 18 #1), re-exported at the crate root: [`World`],
//! [`Scenario`], [`Fault`], [`EventMatcher`], [`Journal`], [`Env`], [`Error`]. The crate docs
//! (lib.rs) show it in use; README's "Use memsim from Rust" section too.

mod journal;
mod scenario;
mod world;

pub use journal::{EventMatcher, Journal};
pub use scenario::{Fault, Scenario};
pub use world::{Env, World};

use crate::runner::report::ExpectationResult;

/// What can go wrong with a world in a test.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The scenario (or an event matcher) is invalid: every problem, one
    /// `origin:line:column: message` a line, as `memsim check` prints them.
    #[error("{0}")]
    Scenario(String),
    /// The world could not start.
    #[error("the world did not start: {0}")]
    Start(#[from] crate::world::WorldError),
    /// A file of the world could not be written or read.
    #[error("{context}: {message}")]
    Io {
        /// What was being done.
        context: String,
        /// The system's error.
        message: String,
    },
    /// [`Journal::wait_for`] saw no matching event in time; the message names the closest.
    #[error("{0}")]
    Timeout(String),
    /// An expectation of [`World::expect`] failed; the message is the runner's near-miss.
    #[error("{0}")]
    Expectation(ExpectationFailed),
}

/// `unwrap()` and `fn main() -> Result<…>` print `Debug`: the message as written, not escaped,
/// so a near-miss reads as `memsim run` prints it.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// Failed expectations: the near-miss message, and every expectation's result.
#[derive(Debug, Clone)]
pub struct ExpectationFailed {
    /// The near-miss, exactly as `memsim run` prints it for a failed scenario (no colour).
    pub message: String,
    /// Every expectation checked, held or failed, in the order given.
    pub results: Vec<ExpectationResult>,
}

impl std::fmt::Display for ExpectationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
