//! A message posted in a broadcast room: a `!command`, or a broadcast that is planned, recorded
//! and previewed until the 👍 (or started at once in a room confirmed once).

use crate::bridge::Outcome;
use bridge_convert::format::strip_reply_fallback;
use bridge_convert::plan::{EditTarget, Outgoing, Plan, plan_message, signed_text};
use ruma::{
    EventId, RoomId, UserId,
    events::room::message::{MessageType, Relation, RoomMessageEventContent},
};
use serde_json::{Value, json};

use super::{
    Broadcasts,
    commands::{ROOM_COMMANDS, command_word},
    copy::{portal_copy, strip_ack},
    select::{affordable, credits},
};
use crate::{
    bridge::{BridgeError, quick_replies},
    config::{Confirm, Level},
    store::{Broadcast, BroadcastRoom, BroadcastState, NewBroadcast},
};

/// What a message in a broadcast room becomes once planned.
enum Planned {
    /// The Threema messages for every recipient, and the copy for each driver's portal.
    Send { items: Vec<Outgoing>, copy: Value },
    /// Nothing to send.
    Nothing,
    /// Not sent, for this reason (told in the room).
    Refused(String),
}

impl Broadcasts {
    /// A message in a broadcast room: a command (`!…`) or a broadcast, previewed and waiting for
    /// the 👍 (or started at once in a room confirmed once).
    pub(in crate::bridge) async fn handle_message(
        &self,
        room: &BroadcastRoom,
        event_id: &EventId,
        sender: &UserId,
        content: &RoomMessageEventContent,
        raw_content: &Value,
    ) -> Result<Outcome, BridgeError> {
        let room_id = room.room_id.clone();
        if self.access.level(sender) < Level::Dispatcher {
            let text = crate::tr!(self.texts, "broadcast-not-permitted");
            return self.refuse(&room_id, event_id, text).await;
        }
        let body = match &content.msgtype {
            MessageType::Text(t) => Some(strip_reply_fallback(&t.body)),
            _ => None,
        };
        let word = body.and_then(command_word);
        let ack = word.as_deref() == Some("ack");
        if let Some(word) = word.filter(|w| ROOM_COMMANDS.contains(&w.as_str())) {
            return self
                .room_command(room, &room_id, event_id, sender, content, &word)
                .await;
        }
        if matches!(content.relates_to, Some(Relation::Replacement(_))) {
            return self
                .refuse(
                    &room_id,
                    event_id,
                    crate::tr!(self.texts, "broadcast-no-edits"),
                )
                .await;
        }
        let (items, copy) = match self
            .plan_broadcast(&room_id, sender, content, raw_content, ack)
            .await?
        {
            Planned::Send { items, copy } => (items, copy),
            Planned::Nothing => return Ok(Outcome::skipped("nothing to broadcast")),
            Planned::Refused(reason) => {
                return self.refuse(&room_id, event_id, reason).await;
            }
        };
        self.record_and_confirm(room, event_id, sender, &items, &copy, ack)
            .await
    }

    /// Records a planned broadcast, then starts it (a room confirmed once) or previews it for
    /// the 👍.
    pub(super) async fn record_and_confirm(
        &self,
        room: &BroadcastRoom,
        event_id: &EventId,
        sender: &UserId,
        items: &[Outgoing],
        copy: &Value,
        ack: bool,
    ) -> Result<Outcome, BridgeError> {
        let room_id = room.room_id.clone();
        let (recorded, broadcast) = self
            .record(room, event_id, sender, items, copy, ack)
            .await?;
        if broadcast.state != BroadcastState::Awaiting {
            return Ok(Outcome::skipped("broadcast already handled"));
        }
        if self.config.confirm == Confirm::Once && room.confirmed_at.is_some() {
            return self.start(room, &broadcast, false).await;
        }
        self.ask_confirmation(room, &room_id, event_id, sender, items, recorded)
            .await
    }

