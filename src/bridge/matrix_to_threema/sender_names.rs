//! The names a dispatcher's messages are signed with: their display name in the room, asked of
//! the homeserver once and then kept up to date from the member events it pushes.
//!
//! Asking for every message (`GET …/state/m.room.member/{user}`) took the homeserver about
//! 35 ms and 4 ms of its CPU per message in the bench. The homeserver pushes every member
//! event of the rooms the bridge is in, and the Matrix inbox handles one room's events in
//! order (a lane per room), so the member event that renames someone is noted before any
//! message after it in that room is handled: each message is signed with the name its sender
//! had when they sent it, as the homeserver would have said. A process that takes over
//! (active/standby) forgets what it kept: the other one handled the events meanwhile.

use std::sync::{Mutex, MutexGuard, PoisonError};

use hashlink::LruCache;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};

use crate::matrix::{MatrixClient, MatrixError};

/// Members whose names are kept (least recently used go first): every dispatcher in every
/// portal they write in, at a few hundred bytes each.
const KEPT: usize = 8_192;

type Key = (OwnedRoomId, OwnedUserId);

pub struct SenderNames {
    /// `None`: the member has no display name (signed with their user name).
    kept: Mutex<LruCache<Key, Option<String>>>,
}

impl Default for SenderNames {
    fn default() -> Self {
        SenderNames {
            kept: Mutex::new(LruCache::new(KEPT)),
        }
    }
}

impl SenderNames {
    fn kept(&self) -> MutexGuard<'_, LruCache<Key, Option<String>>> {
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
        if let Some(name) = self.kept().get(&key) {
            return Ok(name.clone());
        }
        let name = matrix.member_display_name(room, user).await?;
        self.kept().insert(key, name.clone());
        Ok(name)
    }

    /// A member event for `user` in `room` (`content` as pushed): a member who joined, or
    /// changed their name, is kept under the name it carries; one who left is forgotten.
    pub fn note(&self, room: &RoomId, user: &UserId, content: &serde_json::Value) {
        let key = (room.to_owned(), user.to_owned());
        let mut kept = self.kept();
        match content["membership"].as_str() {
            Some("join") => {
                let name = content["displayname"].as_str().map(str::to_owned);
                kept.insert(key, name);
            }
            _ => {
                kept.remove(&key);
            }
        }
    }

    /// Forgets every name: another process handled the room events meanwhile.
    pub fn forget_all(&self) {
        self.kept().clear();
    }

    #[cfg(test)]
    fn kept_name(&self, room: &RoomId, user: &UserId) -> Option<Option<String>> {
        self.kept()
            .get(&(room.to_owned(), user.to_owned()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::{room_id, user_id};
    use serde_json::json;

    #[test]
    fn a_member_event_renames_or_forgets_its_member_in_its_room_only() {
        let names = SenderNames::default();
        let (room, other_room) = (room_id!("!a:d.test"), room_id!("!b:d.test"));
        let anna = user_id!("@anna:d.test");
        names.note(
            room,
            anna,
            &json!({"membership": "join", "displayname": "Anna"}),
        );
        names.note(other_room, anna, &json!({"membership": "join"}));
        assert_eq!(names.kept_name(room, anna), Some(Some("Anna".into())));
        assert_eq!(names.kept_name(other_room, anna), Some(None), "no name set");
        names.note(
            room,
            anna,
            &json!({"membership": "join", "displayname": "A. M."}),
        );
        assert_eq!(names.kept_name(room, anna), Some(Some("A. M.".into())));
        names.note(room, anna, &json!({"membership": "leave"}));
        assert_eq!(
            names.kept_name(room, anna),
            None,
            "asked again if they return"
        );
        assert_eq!(names.kept_name(other_room, anna), Some(None));
        names.forget_all();
        assert_eq!(names.kept_name(other_room, anna), None);
    }
}
