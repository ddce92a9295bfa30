//! The core: the only module that sees both Matrix and Threema. It decides what each inbound
//! item means and does it through `matrix`, `threema` and `store`.

pub mod broadcast;
pub mod credits;
pub mod directory;
pub mod management;
pub mod matrix_to_threema;
pub mod notice;
pub mod portal;
pub mod queue;
pub mod receipts;
pub mod status;
pub mod threema_to_matrix;

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicI64},
};

use ruma::{OwnedUserId, UserId};
use tokio::sync::Notify;

use crate::{
    config::Config,
    ids::{ghost_user_id, is_own_user},
    matrix::{MatrixClient, MatrixError},
    store::{Ghost, Store, StoreError},
    threema::{ThreemaClient, ThreemaError, ThreemaId},
};
pub use threema_to_matrix::Incoming;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Threema(#[from] ThreemaError),
    #[error("malformed event: {0}")]
    BadEvent(String),
    /// Depends on something still under way (a receipt for a send whose answer is not
    /// recorded yet): try again shortly.
    #[error("not yet: {0}")]
    NotYet(String),
}

impl BridgeError {
    /// Retry later (infrastructure down) rather than record a permanent failure.
    pub fn is_transient(&self) -> bool {
        match self {
            BridgeError::Store(e) => e.is_transient(),
            BridgeError::Matrix(e) => e.is_transient(),
            BridgeError::Threema(e) => e.is_transient(),
            BridgeError::BadEvent(_) => false,
            BridgeError::NotYet(_) => true,
        }
    }
}

pub struct Bridge {
    pub config: Arc<Config>,
    pub store: Store,
    pub matrix: MatrixClient,
    pub threema: ThreemaClient,
    pub bot: OwnedUserId,
    /// Last known Gateway credit balance ([`credits::UNKNOWN`] until read).
    credits: AtomicI64,
    /// Admins were told the balance is low (told again once it recovered and fell again).
    credits_warned: AtomicBool,
    /// Rung when the Threema inbox has new rows (callbacks, held messages queued again).
    pub threema_wake: Arc<Notify>,
    /// Rung when the outbox has new rows.
    pub outbox_wake: Arc<Notify>,
    /// Rung when broadcasts have recipients to fan out to.
    pub broadcast_wake: Arc<Notify>,
    /// Rung when a broadcast's board may have changed (started, answered, resent).
    pub board_wake: Notify,
    /// The directory as the message flows consult it.
    directory: std::sync::RwLock<Arc<directory::DirectoryView>>,
    /// One directory sync at a time.
    directory_lock: tokio::sync::Mutex<()>,
    /// Rung when the rooms should be brought in line with the directory (SCIM, a new portal).
    pub directory_wake: Notify,
    /// The startup steps are done (the homeserver reached us, the bot exists): ready to serve.
    pub started: AtomicBool,
    /// File messages whose blobs are uploaded for many recipients (broadcasts), by file.
    shared_uploads: std::sync::Mutex<std::collections::HashMap<String, SharedUpload>>,
}

/// When a shared upload was started, and the file message it became.
type SharedUpload = (std::time::Instant, Arc<tokio::sync::OnceCell<Arc<Vec<u8>>>>);

impl Bridge {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        matrix: MatrixClient,
        threema: ThreemaClient,
    ) -> Self {
        let bot = config.bot_user_id();
        Bridge {
            config,
            store,
            matrix,
            threema,
            bot,
            credits: AtomicI64::new(credits::UNKNOWN),
            credits_warned: AtomicBool::new(false),
            threema_wake: Arc::new(Notify::new()),
            outbox_wake: Arc::new(Notify::new()),
            broadcast_wake: Arc::new(Notify::new()),
            board_wake: Notify::new(),
            directory: Default::default(),
            directory_lock: Default::default(),
            directory_wake: Notify::new(),
            started: AtomicBool::new(false),
            shared_uploads: Default::default(),
        }
    }

    fn is_own_user(&self, user_id: &UserId) -> bool {
        is_own_user(user_id, &self.config.homeserver.domain)
    }

    /// Whether `sender` is the bot or a ghost: an event of theirs is the bridge's own echo.
    pub fn sent_by_us(&self, sender: &str) -> bool {
        UserId::parse(sender).is_ok_and(|user| self.is_own_user(&user))
    }

    /// The driver's ghost, registered, with `display_name` (changed only when it differs from the
    /// one recorded: every change is a member event in each of the ghost's rooms).
    pub async fn ensure_ghost_profile(
        &self,
        threema_id: &ThreemaId,
        display_name: &str,
    ) -> Result<OwnedUserId, BridgeError> {
        let (user_id, ghost) = self.ensure_registered(threema_id).await?;
        if ghost.display_name.as_deref() != Some(display_name) {
            self.matrix
                .ensure_display_name(&user_id, display_name)
                .await?;
            self.store
                .ghost_set_profile(threema_id.as_str(), Some(display_name), None)
                .await?;
        }
        Ok(user_id)
    }

    /// Makes sure the driver's ghost exists on the homeserver (once; remembered in the store).
    pub async fn ensure_ghost(&self, threema_id: &ThreemaId) -> Result<OwnedUserId, BridgeError> {
        Ok(self.ensure_registered(threema_id).await?.0)
    }

    /// The ghost's user ID and its store row (as it was before registering, if that was needed).
    async fn ensure_registered(
        &self,
        threema_id: &ThreemaId,
    ) -> Result<(OwnedUserId, Ghost), BridgeError> {
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
        Ok((user_id, ghost))
    }
}
