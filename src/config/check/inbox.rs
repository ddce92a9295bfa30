//! `inbox:` (the shared inbox, its shifts and off-duty stretches) and `templates:` (quick
//! replies): what the desk's own words and hours are checked against.

use super::Checker;
use crate::{
    config::{DirectoryConfig, Duty, InboxConfig, RawInbox},
    zone::Window,
};

/// `templates:`: a name is one word, unique in any case; a text says something; its
/// attributes are kept by the directory (the HTTP source keeps them without
/// `directory.attributes`).
pub(super) fn templates(
    c: &mut Checker,
    raw: &std::collections::BTreeMap<String, String>,
    directory: &mut Option<DirectoryConfig>,
) -> Option<std::collections::BTreeMap<String, String>> {
    use crate::bridge::quick_replies::{OWN_PLACEHOLDERS, placeholders};
    let mut templates = std::collections::BTreeMap::new();
    let mut ok = true;
    for (name, text) in raw {
        let key = format!("templates.{name}");
        let lower = name.to_lowercase();
        if name.is_empty() || name.contains(char::is_whitespace) || name.contains('{') {
            c.fail::<()>(&key, "a template's name is one word");
            ok = false;
        } else if templates.keys().any(|n: &String| n.to_lowercase() == lower) {
            c.fail::<()>(&key, "another template has this name (in another case)");
            ok = false;
        } else if text.trim().is_empty() {
            c.fail::<()>(&key, "the text is empty");
            ok = false;
        }
        for attribute in placeholders(text) {
            if OWN_PLACEHOLDERS.contains(&attribute.as_str()) {
                continue;
            }
            if directory.as_ref().is_none_or(|d| !d.enabled()) {
                c.warn(format!(
                    "templates.{name}: {{{attribute}}} stays empty without an employee directory"
                ));
            }
            if let Some(directory) = directory.as_mut() {
                if (directory.attributes.as_ref()).is_some_and(|kept| !kept.contains(&attribute)) {
                    c.fail::<()>(
                        &key,
                        format!("{{{attribute}}} is not in directory.attributes, so it is empty"),
                    );
                    ok = false;
                }
                directory.inbox_attributes.push(attribute);
            }
        }
        templates.insert(name.clone(), text.clone());
    }
    ok.then_some(templates)
}

/// The directory attributes the inbox reads, each to be kept by `directory.attributes` if that
/// is set.
pub(super) fn attributes(
    c: &mut Checker,
    inbox: &InboxConfig,
    kept: &Option<Vec<String>>,
) -> Vec<String> {
    let shift = (inbox.duty.shift_attribute.iter()).map(|a| ("inbox.shift_attribute", a));
    let periods =
        (inbox.answer_within_by.iter()).map(|(a, _, _)| ("inbox.answer_within_minutes_by", a));
    let mut used = Vec::new();
    for (key, attribute) in shift.chain(periods) {
        if kept.as_ref().is_some_and(|kept| !kept.contains(attribute)) {
            c.fail::<()>(
                key,
                format!("{attribute:?} is not in directory.attributes, so it would be dropped"),
            );
        }
        used.push(attribute.clone());
    }
    used
}

/// `inbox.shifts`, `inbox.shift_attribute`, `inbox.off_duty`: windows of the wall clock; a
/// shift attribute without shifts to name would hold nothing.
fn duty(c: &mut Checker, raw: &RawInbox) -> Option<Duty> {
    let window = |c: &mut Checker, key: &str, text: &str| match Window::parse(text) {
        Some(window) => Some(window),
        None => c.fail(
            key,
            format!("{text:?} is not a stretch of the day (\"22:00-06:00\", two different times)"),
        ),
    };
    let mut shifts: Vec<(String, Window)> = Vec::new();
    let mut ok = true;
    for (name, text) in raw.shifts.iter().flatten() {
        let key = format!("inbox.shifts.{name}");
        let name = name.trim().to_owned();
        // The directory's value names a shift in any case: two names alike would be one.
        if name.is_empty()
            || shifts
                .iter()
                .any(|(n, _)| n.to_lowercase() == name.to_lowercase())
        {
            c.fail::<()>(&key, "a shift needs a name of its own (any case)");
            ok = false;
            continue;
        }
        match window(c, &key, text) {
            Some(w) => shifts.push((name, w)),
            None => ok = false,
        }
    }
    let off_duty = match &raw.off_duty {
        Some(text) => Some(window(c, "inbox.off_duty", text)?),
        None => None,
    };
    let shift_attribute = (raw.shift_attribute.as_deref())
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    if shift_attribute.is_some() == shifts.is_empty() {
        return c.fail(
            "inbox.shift_attribute",
            "inbox.shifts and inbox.shift_attribute go together (the attribute names a shift)",
        );
    }
    let duty = Duty {
        shifts,
        shift_attribute,
        off_duty,
    };
    if crate::bridge::desk::duty::holds_any(&duty) && raw.enabled != Some(true) {
        c.warn(
            "inbox.shifts/inbox.off_duty are set but inbox.enabled is not: nothing is held and \
             shifts decide nothing",
        );
    }
    ok.then_some(duty)
}

