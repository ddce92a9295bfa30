//! PATCH (RFC 7644 §3.5.2): the operations identity providers send, on the attributes the
//! mapping reads.

use serde_json::{Map, Value};

use super::{
    BRIDGE_SCHEMA, CORE_SCHEMA, ENTERPRISE_SCHEMA, PATCH_SCHEMA,
    error::{ScimError, invalid_syntax, invalid_value},
    lists, strip_prefix_ignore_case,
};
use crate::directory::record::parse_bool;

/// Applies a PatchOp to a resource as [`user_from_record`](super::user_from_record) made it; the
/// caller then reads the result with [`record_from_user`](super::record_from_user). All
/// operations apply or none (RFC 7644 §3.5.2).
///
/// `add` and `replace` on a complex attribute (`name`, an extension, `attributes`) merge the
/// given sub-attributes, as RFC 7644 §3.5.2.3 says; `remove` with `…:attributes.depot` drops one.
pub fn apply_patch(user: &Value, patch: &Value) -> Result<Value, ScimError> {
    if !lists(&patch["schemas"], PATCH_SCHEMA) {
        return Err(invalid_syntax(format!(
            "a PATCH lists \"{PATCH_SCHEMA}\" in \"schemas\""
        )));
    }
    let operations = patch["Operations"]
        .as_array()
        .ok_or_else(|| invalid_syntax("\"Operations\" is missing"))?;
    let mut user = user.clone();
    for operation in operations {
        // Entra writes "Replace", "Add", "Remove".
        let op = operation["op"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match op.as_str() {
            "add" | "replace" => {
                let value = operation
                    .get("value")
                    .ok_or_else(|| invalid_syntax(format!("{op} needs a value")))?;
                set(&mut user, &path(operation)?.unwrap_or(ROOT), value)?;
            }
            "remove" => {
                let target = path(operation)?
                    .ok_or_else(|| ScimError::bad_request("noTarget", "remove needs a path"))?;
                remove(&mut user, &target)?;
            }
            _ => {
                return Err(invalid_syntax(format!(
                    "unsupported op {}",
                    operation["op"]
                )));
            }
        }
    }
    // `schemas` names the extensions the resource now uses (RFC 7643 §3).
    let in_use = [ENTERPRISE_SCHEMA, BRIDGE_SCHEMA]
        .into_iter()
        .filter(|urn| user.get(urn).is_some());
    user["schemas"] = std::iter::once(CORE_SCHEMA).chain(in_use).collect();
    Ok(user)
}

/// What the mapping reads, so what a PATCH may change.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Complex(&'static [(&'static str, Kind)]),
    /// Our free-form `attributes`: any name, string values.
    Strings,
}

const USER: &[(&str, Kind)] = &[
    ("userName", Kind::Text),
    ("externalId", Kind::Text),
    ("displayName", Kind::Text),
    ("active", Kind::Bool),
    ("name", Kind::Complex(NAME)),
    (ENTERPRISE_SCHEMA, Kind::Complex(ENTERPRISE)),
    (BRIDGE_SCHEMA, Kind::Complex(BRIDGE)),
];
const NAME: &[(&str, Kind)] = &[
    ("formatted", Kind::Text),
    ("givenName", Kind::Text),
    ("familyName", Kind::Text),
];
const ENTERPRISE: &[(&str, Kind)] = &[("employeeNumber", Kind::Text), ("department", Kind::Text)];
const BRIDGE: &[(&str, Kind)] = &[
    ("role", Kind::Text),
    ("threemaId", Kind::Text),
    ("matrixId", Kind::Text),
    ("phone", Kind::Text),
    ("email", Kind::Text),
    ("leaveDate", Kind::Text),
    ("attributes", Kind::Strings),
];

/// Where a PATCH path points: the keys down to it in the resource, and what it holds.
#[derive(Debug)]
struct Target {
    keys: Vec<String>,
    kind: Kind,
}

/// The resource itself, for path-less operations.
const ROOT: Target = Target {
    keys: Vec::new(),
    kind: Kind::Complex(USER),
};

