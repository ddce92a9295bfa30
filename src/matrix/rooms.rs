//! Room administration as the bot: state events, kicks, and the one Synapse admin call the
//! directory uses.

use ruma::{
    EventId, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId, UserId,
    api::client::{
        membership::{get_member_events, joined_rooms, kick_user},
        message::get_message_events,
        state::{get_state_event_for_key, send_state_event},
    },
    events::StateEventType,
    serde::Raw,
};
use serde_json::Value;

use super::{MatrixClient, MatrixError};

/// The level of the bot in the rooms it creates, and the level needed there to invite.
pub const BOT_LEVEL: i64 = 100;

/// What a room the bridge runs (portal, space, broadcast or quarantine room) changes in the
/// preset's power levels: only the bot invites, so nobody brings anyone into a driver's chat
/// past the bridge's access checks.
pub fn closed_power_levels()
-> Raw<ruma::api::client::room::create_room::RoomPowerLevelsContentOverride> {
    let levels = serde_json::json!({ "invite": BOT_LEVEL });
    Raw::from_json(serde_json::value::to_raw_value(&levels).expect("JSON values serialise"))
}

/// Power level needed to post in a read-only room (a former or restricted driver's portal):
/// only the bot has it.
const READ_ONLY_LEVEL: i64 = BOT_LEVEL;

/// A state event for `initial_state` of a room creation request.
pub fn initial_state(
    event_type: &str,
    state_key: &str,
    content: Value,
) -> Raw<ruma::events::AnyInitialStateEvent> {
    let event = serde_json::json!({"type": event_type, "state_key": state_key, "content": content});
    Raw::from_json(serde_json::value::to_raw_value(&event).expect("JSON values serialise"))
}

impl MatrixClient {
    /// Creates a room that only the bot invites into (see [`closed_power_levels`]) under an
    /// alias in our namespace, or finds the one an earlier attempt made. A room found that way
    /// may be older than closed rooms, or one a reset store no longer knows (so the startup
    /// closing never saw it): it is closed now. Returns the room and whether it is new.
    pub async fn create_closed_room(
        &self,
        mut request: ruma::api::client::room::create_room::v3::Request,
        alias: &ruma::RoomAliasId,
    ) -> Result<(ruma::OwnedRoomId, bool), MatrixError> {
        request.power_level_content_override = Some(closed_power_levels());
        let (room_id, created) = self.create_room_with_alias(request, alias).await?;
        if !created {
            match self.close_room(&room_id).await {
                Ok(_) => {}
                // The bot may not change the power levels there: the room is used as it is
                // rather than never (the startup closing does the same).
                Err(e) if !e.is_transient() => {
                    tracing::warn!(%room_id, error = %e, "cannot close a room found by its alias")
                }
                Err(e) => return Err(e),
            }
        }
        Ok((room_id, created))
    }

    /// Raises the power level needed to invite to the bot's. Returns whether it changed;
    /// `false` too for a room without power levels (nothing to close).
    pub async fn close_room(&self, room_id: &RoomId) -> Result<bool, MatrixError> {
        let Some(mut levels) = self.state(room_id, "m.room.power_levels", "").await? else {
            return Ok(false);
        };
        if levels["invite"].as_i64().unwrap_or(0) >= BOT_LEVEL {
            return Ok(false);
        }
        levels["invite"] = serde_json::json!(BOT_LEVEL);
        self.set_state(room_id, "m.room.power_levels", "", &levels)
            .await?;
        Ok(true)
    }

    /// Sets a state event as the bot. Setting the same content again is harmless (one more
    /// event in the room), which is why the directory records what it set.
    pub async fn set_state(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
        content: &Value,
    ) -> Result<(), MatrixError> {
        let body = Raw::from_json(
            serde_json::value::to_raw_value(content).expect("JSON values serialise"),
        );
        let request = send_state_event::v3::Request::new_raw(
            room_id.to_owned(),
            StateEventType::from(event_type),
            state_key.to_owned(),
            body,
        );
        self.send(request, None).await?;
        Ok(())
    }

