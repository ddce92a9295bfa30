use std::collections::BTreeSet;

use super::*;
use crate::directory::Record;
use ruma::OwnedUserId;

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
                employee,
                name,
                topic,
                invite,
            } => {
                let room = new_room(current);
                current.portals.insert(driver.clone(), room.clone());
                let state = current.rooms.get_mut(&room).unwrap();
                state.employee = Some(employee.clone());
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
                let children: Vec<String> = children.iter().map(|c| resolve(current, c)).collect();
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
            Action::LinkPortal { room, employee } => {
                current.rooms.get_mut(room).unwrap().employee = Some(employee.clone());
            }
            Action::MoveDriver { .. } => {
                let domain = <&ruma::ServerName>::try_from("dispatch.test").unwrap();
                *current = moves::after(current, std::slice::from_ref(action), domain);
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
fn a_restricted_drivers_portal_is_read_only_without_dispatchers_and_stays_so() {
    let mut current = Current::default();
    run(&fleet(), &mut current);
    let portal = current.portals[&id("DRV00001")].clone();
    current.restricted.insert(id("DRV00001"));
    let actions = run(&fleet(), &mut current);
    assert!(actions.contains(&Action::SetReadOnly {
        room: portal.clone(),
        read_only: true
    }));
    for desk in ["@nora:dispatch.test", "@boss:dispatch.test"] {
        assert!(
            actions.iter().any(
                |a| matches!(a, Action::Kick { room, user, .. } if *room == portal && user == desk)
            ),
            "{desk} not removed: {actions:?}"
        );
        assert!(!current.rooms[&portal].members[&user(desk)].is_in());
    }
    // Nobody is invited back while it lasts.
    assert_eq!(run(&fleet(), &mut current), vec![]);
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

#[test]
fn a_driver_with_a_new_threema_id_keeps_the_portal() {
    let mut directory = fleet();
    let mut current = Current::default();
    run(&directory, &mut current);
    let room = current.portals[&id("DRV00001")].clone();

    // The phone is new, and so is the Threema ID: the portal moves, nothing is created.
    directory[0] = employee(&[
        ("employee_id", "D1"),
        ("display_name", "Driver 1"),
        ("role", "driver"),
        ("threema_id", "NEW00001"),
        ("depot", "North"),
        ("vehicle", "1"),
    ]);
    let actions = run(&directory, &mut current);
    assert_eq!(
        actions[0],
        Action::MoveDriver {
            room: room.clone(),
            employee: "D1".into(),
            from: id("DRV00001"),
            to: id("NEW00001"),
        }
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::CreatePortal { .. } | Action::SetReadOnly { .. })),
        "{actions:#?}"
    );
    assert_eq!(current.portals.get(&id("NEW00001")), Some(&room));
    assert!(!current.portals.contains_key(&id("DRV00001")));
    assert_eq!(
        run(&directory, &mut current),
        Vec::new(),
        "nothing more to do"
    );
}

#[test]
fn portals_from_before_are_linked_to_their_employee() {
    let directory = fleet();
    let mut current = Current::default();
    run(&directory, &mut current);
    let room = current.portals[&id("DRV00001")].clone();
    current.rooms.get_mut(&room).unwrap().employee = None;
    let actions = run(&directory, &mut current);
    assert_eq!(
        actions,
        [Action::LinkPortal {
            room,
            employee: "D1".into()
        }]
    );
}
