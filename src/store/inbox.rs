//! `matrix_inbox`: what the homeserver pushed, persisted before we acknowledge it.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms, queue_order::QueueTable};

stored_enum! {
    pub enum InboxKind in matrix_inbox.kind {
        /// A timeline event (message, state); Synapse retries these until acknowledged.
        Event = "event",
        /// Ephemeral data (read receipts; typing too, from releases before 2026-12-07); sent
        /// once, never retried by Synapse.
        Ephemeral = "ephemeral",
    }
}

#[derive(Debug, Clone)]
pub struct NewInboxItem {
    pub dedup_key: String,
    pub room_id: String,
    pub kind: InboxKind,
    pub event_type: String,
    pub sender: Option<String>,
    pub payload: String,
}

#[derive(Clone, PartialEq, Eq)]
pub struct InboxItem {
    pub seq: i64,
    pub dedup_key: String,
    pub room_id: String,
    pub kind: InboxKind,
    pub event_type: String,
    pub sender: Option<String>,
    pub payload: String,
    pub attempts: i64,
}

/// The event's JSON only by its length: it holds what was written.
impl std::fmt::Debug for InboxItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxItem")
            .field("seq", &self.seq)
            .field("dedup_key", &self.dedup_key)
            .field("room_id", &self.room_id)
            .field("kind", &self.kind)
            .field("event_type", &self.event_type)
            .field("sender", &self.sender)
            .field("payload", &super::Withheld(&self.payload))
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// What the queue reads of a row.
const COLUMNS: &str = "seq, dedup_key, room_id, kind, event_type, sender, payload, attempts";

impl InboxItem {
    fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(InboxItem {
            seq: row.try_get("seq")?,
            dedup_key: row.try_get("dedup_key")?,
            room_id: row.try_get("room_id")?,
            kind: InboxKind::parse(&row.try_get::<String, _>("kind")?)?,
            event_type: row.try_get("event_type")?,
            sender: row.try_get("sender")?,
            payload: row.try_get("payload")?,
            attempts: row.try_get("attempts")?,
        })
    }
}

impl Store {
    /// Persists a transaction's items in one database transaction. Items already known (pending
    /// or handled) are skipped, so a replayed transaction changes nothing. Returns how many
    /// items were new.
    pub async fn inbox_push(&self, items: &[NewInboxItem]) -> Result<u64, StoreError> {
        Ok(self.inbox_push_rows(items).await?.len() as u64)
    }

