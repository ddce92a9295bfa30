//! `summary` in the management room: what the next shift takes over, as the one asking may
//! see it. Open conversations (longest waiting first, who has them), broadcasts some of their
//! recipients have not read or acknowledged, and drivers whose messages failed or may not have
//! arrived in the last 24 hours, each with a link.

use ruma::{OwnedRoomId, RoomId, UserId};

use super::{
    Conversations, permalink,
    said::{self, BroadcastLine, FailedLine, OpenLine},
};
use crate::{
    bridge::{
        BridgeError,
        broadcast::board::{self, Stage},
    },
    store::now_ms,
    threema::ThreemaId,
};

const FAILED_WITHIN_MS: i64 = 24 * 3600 * 1000;

impl Conversations {
    /// The summary for `reader`: only drivers they may see, and broadcasts counted over those.
    pub async fn summary(&self, reader: &UserId) -> Result<String, BridgeError> {
        if !self.enabled() {
            return Ok(crate::tr!(self.texts, "desk-off"));
        }
        self.summary_of(|driver| self.access.may_see(reader, driver))
            .await
    }

    /// The summary over the drivers `shown` picks.
    pub(super) async fn summary_of(
        &self,
        shown: impl Fn(&ThreemaId) -> bool,
    ) -> Result<String, BridgeError> {
        let now = now_ms();
        let may_see = |id: &str| ThreemaId::parse(id).filter(|d| shown(d));

        let open = (self.waiting(&shown).await?)
            .into_iter()
            .map(|w| w.line)
            .collect::<Vec<_>>();

        let mut broadcasts = Vec::new();
        for broadcast in self.store.broadcasts_unsettled().await? {
            let report = self
                .store
                .broadcast_report(broadcast.event_id.as_str())
                .await?;
            let seen: Vec<board::Standing> = (board::standings(&report).into_iter())
                .filter(|s| may_see(&s.recipient).is_some())
                .collect();
            let unread = (seen.iter())
                .filter(|s| !matches!(s.stage, Stage::Read))
                .count();
            let unacknowledged = (broadcast.ack)
                .then(|| seen.iter().filter(|s| s.acknowledged_at.is_none()).count());
            if seen.is_empty() || (unread == 0 && unacknowledged.unwrap_or(0) == 0) {
                continue;
            }
            broadcasts.push(BroadcastLine {
                link: permalink(
                    broadcast.room_id.as_str(),
                    Some(broadcast.event_id.as_str()),
                ),
                recipients: seen.len(),
                unread,
                unacknowledged,
            });
        }

        let mut failed = Vec::new();
        for (recipient, room, messages) in
            (self.store.outbox_failed_since(now - FAILED_WITHIN_MS)).await?
        {
            let Some(driver) = may_see(&recipient) else {
                continue;
            };
            failed.push(FailedLine {
                driver: self.driver_name(&driver).await?,
                messages,
                link: permalink(&room, None),
            });
        }
        Ok(said::summary(
            &self.texts,
            now,
            &open,
            &broadcasts,
            &failed,
            &self.zone,
        ))
    }

    /// The open conversations of the drivers `shown` picks that have a portal, longest waiting
    /// first, each as a summary or board line (without the driver's first words).
    pub(super) async fn waiting(
        &self,
        shown: impl Fn(&ThreemaId) -> bool,
    ) -> Result<Vec<Waiting>, BridgeError> {
        let mut waiting = Vec::new();
        for conversation in self.store.conversations_waiting().await? {
            let (Some(driver), Some(since)) = (
                ThreemaId::parse(&conversation.threema_id).filter(|d| shown(d)),
                conversation.waiting_since,
            ) else {
                continue;
            };
            let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await? else {
                continue;
            };
            let owner = match conversation.owner.as_deref().map(UserId::parse) {
                Some(Ok(owner)) => Some(self.person_name(&portal.room_id, &owner).await),
                _ => None,
            };
            let event = conversation.waiting_event;
            let line = OpenLine {
                driver: self.driver_name(&driver).await?,
                waiting_since: since,
                owner,
                link: permalink(portal.room_id.as_str(), event.as_deref()),
                first_line: None,
            };
            waiting.push(Waiting {
                driver,
                portal: portal.room_id,
                event,
                line,
            });
        }
        Ok(waiting)
    }

    /// A dispatcher's display name in a room, else their ID's localpart.
    pub(super) async fn person_name(&self, room: &RoomId, user: &UserId) -> String {
        (self.matrix.member_display_name(room, user).await)
            .ok()
            .flatten()
            .unwrap_or_else(|| user.localpart().to_owned())
    }
}

/// An open conversation as the desk reads it: the driver, their portal, the message it waits
/// since, and its line.
pub(super) struct Waiting {
    pub driver: ThreemaId,
    pub portal: OwnedRoomId,
    pub event: Option<String>,
    pub line: OpenLine,
}
