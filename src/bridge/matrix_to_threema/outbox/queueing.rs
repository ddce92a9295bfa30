//! Queueing: the parts of one event become outbox rows for a driver, held for their shift as
//! the holds say, stored with what their commit also records, and handed to the outbox's runner.

use std::sync::atomic::Ordering;

use bridge_convert::plan::Outgoing;
use ruma::RoomId;

use super::Outbox;
use crate::{
    bridge::BridgeError,
    store::{DeliveryDone, NewOutgoing, OutboxState, StoreError, now_ms},
    threema::ThreemaId,
};

/// What queuing one event did: how many rows are new, and until when they wait for the driver
/// to come on duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Queued {
    pub new: u64,
    pub held_until: Option<i64>,
}

/// What queueing rows also does: `urgent` rows do not wait for the driver's shift;
/// `delivery`: a broadcast's recipient the fan-out is done with once they are queued (recorded
/// in the rows' commit).
#[derive(Debug, Clone, Default)]
pub(crate) struct With {
    pub urgent: bool,
    pub delivery: Option<DeliveryDone>,
}

impl Outbox {
    /// Stores the parts of one event for `driver` in `portal`, with what `with` says, and hands
    /// them to the outbox's runner: how many rows are new (queueing the same event again adds
    /// none) and until when they wait for the driver's shift (not if urgent). The privacy
    /// notice goes first if the driver has not had it, held as long.
    pub(crate) async fn queue(
        &self,
        items: &[Outgoing],
        driver: &ThreemaId,
        event_id: &str,
        portal: &RoomId,
        sender: &str,
        with: With,
    ) -> Result<Queued, BridgeError> {
        let holds = self.holds_of(items, driver, with.urgent).await?;
        self.privacy_notice(driver, portal, holds.first().copied().flatten())
            .await?;
        let rows = new_rows(items, &holds, event_id, driver, portal.as_str(), sender);
        let new = (self.queue_rows(&rows, &holds, with.delivery.as_ref())).await?;
        // As stored: an event handled again finds its rows as they were queued the first time.
        let held_until = match self.holds {
            None => None,
            Some(_) => {
                let now = now_ms();
                (self.store.outbox_by_event(event_id).await?.into_iter())
                    .filter(|row| row.recipient == *driver && row.part == 0)
                    .filter(|row| row.state == OutboxState::Queued)
                    .find_map(|row| row.hold_until.filter(|at| *at > now))
            }
        };
        Ok(Queued { new, held_until })
    }

    /// Stores `rows` (each held as `holds` says), with the broadcast recipient they end if any,
    /// and hands them to the outbox's runner.
    pub(super) async fn queue_rows(
        &self,
        rows: &[NewOutgoing],
        holds: &[Option<i64>],
        delivery: Option<&DeliveryDone>,
    ) -> Result<u64, StoreError> {
        let new = match delivery {
            Some(done) => self.store.delivery_queued(done, rows).await?,
            None => {
                (self.store)
                    .outbox_enqueue_as(rows, OutboxState::Queued, None)
                    .await?
            }
        };
        if let Some(due) = holds.iter().flatten().min() {
            self.next_hold.fetch_min(*due, Ordering::Relaxed);
        }
        let count = new.len() as u64;
        self.hand(new);
        Ok(count)
    }
}

/// The outbox rows of the parts one event became for `driver`, each held as `holds` says.
pub(super) fn new_rows(
    items: &[Outgoing],
    holds: &[Option<i64>],
    event_id: &str,
    driver: &ThreemaId,
    room_id: &str,
    sender: &str,
) -> Vec<NewOutgoing> {
    let row = |(part, (item, hold_until)): (usize, (&Outgoing, &Option<i64>))| NewOutgoing {
        event_id: event_id.to_owned(),
        recipient: driver.to_string(),
        part: part as i64,
        room_id: room_id.to_owned(),
        sender: sender.to_owned(),
        payload: serde_json::to_string(item).expect("outgoing messages serialise"),
        hold_until: *hold_until,
    };
    items.iter().zip(holds).enumerate().map(row).collect()
}
