//! Broadcasts: a dispatcher opens a broadcast room for a selection of drivers from the management
//! room (`broadcast <selection>`); every message there goes, after a 👍, to each recipient
//! through the durable outbox, is written into each driver's portal, and gets a status board.
//!
//! The fan-out (`fanout`) posts the copy into the portal first and queues the Threema messages
//! under the copy's event id, so receipts, quotes, answers, failure notices and resends work in
//! the portal as for any message there; the board (`board`) adds them up per broadcast.
//!
//! The management room's selection commands live in `select`, the broadcast room and the life
//! of its broadcasts in `room`, a message posted there in `message`, its `!commands` in
//! `commands`, the copy written into each portal in `copy`, and polls (the copy a Matrix poll,
//! the board counting the votes, their end) in `polls`.

pub mod board;
mod boards;
mod commands;
mod copy;
mod fanout;
mod message;
mod polls;
mod room;
mod select;

pub use fanout::BroadcastFanout;
pub use select::Viewer;

use std::sync::Arc;

use bridge_convert::plan::RelayTemplates;
use ruma::{OwnedServerName, OwnedUserId};
use tokio::sync::Notify;

use super::{Access, Credits, Ghosts, Keys, Notices, Outbox, Portals, Wakes, wiring::Shared};
use crate::{
    config::{BroadcastConfig, Config, KnownDriver, PrivacyConfig},
    directory::plan,
    matrix::MatrixClient,
    store::Store,
};

/// The broadcast flows: the management room's selection commands, the broadcast rooms, the
/// fan-out and the boards. It holds the services and settings it uses, not the whole bridge,
/// so what a broadcast can touch is visible here.
pub struct Broadcasts {
    store: Store,
    matrix: MatrixClient,
    /// The bot: it opens the rooms, posts the copies and uploads the CSV reports.
    bot: OwnedUserId,
    /// The broadcast rooms' aliases are on this server.
    domain: OwnedServerName,
    /// `broadcast:`.
    config: BroadcastConfig,
    /// `privacy:`: what boards and reports show of drivers' reading.
    privacy: PrivacyConfig,
    /// `directory:`: the scopes and names a selection is evaluated with.
    plan: plan::Settings,
    /// `bridge.drivers`: selectable besides the directory's drivers.
    drivers: Vec<KnownDriver>,
    /// `bridge.relay_template` and `emote_template`: how messages are signed.
    relay: RelayTemplates,
    access: Arc<Access>,
    ghosts: Arc<Ghosts>,
    keys: Arc<Keys>,
    portals: Arc<Portals>,
    notices: Arc<Notices>,
    credits: Arc<Credits>,
    /// Where each recipient's Threema messages are queued.
    outbox: Arc<Outbox>,
    /// Rung when a broadcast has recipients to fan out to.
    fanout_wake: Arc<Notify>,
    /// Rung when a board may have changed.
    board_wake: Arc<Notify>,
    /// `bridge.timezone`: the times `!report` shows.
    zone: crate::zone::Zone,
    /// `templates:`: what `!t <name>` sends, filled in per recipient.
    templates: std::collections::BTreeMap<String, String>,
    /// What the bot writes here, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
}

impl Broadcasts {
    pub(in crate::bridge) fn new(
        config: &Config,
        wakes: &Wakes,
        shared: &Shared,
        outbox: Arc<Outbox>,
    ) -> Self {
        let Shared {
            store,
            matrix,
            access,
            ghosts,
            keys,
            portals,
            notices,
            credits,
            ..
        } = shared.clone();
        Broadcasts {
            store,
            matrix,
            bot: config.bot_user_id(),
            domain: config.homeserver.domain.clone(),
            config: config.broadcast.clone(),
            privacy: config.privacy.clone(),
            plan: config.directory.plan.clone(),
            drivers: config.bridge.drivers.clone(),
            relay: RelayTemplates {
                template: config.bridge.relay_template.clone(),
                emote_template: config.bridge.emote_template.clone(),
            },
            access,
            ghosts,
            keys,
            portals,
            notices,
            credits,
            outbox,
            fanout_wake: wakes.broadcast.clone(),
            board_wake: wakes.board.clone(),
            zone: config.bridge.timezone.clone(),
            templates: config.templates.clone(),
            texts: shared.texts.clone(),
        }
    }
}

/// Reactions that confirm a waiting broadcast.
pub const CONFIRM_KEYS: [&str; 3] = ["👍", "👍️", "✅"];
/// A message that starts with this asks drivers to acknowledge it (Threema's thumbs up).
pub const ACK_PREFIX: &str = "!ack";
