//! `threema_public_key`: the key cache, which also notices when a key changes.

use sqlx::Row;

use super::{
    Store, StoreError, audit, now_ms, queue_order::QueueTable, threema_inbox::requeue_held,
};

/// What the cache says about a Threema ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedKey {
    pub public_key: String,
    /// A different key the Gateway returned later, awaiting an operator's decision.
    pub pending_key: Option<String>,
}

/// What accepting a pending key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAcceptance {
    /// The pending key is trusted now; this many held messages are queued again.
    Accepted { requeued: u64 },
    /// No changed key was waiting for the ID: nothing changed.
    NothingPending,
}

impl Store {
    pub async fn public_key(&self, threema_id: &str) -> Result<Option<CachedKey>, StoreError> {
        let row = sqlx::query(
            "SELECT public_key, pending_key FROM threema_public_key WHERE threema_id = $1",
        )
        .bind(threema_id)
        .fetch_optional(&self.db)
        .await?;
        match row {
            Some(row) => Ok(Some(CachedKey {
                public_key: row.try_get("public_key")?,
                pending_key: row.try_get("pending_key")?,
            })),
            None => Ok(None),
        }
    }

    /// Caches the first key seen for an ID and returns the key cached: this one, or the one
    /// stored before (never replaced here; the no-op update makes the statement return it).
    pub async fn public_key_insert(
        &self,
        threema_id: &str,
        public_key: &str,
    ) -> Result<String, StoreError> {
        let stored = sqlx::query_scalar(
            "INSERT INTO threema_public_key (threema_id, public_key, fetched_at) VALUES ($1, $2, $3) \
             ON CONFLICT (threema_id) DO UPDATE SET public_key = threema_public_key.public_key \
             RETURNING public_key",
        )
        .bind(threema_id)
        .bind(public_key)
        .bind(now_ms())
        .fetch_one(&self.db)
        .await?;
        Ok(stored)
    }

    /// Records a different key the Gateway now returns, without using it.
    pub async fn public_key_set_pending(
        &self,
        threema_id: &str,
        pending_key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE threema_public_key SET pending_key = $1, pending_since = $2 \
             WHERE threema_id = $3 AND public_key <> $1",
        )
        .bind(pending_key)
        .bind(now_ms())
        .bind(threema_id)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// An operator accepts the pending key of `threema_id`: it replaces the trusted one, the
    /// messages held for it are queued again in their order, and `actor` is audited, all in one
    /// transaction. Accepting twice (two processes, a repeated command) accepts once.
    pub async fn public_key_accept(
        &self,
        threema_id: &str,
        actor: &str,
    ) -> Result<KeyAcceptance, StoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let accepted = sqlx::query(
            "UPDATE threema_public_key SET public_key = pending_key, pending_key = NULL, \
             pending_since = NULL, fetched_at = $1 WHERE threema_id = $2 AND pending_key IS NOT NULL",
        )
        .bind(now)
        .bind(threema_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if accepted == 0 {
            return Ok(KeyAcceptance::NothingPending);
        }
        self.lock_queue(&mut tx, QueueTable::ThreemaInbox).await?;
        let requeued = requeue_held(&mut tx, threema_id).await?;
        audit::append(
            &mut tx,
            &self.audit_key,
            now,
            actor,
            "key.accepted",
            threema_id,
            &format!("{requeued} held message(s) queued again"),
        )
        .await?;
        tx.commit().await?;
        Ok(KeyAcceptance::Accepted { requeued })
    }
}
