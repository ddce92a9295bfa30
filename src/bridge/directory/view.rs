//! The directory as the message flows consult it on every event: who may use the bridge, which
//! drivers are current and what they are called. Rebuilt after every sync; reads never wait.

use std::collections::HashMap;

use ruma::{OwnedUserId, UserId};
use time::Date;

use super::super::Bridge;
use crate::{
    config::Config,
    directory::{Employee, plan},
    threema::ThreemaId,
};

#[derive(Debug, Default)]
pub struct DirectoryView {
    /// Name (by the ghost name template) and whether the driver is current.
    drivers: HashMap<ThreemaId, (String, bool)>,
    /// Dispatchers the directory knows, and whether they are current.
    dispatchers: HashMap<OwnedUserId, bool>,
}

impl DirectoryView {
    pub fn new(
        directory: &[Employee],
        looked_up: &HashMap<String, ThreemaId>,
        config: &Config,
        today: Date,
    ) -> Self {
        let settings = &config.directory.plan;
        let drivers = plan::drivers(directory, looked_up, today)
            .into_values()
            .map(|d| {
                let name = plan::render_name(&settings.ghost_name_template, &d.id, d.record);
                (d.id, (name, d.active))
            })
            .collect();
        let dispatchers = plan::dispatchers(directory, settings, today)
            .into_iter()
            .filter(|(_, (record, _))| record.is_some())
            .map(|(user, (_, active))| (user, active))
            .collect();
        DirectoryView {
            drivers,
            dispatchers,
        }
    }

    /// Whether the dispatcher is current; `None` if the directory does not know them.
    pub fn dispatcher(&self, user: &UserId) -> Option<bool> {
        self.dispatchers.get(user).copied()
    }

    /// The driver's name and whether they are current; `None` if the directory does not know
    /// them.
    pub fn driver(&self, id: &ThreemaId) -> Option<(&str, bool)> {
        self.drivers
            .get(id)
            .map(|(name, active)| (name.as_str(), *active))
    }
}

impl Bridge {
    /// Builds the view from the store (at startup; syncs rebuild it as they go).
    pub async fn load_directory_view(&self) -> Result<(), super::BridgeError> {
        let stored = self.store.employees().await?;
        let looked_up = stored
            .iter()
            .filter_map(|s| Some((s.employee.record.employee_id.clone(), s.looked_up()?)))
            .collect();
        let directory: Vec<Employee> = stored.into_iter().map(|s| s.employee).collect();
        self.access.replace_view(DirectoryView::new(
            &directory,
            &looked_up,
            &self.config,
            super::today(),
        ));
        Ok(())
    }
}
