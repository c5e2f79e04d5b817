//! The simulated clock: simulated now, and simulated durations in wall time.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::SimDuration;

/// Simulated time runs `scale` times faster than the wall clock from the world's start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    sim_start: OffsetDateTime,
    wall_start: Instant,
    scale: f64,
}

impl Clock {
    /// The latest simulated time the clock shows: 9998-12-31T23:59:59Z, a year below the end of
    /// what an X.509 date can say (GeneralizedTime, year 9999), so that everything the world
    /// dates from now (CRLs and OCSP answers, valid for days) still fits.
    pub const LATEST: OffsetDateTime = time::macros::datetime!(9998-12-31 23:59:59 UTC);

    pub fn new(sim_start: OffsetDateTime, scale: f64) -> Self {
        Clock { sim_start, wall_start: Instant::now(), scale }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn sim_start(&self) -> OffsetDateTime {
        self.sim_start
    }

    /// Wall time since the world started.
    pub fn wall_elapsed(&self) -> Duration {
        self.wall_start.elapsed()
    }

    /// Simulated now.
    pub fn now(&self) -> OffsetDateTime {
        self.sim_at(self.wall_elapsed())
    }

    /// Simulated time at a wall offset from the start. It stops at [`Clock::LATEST`]: a world
    /// started near the end of the calendar at a high time scale would otherwise overflow the
    /// date type (a panic), and what the world computes from now (a CRL's nextUpdate, an OCSP
    /// answer's) needs room above it (issue 11).
    pub fn sim_at(&self, wall_since_start: Duration) -> OffsetDateTime {
        let sim = Duration::try_from_secs_f64(wall_since_start.as_secs_f64() * self.scale).unwrap_or(Duration::MAX);
        let latest = self.sim_start.max(Self::LATEST);
        self.sim_start.checked_add(sim.try_into().unwrap_or(time::Duration::MAX)).map_or(latest, |t| t.min(latest))
    }

    /// The same clock `by` behind: what a client whose clock lags the world's reads (a world's
    /// `skew`), ticking at the same rate from the same instant.
    pub fn behind(self, by: Duration) -> Clock {
        Clock { sim_start: self.sim_start.checked_sub(by.try_into().unwrap_or(time::Duration::ZERO)).unwrap_or(self.sim_start), ..self }
    }

    /// How long a simulated span lasts on the wall clock.
    pub fn to_wall(&self, d: SimDuration) -> Duration {
        d.0.div_f64(self.scale)
    }

    /// How much simulated time a wall span covers.
    pub fn to_sim(&self, wall: Duration) -> SimDuration {
        SimDuration(wall.mul_f64(self.scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_converts_both_ways() {
        let c = Clock::new(OffsetDateTime::UNIX_EPOCH, 60.0);
        assert_eq!(c.to_wall(SimDuration::from_secs(180)), Duration::from_secs(3));
        assert_eq!(c.to_sim(Duration::from_secs(1)), SimDuration::from_secs(60));
        assert_eq!(c.sim_at(Duration::from_secs(2)), OffsetDateTime::UNIX_EPOCH + Duration::from_secs(120));
    }

    /// issue 11: near the end of the calendar, at the highest scale, the clock stops instead of
    /// overflowing the date type.
    #[test]
    fn the_clock_stops_at_its_latest_time() {
        let start = time::macros::datetime!(9998-06-01 0:00 UTC);
        let c = Clock::new(start, 1_000_000.0);
        assert_eq!(c.sim_at(Duration::from_secs(1)), start + Duration::from_secs(1_000_000));
        assert_eq!(c.sim_at(Duration::from_secs(3600 * 24 * 365)), Clock::LATEST);
        assert_eq!(c.sim_at(Duration::MAX), Clock::LATEST);
    }
}
