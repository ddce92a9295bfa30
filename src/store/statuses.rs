//! `driver_status`: each driver's latest quick-code status, for the desk board.

use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverStatus {
    pub threema_id: String,
    pub code: String,
    pub meaning: String,
    /// When the driver's app sent it (Unix ms).
    pub at: i64,
    pub event_id: String,
}

impl Store {
    /// Records `status` as the driver's latest, unless a later one is recorded (messages can
    /// arrive out of order after an outage).
    pub async fn driver_status_set(&self, status: &DriverStatus) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO driver_status (threema_id, code, meaning, at, event_id) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (threema_id) DO UPDATE SET code = excluded.code, \
             meaning = excluded.meaning, at = excluded.at, event_id = excluded.event_id \
             WHERE driver_status.at <= excluded.at",
        )
        .bind(&status.threema_id)
        .bind(&status.code)
        .bind(&status.meaning)
        .bind(status.at)
        .bind(&status.event_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The statuses sent since `since_ms`, newest first.
    pub async fn driver_statuses_since(
        &self,
        since_ms: i64,
    ) -> Result<Vec<DriverStatus>, StoreError> {
        sqlx::query(
            "SELECT threema_id, code, meaning, at, event_id FROM driver_status \
             WHERE at >= $1 ORDER BY at DESC, threema_id",
        )
        .bind(since_ms)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            Ok(DriverStatus {
                threema_id: row.try_get("threema_id")?,
                code: row.try_get("code")?,
                meaning: row.try_get("meaning")?,
                at: row.try_get("at")?,
                event_id: row.try_get("event_id")?,
            })
        })
        .collect()
    }

    /// Forgets statuses sent before `before_ms` of drivers not in `held` (they go with the
    /// portal's history); counts only when `dry_run`.
    pub async fn driver_statuses_prune(
        &self,
        before_ms: i64,
        held: &[String],
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        let old: Vec<String> = sqlx::query("SELECT threema_id FROM driver_status WHERE at < $1")
            .bind(before_ms)
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.try_get("threema_id"))
            .collect::<Result<_, _>>()?;
        let gone: Vec<&String> = old.iter().filter(|id| !held.contains(id)).collect();
        if !dry_run {
            for id in &gone {
                sqlx::query("DELETE FROM driver_status WHERE threema_id = $1 AND at < $2")
                    .bind(id.as_str())
                    .bind(before_ms)
                    .execute(&self.db)
                    .await?;
            }
        }
        Ok(gone.len() as u64)
    }
}
