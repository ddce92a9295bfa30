//! What differs between the rooms the directory asks for and what the bridge last set up, as
//! actions: new ghost names and rooms, changes to existing rooms, and the offboarding of what
//! is no longer wanted (emptied spaces, departed dispatchers, their accounts).

use std::collections::{BTreeSet, HashSet};

use ruma::OwnedUserId;
use threema_protocol::ThreemaId;

use super::{
    Action, Current, Membership, Room, RoomState, Settings,
    people::People,
    wanted::{Desired, Wanted},
};

/// The comparison's fixed side: who the directory speaks for and what exists.
pub(super) struct Changes<'a> {
    people: &'a People<'a>,
    settings: &'a Settings,
    current: &'a Current,
    managed: HashSet<&'a OwnedUserId>,
}

impl<'a> Changes<'a> {
    pub fn new(people: &'a People<'a>, settings: &'a Settings, current: &'a Current) -> Self {
        Changes {
            people,
            settings,
            current,
            managed: people.managed(),
        }
    }

    /// Ghosts whose display name is not the one wanted.
    pub fn ghost_names(&self, wanted: &Wanted) -> Vec<Action> {
        wanted
            .ghost_names
            .iter()
            .filter(|(driver, name)| self.current.ghost_names.get(driver) != Some(name))
            .map(|(driver, name)| Action::EnsureGhost {
                driver: driver.clone(),
                name: name.clone(),
            })
            .collect()
    }

    /// Portals and spaces to create: spaces after the portals, so that their children exist.
    pub fn new_rooms(&self, wanted: &Wanted) -> Vec<Action> {
        let portals = wanted
            .portals
            .iter()
            .filter(|(driver, _)| !self.current.portals.contains_key(driver))
            .map(|(driver, desired)| Action::CreatePortal {
                driver: driver.clone(),
                employee: self.people.drivers[driver].record.employee_id.clone(),
                name: desired.name.clone(),
                topic: desired.topic.clone().unwrap_or_default(),
                invite: desired.members.iter().cloned().collect(),
            });
        let spaces = wanted
            .spaces_root_last()
            .filter(|(key, _)| !self.current.spaces.contains_key(key))
            .map(|(key, desired)| Action::CreateSpace {
                key: key.clone(),
                name: desired.name.clone(),
                children: desired.children.clone(),
                invite: desired.members.iter().cloned().collect(),
            });
        portals.chain(spaces).collect()
    }

    /// Existing portals whose employee is not recorded yet (or another one's).
    pub fn portal_links(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for driver in self.people.drivers.values() {
            let employee = &driver.record.employee_id;
            if let Some(room) = self.current.portals.get(&driver.id)
                && self.state(room).employee.as_ref() != Some(employee)
            {
                out.push(Action::LinkPortal {
                    room: room.clone(),
                    employee: employee.clone(),
                });
            }
        }
        out
    }

    /// Portals and spaces that exist, brought in line; in a portal, the driver's ghost is in
    /// the room unless it is read-only.
    pub fn existing_rooms(&self, wanted: &Wanted) -> Vec<Action> {
        let mut out = Vec::new();
        for (driver, desired) in &wanted.portals {
            if let Some(room) = self.current.portals.get(driver) {
                let state = self.state(room);
                self.update_room(room, desired, &state, &mut out);
                out.extend(self.ghost_presence(room, driver, desired, &state));
            }
        }
        for (key, desired) in wanted.spaces_root_last() {
            if let Some(room) = self.current.spaces.get(key) {
                self.update_room(room, desired, &self.state(room), &mut out);
            }
        }
        out
    }

    /// Spaces no longer wanted (a depot without drivers) are emptied.
    pub fn unwanted_spaces(&self, wanted: &Wanted) -> Vec<Action> {
        let mut out = Vec::new();
        for (key, room) in &self.current.spaces {
            if !wanted.spaces.contains_key(key) {
                out.extend(
                    self.state(room)
                        .children
                        .iter()
                        .map(|child| Action::RemoveChild {
                            space: room.clone(),
                            child: child.clone(),
                        }),
                );
            }
        }
        out
    }