    /// [`Store::inbox_push`], returning the new rows as the queue reads them (for its runner).
    pub async fn inbox_push_rows(
        &self,
        items: &[NewInboxItem],
    ) -> Result<Vec<InboxItem>, StoreError> {
        // A transaction of the bridge's own echoes only, as most are: nothing to make durable
        // (an empty commit would still wait for the log's sync).
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let mut tx = self.queue_tx().await?;
        self.lock_queue(&mut tx, QueueTable::MatrixInbox).await?;
        let mut new = Vec::new();
        for item in items {
            new.extend(insert_item(&mut tx, item, now).await?);
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Stores one room's timeline `items` (oldest first, as a catch-up read them) so that the
    /// room's unhandled rows follow the timeline: from the first item the inbox lacks on, the
    /// unhandled rows among the later items are taken out and stored again after it, in the
    /// timeline's order. (A standby stores what the homeserver pushes while the active one may
    /// have missed something older: without this, the older message would go out after the
    /// newer.) Only while nothing handles the room's rows: before the Matrix inbox runs. Returns
    /// how many items were missing.
    pub async fn inbox_push_in_place(&self, items: &[NewInboxItem]) -> Result<u64, StoreError> {
        let Some(room) = items.first().map(|i| i.room_id.as_str()) else {
            return Ok(0);
        };
        // Fenced: an old active that wakes up must not move rows the new one handles.
        let mut tx = self.fenced_tx().await?;
        // Before the rows it takes out: a push waiting on one of them must not hold the lock.
        self.lock_queue(&mut tx, QueueTable::MatrixInbox).await?;
        // A write first: SQLite takes its write lock now (waiting for it), instead of failing
        // the upgrade from a read after another writer committed; PostgreSQL locks the room's
        // unhandled rows.
        sqlx::query(
            "UPDATE matrix_inbox SET attempts = attempts WHERE room_id = $1 AND processed_at IS NULL",
        )
        .bind(room)
        .execute(&mut *tx)
        .await?;
        let mut first_missing = None;
        for (i, item) in items.iter().enumerate() {
            let known: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM matrix_inbox WHERE dedup_key = $1")
                    .bind(&item.dedup_key)
                    .fetch_optional(&mut *tx)
                    .await?;
            if known.is_none() {
                first_missing = Some(i);
                break;
            }
        }
        let Some(first) = first_missing else {
            return Ok(0);
        };
        // Taken out with their failed attempts, which go with them.
        let mut moved = std::collections::HashMap::new();
        for item in &items[first..] {
            let attempts: Option<i64> = sqlx::query_scalar(
                "DELETE FROM matrix_inbox WHERE dedup_key = $1 AND processed_at IS NULL \
                 RETURNING attempts",
            )
            .bind(&item.dedup_key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(attempts) = attempts {
                moved.insert(item.dedup_key.as_str(), attempts);
            }
        }
        let now = now_ms();
        let mut inserted = 0;
        for item in &items[first..] {
            inserted += u64::from(insert_item(&mut tx, item, now).await?.is_some());
            if let Some(&attempts) = moved.get(item.dedup_key.as_str()).filter(|&&a| a > 0) {
                sqlx::query("UPDATE matrix_inbox SET attempts = $1 WHERE dedup_key = $2")
                    .bind(attempts)
                    .bind(&item.dedup_key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(inserted.saturating_sub(moved.len() as u64))
    }

    /// When the newest timeline event was received (ms since the epoch): where a catch-up
    /// after the bridge's own restart starts looking. Pruning keeps that row and those received
    /// shortly before it, so the dedup on event ids also covers what a catch-up reads again.
    pub async fn inbox_last_received(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT received_at FROM matrix_inbox WHERE kind = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(InboxKind::Event.as_str())
        .fetch_optional(&self.db)
        .await?;
        row.map(|row| row.try_get("received_at"))
            .transpose()
            .map_err(Into::into)
    }

    /// Unhandled items after `after_seq`, oldest first.
    pub async fn inbox_pending(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<InboxItem>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM matrix_inbox \
             WHERE processed_at IS NULL AND seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.db)
        .await?;
        rows.iter().map(InboxItem::from_row).collect()
    }

    /// Counts a failed attempt, so that repeated failures are visible and bounded.
    pub async fn inbox_record_attempt(&self, seq: i64) -> Result<(), StoreError> {
        self.fenced_execute(
            sqlx::query("UPDATE matrix_inbox SET attempts = attempts + 1 WHERE seq = $1").bind(seq),
        )
        .await?;
        Ok(())
    }

    /// Marks an item handled and drops its payload (message content is not kept here longer
    /// than needed). Only the first call for an item counts; returns whether it was this one.
    pub async fn inbox_finish(&self, seq: i64, outcome: &str) -> Result<bool, StoreError> {
        let done = self
            .fenced_execute(
                sqlx::query(
                    "UPDATE matrix_inbox SET processed_at = $1, outcome = $2, payload = NULL \
                     WHERE seq = $3 AND processed_at IS NULL",
                )
                .bind(now_ms())
                .bind(outcome)
                .bind(seq),
            )
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// When the homeserver's transaction brought the event (ms), if it is still kept.
    pub async fn inbox_received_at(&self, dedup_key: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT received_at FROM matrix_inbox WHERE dedup_key = $1")
            .bind(dedup_key)
            .fetch_optional(&self.db)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("received_at")?),
            None => None,
        })
    }

    /// The number (handling order) of an item by its key, if it was received.
    pub async fn inbox_seq(&self, dedup_key: &str) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM matrix_inbox WHERE dedup_key = $1")
                .bind(dedup_key)
                .fetch_optional(&self.db)
                .await?,
        )
    }

    /// The outcome of an item by its key: `None` if unknown, `Some(None)` if still pending.
    pub async fn inbox_outcome(
        &self,
        dedup_key: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let row = sqlx::query("SELECT outcome FROM matrix_inbox WHERE dedup_key = $1")
            .bind(dedup_key)
            .fetch_optional(&self.db)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("outcome")?),
            None => None,
        })
    }

    /// The outcomes of the handled items of one type in a room, oldest first (what became of
    /// read receipts there, say).
    pub async fn inbox_outcomes(
        &self,
        room_id: &str,
        event_type: &str,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT outcome FROM matrix_inbox WHERE room_id = $1 AND event_type = $2 \
             AND processed_at IS NOT NULL ORDER BY seq",
        )
        .bind(room_id)
        .bind(event_type)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            Ok(row
                .try_get::<Option<String>, _>("outcome")?
                .unwrap_or_default())
        })
        .collect()
    }

    pub async fn inbox_backlog(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM matrix_inbox WHERE processed_at IS NULL")
            .fetch_one(&self.db)
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// Stores one item unless its key is known; its row as the queue reads it if it was new.
async fn insert_item(
    conn: &mut sqlx::AnyConnection,
    item: &NewInboxItem,
    now: i64,
) -> Result<Option<InboxItem>, StoreError> {
    let row = sqlx::query(&format!(
        "INSERT INTO matrix_inbox (dedup_key, room_id, kind, event_type, sender, payload, \
         received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedup_key) DO NOTHING \
         RETURNING {COLUMNS}"
    ))
    .bind(&item.dedup_key)
    .bind(&item.room_id)
    .bind(item.kind.as_str())
    .bind(&item.event_type)
    .bind(&item.sender)
    .bind(&item.payload)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(InboxItem::from_row).transpose()
}
