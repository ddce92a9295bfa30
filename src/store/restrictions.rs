//! `restriction`: drivers whose processing is restricted (GDPR Art. 18) until their erasure can
//! run.

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// An SQL expression: 1 if the driver whose Threema ID is `driver` (a column or a parameter) is
/// restricted, else 0, as BIGINT on both databases; read with the rows that need it.
pub(super) fn restricted(driver: &str) -> String {
    format!(
        "CAST(CASE WHEN EXISTS (SELECT 1 FROM restriction \
         WHERE restriction.threema_id = {driver}) THEN 1 ELSE 0 END AS BIGINT)"
    )
}

impl Store {
    /// Records the restriction of `threema_id` (and their portal); `false` if it was already.
    pub async fn restriction_set(
        &self,
        threema_id: &str,
        room_id: Option<&str>,
        by: &str,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO restriction (threema_id, room_id, requested_by, requested_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (threema_id) DO NOTHING",
        )
        .bind(threema_id)
        .bind(room_id)
        .bind(by)
        .bind(now_ms())
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub async fn is_restricted(&self, threema_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM restriction WHERE threema_id = $1")
            .bind(threema_id)
            .fetch_optional(&self.db)
            .await?;
        Ok(row.is_some())
    }

    /// Every restricted driver's Threema ID.
    pub async fn restricted(&self) -> Result<Vec<String>, StoreError> {
        sqlx::query("SELECT threema_id FROM restriction ORDER BY threema_id")
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Ok(row.try_get("threema_id")?))
            .collect()
    }
}
