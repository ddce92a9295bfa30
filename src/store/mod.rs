//! Durable state in SQLite (embedded default) or PostgreSQL, through one API.
//!
//! sqlx's `Any` driver runs the same SQL on both: every query uses `$n` placeholders and
//! portable types (TEXT, BIGINT as ms timestamps), and each dialect has its own migrations.
//! One file per table; `impl Store` blocks are split across them.

/// Declares the enum of a column that holds one of a closed set of words, with its one
/// `as_str`/`parse` pair: `as_str` is what queries bind (and compare with), `parse` reads a row
/// back and names the table and column (never the value) when the word is not one of them.
///
/// A macro rather than a trait with a word table per enum: each enum then lists its words once,
/// next to its variants, and the match in `as_str` stays exhaustive (a new variant without a word
/// does not compile).
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident in $table:ident . $column:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            #[doc = concat!("The word stored in `", stringify!($table), ".", stringify!($column), "`.")]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $word, )+
                }
            }

            /// Reads the stored word back; any other text is a corrupt row.
            pub fn parse(s: &str) -> Result<Self, $crate::store::StoreError> {
                match s {
                    $( $word => Ok(Self::$variant), )+
                    _ => Err($crate::store::StoreError::corrupt(
                        stringify!($table),
                        stringify!($column),
                    )),
                }
            }
        }
    };
}

mod api;
mod audit;
mod broadcast_delivery;
mod broadcasts;
mod coalesce;
mod conversations;
mod crypto_inbox;
mod db;
mod directory;
mod driver_notices;
mod erasure;
mod export;
mod figures;
mod ghosts;
mod holds;
mod inbox;
mod intake;
mod lease;
mod locations;
mod management;
mod messages;
mod outbox;
mod outbox_status;
mod polls;
mod portals;
mod prune;
mod public_keys;
mod queue_commit;
mod queue_order;
mod requests;
mod restore;
mod restrictions;
mod schedules;
mod sender_rows;
mod statuses;
mod threema_inbox;
mod webhooks;

use std::{str::FromStr, sync::Arc, time::Duration};

use crate::{audit::AuditKey, ha::Fence};
use db::Db;
use sqlx::{
    AnyPool, Row,
    any::{AnyConnectOptions, AnyPoolOptions, AnyRow},
    migrate::Migrator,
};

pub use api::{ApiMessage, ApiPending, ApiRecipient, ApiStored};
pub use audit::{AuditEntry, AuditRecord, ChainHead, UNREADABLE, Walked};
pub use broadcast_delivery::{Delivery, DeliveryContext, DeliveryDone};
pub use broadcasts::{
    Broadcast, BroadcastRoom, BroadcastState, DeliveryRow, NewBroadcast, SendTry,
};
pub use conversations::{Closed, Conversation, ConversationState, Told};
pub use directory::{RoomStateKind, StoredEmployee};
pub use driver_notices::NoticeState;
pub use erasure::{DispatcherTarget, ErasedRows, ErasureTarget, OnFile, Standing};
pub use export::IncomingMessage;
pub use ghosts::Ghost;
pub use holds::{Hold, HoldTarget};
pub use inbox::{InboxItem, InboxKind, NewInboxItem};
pub use intake::{IntakeError, ThreemaIntake};
pub use lease::{LeaseHolder, WAKE_CHANNEL};
pub use locations::DriverLocation;
pub use messages::{Direction, MessageMapping, ReadThrough, UnreadMessage};
pub use outbox::{DeliveryStatus, NewOutgoing, OutboxItem, OutboxState, Reaction, RecipientOnFile};
pub use outbox_status::ReceiptLookup;
pub use polls::{Poll, PollChoice, PollVote};
pub use portals::Portal;
pub use prune::{HeldScope, Pruned, cutoff};
pub use public_keys::{CachedKey, KeyAcceptance};
pub use requests::{GdprRequest, RequestKind};
pub use restore::{RESTORE_PENDING, RESTORED, RESTORED_AT, Settled};
pub use schedules::{NewSchedule, Schedule};
pub use sender_rows::{SenderRows, Unanswered};
pub use statuses::DriverStatus;
pub use threema_inbox::{NewThreemaItem, ThreemaItem};
pub use webhooks::WebhookDelivery;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("cannot create the SQLite database file or its folder: {0}")]
    CreateDir(#[source] std::io::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot lock the SQLite database file to migrate it: {0}")]
    MigrationLock(#[source] std::io::Error),
    /// A newer release migrated the database: this binary would not know its tables.
    #[error(
        "the database was upgraded by a newer threema-bridge (schema {found}; this one knows up \
         to {known}): run the newer release, or restore the backup taken before the upgrade"
    )]
    NewerSchema { found: i64, known: i64 },
    /// A queue state change refused: another process took the lease over (see `ha`).
    #[error("this bridge process is not the active one any more")]
    NotActive,
    /// Something only one kind of database does.
    #[error("this needs {0}")]
    Needs(&'static str),
    #[error("database error")]
    Sqlx(#[from] sqlx::Error),
    /// A stored value that does not read back as what the column holds. The value itself is
    /// left out: it may be personal data.
    #[error("corrupt value in {table}.{column}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
    },
    /// The error of a statement that ran several callers' calls at once (`coalesce`).
    #[error(transparent)]
    Shared(std::sync::Arc<StoreError>),
}

