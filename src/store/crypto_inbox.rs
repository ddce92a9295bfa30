//! `crypto_inbox`: the encryption part of transactions a standby took (`ha`). Only the active
//! process runs the bridge's crypto devices, and the homeserver never sends a transaction's
//! to-device part again, so the standby keeps it here and the active one takes it in.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

impl Store {
    /// Keeps a transaction's encryption part (its JSON) for the active process.
    pub async fn crypto_inbox_push(&self, part: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO crypto_inbox (body, received_at) VALUES ($1, $2)")
            .bind(part)
            .bind(now_ms())
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// The oldest parts waiting, with their numbers.
    pub async fn crypto_inbox_pending(&self, limit: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT seq, body FROM crypto_inbox ORDER BY seq LIMIT $1")
            .bind(limit)
            .fetch_all(&self.db)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("body")?)))
            .collect()
    }

    /// A part taken in (or found unreadable) is gone.
    pub async fn crypto_inbox_done(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM crypto_inbox WHERE seq = $1")
            .bind(seq)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
