//! `bridge.timezone`: the one time zone of everything a person reads or schedules, the times
//! the bot shows and the shift times. The bridge stores and computes in UTC (Unix
//! milliseconds); only what people see and set is in this zone. An IANA name, read from the
//! time zone database bundled into the binary (a host without tzdata works the same).

use jiff::{Timestamp, tz::TimeZone};

#[derive(Debug, Clone)]
pub struct Zone(TimeZone);

/// A time of day on the wall clock: hour, minute, second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallTime(pub i8, pub i8, pub i8);

impl WallTime {
    /// `06:00` or `06:00:30`.
    pub fn parse(text: &str) -> Option<WallTime> {
        let mut parts = text.trim().split(':').map(|p| p.parse::<i8>().ok());
        let (hour, minute) = (parts.next()??, parts.next()??);
        let second = match parts.next() {
            Some(second) => second?,
            None => 0,
        };
        let valid =
            (0..24).contains(&hour) && (0..60).contains(&minute) && (0..60).contains(&second);
        (valid && parts.next().is_none()).then_some(WallTime(hour, minute, second))
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone(TimeZone::UTC)
    }
}

impl Zone {
    /// The zone of an IANA name (`Europe/Berlin`), `None` if the database has no such zone.
    pub fn named(name: &str) -> Option<Zone> {
        TimeZone::get(name).ok().map(Zone)
    }

    /// `14:05 CET`: a time of today, for the desk.
    pub fn clock(&self, ms: i64) -> String {
        self.format(ms, "%H:%M %Z")
    }

    /// `2026-11-22 10:02:11 CET`.
    pub fn time(&self, ms: i64) -> String {
        self.format(ms, "%Y-%m-%d %H:%M:%S %Z")
    }

    fn format(&self, ms: i64, format: &str) -> String {
        match Timestamp::from_millisecond(ms) {
            Ok(at) => at
                .to_zoned_datetime(self.0.clone())
                .strftime(format)
                .to_string(),
            Err(_) => format!("{ms} ms"),
        }
    }

    /// The first time after `after_ms` (Unix ms) at which the wall clock here shows `at`
    /// (hour, minute, second); on a day the clock skips that time (daylight saving), the time
    /// it becomes.
    pub fn next_at(&self, after_ms: i64, at: WallTime) -> Option<i64> {
        let WallTime(hour, minute, second) = at;
        let now = Timestamp::from_millisecond(after_ms)
            .ok()?
            .to_zoned_datetime(self.0.clone());
        let mut day = now.date();
        loop {
            let at = (day.at(hour, minute, second, 0))
                .to_zoned_datetime(self.0.clone())
                .ok()?;
            if at.timestamp() > now.timestamp() {
                return Some(at.timestamp().as_millisecond());
            }
            day = day.tomorrow().ok()?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_and_planned_in_the_zone() {
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let six_am = WallTime::parse("06:00").unwrap();
        let at = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC
        assert_eq!(berlin.clock(at), "23:13 CET");
        assert_eq!(berlin.time(at), "2023-11-14 23:13:20 CET");
        assert_eq!(Zone::default().clock(at), "22:13 UTC");
        // The next 06:00 in Berlin is 05:00 UTC the next day.
        assert_eq!(berlin.next_at(at, six_am), Some(1_700_024_400_000));
        // Exactly at the time: the next day's.
        let six = 1_700_024_400_000;
        assert_eq!(berlin.next_at(six, six_am), Some(six + 24 * 3_600_000));
        // Summer time: 06:00 CEST is 04:00 UTC.
        let july = 1_720_000_000_000; // 2024-07-03 09:46:40 UTC
        assert_eq!(berlin.next_at(july, six_am), Some(1_720_065_600_000));
        assert!(Zone::named("Europe/Berln").is_none());
        assert_eq!(WallTime::parse("22:05:30"), Some(WallTime(22, 5, 30)));
        for bad in ["24:00", "6", "06:60", "06:00:00:00", "six", ""] {
            assert_eq!(WallTime::parse(bad), None, "{bad}");
        }
    }
}
