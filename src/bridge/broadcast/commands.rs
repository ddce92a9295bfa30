//! The `!commands` of a broadcast room (`!recipients`, `!refresh`, `!report`, `!csv`,
//! `!resend-unread`, `!help`), one function each; any other message is a broadcast.

use crate::bridge::Outcome;
use ruma::{
    EventId, RoomId, UserId,
    events::room::message::{Relation, RoomMessageEventContent},
};
use serde_json::json;

use super::{Broadcasts, board};
use crate::{
    bridge::{BridgeError, privacy::ReadView},
    store::{Broadcast, BroadcastRoom},
};

/// What the broadcast room answers to; any other message, `!…` or not, is a broadcast.
pub(super) const ROOM_COMMANDS: [&str; 7] = [
    "recipients",
    "refresh",
    "report",
    "csv",
    "resend-unread",
    "help",
    "commands",
];

/// `!word …` → `word`, lowercased.
pub(super) fn command_word(body: &str) -> Option<String> {
    let rest = body.trim_start().strip_prefix('!')?;
    let word = rest.split_whitespace().next()?;
    Some(word.to_lowercase())
}

impl Broadcasts {
    /// Answers `!word` (one of [`ROOM_COMMANDS`]) in a broadcast room; the commands on a
    /// broadcast act on the one replied to, or else the latest.
    pub(super) async fn room_command(
        &self,
        room: &BroadcastRoom,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
        content: &RoomMessageEventContent,
        word: &str,
    ) -> Result<Outcome, BridgeError> {
        let reply_to = match &content.relates_to {
            Some(Relation::Reply(r)) => Some(r.in_reply_to.event_id.to_string()),
            _ => None,
        };
        let target = match &reply_to {
            Some(id) => self.store.broadcast_get(id).await?,
            None => self.store.broadcast_latest(room.room_id.as_str()).await?,
        };
        let txn = format!("answer-{event_id}");
        if let (Some(b), "report" | "csv") = (&target, word) {
            // Who looked at per-person delivery and read times (works council).
            (self.store)
                .audit(
                    sender.as_str(),
                    &format!("broadcast.{word}"),
                    b.event_id.as_str(),
                    &format!("{word} of {} recipient(s) asked", b.recipients),
                )
                .await?;
        }
        let answer = match word {
            "recipients" => self.recipients_answer(room, sender).await?,
            "refresh" => self.refresh_answer(room, sender).await?,
            "report" | "csv" | "resend-unread" if target.is_none() => {
                crate::tr!(self.texts, "broadcast-none-yet")
            }
            "report" => {
                let b = target.expect("checked above");
                self.report_answer(&b).await?
            }
            "csv" => {
                let b = target.expect("checked above");
                let standings = self.standings(b.event_id.as_str()).await?;
                let view = self.read_view(standings.len());
                if view.per_person {
                    self.send_csv(&b, &standings, view, room_id, event_id, &txn)
                        .await?;
                    return Ok(Outcome::bridged("report sent as CSV"));
                }
                crate::tr!(self.texts, "broadcast-csv-private")
            }
            "resend-unread" => {
                let b = target.expect("checked above");
                self.resend_unread(&b).await?
            }
            _ => crate::tr!(self.texts, "broadcast-room-help"),
        };
        self.notices
            .notice(room_id, Some(event_id), &answer, &txn)
            .await?;
        Ok(Outcome::bridged(format!(
            "broadcast room command {word} answered"
        )))
    }

