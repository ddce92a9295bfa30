//! Where the store's statements run: on SQLite, on connections the store keeps, which go back
//! without sqlx's ping; on PostgreSQL, and for the transactions outside the queues, on sqlx's
//! pool.
//!
//! sqlx's pool pings every connection that goes back to it (`return_to_pool` in sqlx-core
//! 0.8): on SQLite one more round trip to the connection's thread for every statement. A
//! primary-key `SELECT` measured 51 µs of CPU through the pool and 32 µs on a connection held
//! (one core, 20,000 of them). A local file has no link to lose, and a statement dropped
//! halfway is ended by the connection's thread before it takes the next one (sqlx-sqlite's
//! worker), so nothing is left to flush. A connection a statement finds broken (its thread gone,
//! no answer) is closed, not kept.
//! A transaction on a kept connection ([`Db::begin_kept`], the queues' hot path) ends as sqlx's
//! own does: its commit, or a rollback queued to the connection's thread when it is dropped
//! open (before the connection can be lent again; a `BEGIN` whose caller went away is rolled
//! back by that thread itself). On PostgreSQL everything runs on the pool: there the ping
//! finds a connection the server closed.
//!
//! By hand: a semaphore and a list of connections; sqlx's pool cannot leave its ping out, and
//! the pool crates (deadpool, bb8) manage connections of their own making, not sqlx's.

use std::sync::{Arc, Mutex, PoisonError};

use futures::{TryStreamExt, future::BoxFuture, stream::BoxStream};
use sqlx::{
    Any, AnyConnection, AnyPool, Connection, Describe, Either, Execute, Executor, Transaction,
    TransactionManager,
    any::{AnyQueryResult, AnyRow, AnyStatement, AnyTransactionManager, AnyTypeInfo},
    pool::PoolConnection,
};
use tokio::sync::{Semaphore, SemaphorePermit};

/// A store's database: its pool, and on SQLite the connections it keeps for statements.
#[derive(Debug, Clone)]
pub(super) struct Db {
    pool: AnyPool,
    kept: Option<Arc<Kept>>,
}

impl Db {
    /// `pool`, keeping up to `keep` connections taken out of it for statements and
    /// [`Db::begin_kept`] if it is SQLite's.
    pub(super) fn new(pool: AnyPool, sqlite: bool, keep: usize) -> Db {
        let kept = (sqlite && keep > 0).then(|| {
            Arc::new(Kept {
                free: Mutex::default(),
                permits: Semaphore::new(keep),
            })
        });
        Db { pool, kept }
    }

    /// The pool itself: migrations, and stores of their own over the same database.
    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(super) async fn begin(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        self.pool.begin().await
    }

    /// A transaction on a kept connection where there are any (SQLite), else on the pool.
    pub(super) async fn begin_kept(&self) -> Result<Tx<'_>, sqlx::Error> {
        let Some(kept) = &self.kept else {
            return Ok(Tx::Pool(self.pool.begin().await?));
        };
        let mut lent = kept.lend(&self.pool).await?;
        let begun = AnyTransactionManager::begin(lent.conn(), None).await;
        lent.checked(begun)?;
        Ok(Tx::Kept(KeptTx { lent, open: true }))
    }

    pub(super) async fn acquire(&self) -> Result<PoolConnection<Any>, sqlx::Error> {
        self.pool.acquire().await
    }

    /// Closes the connections kept and the pool's; one lent meanwhile is closed as it comes
    /// back.
    pub(super) async fn close(&self) {
        if let Some(kept) = &self.kept {
            // Lent ones are closed as they come back: closed permits turn them away.
            kept.permits.close();
            let free = std::mem::take(&mut *kept.free());
            for conn in free {
                let _ = conn.close().await;
            }
        }
        self.pool.close().await;
    }
}

/// The connections kept; `permits` bounds how many are lent and open.
#[derive(Debug)]
struct Kept {
    free: Mutex<Vec<AnyConnection>>,
    permits: Semaphore,
}

impl Kept {
    /// The connections not lent. A panic while the list is held leaves it whole.
    fn free(&self) -> std::sync::MutexGuard<'_, Vec<AnyConnection>> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A kept connection, or a new one from `pool` (taken out of it) while fewer are open.
    /// Waits as long as the pool would (its `acquire_timeout`), then fails as it would.
    async fn lend<'k>(&'k self, pool: &AnyPool) -> Result<Lent<'k>, sqlx::Error> {
        let wait = pool.options().get_acquire_timeout();
        let permit = match tokio::time::timeout(wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(sqlx::Error::PoolClosed),
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
        };
        let free = self.free().pop();
        let conn = match free {
            Some(conn) => conn,
            None => pool.acquire().await?.detach(),
        };
        Ok(Lent {
            conn: Some(conn),
            kept: self,
            _permit: permit,
        })
    }
}

