//! A management room the bot cannot read: with `bridge.encryption: off`, an encrypted DM (all
//! Element X makes) is swapped for an unencrypted room the bot opens for its owner.

use ruma::{
    EventId, OwnedRoomId, RoomId, UserId,
    api::client::room::{Visibility, create_room},
};

use super::Management;
use crate::{
    bridge::{BridgeError, Outcome},
    config::Level,
    ids::room_alias,
};

impl Management {
    /// `encrypted` is `owner`'s management room and encrypted (`event` said so): the bot opens
    /// (or finds) an unencrypted one, invites `owner` and welcomes them there, says why in the
    /// encrypted room, forgets it and leaves. Each step may run again after a crash.
    pub(crate) async fn move_to_unencrypted(
        &self,
        encrypted: &RoomId,
        owner: &UserId,
        event: &EventId,
    ) -> Result<Outcome, BridgeError> {
        // Told per event (an invite, encryption turned on), so a dispatcher who invites the
        // bot to the same DM again hears why it leaves again.
        let txn = format!("encrypted-{event}");
        if self.access.level(owner) < Level::Dispatcher {
            let text = crate::tr!(self.texts, "encrypted-dm-not-permitted");
            self.notices.notice(encrypted, None, &text, &txn).await?;
            self.forget_and_leave(encrypted).await?;
            return Ok(Outcome::refused(
                "encrypted management room: owner not permitted",
            ));
        }
        let room = self.unencrypted_room(owner).await?;
        if room == encrypted || self.matrix.is_encrypted(&room).await? {
            // The homeserver encrypts every new room: nowhere to go without end-to-bridge
            // encryption. The room stays (a later configuration may serve it).
            let text = crate::tr!(self.texts, "encrypted-dm-nowhere");
            self.notices.notice(encrypted, None, &text, &txn).await?;
            return Ok(Outcome::failed(
                "encrypted management room: the homeserver encrypts new rooms too",
            ));
        }
        self.store
            .management_room_insert(room.as_str(), owner.as_str())
            .await?;
        self.welcome(&room).await?;
        let name = crate::tr!(self.texts, "management-room-name");
        let text = crate::tr!(self.texts, "encrypted-dm-moved", name = name);
        self.notices.notice(encrypted, None, &text, &txn).await?;
        self.forget_and_leave(encrypted).await?;
        Ok(Outcome::bridged(format!(
            "encrypted management room: moved to {room}"
        )))
    }

    /// Forgotten first: a crash before the leave leaves the bot in a room it ignores, never a
    /// management room it cannot get back into.
    async fn forget_and_leave(&self, room: &RoomId) -> Result<(), BridgeError> {
        self.store.management_room_delete(room.as_str()).await?;
        match (self.matrix)
            .leave(
                room,
                &self.bot,
                "encrypted: the bridge runs without encryption",
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if !e.is_transient() => {
                tracing::warn!(room_id = %room, error = %e, "cannot leave an encrypted room");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `owner`'s unencrypted management room: created once under an alias of theirs, found
    /// again (and `owner` invited again) when they come back with another encrypted DM. A room
    /// the bot is no longer in (removed, erased) gives its alias to a new one.
    async fn unencrypted_room(&self, owner: &UserId) -> Result<OwnedRoomId, BridgeError> {
        // Keyed, so that nobody can tell from the alias whose desk room it is.
        let hash = self.desk_aliases.hash_text(owner.as_str());
        let alias = room_alias(&format!("desk_{}", &hash[..16]), self.bot.server_name());
        let request = || {
            let mut request = create_room::v3::Request::new();
            request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
            request.visibility = Visibility::Private;
            request.is_direct = true;
            request.room_alias_name = Some(alias.alias().to_owned());
            request.name = Some(crate::tr!(self.texts, "management-room-name"));
            request.topic = Some(crate::tr!(self.texts, "management-room-topic"));
            request.invite = vec![owner.to_owned()];
            request
        };
        let (room, created) = self.matrix.create_closed_room(request(), &alias).await?;
        if created {
            return Ok(room);
        }
        if !self.matrix.is_joined(&room, &self.bot).await? {
            self.matrix.delete_alias(&alias).await?;
            return Ok(self.matrix.create_closed_room(request(), &alias).await?.0);
        }
        self.matrix.ensure_invited(&room, owner).await?;
        Ok(room)
    }
}
