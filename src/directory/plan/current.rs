//! What the bridge last set up, as the store recorded it: the other side of the comparison.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use ruma::OwnedUserId;
use threema_protocol::ThreemaId;

use super::SpaceKey;

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

    /// Invited or joined: in the room as far as access goes.
    pub fn is_in(self) -> bool {
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
    /// A portal's employee, as recorded.
    pub employee: Option<String>,
}

/// What the bridge last set up, from the store.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub portals: HashMap<ThreemaId, String>,
    pub ghost_names: HashMap<ThreemaId, String>,
    pub spaces: HashMap<SpaceKey, String>,
    pub rooms: HashMap<String, RoomState>,
    pub deactivated: HashSet<OwnedUserId>,
    /// Drivers restricted under a legal hold (GDPR Art. 18): their portal stays read-only with
    /// no dispatcher in it, whatever the directory says.
    pub restricted: HashSet<ThreemaId>,
}
