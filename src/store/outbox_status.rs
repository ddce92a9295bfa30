//! What receipts record of `threema_outbox`'s sent messages: the lookup of the rows a receipt
//! names, and the delivery, read and reaction status with the events that show it.

use std::collections::HashMap;

use sqlx::{Row, any::AnyRow};

use super::{
    OutboxItem, OutboxState, Reaction, Store, StoreError,
    coalesce::{RowWrite, bind_padded, padded, padded_rows, values_list},
    outbox::COLUMNS,
};

/// What a receipt records of a message ([`Store::outbox_mark_delivered`]).
#[derive(Debug, Clone)]
pub(super) struct Delivered {
    at: i64,
    read_at: Option<i64>,
    marker_event: Option<String>,
}

/// What a receipt found ([`Store::outbox_receipt_lookup`]).
#[derive(Debug, Default)]
pub struct ReceiptLookup {
    /// The rows sent as the messages it names.
    pub sent: Vec<OutboxItem>,
    /// A send to the driver is under way: a message not found may be its.
    pub in_flight: bool,
}

impl Store {
    /// What a driver's receipt for `message_ids` finds, in one statement: the rows sent to
    /// `recipient` as those messages, and whether a send to them is under way (its Gateway
    /// answer not recorded yet). One statement reads one snapshot, in which a send is either
    /// recorded or under way, never neither: a receipt that outruns the Gateway's answer is
    /// told to wait instead of being dropped. Shared with the receipts looked up at the same
    /// time (`coalesce`).
    pub async fn outbox_receipt_lookup(
        &self,
        recipient: &str,
        message_ids: &[String],
    ) -> Result<ReceiptLookup, StoreError> {
        let key = (recipient.to_owned(), message_ids.to_vec());
        let lookup = &self.coalesced.outbox_receipt_lookup;
        lookup
            .call(self, key, Store::outbox_receipt_lookup_all)
            .await
    }

    /// [`Store::outbox_receipt_lookup`] for each of `receipts` (`(recipient, message_ids)`, the
    /// lanes that ask at the same time), in one statement: one snapshot for all of them.
    async fn outbox_receipt_lookup_all(
        self,
        receipts: Vec<(String, Vec<String>)>,
    ) -> Result<Vec<Result<ReceiptLookup, StoreError>>, StoreError> {
        // Receipts with this many message IDs between them at most per statement: a receipt
        // can name many, and a statement's placeholders are bounded (32,766 on SQLite).
        const IDS: usize = 4096;
        let mut lookups = Vec::with_capacity(receipts.len());
        let mut rest = &receipts[..];
        while !rest.is_empty() {
            let mut ids = 0;
            let take = (rest.iter())
                .take_while(|(_, message_ids)| {
                    ids += message_ids.len();
                    ids <= IDS
                })
                .count()
                .max(1);
            let (chunk, later) = rest.split_at(take);
            lookups.extend(self.outbox_receipt_lookup_chunk(chunk).await?);
            rest = later;
        }
        Ok(lookups)
    }

    /// [`Store::outbox_receipt_lookup_all`] for receipts whose IDs one statement holds.
    async fn outbox_receipt_lookup_chunk(
        &self,
        receipts: &[(String, Vec<String>)],
    ) -> Result<Vec<Result<ReceiptLookup, StoreError>>, StoreError> {
        let recipients: Vec<&String> = receipts.iter().map(|(recipient, _)| recipient).collect();
        let ids: Vec<&String> = receipts.iter().flat_map(|(_, ids)| ids).collect();
        let ids_at = 2 + padded(recipients.len());
        let sql = format!(
            "SELECT {COLUMNS} FROM threema_outbox WHERE recipient IN ({}) \
             AND (state = $1 OR threema_message_id IN ({}))",
            super::placeholders(2, padded(recipients.len())),
            // `IN (NULL)` matches nothing, where `IN ()` would not parse.
            match ids.len() {
                0 => "NULL".to_owned(),
                n => super::placeholders(ids_at, padded(n)),
            },
        );
        let query = sqlx::query(&sql).bind(OutboxState::Sending.as_str());
        let query = bind_padded(bind_padded(query, &recipients), &ids);
        let mut by_recipient: HashMap<String, Vec<AnyRow>> = HashMap::new();
        for row in query.fetch_all(&self.db).await? {
            let recipient: String = row.try_get("recipient")?;
            by_recipient.entry(recipient).or_default().push(row);
        }
        // A row is read only for the receipt it answers (one that matched another receipt's
        // message IDs is not its business).
        let lookup = |(recipient, message_ids): &(String, Vec<String>)| {
            let mut lookup = ReceiptLookup::default();
            for row in by_recipient.get(recipient).into_iter().flatten() {
                let state: String = row.try_get("state")?;
                lookup.in_flight |= state == OutboxState::Sending.as_str();
                let id: Option<String> = row.try_get("threema_message_id")?;
                if id.is_some_and(|id| message_ids.contains(&id)) {
                    lookup.sent.push(OutboxItem::from_row(row)?);
                }
            }
            Ok(lookup)
        };
        Ok(receipts.iter().map(lookup).collect())
    }

