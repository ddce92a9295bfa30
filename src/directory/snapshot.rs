//! A full snapshot from one source (the CSV file, the HTTP endpoint) against what the directory
//! holds from that source: what changes, and whether the change is plausible enough to apply.

use std::collections::BTreeMap;

use time::Date;

use super::record::Record;

/// One employee as the directory holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Employee {
    pub record: Record,
    /// `csv`, `http`, `scim`: who last wrote the row. A snapshot only speaks for its own rows.
    pub source: String,
    /// Gone from the source (a removed row counts as offboarded, the history stays).
    pub removed: bool,
}

impl Employee {
    pub fn is_active_on(&self, today: Date) -> bool {
        !self.removed && self.record.is_active_on(today)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Added(Record),
    /// Before and after.
    Changed(Record, Record),
    Removed(Record),
}

impl Change {
    pub fn employee_id(&self) -> &str {
        match self {
            Change::Added(r) | Change::Changed(_, r) | Change::Removed(r) => &r.employee_id,
        }
    }

    /// For the audit log and the command line: what changed, in (English) words.
    pub fn describe(&self) -> String {
        crate::texts::Texts::english().directory_change(self)
    }
}

/// Fields (and attributes of these names) that hold personal contact details.
const CONTACT_FIELDS: [&str; 2] = ["phone", "email"];

/// Field-by-field differences, `name: old → new`; contact details only by name (`phone
/// changed`), as these words go to the audit log, the management room, logs and the CLI.
pub fn differences(before: &Record, after: &Record) -> Vec<String> {
    let show = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let mut out = Vec::new();
    let mut field = |name: &str, a: Option<String>, b: Option<String>| {
        if a == b {
            return;
        }
        out.push(match (CONTACT_FIELDS.contains(&name), &a, &b) {
            (true, None, _) => format!("{name} added"),
            (true, _, None) => format!("{name} removed"),
            (true, _, _) => format!("{name} changed"),
            (false, _, _) => format!("{name}: {} → {}", show(a), show(b)),
        });
    };
    field(
        "display_name",
        Some(before.display_name.clone()),
        Some(after.display_name.clone()),
    );
    field(
        "role",
        Some(before.role.as_str().into()),
        Some(after.role.as_str().into()),
    );
    field(
        "active",
        Some(before.active.to_string()),
        Some(after.active.to_string()),
    );
    field(
        "threema_id",
        before.threema_id.as_ref().map(|i| i.to_string()),
        after.threema_id.as_ref().map(|i| i.to_string()),
    );
    field(
        "matrix_id",
        before.matrix_id.as_ref().map(|i| i.to_string()),
        after.matrix_id.as_ref().map(|i| i.to_string()),
    );
    field("phone", before.phone.clone(), after.phone.clone());
    field("email", before.email.clone(), after.email.clone());
    field(
        "leave_date",
        before.leave_date.map(|d| d.to_string()),
        after.leave_date.map(|d| d.to_string()),
    );
    let keys: std::collections::BTreeSet<&String> = before
        .attributes
        .keys()
        .chain(after.attributes.keys())
        .collect();
    for key in keys {
        field(
            key,
            before.attributes.get(key).cloned(),
            after.attributes.get(key).cloned(),
        );
    }
    out
}

/// What the snapshot changes among the rows `source` owns (and rows of other sources it now
/// claims by employee id). Unchanged rows produce nothing.
pub fn diff(current: &[Employee], source: &str, snapshot: &[Record]) -> Vec<Change> {
    let by_id: BTreeMap<&str, &Employee> = current
        .iter()
        .map(|e| (e.record.employee_id.as_str(), e))
        .collect();
    let mut changes = Vec::new();
    for record in snapshot {
        match by_id.get(record.employee_id.as_str()) {
            None => changes.push(Change::Added(record.clone())),
            Some(old) if old.removed => changes.push(Change::Added(record.clone())),
            Some(old) if old.record != *record || old.source != source => {
                changes.push(Change::Changed(old.record.clone(), record.clone()))
            }
            Some(_) => {}
        }
    }
    let in_snapshot: std::collections::HashSet<&str> =
        snapshot.iter().map(|r| r.employee_id.as_str()).collect();
    changes.extend(
        current
            .iter()
            .filter(|e| e.source == source && !e.removed)
            .filter(|e| !in_snapshot.contains(e.record.employee_id.as_str()))
            .map(|e| Change::Removed(e.record.clone())),
    );
    changes
}

/// The safety stop's limits (`directory.max_offboard_share`, `directory.max_offboard_always`).
#[derive(Debug, Clone, Copy)]
pub struct Safety {
    /// Largest share of the currently active people one run may offboard.
    pub max_share: f64,
    /// Up to this many offboardings are always allowed (a small company losing one person
    /// exceeds any share).
    pub always_allowed: usize,
}

/// Why a snapshot is refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refused {
    Empty {
        origin: String,
    },
    TooManyOffboarded {
        origin: String,
        offboard: usize,
        active: usize,
        percent: f64,
        allowed: f64,
    },
}

/// English, as the log and the audit entry say it (the management room says it in the desk's
/// language, see `Texts::snapshot_refused`).
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::texts::Texts::english().snapshot_refused(self))
    }
}

impl std::error::Error for Refused {}

