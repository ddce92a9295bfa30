//! The simulator's shared state: one mutex over everything mutable (never held across an
//! await), a seeded RNG, a change counter that waiters watch, and task bookkeeping so reset and
//! shutdown can cancel timers and deliveries.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::body::Bytes;
use rand::{Rng, RngCore, SeedableRng, rngs::StdRng};
use tokio::sync::{mpsc, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    callback::{CallbackAttempt, CallbackJob, CallbackOutcome},
    clock::Clock,
    config::{RateLimit, SimConfig},
    error::SimError,
    faults::{Fault, Faults},
    metrics::Metrics,
    users::User,
};

pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) clock: Clock,
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) callback_tx: mpsc::UnboundedSender<CallbackJob>,
    inner: Mutex<Inner>,
    rng: Mutex<StdRng>,
    changed: watch::Sender<u64>,
}

/// A blob on the simulated blob server (uploaded by the Gateway client or by a phone).
pub(crate) struct Blob {
    /// Shared, so downloads do not copy.
    pub(crate) data: Bytes,
    pub(crate) persist: bool,
    pub(crate) first_download: Option<Instant>,
}

pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn take(&mut self, limit: RateLimit) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * limit.per_second;
        self.tokens = (self.tokens + refill).min(f64::from(limit.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

pub(crate) struct Inner {
    pub(crate) callback_url: Option<String>,
    pub(crate) credits: i64,
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) blobs: HashMap<String, Blob>,
    pub(crate) faults: Faults,
    pub(crate) callbacks: Vec<CallbackAttempt>,
    /// Form bodies of the callbacks delivered, in order (for replays).
    pub(crate) delivered: Vec<String>,
    pub(crate) outcomes: HashMap<String, CallbackOutcome>,
    pub(crate) metrics: Metrics,
    buckets: HashMap<&'static str, Bucket>,
    /// Bumped by reset; queued callbacks of an older generation are dropped.
    pub(crate) generation: u64,
    /// Cancelled by reset: phone timers and callback deliveries of this generation.
    pub(crate) generation_token: CancellationToken,
}

impl Shared {
    pub(crate) fn new(
        config: SimConfig,
        base_url: String,
        callback_tx: mpsc::UnboundedSender<CallbackJob>,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let http = reqwest::Client::builder()
            // Callbacks go to loopback test servers; an HTTP(S)_PROXY in the environment must
            // not capture them.
            .no_proxy()
            .user_agent(concat!("threema-gateway-sim/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("reqwest client with default TLS settings");
        Shared {
            clock: Clock::new(config.start_time, config.time_scale),
            inner: Mutex::new(Inner {
                callback_url: config.callback_url.clone(),
                credits: config.credits,
                users: BTreeMap::new(),
                blobs: HashMap::new(),
                faults: Faults::default(),
                callbacks: Vec::new(),
                delivered: Vec::new(),
                outcomes: HashMap::new(),
                metrics: Metrics::default(),
                buckets: HashMap::new(),
                generation: 0,
                generation_token: shutdown.child_token(),
            }),
            config,
            base_url,
            http,
            shutdown,
            tasks: TaskTracker::new(),
            callback_tx,
            rng: Mutex::new(rng),
            changed: watch::channel(0).0,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("simulator state lock poisoned")
    }

    /// Wakes everyone waiting in [`Shared::wait_for`].
    pub(crate) fn notify(&self) {
        self.changed
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// Waits until `check` finds what it looks for; re-checks after every state change.
    pub(crate) async fn wait_for<T>(
        &self,
        what: impl FnOnce() -> String,
        timeout: Duration,
        mut check: impl FnMut(&Inner) -> Option<T>,
    ) -> Result<T, SimError> {
        // Subscribe before the first check, so a change in between is not missed.
        let mut changes = self.changed.subscribe();
        let wait = async {
            loop {
                if let Some(found) = check(&self.lock()) {
                    return found;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| SimError::Timeout {
                what: what(),
                timeout,
            })
    }

    pub(crate) fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.lock().expect("rng lock").fill_bytes(&mut out);
        out
    }

    /// A random padding draw in 1..=255 (§5.2).
    pub(crate) fn random_padding(&self) -> u8 {
        self.rng.lock().expect("rng lock").random_range(1..=255)
    }

    pub(crate) fn new_message_id(&self) -> String {
        hex::encode(self.random_bytes::<8>())
    }

    pub(crate) fn take_fault(&self, endpoint: &str) -> Option<Fault> {
        let mut rng = self.rng.lock().expect("rng lock");
        self.lock().faults.take(endpoint, &mut *rng)
    }

    /// One token of the endpoint's bucket; `false` means 429.
    pub(crate) fn take_rate_token(&self, endpoint: &'static str) -> bool {
        let Some(limit) = self.config.bulk_rate_limit else {
            return true;
        };
        let mut inner = self.lock();
        inner
            .buckets
            .entry(endpoint)
            .or_insert_with(|| Bucket {
                tokens: f64::from(limit.burst),
                last: Instant::now(),
            })
            .take(limit)
    }

    /// A non-persistent blob expires `blob_retention_after_download` (simulated) after its first
    /// download through the API.
    pub(crate) fn blob_is_live(&self, blob: &Blob) -> bool {
        let retention = self.clock.scaled(self.config.blob_retention_after_download);
        blob.persist
            || blob
                .first_download
                .is_none_or(|first| first.elapsed() < retention)
    }

    /// Runs `task` until it ends, the simulator resets or shuts down.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let token = self.lock().generation_token.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = token.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// Sleeps for a simulated delay (scaled by `time_scale`).
    pub(crate) async fn sleep_simulated(&self, delay: Duration) {
        let delay = self.clock.scaled(delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Drops messages, blobs, attempts, faults and counters; cancels pending timers and
    /// deliveries; restores the starting balance and the clock. Users stay unless `users`.
    pub(crate) fn reset(&self, users: bool) {
        let mut inner = self.lock();
        inner.generation_token.cancel();
        inner.generation_token = self.shutdown.child_token();
        inner.generation += 1;
        inner.credits = self.config.credits;
        inner.callback_url = self.config.callback_url.clone();
        inner.blobs.clear();
        inner.faults.clear();
        inner.callbacks.clear();
        inner.delivered.clear();
        inner.outcomes.clear();
        inner.metrics = Metrics::default();
        inner.buckets.clear();
        if users {
            inner.users.clear();
        } else {
            for user in inner.users.values_mut() {
                user.inbox.clear();
                user.outbox.clear();
            }
        }
        drop(inner);
        self.clock.reset();
        self.notify();
    }
}
