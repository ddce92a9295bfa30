//! Threema → Matrix: a driver's message into their portal, as their ghost, at the time the
//! driver's app sent it. What the event says is worked out in [`convert`] (pure); this file
//! does the look-ups, uploads and sends around it.

use std::collections::HashMap;

use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, RoomId, UInt, UserId,
    api::client::room::get_room_event,
};
use serde_json::Value;

use bridge_convert::format;

use super::{
    convert::{self, Uploaded},
    polls,
};
use crate::{
    bridge::{BridgeError, Incoming, threema_to_matrix::ThreemaToMatrix},
    store::{Direction, DriverLocation, MessageMapping},
    threema::{ThreemaId, codec::Message, quote},
};

/// What became of a driver's message on the Matrix side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bridged {
    /// The event that shows it (a message, an edit, a redaction), recorded, and the message's
    /// inbox row ended with it in the same commit.
    Recorded(OwnedEventId),
    /// The event that shows it, bridged by an earlier attempt.
    Event(OwnedEventId),
    /// Done without an event to keep (typing shown, a receipt applied): what happened.
    Done(String),
    /// Nothing to do: why (a delete of something never bridged, typing before any portal).
    Skipped(String),
    /// A message type the bridge does not show (kept for an operator).
    NotHandled,
}

impl ThreemaToMatrix {
    /// Bridges one decoded message into the driver's portal.
    ///
    /// Idempotent: a message bridged before returns its event again, and every send uses a
    /// transaction id derived from the Threema message (`threema-<from>-<message id>`), so the
    /// homeserver deduplicates a retry whose answer was lost.
    pub async fn bridge_incoming(&self, incoming: &Incoming) -> Result<Bridged, BridgeError> {
        match &incoming.message {
            Message::DeliveryReceipt {
                status,
                message_ids,
            } => {
                return self
                    .receipts
                    .receipt_to_matrix(incoming, *status, message_ids)
                    .await;
            }
            Message::Unsupported { .. } => return Ok(Bridged::NotHandled),
            Message::Typing(typing) => return self.typing_to_matrix(incoming, *typing).await,
            _ => {}
        }
        let (from, message_id) = (incoming.from.as_str(), incoming.message_id.as_str());
        // Only a message tried before can have been bridged already: the record and the end of
        // its inbox row are one commit, so a row not ended was not recorded either.
        if incoming.attempts > 0
            && let Some(known) = (self.store)
                .message_by_threema_id(from, message_id, Direction::In)
                .await?
        {
            return Ok(Bridged::Event(known.event_id));
        }
        if let Message::Delete { message_id } = &incoming.message {
            return self
                .delete_to_matrix(incoming, &message_id.to_hex_le())
                .await;
        }

        // The directory's name wins over the nickname the driver chose in Threema.
        let name = match self.access.view().driver(&incoming.from) {
            Some((name, _)) => name.to_owned(),
            None => incoming
                .nickname
                .clone()
                .unwrap_or_else(|| incoming.from.to_string()),
        };
        let rows = self.store.sender_rows(from).await?;
        let ghost = (self.ghosts)
            .ensure_named_from(&incoming.from, &name, rows.ghost)
            .await?;
        let room_id = (self.portals)
            .ensure_from(&incoming.from, &ghost, &name, rows.portal)
            .await?;
        let (event_type, content) = self.message_content(incoming, &room_id, &ghost).await?;
        let event_id = self
            .send_as_ghost(incoming, &room_id, &ghost, event_type, &content)
            .await?;
        // The poll first: once the message is recorded, a retry stops before this point.
        if let Message::PollSetup(poll) = &incoming.message
            && !poll.closed
        {
            self.record_poll(incoming, poll, &event_id).await?;
        }
        // A driver's new message after a broadcast answers it: linked from its board.
        if !matches!(
            incoming.message,
            Message::Edit { .. } | Message::PollVote { .. }
        ) && let Some(unanswered) = rows.unanswered
            && (self.store)
                .delivery_answered(unanswered, event_id.as_str())
                .await?
        {
            self.board_wake.notify_one();
        }
        // Before the record: a retry after a crash in between finds its event, and does this.
        if let Message::Text(text) = &incoming.message
            && let Some(status) = self.quick_codes.status(text)
        {
            let at = incoming.date.saturating_mul(1000);
            (self.conversations)
                .driver_status(&incoming.from, &status, &event_id, at)
                .await?;
        }
        // The answer to what the API sent (an event queued once, whatever repeats this).
        if !matches!(
            incoming.message,
            Message::Edit { .. } | Message::PollVote { .. }
        ) {
            let text = match &incoming.message {
                Message::Text(text) => Some(text.as_str()),
                Message::File(file) => file.caption.as_deref(),
                _ => None,
            };
            let status = (text.filter(|_| matches!(incoming.message, Message::Text(_))))
                .and_then(|t| Some((t, self.quick_codes.status(t)?)));
            let status = (status.as_ref()).map(|(code, s)| (code.trim(), s.meaning.as_str()));
            let at = incoming.date.saturating_mul(1000);
            // The API's bookkeeping never holds up bridging the message: a database away fails
            // the record below too, and the whole is tried again.
            let answered = (self.api_events)
                .on_driver_message(incoming.from.as_str(), text, status, at)
                .await;
            if let Err(e) = answered {
                tracing::warn!(error = %e, "the driver's answer to the integration API is not recorded");
            }
        }
        if let Message::Location(location) = &incoming.message {
            let shared = DriverLocation {
                threema_id: incoming.from.to_string(),
                latitude: location.latitude,
                longitude: location.longitude,
                accuracy_m: location.accuracy_m,
                shared_at: incoming.date.saturating_mul(1000),
                event_id: event_id.to_string(),
            };
            let answered = content[LOCATION_ANSWER_KEY].as_str();
            self.store.location_shared(&shared, answered).await?;
        }
        self.record(incoming, &room_id, &event_id, &ghost).await?;
        // After the record, so that a claim on the message finds it; the desk's bookkeeping
        // never holds up (or fails) bridging the message.
        if !matches!(
            incoming.message,
            Message::Edit { .. } | Message::PollVote { .. }
        ) {
            let at = incoming.date.saturating_mul(1000);
            let text = match &incoming.message {
                Message::Text(text) => Some(text.as_str()),
                Message::File(file) => file.caption.as_deref(),
                _ => None,
            };
            // A status (quick code) waits for no answer; it was recorded above.
            let status = text.is_some_and(|t| {
                matches!(incoming.message, Message::Text(_)) && self.quick_codes.status(t).is_some()
            });
            let waiting = match status {
                true => Ok(()),
                false => {
                    (self.conversations)
                        .driver_wrote(&incoming.from, &room_id, &event_id, at, text)
                        .await
                }
            };
            if let Err(e) = waiting {
                tracing::warn!(%room_id, error = %e, "the driver's message is not marked waiting");
            }
        }
        Ok(Bridged::Recorded(event_id))
    }