/// A kept connection while a statement or a transaction runs on it; it goes back when
/// dropped.
struct Lent<'k> {
    conn: Option<AnyConnection>,
    kept: &'k Kept,
    _permit: SemaphorePermit<'k>,
}

impl Lent<'_> {
    fn conn(&mut self) -> &mut AnyConnection {
        self.conn.as_mut().expect("a lent connection until dropped")
    }

    /// `result` of a statement on the connection. After an error, a connection whose thread
    /// failed, or that the database no longer answers, is closed rather than lent again; an
    /// error of the statement (a constraint, a busy database) leaves it as good as before.
    fn checked<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if result
            .as_ref()
            .is_err_and(|e| e.as_database_error().is_none())
        {
            self.conn = None;
        }
        result
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // Checked under the list's lock, which `Db::close` takes after closing the permits:
            // a connection given back after that is closed (dropped), not kept.
            let mut free = self.kept.free();
            if !self.kept.permits.is_closed() {
                free.push(conn);
            }
        }
    }
}

/// A transaction of [`Db::begin_kept`]: statements run on it as on a connection.
pub(super) enum Tx<'d> {
    Pool(Transaction<'static, Any>),
    Kept(KeptTx<'d>),
}

/// A transaction on a kept connection, rolled back if dropped before its commit.
pub(super) struct KeptTx<'d> {
    lent: Lent<'d>,
    open: bool,
}

impl Tx<'_> {
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Pool(tx) => tx.commit().await,
            Tx::Kept(mut tx) => {
                let committed = AnyTransactionManager::commit(tx.lent.conn()).await;
                tx.lent.checked(committed)?;
                tx.open = false;
                Ok(())
            }
        }
    }
}

impl Drop for KeptTx<'_> {
    fn drop(&mut self) {
        // Queued before the connection goes back (`lent` drops after this): whoever is lent it
        // next finds the transaction rolled back.
        if let (true, Some(conn)) = (self.open, self.lent.conn.as_mut()) {
            AnyTransactionManager::start_rollback(conn);
        }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match self {
            Tx::Pool(tx) => tx,
            Tx::Kept(tx) => tx
                .lent
                .conn
                .as_ref()
                .expect("a lent connection until dropped"),
        }
    }
}

impl std::ops::DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Tx::Pool(tx) => tx,
            Tx::Kept(tx) => tx.lent.conn(),
        }
    }
}

