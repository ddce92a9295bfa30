//! `threema_outbox`: dispatcher messages on their way to the Gateway, with their state (what
//! receipts record of them: `outbox_status`).

use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use sqlx::{Row, any::AnyRow};
use threema_protocol::ThreemaId;

use super::{
    AuditRecord, MessageMapping, Store, StoreError, audit,
    coalesce::{bind_padded, by_seq, padded},
    id_column, messages, now_ms,
    queue_order::QueueTable,
};

/// A row's move from one state to another, with what it records.
struct Change<'a> {
    from: OutboxState,
    to: OutboxState,
    threema_message_id: Option<&'a str>,
    error: Option<&'a str>,
}

impl Change<'_> {
    /// The claim before a send: nothing recorded with it.
    fn is_claim(&self) -> bool {
        let Change {
            from,
            to,
            threema_message_id,
            error,
        } = self;
        (*from, *to) == (OutboxState::Queued, OutboxState::Sending)
            && threema_message_id.is_none()
            && error.is_none()
    }
}

stored_enum! {
    /// Where one outgoing Threema message stands.
    pub enum OutboxState in threema_outbox.state {
        Queued = "queued",
        /// Written just before the Gateway call: found after a crash, the outcome is unknown.
        Sending = "sending",
        Sent = "sent",
        Failed = "failed",
        /// The Gateway may have delivered it; it is not resent by itself.
        Unknown = "unknown",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutgoing {
    pub event_id: String,
    pub recipient: String,
    pub part: i64,
    pub room_id: String,
    pub sender: String,
    pub payload: String,
    /// Held until then (Unix ms): the driver is off duty.
    pub hold_until: Option<i64>,
}

/// An outbox row, its IDs parsed once here (a row whose IDs do not parse is corrupt).
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub seq: i64,
    pub event_id: OwnedEventId,
    pub recipient: ThreemaId,
    pub part: i64,
    pub room_id: OwnedRoomId,
    pub sender: OwnedUserId,
    pub payload: String,
    pub state: OutboxState,
    pub threema_message_id: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    /// 0 for the first try; a resend is a new row with the next number.
    pub resend: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Not sent before then (Unix ms): the driver was off duty when it was written.
    pub hold_until: Option<i64>,
    /// It sends a broadcast's copy ([`Store::delivery_queued`]): the broadcast is audited as
    /// one, not copy by copy, and the copy did not come through the Matrix inbox.
    pub broadcast_copy: bool,
    pub status: DeliveryStatus,
}

/// The message only by its length: it is what the desk wrote.
impl std::fmt::Debug for OutboxItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxItem")
            .field("seq", &self.seq)
            .field("event_id", &self.event_id)
            .field("recipient", &self.recipient)
            .field("part", &self.part)
            .field("room_id", &self.room_id)
            .field("sender", &self.sender)
            .field("payload", &super::Withheld(&self.payload))
            .field("state", &self.state)
            .field("threema_message_id", &self.threema_message_id)
            .field("error", &self.error)
            .field("attempts", &self.attempts)
            .field("resend", &self.resend)
            .field("hold_until", &self.hold_until)
            .field("broadcast_copy", &self.broadcast_copy)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// What the phone reported about a sent message (Unix milliseconds), and the ghost's reactions
/// in the portal that show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStatus {
    pub sent_at: Option<i64>,
    pub received_at: Option<i64>,
    pub read_at: Option<i64>,
    pub reaction: Option<Reaction>,
    pub reaction_at: Option<i64>,
    pub marker_event: Option<String>,
    pub reaction_event: Option<String>,
}

stored_enum! {
    /// The driver's thumbs on a message.
    pub enum Reaction in threema_outbox.reaction {
        Acknowledged = "acknowledged",
        Declined = "declined",
    }
}

impl Reaction {
    /// Reads the nullable `reaction` column.
    pub(super) fn parse_optional(s: Option<String>) -> Result<Option<Self>, StoreError> {
        s.as_deref().map(Self::parse).transpose()
    }
}

/// What a send checks of its recipient, read with the row ([`Store::outbox_get`]): one
/// statement where there were four, and the row and its checks from one snapshot. Read before
/// the message is prepared: a key accepted (`accept-key`) while its attachment is fetched
/// counts from the next read of a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecipientOnFile {
    /// The key trusted for them, as [`Store::public_key`] has it (`None`: none stored yet).
    pub public_key: Option<String>,
    /// Under a legal hold (`restriction`).
    pub restricted: bool,
    /// Not of the recipient: when the homeserver's transaction brought the row's event (Unix
    /// ms), while the Matrix inbox keeps it; what `/metrics` counts a send's wait from.
    pub event_received_at: Option<i64>,
}

