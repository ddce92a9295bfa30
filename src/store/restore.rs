//! After a restore from a backup: what the restored database says is pending may have been done
//! after the backup was taken (a message sent, a driver's message bridged), and the Gateway
//! cannot be asked. So the first start on a restored database settles it once: nothing pending
//! from before is sent again, it is marked *outcome unknown* where the dispatcher sees it.

use super::{OutboxState, Store, StoreError, now_ms};

/// In `bridge_state` while a restored database waits for its first start: written into every
/// backup `database backup` makes, and by `database restored` for backups made otherwise.
pub const RESTORE_PENDING: &str = "restore.pending";
/// In `bridge_state`: when the first start after the last restore settled it (Unix ms). An
/// event from before it is not acted on again.
pub const RESTORED_AT: &str = "restore.at";

/// Why a message is marked outcome unknown after a restore.
pub const RESTORED: &str = "the bridge was restored from a backup taken before this was \
                            settled; it may or may not have been sent";

/// What the first start after a restore settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Outbox rows queued or sending, now outcome unknown.
    pub sends: u64,
    /// Broadcast recipients not yet handled, now finished with an error.
    pub broadcast_copies: u64,
    /// Drivers' messages not yet bridged: looked for in their portal before they are posted.
    pub incoming: u64,
}

impl Store {
    /// Marks this database as restored from a backup: its next start settles what was pending.
    pub async fn mark_restored(&self) -> Result<(), StoreError> {
        self.state_set(RESTORE_PENDING, &now_ms().to_string()).await
    }

    /// The SQL that marks a database restored, appended to a PostgreSQL dump of the bridge's
    /// tables in `schema` (the dump empties `search_path`, so the name is qualified).
    pub fn mark_restored_sql(schema: &str) -> String {
        let schema = schema.replace('"', "\"\"");
        format!(
            "INSERT INTO \"{schema}\".bridge_state (key, value) \
             VALUES ('{RESTORE_PENDING}', '{}') \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;\n",
            now_ms()
        )
    }

    /// The schema the bridge's tables are in (PostgreSQL).
    pub async fn current_schema(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("SELECT current_schema()::TEXT")
            .fetch_one(&self.db)
            .await?)
    }

    /// Settles a restored database once (nothing when it is not one), in one transaction:
    /// sends not known to be done become outcome unknown, broadcast copies not yet handled
    /// end with an error, drivers' messages not yet bridged count as tried (so the portal is
    /// searched for them first), and the moment is recorded.
    pub async fn settle_restore(&self) -> Result<Option<Settled>, StoreError> {
        let mut tx = self.fenced_tx().await?;
        let pending = sqlx::query("DELETE FROM bridge_state WHERE key = $1")
            .bind(RESTORE_PENDING)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if pending == 0 {
            return Ok(None);
        }
        let now = now_ms();
        let sends = sqlx::query(
            "UPDATE threema_outbox SET state = $1, error = $2, updated_at = $3 \
             WHERE state IN ($4, $5)",
        )
        .bind(OutboxState::Unknown.as_str())
        .bind(RESTORED)
        .bind(now)
        .bind(OutboxState::Queued.as_str())
        .bind(OutboxState::Sending.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let broadcast_copies = sqlx::query(
            "UPDATE broadcast_delivery SET processed_at = $1, error = $2 \
             WHERE processed_at IS NULL",
        )
        .bind(now)
        .bind(RESTORED)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let incoming = sqlx::query(
            "UPDATE threema_inbox SET attempts = 1 WHERE processed_at IS NULL AND attempts = 0",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO bridge_state (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(RESTORED_AT)
        .bind(now.to_string())
        .execute(&mut *tx)
        .await?;
        let details = format!(
            "{sends} send(s) marked outcome unknown, {broadcast_copies} broadcast copies \
             ended, {incoming} incoming message(s) to look for before posting"
        );
        super::audit::append(
            &mut tx,
            &self.audit_key,
            now,
            "bridge",
            "bridge.restored",
            "database",
            &details,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(Settled {
            sends,
            broadcast_copies,
            incoming,
        }))
    }

    /// When the last restore was settled, if the database was ever restored.
    pub async fn restored_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .state_get(RESTORED_AT)
            .await?
            .and_then(|at| at.parse().ok()))
    }

    /// Copies a SQLite database into `path` (online, consistent, with what is still in the
    /// write-ahead log), to be restored by copying it back. `path` must not exist or be empty.
    pub async fn backup_sqlite_into(&self, path: &str) -> Result<(), StoreError> {
        if self.kind != super::DbKind::Sqlite {
            return Err(StoreError::Needs(
                "SQLite (PostgreSQL is backed up with pg_dump)",
            ));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.db)
            .await?;
        Ok(())
    }
}
