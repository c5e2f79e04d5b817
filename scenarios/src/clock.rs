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

    /// Simulated time at a wall offset from the start.
    pub fn sim_at(&self, wall_since_start: Duration) -> OffsetDateTime {
        let sim = wall_since_start.mul_f64(self.scale);
        self.sim_start + sim
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
}