    /// The event content a message becomes in the portal (receipts, typing and deletes are
    /// not messages; see [`ThreemaToMatrix::bridge_incoming`]).
    async fn message_content(
        &self,
        incoming: &Incoming,
        room_id: &RoomId,
        ghost: &UserId,
    ) -> Result<polls::Content, BridgeError> {
        const MESSAGE: &str = "m.room.message";
        Ok(match &incoming.message {
            Message::PollSetup(poll) => return self.poll_content(incoming, poll).await,
            Message::PollVote {
                creator,
                poll_id,
                choices,
            } => {
                return self
                    .vote_content(incoming, creator, *poll_id, choices)
                    .await;
            }
            _ => (MESSAGE, self.message_body(incoming, room_id, ghost).await?),
        })
    }

    /// The `m.room.message` content of a message that is not a poll.
    async fn message_body(
        &self,
        incoming: &Incoming,
        room_id: &RoomId,
        ghost: &UserId,
    ) -> Result<Value, BridgeError> {
        Ok(match &incoming.message {
            Message::Text(text) => match self.quick_codes.status(text) {
                Some(status) => status.content(),
                None => self.text_content(incoming, text).await?,
            },
            Message::File(_)
            | Message::LegacyImage { .. }
            | Message::LegacyAudio { .. }
            | Message::LegacyVideo { .. } => self.media_content(incoming, room_id, ghost).await?,
            Message::Location(location) => {
                let mut content = convert::location(&self.texts, location);
                // The answer to a `!where`: a reply to it.
                let from = incoming.from.as_str();
                if let Some(request) = self.store.location_request_pending(from).await? {
                    convert::reply_to(&mut content, &request);
                    content[LOCATION_ANSWER_KEY] = Value::String(request);
                }
                content
            }
            Message::Edit { message_id, text } => {
                self.edit_content(incoming, room_id, ghost, &message_id.to_hex_le(), text)
                    .await?
            }
            Message::PollSetup(_) | Message::PollVote { .. } => unreachable!("polls: above"),
            Message::DeliveryReceipt { .. }
            | Message::Unsupported { .. }
            | Message::Typing(_)
            | Message::Delete { .. } => unreachable!("not messages: handled before"),
        })
    }

