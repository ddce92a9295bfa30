//! A dispatcher's 👍 or 👎 on a driver's message becomes Threema's agree or decline on that
//! message (`bridge.reactions_to_drivers`): the phone shows the company's thumbs on it. It goes
//! through the outbox like a message (in order with the driver's other messages, held while
//! they are off duty, given up on and audited like one), keyed by the reaction's event, so a
//! reaction handled twice goes once. Other emoji stay on the desk. Threema cannot take an
//! agreement back: one taken back before it went is withdrawn, one that went is explained in
//! the portal, once.

use bridge_convert::plan::{Outgoing, Plan};
use ruma::{EventId, RoomId};

use super::{EventHead, MatrixToThreema};
use crate::{
    bridge::{BridgeError, Outcome},
    store::Direction,
    threema::ThreemaId,
};

/// What a reaction says to the driver: agree (`true`) for 👍, decline for 👎 (any skin tone,
/// with or without the emoji presentation selector); anything else nothing.
pub fn agreement(key: &str) -> Option<bool> {
    match bridge_convert::format::bare_emoji(key).as_str() {
        "👍" => Some(true),
        "👎" => Some(false),
        _ => None,
    }
}

impl MatrixToThreema {
    /// `key` on `target` in `driver`'s portal, by a dispatcher who may see the driver: queued
    /// as agree / decline when it is 👍 / 👎 on a message the driver wrote in this portal.
    /// `None` when it is nothing for the driver.
    pub(super) async fn agreement_to_driver(
        &self,
        event: &EventHead,
        driver: &ThreemaId,
        target: &str,
        key: &str,
    ) -> Result<Option<Outcome>, BridgeError> {
        let Some(agree) = agreement(key).filter(|_| self.reactions_to_drivers) else {
            return Ok(None);
        };
        // A reaction names its target by ID only: a message of this driver, in this room.
        let Some(message) = self.store.message_by_event_id(target).await? else {
            return Ok(None);
        };
        if message.direction != Direction::In
            || message.threema_peer != *driver
            || message.room_id != event.room_id
        {
            return Ok(None);
        }
        if self.access.is_former_driver(driver) || self.store.is_restricted(driver.as_str()).await?
        {
            return Ok(Some(Outcome::refused(
                "no agreement to a driver who left or is restricted",
            )));
        }
        let plan = Plan::Send(vec![Outgoing::Agreement {
            target: target.to_owned(),
            agree,
        }]);
        let outcome = (self.outbox)
            .enqueue(
                plan,
                driver,
                &event.room_id,
                &event.event_id,
                &event.sender,
                event.origin_server_ts,
                false,
            )
            .await?;
        Ok(Some(outcome))
    }

    /// A dispatcher took back `reaction` in `driver`'s portal: an agreement still held for
    /// the driver's shift is withdrawn; one that went (or goes) stays on the phone, which the
    /// portal is told once. `None` when the reaction was no agreement.
    pub(super) async fn agreement_taken_back(
        &self,
        room: &RoomId,
        driver: &ThreemaId,
        reaction: &EventId,
    ) -> Result<Option<Outcome>, BridgeError> {
        let rows = self.store.outbox_by_event(reaction.as_str()).await?;
        let is_agreement = |payload: &str| {
            matches!(
                serde_json::from_str::<Outgoing>(payload),
                Ok(Outgoing::Agreement { .. })
            )
        };
        if !rows.iter().any(|row| is_agreement(&row.payload)) {
            return Ok(None);
        }
        if self.outbox.withdraw_held(driver, reaction.as_str()).await? > 0 {
            return Ok(Some(Outcome::skipped(
                "agreement withdrawn before it went (held)",
            )));
        }
        let told = format!("agreement_taken_back_told:{room}");
        if self.store.state_get(&told).await?.is_some() {
            return Ok(Some(Outcome::skipped("agreement taken back (told before)")));
        }
        let txn = format!("agreement-taken-back-{reaction}");
        let text = crate::tr!(self.texts, "agreement-taken-back");
        self.notices.notice(room, None, &text, &txn).await?;
        self.store.state_set(&told, "1").await?;
        Ok(Some(Outcome::bridged("agreement taken back: told once")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbs_up_and_down_in_any_skin_tone_are_agree_and_decline() {
        for key in ["👍", "👍️", "👍🏽", "👍🏿"] {
            assert_eq!(agreement(key), Some(true), "{key}");
        }
        for key in ["👎", "👎️", "👎🏻"] {
            assert_eq!(agreement(key), Some(false), "{key}");
        }
        for key in ["✅", "🙋", "👍👍", "ok", ""] {
            assert_eq!(agreement(key), None, "{key}");
        }
    }
}
