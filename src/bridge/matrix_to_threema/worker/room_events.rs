//! The rooms' own events: membership (the bot's invites, who is in the rooms the bridge
//! keeps) and encryption (the bridge has no keys and says so once).

use ruma::{OwnedUserId, RoomId};

use super::{EventHead, MatrixToThreema};
use crate::{
    bridge::{BridgeError, Outcome, threema_to_matrix::quarantine::QUARANTINE_ROOM},
    directory::plan::Membership,
};

impl MatrixToThreema {
    /// An encrypted event, or encryption turned on, in a room the bridge runs: the bridge has
    /// no keys (`bridge.encryption: off`) and says so once rather than staying silent. A
    /// management room moves to an unencrypted one.
    pub(super) async fn handle_encrypted(&self, event: &EventHead) -> Result<Outcome, BridgeError> {
        let room = event.room_id.as_str();
        // Anyone can send an `m.room.encrypted` event: only the room's state says it is
        // encrypted for everyone.
        if !self.matrix.is_encrypted(&event.room_id).await? {
            return Ok(Outcome::failed(format!(
                "{} in a room without encryption: not bridged",
                event.event_type
            )));
        }
        if let Some(owner) = self.store.management_room_owner(room).await? {
            let owner = OwnedUserId::try_from(owner)
                .map_err(|e| BridgeError::BadEvent(format!("stored management room owner: {e}")))?;
            return self
                .management
                .move_to_unencrypted(&event.room_id, &owner, &event.event_id)
                .await;
        }
        let said = if self.store.portal_by_room_id(room).await?.is_some() {
            crate::tr!(self.texts, "encrypted-portal")
        } else if self.store.broadcast_room(room).await?.is_some() {
            crate::tr!(self.texts, "encrypted-broadcast-room")
        } else if self.is_command_room(&event.room_id).await? {
            crate::tr!(self.texts, "encrypted-command-room")
        } else {
            return Ok(Outcome::skipped("encrypted room the bridge does not run"));
        };
        self.notices.encrypted_room(&event.room_id, &said).await?;
        Ok(Outcome::failed(format!(
            "{} in an encrypted room: no keys to decrypt (bridge.encryption: off)",
            event.event_type
        )))
    }

    pub(super) async fn is_command_room(&self, room_id: &RoomId) -> Result<bool, BridgeError> {
        Ok(self
            .store
            .management_room_owner(room_id.as_str())
            .await?
            .is_some()
            || self.store.state_get(QUARANTINE_ROOM).await?.as_deref() == Some(room_id.as_str()))
    }

    /// The bot accepts invites from users of our own homeserver (a DM becomes the management
    /// room) and declines the rest, so that no invite lingers.
    pub(super) async fn handle_membership(
        &self,
        event: &EventHead,
    ) -> Result<Outcome, BridgeError> {
        let membership = event.content.get("membership").and_then(|m| m.as_str());
        let invited_bot =
            event.state_key.as_deref() == Some(self.bot.as_str()) && membership == Some("invite");
        if !invited_bot {
            return self.note_membership(event, membership).await;
        }
        if event.sender.server_name() != self.domain {
            self.matrix
                .leave(
                    &event.room_id,
                    &self.bot,
                    "This bridge only serves its own homeserver.",
                )
                .await?;
            return Ok(Outcome::refused("invite from another server declined"));
        }
        self.management
            .accept_management_invite(&event.room_id, &event.sender, &event.event_id)
            .await
    }

    /// Remembers who is in the rooms the bridge keeps, so that offboarding removes a dispatcher
    /// also from rooms somebody else invited them to.
    async fn note_membership(
        &self,
        event: &EventHead,
        membership: Option<&str>,
    ) -> Result<Outcome, BridgeError> {
        let (Some(user), Some(membership)) = (
            event
                .state_key
                .as_deref()
                .and_then(|k| OwnedUserId::try_from(k).ok()),
            membership,
        ) else {
            return Ok(Outcome::skipped("membership change"));
        };
        // The bridge's own invites are echoes and never get here: someone else invited.
        if membership == "invite"
            && let Some(removed) = self
                .directory
                .remove_if_closed(&event.room_id, &user, &event.sender)
                .await?
        {
            return Ok(removed);
        }
        let membership = match membership {
            "leave" if user != event.sender => Membership::Kicked,
            other => match Membership::parse(other) {
                Some(m) => m,
                None => {
                    return Ok(Outcome::skipped(format!(
                        "membership {other}: not recorded"
                    )));
                }
            },
        };
        let room = event.room_id.as_str();
        let ts = event.origin_server_ts;
        if !(self.store)
            .record_member_from_event(room, &user, membership, ts)
            .await?
        {
            return Ok(Outcome::skipped("membership older than what is recorded"));
        }
        Ok(Outcome::bridged(format!("{user}: {}", membership.as_str())))
    }
}
