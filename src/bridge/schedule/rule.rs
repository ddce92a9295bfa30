//! Scheduled messages, the pure part: the `!at`, `!every`, `!scheduled` and `!cancel` words,
//! when a rule's next occurrence is on the `bridge.timezone` wall clock, and how a rule is
//! stored and shown.

use crate::{
    texts::Texts,
    tr,
    zone::{WallTime, Zone},
};

/// When a scheduled message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Once, at this time (Unix ms).
    Once(i64),
    /// On the days of `days` (bit 0 Monday … bit 6 Sunday) at `at`.
    Every { days: u8, at: WallTime },
}

/// Why a schedule command is not taken, for the bot to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The time given has passed (Unix ms).
    Passed(i64),
    NotADate(String),
    NotATime(String),
    NotDays(String),
    NoText,
    /// `!cancel` without a number.
    WhichOne,
}

/// What a dispatcher asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `!at …` / `!every …`: this text by this rule.
    Schedule { rule: Rule, text: String },
    /// `!scheduled`: this room's scheduled messages.
    List,
    /// `!cancel <n>`.
    Cancel(i64),
}

const DAY_NAMES: [[&str; 2]; 7] = [
    ["mon", "mo"],
    ["tue", "di"],
    ["wed", "mi"],
    ["thu", "do"],
    ["fri", "fr"],
    ["sat", "sa"],
    ["sun", "so"],
];
const WEEKDAYS: u8 = 0b001_1111;
const EVERY_DAY: u8 = 0b111_1111;

