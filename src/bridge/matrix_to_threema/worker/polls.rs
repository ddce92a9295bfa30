//! A dispatcher's Matrix poll events in a portal or a broadcast room: a poll goes to the phone
//! as a Threema poll, its end closes it there (with the results), and a vote in the driver's
//! own poll goes as the company's vote, with a line signed by the dispatcher saying who voted
//! (Threema knows only the Gateway ID). A colleague's vote in the desk's own poll stays on the
//! desk. Everything goes through the outbox like a message.

use bridge_convert::{
    plan::{Outgoing, Plan, plan_poll, signed_text},
    poll::{self, PollEvent},
};

use super::{EventHead, MatrixToThreema};
use crate::{
    bridge::{BridgeError, Outcome},
    threema::ThreemaId,
};

impl MatrixToThreema {
    /// A poll's start, response or end, by a dispatcher.
    pub(super) async fn handle_poll(
        &self,
        event: &EventHead,
        kind: PollEvent,
    ) -> Result<Outcome, BridgeError> {
        let room = event.room_id.as_str();
        if let Some(portal) = self.store.portal_by_room_id(room).await? {
            if let Some(refused) = self.refused(event, &portal).await? {
                return Ok(refused);
            }
            let driver = portal.threema_id;
            return match kind {
                PollEvent::Start => self.poll_to_driver(event, &driver).await,
                PollEvent::Response => self.vote_to_driver(event, &driver).await,
                PollEvent::End => self.poll_end_to_driver(event, &driver).await,
            };
        }
        if let Some(broadcast_room) = self.store.broadcast_room(room).await? {
            if self.outbox.predates_restore(event.origin_server_ts) {
                return Ok(Outcome::skipped("poll from before the restore"));
            }
            return match kind {
                PollEvent::Start => {
                    (self.broadcasts)
                        .handle_poll(
                            &broadcast_room,
                            &event.event_id,
                            &event.sender,
                            &event.event_type,
                            &event.content,
                        )
                        .await
                }
                PollEvent::End => {
                    let Some(target) = poll::reference(&event.content) else {
                        return Ok(Outcome::skipped("poll end without its poll"));
                    };
                    (self.broadcasts)
                        .end_poll(&broadcast_room, &event.event_id, &event.sender, &target)
                        .await
                }
                PollEvent::Response => Ok(Outcome::skipped(
                    "a vote in a broadcast room stays on the desk",
                )),
            };
        }
        Ok(Outcome::skipped("poll outside a portal"))
    }

    /// A poll started in `driver`'s portal: a Threema poll, signed like a message.
    async fn poll_to_driver(
        &self,
        event: &EventHead,
        driver: &ThreemaId,
    ) -> Result<Outcome, BridgeError> {
        let display_name = self.sender_name(event).await?;
        let relay = self.relay.by(&display_name);
        // Chosen here, kept with the queued item: a retry of this event is deduplicated by the
        // outbox and sends the poll id chosen first.
        let plan = match poll::read_start(&event.event_type, &event.content) {
            Ok(start) => plan_poll(&start, relay, rand::random(), None),
            Err(why) => Plan::Refuse(why),
        };
        let outcome = self.enqueue(event, driver, plan).await?;
        if matches!(outcome, Outcome::Bridged(_)) {
            (self.conversations)
                .answered(
                    driver,
                    &event.room_id,
                    &event.sender,
                    event.origin_server_ts,
                )
                .await?;
        }
        Ok(outcome)
    }

    /// A dispatcher's vote in `driver`'s portal: in the driver's poll it goes to the phone as
    /// the company's vote, with who voted in a signed line; in the desk's poll it stays here.
    async fn vote_to_driver(
        &self,
        event: &EventHead,
        driver: &ThreemaId,
    ) -> Result<Outcome, BridgeError> {
        let Some((target, mut answers)) = poll::read_response(&event.event_type, &event.content)
        else {
            return Ok(Outcome::skipped("poll response without its poll"));
        };
        let Some(known) = self.store.poll_by_event(driver.as_str(), &target).await? else {
            return Ok(Outcome::skipped(
                "a vote in a poll the bridge does not know",
            ));
        };
        if known.creator != driver.as_str() {
            return Ok(Outcome::skipped(
                "a vote in the desk's own poll stays on the desk",
            ));
        }
        if known.closed_at.is_some() {
            return Ok(Outcome::skipped("a vote in a closed poll"));
        }
        // Answers the poll does not have are dropped; in a single-choice poll only the first
        // counts (MSC3381: the first max_selections).
        answers.retain(|a| known.choices.iter().any(|c| c.answer_id() == *a));
        if !known.multiple {
            answers.truncate(1);
        }
        let chosen: Vec<&str> = (known.choices.iter())
            .filter(|c| answers.contains(&c.answer_id()))
            .map(|c| c.name.as_str())
            .collect();
        let said = match chosen.is_empty() {
            true => crate::tr!(self.texts, "poll-vote-taken-back"),
            false => crate::tr!(self.texts, "poll-voted", answers = chosen.join(", ")),
        };
        let display_name = self.sender_name(event).await?;
        let relay = self.relay.by(&display_name);
        let mut items = vec![Outgoing::PollVote { target, answers }];
        items.extend(signed_text(&said, relay));
        let plan = Plan::Send(items);
        self.enqueue(event, driver, plan).await
    }

    /// The desk's poll ended in `driver`'s portal: closed on the phone with the results.
    async fn poll_end_to_driver(
        &self,
        event: &EventHead,
        driver: &ThreemaId,
    ) -> Result<Outcome, BridgeError> {
        let Some(target) = poll::reference(&event.content) else {
            return Ok(Outcome::skipped("poll end without its poll"));
        };
        // The poll may still wait in the outbox (the driver off duty): its queued row counts.
        let sent_as_poll = (self.store.outbox_by_event(&target).await?.iter()).any(|row| {
            row.recipient == *driver
                && matches!(
                    serde_json::from_str::<Outgoing>(&row.payload),
                    Ok(Outgoing::Poll(_))
                )
        });
        if !sent_as_poll {
            return Ok(Outcome::skipped(
                "the end of a poll that did not go to the driver",
            ));
        }
        self.enqueue(
            event,
            driver,
            Plan::Send(vec![Outgoing::PollClose { target }]),
        )
        .await
    }

    /// Queues `plan` for `driver` under `event` (a refusal is told in the portal).
    async fn enqueue(
        &self,
        event: &EventHead,
        driver: &ThreemaId,
        plan: Plan,
    ) -> Result<Outcome, BridgeError> {
        (self.outbox)
            .enqueue(
                plan,
                driver,
                &event.room_id,
                &event.event_id,
                &event.sender,
                event.origin_server_ts,
                false,
            )
            .await
    }
}
