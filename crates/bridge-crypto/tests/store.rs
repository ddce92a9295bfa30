//! matrix-sdk-crypto's own store suite (`cryptostore_integration_tests!`, the one its stores
//! are held to) over the bridge's tables, in SQLite and in PostgreSQL
//! (`TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/test`).
//!
//! Each suite name is a device of its own (an account of the store), all in one database per
//! dialect and test process, as the bridge keeps all its devices in one database.

use std::sync::OnceLock;

use bridge_crypto::{AccountStore, CryptoDatabase, StoreKey};
use ruma::OwnedUserId;
use sqlx::AnyPool;

const KEY: [u8; 32] = [7; 32];

/// The suite's store name as the user ID of the device it stands for.
fn account(name: &str) -> OwnedUserId {
    OwnedUserId::try_from(format!("@{}:store.test", hex::encode(name))).unwrap()
}

/// Runs `setup` once per process on a runtime of its own: each test has its own runtime, and a
/// pool must not outlive the runtime it was made on.
fn once(cell: &'static OnceLock<String>, setup: fn() -> String) -> &'static str {
    cell.get_or_init(|| std::thread::spawn(setup).join().unwrap())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn open(url: &str, name: &str, clear: bool) -> AccountStore {
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(url).await.unwrap();
    let db = CryptoDatabase::open(pool, &StoreKey::new(KEY))
        .await
        .unwrap();
    if clear {
        db.forget_account(&account(name)).await.unwrap();
    }
    db.account(&account(name))
}

mod sqlite {
    use super::*;

    static URL: OnceLock<String> = OnceLock::new();

    async fn get_store(name: &str, _passphrase: Option<&str>, clear_data: bool) -> AccountStore {
        open(once(&URL, sqlite_with_tables), name, clear_data).await
    }

    matrix_sdk_crypto::cryptostore_integration_tests!();
    matrix_sdk_crypto::cryptostore_integration_tests_time!();
}

mod postgres {
    use super::*;

    static URL: OnceLock<String> = OnceLock::new();

    /// A fresh database for this process's run (the previous run's dropped).
    fn setup() -> String {
        let admin = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = "bridge_crypto_store_test";
        runtime().block_on(async {
            sqlx::any::install_default_drivers();
            let pool = AnyPool::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for these tests: {e}"));
            for sql in [
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                format!("CREATE DATABASE {name}"),
            ] {
                sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
            }
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            let pool = AnyPool::connect(&url).await.unwrap();
            sqlx::raw_sql(include_str!(
                "../../../migrations/postgres/0027_crypto_store.sql"
            ))
            .execute(&pool)
            .await
            .unwrap();
            url
        })
    }

    async fn get_store(name: &str, _passphrase: Option<&str>, clear_data: bool) -> AccountStore {
        open(once(&URL, setup), name, clear_data).await
    }

    matrix_sdk_crypto::cryptostore_integration_tests!();
    matrix_sdk_crypto::cryptostore_integration_tests_time!();
}

/// The database alone gives nothing away: another key cannot open the store, and no row holds
/// a user ID, a room ID or a key in the clear.
#[tokio::test]
async fn the_state_is_sealed_with_the_configured_key() {
    use matrix_sdk_crypto::{Account, store::CryptoStore, store::types::PendingChanges};
    use ruma::{device_id, user_id};

    static URL: OnceLock<String> = OnceLock::new();
    let url = once(&URL, sqlite_with_tables);
    let store = open(url, "sealed", true).await;
    let alice = Account::with_device_id(user_id!("@alice:example.org"), device_id!("ALICEDEVICE"));
    let identity = alice.identity_keys().curve25519.to_base64();
    store
        .save_pending_changes(PendingChanges {
            account: Some(alice),
        })
        .await
        .unwrap();

    let pool = AnyPool::connect(url).await.unwrap();
    let other = CryptoDatabase::open(pool.clone(), &StoreKey::new([8; 32])).await;
    assert!(
        matches!(other, Err(bridge_crypto::Error::WrongKey)),
        "{other:?}"
    );

    use sqlx::Row;
    let rows = sqlx::query("SELECT account, kind, id, value FROM crypto_value")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(rows.len() >= 2, "the cipher and the account are stored");
    for row in rows {
        let value: Vec<u8> = row.try_get("value").unwrap();
        let value = String::from_utf8_lossy(&value);
        for secret in ["alice", "ALICEDEVICE", identity.as_str()] {
            assert!(!value.contains(secret), "{secret} in a stored value");
        }
        let id: String = row.try_get("id").unwrap();
        assert!(!id.contains("alice"));
    }
    let reopened = open(url, "sealed", false).await;
    let account = reopened
        .load_account()
        .await
        .unwrap()
        .expect("the account is kept");
    assert_eq!(account.identity_keys().curve25519.to_base64(), identity);
}

/// A SQLite database with the bridge's crypto tables, in a folder kept for the process.
fn sqlite_with_tables() -> String {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let url = format!("sqlite://{}/crypto.db?mode=rwc", dir.path().display());
    runtime().block_on(async {
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(&url).await.unwrap();
        sqlx::raw_sql("PRAGMA journal_mode=WAL")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::raw_sql(include_str!(
            "../../../migrations/sqlite/0027_crypto_store.sql"
        ))
        .execute(&pool)
        .await
        .unwrap();
    });
    url
}