impl<'d> Executor<'d> for &'d Db {
    type Database = Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<AnyQueryResult, AnyRow>, sqlx::Error>>
    where
        'd: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let Some(kept) = &self.kept else {
            return self.pool.fetch_many(query);
        };
        Box::pin(async_stream::try_stream! {
            let mut lent = kept.lend(&self.pool).await?;
            let mut results = lent.conn().fetch_many(query);
            let failed = loop {
                match results.try_next().await {
                    Ok(Some(result)) => yield result,
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            drop(results);
            if let Some(e) = failed {
                lent.checked::<()>(Err(e))?;
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<AnyRow>, sqlx::Error>>
    where
        'd: 'e,
        E: 'q + Execute<'q, Any>,
    {
        let Some(kept) = &self.kept else {
            return self.pool.fetch_optional(query);
        };
        Box::pin(async move {
            let mut lent = kept.lend(&self.pool).await?;
            let row = lent.conn().fetch_optional(query).await;
            lent.checked(row)
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [AnyTypeInfo],
    ) -> BoxFuture<'e, Result<AnyStatement<'q>, sqlx::Error>>
    where
        'd: 'e,
    {
        self.pool.prepare_with(sql, parameters)
    }

    fn describe<'e, 'q: 'e>(self, sql: &'q str) -> BoxFuture<'e, Result<Describe<Any>, sqlx::Error>>
    where
        'd: 'e,
    {
        self.pool.describe(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use std::time::Duration;

    /// A SQLite store keeping `keep` connections, with a table `t` holding `ids`.
    async fn sqlite(dir: &tempfile::TempDir, keep: usize, ids: &[i64]) -> Db {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.path().display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_millis(500))
            .connect(&url)
            .await
            .unwrap();
        let db = Db::new(pool, true, keep);
        run(&db, "CREATE TABLE t (id BIGINT PRIMARY KEY)").await;
        for id in ids {
            sqlx::query("INSERT INTO t (id) VALUES ($1)")
                .bind(id)
                .execute(&db)
                .await
                .unwrap();
        }
        db
    }

    async fn run<'c>(on: impl Executor<'c, Database = Any>, sql: &str) {
        sqlx::query(sql).execute(on).await.unwrap();
    }

    async fn ids<'c>(on: impl Executor<'c, Database = Any>) -> Vec<i64> {
        sqlx::query_scalar("SELECT id FROM t ORDER BY id")
            .fetch_all(on)
            .await
            .unwrap()
    }

    fn free(db: &Db) -> usize {
        db.kept.as_ref().unwrap().free().len()
    }

    #[tokio::test]
    async fn statements_run_on_kept_connections_and_transactions_on_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, 1, &[1, 2]).await;
        // One connection kept, taken out of the pool: the pool still has its own.
        assert_eq!(free(&db), 1);
        assert_eq!(db.pool.size(), 0, "the kept connection is not the pool's");
        let mut tx = db.begin().await.unwrap();
        run(&mut *tx, "INSERT INTO t (id) VALUES (3)").await;
        drop(tx);
        assert_eq!(
            ids(&db).await,
            [1, 2],
            "the dropped transaction rolled back"
        );
        let one: Option<i64> = sqlx::query_scalar("SELECT id FROM t WHERE id = 2")
            .fetch_optional(&db)
            .await
            .unwrap();
        assert_eq!(one, Some(2));
        assert_eq!(free(&db), 1, "one kept, lent again");
    }

    #[tokio::test]
    async fn a_failed_statement_leaves_its_connection_usable_and_a_stream_dropped_halfway_too() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, 1, &(0..100).collect::<Vec<_>>()).await;
        let duplicate = sqlx::query("INSERT INTO t (id) VALUES (1)")
            .execute(&db)
            .await;
        assert!(duplicate.unwrap_err().as_database_error().is_some());
        // Two rows of a hundred read, then the stream dropped: the next statement still
        // answers, on the same connection.
        let mut rows = sqlx::query("SELECT id FROM t ORDER BY id").fetch(&db);
        rows.next().await.unwrap().unwrap();
        rows.next().await.unwrap().unwrap();
        drop(rows);
        assert_eq!(ids(&db).await.len(), 100);
        // And a write after it commits: the dropped read holds no lock.
        run(&db, "DELETE FROM t WHERE id = 0").await;
        let mut other = db.pool.acquire().await.unwrap();
        assert_eq!(
            ids(&mut *other).await.len(),
            99,
            "committed, seen from another connection"
        );
        assert_eq!(free(&db), 1);
    }

    #[tokio::test]
    async fn a_kept_transaction_commits_or_is_rolled_back_before_its_connection_is_lent_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, 1, &[]).await;
        let mut tx = db.begin_kept().await.unwrap();
        assert!(matches!(tx, Tx::Kept(_)));
        run(&mut *tx, "INSERT INTO t (id) VALUES (1)").await;
        tx.commit().await.unwrap();
        let mut tx = db.begin_kept().await.unwrap();
        run(&mut *tx, "INSERT INTO t (id) VALUES (2)").await;
        drop(tx);
        // The one kept connection again: its transaction is gone, and what it wrote with it.
        assert_eq!(ids(&db).await, [1]);
        let mut tx = db.begin_kept().await.unwrap();
        run(&mut *tx, "INSERT INTO t (id) VALUES (3)").await;
        tx.commit().await.unwrap();
        let mut other = db.pool.acquire().await.unwrap();
        assert_eq!(
            ids(&mut *other).await,
            [1, 3],
            "committed, seen from another connection"
        );
    }

    #[tokio::test]
    async fn a_wait_for_a_kept_connection_ends_as_the_pools_would() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, 1, &[1, 2]).await;
        // The one kept connection, held by a read not yet done.
        let mut rows = sqlx::query("SELECT id FROM t").fetch(&db);
        rows.next().await.unwrap().unwrap();
        let waited = sqlx::query("SELECT 1").execute(&db).await;
        assert!(matches!(waited, Err(sqlx::Error::PoolTimedOut)));
        drop(rows);
        run(&db, "SELECT 1").await;
    }

    #[tokio::test]
    async fn a_closed_db_lends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite(&dir, 2, &[]).await;
        db.close().await;
        let closed = sqlx::query("SELECT 1").execute(&db).await;
        assert!(matches!(closed, Err(sqlx::Error::PoolClosed)));
    }
}
