//! Rooms of the bot's own (the quarantine room, the admins' audit room, the desk rooms): created once as a
//! closed room under an alias in our namespace, found again through it after a lost answer or
//! a reset store, their ID kept in `bridge_state`.

use ruma::{
    OwnedRoomId, OwnedUserId, ServerName,
    api::client::room::{Visibility, create_room},
};

use super::BridgeError;
use crate::{ids::room_alias, matrix::MatrixClient, store::Store};

/// What the room is.
pub struct BotRoom<'a> {
    /// The `bridge_state` key of its ID.
    pub state_key: &'a str,
    /// The alias's name: `#threema_<alias>:<domain>`.
    pub alias: &'a str,
    pub name: &'a str,
    pub topic: &'a str,
    /// Invited when it is made, and again when it is found by its alias.
    pub invite: Vec<OwnedUserId>,
}

impl BotRoom<'_> {
    /// The room's ID: the stored one, else the room made (or found) now.
    pub async fn ensure(
        self,
        store: &Store,
        matrix: &MatrixClient,
        domain: &ServerName,
    ) -> Result<OwnedRoomId, BridgeError> {
        let stored_room = |room: String| {
            OwnedRoomId::try_from(room)
                .map_err(|e| BridgeError::BadEvent(format!("stored {}: {e}", self.state_key)))
        };
        if let Some(room) = store.state_get(self.state_key).await? {
            return stored_room(room);
        }
        let alias = room_alias(self.alias, domain);
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.visibility = Visibility::Private;
        request.room_alias_name = Some(alias.alias().to_owned());
        request.name = Some(self.name.to_owned());
        request.topic = Some(self.topic.to_owned());
        request.invite = self.invite.clone();
        let (room_id, created) = matrix.create_closed_room(request, &alias).await?;
        if !created {
            // Made before (by an earlier attempt, or an earlier database): today's people are
            // invited again.
            for user in &self.invite {
                matrix.ensure_invited(&room_id, user).await?;
            }
        }
        let stored = store
            .state_set_once(self.state_key, room_id.as_str())
            .await?;
        tracing::info!(room_id = %stored, room = self.state_key, "bot room ready");
        stored_room(stored)
    }
}
