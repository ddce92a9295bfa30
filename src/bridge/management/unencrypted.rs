//! A management room the bot cannot read: with `bridge.encryption: off`, an encrypted DM (all
//! Element X makes) is swapped for an unencrypted room the bot opens for its owner.

use ruma::{
    RoomId, UserId,
    api::client::room::{Visibility, create_room},
};
use sha2::{Digest, Sha256};

use super::Management;
use crate::{
    bridge::{BridgeError, Outcome},
    ids::room_alias,
};

/// The unencrypted management room's name, as the notice in the encrypted one calls it.
const NAME: &str = "Threema bridge";

impl Management {
    /// `encrypted` is `owner`'s management room and encrypted: the bot opens (or finds) an
    /// unencrypted one, invites `owner` and welcomes them there, says why in the encrypted
    /// room, and leaves it. Each step may run again after a crash.
    pub(crate) async fn move_to_unencrypted(
        &self,
        encrypted: &RoomId,
        owner: &UserId,
    ) -> Result<Outcome, BridgeError> {
        let room = self.unencrypted_room(owner).await?;
        self.store
            .management_room_insert(room.as_str(), owner.as_str())
            .await?;
        self.welcome(&room).await?;
        self.notices
            .encrypted_room(
                encrypted,
                &format!(
                    "I cannot read what you write here. I have invited you to an unencrypted \
                     room, “{NAME}”: give me your commands there."
                ),
            )
            .await?;
        match (self.matrix)
            .leave(
                encrypted,
                &self.bot,
                "encrypted: the bridge runs without encryption",
            )
            .await
        {
            Ok(()) => {}
            // Left already, by an earlier attempt.
            Err(e) if !e.is_transient() => {
                tracing::debug!(room_id = %encrypted, error = %e, "not leaving the encrypted room")
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .management_room_delete(encrypted.as_str())
            .await?;
        Ok(Outcome::bridged(format!(
            "management room of {owner} encrypted: moved to {room}"
        )))
    }

    /// `owner`'s unencrypted management room: created once under an alias of theirs, found
    /// again (and `owner` invited again) when they come back with another encrypted DM.
    async fn unencrypted_room(&self, owner: &UserId) -> Result<ruma::OwnedRoomId, BridgeError> {
        // A hash, not the user ID: an alias cannot hold every character a user ID can.
        let digest = Sha256::digest(owner.as_str().as_bytes());
        let alias = room_alias(
            &format!("desk_{}", hex::encode(&digest[..8])),
            self.bot.server_name(),
        );
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.visibility = Visibility::Private;
        request.is_direct = true;
        request.room_alias_name = Some(alias.alias().to_owned());
        request.name = Some(NAME.to_owned());
        request.topic = Some(
            "Commands to the Threema bridge. Not encrypted: the bridge is set up without \
             encryption."
                .to_owned(),
        );
        request.invite = vec![owner.to_owned()];
        let (room, created) = self.matrix.create_closed_room(request, &alias).await?;
        if !created {
            self.matrix.ensure_invited(&room, owner).await?;
        }
        Ok(room)
    }
}
