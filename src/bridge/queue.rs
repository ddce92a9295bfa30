//! Drains a durable queue (the Matrix and Threema inboxes, the outbox, the broadcast fan-out):
//! in order within a lane (a room, a sender, a recipient), lanes in parallel, and again after a
//! restart, since everything not marked handled is loaded anew. A transient failure blocks its
//! lane and is retried with backoff.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    sync::{Notify, Semaphore, mpsc},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use super::BridgeError;
pub use super::outcome::Outcome;
use crate::{metrics::Metrics, store::StoreError};

/// How many pending items are loaded per read.
const BATCH: i64 = 200;
/// Safety net and rescan: look for work at least this often, wake-ups or not.
const POLL: Duration = Duration::from_secs(5);
/// A wake-up read that skipped sequence numbers: look again this soon. Queue rows commit in
/// the order of their numbers (`store::queue_order`), so a skipped number is one a dedup used up;
/// the rescan is the net should a row ever be stored some other way.
const GAP_RESCAN: Duration = Duration::from_millis(100);
/// A transient failure of one item blocks its lane; retry with backoff up to this delay. This
/// is the only retry of the flows' homeserver and Gateway requests (their clients try once), so
/// it also bounds how long after an outage a lane notices the other side is back.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What handling an item came to. `ended`: the handling's last commit also marked the item's
/// row with `outcome` (one commit where there would be two), and the runner has nothing left to
/// mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub outcome: Outcome,
    pub ended: bool,
}

impl Handled {
    /// The row was marked with `outcome` in the commit of the handling's last write.
    pub fn ended(outcome: Outcome) -> Self {
        Handled {
            outcome,
            ended: true,
        }
    }
}

/// An outcome the runner still marks the row with.
impl From<Outcome> for Handled {
    fn from(outcome: Outcome) -> Self {
        Handled {
            outcome,
            ended: false,
        }
    }
}

