//! Which rooms the directory asks for: a portal per driver (read-only once they left), the
//! spaces their portals belong in, and which dispatchers should be in each. Apart from knowing
//! which former drivers ever had a portal, this does not look at what exists.

use std::collections::{BTreeMap, BTreeSet};

use ruma::OwnedUserId;
use threema_protocol::ThreemaId;

use super::{
    Current, Room, Settings, SpaceKey,
    names::{render_name, topic},
    people::{Driver, People},
};

/// A room as it should be.
#[derive(Debug, Default)]
pub(super) struct Desired {
    pub name: String,
    pub topic: Option<String>,
    pub read_only: bool,
    pub children: Vec<Room>,
    pub members: BTreeSet<OwnedUserId>,
}

/// Everything the directory asks for.
#[derive(Debug, Default)]
pub(super) struct Wanted {
    /// Active drivers' ghost names, by driver.
    pub ghost_names: Vec<(ThreemaId, String)>,
    pub portals: Vec<(ThreemaId, Desired)>,
    pub spaces: BTreeMap<SpaceKey, Desired>,
}

impl Wanted {
    pub fn of(people: &People, settings: &Settings, current: &Current) -> Self {
        let mut wanted = Wanted::default();
        for driver in people.drivers.values() {
            wanted.add_portal(driver, people, settings, current);
        }
        if !wanted.portals.is_empty() || people.active_dispatchers().next().is_some() {
            wanted.add_root(people);
        }
        for (key, space) in &mut wanted.spaces {
            space.name = key.name(settings);
        }
        wanted
    }

    /// A driver's portal, and its place in the spaces; a driver who left before ever getting a
    /// portal gets nothing.
    fn add_portal(
        &mut self,
        driver: &Driver,
        people: &People,
        settings: &Settings,
        current: &Current,
    ) {
        let Some(keys) = spaces_of(driver, settings, current) else {
            return;
        };
        let name = render_name(&settings.ghost_name_template, &driver.id, driver.record);
        let restricted = current.restricted.contains(&driver.id);
        let members = match restricted {
            true => BTreeSet::new(),
            false => people.audience(driver.record, settings),
        };
        if driver.active {
            self.ghost_names.push((driver.id.clone(), name.clone()));
        }
        for key in keys {
            let space = self.spaces.entry(key).or_default();
            space.children.push(Room::Portal(driver.id.clone()));
            space.members.extend(members.iter().cloned());
        }
        let name = match driver.active {
            true => name,
            false => settings.former_name_template.replace("{name}", &name),
        };
        self.portals.push((
            driver.id.clone(),
            Desired {
                name,
                topic: Some(topic(&driver.id, driver.record)),
                read_only: !driver.active || restricted,
                children: Vec::new(),
                members,
            },
        ));
    }

    /// The root space holds the other spaces, and every active dispatcher.
    fn add_root(&mut self, people: &People) {
        let children: Vec<Room> = self
            .spaces
            .keys()
            .filter(|k| **k != SpaceKey::Root)
            .map(|k| Room::Space(k.clone()))
            .collect();
        let root = self.spaces.entry(SpaceKey::Root).or_default();
        root.children.extend(children);
        root.members
            .extend(people.active_dispatchers().map(|(u, _)| u.clone()));
    }

    /// The spaces, the root last: its children are the other spaces.
    pub fn spaces_root_last(&self) -> impl Iterator<Item = (&SpaceKey, &Desired)> {
        let spaces = &self.spaces;
        spaces
            .iter()
            .filter(|(k, _)| **k != SpaceKey::Root)
            .chain(spaces.iter().filter(|(k, _)| **k == SpaceKey::Root))
    }
}

/// The spaces a driver's portal belongs in: one per space attribute they have a value for (the
/// root space if none), or the former drivers' space once they left. `None` for a driver who
/// left before ever getting a portal: nothing to set up or take down.
fn spaces_of(driver: &Driver, settings: &Settings, current: &Current) -> Option<Vec<SpaceKey>> {
    let keys: Vec<SpaceKey> = if driver.active {
        settings
            .space_attributes
            .iter()
            .filter_map(|attribute| {
                Some(SpaceKey::Attribute {
                    name: attribute.clone(),
                    value: driver.record.attribute(attribute)?.to_owned(),
                })
            })
            .collect()
    } else if current.portals.contains_key(&driver.id) {
        vec![SpaceKey::Former]
    } else {
        return None;
    };
    Some(match keys.is_empty() {
        true => vec![SpaceKey::Root],
        false => keys,
    })
}
