//! `gdpr_request`: data subjects' export and erasure requests and when they are due.

use sqlx::{Row, any::AnyRow};

use super::{Store, StoreError, now_ms};

stored_enum! {
    /// What a data subject asked for.
    pub enum RequestKind in gdpr_request.kind {
        /// A copy of their data (Art. 15).
        Export = "export",
        /// Erasure (Art. 17).
        Erasure = "erasure",
    }
}

/// A request as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdprRequest {
    pub id: i64,
    pub kind: RequestKind,
    /// The subject's key: employee ID, else Threema ID, else Matrix ID.
    pub subject: String,
    /// `YYYY-MM-DD`.
    pub received_on: String,
    pub due_on: String,
    pub created_by: String,
    pub reminded_at: Option<i64>,
}

impl GdprRequest {
    fn from_row(row: AnyRow) -> Result<Self, StoreError> {
        Ok(GdprRequest {
            id: row.try_get("id")?,
            kind: RequestKind::parse(&row.try_get::<String, _>("kind")?)?,
            subject: row.try_get("subject")?,
            received_on: row.try_get("received_on")?,
            due_on: row.try_get("due_on")?,
            created_by: row.try_get("created_by")?,
            reminded_at: row.try_get("reminded_at")?,
        })
    }
}

impl Store {
    /// Registers a request; returns its id.
    pub async fn request_add(
        &self,
        kind: RequestKind,
        subject: &str,
        received_on: &str,
        due_on: &str,
        by: &str,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO gdpr_request (kind, subject, received_on, due_on, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(subject)
        .bind(received_on)
        .bind(due_on)
        .bind(by)
        .bind(now_ms())
        .fetch_one(&self.db)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// The requests not answered yet, the soonest due first.
    pub async fn requests_open(&self) -> Result<Vec<GdprRequest>, StoreError> {
        sqlx::query(
            "SELECT id, kind, subject, received_on, due_on, created_by, reminded_at \
             FROM gdpr_request WHERE done_at IS NULL ORDER BY due_on, id",
        )
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(GdprRequest::from_row)
        .collect()
    }

    /// Closes the open requests of `kind` about `subject` (answered by `by`); how many.
    pub async fn requests_done(
        &self,
        kind: RequestKind,
        subject: &str,
        by: &str,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE gdpr_request SET done_at = $1, done_by = $2 \
             WHERE kind = $3 AND subject = $4 AND done_at IS NULL",
        )
        .bind(now_ms())
        .bind(by)
        .bind(kind.as_str())
        .bind(subject)
        .execute(&self.db)
        .await?
        .rows_affected())
    }

    /// Closes one request by its id; `false` if there is no such open one.
    pub async fn request_close(&self, id: i64, by: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "UPDATE gdpr_request SET done_at = $1, done_by = $2 WHERE id = $3 AND done_at IS NULL",
        )
        .bind(now_ms())
        .bind(by)
        .bind(id)
        .execute(&self.db)
        .await?
        .rows_affected()
            == 1)
    }

    /// Records that admins were reminded of a request.
    pub async fn request_reminded(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE gdpr_request SET reminded_at = $1 WHERE id = $2")
            .bind(now_ms())
            .bind(id)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
