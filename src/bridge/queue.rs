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
    sync::{Semaphore, mpsc},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

mod arrivals;

pub use arrivals::Arrivals;

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
/// marked with its error and the lane moves on. `arrivals` hands it items as they are stored,
/// or rings its bell.
///
/// A wake-up reads on from the last item seen, which is safe because the store makes rows
/// visible in the order of their numbers (a lower one committing later would be found only by
/// a rescan, after its lane went on). A read that skips numbers is followed by a full rescan
/// soon, and every `POLL` there is one anyway; `in_flight` keeps either pass from dispatching
/// an item twice. A handed item is taken as it is only if its number follows the last one
/// seen (so nothing between was passed over); any other makes the runner read on instead,
/// and one a read saw already is dropped.
pub async fn run<I: Queue>(
    inbox: Arc<I>,
    arrivals: Arc<Arrivals<I::Item>>,
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
    let mut handed = arrivals.receiver();
    let mut lanes = Lanes {
        inbox,
        permits: Arc::new(Semaphore::new(workers)),
        in_flight: Arc::default(),
        tracker: TaskTracker::new(),
        senders: HashMap::new(),
        shutdown: shutdown.clone(),
        metrics,
    };
    let mut last_seq = 0;
    let mut full_scan = true;
    let mut read = true;
    // A deadline, not a timer restarted after each wake-up: under steady traffic the rescan
    // would otherwise never come, and an item committed out of order would wait for a lull.
    let mut next_full_scan = Instant::now();
    loop {
        if full_scan {
            next_full_scan = Instant::now() + POLL;
        }
        let mut cursor = if full_scan { 0 } else { last_seq };
        while read {
            let batch = match lanes.inbox.pending(cursor, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(inbox = I::NAME, error = %e, "cannot read the inbox; retrying");
                    break;
                }
            };
            read = (batch.len() as i64) == BATCH;
            for item in batch {
                let seq = I::seq(&item);
                if !full_scan && seq > cursor + 1 {
                    next_full_scan = next_full_scan.min(Instant::now() + GAP_RESCAN);
                }
                cursor = seq;
                last_seq = last_seq.max(seq);
                lanes.dispatch(item);
            }
        }
        read = true;
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = arrivals.bell().notified() => full_scan = false,
            Some(first) = handed.recv() => {
                full_scan = false;
                read = false;
                let mut items = vec![first];
                while let Ok(item) = handed.try_recv() {
                    items.push(item);
                }
                for item in items {
                    let seq = I::seq(&item);
                    if seq <= last_seq {
                        continue;
                    }
                    if read || seq != last_seq + 1 {
                        read = true;
                        continue;
                    }
                    last_seq = seq;
                    lanes.dispatch(item);
                }
            }
            _ = tokio::time::sleep_until(next_full_scan) => full_scan = true,
        }
    }
    // Rows handed from now on ring the bell (on a standby, passed on to the active process).
    drop(handed);
    let Lanes {
        senders, tracker, ..
    } = lanes;
    drop(senders);
    tracker.close();
    tracker.wait().await;
}

/// The lane workers of a running queue, started as their lanes' first items come.
struct Lanes<I: Queue> {
    inbox: Arc<I>,
    permits: Arc<Semaphore>,
    in_flight: InFlight,
    tracker: TaskTracker,
    senders: HashMap<String, mpsc::UnboundedSender<I::Item>>,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
}