pub(super) const COLUMNS: &str = "seq, event_id, recipient, part, room_id, sender, payload, state, \
                       threema_message_id, error, attempts, resend, created_at, updated_at, \
                       sent_at, received_at, read_at, reaction, reaction_at, marker_event, \
                       reaction_event, hold_until, broadcast_copy";

impl OutboxItem {
    /// Whether [`Store::outbox_pending`] would return the row at `now`, new as it is: not held
    /// past then.
    pub fn due(&self, now: i64) -> bool {
        self.hold_until.is_none_or(|until| until <= now)
    }

    pub(super) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(OutboxItem {
            seq: row.try_get("seq")?,
            event_id: id_column(row, "threema_outbox", "event_id")?,
            recipient: id_column(row, "threema_outbox", "recipient")?,
            part: row.try_get("part")?,
            room_id: id_column(row, "threema_outbox", "room_id")?,
            sender: id_column(row, "threema_outbox", "sender")?,
            payload: row.try_get("payload")?,
            state: OutboxState::parse(&row.try_get::<String, _>("state")?)?,
            threema_message_id: row.try_get("threema_message_id")?,
            error: row.try_get("error")?,
            attempts: row.try_get("attempts")?,
            resend: row.try_get("resend")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            hold_until: row.try_get("hold_until")?,
            broadcast_copy: row.try_get::<i64, _>("broadcast_copy")? != 0,
            status: DeliveryStatus {
                sent_at: row.try_get("sent_at")?,
                received_at: row.try_get("received_at")?,
                read_at: row.try_get("read_at")?,
                reaction: Reaction::parse_optional(row.try_get("reaction")?)?,
                reaction_at: row.try_get("reaction_at")?,
                marker_event: row.try_get("marker_event")?,
                reaction_event: row.try_get("reaction_event")?,
            },
        })
    }
}

impl Store {
    /// Queues the messages an event became, all or none. Queuing the same event again changes
    /// nothing (a replayed Matrix event is not sent twice). Returns how many rows are new.
    pub async fn outbox_enqueue(&self, items: &[NewOutgoing]) -> Result<u64, StoreError> {
        let new = self.outbox_enqueue_as(items, OutboxState::Queued, None);
        Ok(new.await?.len() as u64)
    }

    /// `outbox_enqueue`, the rows starting in `state` with `error` (a message from before a
    /// restore starts as outcome unknown: it may have been sent before). Returns the new rows.
    pub async fn outbox_enqueue_as(
        &self,
        items: &[NewOutgoing],
        state: OutboxState,
        error: Option<&str>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut tx = self.queue_tx().await?;
        let new = self.enqueue(&mut tx, items, state, error, false).await?;
        tx.commit().await?;
        Ok(new)
    }

    /// [`Store::outbox_enqueue_as`] in the caller's transaction, which it holds the outbox's
    /// queue lock for (see `queue_order`); `broadcast_copy`: the rows send a broadcast's copy.
    pub(super) async fn enqueue(
        &self,
        tx: &mut sqlx::AnyConnection,
        items: &[NewOutgoing],
        state: OutboxState,
        error: Option<&str>,
        broadcast_copy: bool,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let now = now_ms();
        self.lock_queue(&mut *tx, QueueTable::Outbox).await?;
        let insert = format!(
            "INSERT INTO threema_outbox (event_id, recipient, part, room_id, sender, payload, \
             state, error, created_at, updated_at, hold_until, broadcast_copy) \
             VALUES ($1, $2, $3, $4, $5, $6, $8, $9, $7, $7, $10, $11) \
             ON CONFLICT (event_id, recipient, part, resend) DO NOTHING RETURNING {COLUMNS}"
        );
        let mut new = Vec::new();
        for item in items {
            let row = sqlx::query(&insert)
                .bind(&item.event_id)
                .bind(&item.recipient)
                .bind(item.part)
                .bind(&item.room_id)
                .bind(&item.sender)
                .bind(&item.payload)
                .bind(now)
                .bind(state.as_str())
                .bind(error)
                .bind(item.hold_until)
                .bind(i64::from(broadcast_copy))
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = row {
                new.push(OutboxItem::from_row(&row)?);
            }
        }
        Ok(new)
    }

