//! Group commit for the Gateway's callbacks: a callback is answered 200 only once it is durable,
//! and with one commit each the commits (SQLite's fsync, PostgreSQL's flush and the queue lock)
//! are what a busy inbox spends its time on. Callbacks that arrive while a commit is under way
//! wait for the next one and share it: one writer takes whatever has queued up, stores it in one
//! transaction and then answers each. Nothing is answered before its commit, so the guarantee is
//! the one of a commit per callback; a failed commit fails all of its callbacks (the Gateway
//! retries each).
//!
//! By hand: what a group commit needs here is a channel, a loop and a oneshot per caller, and
//! no crate offers it over sqlx.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{NewThreemaItem, Store, StoreError, ThreemaItem};

/// Callbacks stored in one commit at most (a bound on one transaction's size and time).
const MOST_PER_COMMIT: usize = 256;
/// Callbacks waiting for the writer at most; beyond that a caller waits to be queued.
const WAITING: usize = 4 * MOST_PER_COMMIT;

/// The callback's row if it was new (a callback the Gateway sent again is stored once).
type Stored = Option<ThreemaItem>;
type Answer = oneshot::Sender<Result<Stored, Arc<StoreError>>>;

/// Why a callback was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The writer stopped while it held the callback.
    #[error("the callback writer has stopped")]
    Stopped,
}

/// The way into the Threema inbox for callbacks: stores each durably, sharing commits with the
/// callbacks that arrived together. Cloned per request; the writer stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct ThreemaIntake {
    waiting: mpsc::Sender<(NewThreemaItem, Answer)>,
    /// Stores a callback alone should the writer be gone (it stopped on a bug).
    store: Store,
}

impl ThreemaIntake {
    /// Starts the writer on the current runtime.
    pub fn start(store: Store) -> Self {
        let (waiting, queue) = mpsc::channel(WAITING);
        tokio::spawn(write(store.clone(), queue));
        ThreemaIntake { waiting, store }
    }

    /// Stores `item` and returns, once it is durable, its row as the queue reads it if it was
    /// new (a callback the Gateway sent again is stored once).
    pub async fn push(&self, item: NewThreemaItem) -> Result<Stored, IntakeError> {
        let (answer, answered) = oneshot::channel();
        if let Err(refused) = self.waiting.send((item, answer)).await {
            tracing::error!("the callback writer has stopped; storing a callback alone");
            let (item, _) = refused.0;
            let stored = store_alone(&self.store, &item).await;
            return stored.map_err(IntakeError::Store);
        }
        match answered.await {
            Ok(stored) => stored.map_err(IntakeError::Store),
            // The writer stopped with it (unanswered: the Gateway sends it again).
            Err(_) => Err(IntakeError::Stopped),
        }
    }
}

/// The writer: whatever queued up while the last commit ran goes into the next one.
async fn write(store: Store, mut queue: mpsc::Receiver<(NewThreemaItem, Answer)>) {
    let mut batch = Vec::with_capacity(MOST_PER_COMMIT);
    while queue.recv_many(&mut batch, MOST_PER_COMMIT).await > 0 {
        let (items, answers): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match store.threema_inbox_push_all(&items).await {
            Ok(new) => answer_all(answers, new.into_iter().map(Ok)),
            // One callback the database refuses must not fail the others with it, again at
            // each of the Gateway's retries: each alone.
            Err(e) if items.len() > 1 && !e.is_transient() => {
                for (item, answer) in items.iter().zip(answers) {
                    let _ = answer.send(store_alone(&store, item).await);
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                answer_all(answers, std::iter::repeat_with(|| Err(e.clone())));
            }
        }
    }
}

async fn store_alone(store: &Store, item: &NewThreemaItem) -> Result<Stored, Arc<StoreError>> {
    let stored = store
        .threema_inbox_push_all(std::slice::from_ref(item))
        .await;
    Ok(stored.map_err(Arc::new)?.into_iter().next().flatten())
}

fn answer_all(
    answers: Vec<Answer>,
    results: impl Iterator<Item = Result<Stored, Arc<StoreError>>>,
) {
    for (answer, result) in answers.into_iter().zip(results) {
        // A caller that went away (its client hung up) is answered by nobody.
        let _ = answer.send(result);
    }
}
