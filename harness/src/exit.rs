//! The exit codes of `memsim`, one per outcome a caller can tell apart.

use std::process::ExitCode;

/// Every expectation held (or the command did what was asked).
pub const OK: u8 = 0;
/// A scenario's expectation did not hold.
pub const EXPECTATION_FAILED: u8 = 1;
/// Bad input: an unknown scenario, an invalid file, a bad flag.
pub const BAD_INPUT: u8 = 2;
/// The harness itself failed: could not bind, a world crashed.
pub const HARNESS_FAILED: u8 = 3;

pub fn code(c: u8) -> ExitCode {
    ExitCode::from(c)
}