impl StoreError {
    /// The error for a value of `table`.`column` that does not read back.
    pub fn corrupt(table: &'static str, column: &'static str) -> Self {
        StoreError::Corrupt { table, column }
    }

    /// A failure worth retrying later (the database is unreachable or busy), as opposed to a
    /// bug or a constraint violation.
    pub fn is_transient(&self) -> bool {
        match self {
            // Left for the active process, which takes it up.
            StoreError::NotActive => true,
            StoreError::Shared(e) => e.is_transient(),
            StoreError::Sqlx(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                ) || e.as_database_error().is_some_and(|d| {
                    // SQLite: database is locked/busy. PostgreSQL: a deadlock or a
                    // serialization failure, which the server resolves by failing one side.
                    matches!(
                        d.code().as_deref(),
                        Some("5") | Some("6") | Some("40P01") | Some("40001")
                    )
                })
            }
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    /// The inboxes' pushes and the queue state changes (`queue_tx`, `fenced_tx`): on SQLite,
    /// connections that commit without waiting for the disk, followed by `wal`'s shared wait;
    /// on PostgreSQL, `db` (which shares its flushes among concurrent commits by itself).
    queue_db: Db,
    /// The SQLite database's write-ahead log, synced for the commits on `queue_db`.
    wal: Option<Arc<queue_commit::WalSync>>,
    kind: DbKind,
    /// Hashes the audit trail's identifiers (`audit::seal`).
    audit_key: AuditKey,
    /// Whether queue state changes are fenced (a `serve` process on a shared database).
    fence: Arc<Fence>,
    /// The queue lanes' calls that run together as one statement (`coalesce`).
    coalesced: Arc<CoalescedCalls>,
}

/// The calls the queue lanes make for one row or one driver each, many at once under load.
#[derive(Debug, Default)]
struct CoalescedCalls {
    /// [`Store::outbox_get`].
    outbox_get: coalesce::Coalesced<i64, Option<(OutboxItem, RecipientOnFile)>>,
    /// A row's claim before its send ([`Store::outbox_transition`], queued → sending).
    outbox_claim: coalesce::Coalesced<i64, bool>,
    /// [`Store::delivery_start`].
    delivery_start: coalesce::Coalesced<i64, Option<DeliveryContext>>,
    /// [`Store::outbox_receipt_lookup`], by the driver and the message IDs.
    outbox_receipt_lookup: coalesce::Coalesced<(String, Vec<String>), ReceiptLookup>,
    /// [`Store::outbox_mark_delivered`], by the row.
    outbox_mark_delivered: coalesce::Coalesced<coalesce::RowWrite<outbox_status::Delivered>, ()>,
    /// [`Store::threema_inbox_finish`], by the row.
    threema_inbox_finish: coalesce::Coalesced<coalesce::RowWrite<(String, bool)>, bool>,
    /// [`Store::driver_on_file`], by the ID's hash and the ID.
    driver_on_file: coalesce::Coalesced<(String, String), OnFile>,
}

/// Connections of the queues' own SQLite pool at most: SQLite writes one at a time anyway.
/// They are kept for its statements and transactions (`db`).
const QUEUE_CONNECTIONS: u32 = 2;

/// How a pool's SQLite connections commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Synced to disk before the commit returns (`synchronous=FULL`, sqlx's default).
    Synced,
    /// Written to the log; the caller waits for `WalSync` (see `queue_commit`).
    Written,
}

