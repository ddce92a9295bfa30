//! The Matrix inbox: what each event the homeserver pushed means to the bridge.

use std::sync::Arc;

use ruma::OwnedUserId;
use serde::Deserialize;

use super::{
    Bridge, BridgeError,
    inbox::{Inbox, Outcome},
};
use crate::store::{InboxItem, InboxKind, StoreError};

/// The fields of a timeline event the core looks at; the rest stays in the stored payload.
#[derive(Debug, Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    event_type: String,
    sender: OwnedUserId,
    room_id: ruma::OwnedRoomId,
    state_key: Option<String>,
    #[serde(default)]
    content: serde_json::Value,
}

pub struct MatrixInbox(pub Arc<Bridge>);

impl Inbox for MatrixInbox {
    type Item = InboxItem;
    const NAME: &'static str = "matrix";

    fn seq(item: &InboxItem) -> i64 {
        item.seq
    }

    fn lane(item: &InboxItem) -> &str {
        &item.room_id
    }

    fn key(item: &InboxItem) -> String {
        item.dedup_key.clone()
    }

    async fn pending(&self, after_seq: i64, limit: i64) -> Result<Vec<InboxItem>, StoreError> {
        self.0.store.inbox_pending(after_seq, limit).await
    }

    async fn handle(&self, item: &InboxItem) -> Result<Outcome, BridgeError> {
        self.0.handle_matrix_item(item).await.map(Outcome::done)
    }

    async fn finish(&self, item: &InboxItem, outcome: &Outcome) -> Result<(), StoreError> {
        self.0
            .store
            .inbox_finish(item.seq, &outcome.summary)
            .await
            .map(drop)
    }

    async fn record_attempt(&self, item: &InboxItem) -> Result<(), StoreError> {
        self.0.store.inbox_record_attempt(item.seq).await
    }
}

impl Bridge {
    /// Handles one item of the Matrix inbox and returns the outcome to record.
    pub async fn handle_matrix_item(&self, item: &InboxItem) -> Result<String, BridgeError> {
        if item.kind == InboxKind::Ephemeral {
            // Receipts and typing are bridged by the delivery-status work; nothing to do yet.
            return Ok(format!("ephemeral {}: not bridged", item.event_type));
        }
        let event: EventHead = serde_json::from_str(&item.payload)
            .map_err(|e| BridgeError::BadEvent(e.to_string()))?;
        if self.is_own_user(&event.sender) {
            return Ok("echo".into());
        }
        match event.event_type.as_str() {
            "m.room.member" => self.handle_membership(&event).await,
            "m.room.message" => Ok(
                match self.store.portal_by_room_id(event.room_id.as_str()).await? {
                    Some(portal) => format!("message for portal {}", portal.threema_id),
                    None => "message outside a portal".into(),
                },
            ),
            other => Ok(format!("ignored {other}")),
        }
    }

    /// The bot accepts invites from users of our own homeserver (a DM becomes the management
    /// room) and declines the rest, so that no invite lingers.
    async fn handle_membership(&self, event: &EventHead) -> Result<String, BridgeError> {
        let invited_bot = event.state_key.as_deref() == Some(self.bot.as_str())
            && event.content.get("membership").and_then(|m| m.as_str()) == Some("invite");
        if !invited_bot {
            return Ok("membership change".into());
        }
        if event.sender.server_name() != self.config.homeserver.domain {
            self.matrix
                .leave(
                    &event.room_id,
                    &self.bot,
                    "This bridge only serves its own homeserver.",
                )
                .await?;
            return Ok("declined invite from another server".into());
        }
        self.matrix.join(&event.room_id, &self.bot).await?;
        Ok("bot joined".into())
    }
}
