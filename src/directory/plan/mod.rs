//! Pure planning: what the bridge should have set up for the directory (ghost names, portals,
//! spaces, who is invited where, who is read-only), compared with what it last set up, as a list
//! of actions. `bridge::directory` applies them and records each one, so an unchanged directory
//! plans nothing and costs no homeserver call.
//!
//! The plan is made in three steps: `people` says who the directory speaks for (drivers,
//! dispatchers, who may see whom), `wanted` which portals and spaces there should be and who
//! should be in each, and `changes` what differs from [`Current`].

mod action;
mod changes;
mod current;
mod moves;
mod names;
mod people;
mod wanted;

use std::collections::HashMap;

use ruma::OwnedServerName;
use time::Date;

use super::Employee;
use threema_protocol::ThreemaId;

pub use action::{Action, Room};
pub use current::{Current, Membership, RoomState};
pub use names::{render_name, template_attributes};
pub use people::{Driver, dispatchers, drivers, in_scope, may_see};

/// How the directory becomes rooms (the `directory:` config keys).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The homeserver's name: ghosts are ours only there.
    pub domain: OwnedServerName,
    /// One space per value of each of these attributes (`depot`, `team`, …).
    pub space_attributes: Vec<String>,
    /// A dispatcher with a value in one of these sees only drivers with the same value.
    pub scope_attributes: Vec<String>,
    /// The ghost's and portal's name: `{display_name}`, `{employee_id}`, `{threema_id}` or any
    /// attribute in braces; brackets left empty by a missing attribute are dropped.
    pub ghost_name_template: String,
    /// A former driver's portal name; `{name}` is the name it had.
    pub former_name_template: String,
    pub root_space_name: String,
    pub former_space_name: String,
    /// Deactivate a departed dispatcher's Matrix account (needs the admin token).
    pub deactivate_dispatchers: bool,
}

/// A space the bridge keeps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpaceKey {
    Root,
    /// One value of one space attribute.
    Attribute {
        name: String,
        value: String,
    },
    /// Portals of drivers who left.
    Former,
}

impl Settings {
    /// The attributes spaces, scopes and name templates read, each once.
    pub fn used_attributes(&self) -> Vec<String> {
        let mut used: Vec<String> = (self.space_attributes.iter())
            .chain(&self.scope_attributes)
            .cloned()
            .chain(template_attributes(&self.ghost_name_template))
            .chain(template_attributes(&self.former_name_template))
            .collect();
        used.sort();
        used.dedup();
        used
    }
}

impl SpaceKey {
    /// How the store names it.
    pub fn key(&self) -> String {
        match self {
            SpaceKey::Root => "root".into(),
            SpaceKey::Former => "former".into(),
            SpaceKey::Attribute { name, value } => format!("{name}={value}"),
        }
    }

    pub fn parse(key: &str) -> SpaceKey {
        match key.split_once('=') {
            _ if key == "root" => SpaceKey::Root,
            _ if key == "former" => SpaceKey::Former,
            Some((name, value)) => SpaceKey::Attribute {
                name: name.into(),
                value: value.into(),
            },
            None => SpaceKey::Root,
        }
    }

    fn name(&self, settings: &Settings) -> String {
        match self {
            SpaceKey::Root => settings.root_space_name.clone(),
            SpaceKey::Former => settings.former_space_name.clone(),
            SpaceKey::Attribute { name, value } => {
                format!("{}: {value}", names::capitalise(name))
            }
        }
    }
}

/// The actions that bring what the bridge last set up (`current`) in line with the directory
/// on `today`. Ghost names and new rooms come first, so that later actions can refer to them.
pub fn plan(
    directory: &[Employee],
    looked_up: &HashMap<String, ThreemaId>,
    settings: &Settings,
    current: &Current,
    today: Date,
) -> Vec<Action> {
    let people = people::People::of(directory, looked_up, today);
    let mut actions = moves::moved(&people, current);
    let moved;
    let current = if actions.is_empty() {
        current
    } else {
        moved = moves::after(current, &actions, &settings.domain);
        &moved
    };
    let wanted = wanted::Wanted::of(&people, settings, current);
    let changes = changes::Changes::new(&people, settings, current);
    actions.extend(changes.portal_links());
    actions.extend(changes.ghost_names(&wanted));
    actions.extend(changes.new_rooms(&wanted));
    actions.extend(changes.existing_rooms(&wanted));
    actions.extend(changes.unwanted_spaces(&wanted));
    actions.extend(changes.departed_dispatchers(&wanted));
    actions.extend(changes.deactivations());
    actions
}

#[cfg(test)]
mod tests;