/// The queues' database beside `db`: where there is a log to sync (`wal`, SQLite only),
/// connections of their own that leave the disk to `WalSync`; `db` itself otherwise.
fn queue_db(
    db: &Db,
    wal: Option<&queue_commit::WalSync>,
    options: AnyConnectOptions,
    max_connections: u32,
) -> Db {
    match wal {
        Some(_) => {
            let connections = max_connections.min(QUEUE_CONNECTIONS);
            let pool = pool_options(DbKind::Sqlite, connections, Commit::Written)
                .connect_lazy_with(options);
            Db::new(pool, true, connections as usize)
        }
        None => db.clone(),
    }
}

/// The pool of `kind`'s `options`, with the connections a store keeps (`db`): on SQLite up to
/// `max_connections` for statements outside transactions, besides as many in the pool for
/// the transactions outside the queues.
fn db(kind: DbKind, max_connections: u32, options: AnyConnectOptions) -> Db {
    let pool = pool_options(kind, max_connections, Commit::Synced).connect_lazy_with(options);
    Db::new(pool, kind == DbKind::Sqlite, max_connections as usize)
}

/// A store's pool of `max_connections` at most, its SQLite connections committing as `commit`.
fn pool_options(kind: DbKind, max_connections: u32, commit: Commit) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings a connection before lending it: on SQLite a round trip to the
        // connection's thread for every statement, and a local file has no link to lose.
        .test_before_acquire(kind == DbKind::Postgres)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if kind == DbKind::Postgres {
                    // A process stopped inside a transaction (SIGSTOP) would hold its row
                    // locks until it wakes, the lease row's among them: the server ends such a
                    // session, and a standby can take over.
                    sqlx::query("SET idle_in_transaction_session_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                }
                if kind == DbKind::Sqlite && commit == Commit::Written {
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
}

impl Store {
    /// The connection pool, for a store of its own over the same database (the crypto state).
    pub fn pool(&self) -> AnyPool {
        self.db.pool().clone()
    }

    /// `connect_keyed` with a fixed audit key: for tests and benches, which read what they
    /// wrote through the same store. The bridge and its commands use `connect_keyed`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        Self::connect_keyed(url, max_connections, AuditKey::new([0; 32])).await
    }

    /// The same database through `max_connections` connections of its own (opened as they
    /// are needed), unfenced: for work that must not wait for this store's busy pool. Nothing
    /// is migrated again.
    pub fn with_own_connections(&self, max_connections: u32) -> Store {
        let options = (*self.db.pool().connect_options()).clone();
        let db = db(self.kind, max_connections, options.clone());
        Store {
            queue_db: queue_db(&db, self.wal.as_deref(), options, max_connections),
            db,
            wal: self.wal.clone(),
            kind: self.kind,
            audit_key: self.audit_key.clone(),
            fence: Arc::new(Fence::open()),
            coalesced: Arc::default(),
        }
    }

    /// Connects (creating a SQLite file and its folder if needed), applies migrations and
    /// moves audit entries from before the chain into it.
    pub async fn connect_keyed(
        url: &str,
        max_connections: u32,
        audit_key: AuditKey,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let kind = DbKind::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
        let url = match kind {
            DbKind::Sqlite => prepare_sqlite_url(url)?,
            DbKind::Postgres => url.to_owned(),
        };
        // Held until the schema is this release's: the switch to WAL below is a change of the
        // file too.
        let migrating = match sqlite_file(&url) {
            Some(file) => Some(lock_for_migration(file).await?),
            None => None,
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = pool_options(kind, max_connections, Commit::Synced)
            .connect_with(options.clone())
            .await?;
        if kind == DbKind::Sqlite {
            // WAL is a property of the database file: readers never block the writer, and it
            // stays set for every later connection. Commits are synced (`synchronous=FULL`),
            // the queues' in groups (`queue_commit`).
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        let db = Db::new(pool, kind == DbKind::Sqlite, max_connections as usize);
        let mut store = Store {
            queue_db: db.clone(),
            db,
            wal: None,
            kind,
            audit_key,
            fence: Arc::new(Fence::open()),
            coalesced: Arc::default(),
        };
        store.migrate().await?;
        store.audit_seal_legacy().await?;
        drop(migrating);
        if kind == DbKind::Sqlite {
            store.wal = queue_commit::WalSync::find(store.db.pool())
                .await?
                .map(Arc::new);
        }
        // Until here `db` served the queues too (the migrations ran before the log was known).
        store.queue_db = queue_db(&store.db, store.wal.as_deref(), options, max_connections);
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.kind {
            DbKind::Sqlite => &SQLITE_MIGRATIONS,
            DbKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        // sqlx holds an advisory lock on PostgreSQL while it migrates: of several processes
        // starting at once (a rolling upgrade of a pair), one migrates, the others wait and
        // then find nothing to do.
        match migrator.run(self.db.pool()).await {
            // Applied but unknown here, and newer than anything this binary has (an unknown
            // older one is a damaged history, reported as sqlx says it).
            Err(sqlx::migrate::MigrateError::VersionMissing(found))
                if found > migrator.iter().map(|m| m.version).max().unwrap_or(0) =>
            {
                let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
                Err(StoreError::NewerSchema { found, known })
            }
            other => other.map_err(StoreError::Migrate),
        }
    }

    /// Readiness probe: one round trip.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.db).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.queue_db.close().await;
        self.db.close().await;
    }
}

/// Waits for, then holds, the lock that makes one process at a time migrate a SQLite file. sqlx's
/// migration lock is PostgreSQL's advisory lock and locks nothing on SQLite: a command line
/// started with the bridge would apply the migration the bridge is applying, and fail on it
/// ("duplicate column"). The lock is on `<database>.migrate.lock`, never on the database file:
/// closing any descriptor of that file would drop SQLite's own (POSIX) locks on it.
async fn lock_for_migration(database: std::path::PathBuf) -> Result<std::fs::File, StoreError> {
    let locked = tokio::task::spawn_blocking(move || {
        let file = open_lock_file(&beside(&database, ".migrate.lock"))?;
        file.lock()?;
        Ok(file)
    });
    match locked.await {
        Ok(locked) => locked.map_err(StoreError::MigrationLock),
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The file `<database><suffix>` beside a SQLite database (its locks).
pub(crate) fn beside(database: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push(suffix);
    path.into()
}

/// A file to take a lock on, opened read-only where it exists (a lock needs no write access: a
/// file left by another user still works) and created, with its folder, where not.
pub(crate) fn open_lock_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    std::fs::File::open(path).or_else(|_| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
    })
}

/// The file of a `sqlite://` database URL (`None` for PostgreSQL and for `:memory:`).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let (file, _) = sqlite_file_and_query(url);
    (file != ":memory:" && !file.is_empty()).then(|| file.into())
}

/// A `sqlite:` URL's file and its query (after `?`, empty if none).
fn sqlite_file_and_query(url: &str) -> (&str, &str) {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    path.split_once('?').unwrap_or((path, ""))
}

/// Adds `mode=rwc` (create if missing) and makes the folder.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let (file, query) = sqlite_file_and_query(url);
    let folder = std::path::Path::new(file)
        .parent()
        .filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = folder.filter(|_| file != ":memory:") {
        std::fs::create_dir_all(dir).map_err(StoreError::CreateDir)?;
    }
    if file != ":memory:" {
        create_private(std::path::Path::new(file)).map_err(StoreError::CreateDir)?;
    }
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    Ok(format!("sqlite://{file}?{}", params.join("&")))
}

/// Creates the database file readable by its owner only (it holds messages and personal data),
/// whatever the umask; SQLite gives its journal files the same mode. An existing file is left
/// as it is.
fn create_private(file: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// Reads an ID column as its type (`ThreemaId`, `OwnedRoomId`, `OwnedEventId`, …), parsed once
/// here; `Corrupt` when it holds something else.
fn id_column<T: TryFrom<String>>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    T::try_from(row.try_get::<String, _>(column)?).map_err(|_| StoreError::corrupt(table, column))
}

/// How many rows one multi-row `INSERT` takes at most: far below either database's limit on
/// placeholders (32,766 in SQLite, 65,535 in PostgreSQL) at a few columns a row.
const ROWS_PER_INSERT: usize = 250;

/// `n` placeholders numbered on from `$first`, comma-separated: `$3, $4, $5`. For lists of
/// values and rows of one statement: each statement is a round trip to the database (for
/// SQLite, to its connection's thread), so many rows go in one.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A queue row's text (what was written, or its box) in `Debug`: only its length.
struct Withheld<'a>(&'a str);

