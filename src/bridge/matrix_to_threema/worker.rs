//! The Matrix inbox: what each event the homeserver pushed means to the bridge.

mod agreements;
mod decrypt;
mod polls;
mod portal_words;
mod room_events;

pub use agreements::agreement;
use portal_words::{Template, answered_event, is_location_request};

use std::sync::Arc;

use bridge_convert::{
    plan::{EditTarget, RelayTemplates, plan_message, plan_redaction},
    poll,
};
use ruma::{
    OwnedEventId, OwnedServerName, OwnedUserId,
    events::room::message::{MessageType, Relation, RoomMessageEventContent},
};
use serde::Deserialize;

use super::{Outbox, sender_names::SenderNames};
use crate::bridge::{
    Access, BridgeError, Broadcasts, Directory, Ghosts, Management, Notices, Portals, Receipts,
    broadcast::CONFIRM_KEYS,
    desk::{
        PortalCommand,
        duty::{self, Urgent},
    },
    management::CommandMessage,
    queue::{Handled, Outcome, Queue},
    status,
    wiring::Shared,
};
use crate::{
    config::{Config, Level},
    matrix::MatrixClient,
    store::{InboxItem, InboxKind, Portal, Store, StoreError},
};

/// The Matrix inbox's worker: what an event the homeserver pushed means, handed to the service
/// that does it. It holds those services and what routing reads, not the whole bridge.
pub struct MatrixToThreema {
    store: Store,
    /// Reads a sender's display name; declines invites from other servers.
    matrix: MatrixClient,
    /// The names messages are signed with, kept until a member event or a redaction here.
    names: SenderNames,
    /// The bot: invites to it open management rooms.
    bot: OwnedUserId,
    /// Invites from users of this server only.
    domain: OwnedServerName,
    /// `bridge.relay_template` and `emote_template`: how messages are signed.
    relay: RelayTemplates,
    access: Arc<Access>,
    /// Tells the bridge's own echoes apart.
    ghosts: Arc<Ghosts>,
    /// Tells a message in a portal being opened from one outside any portal.
    portals: Arc<Portals>,
    notices: Arc<Notices>,
    outbox: Arc<Outbox>,
    receipts: Arc<Receipts>,
    management: Arc<Management>,
    broadcasts: Arc<Broadcasts>,
    /// Records room membership and keeps closed rooms closed.
    directory: Arc<Directory>,
    /// The shared inbox: answers, claims, handled marks (`inbox:`).
    conversations: Arc<crate::bridge::desk::Conversations>,
    /// Scheduled messages: `!at`, `!every`, `!scheduled`, `!cancel` in portals and broadcast
    /// rooms.
    schedules: Arc<crate::bridge::Schedules>,
    /// `templates:`: what `!t <name>` sends.
    templates: std::collections::BTreeMap<String, String>,
    /// `bridge.location_request`: what `!where` sends.
    location_request_text: String,
    /// What the bot writes, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
    /// `bridge.reactions_to_drivers`: 👍 / 👎 on a driver's message reach the phone.
    reactions_to_drivers: bool,
}

/// The services the worker hands events to.
pub struct Flows {
    pub outbox: Arc<Outbox>,
    pub receipts: Arc<Receipts>,
    pub management: Arc<Management>,
    pub broadcasts: Arc<Broadcasts>,
    pub directory: Arc<Directory>,
    pub schedules: Arc<crate::bridge::Schedules>,
}

impl MatrixToThreema {
    pub(in crate::bridge) fn new(config: &Config, shared: &Shared, flows: Flows) -> Self {
        let Shared {
            store,
            matrix,
            access,
            ghosts,
            portals,
            notices,
            conversations,
            ..
        } = shared.clone();
        let Flows {
            outbox,
            receipts,
            management,
            broadcasts,
            directory,
            schedules,
        } = flows;
        MatrixToThreema {
            store,
            matrix,
            names: SenderNames::default(),
            bot: config.bot_user_id(),
            domain: config.homeserver.domain.clone(),
            relay: RelayTemplates {
                template: config.bridge.relay_template.clone(),
                emote_template: config.bridge.emote_template.clone(),
            },
            access,
            ghosts,
            portals,
            notices,
            outbox,
            receipts,
            management,
            broadcasts,
            directory,
            conversations,
            schedules,
            templates: config.templates.clone(),
            location_request_text: (config.bridge.location_request.clone())
                .unwrap_or_else(|| crate::tr!(shared.texts, "location-request-default")),
            texts: shared.texts.clone(),
            reactions_to_drivers: config.bridge.reactions_to_drivers,
        }
    }
}

