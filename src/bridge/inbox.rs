//! Drains the Matrix inbox: in order within a room, rooms in parallel, and again after a
//! restart (everything not marked handled is loaded anew).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use super::Bridge;
use crate::store::InboxItem;

/// How many pending items are loaded per read.
const BATCH: i64 = 200;
/// Safety net: look for work now and then even without a wake-up.
const POLL: Duration = Duration::from_secs(5);
/// A transient failure of one item blocks its room; retry with backoff up to this delay.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Runs until `shutdown`. Handled items are marked in the store; an item that fails for good is
/// marked with its error and the room moves on. `wake` is notified when new items are stored.
///
/// A wake-up reads on from the last item seen. That misses an item whose sequence number is
/// lower but which committed later (PostgreSQL hands out identity values before commit), so the
/// periodic poll rereads everything pending; `in_flight` keeps either pass from dispatching an
/// item twice.
pub async fn run(
    bridge: Arc<Bridge>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    workers: usize,
) {
    if workers == 0 {
        tracing::warn!("bridge.inbox_workers is 0: transactions are stored but not handled");
        shutdown.cancelled().await;
        return;
    }
    let permits = Arc::new(Semaphore::new(workers));
    let in_flight: InFlight = Arc::default();
    let tracker = TaskTracker::new();
    let mut rooms: HashMap<String, mpsc::UnboundedSender<InboxItem>> = HashMap::new();
    let mut last_seq = 0;
    let mut full_scan = true;
    loop {
        let mut cursor = if full_scan { 0 } else { last_seq };
        loop {
            let batch = match bridge.store.inbox_pending(cursor, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the inbox; retrying");
                    break;
                }
            };
            let done = (batch.len() as i64) < BATCH;
            for item in batch {
                cursor = item.seq;
                last_seq = last_seq.max(item.seq);
                if !in_flight
                    .lock()
                    .expect("in-flight set lock")
                    .insert(item.seq)
                {
                    continue;
                }
                let room = item.room_id.clone();
                let sender = rooms.entry(room).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let worker = RoomWorker {
                        bridge: bridge.clone(),
                        permits: permits.clone(),
                        in_flight: in_flight.clone(),
                        shutdown: shutdown.clone(),
                    };
                    tracker.spawn(worker.run(rx));
                    tx
                });
                // A room worker only stops at shutdown, so a failed send means we are stopping too.
                let _ = sender.send(item);
            }
            if done {
                break;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => full_scan = false,
            _ = tokio::time::sleep(POLL) => full_scan = true,
        }
    }
    drop(rooms);
    tracker.close();
    tracker.wait().await;
}

/// Sequence numbers handed to a room worker and not yet marked handled.
type InFlight = Arc<Mutex<HashSet<i64>>>;

/// Handles one room's items, one after the other.
struct RoomWorker {
    bridge: Arc<Bridge>,
    permits: Arc<Semaphore>,
    in_flight: InFlight,
    shutdown: CancellationToken,
}

impl RoomWorker {
    async fn run(self, mut items: mpsc::UnboundedReceiver<InboxItem>) {
        loop {
            let item = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                item = items.recv() => match item { Some(item) => item, None => return },
            };
            let Ok(_permit) = self.permits.acquire().await else {
                return;
            };
            let span = tracing::info_span!("inbox", seq = item.seq, room_id = %item.room_id, key = %item.dedup_key);
            if !handle_until_done(&self.bridge, &item, &self.shutdown)
                .instrument(span)
                .await
            {
                return;
            }
            self.in_flight
                .lock()
                .expect("in-flight set lock")
                .remove(&item.seq);
        }
    }
}

/// Returns `false` if shutdown interrupted a retry (the item stays pending for the next start).
async fn handle_until_done(
    bridge: &Bridge,
    item: &InboxItem,
    shutdown: &CancellationToken,
) -> bool {
    let mut backoff = Duration::from_millis(500);
    loop {
        let outcome = match bridge.handle_matrix_item(item).await {
            Ok(outcome) => outcome,
            Err(e) if e.is_transient() => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "inbox item failed, will retry");
                if let Err(e) = bridge.store.inbox_record_attempt(item.seq).await {
                    tracing::warn!(error = %e, "cannot count the attempt");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return false,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "inbox item failed for good");
                format!("failed: {e}")
            }
        };
        // Marking must succeed, or the item would be handled again after a restart.
        loop {
            match bridge.store.inbox_finish(item.seq, &outcome).await {
                Ok(_) => {
                    tracing::info!(event_type = %item.event_type, %outcome, "handled inbox item");
                    return true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot mark inbox item handled; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return false,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
    }
}
