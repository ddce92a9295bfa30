//! A broadcast room and the life of its broadcasts: opening the room, who it reaches now, and a
//! waiting broadcast confirmed (started) or cancelled.

use crate::bridge::Outcome;
use ruma::{
    EventId, OwnedRoomAliasId, OwnedRoomId, RoomId, UserId,
    api::client::room::{Visibility, create_room},
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Broadcasts;
use crate::{
    bridge::BridgeError,
    config::{Confirm, Level},
    directory::selection::Selected,
    ids::room_alias,
    matrix::initial_state,
    store::{Broadcast, BroadcastRoom, BroadcastState},
    threema::ThreemaId,
};

impl Broadcasts {
    /// Creates the room through an alias named after the command, so that handling the command
    /// again (after a crash) finds it instead of opening a second one.
    pub(super) async fn create_room(
        &self,
        selection_text: &str,
        live: bool,
        selected: &Selected,
        sender: &UserId,
        command_event: &EventId,
    ) -> Result<OwnedRoomId, BridgeError> {
        let hash = hex::encode(&Sha256::digest(command_event.as_bytes())[..8]);
        let alias: OwnedRoomAliasId = room_alias(&format!("broadcast_{hash}"), &self.domain);
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.visibility = Visibility::Private;
        request.room_alias_name = Some(alias.alias().to_owned());
        request.name = Some(format!("📢 {selection_text}"));
        let help = crate::tr!(self.texts, "broadcast-room-help");
        request.topic = Some(match live {
            true => crate::tr!(
                self.texts,
                "broadcast-room-topic-live",
                selection = selection_text,
                help = help.as_str()
            ),
            false => crate::tr!(
                self.texts,
                "broadcast-room-topic",
                selection = selection_text,
                help = help.as_str()
            ),
        });
        request.invite = vec![sender.to_owned()];
        request.initial_state = vec![initial_state(
            "m.room.history_visibility",
            "",
            json!({"history_visibility": "shared"}),
        )];
        let (room_id, _) = self.matrix.create_closed_room(request, &alias).await?;
        let recipients: Vec<String> = selected
            .recipients
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        self.store
            .broadcast_room_insert(
                &BroadcastRoom {
                    room_id: room_id.clone(),
                    owner: sender.to_owned(),
                    selection: selection_text.to_owned(),
                    live,
                    confirmed_at: None,
                },
                &recipients,
            )
            .await?;
        self.notices
            .notice(
                &room_id,
                None,
                &crate::tr!(
                    self.texts,
                    "broadcast-room-welcome",
                    count = selected.recipients.len(),
                    help = help
                ),
                &format!("broadcast-welcome-{room_id}"),
            )
            .await?;
        Ok(room_id)
    }

    /// The recipients of a broadcast room now: its frozen list, or the selection evaluated for
    /// `dispatcher`.
    pub(super) async fn room_recipients(
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
        for id in self
            .store
            .broadcast_room_recipients(room.room_id.as_str())
            .await?
        {
            let name = match ThreemaId::parse(&id) {
                Some(tid) => self.ghosts.driver_name(&tid).await?,
                None => id.clone(),
            };
            out.push((id, name));
        }
        Ok(Ok(out))
    }

    /// A 👍 on a waiting broadcast (or its preview) in a broadcast room.
    pub(in crate::bridge) async fn confirm(
        &self,
        room: &BroadcastRoom,
        target: &str,
        sender: &UserId,
    ) -> Result<Outcome, BridgeError> {
        if self.access.level(sender) < Level::Dispatcher {
            return Ok(Outcome::refused(format!(
                "confirmation by {sender}: not permitted"
            )));
        }
        let Some(broadcast) = self.store.broadcast_get(target).await? else {
            return Ok(Outcome::skipped("reaction on no broadcast"));
        };
        if broadcast.state != BroadcastState::Awaiting || broadcast.room_id != room.room_id {
            return Ok(Outcome::skipped("broadcast not waiting"));
        }
        self.start(room, &broadcast, true).await
    }

    /// Queues the fan-out to the room's recipients now (one delivery row each, with the state
    /// change in one transaction) and shows the board. The author's selection decides,
    /// whoever confirms. Only a 👍 confirms the room (`broadcast.confirm: once`), not a
    /// scheduled message starting.
    pub(super) async fn start(
        &self,
        room: &BroadcastRoom,
        broadcast: &Broadcast,
        by_hand: bool,
    ) -> Result<Outcome, BridgeError> {
        let recipients = match self.room_recipients(room, &broadcast.sender).await? {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::failed(format!("selection not understood: {e}"))),
        };
        let record =
            crate::bridge::audit::broadcast(broadcast, &recipients, self.store.audit_key());
        let started = self
            .store
            .broadcast_start(broadcast.event_id.as_str(), &recipients, &record)
            .await?;
        if by_hand && self.config.confirm == Confirm::Once {
            self.store
                .broadcast_room_confirm(room.room_id.as_str())
                .await?;
        }
        if started {
            self.fanout_wake.notify_one();
            self.board_wake.notify_one();
        }
        Ok(Outcome::bridged(format!(
            "broadcast {} started for {} recipient(s)",
            broadcast.event_id,
            recipients.len()
        )))
    }

    /// A redaction of a waiting broadcast of this room cancels it.
    pub(in crate::bridge) async fn cancel(
        &self,
        target: &str,
        room_id: &RoomId,
    ) -> Result<Outcome, BridgeError> {
        // A redaction names its target by ID only: it must be a broadcast of this room.
        if let Some(broadcast) = self.store.broadcast_get(target).await?
            && broadcast.room_id != *room_id
        {
            return Ok(Outcome::refused(format!(
                "cancel of {target}: not a broadcast of this room"
            )));
        }
        Ok(match self.store.broadcast_cancel(target).await? {
            true => Outcome::bridged(format!("broadcast {target} cancelled")),
            false => Outcome::skipped("redaction in a broadcast room"),
        })
    }
}
