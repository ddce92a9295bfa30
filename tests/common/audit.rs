//! The audit chain as a test sees it from outside the bridge: rows read and written with SQL.

use sqlx::{Connection, Row};
use threema_bridge::audit::{Hash, SealedEntry, chain::link};

/// Moves every entry `ms` into the past and hashes the chain again, as someone with the
/// database and the code could: the tests of retention need old entries, and such a rewrite is
/// exactly what only a checkpoint reveals.
pub async fn backdate(url: &str, ms: i64) {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("UPDATE audit SET at = at - $1")
        .bind(ms)
        .execute(&mut *tx)
        .await
        .unwrap();
    let start: String = sqlx::query_scalar("SELECT start_head FROM audit_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let mut head = Hash::parse(&start).unwrap();
    let rows = sqlx::query(
        "SELECT seq, at, action, actor_ref, actor, subject_ref, subject, details FROM audit \
         ORDER BY seq",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    for row in rows {
        let entry = SealedEntry {
            seq: row.get("seq"),
            at: row.get("at"),
            action: row.get("action"),
            actor_ref: row.get("actor_ref"),
            actor: row.get("actor"),
            subject_ref: row.get("subject_ref"),
            subject: row.get("subject"),
            details: row.get("details"),
        };
        let leaf = entry.leaf();
        head = link(head, leaf);
        sqlx::query("UPDATE audit SET leaf = $1, head = $2 WHERE seq = $3")
            .bind(leaf.hex())
            .bind(head.hex())
            .bind(entry.seq)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE audit_head SET head = $1 WHERE id = 1")
        .bind(head.hex())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}
