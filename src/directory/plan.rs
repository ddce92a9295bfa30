//! Pure planning: what the bridge should have set up for the directory (ghost names, portals,
//! spaces, who is invited where, who is read-only), compared with what it last set up, as a list
//! of actions. `bridge::directory` applies them and records each one, so an unchanged directory
//! plans nothing and costs no homeserver call.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ruma::{OwnedServerName, OwnedUserId};
use time::Date;

use super::{Employee, Record, Role};
use threema_protocol::ThreemaId;

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
    /// `bridge.dispatchers`: see every driver unless the directory says otherwise.
    pub extra_dispatchers: Vec<OwnedUserId>,
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
            SpaceKey::Attribute { name, value } => format!("{}: {value}", capitalise(name)),
        }
    }
}

/// A membership the bridge recorded (its own invites and kicks, and what the homeserver
/// reported since).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Invite,
    Join,
    /// Left by themselves: not invited again.
    Leave,
    /// Removed by the bridge: invited again if they regain access.
    Kicked,
    Ban,
}

impl Membership {
    pub fn as_str(self) -> &'static str {
        match self {
            Membership::Invite => "invite",
            Membership::Join => "join",
            Membership::Leave => "leave",
            Membership::Kicked => "kicked",
            Membership::Ban => "ban",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invite" => Membership::Invite,
            "join" => Membership::Join,
            "leave" => Membership::Leave,
            "kicked" => Membership::Kicked,
            "ban" => Membership::Ban,
            _ => return None,
        })
    }

    fn is_in(self) -> bool {
        matches!(self, Membership::Invite | Membership::Join)
    }
}

/// What the bridge last set in one room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomState {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub read_only: bool,
    /// Space children, by room id.
    pub children: BTreeSet<String>,
    pub members: BTreeMap<OwnedUserId, Membership>,
}

/// What the bridge last set up, from the store.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub portals: HashMap<ThreemaId, String>,
    pub ghost_names: HashMap<ThreemaId, String>,
    pub spaces: HashMap<SpaceKey, String>,
    pub rooms: HashMap<String, RoomState>,
    pub deactivated: HashSet<OwnedUserId>,
}

/// A room by what it is, for rooms the same plan creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Room {
    Portal(ThreemaId),
    Space(SpaceKey),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Register the ghost if needed and give it this display name.
    EnsureGhost {
        driver: ThreemaId,
        name: String,
    },
    CreatePortal {
        driver: ThreemaId,
        name: String,
        topic: String,
        invite: Vec<OwnedUserId>,
    },
    /// Created after the portals, so its children are all known.
    CreateSpace {
        key: SpaceKey,
        name: String,
        children: Vec<Room>,
        invite: Vec<OwnedUserId>,
    },
    SetName {
        room: String,
        name: String,
    },
    SetTopic {
        room: String,
        topic: String,
    },
    AddChild {
        space: String,
        child: Room,
    },
    RemoveChild {
        space: String,
        child: String,
    },
    Invite {
        room: String,
        user: OwnedUserId,
    },
    Kick {
        room: String,
        user: OwnedUserId,
        reason: String,
    },
    /// Nobody but the bot may post (a former driver's portal), or everybody may again.
    SetReadOnly {
        room: String,
        read_only: bool,
    },
    GhostJoin {
        room: String,
        driver: ThreemaId,
    },
    GhostLeave {
        room: String,
        driver: ThreemaId,
    },
    Deactivate {
        user: OwnedUserId,
    },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let room = |r: &Room| match r {
            Room::Portal(id) => format!("portal of {id}"),
            Room::Space(key) => format!("space {}", key.key()),
        };
        match self {
            Action::EnsureGhost { driver, name } => write!(f, "ghost of {driver}: name {name:?}"),
            Action::CreatePortal {
                driver,
                name,
                invite,
                ..
            } => write!(
                f,
                "create portal {name:?} for {driver}, inviting {}",
                invite.len()
            ),
            Action::CreateSpace {
                key,
                name,
                children,
                invite,
            } => write!(
                f,
                "create space {name:?} ({}) with {} rooms, inviting {}",
                key.key(),
                children.len(),
                invite.len()
            ),
            Action::SetName { room, name } => write!(f, "rename {room} to {name:?}"),
            Action::SetTopic { room, topic } => write!(f, "topic of {room}: {topic:?}"),
            Action::AddChild { space, child } => write!(f, "add {} to space {space}", room(child)),
            Action::RemoveChild { space, child } => write!(f, "remove {child} from space {space}"),
            Action::Invite { room, user } => write!(f, "invite {user} to {room}"),
            Action::Kick { room, user, reason } => {
                write!(f, "remove {user} from {room} ({reason})")
            }
            Action::SetReadOnly { room, read_only } => write!(
                f,
                "{room}: {}",
                if *read_only { "read-only" } else { "writable" }
            ),
            Action::GhostJoin { driver, room } => write!(f, "ghost of {driver} joins {room}"),
            Action::GhostLeave { driver, room } => write!(f, "ghost of {driver} leaves {room}"),
            Action::Deactivate { user } => write!(f, "deactivate the account {user}"),
        }
    }
}

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