    /// An occurrence of a scheduled message (`!every` in this room), posted by the bot as
    /// `event_id`: recorded as a broadcast of `sender` and started at once (the schedule was
    /// the confirmation), to the room's selection as it is now.
    pub(in crate::bridge) async fn scheduled(
        &self,
        room: &BroadcastRoom,
        event_id: &EventId,
        sender: &UserId,
        sender_name: &str,
        text: &str,
    ) -> Result<Outcome, BridgeError> {
        let relay = self.relay.by(sender_name);
        let items = signed_text(text, relay);
        let marker = self.copy_marker(sender_name, false);
        let copy = portal_copy(&json!({"msgtype": "m.text", "body": text}), &marker);
        let (_, broadcast) = self
            .record(room, event_id, sender, &items, &copy, false)
            .await?;
        if broadcast.state != BroadcastState::Awaiting {
            return Ok(Outcome::skipped("scheduled broadcast already started"));
        }
        // Nobody is asked before it goes: the credits are checked here instead.
        let recipients = match self.room_recipients(room, sender).await? {
            Ok(recipients) => recipients.len(),
            Err(_) => 0,
        };
        let total = credits(&items, recipients);
        let balance = self.credits.refresh().await;
        if !affordable(total, balance) {
            self.store.broadcast_cancel(event_id.as_str()).await?;
            let text = crate::tr!(
                self.texts,
                "broadcast-scheduled-no-credits",
                cost = total,
                balance = balance.unwrap_or_default()
            );
            (self.notices)
                .notice(
                    &room.room_id,
                    Some(event_id),
                    &text,
                    &format!("credits-{event_id}"),
                )
                .await?;
            return Ok(Outcome::failed("scheduled broadcast: not enough credits"));
        }
        self.start(room, &broadcast, false).await
    }

    /// Tells the room why a message is not broadcast.
    pub(super) async fn refuse(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        text: String,
    ) -> Result<Outcome, BridgeError> {
        self.notices
            .notice(
                room_id,
                Some(event_id),
                &text,
                &format!("refused-{event_id}"),
            )
            .await
            .map(|()| Outcome::refused(format!("not broadcast: {text}")))
    }

    /// The Threema messages a broadcast sends (signed with the sender's name, files uploaded
    /// once for all, `!ack` turned into a request) and its copy for the portals.
    async fn plan_broadcast(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        content: &RoomMessageEventContent,
        raw_content: &Value,
        ack: bool,
    ) -> Result<Planned, BridgeError> {
        let mut content = content.clone();
        let mut raw_content = raw_content.clone();
        if ack {
            strip_ack(&mut content, &mut raw_content);
        }
        let display_name = self
            .matrix
            .member_display_name(room_id, sender)
            .await?
            .unwrap_or_else(|| sender.localpart().to_owned());
        // `!t <name>`: the template goes, filled in and signed for each recipient at the fan-out.
        if let MessageType::Text(text) = &content.msgtype
            && let Some(asked) = quick_replies::requested(strip_reply_fallback(&text.body))
        {
            let name = match asked {
                Ok(name) => name,
                Err(asked) => return Ok(Planned::Refused(asked.say(&self.texts))),
            };
            let Some(template) = quick_replies::find(&self.templates, name) else {
                return Ok(Planned::Refused(quick_replies::unknown(&self.texts, name)));
            };
            let mut items = vec![Outgoing::Template {
                text: template.to_owned(),
                dispatcher: display_name.clone(),
            }];
            if ack {
                items.push(Outgoing::Text {
                    text: crate::tr!(self.texts, "broadcast-ack-request"),
                    reply_to: None,
                });
            }
            // Each portal's copy is written from the template filled in for its driver.
            let marker = self.copy_marker(&display_name, ack);
            let copy = portal_copy(&json!({"msgtype": "m.text", "body": template}), &marker);
            return Ok(Planned::Send { items, copy });
        }
        let relay = self.relay.by(&display_name);
        let mut items = match plan_message(&content, relay, |_| EditTarget::Unknown) {
            Plan::Send(items) if !items.is_empty() => items,
            Plan::Send(_) => return Ok(Planned::Nothing),
            Plan::Refuse(reason) => return Ok(Planned::Refused(self.texts.refusal(&reason))),
        };
        // One upload of a file's blobs serves every recipient.
        for item in &mut items {
            if let Outgoing::File(file) = item {
                file.shared = true;
            }
        }
        if ack {
            items.push(Outgoing::Text {
                text: crate::tr!(self.texts, "broadcast-ack-request"),
                reply_to: None,
            });
        }
        let marker = self.copy_marker(&display_name, ack);
        let copy = portal_copy(&raw_content, &marker);
        Ok(Planned::Send { items, copy })
    }

