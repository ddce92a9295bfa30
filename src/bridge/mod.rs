//! The core: the only module that sees both Matrix and Threema. It decides what each inbound
//! item means and does it through `matrix` and `store`.

pub mod ghost;
pub mod inbox;

use std::sync::Arc;

use ruma::{OwnedUserId, UserId};
use serde::Deserialize;

use crate::threema::ThreemaId;
use crate::{
    config::Config,
    matrix::{MatrixClient, MatrixError},
    store::{InboxItem, InboxKind, Store, StoreError},
};
use ghost::{ghost_user_id, is_own_user};

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error("malformed event: {0}")]
    BadEvent(String),
}

impl BridgeError {
    /// Retry later (infrastructure down) rather than record a permanent failure.
    pub fn is_transient(&self) -> bool {
        match self {
            BridgeError::Store(e) => e.is_transient(),
            BridgeError::Matrix(e) => e.is_transient(),
            BridgeError::BadEvent(_) => false,
        }
    }
}

pub struct Bridge {
    pub config: Arc<Config>,
    pub store: Store,
    pub matrix: MatrixClient,
    pub bot: OwnedUserId,
}

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

impl Bridge {
    pub fn new(config: Arc<Config>, store: Store, matrix: MatrixClient) -> Self {
        let bot = config.bot_user_id();
        Bridge {
            config,
            store,
            matrix,
            bot,
        }
    }

    fn is_own_user(&self, user_id: &UserId) -> bool {
        is_own_user(user_id, &self.config.homeserver.domain)
    }

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

    /// Makes sure the driver's ghost exists on the homeserver (once; remembered in the store).
    pub async fn ensure_ghost(&self, threema_id: &ThreemaId) -> Result<OwnedUserId, BridgeError> {
        let user_id = ghost_user_id(threema_id, &self.config.homeserver.domain);
        let ghost = self
            .store
            .ghost_ensure(threema_id.as_str(), user_id.as_str())
            .await?;
        if ghost.registered_at.is_none() {
            self.matrix.register(user_id.localpart()).await?;
            self.store
                .ghost_mark_registered(threema_id.as_str())
                .await?;
            tracing::info!(threema_id = %threema_id, %user_id, "registered ghost");
        }
        Ok(user_id)
    }
}
