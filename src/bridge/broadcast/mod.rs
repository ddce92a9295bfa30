//! Broadcasts: a dispatcher opens a broadcast room for a selection of drivers from the management
//! room (`broadcast <selection>`); every message there goes, after a 👍, to each recipient
//! through the durable outbox, is written into each driver's portal, and gets a status board.
//!
//! The fan-out (`fanout`) posts the copy into the portal first and queues the Threema messages
//! under the copy's event id, so receipts, quotes, answers, failure notices and resends work in
//! the portal as for any message there; the board (`board`) adds them up per broadcast.

pub mod board;
mod boards;
mod fanout;

use std::collections::HashMap;

use bridge_convert::plan::{EditTarget, Outgoing, Plan, Relay, plan_message};
use ruma::{
    EventId, OwnedRoomAliasId, OwnedRoomId, RoomId, UserId,
    api::client::room::{Visibility, create_room},
    events::room::message::{MessageType, Relation, RoomMessageEventContent},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub use fanout::BroadcastFanout;

use super::{Bridge, BridgeError};
use crate::{
    config::{Confirm, Level},
    directory::{
        Role,
        plan::{self, may_see},
        selection::{self, Candidate, Exclusion, Selected},
    },
    ids::room_alias,
    matrix::initial_state,
    store::{Broadcast, BroadcastRoom, BroadcastState, NewBroadcast},
    threema::ThreemaId,
};

/// Reactions that confirm a waiting broadcast.
pub const CONFIRM_KEYS: [&str; 3] = ["👍", "👍️", "✅"];
/// A message that starts with this asks drivers to acknowledge it (Threema's thumbs up).
pub const ACK_PREFIX: &str = "!ack";
/// What drivers read under a message that asks for acknowledgement.
const ACK_REQUEST: &str = "Please confirm with 👍 (tap and hold the message).";

const ROOM_HELP: &str = "Every message you post here goes to each recipient on Threema, \
    after you react with 👍 to the bot's preview, and into each driver's own chat. \
    Start a message with !ack to ask drivers to confirm it with 👍.\n\
    Commands (start with !): !recipients, !refresh (evaluate the selection again), \
    !report and !csv (per recipient, for the latest message or the one you reply to), \
    !resend-unread (send it again to those who have not read it), !help.";

/// What the broadcast room answers to; any other message, `!…` or not, is a broadcast.
const ROOM_COMMANDS: [&str; 7] = [
    "recipients",
    "refresh",
    "report",
    "csv",
    "resend-unread",
    "help",
    "commands",
];

/// `!word …` → `word`, lowercased.
fn command_word(body: &str) -> Option<String> {
    let rest = body.trim_start().strip_prefix('!')?;
    let word = rest.split_whitespace().next()?;
    Some(word.to_lowercase())
}

/// Credits a broadcast of `items` to `recipients` costs: every message to every recipient, and
/// each blob of a file once (shared by all).
fn credits(items: &[Outgoing], recipients: usize) -> i64 {
    let blobs: i64 = items
        .iter()
        .map(|item| match item {
            Outgoing::File(file) => 1 + i64::from(file.thumbnail_mxc.is_some()),
            _ => 0,
        })
        .sum();
    items.len() as i64 * recipients as i64 + blobs
}

/// The preview of a selection: who gets it, who is left out and why, what it costs.
fn preview(selection: &str, selected: &Selected, cost: i64, balance: Option<i64>) -> String {
    let n = selected.recipients.len();
    let mut text = format!("📢 {selection}: {n} recipient(s)");
    if !selected.excluded.is_empty() {
        text.push_str(&format!("\nLeft out ({}):", selected.excluded.len()));
        // Drivers outside the dispatcher's scope are counted, not named.
        let (hidden, named): (Vec<_>, Vec<_>) = selected
            .excluded
            .iter()
            .partition(|(_, why)| *why == Exclusion::OutOfScope);
        for (label, why) in named.iter().take(30) {
            text.push_str(&format!("\n• {label} {}", why.reason()));
        }
        if named.len() > 30 {
            text.push_str(&format!("\n• and {} more", named.len() - 30));
        }
        if !hidden.is_empty() {
            text.push_str(&format!(
                "\n• {} driver(s) outside your scope",
                hidden.len()
            ));
        }
    }
    let balance = match balance {
        Some(b) => format!("balance {b}"),
        None => "balance not known (the Gateway did not answer)".into(),
    };
    text.push_str(&format!(
        "\nCost: {cost} credit(s) per text message (a file costs more); {balance}."
    ));
    text
}

/// Whether the balance covers `cost` (an unknown balance does not stop anything).
fn affordable(cost: i64, balance: Option<i64>) -> bool {
    balance.is_none_or(|b| b >= cost)
}

impl Bridge {
    /// The drivers `text` selects for `dispatcher`, or why the selection is not understood.
    pub async fn select_drivers(
        &self,
        text: &str,
        dispatcher: &UserId,
    ) -> Result<Result<Selected, String>, BridgeError> {
        let lists = self.store.broadcast_lists().await?;
        let expr = match selection::parse(text).and_then(|e| selection::resolve(e, &lists)) {
            Ok(expr) => expr,
            Err(e) => return Ok(Err(e)),
        };
        let stored = self.store.employees().await?;
        let today = super::directory::today();
        let settings = &self.config.directory.plan;
        let directory: Vec<_> = stored.iter().map(|s| s.employee.clone()).collect();
        let dispatchers = plan::dispatchers(&directory, settings, today);
        let own = dispatchers.get(dispatcher).and_then(|(record, _)| *record);
        let unscoped = own.is_none_or(|d| {
            settings
                .scope_attributes
                .iter()
                .all(|a| d.attribute(a).is_none())
        });
        let mut candidates: Vec<Candidate> = Vec::new();
        // Active records first: an ID's first candidate wins.
        let mut drivers: Vec<_> = stored
            .iter()
            .filter(|s| s.employee.record.role == Role::Driver)
            .collect();
        drivers.sort_by_key(|s| !s.employee.is_active_on(today));
        for s in drivers {
            let record = &s.employee.record;
            let id = record.threema_id.clone().or_else(|| s.looked_up());
            let name = match &id {
                Some(id) => plan::render_name(&settings.ghost_name_template, id, record),
                None => record.display_name.clone(),
            };
            candidates.push(Candidate {
                id,
                name,
                record: Some(record),
                active: s.employee.is_active_on(today),
                visible: may_see(own, record, settings),
            });
        }
        for known in &self.config.bridge.drivers {
            candidates.push(Candidate {
                id: Some(known.id.clone()),
                name: known.name.clone().unwrap_or_else(|| known.id.to_string()),
                record: None,
                active: true,
                visible: unscoped,
            });
        }
        let ghosts: HashMap<String, Option<String>> = self
            .store
            .ghosts()
            .await?
            .into_iter()
            .map(|g| (g.threema_id, g.display_name))
            .collect();
        for portal in self.store.portals().await? {
            let id = portal.threema_id;
            let name = ghosts
                .get(id.as_str())
                .cloned()
                .flatten()
                .unwrap_or_else(|| id.to_string());
            candidates.push(Candidate {
                active: !self.is_former_driver(&id),
                id: Some(id),
                name,
                record: None,
                visible: unscoped,
            });
        }
        Ok(Ok(selection::select(&expr, &candidates, settings)))
    }

    /// `broadcast [live] <selection>`: the preview and, if the credits cover a message to
    /// everyone, a new broadcast room with the dispatcher invited.
    pub(super) async fn broadcast_command(
        &self,
        args: &str,
        sender: &UserId,
        command_event: &EventId,
    ) -> Result<String, BridgeError> {
        let (live, text) = match args.split_once(char::is_whitespace) {
            Some((word, rest)) if word.eq_ignore_ascii_case("live") => (true, rest.trim()),
            _ => (false, args.trim()),
        };
        let selected = match self.select_drivers(text, sender).await? {
            Ok(selected) => selected,
            Err(e) => return Ok(format!("The selection {text:?} is not understood: {e}.")),
        };
        let cost = selected.recipients.len() as i64;
        let balance = self.refresh_credits().await;
        let mut answer = preview(text, &selected, cost, balance);
        if selected.recipients.is_empty() {
            answer.push_str("\nNobody to write to: no broadcast room was opened.");
            return Ok(answer);
        }
        if !affordable(cost, balance) {
            answer.push_str(
                "\n⚠️ Not enough credits for one message to everyone: the broadcast was not \
                 started and no room was opened. Top up the Gateway account first.",
            );
            return Ok(answer);
        }
        let room_id = self
            .create_broadcast_room(text, live, &selected, sender, command_event)
            .await?;
        let mode = if live {
            "live: the selection is evaluated again for every message"
        } else {
            "frozen: these recipients, until you send !refresh there"
        };
        answer.push_str(&format!(
            "\nBroadcast room ({mode}): https://matrix.to/#/{room_id} — you are invited."
        ));
        Ok(answer)
    }

    /// `select <selection>`: the preview alone.
    pub(super) async fn select_command(
        &self,
        text: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        Ok(match self.select_drivers(text, sender).await? {
            Ok(selected) => {
                let cost = selected.recipients.len() as i64;
                let mut answer = preview(text, &selected, cost, self.refresh_credits().await);
                let names: Vec<String> = selected
                    .recipients
                    .iter()
                    .take(50)
                    .map(|(id, name)| format!("• {name} ({id})"))
                    .collect();
                if !names.is_empty() {
                    answer.push_str(&format!("\nRecipients:\n{}", names.join("\n")));
                }
                if selected.recipients.len() > 50 {
                    answer.push_str(&format!("\n• and {} more", selected.recipients.len() - 50));
                }
                answer
            }
            Err(e) => format!("The selection {text:?} is not understood: {e}."),
        })
    }

    /// Creates the room through an alias named after the command, so that handling the command
    /// again (after a crash) finds it instead of opening a second one.
    async fn create_broadcast_room(
        &self,
        selection_text: &str,
        live: bool,
        selected: &Selected,
        sender: &UserId,
        command_event: &EventId,
    ) -> Result<OwnedRoomId, BridgeError> {
        let hash = hex::encode(&Sha256::digest(command_event.as_bytes())[..8]);
        let alias: OwnedRoomAliasId =
            room_alias(&format!("broadcast_{hash}"), &self.config.homeserver.domain);
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.visibility = Visibility::Private;
        request.room_alias_name = Some(alias.alias().to_owned());
        request.name = Some(format!("📢 {selection_text}"));
        request.topic = Some(format!(
            "Broadcast to {}{} — {}",
            selection_text,
            if live { " (live)" } else { "" },
            ROOM_HELP
        ));
        request.invite = vec![sender.to_owned()];
        request.initial_state = vec![initial_state(
            "m.room.history_visibility",
            "",
            json!({"history_visibility": "shared"}),
        )];
        let (room_id, _) = self.matrix.create_room_with_alias(request, &alias).await?;
        let recipients: Vec<String> = selected
            .recipients
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        self.store
            .broadcast_room_insert(
                &BroadcastRoom {
                    room_id: room_id.to_string(),
                    owner: sender.to_string(),
                    selection: selection_text.to_owned(),
                    live,
                    confirmed_at: None,
                },
                &recipients,
            )
            .await?;
        self.notice(
            &room_id,
            None,
            &format!("{} recipient(s). {ROOM_HELP}", selected.recipients.len()),
            &format!("broadcast-welcome-{room_id}"),
        )
        .await?;
        Ok(room_id)
    }

    /// `save-list <name> <selection>`: a named selection (`list:<name>`).
    pub(super) async fn save_list_command(
        &self,
        args: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        let Some((name, text)) = args.trim().split_once(char::is_whitespace) else {
            return Ok("Usage: save-list <name> <selection>".into());
        };
        let name = name.to_lowercase();
        let mut lists = self.store.broadcast_lists().await?;
        lists.insert(name.clone(), text.trim().to_owned());
        if let Err(e) = selection::parse(text).and_then(|e| selection::resolve(e, &lists)) {
            return Ok(format!("The selection {text:?} is not understood: {e}."));
        }
        self.store
            .broadcast_list_save(&name, text.trim(), sender.as_str())
            .await?;
        let count = match self.select_drivers(text, sender).await? {
            Ok(selected) => selected.recipients.len(),
            Err(_) => 0,
        };
        Ok(format!(
            "Saved list:{name} = {} ({count} recipient(s) now). Use it as broadcast list:{name}.",
            text.trim()
        ))
    }

    /// The recipients of a broadcast room now: its frozen list, or the selection evaluated for
    /// `dispatcher`.
    async fn room_recipients(
        &self,
        room: &BroadcastRoom,
        dispatcher: &UserId,
    ) -> Result<Result<Vec<(String, String)>, String>, BridgeError> {
        if room.live {
            return Ok(self
                .select_drivers(&room.selection, dispatcher)
                .await?
                .map(|s| {
                    s.recipients
                        .into_iter()
                        .map(|(id, name)| (id.to_string(), name))
                        .collect()
                }));
        }
        let mut out = Vec::new();
        for id in self.store.broadcast_room_recipients(&room.room_id).await? {
            let name = match ThreemaId::parse(&id) {
                Some(tid) => self.driver_name(&tid).await?,
                None => id.clone(),
            };
            out.push((id, name));
        }
        Ok(Ok(out))
    }

    /// A message in a broadcast room: a command (`!…`) or a broadcast, previewed and waiting for
    /// the 👍 (or started at once in a room confirmed once).
    pub(super) async fn handle_broadcast_message(
        &self,
        room: &BroadcastRoom,
        event_id: &EventId,
        sender: &UserId,
        content: &RoomMessageEventContent,
        raw_content: &Value,
    ) -> Result<String, BridgeError> {
        let room_id = RoomId::parse(&room.room_id)
            .map_err(|e| BridgeError::BadEvent(format!("stored room id: {e}")))?;
        let refuse = |text: String| {
            let room_id = room_id.clone();
            async move {
                self.notice(
                    &room_id,
                    Some(event_id),
                    &text,
                    &format!("refused-{event_id}"),
                )
                .await
                .map(|()| format!("not broadcast: {text}"))
            }
        };
        if self.level(sender) < Level::Dispatcher {
            return refuse("Not sent: you are not permitted to write to drivers.".into()).await;
        }
        let body = match &content.msgtype {
            MessageType::Text(t) => Some(bridge_convert::format::strip_reply_fallback(&t.body)),
            _ => None,
        };
        let word = body.and_then(command_word);
        let ack = word.as_deref() == Some("ack");
        if let Some(word) = word.filter(|w| ROOM_COMMANDS.contains(&w.as_str())) {
            return self
                .broadcast_room_command(room, &room_id, event_id, sender, content, &word)
                .await;
        }
        if matches!(content.relates_to, Some(Relation::Replacement(_))) {
            return refuse(
                "Edits of a broadcast are not sent: drivers keep the first version. Send a \
                 correction as a new message."
                    .into(),
            )
            .await;
        }
        let mut content = content.clone();
        let mut raw_content = raw_content.clone();
        if ack {
            strip_ack(&mut content, &mut raw_content);
        }
        let display_name = self
            .matrix
            .member_display_name(&room_id, sender)
            .await?
            .unwrap_or_else(|| sender.localpart().to_owned());
        let relay = Relay {
            template: &self.config.bridge.relay_template,
            emote_template: &self.config.bridge.emote_template,
            display_name: &display_name,
        };
        let mut items = match plan_message(&content, relay, |_| EditTarget::Unknown) {
            Plan::Send(items) if !items.is_empty() => items,
            Plan::Send(_) => return Ok("nothing to broadcast".into()),
            Plan::Refuse(reason) => return refuse(reason).await,
        };
        // One upload of a file's blobs serves every recipient.
        for item in &mut items {
            if let Outgoing::File(file) = item {
                file.shared = true;
            }
        }
        if ack {
            items.push(Outgoing::Text {
                text: ACK_REQUEST.into(),
                reply_to: None,
            });
        }
        let recorded = self
            .store
            .broadcast_insert(&NewBroadcast {
                event_id: event_id.to_string(),
                room_id: room.room_id.clone(),
                sender: sender.to_string(),
                content: portal_copy(&raw_content, &display_name, ack).to_string(),
                payload: serde_json::to_string(&items).expect("outgoing messages serialise"),
                ack,
            })
            .await?;
        let broadcast = self
            .store
            .broadcast_get(event_id.as_str())
            .await?
            .ok_or_else(|| BridgeError::BadEvent("broadcast just recorded".into()))?;
        if broadcast.state != BroadcastState::Awaiting {
            return Ok("broadcast already handled".into());
        }
        if self.config.broadcast.confirm == Confirm::Once && room.confirmed_at.is_some() {
            return self.start_broadcast(room, &broadcast, sender).await;
        }
        let recipients = match self.room_recipients(room, sender).await? {
            Ok(r) => r,
            Err(e) => return refuse(format!("The room's selection is not understood: {e}.")).await,
        };
        let total = credits(&items, recipients.len());
        let balance = self.refresh_credits().await;
        let mut text = format!(
            "📢 Ready for {} recipient(s): {total} credit(s), {}.",
            recipients.len(),
            match balance {
                Some(b) => format!("balance {b}"),
                None => "balance not known".into(),
            }
        );
        if !affordable(total, balance) {
            self.store.broadcast_cancel(event_id.as_str()).await?;
            text.push_str(" ⚠️ Not enough credits: this message was not sent. Top up the Gateway account and post it again.");
        } else {
            text.push_str(
                " React with 👍 to this notice to send it; delete your message to cancel.",
            );
        }
        let preview = self
            .post(
                &room_id,
                Some(event_id),
                &mut RoomMessageEventContent::notice_plain(&text),
                &format!("broadcast-preview-{event_id}"),
            )
            .await?;
        self.store
            .broadcast_set_board(event_id.as_str(), preview.as_str(), &text)
            .await?;
        Ok(format!(
            "broadcast {} to {} recipient(s): waiting for confirmation",
            if recorded { "recorded" } else { "seen again" },
            recipients.len()
        ))
    }

    /// A 👍 on a waiting broadcast (or its preview) in a broadcast room.
    pub(super) async fn confirm_broadcast(
        &self,
        room: &BroadcastRoom,
        target: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        if self.level(sender) < Level::Dispatcher {
            return Ok(format!("confirmation by {sender} ignored: not permitted"));
        }
        let Some(broadcast) = self.store.broadcast_get(target).await? else {
            return Ok("reaction on no broadcast".into());
        };
        if broadcast.state != BroadcastState::Awaiting || broadcast.room_id != room.room_id {
            return Ok("broadcast not waiting".into());
        }
        self.start_broadcast(room, &broadcast, sender).await
    }

    /// Queues the fan-out to the room's recipients now (one delivery row each, with the state
    /// change in one transaction) and shows the board.
    async fn start_broadcast(
        &self,
        room: &BroadcastRoom,
        broadcast: &Broadcast,
        confirmed_by: &UserId,
    ) -> Result<String, BridgeError> {
        let author = UserId::parse(&broadcast.sender).unwrap_or_else(|_| confirmed_by.to_owned());
        let recipients = match self.room_recipients(room, &author).await? {
            Ok(r) => r,
            Err(e) => return Ok(format!("selection not understood: {e}")),
        };
        let started = self
            .store
            .broadcast_start(&broadcast.event_id, &recipients)
            .await?;
        if self.config.broadcast.confirm == Confirm::Once {
            self.store.broadcast_room_confirm(&room.room_id).await?;
        }
        if started {
            self.broadcast_wake.notify_one();
            self.board_wake.notify_one();
        }
        Ok(format!(
            "broadcast {} started for {} recipient(s)",
            broadcast.event_id,
            recipients.len()
        ))
    }

    /// A redaction of a waiting broadcast cancels it.
    pub(super) async fn cancel_broadcast(&self, target: &str) -> Result<String, BridgeError> {
        Ok(match self.store.broadcast_cancel(target).await? {
            true => format!("broadcast {target} cancelled"),
            false => "redaction in a broadcast room".into(),
        })
    }

    async fn broadcast_room_command(
        &self,
        room: &BroadcastRoom,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
        content: &RoomMessageEventContent,
        word: &str,
    ) -> Result<String, BridgeError> {
        let reply_to = match &content.relates_to {
            Some(Relation::Reply(r)) => Some(r.in_reply_to.event_id.to_string()),
            _ => None,
        };
        let target = match &reply_to {
            Some(id) => self.store.broadcast_get(id).await?,
            None => self.store.broadcast_latest(&room.room_id).await?,
        };
        let txn = format!("answer-{event_id}");
        let answer = match word {
            "recipients" => match self.room_recipients(room, sender).await? {
                Ok(r) => format!(
                    "{} recipient(s) ({}):\n{}",
                    r.len(),
                    if room.live { "live" } else { "frozen" },
                    r.iter()
                        .map(|(id, name)| format!("• {name} ({id})"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
                Err(e) => format!("The selection is not understood: {e}."),
            },
            "refresh" if room.live => {
                "This room's selection is live: it is evaluated for every message.".into()
            }
            "refresh" => match self.select_drivers(&room.selection, sender).await? {
                Ok(selected) => {
                    let ids: Vec<String> = selected
                        .recipients
                        .iter()
                        .map(|(id, _)| id.to_string())
                        .collect();
                    let before = self.store.broadcast_room_recipients(&room.room_id).await?;
                    self.store
                        .broadcast_room_set_recipients(&room.room_id, &ids)
                        .await?;
                    let added = ids.iter().filter(|id| !before.contains(id)).count();
                    let removed = before.iter().filter(|id| !ids.contains(id)).count();
                    format!(
                        "{} recipient(s) now ({added} added, {removed} removed).",
                        ids.len()
                    )
                }
                Err(e) => format!("The selection is not understood: {e}."),
            },
            "report" | "csv" | "resend-unread" if target.is_none() => {
                "No broadcast here yet (or reply to one).".into()
            }
            "report" => {
                let b = target.expect("checked above");
                let standings = self.standings(&b.event_id).await?;
                board::report(&standings)
            }
            "csv" => {
                let b = target.expect("checked above");
                let standings = self.standings(&b.event_id).await?;
                let data = board::csv(&standings);
                let size = data.len();
                let name = format!(
                    "broadcast-{}.csv",
                    &b.event_id.trim_start_matches('$')[..8.min(b.event_id.len() - 1)]
                );
                let mxc = self
                    .matrix
                    .upload(data, "text/csv", Some(&name), &self.bot)
                    .await?;
                let content = json!({
                    "msgtype": "m.file",
                    "body": name,
                    "filename": name,
                    "url": mxc,
                    "info": {"mimetype": "text/csv", "size": size},
                    "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
                });
                self.send_raw_message(room_id, &content, &txn).await?;
                return Ok("report sent as CSV".into());
            }
            "resend-unread" => {
                let b = target.expect("checked above");
                let unread = self
                    .standings(&b.event_id)
                    .await?
                    .iter()
                    .filter(|s| matches!(s.stage, board::Stage::Sent | board::Stage::Received))
                    .count();
                let queued = self.store.broadcast_resend_unread(&b.event_id).await?;
                if queued > 0 {
                    self.outbox_wake.notify_one();
                    self.board_wake.notify_one();
                }
                format!(
                    "Sent again to {unread} driver(s) who had not read it ({queued} message(s))."
                )
            }
            _ => ROOM_HELP.into(),
        };
        self.notice(room_id, Some(event_id), &answer, &txn).await?;
        Ok(format!("broadcast room command {word}"))
    }

    /// Where each recipient of a broadcast stands now.
    pub async fn standings(&self, event_id: &str) -> Result<Vec<board::Standing>, BridgeError> {
        Ok(board::standings(
            &self.store.broadcast_report(event_id).await?,
        ))
    }
}

/// Takes the leading `!ack` off a message's text (body and HTML).
fn strip_ack(content: &mut RoomMessageEventContent, raw: &mut Value) {
    let strip = |s: &str| -> String {
        let t = s.trim_start();
        t.get(ACK_PREFIX.len()..)
            .unwrap_or_default()
            .trim_start()
            .to_owned()
    };
    if let MessageType::Text(text) = &mut content.msgtype {
        text.body = strip(&text.body);
        if let Some(f) = &mut text.formatted
            && f.body.trim_start().to_lowercase().starts_with(ACK_PREFIX)
        {
            f.body = strip(&f.body);
        }
    }
    for key in ["body", "formatted_body"] {
        if let Some(s) = raw.get(key).and_then(Value::as_str)
            && (key == "body" || s.trim_start().to_lowercase().starts_with(ACK_PREFIX))
        {
            raw[key] = Value::String(strip(s));
        }
    }
}

/// The message as it is written into each recipient's portal, by the bot: marked as a
/// broadcast and signed, media and locations as they were.
fn portal_copy(content: &Value, display_name: &str, ack: bool) -> Value {
    let mut copy = content.clone();
    if let Some(map) = copy.as_object_mut() {
        map.remove("m.relates_to");
        map.remove("m.mentions");
    }
    let marker = format!(
        "📢 Broadcast from {display_name}{}",
        if ack { " (asks for 👍)" } else { "" }
    );
    let msgtype = copy["msgtype"].as_str().unwrap_or_default().to_owned();
    let body = copy["body"].as_str().unwrap_or_default().to_owned();
    match msgtype.as_str() {
        "m.text" | "m.notice" | "m.emote" => {
            copy["body"] = Value::String(format!("{marker}: {body}"));
            if let Some(html) = copy["formatted_body"].as_str() {
                copy["formatted_body"] = Value::String(format!(
                    "<b>{}</b>: {html}",
                    html_escape::encode_text(&marker)
                ));
            }
        }
        // Media: the file name stays, the caption carries the marker.
        _ => {
            if copy.get("filename").is_none() && copy.get("url").is_some() {
                copy["filename"] = Value::String(body.clone());
                copy["body"] = Value::String(marker);
            } else {
                copy["body"] = Value::String(format!("{marker}: {body}"));
            }
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_says_who_gets_it_who_not_and_what_it_costs() {
        let selected = Selected {
            recipients: vec![(ThreemaId::parse("AAAA0001").unwrap(), "Kim".into())],
            excluded: vec![
                ("Max (AAAA0002)".into(), Exclusion::Left),
                ("Secret (AAAA0003)".into(), Exclusion::OutOfScope),
            ],
        };
        let text = preview("depot=North", &selected, 1, Some(0));
        assert!(text.contains("depot=North: 1 recipient(s)"), "{text}");
        assert!(
            text.contains("Max (AAAA0002) has left the company"),
            "{text}"
        );
        assert!(
            text.contains("Cost: 1 credit(s) per text message"),
            "{text}"
        );
        assert!(text.contains("balance 0"), "{text}");
        assert!(!affordable(1, Some(0)));
        assert!(affordable(1, None));
    }

    #[test]
    fn the_portal_copy_is_marked_and_keeps_media() {
        let text = portal_copy(
            &json!({"msgtype": "m.text", "body": "Road closed", "formatted_body": "<i>Road</i> closed", "format": "org.matrix.custom.html", "m.relates_to": {"m.in_reply_to": {"event_id": "$x"}}}),
            "Ann",
            true,
        );
        assert_eq!(
            text["body"],
            "📢 Broadcast from Ann (asks for 👍): Road closed"
        );
        assert_eq!(
            text["formatted_body"],
            "<b>📢 Broadcast from Ann (asks for 👍)</b>: <i>Road</i> closed"
        );
        assert!(text.get("m.relates_to").is_none());
        let image = portal_copy(
            &json!({"msgtype": "m.image", "body": "map.png", "url": "mxc://x/y"}),
            "Ann",
            false,
        );
        assert_eq!(image["filename"], "map.png");
        assert_eq!(image["body"], "📢 Broadcast from Ann");
        assert_eq!(image["url"], "mxc://x/y");
    }

    #[test]
    fn a_file_costs_its_blobs_once() {
        let file = Outgoing::File(bridge_convert::plan::FileToSend {
            mxc: "mxc://x/y".into(),
            mimetype: "image/png".into(),
            file_name: None,
            caption: None,
            thumbnail_mxc: Some("mxc://x/t".into()),
            thumbnail_mimetype: None,
            media: true,
            width_height: None,
            duration_s: None,
            shared: true,
        });
        let text = Outgoing::Text {
            text: "x".into(),
            reply_to: None,
        };
        assert_eq!(credits(std::slice::from_ref(&text), 250), 250);
        assert_eq!(credits(&[file, text], 250), 500 + 2);
    }

    #[test]
    fn only_known_commands_are_commands() {
        assert_eq!(command_word(" !Report now").as_deref(), Some("report"));
        assert_eq!(command_word("!ack Shift at 6").as_deref(), Some("ack"));
        assert_eq!(command_word("Road closed!"), None);
        assert!(!ROOM_COMMANDS.contains(&command_word("!Wichtig: Tor 3").unwrap().as_str()));
    }

    #[test]
    fn ack_is_taken_off_the_text() {
        let mut content = RoomMessageEventContent::text_plain("!ack Shift starts at 6");
        let mut raw = json!({"msgtype": "m.text", "body": "!ACK Shift starts at 6"});
        strip_ack(&mut content, &mut raw);
        assert_eq!(content.body(), "Shift starts at 6");
        assert_eq!(raw["body"], "Shift starts at 6");
    }
}
