//! The directory sync's report in words: each change to the employee records and each action
//! on the homeserver. English here is also what the audit log and the command line say.

use super::Texts;
use crate::directory::{
    plan::{Action, Room},
    snapshot::{Change, Refused, differences},
};

impl Texts {
    /// Why the safety stop refused a snapshot.
    pub fn snapshot_refused(&self, refused: &Refused) -> String {
        match refused {
            Refused::Empty { origin } => {
                tr!(self, "snapshot-empty", origin = origin.as_str())
            }
            Refused::TooManyOffboarded {
                origin,
                offboard,
                active,
                percent,
                allowed,
            } => tr!(
                self,
                "snapshot-too-many-offboarded",
                origin = origin.as_str(),
                offboard = *offboard,
                active = *active,
                percent = format!("{percent:.0}"),
                allowed = format!("{allowed:.0}")
            ),
        }
    }

    /// `added driver Tom Driver (E-17)`: contact details only by name (see [`differences`]).
    pub fn directory_change(&self, change: &Change) -> String {
        match change {
            Change::Added(r) => tr!(
                self,
                "change-added",
                role = r.role.as_str(),
                name = r.display_name.as_str(),
                id = r.employee_id.as_str(),
                active = if r.active { "yes" } else { "no" }
            ),
            Change::Removed(r) => tr!(
                self,
                "change-removed",
                name = r.display_name.as_str(),
                id = r.employee_id.as_str()
            ),
            Change::Changed(before, after) => tr!(
                self,
                "change-changed",
                name = after.display_name.as_str(),
                id = after.employee_id.as_str(),
                what = differences(before, after).join(", ")
            ),
        }
    }

    /// One action of the plan.
    pub fn directory_action(&self, action: &Action) -> String {
        let room = |r: &Room| match r {
            Room::Portal(id) => tr!(self, "action-room-portal", id = id.as_str()),
            Room::Space(key) => tr!(self, "action-room-space", key = key.key()),
        };
        match action {
            Action::EnsureGhost { driver, name } => tr!(
                self,
                "action-ghost",
                driver = driver.as_str(),
                name = quoted(name)
            ),
            Action::CreatePortal {
                driver,
                name,
                invite,
                ..
            } => tr!(
                self,
                "action-create-portal",
                name = quoted(name),
                driver = driver.as_str(),
                count = invite.len()
            ),
            Action::LinkPortal { room, employee } => tr!(
                self,
                "action-link-portal",
                room = room.as_str(),
                employee = employee.as_str()
            ),
            Action::MoveDriver { room, from, to, .. } => tr!(
                self,
                "action-move-driver",
                room = room.as_str(),
                from = from.as_str(),
                to = to.as_str()
            ),
            Action::CreateSpace {
                key,
                name,
                children,
                invite,
            } => tr!(
                self,
                "action-create-space",
                name = quoted(name),
                key = key.key(),
                rooms = children.len(),
                count = invite.len()
            ),
            Action::SetName { room, name } => tr!(
                self,
                "action-set-name",
                room = room.as_str(),
                name = quoted(name)
            ),
            Action::SetTopic { room, topic } => tr!(
                self,
                "action-set-topic",
                room = room.as_str(),
                topic = quoted(topic)
            ),
            Action::AddChild { space, child } => tr!(
                self,
                "action-add-child",
                child = room(child),
                space = space.as_str()
            ),
            Action::RemoveChild { space, child } => tr!(
                self,
                "action-remove-child",
                child = child.as_str(),
                space = space.as_str()
            ),
            Action::Invite { room, user } => tr!(
                self,
                "action-invite",
                user = user.as_str(),
                room = room.as_str()
            ),
            Action::Kick { room, user, reason } => tr!(
                self,
                "action-kick",
                user = user.as_str(),
                room = room.as_str(),
                reason = reason.as_str()
            ),
            Action::SetReadOnly { room, read_only } => tr!(
                self,
                "action-read-only",
                room = room.as_str(),
                read_only = if *read_only { "yes" } else { "no" }
            ),
            Action::GhostJoin { driver, room } => tr!(
                self,
                "action-ghost-join",
                driver = driver.as_str(),
                room = room.as_str()
            ),
            Action::GhostLeave { driver, room } => tr!(
                self,
                "action-ghost-leave",
                driver = driver.as_str(),
                room = room.as_str()
            ),
            Action::Deactivate { user } => tr!(self, "action-deactivate", user = user.as_str()),
        }
    }
}

/// A name or topic from the directory as the report shows it between quotes: escaped like
/// Rust's `{:?}` (quotes, backslashes, line breaks, invisible controls), so that it cannot
/// break a line of the report or of the audit log, nor hide what follows.
fn quoted(text: &str) -> String {
    text.escape_debug().to_string()
}
