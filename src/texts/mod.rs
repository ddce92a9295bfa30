//! What the bot and the boards write, in the desk's language (`bridge.language: de | en`):
//! one Project Fluent catalogue per language (`en.ftl`, `de.ftl`, built into the binary), the
//! code naming a text by its key and filling in its variables (`tr!`). Fluent does the plural
//! and number forms a hand-written table would get wrong; the catalogues are checked against
//! each other and against every key the code uses (tests below), so a missing text fails the
//! build's tests, not a desk.
//!
//! Relayed messages, templates and what people wrote stay as they are.

use fluent_bundle::{FluentArgs, FluentResource, concurrent::FluentBundle};

use crate::zone::Zone;

/// `tr!(texts, "key", name = value, …)`: the text `key` of `texts` with its variables.
#[macro_export]
macro_rules! tr {
    ($texts:expr, $key:literal $(,)?) => {
        $texts.format($key, None)
    };
    ($texts:expr, $key:literal, $($name:ident = $value:expr),+ $(,)?) => {{
        let mut args = fluent_bundle::FluentArgs::new();
        $(args.set(stringify!($name), $value);)+
        $texts.format($key, Some(&args))
    }};
}

/// A language the bot speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Language {
    #[default]
    En,
    De,
}

impl Language {
    pub fn parse(code: &str) -> Option<Language> {
        match code.to_lowercase().as_str() {
            "en" | "english" => Some(Language::En),
            "de" | "german" | "deutsch" => Some(Language::De),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
        }
    }

    fn catalogue(self) -> &'static str {
        match self {
            Language::En => include_str!("en.ftl"),
            Language::De => include_str!("de.ftl"),
        }
    }
}

/// One language's catalogue, ready to format.
pub struct Texts {
    bundle: FluentBundle<FluentResource>,
}

impl std::fmt::Debug for Texts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Texts")
    }
}

impl Texts {
    pub fn new(language: Language) -> Texts {
        let resource = FluentResource::try_new(language.catalogue().to_owned())
            .unwrap_or_else(|(_, errors)| panic!("{} catalogue: {errors:?}", language.code()));
        let id = language.code().parse().expect("a language identifier");
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        // Plain text for Matrix and Threema: no bidi isolation marks around variables.
        bundle.set_use_isolating(false);
        bundle
            .add_resource(resource)
            .expect("one resource, no duplicate keys");
        Texts { bundle }
    }

    /// English, built once: the command line's answers, logs and `Display` impls say what the
    /// catalogue says, so the two never drift apart.
    pub fn english() -> &'static Texts {
        static ENGLISH: std::sync::LazyLock<Texts> =
            std::sync::LazyLock::new(|| Texts::new(Language::En));
        &ENGLISH
    }

    /// The text `key` with `args` filled in. A key the catalogue lacks (the tests keep that
    /// from happening) shows as itself.
    pub fn format(&self, key: &str, args: Option<&FluentArgs<'_>>) -> String {
        let Some(pattern) = self.bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_owned();
        };
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, ?errors, "a text has variables it was not given");
        }
        text.into_owned()
    }
}

/// Times as the desk reads them: the weekday in its language.
impl Texts {
    /// `Mon` … `Sun` (`Mo` … `So`): Monday 0 to Sunday 6.
    pub fn weekday(&self, day: u8) -> String {
        match day {
            0 => tr!(self, "weekday-mon"),
            1 => tr!(self, "weekday-tue"),
            2 => tr!(self, "weekday-wed"),
            3 => tr!(self, "weekday-thu"),
            4 => tr!(self, "weekday-fri"),
            5 => tr!(self, "weekday-sat"),
            _ => tr!(self, "weekday-sun"),
        }
    }

    /// `Mon 2027-01-04 05:55 CET`: a time days ahead.
    pub fn day_and_time(&self, zone: &Zone, ms: i64) -> String {
        let day = zone
            .weekday(ms)
            .map(|d| self.weekday(d))
            .unwrap_or_default();
        format!("{day} {}", zone.date_and_clock(ms))
    }

    /// A time to come: `14:05 CET` later today, `Sat 06:00 CET` on another day (a week ahead at
    /// most: shifts).
    pub fn when(&self, zone: &Zone, ms: i64, now_ms: i64) -> String {
        match zone.same_day(ms, now_ms) {
            true => zone.clock(ms),
            false => {
                let day = zone
                    .weekday(ms)
                    .map(|d| self.weekday(d))
                    .unwrap_or_default();
                format!("{day} {}", zone.clock(ms))
            }
        }
    }
}

impl Default for Texts {
    fn default() -> Self {
        Texts::new(Language::default())
    }
}

mod directory;
mod refusals;
#[cfg(test)]
mod tests;
