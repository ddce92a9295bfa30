//! Counts for `/metrics`: how much waits in each durable queue, broadcasts under way.

use sqlx::Row;

use super::{Store, StoreError};

/// Each durable queue (named as its runner is) and its table; what says when an item arrived
/// and which unhandled items are due. A message held for a driver off duty is not waiting:
/// it arrives, for the queue, when its hold ends (else a night's holds would look like a
/// stuck outbox).
const QUEUES: [(&str, &str, &str, &str); 5] = [
    ("matrix", "matrix_inbox", "received_at", "TRUE"),
    ("threema", "threema_inbox", "received_at", "TRUE"),
    (
        "outbox",
        "threema_outbox",
        "COALESCE(hold_until, created_at)",
        "(hold_until IS NULL OR hold_until <= $1)",
    ),
    ("broadcast", "broadcast_delivery", "created_at", "TRUE"),
    ("webhooks", "webhook_delivery", "created_at", "TRUE"),
];

impl Store {
    /// Per durable queue: the items not handled yet, and when the oldest arrived (ms).
    pub async fn queue_figures(&self) -> Result<Vec<(&'static str, i64, Option<i64>)>, StoreError> {
        let mut figures = Vec::with_capacity(QUEUES.len());
        for (queue, table, arrived, due) in QUEUES {
            // The partial index on unhandled rows keeps this cheap however long the history.
            let sql = format!(
                "SELECT COUNT(*) AS waiting, MIN({arrived}) AS oldest FROM {table} \
                 WHERE processed_at IS NULL AND {due}"
            );
            let mut query = sqlx::query(&sql);
            if due.contains("$1") {
                query = query.bind(super::now_ms());
            }
            let row = query.fetch_one(&self.db).await?;
            figures.push((queue, row.try_get("waiting")?, row.try_get("oldest")?));
        }
        Ok(figures)
    }

    /// Broadcasts started whose copies are not all final yet.
    pub async fn broadcasts_in_flight(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM broadcast WHERE state = 'started' AND settled_at IS NULL",
        )
        .fetch_one(&self.db)
        .await?
        .try_get("n")?)
    }
}
