//! One employee as the directory knows them, whatever the source (CSV row, JSON object, SCIM
//! user). Sources turn their format into named fields; [`Record::from_fields`] checks them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use threema_protocol::ThreemaId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Driver,
    Dispatcher,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Driver => "driver",
            Role::Dispatcher => "dispatcher",
        }
    }
}

/// Columns with a meaning of their own; every other field is an attribute.
pub const KNOWN_FIELDS: &[&str] = &[
    "employee_id",
    "display_name",
    "role",
    "active",
    "threema_id",
    "matrix_id",
    "phone",
    "email",
    "leave_date",
];

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The stable key (personnel number); names and IDs may change, this may not.
    pub employee_id: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
    /// Drivers: the Threema ID, or a phone number / email to look it up with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threema_id: Option<ThreemaId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Dispatchers: their Matrix account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix_id: Option<ruma::OwnedUserId>,
    /// Offboarded from this day on (the HR leaving date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leave_date: Option<Date>,
    /// `depot`, `team`, `vehicle`, …: for spaces, access scopes and broadcast selection.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Phone numbers and email addresses only as whether they are there: a `Debug` print (an error,
/// a sync report in a log) must not carry them. (Fields of these names are never attributes.)
impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Record")
            .field("employee_id", &self.employee_id)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("active", &self.active)
            .field("threema_id", &self.threema_id)
            .field("phone", &given(&self.phone))
            .field("email", &given(&self.email))
            .field("matrix_id", &self.matrix_id)
            .field("leave_date", &self.leave_date)
            .field("attributes", &self.attributes)
            .finish()
    }
}

impl Record {
    /// Builds a record from named text fields (empty means absent). Every problem is reported,
    /// not just the first, so an operator can fix an export in one go.
    pub fn from_fields(fields: &BTreeMap<String, String>) -> Result<Record, Vec<String>> {
        let mut reader = FieldReader {
            fields,
            problems: Vec::new(),
        };
        let employee_id = reader.required("employee_id");
        let display_name = reader.required("display_name");
        let role = reader.role();
        let active = reader.active();
        let threema_id = reader.threema_id();
        let matrix_id = reader.matrix_id();
        let leave_date = reader.leave_date();
        let phone = reader.get("phone").map(normalise_phone);
        let email = reader.get("email").map(|e| e.to_lowercase());
        let findable = threema_id.is_some() || phone.is_some() || email.is_some();
        reader.check_contact(role, findable, matrix_id.is_some());
        if !reader.problems.is_empty() {
            return Err(reader.problems);
        }
        Ok(Record {
            employee_id: employee_id.to_owned(),
            display_name: display_name.to_owned(),
            role: role.expect("checked above"),
            active,
            threema_id,
            phone,
            email,
            matrix_id,
            leave_date,
            attributes: attributes(fields),
        })
    }

    /// Active in the source and not past the leaving date.
    pub fn is_active_on(&self, today: Date) -> bool {
        self.active && self.leave_date.is_none_or(|leave| leave > today)
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// Drops every attribute not named in `kept`.
    pub fn keep_only(&mut self, kept: &[String]) {
        self.attributes.retain(|name, _| kept.contains(name));
    }
}

/// Reads named text fields, noting each problem rather than stopping at the first.
struct FieldReader<'a> {
    fields: &'a BTreeMap<String, String>,
    problems: Vec<String>,
}

impl<'a> FieldReader<'a> {
    /// The trimmed value; empty counts as absent.
    fn get(&self, key: &str) -> Option<&'a str> {
        self.fields
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, key: &str) -> &'a str {
        self.get(key).unwrap_or_else(|| {
            self.problems.push(format!("{key} is missing"));
            ""
        })
    }

    fn role(&mut self) -> Option<Role> {
        match self.get("role").map(str::to_ascii_lowercase).as_deref() {
            Some("driver") => Some(Role::Driver),
            Some("dispatcher") => Some(Role::Dispatcher),
            Some(other) => {
                self.problems
                    .push(format!("role {other:?} is neither driver nor dispatcher"));
                None
            }
            None => {
                self.problems.push("role is missing".into());
                None
            }
        }
    }

    fn active(&mut self) -> bool {
        match self.get("active") {
            Some(value) => parse_bool(value).unwrap_or_else(|| {
                self.problems
                    .push(format!("active {value:?} is not true or false"));
                false
            }),
            None => {
                self.problems.push("active is missing".into());
                false
            }
        }
    }

    /// A driver's own ID: a Gateway ID (`*…`) is none.
    fn threema_id(&mut self) -> Option<ThreemaId> {
        self.get("threema_id").and_then(|value| {
            let id = ThreemaId::parse(value).filter(|id| !id.is_gateway_id());
            if id.is_none() {
                self.problems
                    .push(format!("threema_id {value:?} is not a Threema ID"));
            }
            id
        })
    }

    fn matrix_id(&mut self) -> Option<ruma::OwnedUserId> {
        self.get("matrix_id").and_then(|value| {
            ruma::UserId::parse(value)
                .map_err(|e| self.problems.push(format!("matrix_id {value:?}: {e}")))
                .ok()
        })
    }

    fn leave_date(&mut self) -> Option<Date> {
        self.get("leave_date").and_then(|value| {
            Date::parse(value, &time::format_description::well_known::Iso8601::DATE)
                .map_err(|_| {
                    self.problems
                        .push(format!("leave_date {value:?} is not YYYY-MM-DD"))
                })
                .ok()
        })
    }

    /// A driver needs a way to be found on Threema (`findable`: an ID, a phone number or an
    /// email), a dispatcher a Matrix account. A malformed ID was reported already; a missing one
    /// is reported here.
    fn check_contact(&mut self, role: Option<Role>, findable: bool, has_matrix_id: bool) {
        let reported = |field: &str| self.problems.iter().any(|p| p.starts_with(field));
        let missing = match role {
            Some(Role::Driver) if !findable && !reported("threema_id") => {
                Some("a driver needs threema_id (or phone or email)")
            }
            Some(Role::Dispatcher) if !has_matrix_id && !reported("matrix_id") => {
                Some("a dispatcher needs matrix_id")
            }
            _ => None,
        };
        self.problems.extend(missing.map(str::to_owned));
    }
}

