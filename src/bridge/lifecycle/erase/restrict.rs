//! Restriction (GDPR Art. 18) of a driver whose erasure a legal hold stops.

use ruma::OwnedRoomId;

use super::{Eraser, bridge};
use crate::{bridge::lifecycle::LifecycleError, directory::plan::Membership, store::ErasureTarget};

impl Eraser<'_> {
    /// Art. 18 instead of Art. 17 while a hold is in force: the portal read-only with nobody
    /// but the bot and the ghost in it, nothing bridged to or from the driver (the flows and the
    /// directory read the restriction), until an erasure can run. Nothing is deleted.
    pub(super) async fn restrict(
        &self,
        target: &ErasureTarget,
        room: Option<&OwnedRoomId>,
        actor: &str,
    ) -> Result<(), LifecycleError> {
        let new = self
            .store
            .restriction_set(&target.threema_id, target.room.as_deref(), actor)
            .await?;
        if let Some(room) = room {
            self.matrix
                .set_read_only(room, true)
                .await
                .map_err(bridge)?;
            let (bot, ghost) = self.bot_and_ghost(target)?;
            for member in self.matrix.members(room).await.map_err(bridge)? {
                if member == bot || member == ghost {
                    continue;
                }
                self.matrix
                    .kick(
                        room,
                        &member,
                        "restricted (GDPR Art. 18) under a legal hold",
                    )
                    .await
                    .map_err(bridge)?;
                self.store
                    .record_member(room.as_str(), &member, Membership::Leave)
                    .await?;
            }
        }
        if new {
            self.store
                .audit(
                    actor,
                    "gdpr.restricted",
                    &target.threema_id,
                    "erasure asked for under a legal hold: portal read-only, dispatchers \
                     removed, nothing bridged",
                )
                .await?;
        }
        Ok(())
    }
}
