//! Finding users: the one filter identity providers send, and the list response.

use serde_json::{Value, json};

use super::{CORE_SCHEMA, LIST_SCHEMA, ScimError, strip_prefix_ignore_case};

/// The filters identity providers send to find an existing user before creating one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    UserName(String),
    ExternalId(String),
}

/// `userName eq "…"` or `externalId eq "…"`; anything else is refused rather than answered
/// with an empty list, which a provider would take for "no such user" and create a duplicate.
pub fn parse_filter(s: &str) -> Result<Filter, ScimError> {
    let unsupported = || {
        ScimError::bad_request(
            "invalidFilter",
            format!("unsupported filter {s:?}: only userName eq \"…\" or externalId eq \"…\""),
        )
    };
    let (attribute, rest) = s
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(unsupported)?;
    let (op, value) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(unsupported)?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    // A JSON string literal, escapes and all; trailing text (`and …`) fails here.
    let value: String = serde_json::from_str(value).map_err(|_| unsupported())?;
    let attribute = strip_prefix_ignore_case(attribute, CORE_SCHEMA)
        .and_then(|rest| rest.strip_prefix(':'))
        .unwrap_or(attribute);
    match attribute.to_ascii_lowercase().as_str() {
        "username" => Ok(Filter::UserName(value)),
        "externalid" => Ok(Filter::ExternalId(value)),
        _ => Err(unsupported()),
    }
}

/// `start_index` is 1-based; below 1 counts as 1 (RFC 7644 §3.4.2.4).
pub fn list_response(resources: Vec<Value>, total: usize, start_index: usize) -> Value {
    json!({
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index.max(1),
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}
