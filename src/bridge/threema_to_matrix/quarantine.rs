//! Messages from Threema IDs that are not known drivers (`bridge.unknown_senders`): shown in one
//! quarantine room, where dispatchers can `start` a portal for the sender, or rejected with a
//! log line. Never dropped silently: the inbox row keeps the outcome either way.

use ruma::OwnedRoomId;

use super::ThreemaToMatrix;
use crate::bridge::{BridgeError, Incoming, bot_room::BotRoom, queue::Outcome};
use crate::{
    config::{Level, UnknownSenders},
    threema::{ThreemaId, codec::Message},
};

/// `bridge_state` key of the quarantine room's ID.
pub const QUARANTINE_ROOM: &str = "quarantine_room";

impl ThreemaToMatrix {
    /// May a message from `from` open (or use) a portal? With `unknown_senders: open` anyone
    /// may. (An erased driver never gets here: their ID opens nothing by itself again.)
    pub(crate) async fn is_known_sender(&self, from: &ThreemaId) -> Result<bool, BridgeError> {
        let known = self.ghosts.known_driver(from).is_some()
            || self
                .access
                .view()
                .driver(from)
                .is_some_and(|(_, active)| active)
            || self
                .store
                .portal_by_threema_id(from.as_str())
                .await?
                .is_some();
        Ok(known || self.unknown_senders == UnknownSenders::Open)
    }

    /// Handles a message from an unknown sender by the configured policy.
    pub(crate) async fn handle_unknown_sender(
        &self,
        incoming: &Incoming,
    ) -> Result<Outcome, BridgeError> {
        let from = &incoming.from;
        if self.unknown_senders == UnknownSenders::Reject
            || matches!(
                incoming.message,
                Message::Typing(_) | Message::DeliveryReceipt { .. }
            )
        {
            // What kind of message, never its text: the log and the row are no place for it.
            let kind = describe_kind(&incoming.message);
            tracing::warn!(threema_id = %from, %kind, "message from an unknown sender, not bridged");
            return Ok(Outcome::refused(format!("unknown sender: rejected {kind}")));
        }
        let what = describe(&incoming.message);
        let room_id = self.ensure_quarantine_room().await?;
        let nickname = incoming
            .nickname
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let text = crate::tr!(
            self.texts,
            "quarantine-message",
            from = from.as_str(),
            nickname = nickname,
            what = what
        );
        self.notices
            .notice(
                &room_id,
                None,
                &text,
                &format!("quarantine-{from}-{}", incoming.message_id),
            )
            .await?;
        Ok(Outcome::refused(format!(
            "unknown sender: quarantined {}",
            describe_kind(&incoming.message)
        )))
    }

    /// The shared room for unknown senders: created once, found again through its alias.
    async fn ensure_quarantine_room(&self) -> Result<OwnedRoomId, BridgeError> {
        let name = crate::tr!(self.texts, "quarantine-room-name");
        let topic = crate::tr!(self.texts, "quarantine-room-topic");
        let room = BotRoom {
            state_key: QUARANTINE_ROOM,
            alias: "quarantine",
            name: &name,
            topic: &topic,
            // `bridge.dispatchers` who may use the bridge (with a directory, it decides).
            invite: (self.desk.iter())
                .filter(|user| self.access.level(user) >= Level::Dispatcher)
                .cloned()
                .collect(),
        };
        room.ensure(&self.store, &self.matrix, &self.domain).await
    }
}

/// What arrived, readable for a dispatcher (the text itself for a text message).
fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("“{text}”"),
        other => describe_kind(other),
    }
}

fn describe_kind(message: &Message) -> String {
    match message {
        Message::Text(_) => "a text".into(),
        Message::File(f) => format!("a file ({})", f.media_type),
        Message::Location(l) => format!("a location ({:.5}, {:.5})", l.latitude, l.longitude),
        Message::LegacyImage { .. } => "an image".into(),
        Message::LegacyAudio { .. } => "a voice message".into(),
        Message::LegacyVideo { .. } => "a video".into(),
        Message::PollSetup(p) => format!("a poll: {}", p.description),
        _ => "a message".into(),
    }
}
