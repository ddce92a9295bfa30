//! Matrix → Threema: a dispatcher's 👍 or 👎 on a driver's message becomes Threema's agree or
//! decline on that message (`bridge.reactions_to_drivers`), which the phone shows as the
//! company's thumbs on it. Other emoji stay on the desk. Threema cannot take an agreement
//! back: a removed 👍 or 👎 is explained in the portal, once.

use ruma::{RoomId, UserId};

use super::Receipts;
use crate::{
    bridge::{BridgeError, Outcome},
    store::Direction,
    threema::{ThreemaId, codec::ReceiptStatus},
};

/// Said in a portal the first time a dispatcher takes back a reaction there.
const TAKEN_BACK: &str = "A 👍 or 👎 taken back stays on the phone: Threema cannot withdraw an \
    agreement. Write to the driver if it no longer holds.";

/// What a reaction says to the driver: 👍 agree, 👎 decline (any skin tone, with or without
/// the emoji presentation selector); anything else nothing.
pub fn agreement(key: &str) -> Option<ReceiptStatus> {
    let bare: String = key
        .chars()
        .filter(|c| *c != '\u{FE0F}' && !('\u{1F3FB}'..='\u{1F3FF}').contains(c))
        .collect();
    match bare.as_str() {
        "👍" => Some(ReceiptStatus::Acknowledged),
        "👎" => Some(ReceiptStatus::Declined),
        _ => None,
    }
}

impl Receipts {
    /// `key` on `target` in `driver`'s portal, by `sender` (who may see the driver): agree or
    /// decline on the phone when it is 👍 / 👎 on a message of the driver's. `None` when it
    /// is not for the driver.
    pub(crate) async fn reaction_to_driver(
        &self,
        driver: &ThreemaId,
        target: &str,
        key: &str,
        sender: &UserId,
    ) -> Result<Option<Outcome>, BridgeError> {
        let Some(status) = agreement(key).filter(|_| self.reactions_to_drivers) else {
            return Ok(None);
        };
        if self.ghosts.is_bridge_user(sender) {
            return Ok(None);
        }
        let Some(message) = self.store.message_by_event_id(target).await? else {
            return Ok(None);
        };
        if message.direction != Direction::In || message.threema_peer != *driver {
            return Ok(None);
        }
        let key = self.keys.trusted(driver).await?;
        let ids = [message.threema_message_id];
        // A retry after a crash sends it twice, which changes nothing on the phone.
        self.threema
            .send_receipt(driver, &key, status, &ids)
            .await?;
        self.credits.spent().await;
        let said = match status {
            ReceiptStatus::Acknowledged => "agree",
            _ => "decline",
        };
        Ok(Some(Outcome::bridged(format!("{said} sent to {driver}"))))
    }

    /// A dispatcher took back a reaction in `driver`'s portal (`reaction` the redacted event,
    /// read to see that it was one): the portal is told, once, that the phone keeps it.
    pub(crate) async fn reaction_taken_back(
        &self,
        room: &RoomId,
        reaction: &ruma::EventId,
        sender: &UserId,
    ) -> Result<Option<Outcome>, BridgeError> {
        if !self.reactions_to_drivers || self.ghosts.is_bridge_user(sender) {
            return Ok(None);
        }
        // Redacted, the event keeps its type, not its key.
        let Ok(read) = self.matrix.event(room, reaction).await else {
            return Ok(None);
        };
        if read["type"] != "m.reaction" || read["sender"] != sender.as_str() {
            return Ok(None);
        }
        let told = format!("reaction_taken_back_told:{room}");
        if self.store.state_get(&told).await?.is_some() {
            return Ok(Some(Outcome::skipped(
                "a reaction taken back (told before)",
            )));
        }
        let txn = format!("reaction-taken-back-{reaction}");
        self.notices.notice(room, None, TAKEN_BACK, &txn).await?;
        self.store.state_set(&told, "1").await?;
        Ok(Some(Outcome::bridged("a reaction taken back: told once")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbs_up_and_down_in_any_skin_tone_are_agree_and_decline() {
        for key in ["👍", "👍️", "👍🏽", "👍🏿"] {
            assert_eq!(agreement(key), Some(ReceiptStatus::Acknowledged), "{key}");
        }
        for key in ["👎", "👎️", "👎🏻"] {
            assert_eq!(agreement(key), Some(ReceiptStatus::Declined), "{key}");
        }
        for key in ["✅", "🙋", "👍👍", "ok", ""] {
            assert_eq!(agreement(key), None, "{key}");
        }
    }
}