/// Refuses a snapshot that is empty or would offboard too many people at once: a truncated or
/// half-written export must not wipe the desk.
pub fn check(
    current: &[Employee],
    source: &str,
    snapshot: &[Record],
    changes: &[Change],
    safety: Safety,
    today: Date,
) -> Result<(), Refused> {
    if snapshot.is_empty() {
        return Err(Refused::Empty {
            origin: source.into(),
        });
    }
    let active = current.iter().filter(|e| e.is_active_on(today)).count();
    let was_active: std::collections::HashSet<&str> = current
        .iter()
        .filter(|e| e.is_active_on(today))
        .map(|e| e.record.employee_id.as_str())
        .collect();
    let offboard = changes
        .iter()
        .filter(|c| was_active.contains(c.employee_id()))
        .filter(|c| match c {
            Change::Removed(_) => true,
            Change::Changed(_, after) => !after.is_active_on(today),
            Change::Added(_) => false,
        })
        .count();
    let allowed = (safety.max_share * active as f64).floor() as usize;
    if offboard > allowed.max(safety.always_allowed) {
        return Err(Refused::TooManyOffboarded {
            origin: source.into(),
            offboard,
            active,
            percent: 100.0 * offboard as f64 / active.max(1) as f64,
            allowed: 100.0 * safety.max_share,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Role;

    fn today() -> Date {
        time::macros::date!(2026 - 11 - 22)
    }

    fn driver(n: usize) -> Record {
        Record {
            employee_id: format!("D{n}"),
            display_name: format!("Driver {n}"),
            role: Role::Driver,
            active: true,
            threema_id: threema_protocol::ThreemaId::parse(&format!("DRV{n:05}")),
            phone: None,
            email: None,
            matrix_id: None,
            leave_date: None,
            attributes: [("depot".to_string(), "North".to_string())].into(),
        }
    }

    fn stored(records: &[Record]) -> Vec<Employee> {
        records
            .iter()
            .map(|r| Employee {
                record: r.clone(),
                source: "csv".into(),
                removed: false,
            })
            .collect()
    }

    const SAFETY: Safety = Safety {
        max_share: 0.1,
        always_allowed: 2,
    };

    #[test]
    fn an_unchanged_snapshot_changes_nothing() {
        let all: Vec<Record> = (0..20).map(driver).collect();
        assert!(diff(&stored(&all), "csv", &all).is_empty());
    }

    #[test]
    fn additions_changes_and_removals() {
        let all: Vec<Record> = (0..3).map(driver).collect();
        let mut next = vec![all[0].clone(), all[1].clone(), driver(9)];
        next[1].attributes.insert("depot".into(), "South".into());
        let changes = diff(&stored(&all), "csv", &next);
        assert_eq!(changes.len(), 3);
        assert_eq!(
            changes[0].describe(),
            "changed Driver 1 (D1): depot: North → South"
        );
        assert!(matches!(&changes[1], Change::Added(r) if r.employee_id == "D9"));
        assert!(matches!(&changes[2], Change::Removed(r) if r.employee_id == "D2"));
    }

    #[test]
    fn contact_details_are_named_not_shown() {
        let before = Record {
            phone: Some("+41790000001".into()),
            ..driver(1)
        };
        let after = Record {
            phone: Some("+41790000002".into()),
            email: Some("d1@example.com".into()),
            ..driver(1)
        };
        let text = Change::Changed(before.clone(), after.clone()).describe();
        assert_eq!(text, "changed Driver 1 (D1): phone changed, email added");
        let gone = Change::Changed(after, before).describe();
        assert_eq!(gone, "changed Driver 1 (D1): phone changed, email removed");
    }

    #[test]
    fn other_sources_rows_are_not_removed_by_a_snapshot() {
        let mut current = stored(&[driver(1)]);
        current[0].source = "scim".into();
        assert!(
            diff(&current, "csv", &[driver(2)])
                .iter()
                .all(|c| !matches!(c, Change::Removed(_)))
        );
    }

    #[test]
    fn the_safety_stop() {
        let all: Vec<Record> = (0..255).map(driver).collect();
        let current = stored(&all);
        let check_with = |next: &[Record]| {
            let changes = diff(&current, "csv", next);
            check(&current, "csv", next, &changes, SAFETY, today())
        };
        // Truncated to 50 rows: 205 would go.
        let refused = check_with(&all[..50]).unwrap_err();
        assert!(
            matches!(
                refused,
                Refused::TooManyOffboarded {
                    offboard: 205,
                    active: 255,
                    ..
                }
            ),
            "{refused}"
        );
        assert!(refused.to_string().contains("--force"));
        assert!(matches!(check_with(&[]), Err(Refused::Empty { .. })));
        // 25 of 255 is within 10 %, 26 is not; deactivating counts like removing.
        assert!(check_with(&all[25..]).is_ok());
        let mut next = all[25..].to_vec();
        next[0].active = false;
        assert!(check_with(&next).is_err());
        // A leaving date reached counts as well.
        let mut next = all.clone();
        for r in &mut next[..26] {
            r.leave_date = Some(today());
        }
        assert!(check_with(&next).is_err());
        // A tiny company may always lose two people.
        let few = stored(&all[..4]);
        let changes = diff(&few, "csv", &all[..2]);
        assert!(check(&few, "csv", &all[..2], &changes, SAFETY, today()).is_ok());
    }
}
