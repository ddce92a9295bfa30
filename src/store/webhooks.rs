//! `webhook_delivery`: the webhooks' durable queue.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// A delivery to make (or try again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub url: String,
    pub event_id: String,
    pub payload: String,
    pub created_at: i64,
    pub attempts: i64,
}

impl Store {
    /// Queues `payload` for `url` under `event_id`, once: the same event again adds nothing.
    pub async fn webhook_enqueue(
        &self,
        url: &str,
        event_id: &str,
        payload: &str,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let added = sqlx::query(
            "INSERT INTO webhook_delivery (url, event_id, payload, created_at, next_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (url, event_id) DO NOTHING",
        )
        .bind(url)
        .bind(event_id)
        .bind(payload)
        .bind(now)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(added > 0)
    }

    /// Deliveries due at `now`, oldest first; and when the next one after them is due.
    pub async fn webhook_due(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<(Vec<WebhookDelivery>, Option<i64>), StoreError> {
        let due = sqlx::query(
            "SELECT url, event_id, payload, created_at, attempts FROM webhook_delivery \
             WHERE processed_at IS NULL AND next_at <= $1 ORDER BY next_at, created_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .iter()
        .map(|row| {
            Ok(WebhookDelivery {
                url: row.try_get("url")?,
                event_id: row.try_get("event_id")?,
                payload: row.try_get("payload")?,
                created_at: row.try_get("created_at")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let next: Option<i64> = sqlx::query(
            "SELECT MIN(next_at) AS next FROM webhook_delivery \
             WHERE processed_at IS NULL AND next_at > $1",
        )
        .bind(now)
        .fetch_one(&self.db)
        .await?
        .try_get("next")?;
        Ok((due, next))
    }

    /// The receiver took it (`failed: false`), or it was given up.
    pub async fn webhook_done(
        &self,
        url: &str,
        event_id: &str,
        failed: bool,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_delivery SET processed_at = $1, failed = $2, \
             attempts = attempts + 1, last_error = COALESCE($3, last_error) \
             WHERE url = $4 AND event_id = $5",
        )
        .bind(now_ms())
        .bind(i64::from(failed))
        .bind(error)
        .bind(url)
        .bind(event_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// A try failed: the next at `next_at`.
    pub async fn webhook_retry(
        &self,
        url: &str,
        event_id: &str,
        next_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_delivery SET attempts = attempts + 1, next_at = $1, last_error = $2 \
             WHERE url = $3 AND event_id = $4",
        )
        .bind(next_at)
        .bind(error)
        .bind(url)
        .bind(event_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Deliveries waiting, and those given up in the last `since_ms`.
    pub async fn webhook_counts(&self, since_ms: i64) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM webhook_delivery WHERE processed_at IS NULL) AS waiting, \
             (SELECT COUNT(*) FROM webhook_delivery WHERE failed = 1 AND processed_at >= $1) \
             AS given_up",
        )
        .bind(since_ms)
        .fetch_one(&self.db)
        .await?;
        Ok((row.try_get("waiting")?, row.try_get("given_up")?))
    }

    /// Forgets deliveries made (or given up) before `before_ms`: the receiver has them.
    pub async fn webhooks_prune(&self, before_ms: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM webhook_delivery WHERE processed_at IS NOT NULL AND processed_at < $1",
        )
        .bind(before_ms)
        .execute(&self.db)
        .await?
        .rows_affected())
    }
}
