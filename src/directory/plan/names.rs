//! Names and topics of ghosts, portals and spaces, from the directory's records.

use threema_protocol::ThreemaId;

use crate::directory::Record;

/// The attributes a name template reads (its placeholders other than the record's own
/// fields), lower-case.
pub fn template_attributes(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(len) = rest[open..].find('}') else {
            break;
        };
        let key = rest[open + 1..open + len].trim().to_lowercase();
        if !["display_name", "employee_id", "threema_id", "name", ""].contains(&key.as_str()) {
            out.push(key);
        }
        rest = &rest[open + len + 1..];
    }
    out
}

/// The template with the record's fields filled in. A bracketed part (`(Truck {vehicle})`,
/// `[{team}]`) whose placeholders are all empty is left out, so a missing attribute leaves no
/// `(Truck )` behind.
pub fn render_name(template: &str, id: &ThreemaId, record: &Record) -> String {
    let value = |key: &str| match key {
        "display_name" => record.display_name.clone(),
        "employee_id" => record.employee_id.clone(),
        "threema_id" => id.to_string(),
        other => record
            .attribute(&other.to_lowercase())
            .unwrap_or_default()
            .to_owned(),
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find(['(', '[']) {
        out.push_str(&fill(&rest[..open], &value).0);
        let close = if rest[open..].starts_with('(') {
            ')'
        } else {
            ']'
        };
        let Some(len) = rest[open..].find(close) else {
            break;
        };
        let group = &rest[open..=open + len];
        let (filled, any_value) = fill(group, &value);
        if any_value || !group.contains('{') {
            out.push_str(&filled);
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(&fill(rest, &value).0);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Fills `{placeholders}`; also says whether any of them had a value.
fn fill(text: &str, value: &impl Fn(&str) -> String) -> (String, bool) {
    let (mut out, mut any_value, mut rest) = (String::new(), false, text);
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let filled = value(&rest[start + 1..start + len]);
        any_value |= !filled.is_empty();
        out.push_str(&filled);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    (out, any_value)
}

/// `Threema ABCD1234 · Depot: North · Vehicle: 17`.
pub(super) fn topic(id: &ThreemaId, record: &Record) -> String {
    std::iter::once(format!("Threema {id}"))
        .chain(
            record
                .attributes
                .iter()
                .map(|(k, v)| format!("{}: {v}", capitalise(k))),
        )
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `depot` → `Depot`: attribute names as people read them.
pub(super) fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