/// One durable inbox: where its items come from, how one is handled, how it is marked done.
pub trait Queue: Send + Sync + 'static {
    type Item: Send + Sync + 'static;
    /// For logs: "matrix" or "threema".
    const NAME: &'static str;

    fn seq(item: &Self::Item) -> i64;
    /// Items of one lane are handled one after the other, in sequence order.
    fn lane(item: &Self::Item) -> &str;
    /// The item's identity in logs (event id, sender and message id).
    fn key(item: &Self::Item) -> String;

    fn pending(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Self::Item>, StoreError>> + Send;
    fn handle(
        &self,
        item: &Self::Item,
    ) -> impl Future<Output = Result<Handled, BridgeError>> + Send;
    fn finish(
        &self,
        item: &Self::Item,
        outcome: &Outcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Counts a failed attempt on the stored row and on `item`: the next attempt, here or after
    /// a restart, knows an earlier one may have gone through (a send whose answer was lost).
    fn record_attempt(
        &self,
        item: &mut Self::Item,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Runs until `shutdown`. Handled items are marked in the store; an item that fails for good is
/// marked with its error and the lane moves on. `wake` is notified when new items are stored.
///
/// A wake-up reads on from the last item seen, which is safe because the store makes rows
/// visible in the order of their numbers (a lower one committing later would be found only by
/// a rescan, after its lane went on). A read that skips numbers is followed by a full rescan
/// soon, and every `POLL` there is one anyway; `in_flight` keeps either pass from dispatching
/// an item twice.
pub async fn run<I: Queue>(
    inbox: Arc<I>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
    workers: usize,
    metrics: Arc<Metrics>,
) {
    if workers == 0 {
        tracing::warn!(
            inbox = I::NAME,
            "bridge.inbox_workers is 0: items are stored but not handled"
        );
        shutdown.cancelled().await;
        return;
    }
    let permits = Arc::new(Semaphore::new(workers));
    let in_flight: InFlight = Arc::default();
    let tracker = TaskTracker::new();
    let mut lanes: HashMap<String, mpsc::UnboundedSender<I::Item>> = HashMap::new();
    let mut last_seq = 0;
    let mut full_scan = true;
    // A deadline, not a timer restarted after each wake-up: under steady traffic the rescan
    // would otherwise never come, and an item committed out of order would wait for a lull.
    let mut next_full_scan = Instant::now();
    loop {
        if full_scan {
            next_full_scan = Instant::now() + POLL;
        }
        let mut cursor = if full_scan { 0 } else { last_seq };
        loop {
            let batch = match inbox.pending(cursor, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(inbox = I::NAME, error = %e, "cannot read the inbox; retrying");
                    break;
                }
            };
            let done = (batch.len() as i64) < BATCH;
            for item in batch {
                let seq = I::seq(&item);
                if !full_scan && seq > cursor + 1 {
                    next_full_scan = next_full_scan.min(Instant::now() + GAP_RESCAN);
                }
                cursor = seq;
                last_seq = last_seq.max(seq);
                if !in_flight.lock().expect("in-flight set lock").insert(seq) {
                    continue;
                }
                let sender = lanes.entry(I::lane(&item).to_owned()).or_insert_with(|| {
                    let (tx, rx) = mpsc::unbounded_channel();
                    let worker = LaneWorker {
                        inbox: inbox.clone(),
                        permits: permits.clone(),
                        in_flight: in_flight.clone(),
                        shutdown: shutdown.clone(),
                        metrics: metrics.clone(),
                    };
                    tracker.spawn(worker.run(rx));
                    tx
                });
                // A lane worker only stops at shutdown, so a failed send means we stop too.
                let _ = sender.send(item);
            }
            if done {
                break;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = wake.notified() => full_scan = false,
            _ = tokio::time::sleep_until(next_full_scan) => full_scan = true,
        }
    }
    drop(lanes);
    tracker.close();
    tracker.wait().await;
}

/// Sequence numbers handed to a lane worker and not yet marked handled.
type InFlight = Arc<Mutex<HashSet<i64>>>;

/// Handles one lane's items, one after the other.
struct LaneWorker<I> {
    inbox: Arc<I>,
    permits: Arc<Semaphore>,
    in_flight: InFlight,
    shutdown: CancellationToken,
    /// Each item's outcome and each retry, per queue.
    metrics: Arc<Metrics>,
}

impl<I: Queue> LaneWorker<I> {
    async fn run(self, mut items: mpsc::UnboundedReceiver<I::Item>) {
        loop {
            let mut item = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                item = items.recv() => match item { Some(item) => item, None => return },
            };
            let Ok(_permit) = self.permits.acquire().await else {
                return;
            };
            let span = tracing::info_span!(
                "inbox",
                inbox = I::NAME,
                seq = I::seq(&item),
                lane = %I::lane(&item),
                key = %I::key(&item)
            );
            if !self.handle_until_done(&mut item).instrument(span).await {
                return;
            }
            self.in_flight
                .lock()
                .expect("in-flight set lock")
                .remove(&I::seq(&item));
        }
    }

    /// Returns `false` if shutdown interrupted a retry (the item stays pending for next start).
    async fn handle_until_done(&self, item: &mut I::Item) -> bool {
        let mut backoff = Duration::from_millis(500);
        loop {
            let handled = match self.inbox.handle(item).await {
                Ok(handled) => handled,
                Err(e) if e.is_transient() => {
                    if let Some(asked) = e.retry_after() {
                        backoff = backoff.max(asked);
                    }
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "inbox item failed, will retry");
                    self.metrics.queue_retry(I::NAME);
                    if let Err(e) = self.inbox.record_attempt(&mut *item).await {
                        tracing::warn!(error = %e, "cannot count the attempt");
                    }
                    if !self.pause(&mut backoff).await {
                        return false;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "inbox item failed for good");
                    Outcome::failed(e.to_string()).into()
                }
            };
            let Handled { outcome, ended } = handled;
            if ended {
                tracing::info!(%outcome, "handled inbox item");
                self.metrics.queue_item(I::NAME, outcome.kind());
                return true;
            }
            // Marking must succeed, or the item would be handled again after a restart.
            loop {
                match self.inbox.finish(item, &outcome).await {
                    Ok(()) => {
                        tracing::info!(%outcome, "handled inbox item");
                        self.metrics.queue_item(I::NAME, outcome.kind());
                        return true;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot mark inbox item handled; retrying");
                        if !self.pause(&mut backoff).await {
                            return false;
                        }
                    }
                }
            }
        }
    }

    /// Waits `backoff` (then doubles it); `false` if shutdown came first.
    async fn pause(&self, backoff: &mut Duration) -> bool {
        let wait = *backoff;
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(wait) => true,
        }
    }
}
