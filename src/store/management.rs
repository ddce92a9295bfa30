//! `management_room` (the bot's DMs) and `bridge_state` (named values of the bridge itself).

use sqlx::Row;

use super::{Store, StoreError, now_ms};

impl Store {
    pub async fn management_room_insert(
        &self,
        room_id: &str,
        user_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO management_room (room_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (room_id) DO NOTHING",
        )
        .bind(room_id)
        .bind(user_id)
        .bind(now_ms())
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// The room is no management room any more (the bot left it).
    pub async fn management_room_delete(&self, room_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM management_room WHERE room_id = $1")
            .bind(room_id)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// The user a management room belongs to.
    pub async fn management_room_owner(&self, room_id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT user_id FROM management_room WHERE room_id = $1")
                .bind(room_id)
                .fetch_optional(&self.db)
                .await?
                .map(|row| row.try_get("user_id"))
                .transpose()?,
        )
    }

    /// Every management room with its user.
    pub async fn management_rooms(&self) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query("SELECT room_id, user_id FROM management_room ORDER BY created_at")
            .fetch_all(&self.db)
            .await?
            .into_iter()
            .map(|row| Ok((row.try_get("room_id")?, row.try_get("user_id")?)))
            .collect()
    }

    pub async fn state_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT value FROM bridge_state WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.db)
            .await?
            .map(|row| row.try_get("value"))
            .transpose()?)
    }

    /// The keys starting with `prefix`, with their values, in key order.
    pub async fn state_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        sqlx::query(
            "SELECT key, value FROM bridge_state WHERE key LIKE $1 ESCAPE '\\' ORDER BY key",
        )
        .bind(format!("{}%", super::erasure::like_escaped(prefix)))
        .fetch_all(&self.db)
        .await?
        .into_iter()
        .map(|row| Ok((row.try_get("key")?, row.try_get("value")?)))
        .collect()
    }

    /// The shared inbox's desk rooms: their keys (`desk_room`, `desk_room:<scope>`, which also
    /// name their boards) and rooms.
    pub async fn desk_rooms(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut desks = self.state_with_prefix("desk_room:").await?;
        desks.extend((self.state_get("desk_room").await?).map(|room| ("desk_room".into(), room)));
        Ok(desks)
    }

    /// Forgets what the desk room `desk`'s board shows, so that the next update looks at its
    /// event (posted anew if it is gone).
    pub async fn desk_board_forget(&self, desk: &str) -> Result<(), StoreError> {
        self.state_delete(&format!("desk_board_hash:{desk}")).await
    }

    pub async fn state_delete(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM bridge_state WHERE key = $1")
            .bind(key)
            .execute(&self.db)
            .await?;
        Ok(())
    }

    /// Sets `key`, whatever it held.
    pub async fn state_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO bridge_state (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Sets `key` unless it is set; returns the value that holds (ours or the earlier one).
    pub async fn state_set_once(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO bridge_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.db)
        .await?;
        Ok(self
            .state_get(key)
            .await?
            .unwrap_or_else(|| value.to_owned()))
    }
}