    /// Text, with Threema markup as HTML; a quote (v2) of a message in the portal becomes a
    /// reply to its event.
    async fn text_content(&self, incoming: &Incoming, text: &str) -> Result<Value, BridgeError> {
        let Some((quoted, reply)) = quote::parse(text) else {
            let html = self.threema_html(text).await?;
            return Ok(convert::text("m.text", text, html));
        };
        let html = self.threema_html(reply).await?;
        Ok(match self.quoted_event(&incoming.from, &quoted).await? {
            Some(event_id) => {
                let mut content = convert::text("m.text", reply, html);
                convert::reply_to(&mut content, event_id.as_str());
                content
            }
            None => {
                let (body, html) =
                    convert::with_note(&crate::tr!(self.texts, "reply-not-here"), reply, html);
                convert::text("m.text", &body, html)
            }
        })
    }

    /// The event of a message in the chat with `driver`: one they sent, or one we sent them.
    async fn quoted_event(
        &self,
        driver: &ThreemaId,
        message_id: &str,
    ) -> Result<Option<OwnedEventId>, BridgeError> {
        for direction in [Direction::In, Direction::Out] {
            if let Some(known) = self
                .store
                .message_by_threema_id(driver.as_str(), message_id, direction)
                .await?
            {
                return Ok(Some(known.event_id));
            }
        }
        Ok(None)
    }

    /// `formatted_body` for Threema text: mentions of drivers become pills to their ghosts.
    async fn threema_html(&self, text: &str) -> Result<Option<String>, BridgeError> {
        let mut mentions = HashMap::new();
        for id in convert::mentioned_ids(text) {
            let Some(threema_id) = ThreemaId::parse(&id).filter(|id| !id.is_gateway_id()) else {
                continue;
            };
            let user_id = self.ghosts.user_id(&threema_id);
            let name = self
                .store
                .ghost_by_threema_id(threema_id.as_str())
                .await?
                .and_then(|ghost| ghost.display_name)
                .unwrap_or_else(|| id.clone());
            mentions.insert(id, (user_id.to_string(), name));
        }
        Ok(format::threema_to_html(text, &|id| {
            mentions.get(id).cloned()
        }))
    }

