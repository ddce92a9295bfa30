//! `driver_location`: each driver's last shared location and a location request (`!where`)
//! waiting for its answer.

use sqlx::Row;

use super::{Store, StoreError};

/// A driver's last shared location.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverLocation {
    pub threema_id: String,
    pub latitude: f64,
    pub longitude: f64,
    pub accuracy_m: Option<f64>,
    /// When the driver's app sent it (Unix ms).
    pub shared_at: i64,
    pub event_id: String,
}

impl Store {
    /// `!where` as `event_id`: the driver's next location answers it.
    pub async fn location_requested(
        &self,
        driver: &str,
        event_id: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO driver_location (threema_id, requested_event, requested_at) \
             VALUES ($1, $2, $3) ON CONFLICT (threema_id) DO UPDATE SET \
             requested_event = excluded.requested_event, requested_at = excluded.requested_at",
        )
        .bind(driver)
        .bind(event_id)
        .bind(at)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The `!where` waiting for the driver's location, if any.
    pub async fn location_request_pending(
        &self,
        driver: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT requested_event FROM driver_location WHERE threema_id = $1")
            .bind(driver)
            .fetch_optional(&self.db)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("requested_event")?,
            None => None,
        })
    }

    /// The driver shared `location` (their newest unless a later one is known); it answers
    /// the request `answered`, if it did.
    pub async fn location_shared(
        &self,
        location: &DriverLocation,
        answered: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        sqlx::query(
            "INSERT INTO driver_location (threema_id, latitude, longitude, accuracy_m, \
             shared_at, event_id) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (threema_id) DO UPDATE SET latitude = excluded.latitude, \
             longitude = excluded.longitude, accuracy_m = excluded.accuracy_m, \
             shared_at = excluded.shared_at, event_id = excluded.event_id \
             WHERE driver_location.shared_at IS NULL \
             OR driver_location.shared_at <= excluded.shared_at",
        )
        .bind(&location.threema_id)
        .bind(location.latitude)
        .bind(location.longitude)
        .bind(location.accuracy_m)
        .bind(location.shared_at)
        .bind(&location.event_id)
        .execute(&mut *tx)
        .await?;
        if let Some(request) = answered {
            sqlx::query(
                "UPDATE driver_location SET requested_event = NULL, requested_at = NULL \
                 WHERE threema_id = $1 AND requested_event = $2",
            )
            .bind(&location.threema_id)
            .bind(request)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every driver's last shared location, the newest first.
    pub async fn driver_locations(&self) -> Result<Vec<DriverLocation>, StoreError> {
        sqlx::query(
            "SELECT threema_id, latitude, longitude, accuracy_m, shared_at, event_id \
             FROM driver_location WHERE shared_at IS NOT NULL ORDER BY shared_at DESC",
        )
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| {
            Ok(DriverLocation {
                threema_id: row.try_get("threema_id")?,
                latitude: row.try_get("latitude")?,
                longitude: row.try_get("longitude")?,
                accuracy_m: row.try_get("accuracy_m")?,
                shared_at: row.try_get("shared_at")?,
                event_id: row.try_get("event_id")?,
            })
        })
        .collect()
    }

    /// Forgets locations and requests from before `before_ms` of drivers not in `held` (they
    /// go with the portal's history): an old location goes even while a newer request waits.
    /// How many drivers' rows changed; counts only when `dry_run`.
    pub async fn driver_locations_prune(
        &self,
        before_ms: i64,
        held: &[String],
        dry_run: bool,
    ) -> Result<u64, StoreError> {
        let old: Vec<String> = sqlx::query(
            "SELECT threema_id FROM driver_location \
             WHERE shared_at < $1 OR requested_at < $1",
        )
        .bind(before_ms)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| row.try_get("threema_id"))
        .collect::<Result<_, _>>()?;
        let gone: Vec<&String> = old.iter().filter(|id| !held.contains(id)).collect();
        if dry_run {
            return Ok(gone.len() as u64);
        }
        for id in &gone {
            let mut tx = self.db.begin().await?;
            for forget in [
                "UPDATE driver_location SET latitude = NULL, longitude = NULL, \
                 accuracy_m = NULL, shared_at = NULL, event_id = NULL \
                 WHERE threema_id = $1 AND shared_at < $2",
                "UPDATE driver_location SET requested_event = NULL, requested_at = NULL \
                 WHERE threema_id = $1 AND requested_at < $2",
                "DELETE FROM driver_location \
                 WHERE threema_id = $1 AND shared_at IS NULL AND requested_at IS NULL",
            ] {
                sqlx::query(forget)
                    .bind(id.as_str())
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(gone.len() as u64)
    }
}
