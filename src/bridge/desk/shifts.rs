//! The shift summary said by itself: at each of `inbox.shift_changes` (in `bridge.timezone`)
//! every desk room gets the summary over its own drivers (see `summary`). The last shift
//! change said is kept in `bridge_state`, so a restart says none twice; one missed by more than
//! [`STALE`] (the bridge was down) is not said late.

use std::{sync::Arc, time::Duration};

use ruma::OwnedRoomId;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::Conversations;
use crate::{bridge::BridgeError, store::now_ms, threema::ThreemaId};

/// The last shift change whose summaries went out (Unix ms).
const SAID_UNTIL: &str = "inbox_shift_summary_at";
/// A shift change further back than this is not said any more.
const STALE: Duration = Duration::from_secs(15 * 60);
const RETRY: Duration = Duration::from_secs(30);

impl Conversations {
    /// Until `shutdown` (the active process's only).
    pub async fn run_shift_summaries(self: Arc<Self>, shutdown: CancellationToken) {
        if !self.enabled() || self.config.shift_changes.is_empty() {
            return;
        }
        loop {
            let wait = match self.shift_turn().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot say the shift summary; trying again");
                    RETRY
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Says the summaries of a shift change that is due; how long until the next one.
    async fn shift_turn(&self) -> Result<Duration, BridgeError> {
        let now = now_ms();
        let said_until = match self.store.state_get(SAID_UNTIL).await? {
            Some(at) => at.parse().unwrap_or(now),
            // The first start: from now on.
            None => {
                self.store.state_set(SAID_UNTIL, &now.to_string()).await?;
                now
            }
        };
        let Some(next) = self.next_shift_change(said_until) else {
            return Ok(RETRY);
        };
        if next > now {
            return Ok(Duration::from_millis((next - now) as u64));
        }
        if now - next <= STALE.as_millis() as i64 {
            self.say_shift_summaries(next).await?;
        }
        self.store.state_set(SAID_UNTIL, &next.to_string()).await?;
        Ok(Duration::ZERO)
    }

    fn next_shift_change(&self, after: i64) -> Option<i64> {
        (self.config.shift_changes.iter())
            .filter_map(|at| self.zone.next_at(after, *at))
            .min()
    }

    /// Each desk room's summary over its own drivers. One desk that fails holds up no other
    /// (and is not tried again for this shift change).
    async fn say_shift_summaries(&self, at: i64) -> Result<(), BridgeError> {
        for (desk, room) in self.store.desk_rooms().await? {
            if let Err(e) = self.shift_summary(&desk, &room, at).await {
                tracing::warn!(%room, error = %e, "cannot say the shift summary in a desk room");
            }
        }
        Ok(())
    }

    /// One desk room's: its members kept to those who may see its drivers first (a room
    /// without drivers any more gets none).
    async fn shift_summary(&self, desk: &str, room: &str, at: i64) -> Result<(), BridgeError> {
        let room = OwnedRoomId::try_from(room)
            .map_err(|e| BridgeError::BadEvent(format!("stored desk room: {e}")))?;
        let of_desk = |driver: &ThreemaId| self.desk_of(driver).state_key == desk;
        let portals = self.store.portals().await?;
        let Some(driver) = (portals.iter()).map(|p| &p.threema_id).find(|d| of_desk(d)) else {
            return Ok(());
        };
        self.keep_members(&room, driver).await?;
        let text = self.summary_of(of_desk).await?;
        let content = json!({ "msgtype": "m.notice", "body": text, "m.mentions": {} });
        let desk_hash = hex::encode(&Sha256::digest(desk.as_bytes())[..8]);
        let txn = format!("desk-shift-{desk_hash}-{at}");
        self.notices.post_raw(&room, &content, &txn).await?;
        Ok(())
    }
}
