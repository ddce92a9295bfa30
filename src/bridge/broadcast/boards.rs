//! Keeps the status boards current: every `broadcast.board_interval` (or when woken) each
//! unsettled broadcast's standing is read from the store and, if its text changed, the board is
//! edited in place (`m.replace`). Also the escalation notice.

use std::{sync::Arc, time::Duration};

use ruma::RoomId;
use serde_json::json;
use sha2::Digest as _;
use tokio_util::sync::CancellationToken;

use super::{Broadcasts, board};
use crate::{
    bridge::BridgeError,
    store::{Broadcast, now_ms},
};

/// A board stops being recomputed this long after its broadcast started, read or not.
const BOARD_DAYS: i64 = 7;

impl Broadcasts {
    pub async fn run_boards(self: Arc<Self>, shutdown: CancellationToken) {
        let interval = self.config.board_interval;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
                () = self.board_wake.notified() => {
                    // Several changes close together make one edit.
                    tokio::time::sleep(interval.min(Duration::from_millis(500))).await;
                }
            }
            match self.store.broadcasts_unsettled().await {
                Ok(broadcasts) => {
                    for broadcast in broadcasts {
                        if let Err(e) = self.update_board(&broadcast).await {
                            tracing::warn!(event = %broadcast.event_id, error = %e, "cannot update a broadcast's board");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the broadcasts"),
            }
        }
    }

    /// Brings one board up to date; returns whether it was edited.
    pub async fn update_board(&self, broadcast: &Broadcast) -> Result<bool, BridgeError> {
        let room_id = broadcast.room_id.clone();
        let standings = self.standings(broadcast.event_id.as_str()).await?;
        // Everyone in the broadcast room reads the board.
        let view = self.privacy.view(None, standings.len());
        let mut text = board::render(
            &self.texts,
            &standings,
            broadcast.ack,
            self.config.board_unread_names,
            view,
        );
        // A poll's tally under the first line; the board follows the votes until it ends.
        let poll = self.poll_line(broadcast).await?;
        if let Some((line, _)) = &poll {
            text = board::with_line(&text, line);
        }
        let poll_open = poll.is_some_and(|(_, open)| open);
        let edited = broadcast.board_text.as_deref() != Some(text.as_str());
        if edited {
            let board_event = match &broadcast.board_event {
                Some(board_event) => {
                    // The transaction id names the text, so a retry does not edit twice.
                    let digest = sha2::Sha256::digest(text.as_bytes());
                    let txn = format!("board-{}-{}", board_event, hex::encode(&digest[..8]));
                    let content = json!({
                        "msgtype": "m.notice",
                        "body": format!("* {text}"),
                        "m.new_content": {"msgtype": "m.notice", "body": text},
                        "m.relates_to": {"rel_type": "m.replace", "event_id": board_event},
                    });
                    self.notices.post_raw(&room_id, &content, &txn).await?;
                    board_event.clone()
                }
                None => {
                    let content = json!({
                        "msgtype": "m.notice",
                        "body": text,
                        "m.relates_to": {"m.in_reply_to": {"event_id": broadcast.event_id}},
                    });
                    // A board started anew (after an erasure) is a new post, not a retry.
                    let txn = match broadcast.board_rebuilds {
                        0 => format!("board-{}", broadcast.event_id),
                        n => format!("board-{}-{n}", broadcast.event_id),
                    };
                    self.notices
                        .post_raw(&room_id, &content, &txn)
                        .await?
                        .to_string()
                }
            };
            let event_id = broadcast.event_id.as_str();
            let rebuilds = broadcast.board_rebuilds;
            if !self
                .store
                .broadcast_set_board(event_id, &board_event, &text, rebuilds)
                .await?
            {
                // An erasure forgot the board since it was read: the next round posts it anew.
                return Ok(true);
            }
        }
        let started = broadcast.started_at.unwrap_or_default();
        if (board::settled(&standings, broadcast.ack) && !poll_open)
            || now_ms() - started > BOARD_DAYS * 24 * 3600 * 1000
        {
            self.store
                .broadcast_settle(broadcast.event_id.as_str(), broadcast.board_rebuilds)
                .await?;
        }
        self.escalate(broadcast, &room_id, &standings).await?;
        Ok(edited)
    }

    /// `broadcast.escalate_after_minutes`: one notice, mentioning the author, when too few have
    /// read it by then.
    async fn escalate(
        &self,
        broadcast: &Broadcast,
        room_id: &RoomId,
        standings: &[board::Standing],
    ) -> Result<(), BridgeError> {
        let Some(after) = self.config.escalate_after else {
            return Ok(());
        };
        let started = broadcast.started_at.unwrap_or_default();
        if broadcast.escalated_at.is_some() || now_ms() - started < after.as_millis() as i64 {
            return Ok(());
        }
        let counts = board::count(standings);
        let below = self.config.escalate_below_percent as usize;
        let view = self.privacy.view(None, counts.total);
        if !board::escalation_due(&counts, below, view) {
            return Ok(());
        }
        let minutes = after.as_secs_f64() / 60.0;
        let text = crate::tr!(
            self.texts,
            "broadcast-escalation",
            sender = broadcast.sender.as_str(),
            read = counts.read,
            total = counts.total,
            percent = counts.read * 100 / counts.total,
            minutes = minutes.round() as i64
        );
        let content = json!({
            "msgtype": "m.text",
            "body": text,
            "m.mentions": {"user_ids": [broadcast.sender]},
            "m.relates_to": {"m.in_reply_to": {"event_id": broadcast.event_id}},
        });
        self.notices
            .post_raw(
                room_id,
                &content,
                &format!("escalate-{}", broadcast.event_id),
            )
            .await?;
        self.store
            .broadcast_set_escalated(broadcast.event_id.as_str())
            .await?;
        Ok(())
    }
}
