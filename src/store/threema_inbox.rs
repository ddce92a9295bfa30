//! `threema_inbox`: Gateway callbacks, persisted before we acknowledge them.

use sqlx::{AnyConnection, Row, any::AnyRow};

use super::{
    MessageMapping, Store, StoreError,
    coalesce::{RowWrite, by_seq, padded, padded_rows, values_list},
    messages, now_ms,
    queue_commit::Durable,
    queue_order::QueueTable,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewThreemaItem {
    pub sender: String,
    pub message_id: String,
    pub date: i64,
    pub nonce: String,
    pub ciphertext: String,
    pub nickname: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ThreemaItem {
    pub seq: i64,
    pub sender: String,
    pub message_id: String,
    pub date: i64,
    pub nonce: String,
    pub ciphertext: String,
    pub nickname: Option<String>,
    pub attempts: i64,
    /// When the callback arrived (ms).
    pub received_at: i64,
}

/// The driver's nickname only as whether it is there; the box by its length.
impl std::fmt::Debug for ThreemaItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreemaItem")
            .field("seq", &self.seq)
            .field("sender", &self.sender)
            .field("message_id", &self.message_id)
            .field("date", &self.date)
            .field("ciphertext", &super::Withheld(&self.ciphertext))
            .field("nickname", &self.nickname.as_ref().map(|_| "<redacted>"))
            .field("attempts", &self.attempts)
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// What the queue reads of a row.
const COLUMNS: &str = "seq, sender, message_id, date, nonce, box, nickname, attempts, received_at";

impl ThreemaItem {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        Ok(ThreemaItem {
            seq: row.try_get("seq")?,
            sender: row.try_get("sender")?,
            message_id: row.try_get("message_id")?,
            date: row.try_get("date")?,
            nonce: row.try_get("nonce")?,
            ciphertext: row.try_get("box")?,
            nickname: row.try_get("nickname")?,
            received_at: row.try_get("received_at")?,
            attempts: row.try_get("attempts")?,
        })
    }
}

impl Store {
    /// Stores a callback once per (sender, message id): the Gateway retries a callback it did
    /// not see acknowledged. Returns whether it was new.
    pub async fn threema_inbox_push(&self, item: &NewThreemaItem) -> Result<bool, StoreError> {
        let new = self
            .threema_inbox_push_all(std::slice::from_ref(item))
            .await?;
        Ok(new.first().is_some_and(Option::is_some))
    }

    /// Stores callbacks in one transaction, in their order, each once per (sender, message
    /// id): one commit for callbacks that arrived together (`store::intake`). Returns for each
    /// its row as the queue reads it if it was new; all or none are stored.
    pub async fn threema_inbox_push_all(
        &self,
        items: &[NewThreemaItem],
    ) -> Result<Vec<Option<ThreemaItem>>, StoreError> {
        let mut tx = self.queue_tx().await?;
        self.lock_queue(&mut tx, QueueTable::ThreemaInbox).await?;
        let now = now_ms();
        let insert = format!(
            "INSERT INTO threema_inbox (sender, message_id, date, nonce, box, nickname, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sender, message_id) DO NOTHING \
             RETURNING {COLUMNS}"
        );
        let mut new = Vec::with_capacity(items.len());
        for item in items {
            let row = sqlx::query(&insert)
                .bind(&item.sender)
                .bind(&item.message_id)
                .bind(item.date)
                .bind(&item.nonce)
                .bind(&item.ciphertext)
                .bind(&item.nickname)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            new.push(row.map(ThreemaItem::from_row).transpose()?);
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Unhandled callbacks after `after_seq`, oldest first.
    pub async fn threema_inbox_pending(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<ThreemaItem>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM threema_inbox WHERE processed_at IS NULL AND seq > $1 \
             ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(ThreemaItem::from_row)
        .collect()
    }

    pub async fn threema_inbox_record_attempt(&self, seq: i64) -> Result<(), StoreError> {
        self.fenced_execute(
            sqlx::query("UPDATE threema_inbox SET attempts = attempts + 1 WHERE seq = $1")
                .bind(seq),
        )
        .await?;
        Ok(())
    }

    /// The download of the callback's file failed: counts it, apart from the callback's other
    /// failed attempts, and returns how many downloads failed so far.
    pub async fn threema_inbox_download_failed(&self, seq: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE threema_inbox SET download_failures = download_failures + 1 WHERE seq = $1 \
             RETURNING download_failures",
        )
        .bind(seq)
        .fetch_one(&self.db)
        .await?;
        Ok(row.try_get("download_failures")?)
    }

    /// How many downloads of the callback's file failed so far.
    pub async fn threema_inbox_download_failures(&self, seq: i64) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT download_failures FROM threema_inbox WHERE seq = $1")
            .bind(seq)
            .fetch_one(&self.db)
            .await?;
        Ok(row.try_get("download_failures")?)
    }

    /// Marks a callback handled. `keep_box` keeps the ciphertext (a message we could not
    /// bridge stays inspectable); otherwise it is dropped. Only the first call counts. Nothing
    /// outside follows from it, so it does not wait for the disk (`Durable::WithNext`): taken
    /// back, the callback is handled again, as its handling repeats safely.
    pub async fn threema_inbox_finish(
        &self,
        seq: i64,
        outcome: &str,
        keep_box: bool,
    ) -> Result<bool, StoreError> {
        let write = RowWrite {
            seq,
            values: (outcome.to_owned(), keep_box),
        };
        let finish = &self.coalesced.threema_inbox_finish;
        finish
            .call(self, write, Store::threema_inbox_finish_all)
            .await
    }

    /// [`Store::threema_inbox_finish`] of the callbacks finished at the same time, in one
    /// statement.
    async fn threema_inbox_finish_all(
        self,
        finished: Vec<RowWrite<(String, bool)>>,
    ) -> Result<Vec<Result<bool, StoreError>>, StoreError> {
        let n = padded(finished.len());
        let sql = format!(
            "UPDATE threema_inbox SET processed_at = $1, outcome = v.column2, \
             box = CASE WHEN v.column3 = 1 THEN box ELSE NULL END \
             FROM (VALUES {}) AS v \
             WHERE threema_inbox.seq = v.column1 AND processed_at IS NULL RETURNING seq",
            values_list(2, n, &["BIGINT", "TEXT", "BIGINT"])
        );
        let mut query = sqlx::query(&sql).bind(now_ms());
        for (_, RowWrite { seq, values }) in padded_rows(&finished) {
            query = query.bind(seq).bind(&values.0).bind(i64::from(values.1));
        }
        let done = by_seq(self.fenced_fetch_all_as(query, Durable::WithNext).await?)?;
        Ok(finished
            .iter()
            .map(|f| Ok(done.contains_key(&f.seq)))
            .collect())
    }

    /// A driver's message is in their portal: its mapping and the callback's outcome in one
    /// commit (a crash leaves both or neither; a retry finds the event by the mapping).
    pub async fn threema_inbox_bridged(
        &self,
        seq: i64,
        outcome: &str,
        mapping: &MessageMapping,
    ) -> Result<(), StoreError> {
        let mut tx = self.fenced_tx().await?;
        messages::insert(&mut tx, mapping).await?;
        sqlx::query(
            "UPDATE threema_inbox SET processed_at = $1, outcome = $2, box = NULL \
             WHERE seq = $3 AND processed_at IS NULL",
        )
        .bind(now_ms())
        .bind(outcome)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a callback handled and held, because its sender's public key changed, but only
    /// while that key is still pending. `false`: it was accepted since (nothing is written; the
    /// caller opens the box again with it).
    ///
    /// The no-op update of the key row comes first so that this and [`Store::public_key_accept`]
    /// run one after the other (a row lock on PostgreSQL, the write lock on SQLite): a message is
    /// never held after its sender's key was accepted, where nothing would replay it.
    pub async fn threema_inbox_hold(
        &self,
        seq: i64,
        sender: &str,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.fenced_tx().await?;
        let pending = sqlx::query(
            "UPDATE threema_public_key SET pending_since = pending_since \
             WHERE threema_id = $1 AND pending_key IS NOT NULL",
        )
        .bind(sender)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if pending == 0 {
            return Ok(false);
        }
        let now = now_ms();
        sqlx::query(
            "UPDATE threema_inbox SET processed_at = $1, held_at = $1, outcome = $2 \
             WHERE seq = $3 AND processed_at IS NULL",
        )
        .bind(now)
        .bind(outcome)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether a callback of `sender`'s is still to be handled (not held): a message of theirs
    /// may be on its way into their portal.
    pub async fn threema_inbox_has_pending(&self, sender: &str) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM threema_inbox WHERE processed_at IS NULL AND sender = $1 LIMIT 1",
        )
        .bind(sender)
        .fetch_optional(&self.db)
        .await?;
        Ok(row.is_some())
    }

    /// Message ids of `sender`'s held callbacks, oldest first.
    pub async fn threema_inbox_held(&self, sender: &str) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT message_id FROM threema_inbox WHERE sender = $1 AND held_at IS NOT NULL \
             ORDER BY seq",
        )
        .bind(sender)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| Ok(row.try_get("message_id")?))
        .collect()
    }

    /// The outcome of a callback: `None` if unknown, `Some(None)` if still pending.
    pub async fn threema_inbox_outcome(
        &self,
        sender: &str,
        message_id: &str,
    ) -> Result<Option<Option<String>>, StoreError> {
        let row =
            sqlx::query("SELECT outcome FROM threema_inbox WHERE sender = $1 AND message_id = $2")
                .bind(sender)
                .bind(message_id)
                .fetch_optional(&self.db)
                .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("outcome")?),
            None => None,
        })
    }

    pub async fn threema_inbox_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM threema_inbox")
            .fetch_one(&self.db)
            .await?;
        Ok(row.try_get("n")?)
    }
}

