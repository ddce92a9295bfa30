//! Counts for `/metrics`: how much waits in each durable queue, broadcasts under way.

use sqlx::Row;

use super::{Store, StoreError};

/// Each durable queue (named as its runner is) and its table; the column that says when an
/// item arrived.
const QUEUES: [(&str, &str, &str); 4] = [
    ("matrix", "matrix_inbox", "received_at"),
    ("threema", "threema_inbox", "received_at"),
    ("outbox", "threema_outbox", "created_at"),
    ("broadcast", "broadcast_delivery", "created_at"),
];

impl Store {
    /// Per durable queue: the items not handled yet, and when the oldest arrived (ms).
    pub async fn queue_figures(&self) -> Result<Vec<(&'static str, i64, Option<i64>)>, StoreError> {
        let mut figures = Vec::with_capacity(QUEUES.len());
        for (queue, table, arrived) in QUEUES {
            // The partial index on unhandled rows keeps this cheap however long the history.
            let row = sqlx::query(&format!(
                "SELECT COUNT(*) AS waiting, MIN({arrived}) AS oldest FROM {table} \
                 WHERE processed_at IS NULL"
            ))
            .fetch_one(&self.pool)
            .await?;
            figures.push((queue, row.try_get("waiting")?, row.try_get("oldest")?));
        }
        Ok(figures)
    }

    /// Broadcasts started whose copies are not all final yet.
    pub async fn broadcasts_in_flight(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM broadcast WHERE state = 'started' AND settled_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }
}