/// Dispatchers by Matrix ID: their record (`None` for `bridge.dispatchers` not in the
/// directory) and whether they are active.
pub fn dispatchers<'a>(
    directory: &'a [Employee],
    settings: &Settings,
    today: Date,
) -> BTreeMap<OwnedUserId, (Option<&'a Record>, bool)> {
    let mut out: BTreeMap<OwnedUserId, (Option<&'a Record>, bool)> = settings
        .extra_dispatchers
        .iter()
        .map(|user| (user.clone(), (None, true)))
        .collect();
    for employee in directory
        .iter()
        .filter(|e| e.record.role == Role::Dispatcher)
    {
        let Some(user) = employee.record.matrix_id.clone() else {
            continue;
        };
        let active = employee.is_active_on(today);
        if out
            .get(&user)
            .is_none_or(|(record, known_active)| record.is_none() || !known_active)
        {
            out.insert(user, (Some(&employee.record), active));
        }
    }
    out
}

/// May this dispatcher see this driver? Scope attributes the dispatcher has a value for must
/// match (`North|South` lists several).
pub fn may_see(dispatcher: Option<&Record>, driver: &Record, settings: &Settings) -> bool {
    let Some(dispatcher) = dispatcher else {
        return true;
    };
    settings.scope_attributes.iter().all(|attribute| {
        let Some(allowed) = dispatcher.attribute(attribute) else {
            return true;
        };
        let value = driver.attribute(attribute).unwrap_or_default();
        allowed
            .split(['|', ','])
            .any(|a| a.trim().eq_ignore_ascii_case(value.trim()))
    })
}

/// A room as it should be.
#[derive(Debug, Default)]
struct Desired {
    name: String,
    topic: Option<String>,
    read_only: bool,
    children: Vec<Room>,
    members: BTreeSet<OwnedUserId>,
}

pub fn plan(
    directory: &[Employee],
    looked_up: &HashMap<String, ThreemaId>,
    settings: &Settings,
    current: &Current,
    today: Date,
) -> Vec<Action> {
    let drivers = drivers(directory, looked_up, today);
    let dispatchers = dispatchers(directory, settings, today);
    let active_dispatchers: Vec<(&OwnedUserId, Option<&Record>)> = dispatchers
        .iter()
        .filter(|(_, (_, active))| *active)
        .map(|(user, (record, _))| (user, *record))
        .collect();
    // Only people the directory (or config) speaks for are invited or removed; anyone else in
    // a room is none of its business.
    let managed: HashSet<&OwnedUserId> = dispatchers.keys().collect();

    let mut ghosts = Vec::new();
    let mut portals: Vec<(ThreemaId, Desired)> = Vec::new();
    let mut spaces: BTreeMap<SpaceKey, Desired> = BTreeMap::new();
    for driver in drivers.values() {
        let name = render_name(&settings.ghost_name_template, &driver.id, driver.record);
        let members: BTreeSet<OwnedUserId> = active_dispatchers
            .iter()
            .filter(|(_, record)| may_see(*record, driver.record, settings))
            .map(|(user, _)| (*user).clone())
            .collect();
        let keys: Vec<SpaceKey> = if driver.active {
            if current.ghost_names.get(&driver.id) != Some(&name) {
                ghosts.push(Action::EnsureGhost {
                    driver: driver.id.clone(),
                    name: name.clone(),
                });
            }
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
            // Left before ever getting a portal: nothing to set up or take down.
            continue;
        };
        let keys = if keys.is_empty() {
            vec![SpaceKey::Root]
        } else {
            keys
        };
        for key in keys {
            let space = spaces.entry(key).or_default();
            space.children.push(Room::Portal(driver.id.clone()));
            space.members.extend(members.iter().cloned());
        }
        let name = match driver.active {
            true => name,
            false => settings.former_name_template.replace("{name}", &name),
        };
        portals.push((
            driver.id.clone(),
            Desired {
                name,
                topic: Some(topic(&driver.id, driver.record)),
                read_only: !driver.active,
                children: Vec::new(),
                members,
            },
        ));
    }
    if !portals.is_empty() || !active_dispatchers.is_empty() {
        let children: Vec<Room> = spaces
            .keys()
            .filter(|k| **k != SpaceKey::Root)
            .map(|k| Room::Space(k.clone()))
            .collect();
        let root = spaces.entry(SpaceKey::Root).or_default();
        root.children.extend(children);
        root.members
            .extend(active_dispatchers.iter().map(|(u, _)| (*u).clone()));
    }
    for (key, space) in &mut spaces {
        space.name = key.name(settings);
    }

    let mut actions = ghosts;
    let mut updates = Vec::new();
    for (driver, desired) in &portals {
        match current.portals.get(driver) {
            None => actions.push(Action::CreatePortal {
                driver: driver.clone(),
                name: desired.name.clone(),
                topic: desired.topic.clone().unwrap_or_default(),
                invite: desired.members.iter().cloned().collect(),
            }),
            Some(room) => {
                let state = current.rooms.get(room).cloned().unwrap_or_default();
                update_room(room, desired, &state, current, &managed, &mut updates);
                let ghost = state.members.iter().find(|(user, _)| {
                    crate::ids::parse_ghost_user_id(user, &settings.domain).as_ref() == Some(driver)
                });
                let ghost_in = ghost.is_none_or(|(_, m)| m.is_in());
                match (desired.read_only, ghost_in) {
                    (false, false) => updates.push(Action::GhostJoin {
                        room: room.clone(),
                        driver: driver.clone(),
                    }),
                    (true, true) => updates.push(Action::GhostLeave {
                        room: room.clone(),
                        driver: driver.clone(),
                    }),
                    _ => {}
                }
            }
        }
    }
    // Root last: its children are the other spaces.
    let order = spaces
        .iter()
        .filter(|(k, _)| **k != SpaceKey::Root)
        .chain(spaces.iter().filter(|(k, _)| **k == SpaceKey::Root));
    for (key, desired) in order {
        match current.spaces.get(key) {
            None => actions.push(Action::CreateSpace {
                key: key.clone(),
                name: desired.name.clone(),
                children: desired.children.clone(),
                invite: desired.members.iter().cloned().collect(),
            }),
            Some(room) => {
                let state = current.rooms.get(room).cloned().unwrap_or_default();
                update_room(room, desired, &state, current, &managed, &mut updates);
            }
        }
    }
    // Spaces no longer wanted (a depot without drivers) are emptied.
    for (key, room) in &current.spaces {
        if !spaces.contains_key(key) {
            let state = current.rooms.get(room).cloned().unwrap_or_default();
            updates.extend(state.children.iter().map(|child| Action::RemoveChild {
                space: room.clone(),
                child: child.clone(),
            }));
        }
    }
    // A departed dispatcher leaves every room the bridge knows, managed here or not
    // (the quarantine room, portals of drivers outside the directory).
    let wanted: HashSet<&String> = portals
        .iter()
        .filter_map(|(id, _)| current.portals.get(id))
        .chain(spaces.keys().filter_map(|k| current.spaces.get(k)))
        .collect();
    let mut other_rooms: Vec<(&String, &RoomState)> = current
        .rooms
        .iter()
        .filter(|(room, _)| !wanted.contains(room))
        .collect();
    other_rooms.sort_by_key(|(room, _)| *room);
    for (room, state) in other_rooms {
        for (user, membership) in &state.members {
            if membership.is_in() && dispatchers.get(user).is_some_and(|(_, active)| !active) {
                updates.push(Action::Kick {
                    room: room.clone(),
                    user: user.clone(),
                    reason: "left the company".into(),
                });
            }
        }
    }
    if settings.deactivate_dispatchers {
        for (user, (record, active)) in &dispatchers {
            if record.is_some() && !active && !current.deactivated.contains(user) {
                updates.push(Action::Deactivate { user: user.clone() });
            }
        }
    }
    actions.extend(updates);
    actions
}

/// Name, topic, children and members of an existing room.
fn update_room(
    room: &str,
    desired: &Desired,
    state: &RoomState,
    current: &Current,
    managed: &HashSet<&OwnedUserId>,
    out: &mut Vec<Action>,
) {
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
    let mut wanted_children = BTreeSet::new();
    for child in &desired.children {
        let id = match child {
            Room::Portal(driver) => current.portals.get(driver),
            Room::Space(key) => current.spaces.get(key),
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
    for user in &desired.members {
        if matches!(state.members.get(user), None | Some(Membership::Kicked)) {
            out.push(Action::Invite {
                room: room.into(),
                user: user.clone(),
            });
        }
    }
    for (user, membership) in &state.members {
        if membership.is_in() && managed.contains(user) && !desired.members.contains(user) {
            out.push(Action::Kick {
                room: room.into(),
                user: user.clone(),
                reason: "no longer has access to this driver".into(),
            });
        }
    }
}

/// The template with the record's fields filled in. A bracketed part (`(Truck {vehicle})`,
/// `[{team}]`) whose placeholders are all empty is left out, so a missing attribute leaves no
/// `(Truck )` behind.
pub fn render_name(template: &str, id: &ThreemaId, record: &Record) -> String {
    let value = |key: &str| match key {
        "display_name" => record.display_name.clone(),
        "employee_id" => record.employee_id.clone(),
        "threema_id" => id.to_string(),
        other => record
            .attribute(&other.to_lowercase())
            .unwrap_or_default()
            .to_owned(),
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find(['(', '[']) {
        out.push_str(&fill(&rest[..open], &value).0);
        let close = if rest[open..].starts_with('(') {
            ')'
        } else {
            ']'
        };
        let Some(len) = rest[open..].find(close) else {
            break;
        };
        let group = &rest[open..=open + len];
        let (filled, any_value) = fill(group, &value);
        if any_value || !group.contains('{') {
            out.push_str(&filled);
        }
        rest = &rest[open + len + 1..];
    }
    out.push_str(&fill(rest, &value).0);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Fills `{placeholders}`; also says whether any of them had a value.
fn fill(text: &str, value: &impl Fn(&str) -> String) -> (String, bool) {
    let (mut out, mut any_value, mut rest) = (String::new(), false, text);
    while let Some(start) = rest.find('{') {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&rest[..start]);
        let filled = value(&rest[start + 1..start + len]);
        any_value |= !filled.is_empty();
        out.push_str(&filled);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    (out, any_value)
}

/// `Threema ABCD1234 · Depot: North · Vehicle: 17`.
fn topic(id: &ThreemaId, record: &Record) -> String {
    std::iter::once(format!("Threema {id}"))
        .chain(
            record
                .attributes
                .iter()
                .map(|(k, v)| format!("{}: {v}", capitalise(k))),
        )
        .collect::<Vec<_>>()
        .join(" · ")
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        time::macros::date!(2026 - 11 - 22)
    }

    fn user(s: &str) -> OwnedUserId {
        OwnedUserId::try_from(s).unwrap()
    }

    fn id(s: &str) -> ThreemaId {
        ThreemaId::parse(s).unwrap()
    }

    fn employee(fields: &[(&str, &str)]) -> Employee {
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("active".to_string(), "true".to_string())])
            .collect();
        Employee {
            record: Record::from_fields(&fields).unwrap(),
            source: "csv".into(),
            removed: false,
        }
    }

    fn driver(n: u32, depot: &str) -> Employee {
        employee(&[
            ("employee_id", &format!("D{n}")),
            ("display_name", &format!("Driver {n}")),
            ("role", "driver"),
            ("threema_id", &format!("DRV{n:05}")),
            ("depot", depot),
            ("vehicle", &format!("{n}")),
        ])
    }

    fn dispatcher(name: &str, depot: &str) -> Employee {
        employee(&[
            ("employee_id", &format!("P-{name}")),
            ("display_name", name),
            ("role", "dispatcher"),
            ("matrix_id", &format!("@{name}:dispatch.test")),
            ("depot", depot),
        ])
    }

    fn settings() -> Settings {
        Settings {
            domain: "dispatch.test".try_into().unwrap(),
            space_attributes: vec!["depot".into()],
            scope_attributes: vec!["depot".into()],
            ghost_name_template: "{display_name} (Truck {vehicle})".into(),
            former_name_template: "{name} (former)".into(),
            root_space_name: "Dispatch".into(),
            former_space_name: "Former employees".into(),
            extra_dispatchers: Vec::new(),
            deactivate_dispatchers: true,
        }
    }

    /// What the bridge records after applying `actions`, the way `bridge::directory` does.
    fn apply(current: &mut Current, actions: &[Action]) {
        let mut next_room = current.rooms.len();
        let mut new_room = |current: &mut Current| {
            next_room += 1;
            let room = format!("!r{next_room}:dispatch.test");
            current.rooms.insert(room.clone(), RoomState::default());
            room
        };
        let resolve = |current: &Current, room: &Room| match room {
            Room::Portal(driver) => current.portals[driver].clone(),
            Room::Space(key) => current.spaces[key].clone(),
        };
        for action in actions {
            match action {
                Action::EnsureGhost { driver, name } => {
                    current.ghost_names.insert(driver.clone(), name.clone());
                }
                Action::CreatePortal {
                    driver,
                    name,
                    topic,
                    invite,
                } => {
                    let room = new_room(current);
                    current.portals.insert(driver.clone(), room.clone());
                    let state = current.rooms.get_mut(&room).unwrap();
                    state.name = Some(name.clone());
                    state.topic = Some(topic.clone());
                    let ghost = crate::ids::ghost_user_id(
                        driver,
                        <&ruma::ServerName>::try_from("dispatch.test").unwrap(),
                    );
                    state.members.insert(ghost, Membership::Join);
                    for user in invite {
                        state.members.insert(user.clone(), Membership::Invite);
                    }
                }
                Action::CreateSpace {
                    key,
                    name,
                    children,
                    invite,
                } => {
                    let room = new_room(current);
                    current.spaces.insert(key.clone(), room.clone());
                    let children: Vec<String> =
                        children.iter().map(|c| resolve(current, c)).collect();
                    let state = current.rooms.get_mut(&room).unwrap();
                    state.name = Some(name.clone());
                    state.children.extend(children);
                    for user in invite {
                        state.members.insert(user.clone(), Membership::Invite);
                    }
                }
                Action::SetName { room, name } => {
                    current.rooms.get_mut(room).unwrap().name = Some(name.clone())
                }
                Action::SetTopic { room, topic } => {
                    current.rooms.get_mut(room).unwrap().topic = Some(topic.clone())
                }
                Action::AddChild { space, child } => {
                    let child = resolve(current, child);
                    current.rooms.get_mut(space).unwrap().children.insert(child);
                }
                Action::RemoveChild { space, child } => {
                    current.rooms.get_mut(space).unwrap().children.remove(child);
                }
                Action::Invite { room, user } => {
                    let state = current.rooms.get_mut(room).unwrap();
                    state.members.insert(user.clone(), Membership::Invite);
                }
                Action::Kick { room, user, .. } => {
                    let state = current.rooms.get_mut(room).unwrap();
                    state.members.insert(user.clone(), Membership::Kicked);
                }
                Action::SetReadOnly { room, read_only } => {
                    current.rooms.get_mut(room).unwrap().read_only = *read_only
                }
                Action::GhostJoin { room, driver } | Action::GhostLeave { room, driver } => {
                    let ghost = crate::ids::ghost_user_id(
                        driver,
                        <&ruma::ServerName>::try_from("dispatch.test").unwrap(),
                    );
                    let membership = match action {
                        Action::GhostJoin { .. } => Membership::Join,
                        _ => Membership::Leave,
                    };
                    current
                        .rooms
                        .get_mut(room)
                        .unwrap()
                        .members
                        .insert(ghost, membership);
                }
                Action::Deactivate { user } => {
                    current.deactivated.insert(user.clone());
                }
            }
        }
    }

    fn run(directory: &[Employee], current: &mut Current) -> Vec<Action> {
        let actions = plan(directory, &HashMap::new(), &settings(), current, today());
        apply(current, &actions);
        actions
    }

    fn fleet() -> Vec<Employee> {
        vec![
            driver(1, "North"),
            driver(2, "North"),
            driver(3, "South"),
            dispatcher("nora", "North"),
            dispatcher("boss", ""),
        ]
    }

    fn space_children(current: &Current, key: &SpaceKey) -> BTreeSet<String> {
        current.rooms[&current.spaces[key]].children.clone()
    }

    #[test]
    fn provisioning_then_nothing_to_do() {
        let mut current = Current::default();
        let actions = run(&fleet(), &mut current);
        assert_eq!(
            actions[0],
            Action::EnsureGhost {
                driver: id("DRV00001"),
                name: "Driver 1 (Truck 1)".into()
            }
        );
        // Nora (depot North) is invited to North's portals only; the boss to all.
        let invites = |driver: &str| {
            actions
                .iter()
                .find_map(|a| match a {
                    Action::CreatePortal {
                        driver: d, invite, ..
                    } if d.as_str() == driver => Some(invite.clone()),
                    _ => None,
                })
                .unwrap()
        };
        assert_eq!(
            invites("DRV00001"),
            vec![user("@boss:dispatch.test"), user("@nora:dispatch.test")]
        );
        assert_eq!(invites("DRV00003"), vec![user("@boss:dispatch.test")]);
        // Spaces come after the portals, the root space last.
        let created: Vec<&SpaceKey> = actions
            .iter()
            .filter_map(|a| match a {
                Action::CreateSpace { key, .. } => Some(key),
                _ => None,
            })
            .collect();
        assert_eq!(created.len(), 3);
        assert_eq!(*created[2], SpaceKey::Root);
        let north = SpaceKey::Attribute {
            name: "depot".into(),
            value: "North".into(),
        };
        assert_eq!(space_children(&current, &north).len(), 2);
        assert_eq!(space_children(&current, &SpaceKey::Root).len(), 2);
        assert_eq!(
            current.rooms[&current.spaces[&north]].name.as_deref(),
            Some("Depot: North")
        );

        assert_eq!(
            run(&fleet(), &mut current),
            vec![],
            "an unchanged directory plans nothing"
        );
    }

    #[test]
    fn a_new_depot_and_a_rename_move_and_rename() {
        let mut current = Current::default();
        run(&fleet(), &mut current);
        let mut next = fleet();
        next[0] = driver(1, "East");
        next[0].record.display_name = "Driverine 1".into();
        let actions = run(&next, &mut current);
        let portal = current.portals[&id("DRV00001")].clone();
        assert!(actions.contains(&Action::EnsureGhost {
            driver: id("DRV00001"),
            name: "Driverine 1 (Truck 1)".into()
        }));
        assert!(actions.contains(&Action::SetName {
            room: portal.clone(),
            name: "Driverine 1 (Truck 1)".into()
        }));
        let north = SpaceKey::Attribute {
            name: "depot".into(),
            value: "North".into(),
        };
        let east = SpaceKey::Attribute {
            name: "depot".into(),
            value: "East".into(),
        };
        assert!(!space_children(&current, &north).contains(&portal));
        assert!(space_children(&current, &east).contains(&portal));
        assert!(space_children(&current, &SpaceKey::Root).contains(&current.spaces[&east]));
        // Nora (North) loses the driver who moved East; the boss keeps them.
        assert_eq!(
            current.rooms[&portal].members[&user("@nora:dispatch.test")],
            Membership::Kicked
        );
        assert_eq!(
            current.rooms[&portal].members[&user("@boss:dispatch.test")],
            Membership::Invite
        );
        assert_eq!(run(&next, &mut current), vec![]);
    }

    #[test]
    fn a_departed_dispatcher_leaves_every_room_and_comes_back() {
        let mut current = Current::default();
        run(&fleet(), &mut current);
        // A room outside the directory's portals (the quarantine room) where Nora is.
        current.rooms.insert(
            "!quarantine:dispatch.test".into(),
            RoomState {
                members: [(user("@nora:dispatch.test"), Membership::Join)].into(),
                ..Default::default()
            },
        );
        let mut next = fleet();
        next[3].record.active = false;
        let actions = run(&next, &mut current);
        let nora = user("@nora:dispatch.test");
        let kicked: Vec<&String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Kick { room, user, .. } if *user == nora => Some(room),
                _ => None,
            })
            .collect();
        // Two portals, the North space, the root space, the quarantine room.
        assert_eq!(kicked.len(), 5, "{actions:#?}");
        assert!(actions.contains(&Action::Deactivate { user: nora.clone() }));
        assert!(
            current
                .rooms
                .values()
                .all(|r| r.members.get(&nora).is_none_or(|m| !m.is_in()))
        );
        assert_eq!(run(&next, &mut current), vec![]);
        // Back again: invited where she was removed.
        let actions = run(&fleet(), &mut current);
        assert_eq!(
            actions
                .iter()
                .filter(|a| matches!(a, Action::Invite { .. }))
                .count(),
            4
        );
    }

    #[test]
    fn a_driver_past_the_leaving_date_becomes_former() {
        let mut current = Current::default();
        run(&fleet(), &mut current);
        let mut next = fleet();
        next[2].record.leave_date = Some(today());
        let actions = run(&next, &mut current);
        let portal = current.portals[&id("DRV00003")].clone();
        assert!(actions.contains(&Action::SetName {
            room: portal.clone(),
            name: "Driver 3 (Truck 3) (former)".into()
        }));
        assert!(actions.contains(&Action::SetReadOnly {
            room: portal.clone(),
            read_only: true
        }));
        assert!(actions.contains(&Action::GhostLeave {
            room: portal.clone(),
            driver: id("DRV00003")
        }));
        assert!(space_children(&current, &SpaceKey::Former).contains(&portal));
        let south = SpaceKey::Attribute {
            name: "depot".into(),
            value: "South".into(),
        };
        assert!(space_children(&current, &south).is_empty());
        // The desk keeps reading the history.
        assert!(current.rooms[&portal].members[&user("@boss:dispatch.test")].is_in());
        assert_eq!(run(&next, &mut current), vec![]);
        // Re-activated: writable, ghost back, name back.
        let actions = run(&fleet(), &mut current);
        assert!(actions.contains(&Action::SetReadOnly {
            room: portal.clone(),
            read_only: false
        }));
        assert!(actions.contains(&Action::GhostJoin {
            room: portal.clone(),
            driver: id("DRV00003")
        }));
        assert_eq!(
            current.rooms[&portal].name.as_deref(),
            Some("Driver 3 (Truck 3)")
        );
    }

    #[test]
    fn a_driver_who_never_had_a_portal_gets_none_when_leaving() {
        let mut departed = driver(9, "North");
        departed.record.active = false;
        let actions = plan(
            &[departed],
            &HashMap::new(),
            &settings(),
            &Current::default(),
            today(),
        );
        assert_eq!(actions, vec![]);
    }

    #[test]
    fn names_from_the_template() {
        let record = driver(17, "North").record;
        let erika = |template: &str| render_name(template, &id("DRV00017"), &record);
        assert_eq!(
            erika("{display_name} (Truck {vehicle})"),
            "Driver 17 (Truck 17)"
        );
        assert_eq!(erika("{display_name} ({team})"), "Driver 17");
        assert_eq!(erika("{display_name} (Truck {team})"), "Driver 17");
        assert_eq!(
            erika("{display_name} (Truck {vehicle}) (driver)"),
            "Driver 17 (Truck 17) (driver)"
        );
        assert_eq!(
            erika("{Depot} · {display_name} [{threema_id}]"),
            "North · Driver 17 [DRV00017]"
        );
    }
}