/// The fields of a timeline event the core looks at; the rest stays in the stored payload.
#[derive(Debug, Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    event_type: String,
    event_id: OwnedEventId,
    sender: OwnedUserId,
    room_id: ruma::OwnedRoomId,
    /// Redactions in room versions before 11.
    redacts: Option<String>,
    state_key: Option<String>,
    #[serde(default)]
    content: serde_json::Value,
    /// When the sender's homeserver took it (Unix ms).
    #[serde(default)]
    origin_server_ts: i64,
}

/// The Matrix inbox as a durable queue for the generic runner: one lane per room.
pub struct MatrixInbox(pub Arc<MatrixToThreema>);

impl Queue for MatrixInbox {
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

    async fn handle(&self, item: &InboxItem) -> Result<Handled, BridgeError> {
        self.0.handle_item(item).await.map(Handled::from)
    }

    async fn finish(&self, item: &InboxItem, outcome: &Outcome) -> Result<(), StoreError> {
        self.0
            .store
            .inbox_finish(item.seq, &outcome.to_string())
            .await
            .map(drop)
    }

    async fn record_attempt(&self, item: &mut InboxItem) -> Result<(), StoreError> {
        self.0.store.inbox_record_attempt(item.seq).await?;
        item.attempts += 1;
        Ok(())
    }
}

impl MatrixToThreema {
    /// Handles one item of the Matrix inbox and returns the outcome to record.
    pub async fn handle_item(&self, item: &InboxItem) -> Result<Outcome, BridgeError> {
        if item.kind == InboxKind::Ephemeral {
            return match item.event_type.as_str() {
                "m.receipt" => {
                    self.receipts
                        .read_receipt_to_threema(&item.room_id, &item.payload)
                        .await
                }
                // Typing stored by releases that still stored it: not sent to drivers, as every
                // Gateway message costs a credit.
                other => Ok(Outcome::skipped(format!("ephemeral {other}: not bridged"))),
            };
        }
        let event: EventHead = serde_json::from_str(&item.payload)
            .map_err(|e| BridgeError::BadEvent(e.to_string()))?;
        if self.ghosts.is_bridge_user(&event.sender) {
            return Ok(Outcome::skipped("echo"));
        }
        if let Some(crypto) = self.matrix.crypto() {
            match event.event_type.as_str() {
                "m.room.encrypted" => {
                    return match self.decrypted(crypto, &item.payload, &event).await? {
                        Ok(inner) => self.handle_event(&inner).await,
                        Err(outcome) => Ok(outcome),
                    };
                }
                "m.room.encryption" if event.state_key.as_deref() == Some("") => {
                    crypto.mark_encrypted(&event.room_id);
                    return Ok(Outcome::skipped(
                        "encryption turned on: the bridge encrypts here",
                    ));
                }
                _ => {}
            }
        }
        self.handle_event(&event).await
    }

    /// A timeline event (decrypted, where it was encrypted) to the service that handles it.
    async fn handle_event(&self, event: &EventHead) -> Result<Outcome, BridgeError> {
        match event.event_type.as_str() {
            "m.room.member" => {
                if let Some(user) =
                    (event.state_key.as_deref()).and_then(|key| ruma::UserId::parse(key).ok())
                {
                    self.names.forget(&event.room_id, &user);
                }
                self.handle_membership(event).await
            }
            "m.room.message" => self.handle_message(event).await,
            "m.room.redaction" => {
                self.names.forget_room(&event.room_id);
                self.handle_redaction(event).await
            }
            "m.reaction" => self.handle_reaction(event).await,
            other if let Some((_, kind)) = poll::Namespace::of(other) => {
                self.handle_poll(event, kind).await
            }
            "m.room.encrypted" => self.handle_encrypted(event).await,
            "m.room.encryption" if event.state_key.as_deref() == Some("") => {
                self.handle_encrypted(event).await
            }
            other => Ok(Outcome::skipped(format!("ignored {other}"))),
        }
    }

