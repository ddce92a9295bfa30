//! `ha_lease`: which `serve` process is active on a shared PostgreSQL database, and the fencing
//! of queue state changes by its token. Times are the database's own clock (`clock_timestamp`),
//! the one clock all processes share.

use std::{sync::Arc, time::Duration};

use sqlx::{
    Any,
    any::{AnyQueryResult, AnyRow},
};

use super::{
    DbKind, Store, StoreError,
    queue_commit::{Durable, QueueTx},
};
use crate::ha::Fence;

/// Now on the database server, in Unix milliseconds.
const DB_NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// Who holds the lease, as `status` and the tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub holder: String,
    pub token: i64,
    /// Milliseconds until it expires on the database's clock (negative: expired).
    pub expires_in_ms: i64,
}

/// A query as the store builds them.
pub(super) type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

impl Store {
    /// This store with its queue state changes fenced by `fence` (a `serve` process sharing
    /// its database). Its calls are coalesced apart from the unfenced store's: a batch runs
    /// fenced as the caller that runs it is.
    pub fn fenced_by(mut self, fence: Arc<Fence>) -> Self {
        self.fence = fence;
        self.coalesced = Arc::default();
        self
    }

    /// Takes the lease for `holder` if it is free, expired, or `holder`'s own (a restart of
    /// the same process, see `ha::lease::holder`). Returns the new fencing token, or `None`
    /// while another process holds it. A plain UPDATE: while the lease is held its condition is
    /// false and it locks nothing, so polling standbys do not queue before the renewals.
    pub async fn lease_take(
        &self,
        holder: &str,
        period: Duration,
    ) -> Result<Option<i64>, StoreError> {
        self.postgres_only()?;
        let token = sqlx::query_scalar(&format!(
            "UPDATE ha_lease SET holder = $1, token = token + 1, \
             expires_at = {DB_NOW} + $2, taken_at = {DB_NOW} \
             WHERE id = 1 AND (expires_at <= {DB_NOW} OR holder = $1) RETURNING token"
        ))
        .bind(holder)
        .bind(period.as_millis() as i64)
        .fetch_optional(&self.db)
        .await?;
        Ok(token)
    }

    /// Extends the lease `holder` holds with `token` by `period` from now. `false`: it is not
    /// theirs any more (taken over after it expired).
    pub async fn lease_renew(
        &self,
        holder: &str,
        token: i64,
        period: Duration,
    ) -> Result<bool, StoreError> {
        self.postgres_only()?;
        let renewed = sqlx::query(&format!(
            "UPDATE ha_lease SET expires_at = {DB_NOW} + $1 \
             WHERE id = 1 AND holder = $2 AND token = $3"
        ))
        .bind(period.as_millis() as i64)
        .bind(holder)
        .bind(token)
        .execute(&self.db)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    /// Gives the lease up at a clean shutdown, so that a standby takes over at once.
    pub async fn lease_release(&self, holder: &str, token: i64) -> Result<(), StoreError> {
        self.postgres_only()?;
        sqlx::query(&format!(
            "UPDATE ha_lease SET expires_at = {DB_NOW} WHERE id = 1 AND holder = $1 AND token = $2"
        ))
        .bind(holder)
        .bind(token)
        .execute(&self.db)
        .await?;
        Ok(())
    }

    /// Who holds the lease, if anybody ever took it.
    pub async fn lease_holder(&self) -> Result<Option<LeaseHolder>, StoreError> {
        self.postgres_only()?;
        let row: Option<(String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT holder, token, expires_at - {DB_NOW} FROM ha_lease WHERE id = 1"
        ))
        .fetch_optional(&self.db)
        .await?;
        Ok(row.map(|(holder, token, expires_in_ms)| LeaseHolder {
            holder,
            token,
            expires_in_ms,
        }))
    }

