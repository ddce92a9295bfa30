//! The directory as the message flows consult it on every event: who may use the bridge, which
//! drivers are current and what they are called. Rebuilt after every sync; reads never wait.

use std::collections::{HashMap, HashSet};

use ruma::{OwnedUserId, UserId};
use time::Date;

use super::Directory;
use crate::{
    directory::{Employee, Record, plan},
    threema::ThreemaId,
};

#[derive(Debug, Default)]
pub struct DirectoryView {
    drivers: HashMap<ThreemaId, ListedDriver>,
    /// Dispatchers the directory lists: their record, and whether they are current.
    dispatchers: HashMap<OwnedUserId, (Record, bool)>,
    /// `directory.scope_attributes`: what limits a dispatcher to some drivers.
    scope_attributes: Vec<String>,
    /// Threema IDs drivers had before their current one.
    retired: HashSet<ThreemaId>,
}

/// A driver the directory lists: their record, whether they are current, and the name their
/// ghost has by the name template.
#[derive(Debug)]
struct ListedDriver {
    record: Record,
    active: bool,
    name: String,
}

impl DirectoryView {
    pub fn new(
        directory: &[Employee],
        looked_up: &HashMap<String, ThreemaId>,
        settings: &plan::Settings,
        today: Date,
    ) -> Self {
        let drivers = plan::drivers(directory, looked_up, today)
            .into_values()
            .map(|d| {
                let name = plan::render_name(&settings.ghost_name_template, &d.id, d.record);
                let (record, active) = (d.record.clone(), d.active);
                (
                    d.id,
                    ListedDriver {
                        record,
                        active,
                        name,
                    },
                )
            })
            .collect();
        let dispatchers = plan::dispatchers(directory, today)
            .into_iter()
            .map(|(user, (record, active))| (user, (record.clone(), active)))
            .collect();
        DirectoryView {
            drivers,
            dispatchers,
            scope_attributes: settings.scope_attributes.clone(),
            retired: HashSet::new(),
        }
    }

    /// With the Threema IDs drivers had before their current one.
    pub fn with_retired(mut self, retired: impl IntoIterator<Item = ThreemaId>) -> Self {
        self.retired.extend(retired);
        self
    }

    /// A driver the directory lists as gone (left, inactive, removed), or an ID a driver had
    /// before their current one.
    pub fn is_former_driver(&self, id: &ThreemaId) -> bool {
        match self.drivers.get(id) {
            Some(driver) => !driver.active,
            None => self.retired.contains(id),
        }
    }

    /// The driver's name and whether they are current; `None` if the directory does not know
    /// them.
    pub fn driver(&self, id: &ThreemaId) -> Option<(&str, bool)> {
        self.drivers.get(id).map(|d| (d.name.as_str(), d.active))
    }

    /// The current dispatchers the directory lists.
    pub fn current_dispatchers(&self) -> impl Iterator<Item = &UserId> {
        (self.dispatchers.iter())
            .filter(|(_, (_, active))| *active)
            .map(|(user, _)| user.as_ref())
    }

    /// The driver's value of a directory attribute ("" when it has none).
    pub fn driver_attribute(&self, driver: &ThreemaId, attribute: &str) -> &str {
        (self.drivers.get(driver))
            .and_then(|d| d.record.attribute(attribute))
            .unwrap_or_default()
    }

    /// The driver's values of the scope attributes: who may see them depends on these alone.
    pub fn driver_scope(&self, driver: &ThreemaId) -> Vec<(&str, &str)> {
        (self.scope_attributes.iter())
            .map(|a| (a.as_str(), self.driver_attribute(driver, a)))
            .collect()
    }

    /// The dispatcher's value of a directory attribute ("" when it has none or is not listed).
    pub fn dispatcher_attribute(&self, user: &UserId, attribute: &str) -> &str {
        (self.dispatchers.get(user))
            .and_then(|(record, _)| record.attribute(attribute))
            .unwrap_or_default()
    }

    /// Whether the dispatcher is current; `None` if the directory does not list them.
    pub fn dispatcher(&self, user: &UserId) -> Option<bool> {
        self.dispatchers.get(user).map(|(_, active)| *active)
    }

    /// Whether the directory's scopes let `user` see `driver`: a dispatcher it lists sees the
    /// drivers within their scope attributes; anyone else is not limited here (their level is).
    pub fn in_scope(&self, user: &UserId, driver: &ThreemaId) -> bool {
        let Some((dispatcher, _)) = self.dispatchers.get(user) else {
            return true;
        };
        let driver = self.drivers.get(driver).map(|d| &d.record);
        plan::in_scope(dispatcher, driver, &self.scope_attributes)
    }
}

impl Directory {
    /// Builds the view from the store (at startup; syncs rebuild it as they go).
    pub async fn load_view(&self) -> Result<(), crate::bridge::BridgeError> {
        let stored = self.store.employees().await?;
        let looked_up = stored
            .iter()
            .filter_map(|s| Some((s.employee.record.employee_id.clone(), s.looked_up()?)))
            .collect();
        let directory: Vec<Employee> = stored.into_iter().map(|s| s.employee).collect();
        let view = DirectoryView::new(&directory, &looked_up, &self.config.plan, self.zone.today());
        self.access
            .replace_view(view.with_retired(self.store.retired_threema_ids().await?));
        Ok(())
    }
}