    /// A departed dispatcher leaves every room the bridge knows, managed here or not (the
    /// quarantine room, portals of drivers outside the directory). The wanted rooms have
    /// already lost them in [`Self::existing_rooms`].
    pub fn departed_dispatchers(&self, wanted: &Wanted) -> Vec<Action> {
        let current = self.current;
        let wanted_rooms: HashSet<&String> = wanted
            .portals
            .iter()
            .filter_map(|(id, _)| current.portals.get(id))
            .chain(wanted.spaces.keys().filter_map(|k| current.spaces.get(k)))
            .collect();
        let mut other_rooms: Vec<(&String, &RoomState)> = current
            .rooms
            .iter()
            .filter(|(room, _)| !wanted_rooms.contains(room))
            .collect();
        other_rooms.sort_by_key(|(room, _)| *room);
        let mut out = Vec::new();
        for (room, state) in other_rooms {
            for (user, membership) in &state.members {
                if membership.is_in() && self.people.has_departed(user) {
                    out.push(Action::Kick {
                        room: room.clone(),
                        user: user.clone(),
                        reason: "left the company".into(),
                    });
                }
            }
        }
        out
    }

    /// Departed dispatchers' accounts, if the settings ask for it and it was not done yet.
    pub fn deactivations(&self) -> Vec<Action> {
        if !self.settings.deactivate_dispatchers {
            return Vec::new();
        }
        self.people
            .dispatchers
            .iter()
            .filter(|(user, (_, active))| !active && !self.current.deactivated.contains(*user))
            .map(|(user, _)| Action::Deactivate { user: user.clone() })
            .collect()
    }

    /// What the bridge last set in a room (nothing, if it recorded nothing).
    fn state(&self, room: &str) -> RoomState {
        self.current.rooms.get(room).cloned().unwrap_or_default()
    }

    /// The ghost joins a portal that is writable again, and leaves one that became read-only.
    fn ghost_presence(
        &self,
        room: &str,
        driver: &ThreemaId,
        desired: &Desired,
        state: &RoomState,
    ) -> Option<Action> {
        let ghost = state.members.iter().find(|(user, _)| {
            crate::ids::parse_ghost_user_id(user, &self.settings.domain).as_ref() == Some(driver)
        });
        let ghost_in = ghost.is_none_or(|(_, m)| m.is_in());
        match (desired.read_only, ghost_in) {
            (false, false) => Some(Action::GhostJoin {
                room: room.into(),
                driver: driver.clone(),
            }),
            (true, true) => Some(Action::GhostLeave {
                room: room.into(),
                driver: driver.clone(),
            }),
            _ => None,
        }
    }

    /// Name, topic, children and members of an existing room.
    fn update_room(&self, room: &str, desired: &Desired, state: &RoomState, out: &mut Vec<Action>) {
        if state.name.as_deref() != Some(&desired.name) {
            out.push(Action::SetName {
                room: room.into(),
                name: desired.name.clone(),
            });
        }
        if let Some(topic) = &desired.topic
            && state.topic.as_ref() != Some(topic)
        {
            out.push(Action::SetTopic {
                room: room.into(),
                topic: topic.clone(),
            });
        }
        if state.read_only != desired.read_only {
            out.push(Action::SetReadOnly {
                room: room.into(),
                read_only: desired.read_only,
            });
        }
        self.update_children(room, desired, state, out);
        self.update_members(room, desired, state, out);
    }

    /// Children the room lacks are added (by what they are: they may be created by the same
    /// plan), children no longer wanted removed.
    fn update_children(
        &self,
        room: &str,
        desired: &Desired,
        state: &RoomState,
        out: &mut Vec<Action>,
    ) {
        let mut wanted_children = BTreeSet::new();
        for child in &desired.children {
            let id = match child {
                Room::Portal(driver) => self.current.portals.get(driver),
                Room::Space(key) => self.current.spaces.get(key),
            };
            match id {
                Some(id) if state.children.contains(id) => {}
                _ => out.push(Action::AddChild {
                    space: room.into(),
                    child: child.clone(),
                }),
            }
            wanted_children.extend(id.cloned());
        }
        for child in state.children.difference(&wanted_children) {
            out.push(Action::RemoveChild {
                space: room.into(),
                child: child.clone(),
            });
        }
    }

    /// Dispatchers who should be in and are not are invited (again, if the bridge removed
    /// them; not if they left by themselves); managed members who should not be are removed.
    fn update_members(
        &self,
        room: &str,
        desired: &Desired,
        state: &RoomState,
        out: &mut Vec<Action>,
    ) {
        for user in &desired.members {
            if matches!(state.members.get(user), None | Some(Membership::Kicked)) {
                out.push(Action::Invite {
                    room: room.into(),
                    user: user.clone(),
                });
            }
        }
        for (user, membership) in &state.members {
            if membership.is_in() && self.managed.contains(user) && !desired.members.contains(user)
            {
                out.push(Action::Kick {
                    room: room.into(),
                    user: user.clone(),
                    reason: "no longer has access to this driver".into(),
                });
            }
        }
    }
}
