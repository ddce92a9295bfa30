//! `driver_notice`: the privacy notice per driver and text, from "being posted" to "queued".

use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// Where a driver's notice of one text stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeState {
    /// Never posted.
    New,
    /// A post was tried: it may be in the portal (the bridge stopped before its answer).
    Tried,
    /// Posted as this event, not queued yet.
    Posted(String),
    /// Queued for the phone (as this event, if known): done.
    Queued(Option<String>),
}

impl Store {
    pub async fn driver_notice_state(
        &self,
        threema_id: &str,
        text_hash: &str,
    ) -> Result<NoticeState, StoreError> {
        let row = sqlx::query(
            "SELECT event_id, queued_at FROM driver_notice \
             WHERE threema_id = $1 AND text_hash = $2",
        )
        .bind(threema_id)
        .bind(text_hash)
        .fetch_optional(&self.db)
        .await?;
        let Some(row) = row else {
            return Ok(NoticeState::New);
        };
        let event_id: Option<String> = row.try_get("event_id")?;
        let queued: Option<i64> = row.try_get("queued_at")?;
        Ok(match (event_id, queued) {
            (event_id, Some(_)) => NoticeState::Queued(event_id),
            (Some(event_id), None) => NoticeState::Posted(event_id),
            (None, None) => NoticeState::Tried,
        })
    }

    /// Records that the notice is about to be posted.
    pub async fn driver_notice_tried(
        &self,
        threema_id: &str,
        text_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO driver_notice (threema_id, text_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (threema_id, text_hash) DO NOTHING",
        )
        .bind(threema_id)
        .bind(text_hash)
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn driver_notice_posted(
        &self,
        threema_id: &str,
        text_hash: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE driver_notice SET event_id = $3 WHERE threema_id = $1 AND text_hash = $2",
        )
        .bind(threema_id)
        .bind(text_hash)
        .bind(event_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn driver_notice_queued(
        &self,
        threema_id: &str,
        text_hash: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE driver_notice SET queued_at = $3 WHERE threema_id = $1 AND text_hash = $2",
        )
        .bind(threema_id)
        .bind(text_hash)
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        Ok(())
    }
}
