//! The rooms the bridge runs (portals, spaces, broadcast and quarantine rooms) stay closed:
//! only the bot invites. Rooms get those power levels when they are created, rooms from before
//! are brought there once at startup, and anyone a member invited anyway (before that, or
//! through a homeserver that ignores it) is removed at once and audited.

use std::sync::Arc;

use ruma::{RoomId, UserId};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{Bridge, BridgeError, Outcome, threema_to_matrix::quarantine::QUARANTINE_ROOM};
use crate::matrix::BOT_LEVEL;

/// Bridge state key: the rooms from before closed power levels have been closed.
const CLOSED: &str = "rooms_closed";

/// Brings every room the bridge runs to closed power levels, once (until it has succeeded for
/// all of them, at every start).
pub async fn close_existing(bridge: Arc<Bridge>, shutdown: CancellationToken) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        result = bridge.close_rooms() => match result {
            Ok(0) => {}
            Ok(changed) => tracing::info!(changed, "rooms closed: only the bot invites"),
            Err(e) => tracing::warn!(error = %e, "cannot close the rooms yet; trying at the next start"),
        },
    }
}

impl Bridge {
    /// Returns how many rooms it changed.
    async fn close_rooms(&self) -> Result<usize, BridgeError> {
        if self.store.state_get(CLOSED).await?.is_some() {
            return Ok(0);
        }
        let mut changed = 0;
        for room_id in self.store.closed_rooms(QUARANTINE_ROOM).await? {
            match self.close_room(&room_id).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                // The bot was removed, or the room is gone: nothing to close.
                Err(BridgeError::Matrix(e)) if !e.is_transient() => {
                    tracing::warn!(%room_id, error = %e, "cannot close a room; left as it is")
                }
                Err(e) => return Err(e),
            }
        }
        self.store.state_set_once(CLOSED, "1").await?;
        Ok(changed)
    }

    /// Raises the level to invite to the bot's; the rest of the power levels stays.
    async fn close_room(&self, room_id: &RoomId) -> Result<bool, BridgeError> {
        let Some(mut levels) = self
            .matrix
            .state(room_id, "m.room.power_levels", "")
            .await?
        else {
            return Ok(false);
        };
        if levels["invite"].as_i64().unwrap_or(0) >= BOT_LEVEL {
            return Ok(false);
        }
        levels["invite"] = json!(BOT_LEVEL);
        self.matrix
            .set_state(room_id, "m.room.power_levels", "", &levels)
            .await?;
        Ok(true)
    }

    /// `inviter` (not the bridge) invited `user` into a room: if the bridge runs it, `user` is
    /// removed and the removal audited.
    pub(super) async fn remove_if_closed(
        &self,
        room_id: &RoomId,
        user: &UserId,
        inviter: &UserId,
    ) -> Result<Option<Outcome>, BridgeError> {
        if !self
            .store
            .is_closed_room(room_id.as_str(), QUARANTINE_ROOM)
            .await?
        {
            return Ok(None);
        }
        self.matrix
            .kick(room_id, user, "Only the bridge invites to this room.")
            .await?;
        self.store
            .audit(
                "bridge",
                "access.removed",
                user.as_str(),
                &format!("invited to {room_id} by {inviter}: removed"),
            )
            .await?;
        tracing::warn!(%room_id, %user, %inviter, "removed a member the bridge did not invite");
        Ok(Some(Outcome::refused(format!(
            "{user} invited by {inviter}: removed"
        ))))
    }
}
