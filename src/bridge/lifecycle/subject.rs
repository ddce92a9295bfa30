//! `SUBJECT` of a data-protection command: an employee ID, a Threema ID or a Matrix ID,
//! resolved to every ID the person has, so that a request names them however it likes.

use std::fmt;

use ruma::{OwnedRoomId, OwnedUserId, RoomAliasId, RoomId, ServerName, UserId};
use threema_protocol::ThreemaId;

use super::{LifecycleError, Refused};
use crate::{
    directory::Role,
    ids,
    store::{HoldTarget, Store, StoredEmployee},
    texts::Texts,
    tr,
};

/// One person as the bridge knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Their directory record's key, if the directory knows them.
    pub employee_id: Option<String>,
    /// A driver's Threema ID (from the record, a lookup, or the request itself).
    pub driver: Option<ThreemaId>,
    /// A dispatcher's Matrix account.
    pub user: Option<OwnedUserId>,
    /// The directory lists them as active (not removed, not marked inactive), leaving on
    /// `leave_date` if it has one.
    pub listed_active: bool,
    pub leave_date: Option<time::Date>,
}

impl Subject {
    /// Whether they still work here on `today` (in `bridge.timezone`): not offboarded.
    pub fn is_active_on(&self, today: time::Date) -> bool {
        self.listed_active && self.leave_date.is_none_or(|leave| leave > today)
    }

    /// A hold on this person: on their directory record if they have one (it follows a
    /// changed Threema ID), else on the ID they were named by.
    pub fn hold_target(&self) -> HoldTarget {
        match (&self.employee_id, &self.driver, &self.user) {
            (Some(id), _, _) => HoldTarget::Employee(id.clone()),
            (None, Some(driver), _) => HoldTarget::Driver(driver.clone()),
            (None, None, Some(user)) => HoldTarget::User(user.clone()),
            (None, None, None) => unreachable!("a subject is resolved from at least one ID"),
        }
    }

    fn of_employee(stored: &StoredEmployee) -> Subject {
        let record = &stored.employee.record;
        Subject {
            employee_id: Some(record.employee_id.clone()),
            driver: match record.role {
                Role::Driver => record.threema_id.clone().or_else(|| stored.looked_up()),
                Role::Dispatcher => None,
            },
            user: record.matrix_id.clone(),
            listed_active: !stored.employee.removed && record.active,
            leave_date: record.leave_date,
        }
    }
}

impl Subject {
    /// `employee E-17, Threema ID ABCD1234, Matrix ID @…`: the IDs known, in `texts`' language.
    pub fn said(&self, texts: &Texts) -> String {
        let mut parts = Vec::new();
        if let Some(id) = &self.employee_id {
            parts.push(tr!(texts, "subject-employee", id = id.as_str()));
        }
        if let Some(id) = &self.driver {
            parts.push(tr!(texts, "subject-driver", id = id.as_str()));
        }
        if let Some(id) = &self.user {
            parts.push(tr!(texts, "subject-user", id = id.as_str()));
        }
        parts.join(", ")
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.said(Texts::english()))
    }
}

/// The person `text` names: an employee ID of the directory first (so that an employee ID
/// shaped like a Threema ID means the employee), then a Threema ID, then a Matrix user ID (a
/// driver's ghost means the driver). Refused: text that is none of these.
pub async fn resolve(
    store: &Store,
    domain: &ServerName,
    text: &str,
) -> Result<Subject, LifecycleError> {
    let text = text.trim();
    if let Some(stored) = store.employee_by_id(text).await? {
        return Ok(Subject::of_employee(&stored));
    }
    let driver = if text.starts_with('@') {
        let user = UserId::parse(text)
            .map_err(|_| LifecycleError::Input(Refused::NotAUserId(text.to_owned())))?;
        match ids::parse_ghost_user_id(&user, domain) {
            Some(driver) => driver,
            None => {
                let employees = store.employees().await?;
                let found = employees
                    .iter()
                    .find(|e| e.employee.record.matrix_id.as_ref() == Some(&user));
                return Ok(match found {
                    Some(stored) => Subject::of_employee(stored),
                    None => Subject {
                        employee_id: None,
                        driver: None,
                        user: Some(user),
                        listed_active: false,
                        leave_date: None,
                    },
                });
            }
        }
    } else {
        ThreemaId::parse(text)
            .ok_or_else(|| LifecycleError::Input(Refused::NobodyNamed(text.to_owned())))?
    };
    let employees = store.employees().await?;
    let found = employees.iter().find(|e| {
        e.employee.record.threema_id.as_ref() == Some(&driver)
            || e.looked_up().as_ref() == Some(&driver)
    });
    Ok(match found {
        Some(stored) => Subject::of_employee(stored),
        None => Subject {
            employee_id: None,
            driver: Some(driver),
            user: None,
            listed_active: false,
            leave_date: None,
        },
    })
}

/// What a hold command names: a room (`!room:server`, or a portal's alias
/// `#threema_<id>:server`) or a person (see [`resolve`]).
pub async fn resolve_target(
    store: &Store,
    domain: &ServerName,
    text: &str,
) -> Result<HoldTarget, LifecycleError> {
    let text = text.trim();
    if text.starts_with('!') {
        let room = RoomId::parse(text)
            .map_err(|_| LifecycleError::Input(Refused::NotARoomId(text.to_owned())))?;
        return Ok(HoldTarget::Room(room));
    }
    if text.starts_with('#') {
        return Ok(HoldTarget::Room(
            portal_of_alias(store, domain, text).await?,
        ));
    }
    Ok(resolve(store, domain, text).await?.hold_target())
}

/// The portal a `#threema_<id>:<domain>` alias names (other aliases would need the
/// homeserver, which these commands do without).
async fn portal_of_alias(
    store: &Store,
    domain: &ServerName,
    text: &str,
) -> Result<OwnedRoomId, LifecycleError> {
    let not_a_portal = || {
        LifecycleError::Input(Refused::NotAPortalAlias {
            text: text.to_owned(),
            domain: domain.to_string(),
        })
    };
    let alias = RoomAliasId::parse(text).map_err(|_| not_a_portal())?;
    let driver = alias
        .alias()
        .strip_prefix(ids::GHOST_PREFIX)
        .and_then(ThreemaId::parse)
        .filter(|_| alias.server_name() == domain)
        .ok_or_else(not_a_portal)?;
    let portal = store
        .portal_by_threema_id(driver.as_str())
        .await?
        .ok_or_else(|| LifecycleError::Input(Refused::NoPortal(driver)))?;
    Ok(portal.room_id)
}