    /// Tells the other processes on this database that `queue` has new rows (a standby stored
    /// what was pushed to it; the active wakes that queue). Nothing on SQLite.
    pub async fn announce(&self, queue: &str) -> Result<(), StoreError> {
        if self.kind == DbKind::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(WAKE_CHANNEL)
                .bind(queue)
                .execute(&self.db)
                .await?;
        }
        Ok(())
    }

    /// A transaction for a queue state change: it goes on only while this process's token is
    /// the lease's. The row is read `FOR KEY SHARE`, so a takeover (which changes the token, a
    /// key column) waits for the change to commit and every change after it sees the new
    /// token, while renewals (which change no key) never wait for the queues.
    pub(super) async fn fenced_tx(&self) -> Result<QueueTx<'_>, StoreError> {
        let mut tx = self.queue_tx().await?;
        if let Some(token) = self.fence.token() {
            let current: Option<i64> =
                sqlx::query_scalar("SELECT token FROM ha_lease WHERE id = 1 FOR KEY SHARE")
                    .fetch_optional(&mut *tx)
                    .await?;
            if current != Some(token) {
                return Err(StoreError::NotActive);
            }
        }
        Ok(tx)
    }

    /// Runs one queue state change, fenced (see [`Store::fenced_tx`]), and returns once it is
    /// on disk; alone on the database, it is the statement and the wait for the disk.
    pub(super) async fn fenced_execute(
        &self,
        query: Query<'_>,
    ) -> Result<AnyQueryResult, StoreError> {
        self.fenced_execute_as(query, Durable::Now).await
    }

    /// [`Store::fenced_execute`] for a change that may wait for the next one on disk (see
    /// [`Durable::WithNext`]).
    pub(super) async fn fenced_execute_with_next(
        &self,
        query: Query<'_>,
    ) -> Result<AnyQueryResult, StoreError> {
        self.fenced_execute_as(query, Durable::WithNext).await
    }

    async fn fenced_execute_as(
        &self,
        query: Query<'_>,
        durable: Durable,
    ) -> Result<AnyQueryResult, StoreError> {
        if self.fence.token().is_none() {
            let result = query.execute(&self.queue_db).await?;
            if durable == Durable::Now {
                self.queue_durable().await?;
            }
            return Ok(result);
        }
        let mut tx = self.fenced_tx().await?;
        let result = query.execute(&mut *tx).await?;
        tx.commit_as(durable).await?;
        Ok(result)
    }

    /// [`Store::fenced_execute`] for a change that returns rows (`RETURNING`).
    pub(super) async fn fenced_fetch_all(
        &self,
        query: Query<'_>,
    ) -> Result<Vec<AnyRow>, StoreError> {
        self.fenced_fetch_all_as(query, Durable::Now).await
    }

    /// [`Store::fenced_fetch_all`], on disk before it returns if `durable` says so.
    pub(super) async fn fenced_fetch_all_as(
        &self,
        query: Query<'_>,
        durable: Durable,
    ) -> Result<Vec<AnyRow>, StoreError> {
        if self.fence.token().is_none() {
            // Read to the end: on SQLite the change commits when the statement is done, and a
            // failed commit only shows there.
            let rows = query.fetch_all(&self.queue_db).await?;
            if durable == Durable::Now {
                self.queue_durable().await?;
            }
            return Ok(rows);
        }
        let mut tx = self.fenced_tx().await?;
        let rows = query.fetch_all(&mut *tx).await?;
        tx.commit_as(durable).await?;
        Ok(rows)
    }

    fn postgres_only(&self) -> Result<(), StoreError> {
        match self.kind {
            DbKind::Postgres => Ok(()),
            DbKind::Sqlite => Err(StoreError::Needs("PostgreSQL (active/standby)")),
        }
    }

    /// What this store's queue state changes are fenced by.
    pub fn fence(&self) -> &Arc<Fence> {
        &self.fence
    }

    pub fn is_shared(&self) -> bool {
        self.kind == DbKind::Postgres
    }
}

/// The `NOTIFY` channel on which standby processes wake the active one.
pub const WAKE_CHANNEL: &str = "threema_bridge_wake";