    /// A state event's content as the bot sees it; `None` if there is none.
    pub async fn state(
        &self,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Value>, MatrixError> {
        let request = get_state_event_for_key::v3::Request::new(
            room_id.to_owned(),
            StateEventType::from(event_type),
            state_key.to_owned(),
        );
        match self.send(request, None).await {
            Ok(response) => Ok(serde_json::from_str(response.event_or_content.get()).ok()),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the room is encrypted (has `m.room.encryption`), as the bot sees it.
    pub async fn is_encrypted(&self, room_id: &RoomId) -> Result<bool, MatrixError> {
        Ok(self
            .state(room_id, "m.room.encryption", "")
            .await?
            .is_some())
    }

    /// Whether `user_id` is joined to the room, as the bot sees it: a room the bot is not in
    /// answers that it is not.
    pub async fn is_joined(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool, MatrixError> {
        match self.state(room_id, "m.room.member", user_id.as_str()).await {
            Ok(member) => Ok(member.is_some_and(|m| m["membership"] == "join")),
            Err(e) if e.errcode() == Some("M_FORBIDDEN") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The bot removes `user_id` from the room. Someone no longer in it counts as removed.
    pub async fn kick(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
        reason: &str,
    ) -> Result<(), MatrixError> {
        let mut request = kick_user::v3::Request::new(room_id.to_owned(), user_id.to_owned());
        request.reason = Some(reason.to_owned());
        match self.send(request, None).await {
            Err(e)
                if e.errcode() == Some("M_FORBIDDEN")
                    && !self.is_member(room_id, user_id).await? =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Invited or joined, as the room's state says.
    async fn is_member(&self, room_id: &RoomId, user_id: &UserId) -> Result<bool, MatrixError> {
        let member = self
            .state(room_id, "m.room.member", user_id.as_str())
            .await?;
        Ok(member
            .as_ref()
            .and_then(|m| m.get("membership"))
            .and_then(Value::as_str)
            .is_some_and(|m| m == "join" || m == "invite"))
    }

    /// The latest `limit` message events `sender` sent in the room, newest first, as JSON (as
    /// the bot sees them).
    pub async fn recent_events_of(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        limit: u32,
    ) -> Result<Vec<Value>, MatrixError> {
        let response = self
            .timeline_page(room_id, Some(&[sender.to_owned()]), None, limit)
            .await?;
        let mut events = Vec::with_capacity(response.chunk.len());
        for raw in &response.chunk {
            events.push(self.readable(room_id, raw.json().get()).await);
        }
        Ok(events.into_iter().flatten().collect())
    }

    /// An event of `room_id` as read: decrypted (by the bot's device, in every room the bridge
    /// keeps) where it is encrypted and the bridge holds devices; as it is when it cannot be
    /// (`None`: not JSON).
    async fn readable(&self, room_id: &RoomId, event: &str) -> Option<Value> {
        let parsed: Value = serde_json::from_str(event).ok()?;
        match &self.crypto {
            Some(crypto) if parsed["type"] == "m.room.encrypted" => Some(
                crypto
                    .decrypt_event(room_id, None, event)
                    .await
                    .unwrap_or(parsed),
            ),
            _ => Some(parsed),
        }
    }

    /// `sender`'s event whose content has `key` = `value` among its latest in the room, if
    /// any: a send that may have gone through is looked for before it is repeated.
    pub async fn find_sent(
        &self,
        room_id: &RoomId,
        sender: &UserId,
        key: &str,
        value: &str,
    ) -> Result<Option<OwnedEventId>, MatrixError> {
        let events = self.recent_events_of(room_id, sender, 100).await?;
        Ok(events
            .into_iter()
            .find(|e| e["content"][key] == value)
            .and_then(|e| {
                e["event_id"]
                    .as_str()
                    .and_then(|id| EventId::parse(id).ok())
            }))
    }

    /// One event of a room, as the bot reads it (its JSON; decrypted where it is encrypted).
    pub async fn event(&self, room_id: &RoomId, event_id: &EventId) -> Result<Value, MatrixError> {
        let request = ruma::api::client::room::get_room_event::v3::Request::new(
            room_id.to_owned(),
            event_id.to_owned(),
        );
        let response = self.send(request, None).await?;
        Ok(self
            .readable(room_id, response.event.json().get())
            .await
            .unwrap_or_default())
    }

    /// Only the bot may post (`true`), or everybody may again. The power levels are changed in
    /// place: a fresh content would drop the bot's own level.
    pub async fn set_read_only(
        &self,
        room_id: &RoomId,
        read_only: bool,
    ) -> Result<(), MatrixError> {
        let mut levels = self
            .state(room_id, "m.room.power_levels", "")
            .await?
            .ok_or_else(|| MatrixError::Response(format!("{room_id} has no power levels")))?;
        levels["events_default"] = serde_json::json!(if read_only { READ_ONLY_LEVEL } else { 0 });
        self.set_state(room_id, "m.room.power_levels", "", &levels)
            .await?;
        Ok(())
    }

    /// Who is joined to or invited into the room, as the bot sees it.
    pub async fn members(&self, room_id: &RoomId) -> Result<Vec<OwnedUserId>, MatrixError> {
        let request = get_member_events::v3::Request::new(room_id.to_owned());
        let response = self.send(request, None).await?;
        Ok(response
            .chunk
            .iter()
            .filter_map(|raw| {
                let event: Value = serde_json::from_str(raw.json().get()).ok()?;
                let membership = event["content"]["membership"].as_str()?;
                if membership != "join" && membership != "invite" {
                    return None;
                }
                UserId::parse(event["state_key"].as_str()?).ok()
            })
            .collect())
    }

    /// The rooms the bot is joined to.
    pub async fn joined_rooms(&self) -> Result<Vec<OwnedRoomId>, MatrixError> {
        let request = joined_rooms::v3::Request::new();
        Ok(self.send(request, None).await?.joined_rooms)
    }

    /// One page of a room's timeline (only what `senders` sent, if given), newest first, from
    /// `from` (a token of the page before) or from the end.
    pub async fn timeline_page(
        &self,
        room_id: &RoomId,
        senders: Option<&[OwnedUserId]>,
        from: Option<&str>,
        limit: u32,
    ) -> Result<get_message_events::v3::Response, MatrixError> {
        let mut request = get_message_events::v3::Request::new(
            room_id.to_owned(),
            ruma::api::Direction::Backward,
        );
        request.from = from.map(str::to_owned);
        request.limit = limit.into();
        request.filter.senders = senders.map(<[OwnedUserId]>::to_vec);
        self.send(request, None).await
    }
}