/// The schedule command in `body`, if it is one; `Err` says what is wrong with it. `now_ms`
/// is when it was written: a time already past is refused.
pub fn parse(body: &str, zone: &Zone, now_ms: i64) -> Option<Result<Command, Problem>> {
    let body = body.trim();
    let rest = body.strip_prefix('!')?;
    let (word, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let rest = rest.trim();
    Some(match word.to_lowercase().as_str() {
        "scheduled" => Ok(Command::List),
        "cancel" => (rest.trim_start_matches('#').parse::<i64>())
            .map(Command::Cancel)
            .map_err(|_| Problem::WhichOne),
        "at" => at(rest, zone, now_ms),
        "every" => every(rest),
        _ => return None,
    })
}

/// `2027-01-04 05:55 text` or `05:55 text`.
fn at(rest: &str, zone: &Zone, now_ms: i64) -> Result<Command, Problem> {
    let (first, after) = split_word(rest);
    let (when, text) = match date(first) {
        Some(day) => {
            let (time, text) = split_word(after);
            let time = wall_time(time)?;
            let when = (zone.at_date(day, time)).ok_or_else(|| Problem::NotADate(first.into()))?;
            (when, text)
        }
        None => {
            let time = wall_time(first)?;
            let when = zone.next_at(now_ms, time);
            (when.ok_or_else(|| Problem::NotATime(first.into()))?, after)
        }
    };
    if when <= now_ms {
        return Err(Problem::Passed(when));
    }
    Ok(Command::Schedule {
        rule: Rule::Once(when),
        text: message(text)?,
    })
}

/// `mon-fri 05:55 text`.
fn every(rest: &str) -> Result<Command, Problem> {
    let (days_word, after) = split_word(rest);
    let days = days(days_word).ok_or_else(|| Problem::NotDays(days_word.into()))?;
    let (time, text) = split_word(after);
    Ok(Command::Schedule {
        rule: Rule::Every {
            days,
            at: wall_time(time)?,
        },
        text: message(text)?,
    })
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    (word, rest.trim_start())
}

fn wall_time(word: &str) -> Result<WallTime, Problem> {
    match WallTime::parse(word) {
        Some(at) if !word.is_empty() => Ok(at),
        _ => Err(Problem::NotATime(word.into())),
    }
}

fn message(text: &str) -> Result<String, Problem> {
    match text.trim() {
        "" => Err(Problem::NoText),
        text => Ok(text.to_owned()),
    }
}

/// `2027-01-04`.
fn date(word: &str) -> Option<(i16, i8, i8)> {
    let mut parts = word.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 {
        return None;
    }
    Some((year.parse().ok()?, month.parse().ok()?, day.parse().ok()?))
}

/// `mon-fri`, `mon,wed,fri`, `sat`, `daily`, `weekdays`, `weekend` (English or German
/// two-letter names) as a day mask.
fn days(word: &str) -> Option<u8> {
    let word = word.to_lowercase();
    match word.as_str() {
        "daily" | "day" | "täglich" => return Some(EVERY_DAY),
        "weekdays" | "werktags" => return Some(WEEKDAYS),
        "weekend" | "wochenende" => return Some(!WEEKDAYS & EVERY_DAY),
        _ => {}
    }
    let day = |name: &str| DAY_NAMES.iter().position(|names| names.contains(&name));
    let mut mask = 0u8;
    for part in word.split(',') {
        match part.split_once('-') {
            Some((from, until)) => {
                let (from, until) = (day(from)?, day(until)?);
                let mut d = from;
                loop {
                    mask |= 1 << d;
                    if d == until {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => mask |= 1 << day(part)?,
        }
    }
    (mask != 0).then_some(mask)
}

impl Rule {
    /// The first occurrence after `after_ms`; `None` when there is none (a one-off gone).
    pub fn next(&self, zone: &Zone, after_ms: i64) -> Option<i64> {
        match self {
            Rule::Once(at) => (*at > after_ms).then_some(*at),
            Rule::Every { days, at } => zone.next_on(after_ms, *at, |d| days & (1 << d) != 0),
        }
    }

    /// As the store keeps it: `once:<ms>` or `every:<mask>@HH:MM:SS`.
    pub fn to_stored(&self) -> String {
        match self {
            Rule::Once(at) => format!("once:{at}"),
            Rule::Every { days, at } => {
                format!("every:{days}@{:02}:{:02}:{:02}", at.0, at.1, at.2)
            }
        }
    }

    pub fn from_stored(text: &str) -> Option<Rule> {
        if let Some(at) = text.strip_prefix("once:") {
            return at.parse().ok().map(Rule::Once);
        }
        let (days, at) = text.strip_prefix("every:")?.split_once('@')?;
        Some(Rule::Every {
            days: days.parse().ok().filter(|d| *d != 0 && *d <= EVERY_DAY)?,
            at: WallTime::parse(at)?,
        })
    }

    /// `once, Mon 2027-01-04 05:55 CET` or `every Mon–Fri at 05:55`, in the desk's language.
    pub fn describe(&self, texts: &Texts, zone: &Zone) -> String {
        match self {
            Rule::Once(at) => tr!(texts, "schedule-once", at = texts.day_and_time(zone, *at)),
            Rule::Every { days, at } => {
                let days = match *days {
                    EVERY_DAY => tr!(texts, "schedule-every-day"),
                    WEEKDAYS => tr!(
                        texts,
                        "schedule-day-range",
                        from = texts.weekday(0),
                        until = texts.weekday(4)
                    ),
                    mask => (0..7)
                        .filter(|d| mask & (1 << d) != 0)
                        .map(|d| texts.weekday(d))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                let time = format!("{:02}:{:02}", at.0, at.1);
                tr!(texts, "schedule-every", days = days, time = time)
            }
        }
    }
}

impl Problem {
    /// What the bot answers.
    pub fn say(&self, texts: &Texts, zone: &Zone) -> String {
        let how = tr!(texts, "schedule-how");
        match self {
            Problem::Passed(at) => {
                tr!(texts, "schedule-passed", at = texts.day_and_time(zone, *at))
            }
            Problem::NotADate(word) => {
                tr!(
                    texts,
                    "schedule-not-a-date",
                    word = word.as_str(),
                    how = how
                )
            }
            Problem::NotATime(word) => {
                tr!(
                    texts,
                    "schedule-not-a-time",
                    word = word.as_str(),
                    how = how
                )
            }
            Problem::NotDays(word) => {
                tr!(texts, "schedule-not-days", word = word.as_str(), how = how)
            }
            Problem::NoText => tr!(texts, "schedule-no-text", how = how),
            Problem::WhichOne => tr!(texts, "schedule-which-one", how = how),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Zone {
        Zone::named("Europe/Berlin").unwrap()
    }

    fn en() -> Texts {
        Texts::default()
    }

    fn schedule(body: &str, now: i64) -> (Rule, String) {
        match parse(body, &berlin(), now) {
            Some(Ok(Command::Schedule { rule, text })) => (rule, text),
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn at_takes_a_date_and_time_or_the_next_time_of_day() {
        let zone = berlin();
        let now = zone.at_date((2027, 1, 1), WallTime(12, 0, 0)).unwrap();
        let (rule, text) = schedule("!at 2027-01-04 05:55 Guten Morgen, heute Tour 17", now);
        assert_eq!(text, "Guten Morgen, heute Tour 17");
        assert_eq!(
            rule.describe(&en(), &zone),
            "once, Mon 2027-01-04 05:55 CET"
        );
        assert_eq!(
            rule.next(&zone, now),
            zone.at_date((2027, 1, 4), WallTime(5, 55, 0))
        );
        // 05:55 alone: tomorrow's, it being noon.
        let (rule, _) = schedule("!at 05:55 Los", now);
        assert_eq!(
            rule.describe(&en(), &zone),
            "once, Sat 2027-01-02 05:55 CET"
        );
        assert_eq!(Rule::from_stored(&rule.to_stored()), Some(rule.clone()));
        assert_eq!(rule.next(&zone, rule.next(&zone, now).unwrap()), None);
    }

    #[test]
    fn every_takes_days_and_a_time() {
        let zone = berlin();
        // Friday 2027-01-08, 06:00.
        let friday = zone.at_date((2027, 1, 8), WallTime(6, 0, 0)).unwrap();
        let (rule, text) = schedule("!every mon-fri 05:55 Schichtbeginn", friday);
        assert_eq!(text, "Schichtbeginn");
        assert_eq!(rule.describe(&en(), &zone), "every Mon–Fri at 05:55");
        let next = rule.next(&zone, friday).unwrap();
        assert_eq!(en().day_and_time(&zone, next), "Mon 2027-01-11 05:55 CET");
        let after = rule.next(&zone, next).unwrap();
        assert_eq!(en().day_and_time(&zone, after), "Tue 2027-01-12 05:55 CET");
        assert_eq!(Rule::from_stored(&rule.to_stored()), Some(rule));
        for (days, described) in [
            ("sat", "every Sat at 07:00"),
            ("mo,mi,fr", "every Mon, Wed, Fri at 07:00"),
            ("fri-mon", "every Mon, Fri, Sat, Sun at 07:00"),
            ("daily", "every day at 07:00"),
            ("weekend", "every Sat, Sun at 07:00"),
        ] {
            let (rule, _) = schedule(&format!("!every {days} 07:00 x"), friday);
            assert_eq!(rule.describe(&en(), &zone), described, "{days}");
        }
        // A weekend rule from Friday: Saturday.
        let (rule, _) = schedule("!every weekend 07:00 x", friday);
        assert_eq!(
            en().day_and_time(&zone, rule.next(&zone, friday).unwrap()),
            "Sat 2027-01-09 07:00 CET"
        );
    }

    #[test]
    fn what_is_not_a_schedule_is_said() {
        let zone = berlin();
        let now = zone.at_date((2027, 1, 8), WallTime(6, 0, 0)).unwrap();
        for bad in [
            "!at 2027-01-04 05:55 too late",
            "!at 25:00 x",
            "!at 2027-02-30 05:55 x",
            "!at 05:55",
            "!every someday 05:55 x",
            "!every mon-fri x",
            "!cancel x",
        ] {
            assert!(
                matches!(parse(bad, &zone, now), Some(Err(_))),
                "{bad}: {:?}",
                parse(bad, &zone, now)
            );
        }
        let passed = parse("!at 2027-01-04 05:55 x", &zone, now)
            .unwrap()
            .unwrap_err();
        assert_eq!(
            passed.say(&en(), &zone),
            "Not scheduled: Mon 2027-01-04 05:55 CET has passed."
        );
        let de = Texts::new(crate::texts::Language::De);
        assert_eq!(
            passed.say(&de, &zone),
            "Nicht geplant: Mo 2027-01-04 05:55 CET ist vorbei."
        );
        let (rule, _) = schedule("!every mon-fri 05:55 x", now);
        assert_eq!(rule.describe(&de, &zone), "jeden Mo–Fr um 05:55");
        assert_eq!(parse("!scheduled", &zone, now), Some(Ok(Command::List)));
        assert_eq!(
            parse("!cancel #3", &zone, now),
            Some(Ok(Command::Cancel(3)))
        );
        assert_eq!(parse("!claim", &zone, now), None);
        assert_eq!(parse("at 05:55 x", &zone, now), None);
        assert_eq!(Rule::from_stored("every:0@05:55:00"), None);
    }
}
