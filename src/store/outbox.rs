//! `threema_outbox`: dispatcher messages on their way to the Gateway, with their state.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};

/// Where one outgoing Threema message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Queued,
    /// Written just before the Gateway call: found after a crash, the outcome is unknown.
    Sending,
    Sent,
    Failed,
    /// The Gateway may have delivered it; it is not resent by itself.
    Unknown,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "queued" => Self::Queued,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            "unknown" => Self::Unknown,
            other => {
                return Err(StoreError::Sqlx(sqlx::Error::Decode(
                    format!("outbox state {other:?}").into(),
                )));
            }
        })
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub seq: i64,
    pub event_id: String,
    pub recipient: String,
    pub part: i64,
    pub room_id: String,
    pub sender: String,
    pub payload: String,
    pub state: OutboxState,
    pub threema_message_id: Option<String>,
    pub error: Option<String>,
    pub attempts: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "seq, event_id, recipient, part, room_id, sender, payload, state, \
                       threema_message_id, error, attempts, updated_at";

impl OutboxItem {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        Ok(OutboxItem {
            seq: row.try_get("seq")?,
            event_id: row.try_get("event_id")?,
            recipient: row.try_get("recipient")?,
            part: row.try_get("part")?,
            room_id: row.try_get("room_id")?,
            sender: row.try_get("sender")?,
            payload: row.try_get("payload")?,
            state: OutboxState::parse(&row.try_get::<String, _>("state")?)?,
            threema_message_id: row.try_get("threema_message_id")?,
            error: row.try_get("error")?,
            attempts: row.try_get("attempts")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

impl Store {
    /// Queues the messages an event became, all or none. Queuing the same event again changes
    /// nothing (a replayed Matrix event is not sent twice). Returns how many rows are new.
    pub async fn outbox_enqueue(&self, items: &[NewOutgoing]) -> Result<u64, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        for item in items {
            inserted += sqlx::query(
                "INSERT INTO threema_outbox (event_id, recipient, part, room_id, sender, payload, \
                 state, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $7) \
                 ON CONFLICT (event_id, recipient, part) DO NOTHING",
            )
            .bind(&item.event_id)
            .bind(&item.recipient)
            .bind(item.part)
            .bind(&item.room_id)
            .bind(&item.sender)
            .bind(&item.payload)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Rows the outbox still has work on after `after_seq`, oldest first.
    pub async fn outbox_pending(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM threema_outbox WHERE processed_at IS NULL AND seq > $1 \
             ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(OutboxItem::from_row)
        .collect()
    }

    pub async fn outbox_get(&self, seq: i64) -> Result<Option<OutboxItem>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM threema_outbox WHERE seq = $1"
        ))
        .bind(seq)
        .fetch_optional(&self.pool)
        .await?
        .map(OutboxItem::from_row)
        .transpose()
    }

    /// Every Threema message of an event, by recipient and part.
    pub async fn outbox_by_event(&self, event_id: &str) -> Result<Vec<OutboxItem>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM threema_outbox WHERE event_id = $1 ORDER BY recipient, part"
        ))
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(OutboxItem::from_row)
        .collect()
    }

    /// Moves a row from `from` to `to`, recording the Gateway message id or the error. Returns
    /// `false` (and changes nothing) if the row was not in state `from`.
    pub async fn outbox_transition(
        &self,
        seq: i64,
        from: OutboxState,
        to: OutboxState,
        threema_message_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool, StoreError> {
        let attempt = i64::from(to == OutboxState::Sending);
        let changed = sqlx::query(
            "UPDATE threema_outbox SET state = $1, \
             threema_message_id = COALESCE($2, threema_message_id), error = $3, \
             attempts = attempts + $4, updated_at = $5 WHERE seq = $6 AND state = $7",
        )
        .bind(to.as_str())
        .bind(threema_message_id)
        .bind(error)
        .bind(attempt)
        .bind(now_ms())
        .bind(seq)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }

    /// The outbox is done with this row (whatever its state).
    pub async fn outbox_finish(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE threema_outbox SET processed_at = $1 WHERE seq = $2 AND processed_at IS NULL",
        )
        .bind(now_ms())
        .bind(seq)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Rows per state, for status and metrics.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query("SELECT state, COUNT(*) AS n FROM threema_outbox GROUP BY state ORDER BY state")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get("state")?, row.try_get("n")?)))
            .collect()
    }
}