/// Every field without a meaning of its own, with a value: names lower-case, values trimmed.
fn attributes(fields: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    fields
        .iter()
        .filter(|(key, _)| !KNOWN_FIELDS.contains(&key.as_str()))
        .filter_map(|(key, value)| {
            let value = value.trim();
            (!value.is_empty()).then(|| (key.trim().to_lowercase(), value.to_owned()))
        })
        .collect()
}

/// `true`/`false` as HR systems write them (also `1`/`0`, `yes`/`no`, any case).
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "ja" => Some(true),
        "false" | "0" | "no" | "n" | "nein" => Some(false),
        _ => None,
    }
}

/// E.164 digits without `+`, as the Gateway's phone lookup wants them.
fn normalise_phone(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn debug_output_names_contact_details_without_them() {
        let mut record = Record::from_fields(&fields(&[
            ("employee_id", "E-1"),
            ("display_name", "Tom"),
            ("role", "driver"),
            ("active", "true"),
            ("phone", "+41791234567"),
            ("email", "tom@example.org"),
        ]))
        .unwrap();
        record.attributes.insert("depot".into(), "North".into());
        let debug = format!("{record:?}");
        for secret in ["+4179", "tom@example.org"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(
            debug.contains("<redacted>") && debug.contains("North"),
            "{debug}"
        );
    }

    #[test]
    fn a_driver_with_attributes() {
        let record = Record::from_fields(&fields(&[
            ("employee_id", " D17 "),
            ("display_name", "Erika Muster"),
            ("role", "Driver"),
            ("active", "TRUE"),
            ("threema_id", "abcd1234"),
            ("leave_date", "2027-03-31"),
            ("depot", "North"),
            ("vehicle", ""),
        ]))
        .unwrap();
        assert_eq!(record.employee_id, "D17");
        assert_eq!(record.role, Role::Driver);
        assert_eq!(record.threema_id.as_ref().unwrap().as_str(), "ABCD1234");
        assert_eq!(record.attribute("depot"), Some("North"));
        assert_eq!(record.attribute("vehicle"), None);
        let day = |s| Date::parse(s, &time::format_description::well_known::Iso8601::DATE).unwrap();
        assert!(record.is_active_on(day("2027-03-30")));
        assert!(!record.is_active_on(day("2027-03-31")));
    }

    #[test]
    fn every_problem_is_named() {
        let problems = Record::from_fields(&fields(&[
            ("employee_id", "X"),
            ("role", "boss"),
            ("active", "maybe"),
            ("threema_id", "*GATEWAY"),
            ("leave_date", "31.03.2027"),
        ]))
        .unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("display_name")));
        assert!(problems.iter().any(|p| p.contains("\"boss\"")));
        assert!(problems.iter().any(|p| p.contains("\"maybe\"")));
        assert!(problems.iter().any(|p| p.contains("*GATEWAY")));
        assert!(problems.iter().any(|p| p.contains("YYYY-MM-DD")));
    }

    #[test]
    fn drivers_need_a_threema_id_or_contact_and_dispatchers_a_matrix_id() {
        let base = [
            ("employee_id", "1"),
            ("display_name", "N"),
            ("active", "true"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut f = fields(&base);
            f.extend(fields(extra));
            Record::from_fields(&f)
        };
        assert!(with(&[("role", "driver")]).is_err());
        let by_phone = with(&[("role", "driver"), ("phone", "+41 79 123 45 67")]).unwrap();
        assert_eq!(by_phone.phone.as_deref(), Some("41791234567"));
        assert!(with(&[("role", "dispatcher")]).is_err());
        assert!(with(&[("role", "dispatcher"), ("matrix_id", "not an id")]).is_err());
        assert!(with(&[("role", "dispatcher"), ("matrix_id", "@d:dispatch.test")]).is_ok());
    }
}
