//! `ghost`: one Matrix user per Threema ID.

use ruma::OwnedUserId;
use sqlx::{Row, any::AnyRow};
use threema_protocol::ThreemaId;

use super::{Store, StoreError, id_column, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ghost {
    pub threema_id: ThreemaId,
    pub user_id: OwnedUserId,
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// When the homeserver confirmed the user exists; `None` until then.
    pub registered_at: Option<i64>,
}

impl Ghost {
    pub(super) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(Ghost {
            threema_id: id_column(row, "ghost", "threema_id")?,
            user_id: id_column(row, "ghost", "user_id")?,
            display_name: row.try_get("display_name")?,
            avatar_url: row.try_get("avatar_url")?,
            registered_at: row.try_get("registered_at")?,
        })
    }
}

const COLUMNS: &str = "threema_id, user_id, display_name, avatar_url, registered_at";

impl Store {
    pub async fn ghosts(&self) -> Result<Vec<Ghost>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM ghost"))
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Ghost::from_row(&row))
            .collect()
    }

    pub async fn ghost_by_threema_id(&self, threema_id: &str) -> Result<Option<Ghost>, StoreError> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM ghost WHERE threema_id = $1"
        ))
        .bind(threema_id)
        .fetch_optional(&self.db)
        .await?
        .map(|row| Ghost::from_row(&row))
        .transpose()
    }

    /// Ghosts whose Threema ID or display name contains `text` (case-insensitive), by name.
    pub async fn ghost_search(&self, text: &str, limit: i64) -> Result<Vec<Ghost>, StoreError> {
        let pattern = format!("%{}%", text.to_lowercase());
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM ghost WHERE LOWER(threema_id) LIKE $1 \
             OR LOWER(COALESCE(display_name, '')) LIKE $1 ORDER BY display_name, threema_id LIMIT $2"
        ))
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| Ghost::from_row(&row))
        .collect()
    }

    pub async fn ghost_by_user_id(&self, user_id: &str) -> Result<Option<Ghost>, StoreError> {
        sqlx::query(&format!("SELECT {COLUMNS} FROM ghost WHERE user_id = $1"))
            .bind(user_id)
            .fetch_optional(&self.db)
            .await?
            .map(|row| Ghost::from_row(&row))
            .transpose()
    }

    /// Creates the ghost row if missing; an existing row keeps its registration state.
    pub async fn ghost_ensure(&self, threema_id: &str, user_id: &str) -> Result<Ghost, StoreError> {
        // Read first: every message of a known driver passes here, and a write (even one that
        // changes nothing) takes the database's write lock.
        if let Some(ghost) = self.ghost_by_threema_id(threema_id).await? {
            return Ok(ghost);
        }
        sqlx::query("INSERT INTO ghost (threema_id, user_id) VALUES ($1, $2) ON CONFLICT (threema_id) DO NOTHING")
            .bind(threema_id)
            .bind(user_id)
            .execute(&self.db)
            .await?;
        self.ghost_by_threema_id(threema_id)
            .await?
            .ok_or(StoreError::Sqlx(sqlx::Error::RowNotFound))
    }

    pub async fn ghost_mark_registered(&self, threema_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE ghost SET registered_at = $1 WHERE threema_id = $2 AND registered_at IS NULL",
        )
        .bind(now_ms())
        .bind(threema_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    pub async fn ghost_set_profile(
        &self,
        threema_id: &str,
        display_name: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE ghost SET display_name = $1, avatar_url = $2 WHERE threema_id = $3")
            .bind(display_name)
            .bind(avatar_url)
            .bind(threema_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
