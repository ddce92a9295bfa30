//! Group commit for the queues on SQLite: what is pushed into the inboxes (before it is
//! acknowledged) and the queue state changes (`fenced_tx`, `fenced_execute`). With
//! `synchronous=FULL` each commit fsyncs the write-ahead log while it holds SQLite's one write
//! lock, so the lanes of a busy queue (a broadcast's recipients, sixteen at once) wait for the
//! disk one after the other. The queues' connections commit with `synchronous=NORMAL` instead
//! (the log is written, not yet synced: safe across a killed process, not yet across a power
//! cut) and then wait in [`WalSync`], where one fsync of the log covers every commit that
//! ended before it started. A change is durable when its call returns, as before (unless it
//! is one nothing outside follows from, below); only the wait for the disk is shared.
//! PostgreSQL shares its flushes among concurrent commits by itself: there, this is a plain
//! transaction.
//!
//! Other connections may see such a change a moment before it is on disk. The rule that keeps
//! that harmless: what the bridge does outside (an acknowledgement, a Gateway send) follows a
//! call that returned, so its change is durable; and what it does on the homeserver is
//! idempotent (transaction ids from the item's identity), so a power cut that takes the last
//! changes back makes it do the same again, not something else. A change nothing outside
//! follows from need not wait at all ([`Durable::WithNext`]).
//!
//! By hand: the wait is a counter and a lock around one `fsync`, and sqlx has no hook for it.

use std::{
    path::PathBuf,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use sqlx::AnyPool;
use tokio::sync::Mutex;

use super::{Store, StoreError};

impl Store {
    /// A transaction on the queues' connections; [`QueueTx::commit`] returns once it is on disk.
    pub(super) async fn queue_tx(&self) -> Result<QueueTx<'_>, StoreError> {
        Ok(QueueTx {
            tx: self.queue_db.begin_kept().await?,
            store: self,
        })
    }

    /// Returns once everything committed on the queues' connections before the call is on disk.
    pub(super) async fn queue_durable(&self) -> Result<(), StoreError> {
        match &self.wal {
            Some(wal) => wal.sync().await,
            None => Ok(()),
        }
    }
}

/// When a queue change must be on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durable {
    /// Before the call returns: something outside the bridge follows from it (an
    /// acknowledgement, a Gateway send), or taking it back would not just repeat work.
    Now,
    /// With the next change that waits for the disk: the log is written in order, so that
    /// change's fsync covers this one. For a change nothing outside follows from and whose
    /// loss only repeats idempotent work (a receipt applied again, a recipient fanned out
    /// again, their copy found in the portal). Only a power cut can take it back: a killed
    /// process cannot, as the operating system still writes what SQLite handed it. Saves a
    /// wait (and, when it is the only one waiting, an fsync) per change.
    WithNext,
}

/// A transaction of [`Store::queue_tx`]: statements run on it as on a connection.
pub(super) struct QueueTx<'s> {
    tx: super::db::Tx<'s>,
    store: &'s Store,
}

impl QueueTx<'_> {
    /// Commits and returns once the change is on disk.
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.commit_as(Durable::Now).await
    }

    /// Commits; returns once the change is on disk if `durable` says so.
    pub(super) async fn commit_as(self, durable: Durable) -> Result<(), StoreError> {
        self.tx.commit().await?;
        match durable {
            Durable::Now => self.store.queue_durable().await,
            Durable::WithNext => Ok(()),
        }
    }
}

impl std::ops::Deref for QueueTx<'_> {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for QueueTx<'_> {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// The write-ahead log of one SQLite database, synced for everybody waiting.
#[derive(Debug)]
pub(super) struct WalSync {
    /// `<database>-wal`.
    log: PathBuf,
    /// Commits that asked for the disk so far (each takes the next number once it committed).
    asked: AtomicU64,
    /// The highest number the last fsync covered; held while one runs.
    synced: Mutex<u64>,
    /// How many fsyncs ran (for the test that they are shared).
    fsyncs: AtomicU64,
    /// An fsync failed: Linux reports a lost write once, so a later fsync that succeeds proves
    /// nothing. Every wait fails from then on, until a restart (as PostgreSQL does).
    failed: AtomicBool,
}

impl WalSync {
    /// The log of the database `pool` is open on, named as SQLite names it (its real path,
    /// percent-decoded, behind any symlink). `None` where no log file is where that name says
    /// (an in-memory database): the queues then commit synced, one by one, as everything else.
    pub(super) async fn find(pool: &AnyPool) -> Result<Option<WalSync>, StoreError> {
        // Held while the log is looked for: SQLite removes it when its last connection closes.
        let mut conn = pool.acquire().await?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&mut *conn)
                .await?;
        let log = PathBuf::from(format!("{file}-wal"));
        if file.is_empty() || !log.is_file() {
            tracing::warn!("no SQLite write-ahead log to sync: queue changes commit one by one");
            return Ok(None);
        }
        Ok(Some(WalSync::new(log)))
    }

    fn new(log: PathBuf) -> Self {
        WalSync {
            log,
            asked: AtomicU64::new(0),
            synced: Mutex::new(0),
            fsyncs: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        }
    }