    /// Rows the outbox still has work on after `after_seq`, oldest first; a held row once its
    /// time has come (the queue's rescan finds it then, however far back its number is). Its
    /// runner is handed only new rows this read would return ([`OutboxItem::due`]).
    pub async fn outbox_pending(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM threema_outbox WHERE processed_at IS NULL AND seq > $1 \
             AND (hold_until IS NULL OR hold_until <= $3) ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .bind(now_ms())
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| OutboxItem::from_row(&row))
        .collect()
    }

    /// A row and what its send checks of the recipient. Read with the rows other lanes ask
    /// for at the same time, in one statement (`coalesce`).
    pub async fn outbox_get(
        &self,
        seq: i64,
    ) -> Result<Option<(OutboxItem, RecipientOnFile)>, StoreError> {
        let outbox_get = &self.coalesced.outbox_get;
        outbox_get.call(self, seq, Store::outbox_get_all).await
    }

    /// [`Store::outbox_get`] for each of `seqs`, in their order.
    async fn outbox_get_all(
        self,
        seqs: Vec<i64>,
    ) -> Result<Vec<Result<Option<(OutboxItem, RecipientOnFile)>, StoreError>>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS}, \
             (SELECT public_key FROM threema_public_key WHERE threema_id = o.recipient) \
             AS recipient_key, \
             {} AS recipient_restricted, \
             (SELECT received_at FROM matrix_inbox WHERE dedup_key = o.event_id) \
             AS event_received_at \
             FROM threema_outbox o WHERE seq IN ({})",
            super::restrictions::restricted("o.recipient"),
            super::placeholders(1, padded(seqs.len()))
        );
        let query = bind_padded(sqlx::query(&sql), &seqs);
        let rows = by_seq(query.fetch_all(&self.db).await?)?;
        let read = |row: &AnyRow| {
            let on_file = RecipientOnFile {
                public_key: row.try_get("recipient_key")?,
                restricted: row.try_get::<i64, _>("recipient_restricted")? != 0,
                event_received_at: row.try_get("event_received_at")?,
            };
            Ok((OutboxItem::from_row(row)?, on_file))
        };
        Ok(seqs
            .iter()
            .map(|seq| rows.get(seq).map(read).transpose())
            .collect())
    }

    /// Every Threema message of an event (resends included), by recipient, part and resend.
    pub async fn outbox_by_event(&self, event_id: &str) -> Result<Vec<OutboxItem>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM threema_outbox WHERE event_id = $1 \
             ORDER BY recipient, part, resend"
        ))
        .bind(event_id)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| OutboxItem::from_row(&row))
        .collect()
    }

    /// Moves a row from `from` to `to`, recording the Gateway message id or the error, and
    /// `audit` in the same transaction (none for a broadcast's copy: the broadcast has one
    /// entry of its own). Returns `false` (and changes nothing) if the row was not in state
    /// `from`.
    pub async fn outbox_transition(
        &self,
        seq: i64,
        from: OutboxState,
        to: OutboxState,
        threema_message_id: Option<&str>,
        error: Option<&str>,
        audit: Option<&AuditRecord>,
    ) -> Result<bool, StoreError> {
        let change = Change {
            from,
            to,
            threema_message_id,
            error,
        };
        self.transition(seq, change, audit, None).await
    }

    /// `sending → sent` as [`Store::outbox_transition`] and, in the same commit, the end of
    /// the row's work: the message it became recorded (`message`, if it is one of its own) and
    /// the row marked done as [`Store::outbox_finish`] does. For a row with nothing left to
    /// do after the send.
    pub async fn outbox_sent_and_done(
        &self,
        seq: i64,
        threema_message_id: &str,
        audit: Option<&AuditRecord>,
        message: Option<&MessageMapping>,
    ) -> Result<bool, StoreError> {
        let change = Change {
            from: OutboxState::Sending,
            to: OutboxState::Sent,
            threema_message_id: Some(threema_message_id),
            error: None,
        };
        self.transition(seq, change, audit, Some(message)).await
    }

    /// A row's move; `done`: it ends the row's work, with the message mapping to record. A
    /// claim with nothing to record runs with the claims made at the same time.
    async fn transition(
        &self,
        seq: i64,
        change: Change<'_>,
        audit: Option<&AuditRecord>,
        done: Option<Option<&MessageMapping>>,
    ) -> Result<bool, StoreError> {
        if change.is_claim() && audit.is_none() && done.is_none() {
            let claim = &self.coalesced.outbox_claim;
            return claim.call(self, seq, Store::outbox_claim_all).await;
        }
        let Change {
            from,
            to,
            threema_message_id,
            error,
        } = change;
        let mut tx = self.fenced_tx().await?;
        let attempt = i64::from(to == OutboxState::Sending);
        let now = now_ms();
        let sent_at = (to == OutboxState::Sent).then_some(now);
        let processed_at = done.is_some().then_some(now);
        let changed = sqlx::query(
            "UPDATE threema_outbox SET state = $1, \
             threema_message_id = COALESCE($2, threema_message_id), error = $3, \
             attempts = attempts + $4, updated_at = $5, sent_at = COALESCE($8, sent_at), \
             processed_at = COALESCE($9, processed_at), \
             hold_until = CASE WHEN $9 IS NULL THEN hold_until ELSE NULL END \
             WHERE seq = $6 AND state = $7",
        )
        .bind(to.as_str())
        .bind(threema_message_id)
        .bind(error)
        .bind(attempt)
        .bind(now)
        .bind(seq)
        .bind(from.as_str())
        .bind(sent_at)
        .bind(processed_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if let (1, Some(Some(message))) = (changed, done) {
            messages::insert(&mut tx, message).await?;
        }
        if let (1, Some(entry)) = (changed, audit) {
            audit::append_record(&mut tx, &self.audit_key, now, entry).await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Claims (queued → sending, as [`Store::transition`] writes it) of the rows other lanes
    /// claim at the same time, in one statement, on disk before the sends that follow.
    async fn outbox_claim_all(
        self,
        seqs: Vec<i64>,
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let sql = format!(
            "UPDATE threema_outbox SET state = $1, error = NULL, attempts = attempts + 1, \
             updated_at = $2 WHERE state = $3 AND seq IN ({}) RETURNING seq",
            super::placeholders(4, padded(seqs.len()))
        );
        let query = sqlx::query(&sql)
            .bind(OutboxState::Sending.as_str())
            .bind(now_ms())
            .bind(OutboxState::Queued.as_str());
        let query = bind_padded(query, &seqs);
        let claimed = by_seq(self.fenced_fetch_all(query).await?)?;
        Ok(seqs
            .iter()
            .map(|seq| Ok(claimed.contains_key(seq)))
            .collect())
    }

    /// The outbox is done with this row (whatever its state). Its hold is forgotten: kept,
    /// the rows would record when the driver works.
    pub async fn outbox_finish(&self, seq: i64) -> Result<(), StoreError> {
        self.fenced_execute(
            sqlx::query(
                "UPDATE threema_outbox SET processed_at = $1, hold_until = NULL WHERE seq = $2 \
                 AND processed_at IS NULL",
            )
            .bind(now_ms())
            .bind(seq),
        )
        .await?;
        Ok(())
    }

    /// Rows per state, for status and metrics.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query("SELECT state, COUNT(*) AS n FROM threema_outbox GROUP BY state ORDER BY state")
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
            .collect()
    }

    /// Per driver with a portal, how many messages failed or may not have arrived since `since`
    /// (Unix ms), counting only each message's latest try (a resend that went replaces its
    /// failure): `(recipient, portal, count)`.
    pub async fn outbox_failed_since(
        &self,
        since: i64,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        sqlx::query(
            "SELECT o.recipient, p.room_id, COUNT(*) AS n FROM threema_outbox o \
             JOIN portal p ON p.threema_id = o.recipient \
             WHERE o.state IN ($1, $2) AND o.updated_at >= $3 \
             AND o.resend = (SELECT MAX(l.resend) FROM threema_outbox l \
                 WHERE l.event_id = o.event_id AND l.recipient = o.recipient AND l.part = o.part) \
             GROUP BY o.recipient, p.room_id ORDER BY o.recipient",
        )
        .bind(OutboxState::Failed.as_str())
        .bind(OutboxState::Unknown.as_str())
        .bind(since)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            Ok((
                row.try_get("recipient")?,
                row.try_get("room_id")?,
                row.try_get("n")?,
            ))
        })
        .collect()
    }

    /// Queues an event again for every recipient whose latest try failed or has an unknown
    /// outcome, as new rows (the old ones stay as history). Asking twice queues once: the
    /// latest try is then queued, not failed. Returns how many rows were queued.
    pub async fn outbox_resend(&self, event_id: &str) -> Result<u64, StoreError> {
        self.outbox_queue_again(
            "",
            "o.event_id = $1 AND o.state IN ($4, $5)",
            event_id,
            &[OutboxState::Failed, OutboxState::Unknown],
        )
        .await
    }

    /// Sends now what waits for `recipient` to come on duty: every held row, or those of
    /// `event_id` and the edits and deletions of it. Their hold ends now (not cleared: a send
    /// gives up counting from it, not from hours ago). How many rows (0: nothing was held).
    pub async fn outbox_release_held(
        &self,
        recipient: &str,
        event_id: Option<&str>,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE threema_outbox SET hold_until = $1, updated_at = $1 \
             WHERE recipient = $2 AND processed_at IS NULL AND hold_until > $1 \
             AND ($3 IS NULL OR event_id = $3 OR payload LIKE $4 ESCAPE '\\')",
        )
        .bind(now_ms())
        .bind(recipient)
        .bind(event_id)
        .bind(event_id.map(about_event))
        .execute(&self.db)
        .await?
        .rows_affected())
    }

    /// The earliest time a held row comes due after `now`, if any: the outbox reads from its
    /// start then, so that the held row goes before what was queued after it.
    pub async fn outbox_next_hold(&self, now: i64) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query(
            "SELECT MIN(hold_until) AS next FROM threema_outbox \
             WHERE processed_at IS NULL AND hold_until > $1",
        )
        .bind(now)
        .fetch_one(&self.db)
        .await?
        .try_get("next")?)
    }

    /// Takes back what `event_id` became for `recipient` while it is held, with its held edits
    /// (deleted before it went: nothing of it is sent, so nothing of it is kept either). How
    /// many rows.
    pub async fn outbox_withdraw_held(
        &self,
        recipient: &str,
        event_id: &str,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM threema_outbox WHERE recipient = $1 \
             AND (event_id = $2 OR payload LIKE $5 ESCAPE '\\') \
             AND processed_at IS NULL AND state = $3 AND hold_until > $4",
        )
        .bind(recipient)
        .bind(event_id)
        .bind(OutboxState::Queued.as_str())
        .bind(now_ms())
        .bind(about_event(event_id))
        .execute(&self.db)
        .await?
        .rows_affected())
    }

    /// Queues a new try (the next `resend`) of every row `o` that `condition` (with `$1` =
    /// `key` and `$4`, `$5`… = `states`, over `threema_outbox o` and `join`) selects and that is
    /// its message's latest try, so asking again before the new try is sent queues nothing.
    /// Returns how many rows were queued.
    pub(super) async fn outbox_queue_again(
        &self,
        join: &str,
        condition: &str,
        key: &str,
        states: &[OutboxState],
    ) -> Result<u64, StoreError> {
        let query = format!(
            "INSERT INTO threema_outbox (event_id, recipient, part, resend, room_id, sender, \
             payload, state, created_at, updated_at, broadcast_copy) \
             SELECT o.event_id, o.recipient, o.part, o.resend + 1, o.room_id, o.sender, \
             o.payload, $3, $2, $2, o.broadcast_copy FROM threema_outbox o {join} \
             WHERE {condition} AND o.payload <> '' \
             AND o.resend = (SELECT MAX(l.resend) FROM threema_outbox l \
                 WHERE l.event_id = o.event_id AND l.recipient = o.recipient \
                 AND l.part = o.part) \
             ON CONFLICT (event_id, recipient, part, resend) DO NOTHING"
        );
        let mut query = sqlx::query(&query)
            .bind(key)
            .bind(now_ms())
            .bind(OutboxState::Queued.as_str());
        for state in states {
            query = query.bind(state.as_str());
        }
        let mut tx = self.db.begin().await?;
        self.lock_queue(&mut tx, QueueTable::Outbox).await?;
        let queued = query.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(queued)
    }
}

/// A `LIKE` pattern for the payloads of edits and deletions of `event_id` (`"target":"…"` as
/// `Outgoing` serialises it).
fn about_event(event_id: &str) -> String {
    let target = serde_json::to_string(event_id).expect("strings serialise");
    format!("%\"target\":{}%", super::erasure::like_escaped(&target))
}