    /// Records the broadcast (once: seeing the event again keeps the first record) and reads it
    /// back; `true` if it was recorded now.
    async fn record(
        &self,
        room: &BroadcastRoom,
        event_id: &EventId,
        sender: &UserId,
        items: &[Outgoing],
        copy: &Value,
        ack: bool,
    ) -> Result<(bool, Broadcast), BridgeError> {
        let recorded = self
            .store
            .broadcast_insert(&NewBroadcast {
                event_id: event_id.to_string(),
                room_id: room.room_id.to_string(),
                sender: sender.to_string(),
                content: copy.to_string(),
                payload: serde_json::to_string(items).expect("outgoing messages serialise"),
                ack,
            })
            .await?;
        let broadcast = self
            .store
            .broadcast_get(event_id.as_str())
            .await?
            .ok_or_else(|| BridgeError::BadEvent("broadcast just recorded".into()))?;
        Ok((recorded, broadcast))
    }

    /// The preview of a waiting broadcast (recipients, credits, balance) that the 👍 confirms,
    /// or, if the credits do not cover it, its cancellation.
    async fn ask_confirmation(
        &self,
        room: &BroadcastRoom,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
        items: &[Outgoing],
        recorded: bool,
    ) -> Result<Outcome, BridgeError> {
        let recipients = match self.room_recipients(room, sender).await? {
            Ok(r) => r,
            Err(e) => {
                let text = crate::tr!(
                    self.texts,
                    "broadcast-room-selection-not-understood",
                    error = e.to_string()
                );
                return self.refuse(room_id, event_id, text).await;
            }
        };
        let total = credits(items, recipients.len());
        let balance = self.credits.refresh().await;
        let balance_text = match balance {
            Some(b) => crate::tr!(self.texts, "broadcast-balance", balance = b),
            None => crate::tr!(self.texts, "broadcast-balance-unknown"),
        };
        let mut text = crate::tr!(
            self.texts,
            "broadcast-preview",
            count = recipients.len(),
            credits = total,
            balance = balance_text
        );
        if let Some(Outgoing::Template { text: template, .. }) = items.first() {
            text.push(' ');
            text.push_str(&crate::tr!(
                self.texts,
                "broadcast-each-gets",
                template = template.as_str()
            ));
        }
        text.push(' ');
        if !affordable(total, balance) {
            self.store.broadcast_cancel(event_id.as_str()).await?;
            text.push_str(&crate::tr!(self.texts, "broadcast-no-credits"));
        } else {
            text.push_str(&crate::tr!(self.texts, "broadcast-confirm-how"));
        }
        let preview = self
            .notices
            .post(
                room_id,
                Some(event_id),
                &mut RoomMessageEventContent::notice_plain(&text),
                &format!("broadcast-preview-{event_id}"),
            )
            .await?;
        // Awaiting its confirmation, the broadcast has reached nobody: no erasure rebuilt its board.
        self.store
            .broadcast_set_board(event_id.as_str(), preview.as_str(), &text, 0)
            .await?;
        Ok(Outcome::bridged(format!(
            "broadcast {} to {} recipient(s): preview posted, waiting for confirmation",
            if recorded { "recorded" } else { "seen again" },
            recipients.len()
        )))
    }
}
