//! Threema → Matrix: the phone's delivery receipts for a dispatcher's message are stored per
//! recipient and shown in what stock Element renders: the ghost's read receipt (its avatar
//! under the message), a marker reaction that swaps from "received" to "read", and 👍/👎 for
//! Threema's acknowledge/decline.
//!
//! Every Matrix call uses a transaction id derived from the receipt being handled, and the store
//! is updated after the calls, so a retry of the same item repeats them harmlessly: a marker
//! that replaces another goes up before the old one comes down (the repeat gets the same event
//! back and must not take it down), and one the homeserver already has but no longer knows by
//! transaction id (after its restart) is looked up rather than refused as a duplicate.

use ruma::{EventId, OwnedEventId, UserId};

use super::Receipts;
use crate::bridge::{
    BridgeError, Incoming,
    threema_to_matrix::{Bridged, parse_event_id},
};
use crate::{
    config::{ReadReceipts, WebhookEvent},
    store::{OutboxItem, Reaction, ReceiptLookup},
    threema::{MessageId, codec::ReceiptStatus},
};

impl Receipts {
    /// A driver's delivery receipt for messages the desk sent.
    pub(crate) async fn receipt_to_matrix(
        &self,
        incoming: &Incoming,
        status: ReceiptStatus,
        message_ids: &[MessageId],
    ) -> Result<Bridged, BridgeError> {
        let mode = self.mode;
        if status == ReceiptStatus::Read && mode == ReadReceipts::Off {
            return Ok(Bridged::Skipped("read receipts are off".into()));
        }
        let ghost = self.ghosts.user_id(&incoming.from);
        let at = incoming.date.max(0) * 1000;
        let hexes: Vec<String> = message_ids.iter().map(|id| id.to_hex_le()).collect();
        let lookup = (self.store).outbox_receipt_lookup(incoming.from.as_str(), &hexes);
        let ReceiptLookup { sent, in_flight } = lookup.await?;
        let (mut updated, mut unknown) = (0, Vec::new());
        let mut newest_read: Option<OutboxItem> = None;
        for hex in hexes {
            let found = sent
                .iter()
                .find(|row| row.threema_message_id.as_ref() == Some(&hex));
            let Some(row) = found else {
                unknown.push(hex);
                continue;
            };
            let change = StatusChange {
                row,
                ghost: &ghost,
                receipt: &incoming.message_id,
            };
            if !self.apply_receipt(&change, status, at).await? {
                continue;
            }
            if status == ReceiptStatus::Read && newest_read.as_ref().is_none_or(|n| n.seq < row.seq)
            {
                newest_read = Some(row.clone());
            }
            updated += 1;
        }
        if let Some(row) = newest_read.filter(|_| self.reads_in_portals) {
            // The avatar moves to the newest message read, as for any Matrix reader.
            self.matrix
                .read_receipt(&row.room_id, &row.event_id, &ghost)
                .await?;
        }
        if !unknown.is_empty() && in_flight {
            // The phone can answer before the Gateway's answer to our send is recorded: wait
            // for it rather than lose the receipt (what was updated already is kept; repeating
            // it changes nothing).
            return Err(BridgeError::NotYet(format!(
                "receipt for {} message(s) of a send still under way",
                unknown.len()
            )));
        }
        if !unknown.is_empty() {
            tracing::info!(
                threema_id = %incoming.from,
                ids = ?unknown,
                "receipt for messages the bridge did not send; ignored"
            );
        }
        if updated > 0 {
            let waited = (crate::store::now_ms() - incoming.received_at).max(0) as u64;
            (self.metrics).receipt_shown(std::time::Duration::from_millis(waited));
        }
        Ok(Bridged::Done(format!(
            "{updated} message(s) updated, {} unknown",
            unknown.len()
        )))
    }