impl Target {
    fn child(&self, name: &str) -> Option<Target> {
        let (key, kind) = match self.kind {
            // Attribute names are case-insensitive (RFC 7643 §2.1); the resource keeps ours.
            Kind::Complex(attributes) => attributes
                .iter()
                .find(|(known, _)| known.eq_ignore_ascii_case(name))
                .map(|&(known, kind)| (known.to_owned(), kind))?,
            // Record keeps attribute names lower-case.
            Kind::Strings if !name.trim().is_empty() => (name.trim().to_lowercase(), Kind::Text),
            _ => return None,
        };
        let mut keys = self.keys.clone();
        keys.push(key);
        Some(Target { keys, kind })
    }
}

fn path(operation: &Value) -> Result<Option<Target>, ScimError> {
    match &operation["path"] {
        Value::Null => Ok(None),
        Value::String(path) => resolve(path).map(Some),
        other => Err(invalid_syntax(format!("path {other} is not a string"))),
    }
}

/// `displayName`, `name.givenName`, `urn:…:User:threemaId`, `urn:…:User:attributes.depot`, or
/// an extension's URN alone. Value filters (`emails[type eq "work"]`) are not supported.
fn resolve(path: &str) -> Result<Target, ScimError> {
    let invalid = || ScimError::bad_request("invalidPath", format!("unsupported path {path:?}"));
    let schema = [CORE_SCHEMA, ENTERPRISE_SCHEMA, BRIDGE_SCHEMA]
        .into_iter()
        .find_map(|urn| Some((urn, strip_prefix_ignore_case(path, urn)?)));
    let mut steps = Vec::new();
    let rest = match schema {
        // The core schema's prefix is optional, so it adds no key.
        Some((urn, rest)) => {
            if urn != CORE_SCHEMA {
                steps.push(urn);
            }
            match rest {
                "" => None,
                rest => Some(rest.strip_prefix(':').ok_or_else(invalid)?),
            }
        }
        None => Some(path),
    };
    steps.extend(rest.into_iter().flat_map(|rest| rest.split('.')));
    let target = steps
        .into_iter()
        .try_fold(ROOT, |target, step| target.child(step))
        .ok_or_else(invalid)?;
    match target.keys.is_empty() {
        true => Err(invalid()),
        false => Ok(target),
    }
}

fn set(user: &mut Value, target: &Target, value: &Value) -> Result<(), ScimError> {
    let value = match (target.kind, value) {
        (_, Value::Null) => return remove(user, target),
        (Kind::Complex(_) | Kind::Strings, Value::Object(members)) => {
            for (name, value) in members {
                // At the top, keys may be whole paths (`name.givenName`, `urn:…:threemaId`).
                let child = match target.keys.is_empty() {
                    true => resolve(name)?,
                    false => target.child(name).ok_or_else(|| {
                        ScimError::bad_request(
                            "invalidPath",
                            format!("unsupported attribute {name:?}"),
                        )
                    })?,
                };
                set(user, &child, value)?;
            }
            return Ok(());
        }
        (Kind::Text, Value::String(_)) | (Kind::Bool, Value::Bool(_)) => value.clone(),
        // Entra sends `"value": "False"`.
        (Kind::Bool, Value::String(text)) => parse_bool(text)
            .ok_or_else(|| invalid_value(format!("{text:?} is not true or false")))?
            .into(),
        _ => {
            let name = target.keys.join(":");
            return Err(invalid_value(format!("{value} is not a value for {name}")));
        }
    };
    let mut slot = user;
    for key in &target.keys {
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot = &mut slot[key.as_str()];
    }
    *slot = value;
    Ok(())
}

fn remove(user: &mut Value, target: &Target) -> Result<(), ScimError> {
    if target.keys == ["userName"] {
        // RFC 7644 §3.5.2.2: removing a required attribute is a mutability error.
        return Err(ScimError::bad_request("mutability", "userName is required"));
    }
    let Some((last, parents)) = target.keys.split_last() else {
        return Err(ScimError::bad_request("noTarget", "remove needs a path"));
    };
    let parent = parents.iter().try_fold(user, |node, key| node.get_mut(key));
    if let Some(Value::Object(parent)) = parent {
        parent.remove(last);
    }
    Ok(())
}
