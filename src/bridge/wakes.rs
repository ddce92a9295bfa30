//! The bell of each background worker, rung when there is new work for it (a row stored in its
//! durable queue, a change it watches), so that workers need not poll for it.

use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Wakes {
    /// The Matrix inbox has new rows (an appservice transaction was stored).
    pub matrix: Arc<Notify>,
    /// The Threema inbox has new rows (callbacks, held messages queued again).
    pub threema: Arc<Notify>,
    /// The outbox has new rows.
    pub outbox: Arc<Notify>,
    /// Broadcasts have recipients to fan out to.
    pub broadcast: Arc<Notify>,
    /// A broadcast's board may have changed (started, answered, resent).
    pub board: Arc<Notify>,
    /// The rooms should be brought in line with the directory (SCIM, a new portal).
    pub directory: Arc<Notify>,
    /// A directory pass ran: an offboarded driver may be due for erasure.
    pub erasures: Arc<Notify>,
}
