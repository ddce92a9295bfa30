//! A poll started in a broadcast room: previewed and confirmed like any broadcast, it goes to
//! each recipient as a Threema poll, and each portal gets the bot's copy as a Matrix poll that
//! the driver's vote answers (from their ghost). The board counts the votes. Ending the poll in
//! the broadcast room closes it on every phone, with the results, and ends each copy.

use bridge_convert::{
    plan::{Outgoing, Plan, Refusal, plan_poll},
    poll::{self, PollAnswer, PollEvent},
};
use ruma::{EventId, OwnedRoomId, UserId};
use serde_json::Value;

use super::Broadcasts;
use crate::bridge::matrix_to_threema::outbox::With;
use crate::{
    bridge::{BridgeError, Outcome},
    config::Level,
    store::{Broadcast, BroadcastRoom, Poll},
    threema::ThreemaId,
};

impl Broadcasts {
    /// A dispatcher's poll in a broadcast room: planned for every recipient, previewed until
    /// the 👍 (or started at once in a room confirmed once).
    pub(in crate::bridge) async fn handle_poll(
        &self,
        room: &BroadcastRoom,
        event_id: &EventId,
        sender: &UserId,
        event_type: &str,
        content: &Value,
    ) -> Result<Outcome, BridgeError> {
        let room_id = room.room_id.clone();
        if self.access.level(sender) < Level::Dispatcher {
            let text = crate::tr!(self.texts, "broadcast-not-permitted");
            return self.refuse(&room_id, event_id, text).await;
        }
        let start = match poll::read_start(event_type, content) {
            Ok(start) => start,
            Err(why) => {
                let why = self.texts.refusal(&why);
                return self.refuse(&room_id, event_id, why).await;
            }
        };
        let display_name = self
            .matrix
            .member_display_name(&room_id, sender)
            .await?
            .unwrap_or_else(|| sender.localpart().to_owned());
        let relay = self.relay.by(&display_name);
        // One poll id for every recipient (each chat holds its own poll); kept with the
        // broadcast's record, so a retry of this event plans nothing new.
        let items = match plan_poll(&start, relay, rand::random(), Some(event_id.to_string())) {
            Plan::Send(items) => items,
            Plan::Refuse(why) => {
                let why = self.texts.refusal(&why);
                return self.refuse(&room_id, event_id, why).await;
            }
        };
        let question = crate::tr!(
            self.texts,
            "broadcast-poll-question",
            name = display_name.as_str(),
            question = start.question.trim()
        );
        let Some(copy) =
            poll::start_content(start.namespace, &question, &start.answers, start.multiple)
        else {
            let why = self.texts.refusal(&Refusal::PollTooManyAnswers);
            return self.refuse(&room_id, event_id, why).await;
        };
        self.record_and_confirm(room, event_id, sender, &items, &copy, false)
            .await
    }

