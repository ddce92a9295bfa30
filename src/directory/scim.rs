//! SCIM 2.0 Users (RFC 7643/7644), the pure part: SCIM user JSON ⇄ [`Record`], PATCH, the one
//! filter identity providers use to find a user, and the protocol's error and list bodies. The
//! HTTP handlers do the IO and call these.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::record::{KNOWN_FIELDS, Record, parse_bool};

pub const CORE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Ours: what the bridge needs beyond the core schema.
pub const BRIDGE_SCHEMA: &str = "urn:threema-bridge:params:scim:schemas:extension:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The most resources one list response holds (advertised in the service provider config).
pub const MAX_RESULTS: usize = 200;

/// A SCIM error response (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCIM {status} {}: {detail}", .scim_type.unwrap_or("error"))]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    /// 400 with one of RFC 7644's `scimType`s (`invalidFilter`, `invalidPath`, …).
    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn conflict_uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, None, "a valid bearer token is required")
    }

    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            // A string, not a number (RFC 7644 §3.12).
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = scim_type.into();
        }
        body
    }
}

fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidValue", detail)
}

fn invalid_syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidSyntax", detail)
}

/// The caller's bookkeeping for a resource's `meta` (times as RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub created: String,
    pub last_modified: String,
    pub location: String,
}

/// Reads a SCIM user (POST or PUT body, or a patched resource) into `(userName, record)`.
/// Checks are [`Record::from_fields`]'s, so SCIM and CSV accept the same employees.
pub fn record_from_user(user: &Value) -> Result<(String, Record), ScimError> {
    if !user.is_object() || !lists(&user["schemas"], CORE_SCHEMA) {
        return Err(invalid_syntax(format!(
            "a User lists \"{CORE_SCHEMA}\" in \"schemas\""
        )));
    }
    let user_name =
        text(&user["userName"], "userName")?.ok_or_else(|| invalid_value("userName is missing"))?;
    let name = complex(&user["name"], "name")?;
    let enterprise = complex(&user[ENTERPRISE_SCHEMA], ENTERPRISE_SCHEMA)?;
    let ours = complex(&user[BRIDGE_SCHEMA], BRIDGE_SCHEMA)?;

    let mut fields = BTreeMap::new();
    if let Some(attributes) = complex(&ours["attributes"], "attributes")?.as_object() {
        for (key, value) in attributes {
            let key = key.trim().to_lowercase();
            // from_fields would take it for the field itself.
            if KNOWN_FIELDS.contains(&key.as_str()) {
                return Err(invalid_value(format!("attribute {key:?} is a field name")));
            }
            if let Some(value) = text(value, &key)? {
                fields.insert(key, value.to_owned());
            }
        }
    }
    // The standard place wins over ours: that is where Entra and Okta write and patch it.
    if let Some(department) = text(&enterprise["department"], "department")? {
        fields.insert("department".into(), department.into());
    }

    let employee_id = text(&user["externalId"], "externalId")?
        .or(text(&enterprise["employeeNumber"], "employeeNumber")?)
        .unwrap_or(user_name);
    let given_family = [
        text(&name["givenName"], "name.givenName")?,
        text(&name["familyName"], "name.familyName")?,
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let display_name = text(&user["displayName"], "displayName")?
        .or(text(&name["formatted"], "name.formatted")?)
        .map_or(given_family, str::to_owned);
    let active = match &user["active"] {
        // RFC 7643 leaves the default to us; an account sent without it is meant to work.
        Value::Null => "true".to_owned(),
        Value::Bool(active) => active.to_string(),
        // "False" and the like: from_fields reads them as it does CSV.
        Value::String(active) => active.clone(),
        _ => return Err(invalid_value("active must be a boolean")),
    };
    let role = text(&ours["role"], "role")?;
    // Identity providers keep a driver's phone and email in the core multi-valued attributes.
    let is_driver = role.is_some_and(|role| role.eq_ignore_ascii_case("driver"));
    let core_contact = |attribute: &str| match is_driver {
        true => primary_value(&user[attribute], attribute),
        false => Ok(None),
    };
    let phone = text(&ours["phone"], "phone")?.or(core_contact("phoneNumbers")?);
    let email = text(&ours["email"], "email")?.or(core_contact("emails")?);

    let named = [
        ("employee_id", Some(employee_id)),
        ("display_name", Some(display_name.as_str())),
        ("role", role),
        ("active", Some(active.as_str())),
        ("threema_id", text(&ours["threemaId"], "threemaId")?),
        ("matrix_id", text(&ours["matrixId"], "matrixId")?),
        ("phone", phone),
        ("email", email),
        ("leave_date", text(&ours["leaveDate"], "leaveDate")?),
    ];
    for (field, value) in named {
        if let Some(value) = value {
            fields.insert(field.to_owned(), value.to_owned());
        }
    }
    let record =
        Record::from_fields(&fields).map_err(|problems| invalid_value(problems.join("; ")))?;
    Ok((user_name.to_owned(), record))
}

/// The SCIM resource for a record; [`record_from_user`] reads it back to the same record.
pub fn user_from_record(id: &str, user_name: &str, record: &Record, meta: &Meta) -> Value {
    let mut ours = Map::new();
    ours.insert("role".into(), record.role.as_str().into());
    let optional = [
        (
            "threemaId",
            record.threema_id.as_ref().map(|id| id.to_string()),
        ),
        (
            "matrixId",
            record.matrix_id.as_ref().map(|id| id.to_string()),
        ),
        ("phone", record.phone.clone()),
        ("email", record.email.clone()),
        // `Date`'s Display is YYYY-MM-DD.
        ("leaveDate", record.leave_date.map(|date| date.to_string())),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            ours.insert(key.into(), value.into());
        }
    }
    ours.insert("attributes".into(), json!(record.attributes));
    json!({
        "schemas": [CORE_SCHEMA, BRIDGE_SCHEMA],
        "id": id,
        "externalId": record.employee_id,
        "userName": user_name,
        "displayName": record.display_name,
        "active": record.active,
        BRIDGE_SCHEMA: ours,
        "meta": {
            "resourceType": "User",
            "created": meta.created,
            "lastModified": meta.last_modified,
            "location": meta.location,
        },
    })
}

