//! SCIM user JSON ⇄ [`Record`]: the core schema, the enterprise extension and ours.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{
    BRIDGE_SCHEMA, CORE_SCHEMA, ENTERPRISE_SCHEMA,
    error::{ScimError, invalid_syntax, invalid_value},
    lists,
};
use crate::directory::record::{KNOWN_FIELDS, Record};

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
    let parts = Parts::of(user)?;
    let mut fields = parts.attributes()?;
    let employee_id = parts.employee_id(user_name)?;
    let display_name = parts.display_name()?;
    let active = parts.active()?;
    let role = text(&parts.ours["role"], "role")?;
    let (phone, email) = parts.contact(role)?;

    let named = [
        ("employee_id", Some(employee_id)),
        ("display_name", Some(display_name.as_str())),
        ("role", role),
        ("active", Some(active.as_str())),
        ("threema_id", text(&parts.ours["threemaId"], "threemaId")?),
        ("matrix_id", text(&parts.ours["matrixId"], "matrixId")?),
        ("phone", phone),
        ("email", email),
        ("leave_date", text(&parts.ours["leaveDate"], "leaveDate")?),
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

/// The parts of a user the mapping reads, each an object or null, so indexing into them is
/// safe. Each field is read where the identity providers put it, with ours as the fallback.
struct Parts<'a> {
    user: &'a Value,
    name: &'a Value,
    enterprise: &'a Value,
    ours: &'a Value,
}

impl<'a> Parts<'a> {
    fn of(user: &'a Value) -> Result<Self, ScimError> {
        Ok(Parts {
            user,
            name: complex(&user["name"], "name")?,
            enterprise: complex(&user[ENTERPRISE_SCHEMA], ENTERPRISE_SCHEMA)?,
            ours: complex(&user[BRIDGE_SCHEMA], BRIDGE_SCHEMA)?,
        })
    }

    /// Our free-form attributes, and the enterprise `department`.
    fn attributes(&self) -> Result<BTreeMap<String, String>, ScimError> {
        let mut fields = BTreeMap::new();
        if let Some(attributes) = complex(&self.ours["attributes"], "attributes")?.as_object() {
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
        if let Some(department) = text(&self.enterprise["department"], "department")? {
            fields.insert("department".into(), department.into());
        }
        Ok(fields)
    }

    /// `externalId`, else the enterprise `employeeNumber`, else the `userName`.
    fn employee_id(&self, user_name: &'a str) -> Result<&'a str, ScimError> {
        Ok(text(&self.user["externalId"], "externalId")?
            .or(text(&self.enterprise["employeeNumber"], "employeeNumber")?)
            .unwrap_or(user_name))
    }

    /// `displayName`, else `name.formatted`, else given and family name.
    fn display_name(&self) -> Result<String, ScimError> {
        let name = self.name;
        let given_family = [
            text(&name["givenName"], "name.givenName")?,
            text(&name["familyName"], "name.familyName")?,
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        Ok(text(&self.user["displayName"], "displayName")?
            .or(text(&name["formatted"], "name.formatted")?)
            .map_or(given_family, str::to_owned))
    }

    /// `active` as a field value for [`Record::from_fields`].
    fn active(&self) -> Result<String, ScimError> {
        Ok(match &self.user["active"] {
            // RFC 7643 leaves the default to us; an account sent without it is meant to work.
            Value::Null => "true".to_owned(),
            Value::Bool(active) => active.to_string(),
            // "False" and the like: from_fields reads them as it does CSV.
            Value::String(active) => active.clone(),
            _ => return Err(invalid_value("active must be a boolean")),
        })
    }

    /// Phone and email. Identity providers keep a driver's in the core multi-valued attributes.
    fn contact(&self, role: Option<&str>) -> Result<(Option<&'a str>, Option<&'a str>), ScimError> {
        let is_driver = role.is_some_and(|role| role.eq_ignore_ascii_case("driver"));
        let core_contact = |attribute: &str| match is_driver {
            true => primary_value(&self.user[attribute], attribute),
            false => Ok(None),
        };
        let phone = text(&self.ours["phone"], "phone")?.or(core_contact("phoneNumbers")?);
        let email = text(&self.ours["email"], "email")?.or(core_contact("emails")?);
        Ok((phone, email))
    }
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
