//! The rooms the bridge runs (portals, spaces, broadcast and quarantine rooms) stay closed:
//! only the bot invites. Rooms get those power levels when they are created, rooms from before
//! are brought there once at startup, and anyone a member invited anyway (before that, or
//! through a homeserver that ignores it) is removed at once and audited. Members who may no
//! longer be there (let in under wider rules, such as `bridge.dispatchers` before a directory
//! decided) are removed at startup and after every directory sync.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use ruma::{OwnedUserId, RoomId, UserId};
use tokio_util::sync::CancellationToken;

use super::Directory;
use crate::{
    bridge::{BridgeError, Outcome, threema_to_matrix::quarantine::QUARANTINE_ROOM},
    config::Level,
    directory::plan::Membership,
    threema::ThreemaId,
};

/// Bridge state key: the rooms from before closed power levels have been closed.
const CLOSED: &str = "rooms_closed";

/// Brings every room the bridge runs to closed power levels, once: tried until it has
/// succeeded for all of them. Under the directory's lock, since the directory changes power
/// levels too (read-only portals) and either would undo the other's change.
pub async fn close_existing(directory: Arc<Directory>, shutdown: CancellationToken) {
    let mut pause = Duration::from_secs(5);
    loop {
        let result = async {
            let _one_at_a_time = directory.lock.lock().await;
            let changed = directory.close_rooms().await?;
            Ok::<_, BridgeError>((changed, directory.remove_unpermitted().await?))
        }
        .await;
        match result {
            Ok((changed, removed)) => {
                if changed + removed > 0 {
                    tracing::info!(changed, removed, "rooms closed: only the bot invites");
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot close the rooms yet; trying again"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(300));
    }
}

impl Directory {
    /// Returns how many rooms it changed.
    async fn close_rooms(&self) -> Result<usize, BridgeError> {
        if self.store.state_get(CLOSED).await?.is_some() {
            return Ok(0);
        }
        let mut changed = 0;
        for room_id in self.store.closed_rooms(QUARANTINE_ROOM).await? {
            match self.matrix.close_room(&room_id).await {
                Ok(true) => changed += 1,
                Ok(false) => {}
                // The bot was removed, or the room is gone: nothing to close.
                Err(e) if !e.is_transient() => {
                    tracing::warn!(%room_id, error = %e, "cannot close a room; left as it is")
                }
                Err(e) => return Err(e.into()),
            }
        }
        self.store.state_set_once(CLOSED, "1").await?;
        Ok(changed)
    }

    /// Removes (and audits) every member of a room the bridge runs who may not be there: in a
    /// portal, whoever may not see its driver; elsewhere, whoever may not use the bridge. Those
    /// the bridge knows of: it records memberships as the homeserver reports them. Returns how
    /// many it removed.
    pub(super) async fn remove_unpermitted(&self) -> Result<usize, BridgeError> {
        let closed: HashSet<String> = (self.store.closed_rooms(QUARANTINE_ROOM).await?)
            .into_iter()
            .map(|room| room.to_string())
            .collect();
        let drivers: HashMap<String, ThreemaId> = (self.store.portals().await?)
            .into_iter()
            .map(|p| (p.room_id.to_string(), p.threema_id))
            .collect();
        let mut unpermitted = Vec::new();
        let each = |room: String, user: String, membership: String| {
            let in_room = Membership::parse(&membership).is_some_and(Membership::is_in);
            let Ok(user) = OwnedUserId::try_from(user) else {
                return;
            };
            if !in_room || !closed.contains(&room) || self.ghosts.is_bridge_user(&user) {
                return;
            }
            let permitted = match drivers.get(&room) {
                Some(driver) => self.access.may_see(&user, driver),
                None => self.access.level(&user) >= Level::Dispatcher,
            };
            if !permitted {
                unpermitted.push((room, user));
            }
        };
        self.store.each_membership(each).await?;
        let mut removed = 0;
        for (room, user) in unpermitted {
            let room_id = RoomId::parse(&room)
                .map_err(|e| BridgeError::BadEvent(format!("stored room {room:?}: {e}")))?;
            let why = format!("not permitted in {room}");
            let reason = crate::tr!(self.texts, "room-no-longer-permitted");
            self.remove_member(&room_id, &user, &reason, &why).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// `inviter` (not the bridge) invited `user` into a room: if the bridge runs it, `user` is
    /// removed and the removal audited.
    pub(crate) async fn remove_if_closed(
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
        let why = format!("invited to {room_id} by {inviter}");
        let reason = crate::tr!(self.texts, "room-only-bridge-invites");
        self.remove_member(room_id, user, &reason, &why).await?;
        tracing::warn!(%room_id, %user, %inviter, "removed a member the bridge did not invite");
        Ok(Some(Outcome::refused(format!(
            "{user} invited by {inviter}: removed"
        ))))
    }

    /// Kicks `user` (telling them `reason`), records it, and audits `why` they were removed.
    async fn remove_member(
        &self,
        room_id: &RoomId,
        user: &UserId,
        reason: &str,
        why: &str,
    ) -> Result<(), BridgeError> {
        self.matrix.kick(room_id, user, reason).await?;
        self.store
            .record_member(room_id.as_str(), user, Membership::Kicked)
            .await?;
        self.store
            .audit(
                "bridge",
                "access.removed",
                user.as_str(),
                &format!("{why}: removed"),
            )
            .await?;
        Ok(())
    }
}