/// Applies a PatchOp to a resource as [`user_from_record`] made it; the caller then reads the
/// result with [`record_from_user`]. All operations apply or none (RFC 7644 §3.5.2).
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

pub fn service_provider_config() -> Value {
    let unsupported = json!({ "supported": false });
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": unsupported,
        "sort": unsupported,
        "etag": unsupported,
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token in the Authorization header",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig" },
    })
}

/// Whether a `schemas` array names `urn` (URNs compare case-insensitively).
fn lists(schemas: &Value, urn: &str) -> bool {
    schemas.as_array().is_some_and(|schemas| {
        schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// A string attribute: absent, null and blank all mean unset.
fn text<'a>(value: &'a Value, name: &str) -> Result<Option<&'a str>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.trim()).filter(|s| !s.is_empty())),
        _ => Err(invalid_value(format!("{name} must be a string"))),
    }
}

/// A complex attribute (an object) or null, so that indexing into it is safe.
fn complex<'a>(value: &'a Value, name: &str) -> Result<&'a Value, ScimError> {
    match value {
        Value::Null | Value::Object(_) => Ok(value),
        _ => Err(invalid_value(format!("{name} must be an object"))),
    }
}

/// The primary entry's `value` of a multi-valued attribute (`emails`), else the first's.
fn primary_value<'a>(value: &'a Value, name: &str) -> Result<Option<&'a str>, ScimError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => match items.iter().find(|item| item["primary"] == true) {
            Some(item) => text(&item["value"], name),
            None => items
                .first()
                .map_or(Ok(None), |item| text(&item["value"], name)),
        },
        _ => Err(invalid_value(format!("{name} must be a list"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Role;

    fn record(pairs: &[(&str, &str)]) -> Record {
        let fields = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Record::from_fields(&fields).unwrap()
    }

    fn driver() -> Record {
        record(&[
            ("employee_id", "D17"),
            ("display_name", "Erika Muster"),
            ("role", "driver"),
            ("active", "true"),
            ("threema_id", "ABCD1234"),
            ("phone", "+41 79 123 45 67"),
            ("email", "erika@example.com"),
            ("leave_date", "2027-03-31"),
            ("depot", "North"),
            ("vehicle", "17"),
        ])
    }

    fn dispatcher() -> Record {
        record(&[
            ("employee_id", "P4"),
            ("display_name", "Paul Dispo"),
            ("role", "dispatcher"),
            ("active", "false"),
            ("matrix_id", "@paul:dispatch.test"),
        ])
    }

    fn meta() -> Meta {
        Meta {
            created: "2026-01-02T03:04:05Z".into(),
            last_modified: "2026-01-03T03:04:05Z".into(),
            location: "https://bridge.test/scim/v2/Users/u1".into(),
        }
    }

    #[test]
    fn a_resource_names_every_field() {
        let user = user_from_record("u1", "paul@corp.test", &dispatcher(), &meta());
        assert_eq!(
            user,
            json!({
                "schemas": [CORE_SCHEMA, BRIDGE_SCHEMA],
                "id": "u1",
                "externalId": "P4",
                "userName": "paul@corp.test",
                "displayName": "Paul Dispo",
                "active": false,
                BRIDGE_SCHEMA: {
                    "role": "dispatcher",
                    "matrixId": "@paul:dispatch.test",
                    "attributes": {},
                },
                "meta": {
                    "resourceType": "User",
                    "created": "2026-01-02T03:04:05Z",
                    "lastModified": "2026-01-03T03:04:05Z",
                    "location": "https://bridge.test/scim/v2/Users/u1",
                },
            })
        );
        let driver = user_from_record("u2", "erika", &driver(), &meta());
        assert_eq!(driver[BRIDGE_SCHEMA]["leaveDate"], "2027-03-31");
        assert_eq!(driver[BRIDGE_SCHEMA]["threemaId"], "ABCD1234");
        assert_eq!(driver[BRIDGE_SCHEMA]["attributes"]["depot"], "North");
    }

    #[test]
    fn round_trip() {
        for record in [driver(), dispatcher()] {
            let user = user_from_record("u1", "someone", &record, &meta());
            assert_eq!(
                record_from_user(&user).unwrap(),
                ("someone".to_owned(), record)
            );
        }
    }

    #[test]
    fn what_identity_providers_send() {
        let base = json!({
            "schemas": [CORE_SCHEMA, ENTERPRISE_SCHEMA, BRIDGE_SCHEMA],
            "userName": "erika@corp.test",
            "name": { "givenName": "Erika", "familyName": "Muster", "formatted": "E. Muster" },
            "emails": [
                { "value": "other@corp.test" },
                { "value": "Erika@Corp.test", "primary": true },
            ],
            "phoneNumbers": [{ "value": "+41 79 000 00 00", "type": "mobile" }],
            ENTERPRISE_SCHEMA: { "employeeNumber": "E9", "department": "Logistics" },
            BRIDGE_SCHEMA: { "role": "driver", "attributes": { "Depot": "North" } },
        });
        // Each case changes the base body and says what the record then holds.
        type Case = (&'static str, Value, fn(&mut Record));
        let cases: &[Case] = &[
            ("base", json!({}), |_| {}),
            ("externalId wins", json!({ "externalId": "X1" }), |r| {
                r.employee_id = "X1".into()
            }),
            (
                "userName without externalId or employeeNumber",
                json!({ ENTERPRISE_SCHEMA: { "department": "Logistics" } }),
                |r| r.employee_id = "erika@corp.test".into(),
            ),
            ("displayName wins", json!({ "displayName": "Eri" }), |r| {
                r.display_name = "Eri".into()
            }),
            (
                "given and family name",
                json!({ "name": { "givenName": "Erika", "familyName": "Muster" } }),
                |r| r.display_name = "Erika Muster".into(),
            ),
            ("string boolean", json!({ "active": "False" }), |r| {
                r.active = false
            }),
            (
                "the extension's contact wins",
                json!({ BRIDGE_SCHEMA: {
                    "role": "driver", "phone": "+49 1", "email": "x@y.z", "threemaId": "abcd1234",
                } }),
                |r| {
                    r.phone = Some("491".into());
                    r.email = Some("x@y.z".into());
                    r.threema_id = threema_protocol::ThreemaId::parse("ABCD1234");
                    r.attributes.remove("depot");
                },
            ),
            (
                "dispatchers take no contact from the core attributes",
                json!({ BRIDGE_SCHEMA: { "role": "Dispatcher", "matrixId": "@e:d.test" } }),
                |r| {
                    r.role = Role::Dispatcher;
                    r.matrix_id = Some("@e:d.test".try_into().unwrap());
                    r.phone = None;
                    r.email = None;
                    r.attributes.remove("depot");
                },
            ),
        ];
        let expected_base = Record {
            employee_id: "E9".into(),
            display_name: "E. Muster".into(),
            role: Role::Driver,
            active: true,
            threema_id: None,
            phone: Some("41790000000".into()),
            email: Some("erika@corp.test".into()),
            matrix_id: None,
            leave_date: None,
            attributes: [("depot", "North"), ("department", "Logistics")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
        };
        for (name, change, expect) in cases {
            let mut user = base.clone();
            for (key, value) in change.as_object().unwrap() {
                user[key] = value.clone();
            }
            let mut expected = expected_base.clone();
            expect(&mut expected);
            let (user_name, record) =
                record_from_user(&user).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(user_name, "erika@corp.test");
            assert_eq!(record, expected, "{name}");
        }
    }

    #[test]
    fn bad_users() {
        let ok = user_from_record("u1", "paul", &dispatcher(), &meta());
        let with = |key: &str, value: Value| {
            let mut user = ok.clone();
            match value {
                Value::Null => drop(user.as_object_mut().unwrap().remove(key)),
                value => user[key] = value,
            }
            user
        };
        let cases = [
            (json!([1]), "invalidSyntax"),
            (with("schemas", Value::Null), "invalidSyntax"),
            (with("schemas", json!([BRIDGE_SCHEMA])), "invalidSyntax"),
            (with("userName", Value::Null), "invalidValue"),
            (with("userName", json!(" ")), "invalidValue"),
            (with("displayName", json!(7)), "invalidValue"),
            (with("active", json!(0)), "invalidValue"),
            (with("active", json!("maybe")), "invalidValue"),
            (with("name", json!("Paul")), "invalidValue"),
            (
                with(BRIDGE_SCHEMA, json!({ "role": "boss" })),
                "invalidValue",
            ),
            (
                with(
                    BRIDGE_SCHEMA,
                    json!({ "role": "dispatcher", "matrixId": "paul" }),
                ),
                "invalidValue",
            ),
            (
                with(
                    BRIDGE_SCHEMA,
                    json!({
                        "role": "dispatcher",
                        "matrixId": "@p:d.test",
                        "attributes": { "Role": "x" },
                    }),
                ),
                "invalidValue",
            ),
        ];
        for (user, scim_type) in cases {
            let error = record_from_user(&user).unwrap_err();
            assert_eq!(
                (error.status, error.scim_type),
                (400, Some(scim_type)),
                "{user}: {error}"
            );
        }
        let problems =
            record_from_user(&with(BRIDGE_SCHEMA, json!({ "role": "boss" }))).unwrap_err();
        assert!(problems.detail.contains("\"boss\""), "{problems}");
    }

    fn patch(operations: Value) -> Value {
        json!({ "schemas": [PATCH_SCHEMA], "Operations": operations })
    }

    #[test]
    fn patches() {
        let ext = |attribute: &str| format!("{BRIDGE_SCHEMA}:{attribute}");
        let department = format!("{ENTERPRISE_SCHEMA}:department");
        type Case = (Value, fn(&mut Record));
        let cases: Vec<Case> = vec![
            (json!([]), |_| {}),
            (
                json!([{ "op": "Replace", "path": "active", "value": "False" }]),
                |r| r.active = false,
            ),
            (
                json!([{ "op": "replace", "path": "active", "value": false }]),
                |r| r.active = false,
            ),
            (
                json!([{
                    "op": "replace",
                    "value": { "active": "false", "DisplayName": "E. M." },
                }]),
                |r| {
                    r.active = false;
                    r.display_name = "E. M.".into();
                },
            ),
            (
                json!([{ "op": "add", "path": "externalId", "value": "D18" }]),
                |r| r.employee_id = "D18".into(),
            ),
            (
                json!([
                    { "op": "remove", "path": "displayName" },
                    { "op": "add", "path": "name.givenName", "value": "Eva" },
                    { "op": "add", "path": "NAME.familyName", "value": "Beispiel" },
                ]),
                |r| r.display_name = "Eva Beispiel".into(),
            ),
            (
                json!([{ "op": "replace", "path": ext("threemaId"), "value": "efgh5678" }]),
                |r| r.threema_id = threema_protocol::ThreemaId::parse("EFGH5678"),
            ),
            (
                json!([{ "op": "replace", "path": BRIDGE_SCHEMA, "value": { "phone": "+49 2" } }]),
                |r| r.phone = Some("492".into()),
            ),
            (
                json!([{
                    "op": "replace",
                    "value": { BRIDGE_SCHEMA: { "leaveDate": "2026-12-31" } },
                }]),
                |r| r.leave_date = Some(time::macros::date!(2026 - 12 - 31)),
            ),
            (
                json!([{ "op": "replace", "value": {
                    ext("email"): "New@Example.com",
                    "name.givenName": "ignored while displayName is set",
                } }]),
                |r| r.email = Some("new@example.com".into()),
            ),
            (
                json!([{
                    "op": "add",
                    "path": ext("attributes"),
                    "value": { "Vehicle": "18", "team": "B" },
                }]),
                |r| {
                    r.attributes.insert("vehicle".into(), "18".into());
                    r.attributes.insert("team".into(), "B".into());
                },
            ),
            (
                json!([{ "op": "remove", "path": ext("attributes.depot") }]),
                |r| drop(r.attributes.remove("depot")),
            ),
            (
                json!([{ "op": "remove", "path": ext("attributes") }]),
                |r| r.attributes.clear(),
            ),
            (
                json!([{ "op": "replace", "path": ext("attributes.depot"), "value": null }]),
                |r| drop(r.attributes.remove("depot")),
            ),
            (
                json!([{ "op": "add", "path": department, "value": "Ops" }]),
                |r| drop(r.attributes.insert("department".into(), "Ops".into())),
            ),
            (
                json!([{
                    "op": "replace",
                    "path": format!("{CORE_SCHEMA}:displayName"),
                    "value": "Core",
                }]),
                |r| r.display_name = "Core".into(),
            ),
        ];
        let current = user_from_record("u1", "erika", &driver(), &meta());
        for (operations, expect) in cases {
            let patched = apply_patch(&current, &patch(operations.clone()))
                .unwrap_or_else(|e| panic!("{operations}: {e}"));
            let mut expected = driver();
            expect(&mut expected);
            let (user_name, record) =
                record_from_user(&patched).unwrap_or_else(|e| panic!("{operations}: {e}"));
            assert_eq!(
                (user_name.as_str(), record),
                ("erika", expected),
                "{operations}"
            );
        }
    }

    #[test]
    fn a_patch_lists_the_extensions_it_adds() {
        let current = user_from_record("u1", "erika", &driver(), &meta());
        let patched = apply_patch(
            &current,
            &patch(json!([{
                "op": "add",
                "path": format!("{ENTERPRISE_SCHEMA}:department"),
                "value": "Ops",
            }])),
        )
        .unwrap();
        assert_eq!(
            patched["schemas"],
            json!([CORE_SCHEMA, ENTERPRISE_SCHEMA, BRIDGE_SCHEMA])
        );
        assert_eq!(patched["meta"], current["meta"]);
    }

    #[test]
    fn bad_patches() {
        let current = user_from_record("u1", "erika", &driver(), &meta());
        let cases = [
            (json!({ "op": "move", "path": "active" }), "invalidSyntax"),
            (json!({ "path": "active", "value": true }), "invalidSyntax"),
            (json!({ "op": "add", "path": "active" }), "invalidSyntax"),
            (
                json!({ "op": "add", "path": 1, "value": true }),
                "invalidSyntax",
            ),
            (
                json!({
                    "op": "add",
                    "path": "emails[type eq \"work\"].value",
                    "value": "a@b.c",
                }),
                "invalidPath",
            ),
            (
                json!({ "op": "add", "path": "nickName", "value": "E" }),
                "invalidPath",
            ),
            (
                json!({ "op": "add", "path": "name.", "value": "E" }),
                "invalidPath",
            ),
            (
                json!({ "op": "add", "path": CORE_SCHEMA, "value": {} }),
                "invalidPath",
            ),
            (
                json!({
                    "op": "add",
                    "path": format!("{BRIDGE_SCHEMA}:vehicle"),
                    "value": "1",
                }),
                "invalidPath",
            ),
            (
                json!({ "op": "replace", "value": { "nickName": "E" } }),
                "invalidPath",
            ),
            (json!({ "op": "remove", "path": "userName" }), "mutability"),
            (
                json!({ "op": "replace", "path": "userName", "value": null }),
                "mutability",
            ),
            (json!({ "op": "remove" }), "noTarget"),
            (
                json!({ "op": "replace", "path": "active", "value": "maybe" }),
                "invalidValue",
            ),
            (
                json!({ "op": "replace", "path": "displayName", "value": 7 }),
                "invalidValue",
            ),
            (
                json!({ "op": "replace", "path": "name", "value": "E" }),
                "invalidValue",
            ),
            (json!({ "op": "replace", "value": "E" }), "invalidValue"),
        ];
        let malformed = [
            json!({ "schemas": [PATCH_SCHEMA] }),
            json!({ "Operations": [] }),
        ];
        let bodies = malformed.into_iter().map(|body| (body, "invalidSyntax"));
        let operations = cases.map(|(operation, scim_type)| (patch(json!([operation])), scim_type));
        for (body, scim_type) in bodies.chain(operations) {
            let error = apply_patch(&current, &body).unwrap_err();
            assert_eq!(
                (error.status, error.scim_type),
                (400, Some(scim_type)),
                "{body}: {error}"
            );
        }
    }

    #[test]
    fn filters() {
        let good = [
            (
                r#"userName eq "erika@corp.test""#,
                Filter::UserName("erika@corp.test".into()),
            ),
            (
                r#"  USERNAME  EQ  "a\"b\u00e9" "#,
                Filter::UserName("a\"bé".into()),
            ),
            (r#"externalId eq "D17""#, Filter::ExternalId("D17".into())),
            (
                &format!(r#"{CORE_SCHEMA}:userName eq "x""#),
                Filter::UserName("x".into()),
            ),
        ];
        for (filter, expected) in good {
            assert_eq!(parse_filter(filter), Ok(expected), "{filter}");
        }
        let bad_filters = [
            "",
            "userName",
            "userName eq",
            r#"userName ne "x""#,
            r#"userName sw "x""#,
            r#"displayName eq "x""#,
            r#"userName eq x"#,
            r#"userName eq "x" and externalId eq "y""#,
            r#"userName eq "x"#,
            r#"emails[type eq "work"].value eq "x""#,
        ];
        for filter in bad_filters {
            let error = parse_filter(filter).unwrap_err();
            assert_eq!(
                (error.status, error.scim_type),
                (400, Some("invalidFilter")),
                "{filter}"
            );
        }
    }

    #[test]
    fn errors() {
        let error = ScimError::bad_request("invalidFilter", "no");
        assert_eq!(
            error.body(),
            json!({
                "schemas": [ERROR_SCHEMA],
                "status": "400",
                "scimType": "invalidFilter",
                "detail": "no",
            })
        );
        assert_eq!(error.to_string(), "SCIM 400 invalidFilter: no");
        let cases = [
            (ScimError::not_found("u9"), "404", None),
            (
                ScimError::conflict_uniqueness("taken"),
                "409",
                Some("uniqueness"),
            ),
            (ScimError::unauthorized(), "401", None),
        ];
        for (error, status, scim_type) in cases {
            let body = error.body();
            assert_eq!(body["status"], status);
            assert_eq!(body.get("scimType").and_then(Value::as_str), scim_type);
        }
    }

    #[test]
    fn lists_and_config() {
        let list = list_response(vec![json!({ "id": "a" })], 5, 0);
        assert_eq!(
            list,
            json!({
                "schemas": [LIST_SCHEMA],
                "totalResults": 5,
                "startIndex": 1,
                "itemsPerPage": 1,
                "Resources": [{ "id": "a" }],
            })
        );
        let config = service_provider_config();
        assert_eq!(config["patch"]["supported"], true);
        assert_eq!(
            config["filter"],
            json!({ "supported": true, "maxResults": 200 })
        );
        for unsupported in ["bulk", "sort", "etag", "changePassword"] {
            assert_eq!(config[unsupported]["supported"], false, "{unsupported}");
        }
        assert_eq!(
            config["authenticationSchemes"][0]["type"],
            "oauthbearertoken"
        );
    }
}
