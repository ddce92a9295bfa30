//! The plan's vocabulary: each change to the homeserver the bridge may make.

use ruma::OwnedUserId;
use threema_protocol::ThreemaId;

use super::SpaceKey;

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
        /// Whose portal it is (it stays theirs when their Threema ID changes).
        employee: String,
        name: String,
        topic: String,
        invite: Vec<OwnedUserId>,
    },
    /// Records whose portal this is (portals from before the bridge recorded it).
    LinkPortal {
        room: String,
        employee: String,
    },
    /// The employee's portal moves to their new Threema ID: the new ghost joins, the old one
    /// leaves, and the old ID counts as a former driver's.
    MoveDriver {
        room: String,
        employee: String,
        from: ThreemaId,
        to: ThreemaId,
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
        f.write_str(&crate::texts::Texts::english().directory_action(self))
    }
}
