//! Messages to drivers off duty (`inbox.shifts`, `inbox.off_duty`): held in the outbox until
//! the driver's duty starts (`threema_outbox.hold_until`), released early by `!urgent`,
//! withdrawn when deleted while they wait. The queue reads on from the last row it saw, so a
//! hold that ends makes the next read start from the beginning: the held row goes before what
//! was queued after it.

use std::sync::atomic::Ordering;

use bridge_convert::plan::Outgoing;
use ruma::{EventId, RoomId};

use super::Outbox;
use crate::{
    bridge::{BridgeError, desk::duty},
    store::{OutboxState, StoreError, now_ms},
    threema::ThreemaId,
};

impl Outbox {
    /// Whether a held row came due (or was released) since the last read. The queue reads on
    /// from the last row it saw, so such a row, numbered before rows queued while it waited,
    /// would be found only by the next rescan, after the driver's later rows (an edit or a
    /// deletion of it among them); the read starts from the beginning instead.
    pub(super) async fn hold_came_due(&self) -> Result<bool, StoreError> {
        let now = now_ms();
        if self.next_hold.load(Ordering::Relaxed) > now {
            return Ok(false);
        }
        // Before the read, so that a hold queued meanwhile (it lowers the value after its
        // commit) is not overwritten.
        self.next_hold.store(i64::MAX, Ordering::Relaxed);
        match self.store.outbox_next_hold(now).await {
            Ok(next) => {
                (self.next_hold).fetch_min(next.unwrap_or(i64::MAX), Ordering::Relaxed);
                Ok(true)
            }
            Err(e) => {
                self.hold_ended();
                Err(e)
            }
        }
    }

    /// A hold ended before its time (`!urgent`): the next read starts from the beginning.
    pub(crate) fn hold_ended(&self) {
        self.next_hold.store(0, Ordering::Relaxed);
        self.wake();
    }

    /// Until when a message written now to `driver` waits: they are off duty (`desk::duty`).
    fn off_duty_until(&self, driver: &ThreemaId) -> Option<i64> {
        let (duty, zone) = self.holds.as_ref()?;
        let view = self.access.view();
        let shift = (duty.shift_attribute.as_deref())
            .map_or("", |attribute| view.driver_attribute(driver, attribute));
        duty::driver_held_until(duty, shift, zone, now_ms())
    }

    /// Each part's hold: an edit or a deletion waits as long as its message does (it would
    /// find nothing on the phone before), whatever the time; anything else until the driver is
    /// on duty, unless `urgent`.
    pub(super) async fn holds_of(
        &self,
        items: &[Outgoing],
        driver: &ThreemaId,
        urgent: bool,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let mut holds = Vec::with_capacity(items.len());
        for item in items {
            holds.push(match item {
                Outgoing::Edit { target, .. }
                | Outgoing::Delete { target, .. }
                | Outgoing::PollClose { target } => {
                    let now = now_ms();
                    (self.store.outbox_by_event(target).await?.into_iter())
                        .filter(|row| row.recipient == *driver && row.state == OutboxState::Queued)
                        .filter_map(|row| row.hold_until.filter(|at| *at > now))
                        .max()
                }
                _ if urgent => None,
                _ => self.off_duty_until(driver),
            });
        }
        Ok(holds)
    }

    /// Tells the dispatcher, in answer to their message, that it waits for the driver's shift.
    pub(super) async fn tell_held(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        event_id: &EventId,
        until: i64,
    ) -> Result<(), BridgeError> {
        let zone = self
            .holds
            .as_ref()
            .map(|(_, zone)| zone)
            .cloned()
            .unwrap_or_default();
        let name = self.ghosts.driver_name(driver).await?;
        let text = crate::tr!(
            self.texts,
            "outbox-held",
            until = self.texts.when(&zone, until, now_ms()),
            name = name
        );
        self.notices
            .notice(room_id, Some(event_id), &text, &format!("held-{event_id}"))
            .await
    }

    /// `!urgent` for `driver` in `portal`: what waits for their shift goes now, all of it or the
    /// message `event_id` became (with its edits), after the privacy notice if that waited
    /// too. How many rows.
    pub(crate) async fn release_held(
        &self,
        driver: &ThreemaId,
        portal: &RoomId,
        event_id: Option<&str>,
    ) -> Result<u64, BridgeError> {
        self.privacy_notice(driver, portal, None).await?;
        let released = (self.store)
            .outbox_release_held(driver.as_str(), event_id)
            .await?;
        self.hold_ended();
        Ok(released)
    }

    /// A dispatcher deleted `event_id` while it waited for `driver`'s shift: it is not sent at
    /// all. How many rows were taken back (0: not held, it went or goes now).
    pub(crate) async fn withdraw_held(
        &self,
        driver: &ThreemaId,
        event_id: &str,
    ) -> Result<u64, BridgeError> {
        Ok(self
            .store
            .outbox_withdraw_held(driver.as_str(), event_id)
            .await?)
    }
}