    /// Records what the receipt says of one message and shows it on the message (as the
    /// configured read receipts allow). `false` for a status the bridge does not show.
    async fn apply_receipt(
        &self,
        change: &StatusChange<'_>,
        status: ReceiptStatus,
        at: i64,
    ) -> Result<bool, BridgeError> {
        let seq = change.row.seq;
        match status {
            ReceiptStatus::Received | ReceiptStatus::Read => {
                let read = status == ReceiptStatus::Read;
                let marker = match self.reads_in_portals || !read {
                    true => self.show_marker(change, read).await?,
                    false => None,
                };
                let marker = marker.as_ref().map(|event| event.as_str());
                (self.store)
                    .outbox_mark_delivered(seq, read, at, marker)
                    .await?;
                let event = if read {
                    WebhookEvent::Read
                } else {
                    WebhookEvent::Delivered
                };
                self.api_events.on_receipt(change.row, event, at).await?;
            }
            ReceiptStatus::Acknowledged | ReceiptStatus::Declined => {
                let reaction = if status == ReceiptStatus::Acknowledged {
                    Reaction::Acknowledged
                } else {
                    Reaction::Declined
                };
                self.show_reaction(change, reaction).await?;
                self.store.outbox_set_reaction(seq, reaction, at).await?;
                let event = match reaction {
                    Reaction::Acknowledged => WebhookEvent::Acknowledged,
                    Reaction::Declined => WebhookEvent::Declined,
                };
                self.api_events.on_receipt(change.row, event, at).await?;
            }
            ReceiptStatus::Other(_) => return Ok(false),
        }
        Ok(true)
    }

    /// The received marker, swapped for the read marker once the driver read the message: the
    /// new marker's event, to record with the receipt (a crash before that sends it again
    /// under the same transaction id). Only the first part of a split message carries it.
    async fn show_marker(
        &self,
        change: &StatusChange<'_>,
        read: bool,
    ) -> Result<Option<OwnedEventId>, BridgeError> {
        let row = change.row;
        let shown = if read {
            row.status.read_at.is_some()
        } else {
            row.status.received_at.is_some()
        };
        let key = if read {
            &self.read_marker
        } else {
            &self.received_marker
        };
        if row.part != 0 || shown || key.is_empty() {
            return Ok(None);
        }
        let marker = self
            .matrix
            .react(
                &row.room_id,
                &row.event_id,
                key,
                &change.txn(if read { "read" } else { "received" }),
                change.ghost,
            )
            .await?;
        self.take_down(
            change,
            row.status.marker_event.as_deref(),
            &marker,
            "marker",
        )
        .await?;
        Ok(Some(marker))
    }

    /// 👍 or 👎 from the ghost; a change of mind replaces the earlier one.
    async fn show_reaction(
        &self,
        change: &StatusChange<'_>,
        reaction: Reaction,
    ) -> Result<(), BridgeError> {
        let row = change.row;
        if row.part != 0 || row.status.reaction == Some(reaction) {
            return Ok(());
        }
        let key = match reaction {
            Reaction::Acknowledged => "👍",
            Reaction::Declined => "👎",
        };
        let event = self
            .matrix
            .react(
                &row.room_id,
                &row.event_id,
                key,
                &change.txn(reaction.as_str()),
                change.ghost,
            )
            .await?;
        self.take_down(
            change,
            row.status.reaction_event.as_deref(),
            &event,
            "reaction",
        )
        .await?;
        self.store
            .outbox_set_status_events(row.seq, None, Some(event.as_str()))
            .await?;
        Ok(())
    }

    /// Redacts the status event `old` that `new` replaces. The new one goes up first: handling
    /// the same receipt again after a crash (before it was marked handled) sends with the same
    /// transaction id, gets the same event back and finds it stored as `old`; taking `old` down
    /// first would then take down the new marker itself.
    async fn take_down(
        &self,
        change: &StatusChange<'_>,
        old: Option<&str>,
        new: &EventId,
        what: &str,
    ) -> Result<(), BridgeError> {
        let Some(old) = old.filter(|old| *old != new.as_str()) else {
            return Ok(());
        };
        let event_id = parse_event_id(old)?;
        self.matrix
            .redact(
                &change.row.room_id,
                &event_id,
                &change.txn(&format!("replace-{what}")),
                change.ghost,
                None,
            )
            .await?;
        Ok(())
    }
}

/// One status update being shown: the row, the ghost showing it, the receipt causing it.
struct StatusChange<'a> {
    row: &'a OutboxItem,
    ghost: &'a UserId,
    /// The Threema message id of the receipt: a retry of it reuses the same transaction ids.
    receipt: &'a str,
}

impl StatusChange<'_> {
    fn txn(&self, what: &str) -> String {
        format!("status-{}-{}-{what}", self.row.seq, self.receipt)
    }
}