    /// A message in a portal goes to the driver; in a management room it is a command.
    async fn handle_message(&self, event: &EventHead) -> Result<Outcome, BridgeError> {
        let content: RoomMessageEventContent = serde_json::from_value(event.content.clone())
            .map_err(|e| BridgeError::BadEvent(format!("message content: {e}")))?;
        let event_id = &event.event_id;
        // Asked before the store: a portal is recorded before it stops counting as opening,
        // so one that finishes in between is found below, not taken for no portal.
        let opening = self.portals.opening();
        if let Some(portal) = self.store.portal_by_room_id(event.room_id.as_str()).await? {
            return self.message_to_driver(event, &content, portal).await;
        }
        if let Some(room) = self.store.broadcast_room(event.room_id.as_str()).await? {
            if self.outbox.predates_restore(event.origin_server_ts) {
                self.notices
                    .notice(
                        &event.room_id,
                        Some(event_id),
                        &crate::tr!(self.texts, "broadcast-before-restore"),
                        &format!("restored-{event_id}"),
                    )
                    .await?;
                return Ok(Outcome::skipped("broadcast from before the restore"));
            }
            if let MessageType::Text(text) = &content.msgtype
                && self.access.level(&event.sender) >= Level::Dispatcher
                && !matches!(content.relates_to, Some(Relation::Replacement(_)))
            {
                let body = bridge_convert::format::strip_reply_fallback(&text.body);
                if let Some(outcome) = (self.schedules)
                    .command(
                        &event.room_id,
                        event_id,
                        &event.sender,
                        None,
                        body,
                        event.origin_server_ts,
                    )
                    .await?
                {
                    return Ok(outcome);
                }
            }
            return self
                .broadcasts
                .handle_message(&room, event_id, &event.sender, &content, &event.content)
                .await;
        }
        if self.is_command_room(&event.room_id).await? {
            if self.outbox.predates_restore(event.origin_server_ts) {
                return Ok(Outcome::skipped("command from before the restore"));
            }
            let body = match &content.msgtype {
                MessageType::Text(text) => bridge_convert::format::strip_reply_fallback(&text.body),
                _ => return Ok(Outcome::skipped("not a command")),
            };
            let reply_to = match &content.relates_to {
                Some(Relation::Reply(reply)) => Some(reply.in_reply_to.event_id.as_ref()),
                _ => None,
            };
            let message = CommandMessage {
                room_id: &event.room_id,
                event_id,
                sender: &event.sender,
                reply_to,
            };
            return self.management.handle_command(&message, body).await;
        }
        if opening {
            // Perhaps the desk wrote in a portal the bridge has created but not yet recorded
            // (a dispatcher quick off the mark): look again shortly.
            return Err(BridgeError::NotYet("a portal is being opened".into()));
        }
        Ok(Outcome::skipped("message outside a portal"))
    }