    /// `!recipients`: who the room reaches now.
    async fn recipients_answer(
        &self,
        room: &BroadcastRoom,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        Ok(match self.room_recipients(room, sender).await? {
            Ok(r) => crate::tr!(
                self.texts,
                "broadcast-recipients",
                count = r.len(),
                live = match room.live {
                    true => crate::tr!(self.texts, "broadcast-live"),
                    false => crate::tr!(self.texts, "broadcast-frozen"),
                },
                list = r
                    .iter()
                    .map(|(id, name)| format!("• {name} ({id})"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
            Err(e) => crate::tr!(
                self.texts,
                "broadcast-selection-not-understood",
                error = e.to_string()
            ),
        })
    }

    /// `!refresh`: a frozen room's recipients from its selection evaluated again.
    async fn refresh_answer(
        &self,
        room: &BroadcastRoom,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        if room.live {
            return Ok(crate::tr!(self.texts, "broadcast-refresh-live"));
        }
        Ok(match self.select_drivers(&room.selection, sender).await? {
            Ok(selected) => {
                let ids: Vec<String> = selected
                    .recipients
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect();
                let before = self
                    .store
                    .broadcast_room_recipients(room.room_id.as_str())
                    .await?;
                self.store
                    .broadcast_room_set_recipients(room.room_id.as_str(), &ids)
                    .await?;
                let added = ids.iter().filter(|id| !before.contains(id)).count();
                let removed = before.iter().filter(|id| !ids.contains(id)).count();
                crate::tr!(
                    self.texts,
                    "broadcast-refreshed",
                    count = ids.len(),
                    added = added,
                    removed = removed
                )
            }
            Err(e) => crate::tr!(
                self.texts,
                "broadcast-selection-not-understood",
                error = e.to_string()
            ),
        })
    }

    /// `!report`: where each recipient of the broadcast stands, as text.
    async fn report_answer(&self, b: &Broadcast) -> Result<String, BridgeError> {
        let standings = self.standings(b.event_id.as_str()).await?;
        let view = self.read_view(standings.len());
        Ok(board::report(&self.texts, &standings, view, &self.zone))
    }

    /// What an answer in the broadcast room may show of the reading of `recipients` drivers:
    /// every member reads it, so per person only where all of them may see that, whoever
    /// asked (an admin included).
    fn read_view(&self, recipients: usize) -> ReadView {
        self.privacy.view(None, recipients)
    }

    /// `!csv`: the same per recipient as a CSV file, in reply to the command.
    async fn send_csv(
        &self,
        b: &Broadcast,
        standings: &[board::Standing],
        view: ReadView,
        room_id: &RoomId,
        event_id: &EventId,
        txn: &str,
    ) -> Result<(), BridgeError> {
        let data = board::csv(standings, view);
        let size = data.len();
        let name = format!(
            "broadcast-{}.csv",
            &b.event_id.localpart()[..8.min(b.event_id.localpart().len())]
        );
        let mxc = self
            .matrix
            .upload(data.into(), "text/csv", Some(&name), &self.bot)
            .await?;
        let content = json!({
            "msgtype": "m.file",
            "body": name,
            "filename": name,
            "url": mxc,
            "info": {"mimetype": "text/csv", "size": size},
            "m.relates_to": {"m.in_reply_to": {"event_id": event_id}},
        });
        self.notices.post_raw(room_id, &content, txn).await?;
        Ok(())
    }

    /// `!resend-unread`: the broadcast again to the recipients who have not read it.
    async fn resend_unread(&self, b: &Broadcast) -> Result<String, BridgeError> {
        let standings = self.standings(b.event_id.as_str()).await?;
        let unread = (standings.iter())
            .filter(|s| matches!(s.stage, board::Stage::Sent | board::Stage::Received))
            .count();
        let reads_shown = self.read_view(standings.len()).reads;
        let queued = self
            .store
            .broadcast_resend_unread(b.event_id.as_str())
            .await?;
        if queued > 0 {
            self.outbox.wake();
            self.board_wake.notify_one();
        }
        Ok(match reads_shown {
            true => crate::tr!(
                self.texts,
                "broadcast-resent-unread",
                count = unread,
                messages = queued
            ),
            // How many had not read it is what privacy.minimum_group keeps from small groups.
            false => crate::tr!(self.texts, "broadcast-resent-unread-private"),
        })
    }

    /// Where each recipient of a broadcast stands now.
    pub async fn standings(&self, event_id: &str) -> Result<Vec<board::Standing>, BridgeError> {
        Ok(board::standings(
            &self.store.broadcast_report(event_id).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_commands_are_commands() {
        assert_eq!(command_word(" !Report now").as_deref(), Some("report"));
        assert_eq!(command_word("!ack Shift at 6").as_deref(), Some("ack"));
        assert_eq!(command_word("Road closed!"), None);
        assert!(!ROOM_COMMANDS.contains(&command_word("!Wichtig: Tor 3").unwrap().as_str()));
    }
}
