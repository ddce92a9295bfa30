//! Events the homeserver never pushed. Synapse keeps the events waiting for the next appservice
//! transaction in memory and forgets them when it stops (synapse#11637): a dispatcher's message
//! sent just before a restart would never reach the driver. So at start, and whenever the
//! homeserver was away, the bridge reads the recent timeline of each room it keeps and stores
//! what it has not seen (the inbox dedups on event ids). Until that is done, a transaction
//! waits before it is stored, so what was missed keeps its place before anything newer. It is
//! held rather than refused: Synapse would take a refusal as the bridge being down, and drops
//! receipts and typing while it thinks so. Only a catch-up longer than [`HOLD`] refuses it
//! (Synapse keeps it and sends it again).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, stream};
use ruma::{RoomId, events::AnyTimelineEvent, serde::Raw};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::pushed;
use crate::{
    bridge::{Ghosts, threema_to_matrix::quarantine::QUARANTINE_ROOM},
    matrix::{MatrixClient, MatrixError},
    store::{NewInboxItem, Store, StoreError, now_ms},
};

/// How often the homeserver is asked whether it is there, and how often again while it is not.
/// A restart takes longer than this, so it is noticed even when nothing else is going on.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const PROBE_WHILE_AWAY: Duration = Duration::from_secs(1);
/// How far before the last contact the timeline is read: Synapse holds events in memory for one
/// transaction's round trip (its appservice timeout is a minute), plus clock skew.
pub(crate) const MARGIN_MS: i64 = 2 * 60 * 1000;
const PAGE: u32 = 100;
/// A room with more than this many pages since then is left to Synapse: storing only the newest
/// part would put the older events, which Synapse still holds, after them.
const MAX_PAGES: usize = 10;
/// Rooms read at once.
const CONCURRENCY: usize = 4;
/// How long a transaction waits for a running catch-up (Synapse gives up on it after a minute).
pub const HOLD: Duration = Duration::from_secs(30);
/// After a catch-up, the timeline is read once more this much later, beside the pushes. Synapse
/// can leave a transaction unsent when it is made just as its retries of the bridge succeed:
/// `send` sees the appservice down and leaves it to the retrier, which has just found nothing
/// left and marks it up (`appservice/scheduler.py`); that event would wait for the next failure.
const SECOND_LOOK: Duration = Duration::from_secs(10);

/// Whether a catch-up is due, and from when: transactions wait until it is done.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// Read the timeline from this time on (ms since the epoch).
    due: Mutex<Option<i64>>,
    /// Rung when a catch-up is done.
    finished: tokio::sync::Notify,
}

impl CatchUp {
    pub fn accepts_pushes(&self) -> bool {
        self.due().is_none()
    }

    /// Waits up to `limit` until no catch-up is due; whether none is.
    pub async fn wait(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let finished = self.finished.notified();
            if self.accepts_pushes() {
                return true;
            }
            if tokio::time::timeout_at(deadline, finished).await.is_err() {
                return self.accepts_pushes();
            }
        }
    }

    /// At start: whatever Synapse may have dropped since the newest event received (`None`:
    /// the bridge has received nothing yet, so there is nothing to miss).
    pub fn due_from_last_received(&self, last_received_ms: Option<i64>) {
        if let Some(at) = last_received_ms {
            self.due_from(at - MARGIN_MS);
        }
    }

    /// Until no catch-up is due (`false`: `shutdown` came first). The Matrix inbox starts
    /// after the first one of a term, which may reorder its unhandled rows.
    pub async fn first_done(&self, shutdown: &CancellationToken) -> bool {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                done = self.wait(Duration::from_secs(3600)) => if done { return true },
            }
        }
    }

    /// No catch-up here: this process is standby now (`ha`), and the active one catches up.
    pub fn leave_to_active(&self) {
        self.done();
    }

    fn due(&self) -> Option<i64> {
        *self.due.lock().expect("catch-up lock")
    }

    fn due_from(&self, since_ms: i64) {
        let mut due = self.due.lock().expect("catch-up lock");
        *due = Some(due.map_or(since_ms, |earlier| earlier.min(since_ms)));
    }

    fn done(&self) {
        *self.due.lock().expect("catch-up lock") = None;
        self.finished.notify_waiters();
    }
}

/// What the watch reads the timelines with and stores into, not the whole bridge.
pub struct Watcher {
    /// Shared with the appservice endpoint, whose transactions wait for it.
    pub state: Arc<CatchUp>,
    pub store: Store,
    pub matrix: MatrixClient,
    /// Tells the bridge's own events apart: they are not stored.
    pub ghosts: Arc<Ghosts>,
    /// The Matrix inbox's wake, rung when missed events are stored.
    pub wake: Arc<Notify>,
    /// The registration's id, for the ping that makes the homeserver retry at once.
    pub registration_id: String,
}

