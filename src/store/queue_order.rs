//! Queue rows become visible in the order of their sequence numbers. The queues read on from
//! the last number they saw (`bridge::queue::run`), but PostgreSQL numbers a row when it is
//! inserted, not when it commits: a row committed after one numbered later would be passed over
//! by that read and found only by the next full scan, after its lane had handled the newer row
//! (a dispatcher's message overtaking the one sent before it). So inserting into a queue takes
//! that queue's lock, held until the transaction ends, by every process on the database. SQLite
//! has one writer at a time already.

use sqlx::AnyConnection;

use super::{DbKind, Store, StoreError};

/// The tables read as queues, each with a lock of its own.
#[derive(Clone, Copy, Debug)]
pub(super) enum QueueTable {
    MatrixInbox = 1,
    ThreemaInbox = 2,
    Outbox = 3,
    BroadcastDelivery = 4,
}

/// The first key of the bridge's advisory locks (the second is the table): "TBRQ".
const LOCKS: i32 = 0x5442_5251;

impl Store {
    /// Waits until no other transaction inserts into `table`, and keeps the others waiting
    /// until this one ends. Call it before the transaction's first insert into `table`.
    pub(super) async fn lock_queue(
        &self,
        conn: &mut AnyConnection,
        table: QueueTable,
    ) -> Result<(), StoreError> {
        if self.kind == DbKind::Postgres {
            // In FROM: the function returns `void`, a type the Any driver cannot read.
            sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock($1, $2)")
                .bind(LOCKS)
                .bind(table as i32)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}
