//! Fresh databases for tests: a SQLite file in a temp dir, or a new PostgreSQL database on the
//! server named by `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`).

use sqlx::{Connection, PgConnection};

pub const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/bridge.db", dir.path().display());
        TestDb::Sqlite { _dir: dir, url }
    }

    /// A new, empty database; `None` (the test is skipped) when no server answers, unless
    /// `CI=true`, where PostgreSQL is required.
    pub async fn postgres() -> Option<Self> {
        let admin_url =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!(
                    "skipping: PostgreSQL at {admin_url} unavailable ({e}); CI=true makes this an error"
                );
                return None;
            }
            Err(e) => panic!("PostgreSQL at {admin_url} is required in CI: {e}"),
        };
        let name = format!("tb_{}", hex::encode(rand::random::<[u8; 6]>()));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').map(|(b, _)| b).unwrap();
        let url = format!("{base}/{name}");
        Some(TestDb::Postgres {
            admin_url,
            name,
            url,
        })
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    /// Drops a PostgreSQL test database (SQLite files go with their temp dir).
    pub async fn cleanup(self) {
        let TestDb::Postgres {
            admin_url, name, ..
        } = self
        else {
            return;
        };
        if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(&drop).execute(&mut admin).await;
        }
    }
}

/// Every recorded room state, `(room, kind, key, value)`.
pub async fn room_states(
    store: &threema_bridge::store::Store,
) -> Vec<(String, threema_bridge::store::RoomStateKind, String, String)> {
    let mut rows = Vec::new();
    store
        .each_room_state(|room, kind, key, value| rows.push((room, kind, key, value)))
        .await
        .unwrap();
    rows
}