    /// Uploads the file (and its thumbnail) as the ghost, then describes it.
    async fn media_content(
        &self,
        incoming: &Incoming,
        room_id: &RoomId,
        ghost: &UserId,
    ) -> Result<Value, BridgeError> {
        let Some(media) = incoming.media.as_ref() else {
            return match &incoming.stand_in {
                Some(stand_in) => Ok(convert::text("m.notice", stand_in.text(), None)),
                None => Err(BridgeError::BadEvent(
                    "a file message without its file".into(),
                )),
            };
        };
        let plan = convert::media_plan(&incoming.message, media)
            .ok_or_else(|| BridgeError::BadEvent("not a file message".into()))?;
        let uploaded = self
            .matrix
            .upload_media(
                room_id,
                media.data.clone(),
                &plan.mimetype,
                Some(&plan.file_name),
                ghost,
            )
            .await;
        let file = match uploaded {
            Ok(file) => file,
            // Its limit is lower than it said: the file's place says so rather than nothing.
            Err(e) if e.is_too_large() => {
                let text = super::files::StandIn::too_large(
                    &self.texts,
                    &plan.file_name,
                    plan.size as u64,
                );
                return Ok(convert::text("m.notice", &text, None));
            }
            Err(e) => return Err(e.into()),
        };
        let thumbnail = match (&media.thumbnail, &plan.thumbnail_mimetype) {
            (Some(bytes), Some(mimetype)) => Some((
                (self.matrix)
                    .upload_media(room_id, bytes.clone(), mimetype, None, ghost)
                    .await?,
                bytes.len(),
            )),
            _ => None,
        };
        let caption_html = match &plan.caption {
            Some(caption) => self.threema_html(caption).await?,
            None => None,
        };
        let uploaded = Uploaded { file, thumbnail };
        Ok(convert::media(&plan, &uploaded, caption_html))
    }

    /// An edit replaces the original's event (a file keeps its file and gets the new caption);
    /// an edit of something never bridged is shown as a new message, never dropped.
    async fn edit_content(
        &self,
        incoming: &Incoming,
        room_id: &RoomId,
        ghost: &UserId,
        original: &str,
        text: &str,
    ) -> Result<Value, BridgeError> {
        // A quote keeps its header in an edit; the reply relation stays with the original.
        let text = quote::parse(text).map_or(text, |(_, reply)| reply);
        let html = self.threema_html(text).await?;
        let Some(original) = self
            .store
            .message_by_threema_id(incoming.from.as_str(), original, Direction::In)
            .await?
        else {
            let (body, html) =
                convert::with_note("✏️ (edit of a message not in this room)", text, html);
            return Ok(convert::text("m.text", &body, html));
        };
        let event_id = original.event_id;
        let shown = self.event_content(room_id, &event_id, ghost).await?;
        let new_content = convert::recaption(&shown, text, html.clone())
            .unwrap_or_else(|| convert::text("m.text", text, html));
        Ok(convert::edit(event_id.as_str(), new_content))
    }

    /// The content of an event in a portal, as the ghost sees it.
    async fn event_content(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        ghost: &UserId,
    ) -> Result<Value, BridgeError> {
        let request = get_room_event::v3::Request::new(room_id.to_owned(), event_id.to_owned());
        let event = self.matrix.send(request, Some(ghost)).await?.event;
        let event: Value = serde_json::from_str(event.json().get())
            .map_err(|e| BridgeError::BadEvent(format!("event {event_id}: {e}")))?;
        Ok(event["content"].clone())
    }

    /// Redacts the deleted message's event as the ghost.
    async fn delete_to_matrix(
        &self,
        incoming: &Incoming,
        original: &str,
    ) -> Result<Bridged, BridgeError> {
        let from = incoming.from.as_str();
        let Some(original) = self
            .store
            .message_by_threema_id(from, original, Direction::In)
            .await?
        else {
            return Ok(Bridged::Skipped("never bridged, nothing to redact".into()));
        };
        let ghost = self.ghosts.user_id(&incoming.from);
        let redaction = self
            .matrix
            .redact(
                &original.room_id,
                &original.event_id,
                &txn_id(incoming),
                &ghost,
                None,
            )
            .await?;
        self.record(incoming, &original.room_id, &redaction, &ghost)
            .await?;
        Ok(Bridged::Recorded(redaction))
    }

