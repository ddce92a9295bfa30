//! Threema → Matrix: what a driver's app sent, into the driver's portal.
//!
//! `worker` drains the Threema inbox (callbacks persisted by `http::threema`): opens the box with
//! the driver's key (`keys` holds a changed key back), decodes, routes strangers to
//! `quarantine`, and has `files` fetch a file within the homeserver's upload limit and the
//! memory set aside for files. `send` posts the result as the driver's ghost, once, at the
//! driver's time; `convert` is the pure part (Threema message → Matrix content); `polls` makes a
//! driver's polls and votes Matrix poll events.

pub mod convert;
pub mod files;
pub mod keys;
mod polls;
pub mod quarantine;
pub mod send;
pub mod worker;

pub use send::Bridged;
pub(crate) use send::parse_event_id;
pub use worker::{Incoming, ThreemaInbox};

use std::sync::Arc;

use ruma::{OwnedServerName, OwnedUserId};
use tokio::sync::Notify;

use super::{Access, Ghosts, Keys, Notices, Outbox, Portals, Receipts, Wakes, wiring::Shared};
use crate::{
    config::{Config, UnknownSenders},
    matrix::MatrixClient,
    store::Store,
    threema::ThreemaClient,
};

/// The Threema inbox's worker: a driver's message from the stored callback into the portal.
pub struct ThreemaToMatrix {
    store: Store,
    matrix: MatrixClient,
    threema: Arc<ThreemaClient>,
    access: Arc<Access>,
    ghosts: Arc<Ghosts>,
    keys: Arc<Keys>,
    portals: Arc<Portals>,
    notices: Arc<Notices>,
    /// A phone's delivery receipts become the ghost's ✓ and ✓✓.
    receipts: Arc<Receipts>,
    /// A driver who writes first is answered with the privacy notice.
    outbox: Arc<Outbox>,
    /// Where the quarantine room's alias lives.
    domain: OwnedServerName,
    unknown_senders: UnknownSenders,
    /// Recognises erased drivers' IDs.
    erased_ids: crate::bridge::lifecycle::erase::IdHasher,
    /// Invited to the quarantine room (`bridge.dispatchers`, as far as they may use it).
    desk: Vec<OwnedUserId>,
    download_attempts: i64,
    /// A driver's answer may change a broadcast's board.
    board_wake: Arc<Notify>,
    /// `quick_codes:`: a driver's text that is exactly a code is a status.
    quick_codes: crate::bridge::quick_codes::QuickCodes,
    /// What the bot writes, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
    /// The homeserver's upload limit, asked once.
    upload_limit: files::UploadLimit,
    /// Memory for drivers' files in flight.
    file_memory: files::FileMemory,
    metrics: Arc<crate::metrics::Metrics>,
    /// A driver's message waits for the desk (`inbox:`).
    conversations: Arc<crate::bridge::desk::Conversations>,
    /// A driver's message answers what the API sent them: reported to its webhooks.
    api_events: Arc<crate::bridge::integration::events::ApiEvents>,
}

impl ThreemaToMatrix {
    pub(in crate::bridge) fn new(
        config: &Config,
        wakes: &Wakes,
        shared: &Shared,
        receipts: Arc<Receipts>,
        outbox: Arc<Outbox>,
    ) -> Self {
        let Shared {
            store,
            matrix,
            threema,
            access,
            ghosts,
            keys,
            portals,
            notices,
            metrics,
            conversations,
            ..
        } = shared.clone();
        ThreemaToMatrix {
            conversations,
            store,
            matrix,
            threema,
            access,
            ghosts,
            keys,
            portals,
            notices,
            receipts,
            outbox,
            domain: config.homeserver.domain.clone(),
            unknown_senders: config.bridge.unknown_senders,
            erased_ids: crate::bridge::lifecycle::erase::IdHasher::new(config),
            desk: config.bridge.dispatchers.clone(),
            download_attempts: config.threema.download_attempts,
            board_wake: wakes.board.clone(),
            quick_codes: config.quick_codes.clone(),
            texts: shared.texts.clone(),
            upload_limit: Default::default(),
            file_memory: files::FileMemory::new(config.threema.file_memory_mib),
            metrics,
            api_events: shared.api_events.clone(),
        }
    }
}
