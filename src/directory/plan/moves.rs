//! A driver who got a new Threema ID (a new phone, or a lookup of their number that now finds
//! another ID) keeps their portal and its history: the portal recorded as the employee's moves
//! to the new ID rather than a second one being created.

use ruma::ServerName;

use super::{Action, Current, Membership, people::People};
use crate::ids::ghost_user_id;

/// The portals that move to their driver's new Threema ID.
pub(super) fn moved(people: &People, current: &Current) -> Vec<Action> {
    let mut out = Vec::new();
    for driver in people.drivers.values() {
        if current.portals.contains_key(&driver.id) {
            continue;
        }
        let employee = &driver.record.employee_id;
        let theirs = current
            .portals
            .iter()
            .filter(|(_, room)| {
                current.rooms.get(*room).and_then(|s| s.employee.as_ref()) == Some(employee)
            })
            // An ID the directory gives someone now is not a former one.
            .filter(|(id, _)| !people.drivers.contains_key(*id))
            .min_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        if let Some((from, room)) = theirs {
            out.push(Action::MoveDriver {
                room: room.clone(),
                employee: employee.clone(),
                from: from.clone(),
                to: driver.id.clone(),
            });
        }
    }
    out
}

/// `current` as it is once `moves` are done: the portals under their new IDs, the new ghosts
/// in them and the old ones out.
pub(super) fn after(current: &Current, moves: &[Action], domain: &ServerName) -> Current {
    let mut next = current.clone();
    for action in moves {
        let Action::MoveDriver { room, from, to, .. } = action else {
            continue;
        };
        next.portals.remove(from);
        next.portals.insert(to.clone(), room.clone());
        let members = &mut next.rooms.entry(room.clone()).or_default().members;
        members.insert(ghost_user_id(from, domain), Membership::Leave);
        members.insert(ghost_user_id(to, domain), Membership::Join);
    }
    next
}