/// Watches the homeserver until `shutdown`: a catch-up at start if one is due, and one after
/// every time the homeserver could not be reached.
pub async fn watch(watcher: Watcher, shutdown: CancellationToken) {
    let probe = watcher.matrix.once();
    let mut last_contact = now_ms();
    // The first catch-up runs before the Matrix inbox does (see `CatchUp::first_done`), so it
    // may put what it finds in its place among the unhandled rows. Only one due at the start
    // is that one: a later one (the homeserver away) runs beside the Matrix inbox.
    let mut first = watcher.state.due().is_some();
    // The second look after a catch-up: when, and from when.
    let mut second_look: Option<(tokio::time::Instant, i64)> = None;
    loop {
        let reachable = probe.versions().await.is_ok();
        if reachable
            && watcher.state.due().is_none()
            && let Some((at, since)) = second_look
            && tokio::time::Instant::now() >= at
        {
            // Stored after what came since (not held, not in place): late, but not lost.
            match catch_up(&watcher, since, false).await {
                Ok(()) => second_look = None,
                Err(e) => {
                    tracing::warn!(error = %e, "second look at the timeline failed; trying again")
                }
            }
        }
        match (reachable, watcher.state.due()) {
            (true, None) => {
                last_contact = now_ms();
                first = false;
            }
            (true, Some(since)) => match catch_up(&watcher, since, first).await {
                Ok(()) => {
                    second_look = Some((tokio::time::Instant::now() + SECOND_LOOK, since));
                    first = false;
                    watcher.state.done();
                    last_contact = now_ms();
                    resume_pushes(&watcher).await;
                }
                Err(e) => tracing::warn!(error = %e, "catch-up failed; trying again"),
            },
            (false, None) => {
                first = false;
                tracing::warn!(
                    "homeserver unreachable: its timeline is read again when it is back"
                );
                watcher.state.due_from(last_contact - MARGIN_MS);
            }
            (false, Some(_)) => {}
        }
        let wait = match watcher.state.due() {
            Some(_) => PROBE_WHILE_AWAY,
            None => PROBE_EVERY,
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Stores the events of every room the bridge keeps from `since_ms` on that it has not seen;
/// `in_place`: in their place among the unhandled rows ([`Store::inbox_push_in_place`]).
async fn catch_up(
    watcher: &Watcher,
    since_ms: i64,
    in_place: bool,
) -> Result<(), crate::bridge::BridgeError> {
    let rooms = watcher.store.bridged_rooms(QUARANTINE_ROOM).await?;
    let results: Vec<Result<u64, StoreError>> = stream::iter(rooms.iter().cloned())
        .map(|room_id| async move { catch_up_room(watcher, &room_id, since_ms, in_place).await })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut stored = 0;
    for result in results {
        stored += result?;
    }
    if stored > 0 {
        tracing::warn!(
            stored,
            rooms = rooms.len(),
            "caught up: events the homeserver never pushed are stored"
        );
        watcher.wake.notify_one();
    } else {
        tracing::info!(rooms = rooms.len(), "caught up: nothing was missed");
    }
    Ok(())
}

/// One room's missed events, stored; how many. A room that cannot be read (the client retried
/// already) is left out with a warning: one room must not hold up every other's messages.
async fn catch_up_room(
    watcher: &Watcher,
    room_id: &RoomId,
    since_ms: i64,
    in_place: bool,
) -> Result<u64, StoreError> {
    match missed_in_room(watcher, room_id, since_ms).await {
        Ok(Some(items)) if in_place => match watcher.store.inbox_push_in_place(&items).await {
            // Stored after the rest rather than not at all: the Matrix inbox waits for this.
            Err(e) if !e.is_transient() => {
                tracing::warn!(%room_id, error = %e, "missed events stored after the newer ones");
                watcher.store.inbox_push(&items).await
            }
            stored => stored,
        },
        Ok(Some(items)) => watcher.store.inbox_push(&items).await,
        Ok(None) => {
            tracing::warn!(%room_id, "too much since the last contact to catch up; left to the homeserver");
            Ok(0)
        }
        Err(e) => {
            tracing::warn!(%room_id, error = %e, "room not readable; not caught up");
            Ok(0)
        }
    }
}

/// The room's timeline from `since_ms` on as inbox rows, oldest first; `None` if it is longer
/// than [`MAX_PAGES`].
async fn missed_in_room(
    watcher: &Watcher,
    room_id: &RoomId,
    since_ms: i64,
) -> Result<Option<Vec<NewInboxItem>>, MatrixError> {
    let mut newest_first: Vec<Raw<AnyTimelineEvent>> = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = watcher
            .matrix
            .timeline_page(room_id, None, from.as_deref(), PAGE)
            .await?;
        let mut reached = page.chunk.is_empty() || page.end.is_none();
        for raw in page.chunk {
            if sent_at(&raw).is_some_and(|ts| ts < since_ms) {
                reached = true;
                break;
            }
            newest_first.push(raw);
        }
        if reached {
            let ours = |sender: &str| watcher.ghosts.sent_by_bridge(sender);
            return Ok(Some(
                newest_first
                    .iter()
                    .rev()
                    .filter_map(|raw| pushed::timeline_item(raw, ours))
                    .collect(),
            ));
        }
        from = page.end;
    }
    Ok(None)
}

fn sent_at(raw: &Raw<AnyTimelineEvent>) -> Option<i64> {
    raw.get_field::<i64>("origin_server_ts").ok().flatten()
}

/// Synapse retries a transaction refused after [`HOLD`] with a growing backoff; a ping makes
/// it retry now.
async fn resume_pushes(watcher: &Watcher) {
    let txn = format!("catch-up-{}", hex::encode(rand::random::<[u8; 8]>()));
    if let Err(e) = watcher.matrix.ping(&watcher.registration_id, &txn).await {
        tracing::warn!(error = %e, "ping after the catch-up failed; the homeserver retries on its own");
    }
}