    /// A dispatcher's message in a portal goes to its driver, unless the dispatcher may not
    /// write to them or the driver left.
    async fn message_to_driver(
        &self,
        event: &EventHead,
        content: &RoomMessageEventContent,
        portal: Portal,
    ) -> Result<Outcome, BridgeError> {
        let event_id = &event.event_id;
        if let Some(refused) = self.refused(event, &portal).await? {
            return Ok(refused);
        }
        let driver = portal.threema_id;
        // `!at`, `!every`, `!scheduled`, `!cancel`: the schedules of this portal.
        if let MessageType::Text(text) = &content.msgtype
            && !matches!(content.relates_to, Some(Relation::Replacement(_)))
            && !self.outbox.predates_restore(event.origin_server_ts)
        {
            let body = bridge_convert::format::strip_reply_fallback(&text.body);
            if let Some(outcome) = (self.schedules)
                .command(
                    &event.room_id,
                    event_id,
                    &event.sender,
                    Some(&driver),
                    body,
                    event.origin_server_ts,
                )
                .await?
            {
                return Ok(outcome);
            }
            if is_location_request(body) {
                return self.location_request(event, &driver).await;
            }
        }
        // `!claim`, `!done`, …: the desk's words about the conversation, not for the driver.
        if self.conversations.enabled()
            && let MessageType::Text(text) = &content.msgtype
            && !matches!(content.relates_to, Some(Relation::Replacement(_)))
        {
            let body = bridge_convert::format::strip_reply_fallback(&text.body);
            let mentioned: Vec<OwnedUserId> = (content.mentions.iter())
                .flat_map(|m| m.user_ids.iter().cloned())
                .collect();
            if let Some(command) = PortalCommand::parse(body, &mentioned) {
                if self.outbox.predates_restore(event.origin_server_ts) {
                    return Ok(Outcome::skipped("desk command from before the restore"));
                }
                return (self.conversations)
                    .command(&driver, &event.room_id, event_id, &event.sender, command)
                    .await;
            }
        }
        // `!urgent`: past the driver's off-duty hold (an edit follows its message instead).
        let mut content = content.clone();
        let urgent = match self.conversations.enabled() {
            true => duty::take_urgent(&mut content),
            false => Urgent::No,
        };
        if urgent == Urgent::Release {
            if self.outbox.predates_restore(event.origin_server_ts) {
                return Ok(Outcome::skipped("!urgent from before the restore"));
            }
            let answered = match answered_event(&content) {
                Some(answered) => Some(self.held_message_of(&event.room_id, answered).await),
                None => None,
            };
            return (self.release_held(event, &driver, answered.as_ref())).await;
        }
        let display_name = self.sender_name(event).await?;
        // `!t <name>`: a template filled in for this driver goes instead; the desk is shown
        // what went.
        let template = match self.template(&content, &driver, &display_name).await? {
            Template::None => None,
            Template::Refused(why) => {
                let event_id = &event.event_id;
                (self.notices)
                    .notice(
                        &event.room_id,
                        Some(event_id),
                        &why,
                        &format!("refused-{event_id}"),
                    )
                    .await?;
                // Not the words: they are the dispatcher's message.
                return Ok(Outcome::refused(
                    "not sent: the template asked for was refused",
                ));
            }
            Template::Filled(text) => {
                let relates_to = content.relates_to.take();
                content = RoomMessageEventContent::text_plain(text.clone());
                content.relates_to = relates_to;
                Some(text)
            }
        };
        let relay = self.relay.by(&display_name);
        let edit_target = match &content.relates_to {
            Some(Relation::Replacement(r)) => {
                self.outbox
                    .edit_target(r.event_id.as_str(), &driver, &event.sender)
                    .await?
            }
            _ => EditTarget::Unknown,
        };
        let plan = plan_message(&content, relay, |_| edit_target);
        let outcome = self
            .outbox
            .enqueue(
                plan,
                &driver,
                &event.room_id,
                event_id,
                &event.sender,
                event.origin_server_ts,
                urgent == Urgent::Message,
            )
            .await?;
        if let (Some(text), Outcome::Bridged(_)) = (&template, &outcome) {
            let event_id = &event.event_id;
            (self.notices)
                .notice(
                    &event.room_id,
                    Some(event_id),
                    &crate::tr!(self.texts, "template-sent", text = text.as_str()),
                    &format!("template-{event_id}"),
                )
                .await?;
        }
        // Written to the driver (an edit of an earlier answer is not a new one).
        if matches!(outcome, Outcome::Bridged(_))
            && !matches!(content.relates_to, Some(Relation::Replacement(_)))
        {
            (self.conversations)
                .answered(
                    &driver,
                    &event.room_id,
                    &event.sender,
                    event.origin_server_ts,
                )
                .await?;
        }
        Ok(outcome)
    }

    /// Why nothing of `event` may go to `driver` (told in the portal), if so: the dispatcher
    /// may not see the driver, the driver left, or they are restricted (GDPR Art. 18).
    async fn refused(
        &self,
        event: &EventHead,
        portal: &Portal,
    ) -> Result<Option<Outcome>, BridgeError> {
        let (event_id, driver) = (&event.event_id, &portal.threema_id);
        let (text, outcome) = if !self.access.may_see(&event.sender, driver) {
            (
                crate::tr!(self.texts, "portal-not-permitted"),
                format!("not sent: {} is not permitted", event.sender),
            )
        } else if self.access.is_former_driver(driver) {
            (
                crate::tr!(self.texts, "portal-driver-left"),
                format!("not sent: {driver} has left"),
            )
        } else if portal.restricted {
            // Only the bot can still post in a restricted portal; nothing of it leaves.
            return Ok(Some(Outcome::refused(format!(
                "not sent: {} (GDPR Art. 18)",
                super::RESTRICTED
            ))));
        } else {
            return Ok(None);
        };
        (self.notices)
            .notice(
                &event.room_id,
                Some(event_id),
                &text,
                &format!("refused-{event_id}"),
            )
            .await?;
        Ok(Some(Outcome::refused(outcome)))
    }

    /// The name the driver sees a dispatcher's messages signed with.
    async fn sender_name(&self, event: &EventHead) -> Result<String, BridgeError> {
        Ok((self.names)
            .name(&self.matrix, &event.room_id, &event.sender)
            .await?
            .unwrap_or_else(|| event.sender.localpart().to_owned()))
    }

    /// This process is the active one again (active/standby): what it kept of the rooms, the
    /// other one may have seen change.
    pub fn new_term(&self) {
        self.names.forget_all();
    }

