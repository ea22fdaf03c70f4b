//! When the next check is due: the configured interval plus jitter, or a doubling backoff while
//! nothing answers (offline), so a laptop without network does not fail a check every tick.

use std::time::{Duration, SystemTime};

use crate::config::Schedule as ScheduleConfig;

/// First wait after a check found the network gone; doubles up to [`OFFLINE_MAX_BACKOFF`].
const OFFLINE_FIRST_BACKOFF: Duration = Duration::from_secs(30);
const OFFLINE_MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// The schedule's memory between checks.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    offline_backoff: Option<Duration>,
}

impl Schedule {
    /// How long to wait after a check, given whether it found the network gone.
    pub fn wait_after(&mut self, offline: bool, config: &ScheduleConfig) -> Duration {
        if offline {
            let backoff = self
                .offline_backoff
                .map(|b| (b * 2).min(OFFLINE_MAX_BACKOFF))
                .unwrap_or(OFFLINE_FIRST_BACKOFF);
            self.offline_backoff = Some(backoff);
            backoff
        } else {
            self.offline_backoff = None;
            config.interval + jitter(config.jitter)
        }
    }
}

/// A random part of `max` (the schedule's jitter), so many machines do not ask at once.
fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    // The clock's nanoseconds are random enough to spread checks; no RNG crate for this.
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(600)) <= Duration::from_secs(600));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn offline_waits_double_up_to_fifteen_minutes_and_reset_when_back() {
        let config = ScheduleConfig {
            interval: Duration::from_secs(3600),
            jitter: Duration::ZERO,
        };
        let mut schedule = Schedule::default();
        let waits: Vec<u64> = (0..7).map(|_| schedule.wait_after(true, &config).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(schedule.wait_after(false, &config), Duration::from_secs(3600));
        assert_eq!(schedule.wait_after(true, &config), Duration::from_secs(30));
    }
}
