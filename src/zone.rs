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

/// A daily stretch of the wall clock, `22:00-06:00` (over midnight when it ends before it
/// starts): a shift, or when drivers are off duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: WallTime,
    pub until: WallTime,
}

impl Window {
    /// `06:00-14:00` or `21:59:30-06:00`; `None` if a time is not one or both are the same
    /// (all day or never: neither is a shift).
    pub fn parse(text: &str) -> Option<Window> {
        let (from, until) = text.split_once('-')?;
        let (from, until) = (WallTime::parse(from)?, WallTime::parse(until)?);
        (from != until).then_some(Window { from, until })
    }

    /// When the stretch around `at_ms` ends, if `at_ms` is within it in `zone`; `None` outside.
    /// Read off the next start and end, so days the clock skips or repeats an hour count as
    /// the wall clock shows them.
    pub fn ends_after(&self, zone: &Zone, at_ms: i64) -> Option<i64> {
        let until = zone.next_at(at_ms, self.until)?;
        let from = zone.next_at(at_ms, self.from)?;
        // Within, the end comes first; outside, the next start does. At the start itself:
        // within (`next_at` looks past `at_ms`, so the next start is a day away).
        (until < from).then_some(until)
    }

    /// The next time it starts after `at_ms`.
    pub fn next_start(&self, zone: &Zone, at_ms: i64) -> Option<i64> {
        zone.next_at(at_ms, self.from)
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

    /// Today's date on this zone's wall clock: the day leaving dates are compared with (an
    /// employee whose last day is today leaves at midnight here, not at midnight UTC).
    pub fn today(&self) -> time::Date {
        let date = Timestamp::now().to_zoned_datetime(self.0.clone()).date();
        let month = time::Month::try_from(date.month() as u8).expect("jiff months are 1..=12");
        time::Date::from_calendar_date(i32::from(date.year()), month, date.day() as u8)
            .expect("jiff dates are valid dates")
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

    /// `date` (year, month, day) at `at` on this zone's wall clock, in Unix ms; `None` for a
    /// date that does not exist. A time the clock skips (daylight saving) is the time it
    /// becomes.
    pub fn at_date(&self, (year, month, day): (i16, i8, i8), at: WallTime) -> Option<i64> {
        let WallTime(hour, minute, second) = at;
        let date = jiff::civil::Date::new(year, month, day).ok()?;
        let zoned = (date.at(hour, minute, second, 0))
            .to_zoned_datetime(self.0.clone())
            .ok()?;
        Some(zoned.timestamp().as_millisecond())
    }

    /// The first time after `after_ms` at which the wall clock shows `at` on a day `on` takes
    /// (its weekday, Monday 0 to Sunday 6); `None` if `on` takes no day.
    pub fn next_on(&self, after_ms: i64, at: WallTime, on: impl Fn(u8) -> bool) -> Option<i64> {
        let mut after = after_ms;
        for _ in 0..8 {
            let next = self.next_at(after, at)?;
            if on(self.weekday(next)?) {
                return Some(next);
            }
            after = next;
        }
        None
    }

    /// The weekday at `ms` here: Monday 0 to Sunday 6.
    pub fn weekday(&self, ms: i64) -> Option<u8> {
        let at = Timestamp::from_millisecond(ms).ok()?;
        Some(
            at.to_zoned_datetime(self.0.clone())
                .weekday()
                .to_monday_zero_offset() as u8,
        )
    }

    /// `2027-01-04 05:55 CET` (the bot's texts put the weekday in the desk's language before
    /// it).
    pub fn date_and_clock(&self, ms: i64) -> String {
        self.format(ms, "%Y-%m-%d %H:%M %Z")
    }

    /// Whether `ms` is today (as `now_ms` is) on this wall clock.
    pub fn same_day(&self, ms: i64, now_ms: i64) -> bool {
        let day = |ms: i64| self.format(ms, "%Y-%m-%d");
        day(ms) == day(now_ms)
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

/// `2026-12-06T05:55:00Z`: a time (Unix ms) as APIs exchange it (RFC 3339, UTC).
pub fn rfc3339(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| String::new(), |t| t.to_string())
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
        assert!(berlin.same_day(at + 60_000, at));
        assert!(!berlin.same_day(at + 3_600_000, at));
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

    #[test]
    fn a_date_and_weekdays_are_read_on_the_wall_clock() {
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let five_55 = WallTime::parse("05:55").unwrap();
        let monday = berlin.at_date((2027, 1, 4), five_55).unwrap();
        assert_eq!(berlin.date_and_clock(monday), "2027-01-04 05:55 CET");
        assert_eq!(berlin.weekday(monday), Some(0));
        assert_eq!(berlin.at_date((2027, 2, 30), five_55), None);
        // From Friday 06:00: the next weekday 05:55 is Monday's, the next Sunday's is Sunday's.
        let friday = berlin.at_date((2027, 1, 8), WallTime(6, 0, 0)).unwrap();
        let next = berlin.next_on(friday, five_55, |d| d < 5).unwrap();
        assert_eq!(berlin.date_and_clock(next), "2027-01-11 05:55 CET");
        assert_eq!(berlin.weekday(next), Some(0));
        let sunday = berlin.next_on(friday, five_55, |d| d == 6).unwrap();
        assert_eq!(berlin.date_and_clock(sunday), "2027-01-10 05:55 CET");
        assert_eq!(berlin.next_on(friday, five_55, |_| false), None);
    }

    #[test]
    fn today_is_the_date_on_the_zones_wall_clock() {
        // 25 hours apart: it is never the same day in both.
        let (east, west) = (
            Zone::named("Pacific/Kiritimati").unwrap(),
            Zone::named("Pacific/Pago_Pago").unwrap(),
        );
        assert!(east.today() > west.today());
        let utc = jiff::Timestamp::now()
            .to_zoned_datetime(TimeZone::UTC)
            .date();
        assert_eq!(Zone::default().today().day(), utc.day() as u8);
    }

    #[test]
    fn a_window_knows_whether_a_time_is_within_and_when_it_ends() {
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let hour = 3_600_000;
        let night = Window::parse("22:00-06:00").unwrap();
        let day = Window::parse("06:00-22:00").unwrap();
        let at = 1_700_000_000_000; // 23:13:20 CET
        let six = 1_700_024_400_000; // 06:00 CET the next morning
        assert_eq!(night.ends_after(&berlin, at), Some(six));
        assert_eq!(day.ends_after(&berlin, at), None);
        assert_eq!(day.next_start(&berlin, at), Some(six));
        // The start belongs to it, the end does not.
        assert_eq!(day.ends_after(&berlin, six), Some(six + 16 * hour));
        assert_eq!(night.ends_after(&berlin, six), None);
        // Within the same day.
        let noon = six + 6 * hour;
        assert_eq!(day.ends_after(&berlin, noon), Some(six + 16 * hour));
        // The night the clocks go back (2023-10-29, 03:00 CEST → 02:00 CET) is an hour longer.
        let before = 1_698_525_000_000; // 2023-10-28 22:30 CEST
        let end = night.ends_after(&berlin, before).unwrap();
        assert_eq!(berlin.time(end), "2023-10-29 06:00:00 CET");
        assert_eq!(
            Window::parse("21:59:30-06:00").unwrap().from,
            WallTime(21, 59, 30)
        );
        for bad in ["06:00", "06:00-06:00", "6-14", "06:00-", "-14:00"] {
            assert_eq!(Window::parse(bad), None, "{bad}");
        }
    }
}