    /// 🔁 on a message that failed (or whose outcome is unknown) sends it again: the dispatcher
    /// decides, after reading the notice. Other reactions stay in Matrix.
    async fn handle_reaction(&self, event: &EventHead) -> Result<Outcome, BridgeError> {
        let relates = &event.content["m.relates_to"];
        let (Some(target), Some(key)) = (relates["event_id"].as_str(), relates["key"].as_str())
        else {
            return Ok(Outcome::skipped("reaction without a target"));
        };
        if CONFIRM_KEYS.contains(&key)
            && let Some(room) = self.store.broadcast_room(event.room_id.as_str()).await?
        {
            if self.outbox.predates_restore(event.origin_server_ts) {
                return Ok(Outcome::skipped("confirmation from before the restore"));
            }
            return self.broadcasts.confirm(&room, target, &event.sender).await;
        }
        let Some(portal) = self.store.portal_by_room_id(event.room_id.as_str()).await? else {
            return Ok(Outcome::skipped("reaction not bridged"));
        };
        let allowed = self.access.may_see(&event.sender, &portal.threema_id)
            && !self.outbox.predates_restore(event.origin_server_ts);
        // The desk's part first (a handled mark, a claim); 👍 / 👎 then go to the phone too.
        let desk = match allowed {
            true => {
                (self.conversations)
                    .reaction(
                        &portal.threema_id,
                        &event.room_id,
                        &event.sender,
                        target,
                        key,
                    )
                    .await?
            }
            false => None,
        };
        let to_driver = match allowed {
            true => {
                self.agreement_to_driver(event, &portal.threema_id, target, key)
                    .await?
            }
            false => None,
        };
        if let Some(outcome) = to_driver.or(desk) {
            return Ok(outcome);
        }
        if !status::RESEND_KEYS.contains(&key) {
            return Ok(Outcome::skipped("reaction not bridged"));
        }
        // A resend asked before a restore may have been carried out: the dispatcher can ask
        // again, the driver cannot take a message back.
        if self.outbox.predates_restore(event.origin_server_ts) {
            return Ok(Outcome::skipped("resend from before the restore"));
        }
        if !self.access.may_see(&event.sender, &portal.threema_id) {
            return Ok(Outcome::refused(format!(
                "resend: {} is not permitted",
                event.sender
            )));
        }
        // A reaction names its target by ID only: it must be a message of this room.
        let rows = self.store.outbox_by_event(target).await?;
        if rows.iter().any(|row| row.room_id != event.room_id) {
            return Ok(Outcome::refused(format!(
                "resend of {target}: not a message of this room"
            )));
        }
        let queued = self.outbox.resend(target).await?;
        Ok(Outcome::bridged(format!(
            "resend of {target}: {queued} message(s) queued again"
        )))
    }

    /// A dispatcher deleted a message: the driver's copy is deleted too, where Threema can.
    async fn handle_redaction(&self, event: &EventHead) -> Result<Outcome, BridgeError> {
        let portal = self.store.portal_by_room_id(event.room_id.as_str()).await?;
        // Room versions up to 10 carry `redacts` beside the content, 11 inside it.
        let Some(target) = event.redacts.clone().or_else(|| {
            event
                .content
                .get("redacts")
                .and_then(|r| r.as_str())
                .map(str::to_owned)
        }) else {
            return Err(BridgeError::BadEvent("redaction without redacts".into()));
        };
        let Some(portal) = portal else {
            if self.access.level(&event.sender) >= Level::Dispatcher
                && self
                    .store
                    .broadcast_room(event.room_id.as_str())
                    .await?
                    .is_some()
            {
                return self.broadcasts.cancel(&target, &event.room_id).await;
            }
            return Ok(Outcome::skipped("redaction outside a portal"));
        };
        let driver = portal.threema_id;
        if !self.access.may_see(&event.sender, &driver) {
            return Ok(Outcome::refused(format!(
                "redaction by {}: not permitted",
                event.sender
            )));
        }
        let what = self
            .outbox
            .edit_target(&target, &driver, &event.sender)
            .await?;
        // A 👍 / 👎 taken back: withdrawn while held, else the phone keeps it.
        if let Ok(reaction) = OwnedEventId::try_from(target.as_str())
            && let Some(outcome) = self
                .agreement_taken_back(&event.room_id, &driver, &reaction)
                .await?
        {
            return Ok(outcome);
        }
        // Taken back while it waited for the driver's shift: it never goes. Only one's own, as
        // for what went (a colleague's, or the bot's notice, stays).
        if matches!(what, EditTarget::Ours { .. })
            && self.outbox.withdraw_held(&driver, &target).await? > 0
        {
            return Ok(Outcome::skipped("withdrawn before it was sent (held)"));
        }
        let plan = plan_redaction(&target, what);
        self.outbox
            .enqueue(
                plan,
                &driver,
                &event.room_id,
                &event.event_id,
                &event.sender,
                event.origin_server_ts,
                false,
            )
            .await
    }
}
