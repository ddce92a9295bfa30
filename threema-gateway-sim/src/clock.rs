//! Simulated time: the `date` of phone messages (wall clock or manual), and the scaling of
//! simulated delays so a 5-minute retry interval can take 300 ms in a test.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub(crate) struct Clock {
    /// `Some`: manual clock starting at this UNIX time.
    manual_start: Option<u64>,
    offset: Mutex<Duration>,
    /// Set back by this much (phones whose messages carry an old date).
    behind: Mutex<Duration>,
    time_scale: f64,
}

impl Clock {
    pub(crate) fn new(manual_start: Option<u64>, time_scale: f64) -> Self {
        Clock {
            manual_start,
            offset: Mutex::new(Duration::ZERO),
            behind: Mutex::new(Duration::ZERO),
            time_scale,
        }
    }

    /// Integer UNIX seconds, the only `date` format clients accept (§4.5).
    pub(crate) fn now_unix(&self) -> u64 {
        let offset = *self.offset.lock().expect("clock lock");
        let base = match self.manual_start {
            Some(start) => Duration::from_secs(start),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        };
        let behind = *self.behind.lock().expect("clock lock");
        (base + offset).saturating_sub(behind).as_secs()
    }

    pub(crate) fn advance(&self, by: Duration) {
        *self.offset.lock().expect("clock lock") += by;
    }

    /// Sets the clock `by` behind where it would be (`ZERO`: back to normal).
    pub(crate) fn set_behind(&self, by: Duration) {
        *self.behind.lock().expect("clock lock") = by;
    }

    pub(crate) fn reset(&self) {
        *self.offset.lock().expect("clock lock") = Duration::ZERO;
        *self.behind.lock().expect("clock lock") = Duration::ZERO;
    }

    /// A simulated delay in real time.
    pub(crate) fn scaled(&self, delay: Duration) -> Duration {
        scale(delay, self.time_scale)
    }
}

pub(crate) fn scale(delay: Duration, time_scale: f64) -> Duration {
    if time_scale.is_finite() && time_scale > 0.0 {
        delay.mul_f64(time_scale)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = Clock::new(Some(1_700_000_000), 0.001);
        assert_eq!(clock.now_unix(), 1_700_000_000);
        clock.advance(Duration::from_secs(61));
        assert_eq!(clock.now_unix(), 1_700_000_061);
        clock.set_behind(Duration::from_secs(100));
        assert_eq!(clock.now_unix(), 1_699_999_961);
        clock.set_behind(Duration::ZERO);
        assert_eq!(clock.now_unix(), 1_700_000_061);
        assert_eq!(
            clock.scaled(Duration::from_secs(300)),
            Duration::from_millis(300)
        );
    }
}