    /// Records that the phone received (`read: false`) or read the message at `at` (Unix ms).
    /// Reading implies receiving. Earlier times are kept: receipts can arrive twice. With the
    /// ghost's marker event that shows it (`None` keeps the one recorded). Like the other
    /// results of a receipt, it does not wait for the disk (`Durable::WithNext`): taken back,
    /// the receipt (not marked handled either) is applied again.
    pub async fn outbox_mark_delivered(
        &self,
        seq: i64,
        read: bool,
        at: i64,
        marker_event: Option<&str>,
    ) -> Result<(), StoreError> {
        let values = Delivered {
            at,
            read_at: read.then_some(at),
            marker_event: marker_event.map(str::to_owned),
        };
        let write = RowWrite { seq, values };
        let mark = &self.coalesced.outbox_mark_delivered;
        mark.call(self, write, Store::outbox_mark_delivered_all)
            .await
    }

    /// [`Store::outbox_mark_delivered`] of the receipts applied at the same time, in one
    /// statement.
    async fn outbox_mark_delivered_all(
        self,
        marks: Vec<RowWrite<Delivered>>,
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let n = padded(marks.len());
        let sql = format!(
            "UPDATE threema_outbox SET received_at = COALESCE(received_at, v.column2), \
             read_at = COALESCE(read_at, v.column3), \
             marker_event = COALESCE(v.column4, marker_event) \
             FROM (VALUES {}) AS v WHERE threema_outbox.seq = v.column1",
            values_list(1, n, &["BIGINT", "BIGINT", "BIGINT", "TEXT"])
        );
        let mut query = sqlx::query(&sql);
        for (_, RowWrite { seq, values }) in padded_rows(&marks) {
            query = (query.bind(seq).bind(values.at).bind(values.read_at))
                .bind(values.marker_event.as_deref());
        }
        self.fenced_execute_with_next(query).await?;
        Ok(marks.iter().map(|_| Ok(())).collect())
    }

    /// Records the driver's thumbs; a later one replaces an earlier one. Not waiting for the
    /// disk, as [`Store::outbox_mark_delivered`].
    pub async fn outbox_set_reaction(
        &self,
        seq: i64,
        reaction: Reaction,
        at: i64,
    ) -> Result<(), StoreError> {
        self.fenced_execute_with_next(
            sqlx::query("UPDATE threema_outbox SET reaction = $1, reaction_at = $2 WHERE seq = $3")
                .bind(reaction.as_str())
                .bind(at)
                .bind(seq),
        )
        .await?;
        Ok(())
    }

    /// Remembers the ghost's reaction events that show the status (`None` keeps the old one).
    pub async fn outbox_set_status_events(
        &self,
        seq: i64,
        marker_event: Option<&str>,
        reaction_event: Option<&str>,
    ) -> Result<(), StoreError> {
        self.fenced_execute(
            sqlx::query(
                "UPDATE threema_outbox SET marker_event = COALESCE($1, marker_event), \
                 reaction_event = COALESCE($2, reaction_event) WHERE seq = $3",
            )
            .bind(marker_event)
            .bind(reaction_event)
            .bind(seq),
        )
        .await?;
        Ok(())
    }
}
