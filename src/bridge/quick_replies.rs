//! Quick replies (`templates:`), pure: the sentences a desk types all day, written once in the
//! config and sent with `!t <name>` in a portal or a broadcast room: `{driver}` (the driver's
//! name), `{dispatcher}` (the sender's) and directory attributes (`{depot}`) filled in, in a
//! broadcast for each recipient.

use std::collections::BTreeMap;

/// The placeholders every template may use besides directory attributes.
pub const OWN_PLACEHOLDERS: [&str; 2] = ["driver", "dispatcher"];

/// `!t <name>`: the template's name (`None` when the message is something else). A name alone:
/// what follows it is not a template's.
pub fn requested(body: &str) -> Option<Result<&str, Asked>> {
    let body = body.trim();
    let rest = (body.strip_prefix("!t").or_else(|| body.strip_prefix("!T")))?;
    let rest = rest.strip_prefix(':').unwrap_or(rest);
    if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let mut words = rest.split_whitespace();
    Some(match (words.next(), words.next()) {
        (Some(name), None) => Ok(name),
        (None, _) => Err(Asked::NoName),
        (Some(_), Some(_)) => Err(Asked::MoreThanAName),
    })
}

/// What is wrong with a `!t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    NoName,
    MoreThanAName,
}

impl Asked {
    /// What the bot answers.
    pub fn say(self, texts: &crate::texts::Texts) -> String {
        match self {
            Asked::NoName => crate::tr!(texts, "template-which"),
            Asked::MoreThanAName => crate::tr!(texts, "template-name-only"),
        }
    }
}

/// The answer to a `!t` naming no template.
pub fn unknown(texts: &crate::texts::Texts, name: &str) -> String {
    crate::tr!(texts, "template-unknown", name = name)
}

/// The template `name` (any case).
pub fn find<'t>(templates: &'t BTreeMap<String, String>, name: &str) -> Option<&'t str> {
    (templates.iter())
        .find(|(n, _)| n.to_lowercase() == name.to_lowercase())
        .map(|(_, text)| text.as_str())
}

/// The `{placeholders}` of a template (lower case), in order: read as `expand` fills them.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand(text, |key| {
        out.push(key.to_owned());
        String::new()
    });
    out
}

/// The text with its placeholders filled by `value` (an attribute the driver lacks: empty).
pub fn expand(text: &str, mut value: impl FnMut(&str) -> String) -> String {
    let (mut out, mut rest) = (String::new(), text);
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&value(
            rest[open + 1..open + len].trim().to_lowercase().as_str(),
        ));
        rest = &rest[open + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The template filled in for a driver: `{driver}` their name, `{dispatcher}` the sender's,
/// any other placeholder the driver's directory attribute (empty when they have none).
pub fn fill(
    template: &str,
    driver: &str,
    dispatcher: &str,
    attribute: impl Fn(&str) -> String,
) -> String {
    expand(template, |key| match key {
        "driver" => driver.to_owned(),
        "dispatcher" => dispatcher.to_owned(),
        other => attribute(other),
    })
}

/// `templates` in the management room.
pub fn list(texts: &crate::texts::Texts, templates: &BTreeMap<String, String>) -> String {
    if templates.is_empty() {
        return crate::tr!(texts, "template-none");
    }
    let lines: Vec<String> = (templates.iter())
        .map(|(name, text)| format!("• !t {name} — {text}"))
        .collect();
    crate::tr!(
        texts,
        "template-list",
        count = templates.len(),
        lines = lines.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_is_asked_for_by_name_and_filled_in() {
        assert_eq!(requested("!t gruss"), Some(Ok("gruss")));
        assert_eq!(requested("  !t   Gruss "), Some(Ok("Gruss")));
        assert_eq!(requested("!T: gruss"), Some(Ok("gruss")));
        assert!(matches!(requested("!t"), Some(Err(_))));
        assert!(matches!(requested("!t gruss extra"), Some(Err(_))));
        for other in ["!tour 5", "t gruss", "Bitte !t gruss", ""] {
            assert_eq!(requested(other), None, "{other}");
        }
        let templates = BTreeMap::from([(
            "Gruss".to_owned(),
            "Guten Morgen {driver}, hier {Dispatcher} (Depot {depot}{ vehicle }).".to_owned(),
        )]);
        let text = find(&templates, "gruss").unwrap();
        assert_eq!(
            placeholders(text),
            ["driver", "dispatcher", "depot", "vehicle"]
        );
        let filled = expand(text, |key| match key {
            "driver" => "Erika Muster".into(),
            "dispatcher" => "Anna".into(),
            "depot" => "Nord".into(),
            _ => String::new(),
        });
        assert_eq!(filled, "Guten Morgen Erika Muster, hier Anna (Depot Nord).");
        assert!(find(&templates, "tschuess").is_none());
        let texts = crate::texts::Texts::default();
        assert!(list(&texts, &templates).contains("• !t Gruss — Guten Morgen"));
        assert!(list(&texts, &BTreeMap::new()).starts_with("No templates"));
    }
}
