//! Simulated durations as scenarios write them: `"250ms"`, `"60s"`, `"3m"`, `"1h"`, `"95d"`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of *simulated* time. The world's clock turns it into wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(pub Duration);

const UNITS: &[(&str, u64)] = &[("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration `{input}`: {reason} (write a whole number and a unit: ms, s, m, h or d, e.g. \"250ms\", \"3m\", \"95d\")")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(Duration::ZERO);

    /// The longest span a scenario may write: 100 years (36525 days). No world runs that long,
    /// and every knob has its own way to say "never" (no `until`, `after = "0s"`), so a longer
    /// value is a typo. The bound also keeps every wall-clock conversion finite: at the lowest
    /// time scale ([`crate::TimeScale::MIN`]) it is 100,000 wall years, far inside what a
    /// timer deadline (`Instant` + duration) can hold (issue 11).
    pub const MAX: SimDuration = SimDuration(Duration::from_secs(36_525 * 86_400));

    pub fn from_secs(secs: u64) -> Self {
        SimDuration(Duration::from_secs(secs))
    }

    pub fn from_millis(ms: u64) -> Self {
        SimDuration(Duration::from_millis(ms))
    }

    pub fn from_days(days: u64) -> Self {
        SimDuration(Duration::from_secs(days * 86_400))
    }

    pub fn as_duration(self) -> Duration {
        self.0
    }

    /// Parse `"<digits><unit>"`; the unit is mandatory so no knob has an unknown unit.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let err = |reason| DurationError { input: input.to_string(), reason };
        let s = input.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| err("missing unit"))?;
        let (digits, unit) = s.split_at(split);
        if digits.is_empty() {
            return Err(err("missing number"));
        }
        let n: u64 = digits.parse().map_err(|_| err("number too large"))?;
        let per = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, per)| *per).ok_or_else(|| err("unknown unit"))?;
        let ms = n.checked_mul(per).ok_or_else(|| err("number too large"))?;
        let d = SimDuration(Duration::from_millis(ms));
        if d > Self::MAX {
            return Err(err("longer than 36525d (100 years), the longest span a world knows"));
        }
        Ok(d)
    }
}

impl fmt::Display for SimDuration {
    /// The largest unit that divides the value exactly, so `"3m"` prints as `3m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        let (unit, per) = UNITS.iter().rev().find(|(_, per)| ms.is_multiple_of(*per)).copied().unwrap_or(("ms", 1));
        write!(f, "{}{}", ms / per, unit)
    }
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SimDuration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(SimDuration::parse("250ms").unwrap().0, Duration::from_millis(250));
        assert_eq!(SimDuration::parse("60s").unwrap().0, Duration::from_secs(60));
        assert_eq!(SimDuration::parse("3m").unwrap().0, Duration::from_secs(180));
        assert_eq!(SimDuration::parse("1h").unwrap().0, Duration::from_secs(3600));
        assert_eq!(SimDuration::parse("95d").unwrap().0, Duration::from_secs(95 * 86_400));
    }

    #[test]
    fn rejects_bad_input_with_reason() {
        for (bad, why) in [
            ("3", "missing unit"),
            ("m", "missing number"),
            ("3 min", "unknown unit"),
            ("3w", "unknown unit"),
            ("-3s", "missing number"),
            ("99999999999999999999s", "number too large"),
            // issue 11: `skew = "100000000d"` passed `check` and panicked at world start.
            ("100000000d", "longer than 36525d"),
            ("36526d", "longer than 36525d"),
        ] {
            let e = SimDuration::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_longest_span_is_accepted() {
        assert_eq!(SimDuration::parse("36525d").unwrap(), SimDuration::MAX);
    }

    #[test]
    fn display_round_trips() {
        for s in ["250ms", "1m", "3m", "1h", "95d", "90s"] {
            assert_eq!(SimDuration::parse(s).unwrap().to_string(), s);
        }
    }
}