impl<I: Queue> Lanes<I> {
    /// Gives `item` to its lane's worker, unless it is in a lane's hands already.
    fn dispatch(&mut self, item: I::Item) {
        if !(self.in_flight.lock().expect("in-flight set lock")).insert(I::seq(&item)) {
            return;
        }
        let sender = self
            .senders
            .entry(I::lane(&item).to_owned())
            .or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                let worker = LaneWorker {
                    inbox: self.inbox.clone(),
                    permits: self.permits.clone(),
                    in_flight: self.in_flight.clone(),
                    shutdown: self.shutdown.clone(),
                    metrics: self.metrics.clone(),
                };
                self.tracker.spawn(worker.run(rx));
                tx
            });
        // A lane worker only stops at shutdown, so a failed send means we stop too.
        let _ = sender.send(item);
    }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;

    /// A queue in memory: its rows, the reads of them, and what was handled.
    #[derive(Default)]
    struct Rows {
        stored: Mutex<Vec<i64>>,
        reads: AtomicUsize,
        handled: Mutex<Vec<i64>>,
        progress: Notify,
    }

    impl Queue for Rows {
        type Item = i64;
        const NAME: &'static str = "test";

        fn seq(item: &i64) -> i64 {
            *item
        }
        fn lane(_: &i64) -> &str {
            "one lane"
        }
        fn key(item: &i64) -> String {
            item.to_string()
        }
        async fn pending(&self, after_seq: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let handled = self.handled.lock().unwrap().clone();
            let stored = self.stored.lock().unwrap();
            Ok((stored.iter().copied())
                .filter(|seq| *seq > after_seq && !handled.contains(seq))
                .take(limit as usize)
                .collect())
        }
        async fn handle(&self, item: &i64) -> Result<Handled, BridgeError> {
            self.handled.lock().unwrap().push(*item);
            self.progress.notify_one();
            Ok(Handled::ended(Outcome::skipped("test")))
        }
        async fn finish(&self, _: &i64, _: &Outcome) -> Result<(), StoreError> {
            Ok(())
        }
        async fn record_attempt(&self, _: &mut i64) -> Result<(), StoreError> {
            Ok(())
        }
    }

    impl Rows {
        fn store(&self, seqs: &[i64]) {
            self.stored.lock().unwrap().extend(seqs);
        }

        /// Waits until `seqs` are the rows handled, in this order.
        async fn handled(&self, seqs: &[i64]) {
            let wait = async {
                while *self.handled.lock().unwrap() != seqs {
                    self.progress.notified().await;
                }
            };
            if tokio::time::timeout(Duration::from_secs(5), wait)
                .await
                .is_err()
            {
                panic!("handled {:?}, not {seqs:?}", self.handled.lock().unwrap());
            }
        }
    }

    #[tokio::test]
    async fn handed_rows_are_taken_without_a_read_in_order_and_once() {
        let rows = Arc::new(Rows::default());
        rows.store(&[1, 2]);
        let arrivals = Arc::new(Arrivals::new(Arc::new(Notify::new())));
        let shutdown = CancellationToken::new();
        let runner = tokio::spawn(run(
            rows.clone(),
            arrivals.clone(),
            shutdown.clone(),
            4,
            Arc::new(Metrics::new()),
        ));
        rows.handled(&[1, 2]).await;
        let reads = rows.reads.load(Ordering::SeqCst);

        // The next numbers, handed as they are stored: no read.
        rows.store(&[3, 4]);
        arrivals.hand([3, 4]);
        rows.handled(&[1, 2, 3, 4]).await;
        assert_eq!(
            rows.reads.load(Ordering::SeqCst),
            reads,
            "no read for handed rows"
        );

        // 5 stored but not handed (say, by another process): 6 does not follow 4, so the
        // runner reads on from 4 and finds both, in order.
        rows.store(&[5, 6]);
        arrivals.hand([6]);
        rows.handled(&[1, 2, 3, 4, 5, 6]).await;
        assert_eq!(rows.reads.load(Ordering::SeqCst), reads + 1);

        // A row handed after a read found it is not taken again; the next one is, unread.
        rows.store(&[7]);
        arrivals.hand([5, 6, 7]);
        rows.handled(&[1, 2, 3, 4, 5, 6, 7]).await;
        assert_eq!(rows.reads.load(Ordering::SeqCst), reads + 1);

        shutdown.cancel();
        runner.await.unwrap();
        // Once stopped, a row handed rings the bell (the next runner reads it).
        let rung = arrivals.bell().notified();
        arrivals.hand([8]);
        tokio::time::timeout(Duration::from_secs(1), rung)
            .await
            .expect("the bell rang");
    }
}