/// Queues `sender`'s held callbacks again, in their order, inside the caller's transaction.
/// Each gets a new sequence number (deleted and inserted again): the inbox runner reads on from
/// the highest number it has seen, so a row behind it that became pending again would wait for
/// the next rescan and could be overtaken by a newer message of the same sender. Returns how
/// many were queued. A held row whose box is gone cannot be replayed and stays held.
pub(super) async fn requeue_held(
    conn: &mut AnyConnection,
    sender: &str,
) -> Result<u64, StoreError> {
    let held = sqlx::query(
        "SELECT seq, sender, message_id, date, nonce, box, nickname, attempts, received_at \
         FROM threema_inbox WHERE sender = $1 AND held_at IS NOT NULL AND box IS NOT NULL \
         ORDER BY seq",
    )
    .bind(sender)
    .fetch_all(&mut *conn)
    .await?;
    for row in &held {
        let seq: i64 = row.try_get("seq")?;
        sqlx::query("DELETE FROM threema_inbox WHERE seq = $1")
            .bind(seq)
            .execute(&mut *conn)
            .await?;
    }
    for row in &held {
        sqlx::query(
            "INSERT INTO threema_inbox (sender, message_id, date, nonce, box, nickname, \
             attempts, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(row.try_get::<String, _>("sender")?)
        .bind(row.try_get::<String, _>("message_id")?)
        .bind(row.try_get::<i64, _>("date")?)
        .bind(row.try_get::<String, _>("nonce")?)
        .bind(row.try_get::<String, _>("box")?)
        .bind(row.try_get::<Option<String>, _>("nickname")?)
        .bind(row.try_get::<i64, _>("attempts")?)
        .bind(row.try_get::<i64, _>("received_at")?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(held.len() as u64)
}
