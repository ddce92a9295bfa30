//! Matrix → Threema: a dispatcher's read receipt in a portal becomes one Threema read receipt
//! for every message of the driver it passes that the driver was not told about yet, so several
//! dispatchers reading the same messages send it once.

use ruma::{RoomId, UserId};
use serde_json::Value;

use super::Receipts;
use crate::{
    bridge::{BridgeError, Outcome, threema_to_matrix::parse_event_id},
    config::{Level, ReadReceipts},
    store::ReadThrough,
    threema::{ThreemaId, codec::ReceiptStatus},
};

/// How many message ids one Threema read receipt carries (well under the message size limit).
const IDS_PER_RECEIPT: usize = 500;

impl Receipts {
    /// A read receipt in a portal (one `m.receipt` EDU can name several events and readers).
    pub(crate) async fn read_receipt_to_threema(
        &self,
        room_id: &str,
        payload: &str,
    ) -> Result<Outcome, BridgeError> {
        match self.mode {
            ReadReceipts::Off => return Ok(Outcome::skipped("read receipts are off")),
            ReadReceipts::TrackOnly => {
                return Ok(Outcome::skipped("no read receipts to drivers (track_only)"));
            }
            ReadReceipts::On | ReadReceipts::Aggregate => {}
        }
        let Some(portal) = self.store.portal_by_room_id(room_id).await? else {
            return Ok(Outcome::skipped("receipt outside a portal"));
        };
        let driver = portal.threema_id;
        let edu: Value = serde_json::from_str(payload)
            .map_err(|e| BridgeError::BadEvent(format!("m.receipt: {e}")))?;
        let mut told = 0;
        for event_id in readers_events(&edu, |user| self.is_desk_reader(user)) {
            told += self.tell_driver_read(room_id, &driver, &event_id).await?;
        }
        Ok(Outcome::bridged(format!(
            "{told} message(s) reported read to {driver}"
        )))
    }

    /// Dispatchers' reading counts; the bridge's own users and strangers' does not.
    fn is_desk_reader(&self, user: &UserId) -> bool {
        !self.ghosts.is_bridge_user(user) && self.access.level(user) >= Level::Dispatcher
    }

    /// Sends the driver one read receipt for their messages up to `event_id` not reported yet.
    async fn tell_driver_read(
        &self,
        room_id: &str,
        driver: &ThreemaId,
        event_id: &str,
    ) -> Result<usize, BridgeError> {
        let through = if self.store.message_by_event_id(event_id).await?.is_some() {
            ReadThrough::Event(event_id)
        } else {
            let room = RoomId::parse(room_id).map_err(|e| BridgeError::BadEvent(e.to_string()))?;
            let Some(origin) = self
                .matrix
                .event_origin(&room, &parse_event_id(event_id)?)
                .await?
            else {
                return Ok(0);
            };
            // The driver's message whose send was answered but not recorded yet: read
            // through the time alone would miss it, and nothing would tell the driver later.
            if origin.sender == self.ghosts.user_id(driver)
                && self
                    .store
                    .threema_inbox_has_pending(driver.as_str())
                    .await?
            {
                return Err(BridgeError::NotYet(
                    "receipt for a driver's message still being bridged".into(),
                ));
            }
            // Not a bridged message (the desk's own, a notice): everything bridged before it.
            ReadThrough::Time(origin.ts)
        };
        let unread = self.store.messages_unread(room_id, through).await?;
        let unread: Vec<_> = unread
            .into_iter()
            .filter(|m| m.threema_peer == driver.as_str())
            .collect();
        if unread.is_empty() {
            return Ok(0);
        }
        let key = self.keys.trusted(driver).await?;
        for chunk in unread.chunks(IDS_PER_RECEIPT) {
            let ids: Vec<String> = chunk.iter().map(|m| m.threema_message_id.clone()).collect();
            // Sent before it is marked: after a crash in between the driver gets the same
            // receipt twice, which changes nothing on the phone; marking first could lose it.
            self.threema
                .send_receipt(driver, &key, ReceiptStatus::Read, &ids)
                .await?;
            let rows: Vec<i64> = chunk.iter().map(|m| m.id).collect();
            self.store.messages_mark_read_sent(&rows).await?;
            self.credits.spent().await;
        }
        Ok(unread.len())
    }
}

/// The events of an `m.receipt` EDU that a reader accepted by `counts` read (`m.read`, public).
fn readers_events(edu: &Value, counts: impl Fn(&UserId) -> bool) -> Vec<String> {
    let Some(events) = edu["content"].as_object() else {
        return Vec::new();
    };
    events
        .iter()
        .filter(|(_, receipts)| {
            receipts["m.read"].as_object().is_some_and(|readers| {
                readers
                    .keys()
                    .filter_map(|u| <&UserId>::try_from(u.as_str()).ok())
                    .any(&counts)
            })
        })
        .map(|(event_id, _)| event_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_public_reads_of_counted_readers_are_taken() {
        let edu = json!({"type": "m.receipt", "content": {
            "$a": {"m.read": {"@desk:x": {"ts": 1}}},
            "$b": {"m.read.private": {"@desk:x": {"ts": 2}}},
            "$c": {"m.read": {"@threema_abc:x": {"ts": 3}}},
            "$d": {"m.read": {"not a user": {"ts": 4}}},
        }});
        let events = readers_events(&edu, |u| u.localpart() == "desk");
        assert_eq!(events, vec!["$a".to_owned()]);
        assert!(readers_events(&json!({"content": []}), |_| true).is_empty());
    }
}
