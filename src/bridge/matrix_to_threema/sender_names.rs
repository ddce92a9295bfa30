//! The names a dispatcher's messages are signed with: their display name in the room, asked of
//! the homeserver once and kept until an event in the room may have changed it.
//!
//! Asking for every message (`GET …/state/m.room.member/{user}`) took Synapse about 35 ms per
//! message in the bench (0.5 ms of its CPU), on the message's way to the phone. The homeserver
//! pushes every event of the rooms the bridge is in, and the Matrix inbox handles one room's
//! events in order (a lane per room): a member event, or a redaction (which can take a name
//! away), makes the next message in that room ask again, so a message is signed with the name
//! the homeserver has when it is handled, as before. Only forgotten, never set from an event: a
//! member event the catch-up finds late must not overwrite a newer name. A name is also asked
//! again after [`KEEP_FOR`], in case an event never reached the bridge (a catch-up that gave
//! up), and all of them when a process begins its term as the active one (active/standby: the
//! other one handled the events meanwhile).

use std::{
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use hashlink::LruCache;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::matrix::{MatrixClient, MatrixError};

/// (Room, member) pairs whose names are kept (least recently used go first): dispatchers in
/// the portals they write in, at a few hundred bytes each.
const KEPT: usize = 8_192;

/// How long a name is kept without an event that changes it.
const KEEP_FOR: Duration = Duration::from_secs(600);

type Key = (OwnedRoomId, OwnedUserId);

/// `None`: the member has no display name (signed with their user name).
struct Kept {
    name: Option<String>,
    asked: Instant,
}

pub struct SenderNames {
    kept: Mutex<LruCache<Key, Kept>>,
}

impl Default for SenderNames {
    fn default() -> Self {
        SenderNames {
            kept: Mutex::new(LruCache::new(KEPT)),
        }
    }
}

impl SenderNames {
    fn kept(&self) -> MutexGuard<'_, LruCache<Key, Kept>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `user`'s display name in `room`, if they set one: kept, or asked of the homeserver.
    pub async fn name(
        &self,
        matrix: &MatrixClient,
        room: &RoomId,
        user: &UserId,
    ) -> Result<Option<String>, MatrixError> {
        let key = (room.to_owned(), user.to_owned());
        if let Some(kept) = self.kept().get(&key)
            && kept.asked.elapsed() < KEEP_FOR
        {
            return Ok(kept.name.clone());
        }
        let name = matrix.member_display_name(room, user).await?;
        self.keep(key, name.clone());
        Ok(name)
    }

    fn keep(&self, key: Key, name: Option<String>) {
        let asked = Instant::now();
        self.kept().insert(key, Kept { name, asked });
    }

    /// A member event for `user` in `room`: their next message asks again.
    pub fn forget(&self, room: &RoomId, user: &UserId) {
        self.kept().remove(&(room.to_owned(), user.to_owned()));
    }

    /// A redaction in `room` (of a member event, perhaps): every member there asks again.
    pub fn forget_room(&self, room: &RoomId) {
        let mut kept = self.kept();
        let there: Vec<Key> = (kept.iter())
            .filter(|((r, _), _)| r == room)
            .map(|(key, _)| key.clone())
            .collect();
        for key in there {
            kept.remove(&key);
        }
    }

    /// Forgets every name: another process handled the room events meanwhile.
    pub fn forget_all(&self) {
        self.kept().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::{room_id, user_id};

    impl SenderNames {
        fn kept_name(&self, room: &RoomId, user: &UserId) -> Option<Option<String>> {
            (self.kept().get(&(room.to_owned(), user.to_owned()))).map(|kept| kept.name.clone())
        }
    }

    #[test]
    fn a_member_event_or_a_redaction_forgets_names_in_its_room_only() {
        let names = SenderNames::default();
        let (room, other_room) = (room_id!("!a:d.test"), room_id!("!b:d.test"));
        let (anna, ben) = (user_id!("@anna:d.test"), user_id!("@ben:d.test"));
        let keep = |room: &RoomId, user: &UserId, name: Option<&str>| {
            names.keep((room.to_owned(), user.to_owned()), name.map(str::to_owned))
        };
        keep(room, anna, Some("Anna"));
        keep(room, ben, None);
        keep(other_room, anna, Some("Anna M."));
        assert_eq!(names.kept_name(room, anna), Some(Some("Anna".into())));
        assert_eq!(names.kept_name(room, ben), Some(None), "no name set");

        names.forget(room, anna);
        assert_eq!(names.kept_name(room, anna), None, "asked again");
        assert_eq!(names.kept_name(room, ben), Some(None));
        assert_eq!(
            names.kept_name(other_room, anna),
            Some(Some("Anna M.".into()))
        );

        keep(room, anna, Some("Anna"));
        names.forget_room(room);
        assert_eq!(names.kept_name(room, anna), None);
        assert_eq!(names.kept_name(room, ben), None);
        assert_eq!(
            names.kept_name(other_room, anna),
            Some(Some("Anna M.".into()))
        );

        names.forget_all();
        assert_eq!(names.kept_name(other_room, anna), None);
    }
}
