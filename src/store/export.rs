//! What `gdpr export` reads about one person across the tables.

use sqlx::Row;

use super::{OutboxItem, Store, StoreError, outbox};

/// A driver's message bridged to the desk, and when the driver was told the desk read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingMessage {
    pub event_id: String,
    pub threema_message_id: String,
    pub part: i64,
    pub created_at: i64,
    pub read_sent_at: Option<i64>,
}

impl Store {
    /// Every send to `recipient`, or by `sender` (a dispatcher), in the order they were queued.
    pub async fn outbox_of(
        &self,
        recipient: Option<&str>,
        sender: Option<&str>,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        sqlx::query(&format!(
            "SELECT {} FROM threema_outbox WHERE recipient = $1 OR sender = $2 ORDER BY seq",
            outbox::COLUMNS
        ))
        .bind(recipient.unwrap_or_default())
        .bind(sender.unwrap_or_default())
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| OutboxItem::from_row(&row))
        .collect()
    }

    /// The messages `driver` sent that reached the desk, oldest first.
    pub async fn messages_from_driver(
        &self,
        driver: &str,
    ) -> Result<Vec<IncomingMessage>, StoreError> {
        sqlx::query(
            "SELECT event_id, threema_message_id, part, created_at, read_sent_at FROM message \
             WHERE threema_peer = $1 AND direction = 'in' ORDER BY id",
        )
        .bind(driver)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            Ok(IncomingMessage {
                event_id: row.try_get("event_id")?,
                threema_message_id: row.try_get("threema_message_id")?,
                part: row.try_get("part")?,
                created_at: row.try_get("created_at")?,
                read_sent_at: row.try_get("read_sent_at")?,
            })
        })
        .collect()
    }
}