impl std::fmt::Debug for Withheld<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_new_sqlite_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data/bridge.db");
        prepare_sqlite_url(&format!("sqlite://{}", file.display())).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // An existing file (and its mode) is left alone.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        prepare_sqlite_url(&format!("sqlite://{}", file.display())).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
    }

    /// The queues' rows in a log line (`{:?}`): what was written and the driver's nickname are
    /// not in it.
    #[test]
    fn queue_rows_debug_without_what_was_written() {
        let said = "Ladeliste Kiesgrube Nord";
        let inbox = InboxItem {
            seq: 1,
            dedup_key: "$e".into(),
            room_id: "!r:d.test".into(),
            kind: InboxKind::Event,
            event_type: "m.room.message".into(),
            sender: Some("@d:d.test".into()),
            payload: format!(r#"{{"content":{{"body":"{said}"}}}}"#),
            attempts: 0,
        };
        let callback = ThreemaItem {
            seq: 1,
            sender: "ABCD1234".into(),
            message_id: "0102030405060708".into(),
            date: 0,
            nonce: "00".into(),
            ciphertext: said.into(),
            nickname: Some("Erika Muster".into()),
            attempts: 0,
            received_at: 0,
        };
        let outbox = OutboxItem {
            seq: 1,
            event_id: "$e".try_into().unwrap(),
            recipient: threema_protocol::ThreemaId::parse("ABCD1234").unwrap(),
            part: 0,
            room_id: "!r:d.test".try_into().unwrap(),
            sender: "@d:d.test".try_into().unwrap(),
            payload: format!(r#"{{"body":"{said}"}}"#),
            state: OutboxState::Queued,
            threema_message_id: None,
            error: None,
            attempts: 0,
            resend: 0,
            created_at: 0,
            updated_at: 0,
            hold_until: None,
            broadcast_copy: false,
            status: DeliveryStatus::default(),
        };
        for debug in [
            format!("{inbox:?}"),
            format!("{callback:?}"),
            format!("{outbox:?}"),
        ] {
            assert!(
                debug.contains("seq: 1") && debug.contains(" bytes>"),
                "{debug}"
            );
            assert!(
                !debug.contains("Kiesgrube") && !debug.contains("Erika"),
                "{debug}"
            );
        }
    }

    #[test]
    fn stored_words_read_back_and_junk_is_corrupt() {
        for direction in [Direction::In, Direction::Out] {
            assert_eq!(Direction::parse(direction.as_str()).unwrap(), direction);
        }
        for state in [
            OutboxState::Queued,
            OutboxState::Sending,
            OutboxState::Sent,
            OutboxState::Failed,
            OutboxState::Unknown,
        ] {
            assert_eq!(OutboxState::parse(state.as_str()).unwrap(), state);
        }
        // Junk is no longer read as a default variant, and the error does not repeat it.
        let err = Direction::parse("secret@example.com").unwrap_err();
        assert!(matches!(
            err,
            StoreError::Corrupt {
                table: "message",
                column: "direction"
            }
        ));
        assert_eq!(err.to_string(), "corrupt value in message.direction");
        assert!(InboxKind::parse("").is_err());
        assert!(BroadcastState::parse("Started").is_err());
        assert!(Reaction::parse("thumbs").is_err());
        assert!(RoomStateKind::parse("nick").is_err());
        assert!(!err.is_transient());
    }
}
