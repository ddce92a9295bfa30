//! Who the directory speaks for on a given day: drivers by Threema ID, dispatchers by Matrix
//! ID, and which drivers each dispatcher may see.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ruma::OwnedUserId;
use threema_protocol::ThreemaId;
use time::Date;

use super::Settings;
use crate::directory::{Employee, Record, Role};

/// One driver of the directory, with the Threema ID it resolved to.
#[derive(Debug, Clone)]
pub struct Driver<'a> {
    pub id: ThreemaId,
    pub record: &'a Record,
    pub active: bool,
}

/// The drivers of the directory by Threema ID (an active record wins over a former one with
/// the same ID), given the IDs looked up for drivers known by phone or email.
pub fn drivers<'a>(
    directory: &'a [Employee],
    looked_up: &HashMap<String, ThreemaId>,
    today: Date,
) -> BTreeMap<ThreemaId, Driver<'a>> {
    let mut out: BTreeMap<ThreemaId, Driver<'a>> = BTreeMap::new();
    for employee in directory.iter().filter(|e| e.record.role == Role::Driver) {
        let record = &employee.record;
        let Some(id) = record
            .threema_id
            .clone()
            .or_else(|| looked_up.get(&record.employee_id).cloned())
        else {
            continue;
        };
        let active = employee.is_active_on(today);
        if out.get(&id).is_none_or(|known| !known.active) {
            out.insert(id.clone(), Driver { id, record, active });
        }
    }
    out
}

/// Dispatchers by Matrix ID: their record and whether they are active.
pub fn dispatchers<'a>(
    directory: &'a [Employee],
    today: Date,
) -> BTreeMap<OwnedUserId, (&'a Record, bool)> {
    let mut out: BTreeMap<OwnedUserId, (&'a Record, bool)> = BTreeMap::new();
    for employee in directory
        .iter()
        .filter(|e| e.record.role == Role::Dispatcher)
    {
        let Some(user) = employee.record.matrix_id.clone() else {
            continue;
        };
        let active = employee.is_active_on(today);
        if out.get(&user).is_none_or(|(_, known_active)| !known_active) {
            out.insert(user, (&employee.record, active));
        }
    }
    out
}

/// May this dispatcher see this driver? See [`in_scope`]; a dispatcher without a record is not
/// limited by the directory.
pub fn may_see(dispatcher: Option<&Record>, driver: &Record, settings: &Settings) -> bool {
    dispatcher.is_none_or(|d| in_scope(d, Some(driver), &settings.scope_attributes))
}

/// Whether a driver is within a dispatcher's scope: every scope attribute the dispatcher has a
/// value for must match the driver's (`North|South` lists several). A driver the directory
/// does not describe (`None`) is within the scope of an unscoped dispatcher only.
pub fn in_scope(dispatcher: &Record, driver: Option<&Record>, scope_attributes: &[String]) -> bool {
    scope_attributes.iter().all(|attribute| {
        let Some(allowed) = dispatcher.attribute(attribute) else {
            return true;
        };
        let value = driver
            .and_then(|d| d.attribute(attribute))
            .unwrap_or_default();
        allowed
            .split(['|', ','])
            .any(|a| a.trim().eq_ignore_ascii_case(value.trim()))
    })
}

/// The directory's drivers and dispatchers on one day, for the planning steps that follow.
pub(super) struct People<'a> {
    pub drivers: BTreeMap<ThreemaId, Driver<'a>>,
    /// Each with their record and whether they are active.
    pub dispatchers: BTreeMap<OwnedUserId, (&'a Record, bool)>,
}

impl<'a> People<'a> {
    pub fn of(
        directory: &'a [Employee],
        looked_up: &HashMap<String, ThreemaId>,
        today: Date,
    ) -> Self {
        People {
            drivers: drivers(directory, looked_up, today),
            dispatchers: dispatchers(directory, today),
        }
    }

    /// Active dispatchers, with the record their scope comes from.
    pub fn active_dispatchers(&self) -> impl Iterator<Item = (&OwnedUserId, &'a Record)> {
        self.dispatchers
            .iter()
            .filter(|(_, (_, active))| *active)
            .map(|(user, (record, _))| (user, *record))
    }

    /// The active dispatchers who may see this driver: the members of the driver's portal.
    pub fn audience(&self, driver: &Record, settings: &Settings) -> BTreeSet<OwnedUserId> {
        self.active_dispatchers()
            .filter(|(_, record)| may_see(Some(record), driver, settings))
            .map(|(user, _)| user.clone())
            .collect()
    }

    /// Only people the directory speaks for are invited or removed; anyone else in a room is
    /// none of its business.
    pub fn managed(&self) -> HashSet<&OwnedUserId> {
        self.dispatchers.keys().collect()
    }

    /// A dispatcher the directory lists as no longer active.
    pub fn has_departed(&self, user: &OwnedUserId) -> bool {
        self.dispatchers
            .get(user)
            .is_some_and(|(_, active)| !active)
    }
}