    /// `end` by a dispatcher ends the broadcast poll `target`: closed on every phone it went
    /// to (after it, where it still waits for a shift), and each portal's copy ended with the
    /// results.
    pub(in crate::bridge) async fn end_poll(
        &self,
        room: &BroadcastRoom,
        end: &EventId,
        sender: &UserId,
        target: &str,
    ) -> Result<Outcome, BridgeError> {
        if self.access.level(sender) < Level::Dispatcher {
            return Ok(Outcome::refused(format!(
                "poll end by {sender}: not permitted"
            )));
        }
        let Some(broadcast) = self.store.broadcast_get(target).await? else {
            return Ok(Outcome::skipped("the end of a poll that was not broadcast"));
        };
        let items: Vec<Outgoing> = serde_json::from_str(&broadcast.payload)
            .map_err(|e| BridgeError::BadEvent(format!("broadcast payload: {e}")))?;
        let Some(Outgoing::Poll(sent)) = items.first() else {
            return Ok(Outcome::skipped("the end of a broadcast that is no poll"));
        };
        if broadcast.room_id != room.room_id {
            return Ok(Outcome::skipped("the end of a poll of another room"));
        }
        // Ended: recipients the fan-out has not reached yet do not get it, nor does anyone if
        // it was never confirmed.
        (self.store)
            .state_set(&ended_key(target), end.as_str())
            .await?;
        self.store.broadcast_cancel(target).await?;
        let polls = self.store.polls_of_broadcast(target).await?;
        let text = crate::tr!(
            self.texts,
            "poll-ended",
            results = self.tally(&sent.answers, &polls).await?.0
        );
        let mut closed = 0;
        for row in self.store.broadcast_report(target).await? {
            let (Some(portal), Some(copy)) = (&row.portal_room, &row.copy_event) else {
                continue;
            };
            let (Some(driver), Ok(portal)) = (
                ThreemaId::parse(&row.recipient),
                OwnedRoomId::try_from(portal.as_str()),
            ) else {
                continue;
            };
            let close = [Outgoing::PollClose {
                target: copy.clone(),
            }];
            let queued = (self.outbox)
                .queue(
                    &close,
                    &driver,
                    end.as_str(),
                    &portal,
                    sender.as_str(),
                    With::default(),
                )
                .await?;
            closed += queued.new;
            let content = poll::end_content(sent.namespace, copy_event(copy)?, &text);
            let end_type = sent.namespace.event_type(PollEvent::End);
            (self.notices)
                .post_event(&portal, end_type, &content, &format!("poll-end-{copy}"))
                .await?;
        }
        self.board_wake.notify_one();
        Ok(Outcome::bridged(format!(
            "broadcast poll ended: {closed} close(s) queued"
        )))
    }

    /// The board's line for a broadcast poll: each answer's count and who has not voted (from
    /// each recipient's own vote in their chat), and whether it is still open.
    pub(super) async fn tally(
        &self,
        answers: &[PollAnswer],
        polls: &[Poll],
    ) -> Result<(String, bool), BridgeError> {
        let mut chosen: Vec<Vec<String>> = Vec::new();
        for poll in polls {
            let votes = self.store.poll_votes(poll).await?;
            if let Some(vote) = votes.iter().find(|v| v.voter == poll.threema_peer) {
                chosen.push(
                    (poll.choices.iter())
                        .filter(|c| vote.choices.contains(&c.id))
                        .map(|c| c.answer_id())
                        .collect(),
                );
            }
        }
        let voted = chosen.iter().filter(|c| !c.is_empty()).count();
        let tally = poll::tally(answers, chosen.iter().map(Vec::as_slice));
        let line = crate::tr!(
            self.texts,
            "poll-tally",
            tally = poll::tally_line(&tally),
            not_voted = polls.len() - voted
        );
        let open = polls.iter().any(|p| p.closed_at.is_none());
        Ok((line, open))
    }

    /// The board's poll line for `broadcast`, if it sent a poll, and whether the poll is open.
    pub(super) async fn poll_line(
        &self,
        broadcast: &Broadcast,
    ) -> Result<Option<(String, bool)>, BridgeError> {
        let items: Vec<Outgoing> = serde_json::from_str(&broadcast.payload).unwrap_or_default();
        let Some(Outgoing::Poll(sent)) = items.first() else {
            return Ok(None);
        };
        let polls = self
            .store
            .polls_of_broadcast(broadcast.event_id.as_str())
            .await?;
        let (tally, open) = self.tally(&sent.answers, &polls).await?;
        let ended = self.poll_ended(broadcast.event_id.as_str()).await?;
        let open = !ended && (open || polls.is_empty());
        let line = match open {
            true => crate::tr!(self.texts, "poll-board-line", tally = tally),
            false => crate::tr!(self.texts, "poll-board-line-ended", tally = tally),
        };
        Ok(Some((line, open)))
    }
}

/// `bridge_state` key marking a broadcast poll ended (the end's event).
fn ended_key(broadcast: &str) -> String {
    format!("broadcast_poll_ended:{broadcast}")
}

impl Broadcasts {
    /// Whether the broadcast poll `broadcast` was ended in its room.
    pub(super) async fn poll_ended(&self, broadcast: &str) -> Result<bool, BridgeError> {
        Ok(self.store.state_get(&ended_key(broadcast)).await?.is_some())
    }
}

fn copy_event(copy: &str) -> Result<ruma::OwnedEventId, BridgeError> {
    crate::bridge::threema_to_matrix::parse_event_id(copy)
}