    /// Shows (or stops) the ghost typing, in an existing portal only: typing alone never opens
    /// a portal, and is not kept as a message.
    async fn typing_to_matrix(
        &self,
        incoming: &Incoming,
        typing: bool,
    ) -> Result<Bridged, BridgeError> {
        let Some(portal) = self
            .store
            .portal_by_threema_id(incoming.from.as_str())
            .await?
        else {
            return Ok(Bridged::Skipped("no portal yet".into()));
        };
        let now_s = MilliSecondsSinceUnixEpoch::now().as_secs().into();
        if typing && !convert::typing_is_current(incoming.date, now_s) {
            return Ok(Bridged::Skipped("stale, not shown".into()));
        }
        let ghost = self.ghosts.user_id(&incoming.from);
        let timeout = typing.then(|| std::time::Duration::from_secs(convert::TYPING_TIMEOUT_S));
        self.matrix.typing(&portal.room_id, &ghost, timeout).await?;
        Ok(Bridged::Done("shown".into()))
    }

    /// Sends the event as the ghost, once: a failure goes back to the Threema inbox, which
    /// retries with backoff (the one retry layer; the client does not repeat this request).
    ///
    /// The transaction id makes a repeat harmless only while the homeserver remembers it, and
    /// Synapse forgets on restart: a send whose answer was lost in a restart would show twice.
    /// So every event carries its Threema message ([`SOURCE_KEY`]), and a retry (the stored
    /// row counts failed attempts, so this holds across a restart of the bridge too) first
    /// looks whether the room has it already.
    async fn send_as_ghost(
        &self,
        incoming: &Incoming,
        room_id: &RoomId,
        ghost: &UserId,
        event_type: &str,
        content: &Value,
    ) -> Result<OwnedEventId, BridgeError> {
        let source = source_of(incoming);
        if incoming.attempts > 0
            && let Some(event_id) = self
                .matrix
                .find_sent(room_id, ghost, SOURCE_KEY, &source)
                .await?
        {
            tracing::info!(%source, %event_id, "found in the room already; not sent again");
            return Ok(event_id);
        }
        let mut content = content.clone();
        content[SOURCE_KEY] = Value::String(source);
        let at = UInt::new(incoming.date.max(0) as u64 * 1000).map(MilliSecondsSinceUnixEpoch);
        Ok(self
            .matrix
            .once()
            .send_event(
                room_id,
                Some(ghost),
                event_type,
                &content,
                &txn_id(incoming),
                at,
            )
            .await?)
    }

    /// Records what the message became and ends its inbox row with it, in one commit.
    async fn record(
        &self,
        incoming: &Incoming,
        room_id: &RoomId,
        event_id: &EventId,
        ghost: &UserId,
    ) -> Result<(), BridgeError> {
        // Before the record, which ends the message's handling: a crash in between repeats
        // this, and the notice is queued once.
        self.outbox.privacy_notice_in_answer(&incoming.from).await?;
        let mapping = MessageMapping {
            room_id: room_id.to_owned(),
            event_id: event_id.to_owned(),
            threema_peer: incoming.from.clone(),
            threema_message_id: incoming.message_id.clone(),
            direction: Direction::In,
            matrix_sender: ghost.to_owned(),
            part: 0,
        };
        let outcome = super::worker::in_portal(incoming, event_id).to_string();
        (self.store)
            .threema_inbox_bridged(incoming.seq, &outcome, &mapping)
            .await?;
        Ok(())
    }
}

/// Content key of a location that answers a `!where` (the request's event).
const LOCATION_ANSWER_KEY: &str = "org.threema_bridge.location_request";

/// Content key naming the Threema message an event shows (`<sender>/<message id>`).
pub const SOURCE_KEY: &str = "threema_bridge.source";

fn source_of(incoming: &Incoming) -> String {
    format!("{}/{}", incoming.from, incoming.message_id)
}

/// The transaction id of everything sent for one Threema message.
fn txn_id(incoming: &Incoming) -> String {
    format!("threema-{}-{}", incoming.from, incoming.message_id)
}

pub(crate) fn parse_event_id(event_id: &str) -> Result<OwnedEventId, BridgeError> {
    EventId::parse(event_id)
        .map_err(|e| BridgeError::BadEvent(format!("event id {event_id:?}: {e}")))
}