/// The claim reaction cannot also mark a message handled: one reaction, one meaning.
pub(super) fn check(c: &mut Checker, raw: &RawInbox) -> Option<InboxConfig> {
    let handled = (raw.handled_reactions.clone()).unwrap_or_else(|| vec!["✅".into(), "👍".into()]);
    let claim = raw.claim_reaction.clone().unwrap_or_else(|| "🙋".into());
    if claim.trim().is_empty() || handled.iter().any(|h| h.trim().is_empty()) {
        return c.fail("inbox", "a reaction cannot be empty");
    }
    if handled.contains(&claim) {
        return c.fail(
            "inbox.claim_reaction",
            format!("{claim} is also one of inbox.handled_reactions"),
        );
    }
    let answer_within = minutes(
        c,
        "inbox.answer_within_minutes",
        raw.answer_within_minutes.unwrap_or(15.0),
    );
    let escalate_after = minutes(
        c,
        "inbox.escalate_after_minutes",
        raw.escalate_after_minutes.unwrap_or(30.0),
    );
    let mut answer_within_by = Vec::new();
    for (attribute, values) in raw.answer_within_minutes_by.iter().flatten() {
        for (value, m) in values {
            let key = format!("inbox.answer_within_minutes_by.{attribute}.{value}");
            if let Some(period) = minutes(c, &key, *m) {
                answer_within_by.push((attribute.clone(), value.clone(), period));
            }
        }
    }
    let urgent_keywords: Vec<String> = (raw.urgent_keywords.iter().flatten())
        .map(|k| k.trim().to_owned())
        .collect();
    let keywords_ok = !urgent_keywords.iter().any(String::is_empty)
        || c.fail::<()>("inbox.urgent_keywords", "a keyword cannot be empty")
            .is_some();
    let mut shift_changes = Vec::new();
    for at in raw.shift_changes.iter().flatten() {
        match crate::zone::WallTime::parse(at) {
            Some(at) => shift_changes.push(at),
            None => {
                c.fail::<()>(
                    "inbox.shift_changes",
                    format!("{at:?} is not a time of day (\"06:00\", \"14:00:30\")"),
                );
            }
        }
    }
    let duty = duty(c, raw);
    keywords_ok.then_some(())?;
    Some(InboxConfig {
        duty: duty?,
        shift_changes,
        enabled: raw.enabled.unwrap_or(false),
        handled_reactions: handled,
        claim_reaction: claim,
        answer_within: answer_within?,
        answer_within_by,
        escalate_after: escalate_after?,
        urgent_keywords,
    })
}

/// A period of the shared inbox: fractions are allowed (a test's seconds), a day at most.
fn minutes(c: &mut Checker, key: &str, value: f64) -> Option<std::time::Duration> {
    if value > 0.0 && value <= 1440.0 {
        Some(std::time::Duration::from_secs_f64(value * 60.0))
    } else {
        c.fail(
            key,
            format!("{value} is not a number of minutes above 0 and up to 1440"),
        )
    }
}

/// `quick_codes:`: a code is a short word without spaces, unique in any case; its meaning says
/// something.
pub(super) fn quick_codes(
    c: &mut Checker,
    raw: &std::collections::BTreeMap<String, String>,
) -> Option<crate::bridge::quick_codes::QuickCodes> {
    let mut ok = true;
    let mut seen: Vec<String> = Vec::new();
    for (code, meaning) in raw {
        let key = format!("quick_codes.{code}");
        let folded = code.trim().to_lowercase();
        if folded.is_empty() || folded.contains(char::is_whitespace) || folded.chars().count() > 16
        {
            c.fail::<()>(&key, "a code is one short word (up to 16 characters)");
            ok = false;
        } else if seen.contains(&folded) {
            c.fail::<()>(&key, "another code is the same (in another case)");
            ok = false;
        } else if meaning.trim().is_empty() {
            c.fail::<()>(&key, "the meaning is empty");
            ok = false;
        }
        seen.push(folded);
    }
    ok.then(|| crate::bridge::quick_codes::QuickCodes::new(raw))
}