    /// Returns once everything committed before the call is on disk. Callers that arrive while
    /// an fsync runs share the next one.
    pub(super) async fn sync(&self) -> Result<(), StoreError> {
        let mine = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let mut synced = self.synced.lock().await;
        if self.failed.load(Ordering::SeqCst) {
            return Err(io_error(std::io::Error::other(
                "an earlier fsync of the SQLite log failed; restart the bridge",
            )));
        }
        if *synced >= mine {
            // An fsync that started after this commit covered it.
            return Ok(());
        }
        // Every number taken so far belongs to a commit that ended before this fsync starts.
        let covers = self.asked.load(Ordering::SeqCst);
        let log = self.log.clone();
        let synced_now = tokio::task::spawn_blocking(move || match std::fs::File::open(&log) {
            // Linux syncs the file's pages whichever descriptor wrote them. `true`: the
            // fsync failed (writes may be lost), not just the opening.
            Ok(file) => file.sync_data().map_err(|e| (true, e)),
            // No log: SQLite checkpointed it into the database (synced) and removed it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err((false, e)),
        })
        .await
        .map_err(|e| io_error(std::io::Error::other(e)))?;
        if let Err((lost, e)) = synced_now {
            if lost {
                self.failed.store(true, Ordering::SeqCst);
                tracing::error!(
                    error = %e,
                    "fsync of the SQLite write-ahead log failed: queue changes fail until the \
                     bridge restarts"
                );
            }
            return Err(io_error(e));
        }
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
        *synced = covers;
        Ok(())
    }

    #[cfg(test)]
    pub(super) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }
}

/// An error of the disk as the store reports it (transient: retried, never acknowledged).
fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Sqlx(sqlx::Error::Io(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        let file = dir.path().join("bridge.db");
        Store::connect(&format!("sqlite://{}", file.display()), 4)
            .await
            .unwrap()
    }

    /// Stores `k = v` through a queue transaction.
    async fn commit_a_row(store: &Store) {
        let mut tx = store.queue_tx().await.unwrap();
        sqlx::query("INSERT INTO bridge_state (key, value) VALUES ('k', 'v')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    #[tokio::test]
    async fn a_queue_commit_is_in_the_log_that_is_synced_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        commit_a_row(&store).await;
        let wal = store.wal.clone().expect("a SQLite file has a log to sync");
        assert_eq!(wal.fsyncs(), 1);
        // The file synced is the one SQLite wrote the commit to.
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(wal.log, real.join("bridge.db-wal"));
        assert!(std::fs::metadata(&wal.log).unwrap().len() > 0);
        let value: String = sqlx::query_scalar("SELECT value FROM bridge_state WHERE key = 'k'")
            .fetch_one(&store.db)
            .await
            .unwrap();
        assert_eq!(value, "v");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_database_reached_through_a_symlink_has_its_log_synced_beside_the_real_file() {
        let (real, link) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let file = real.path().join("bridge.db");
        std::fs::File::create(&file).unwrap();
        std::os::unix::fs::symlink(&file, link.path().join("bridge.db")).unwrap();
        let url = format!("sqlite://{}", link.path().join("bridge.db").display());
        let store = Store::connect(&url, 4).await.unwrap();
        commit_a_row(&store).await;
        let wal = store.wal.clone().unwrap();
        let beside_the_file = std::fs::canonicalize(real.path())
            .unwrap()
            .join("bridge.db-wal");
        assert_eq!(wal.log, beside_the_file);
        assert!(std::fs::metadata(&wal.log).unwrap().len() > 0);
        assert!(!link.path().join("bridge.db-wal").exists());
    }

    #[tokio::test]
    async fn a_percent_encoded_database_name_has_its_log_found_as_sqlite_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/my%20bridge.db", dir.path().display());
        let store = Store::connect(&url, 4).await.unwrap();
        let wal = store.wal.clone().expect("the log SQLite writes is found");
        let real = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(wal.log, real.join("my bridge.db-wal"));
        assert!(wal.log.is_file());
    }

    #[tokio::test]
    async fn commits_waiting_for_the_disk_together_share_one_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let wal = store.wal.clone().unwrap();
        // On this single-threaded runtime the first caller's fsync runs while the other fifteen
        // take their numbers: all of them share the second one.
        let waits: Vec<_> = (0..16)
            .map(|_| {
                let wal = wal.clone();
                tokio::spawn(async move { wal.sync().await })
            })
            .collect();
        for wait in waits {
            wait.await.unwrap().unwrap();
        }
        assert_eq!(wal.fsyncs(), 2);
    }

    #[tokio::test]
    async fn a_change_that_waits_for_the_next_is_covered_by_its_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let wal = store.wal.clone().unwrap();
        let mut tx = store.queue_tx().await.unwrap();
        sqlx::query("INSERT INTO bridge_state (key, value) VALUES ('later', 'x')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit_as(Durable::WithNext).await.unwrap();
        assert_eq!(wal.fsyncs(), 0, "no wait, no fsync");
        let at_first = std::fs::metadata(&wal.log).unwrap().len();
        assert!(
            at_first > 0,
            "in the log, as a killed process would leave it"
        );
        commit_a_row(&store).await;
        assert_eq!(wal.fsyncs(), 1);
        // One log, written in order: the fsync for the second commit covers the first.
        assert!(std::fs::metadata(&wal.log).unwrap().len() > at_first);
        let both: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM bridge_state WHERE key IN ('later', 'k')")
                .fetch_one(&store.db)
                .await
                .unwrap();
        assert_eq!(both, 2);
    }

    #[tokio::test]
    async fn a_transaction_of_echoes_only_waits_for_no_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let store = sqlite_store(&dir).await;
        let wal = store.wal.clone().unwrap();
        assert_eq!(store.inbox_push(&[]).await.unwrap(), 0);
        assert_eq!(wal.fsyncs(), 0);
    }
}
