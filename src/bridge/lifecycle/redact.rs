//! Erasing a driver beyond their portal: the ghost's own events and the bot's events that name
//! them (answers to `find` and `status`, notices, quarantine posts, board versions and their
//! edits) are redacted wherever the bot is, each by its sender (anyone may redact their own,
//! whatever the room's power levels). What dispatchers wrote stays: it is the company's record.

use futures::{StreamExt as _, TryStreamExt as _};
use ruma::{EventId, OwnedUserId, RoomId, UserId};
use serde_json::{Value, json};

use crate::matrix::{MatrixClient, MatrixError};

/// The reason the redactions carry.
const REASON: &str = "erased (GDPR Art. 17)";
const PAGE: u32 = 100;
/// Rooms read at once.
const ROOMS_AT_ONCE: usize = 8;

/// Who is erased, as the events show them.
pub struct Named<'a> {
    pub bot: &'a UserId,
    pub ghost: &'a UserId,
    /// The portal: purged as a whole, not looked through.
    pub portal: Option<&'a RoomId>,
    /// The Threema ID, the ghost's Matrix ID and the names, any case.
    pub needles: Vec<String>,
}

impl Named<'_> {
    /// Who redacts `event`, if it is to go: the ghost its own, the bot those of its own that
    /// name the driver. State events stay (a membership is not a message), as do events
    /// redacted already.
    pub fn redactor(&self, event: &Value) -> Option<OwnedUserId> {
        if event.get("state_key").is_some()
            || event["type"] == "m.room.redaction"
            || event["unsigned"].get("redacted_because").is_some()
            || event["content"].as_object().is_none_or(|c| c.is_empty())
        {
            return None;
        }
        let sender = event["sender"].as_str()?;
        if sender == self.ghost.as_str() {
            return Some(self.ghost.to_owned());
        }
        let content = event["content"].to_string().to_lowercase();
        (sender == self.bot.as_str() && self.needles.iter().any(|n| content.contains(n)))
            .then(|| self.bot.to_owned())
    }
}

/// Redacts what [`Named::redactor`] picks in every room the bot is joined to, reading each
/// room's whole timeline (only the bot's and the ghost's events); with `dry_run`, only counts.
/// A run again redacts what a run cut off left; `txn` keeps a retried redaction from being sent
/// twice. Returns the counts for the tombstone.
pub async fn everywhere(
    matrix: &MatrixClient,
    named: &Named<'_>,
    txn: &str,
    dry_run: bool,
) -> Result<Value, MatrixError> {
    let rooms = matrix.joined_rooms().await?;
    let joined = rooms.len();
    // The bot is in every portal and management room: one room after the other, the homeserver
    // would answer a fleet's worth of requests in turn (833 rooms: 33 s; 8 at a time: 16 s).
    // The rooms go in owned: a closure over borrowed ones is not `Send` for every lifetime the
    // spawned tasks that run this need.
    let others = (rooms.into_iter()).filter(|r| Some(r.as_ref()) != named.portal);
    let counts: Vec<(u64, u64)> = futures::stream::iter(others)
        .map(|room| async move { in_room(matrix, named, &room, txn, dry_run).await })
        .buffer_unordered(ROOMS_AT_ONCE)
        .try_collect()
        .await?;
    let (redacted, refused) = counts
        .into_iter()
        .fold((0, 0), |(r, f), (room_r, room_f)| (r + room_r, f + room_f));
    Ok(json!({"rooms": joined, "redacted": redacted, "refused": refused}))
}

/// [`everywhere`] in one room, its timeline read back to the start: (redacted, refused).
async fn in_room(
    matrix: &MatrixClient,
    named: &Named<'_>,
    room: &RoomId,
    txn: &str,
    dry_run: bool,
) -> Result<(u64, u64), MatrixError> {
    let senders = [named.bot.to_owned(), named.ghost.to_owned()];
    let (mut redacted, mut refused) = (0, 0);
    let mut from = None;
    loop {
        let page = matrix
            .timeline_page(room, Some(&senders), from.as_deref(), PAGE)
            .await?;
        for raw in &page.chunk {
            let event: Value = serde_json::from_str(raw.json().get()).unwrap_or_default();
            let (Some(sender), Some(event_id)) = (
                named.redactor(&event),
                event["event_id"]
                    .as_str()
                    .and_then(|id| EventId::parse(id).ok()),
            ) else {
                continue;
            };
            if dry_run {
                redacted += 1;
                continue;
            }
            let txn = format!("{txn}-{event_id}");
            match redact(matrix, room, &event_id, &txn, &sender, named.bot).await? {
                true => redacted += 1,
                false => refused += 1,
            }
        }
        match page.end {
            Some(end) if !page.chunk.is_empty() => from = Some(end),
            _ => return Ok((redacted, refused)),
        }
    }
}

/// Redacts as the sender; a ghost no longer in the room cannot, so the bot tries (it can where
/// it holds the power to). `false`: the homeserver refused both.
async fn redact(
    matrix: &MatrixClient,
    room: &RoomId,
    event_id: &EventId,
    txn: &str,
    sender: &UserId,
    bot: &UserId,
) -> Result<bool, MatrixError> {
    let forbidden = |e: &MatrixError| e.errcode() == Some("M_FORBIDDEN");
    match matrix
        .redact(room, event_id, txn, sender, Some(REASON))
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if forbidden(&e) && sender != bot => {
            match matrix.redact(room, event_id, txn, bot, Some(REASON)).await {
                Ok(_) => Ok(true),
                Err(e) if forbidden(&e) => Ok(false),
                Err(e) => Err(e),
            }
        }
        Err(e) if forbidden(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ghosts_events_and_the_bots_naming_the_driver_go() {
        let bot = UserId::parse("@threemabot:d.test").unwrap();
        let ghost = UserId::parse("@threema_abcd1234:d.test").unwrap();
        let named = Named {
            bot: &bot,
            ghost: &ghost,
            portal: None,
            needles: vec!["abcd1234".into(), "erika erasmus".into()],
        };
        let event = |sender: &str, content: Value| json!({"type": "m.room.message", "event_id": "$e", "sender": sender, "content": content});
        let by = |e: &Value| named.redactor(e).map(|u| u.to_string());
        let bot_s = bot.as_str();
        assert_eq!(
            by(&event(
                bot_s,
                json!({"body": "Erika Erasmus (ABCD1234) is in North"})
            )),
            Some(bot_s.to_owned())
        );
        // An edit names her in its new content.
        let edit =
            json!({"body": "* x", "m.new_content": {"body": "Board: erika erasmus read it"}});
        assert_eq!(by(&event(bot_s, edit)), Some(bot_s.to_owned()));
        assert_eq!(by(&event(bot_s, json!({"body": "Otto Other"}))), None);
        let reaction = json!({"type": "m.reaction", "event_id": "$r", "sender": ghost.as_str(),
            "content": {"m.relates_to": {"rel_type": "m.annotation", "key": "👍"}}});
        assert_eq!(by(&reaction), Some(ghost.to_string()));
        // A dispatcher's words, state, and what is redacted already stay.
        assert_eq!(
            by(&event("@desk:d.test", json!({"body": "ABCD1234?"}))),
            None
        );
        let mut state = event(bot_s, json!({"name": "Erika Erasmus"}));
        state["state_key"] = json!("");
        assert_eq!(by(&state), None);
        assert_eq!(by(&event(bot_s, json!({}))), None);
        let mut gone = event(ghost.as_str(), json!({"body": "x"}));
        gone["unsigned"] = json!({"redacted_because": {}});
        assert_eq!(by(&gone), None);
    }
}
