//! [`Simulator`], the handle tests and the binary hold: start, inspect, steer, shut down.

use std::{
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::Router;
use tokio::{net::TcpListener, sync::mpsc, task::JoinHandle};
use tracing::{info, warn};

use crate::{
    admin, api,
    callback::{self, CallbackAttempt, CallbackOutcome},
    config::SimConfig,
    crypto,
    error::SimError,
    faults::Fault,
    message::is_threema_id,
    metrics::Metrics,
    state::Shared,
    users::{Behaviour, ReceivedMessage, SentMessage, User, UserInfo, UserMessage, UserSpec, send},
};

/// A running simulator. Cheap to clone; all clones control the same instance.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Simulator {
    /// Serves the Gateway API at the root of `listener` and the admin API under `/_sim/`.
    pub async fn start(config: SimConfig, listener: TcpListener) -> io::Result<Simulator> {
        if !is_threema_id(&config.gateway_id) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid Gateway ID {:?}", config.gateway_id),
            ));
        }
        let address = listener.local_addr()?;
        let (callback_tx, callback_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(
            config,
            format!("http://{address}"),
            callback_tx,
        ));
        let sim = Simulator {
            shared: Arc::clone(&shared),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .nest("/_sim", admin::router(sim.clone()))
            .fallback(api::handle)
            .with_state(Arc::clone(&shared));
        let shutdown = shared.shutdown.clone();
        let server = tokio::spawn(async move {
            let serve =
                axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned());
            if let Err(error) = serve.await {
                warn!(%error, "simulator server stopped");
            }
        });
        let dispatcher = tokio::spawn(callback::run_dispatcher(Arc::clone(&shared), callback_rx));
        sim.tasks
            .lock()
            .expect("task list lock")
            .extend([server, dispatcher]);
        info!(base_url = %shared.base_url, gateway_id = %shared.config.gateway_id, "Threema Gateway simulator listening");
        Ok(sim)
    }

    /// `http://127.0.0.1:PORT`, without trailing slash: the custom endpoint for the SDKs.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    pub fn set_callback_url(&self, url: &str) {
        self.shared.lock().callback_url = Some(url.to_owned());
    }

    pub fn clear_callback_url(&self) {
        self.shared.lock().callback_url = None;
    }

    pub fn callback_url(&self) -> Option<String> {
        self.shared.lock().callback_url.clone()
    }

    /// Adds a phone; panics if the spec is invalid (see [`Simulator::try_add_user`]).
    pub fn add_user(&self, spec: UserSpec) -> UserInfo {
        self.try_add_user(spec)
            .unwrap_or_else(|e| panic!("add_user: {e}"))
    }

    /// Adds a phone with a fresh key pair (from the seed in deterministic mode) unless the spec
    /// fixes the secret key.
    pub fn try_add_user(&self, spec: UserSpec) -> Result<UserInfo, SimError> {
        if !is_threema_id(&spec.id) || spec.id.starts_with('*') {
            return Err(SimError::InvalidId(spec.id));
        }
        let secret_key = spec
            .secret_key
            .unwrap_or_else(|| self.shared.random_bytes::<32>());
        let info = UserInfo {
            id: spec.id.clone(),
            public_key: crypto::public_key(&secret_key),
            nickname: spec.nickname,
            capabilities: spec.capabilities,
            phone: spec.phone,
            email: spec.email,
        };
        let mut inner = self.shared.lock();
        if inner.users.contains_key(&spec.id) || spec.id == self.shared.config.gateway_id {
            return Err(SimError::DuplicateUser(spec.id));
        }
        inner.users.insert(
            spec.id,
            User {
                info: info.clone(),
                secret_key,
                behaviour: spec.behaviour,
                inbox: Vec::new(),
                outbox: Vec::new(),
            },
        );
        Ok(info)
    }

    pub fn remove_user(&self, id: &str) -> bool {
        self.shared.lock().users.remove(id).is_some()
    }

    pub fn users(&self) -> Vec<UserInfo> {
        self.shared
            .lock()
            .users
            .values()
            .map(|user| user.info.clone())
            .collect()
    }

    pub fn user(&self, id: &str) -> Option<UserInfo> {
        self.shared
            .lock()
            .users
            .get(id)
            .map(|user| user.info.clone())
    }

    /// The phone's secret key, for tests that want to encrypt or decrypt on its behalf.
    pub fn user_secret_key(&self, id: &str) -> Option<[u8; 32]> {
        self.shared.lock().users.get(id).map(|user| user.secret_key)
    }

    pub fn set_behaviour(&self, id: &str, behaviour: Behaviour) -> Result<(), SimError> {
        let mut inner = self.shared.lock();
        let user = inner
            .users
            .get_mut(id)
            .ok_or_else(|| SimError::UnknownUser(id.to_owned()))?;
        user.behaviour = behaviour;
        Ok(())
    }

    /// Builds the message like a Threema app, encrypts it for the Gateway ID and queues it for
    /// callback delivery; returns its message ID (16 hex).
    pub async fn send_from_user(
        &self,
        from: &str,
        message: UserMessage,
    ) -> Result<String, SimError> {
        send::send_from_user(&self.shared, from, message)
    }

    /// Everything the Gateway delivered to this phone, decrypted and decoded, in order.
    pub fn inbox(&self, user: &str) -> Vec<ReceivedMessage> {
        self.shared
            .lock()
            .users
            .get(user)
            .map(|user| user.inbox.clone())
            .unwrap_or_default()
    }

    /// Everything this phone sent (including automatic receipts and replies), in order.
    pub fn outbox(&self, user: &str) -> Vec<SentMessage> {
        self.shared
            .lock()
            .users
            .get(user)
            .map(|user| user.outbox.clone())
            .unwrap_or_default()
    }

    /// Waits until the phone has received at least `count` messages and returns its inbox;
    /// panics on timeout, showing what did arrive.
    pub async fn wait_inbox(
        &self,
        user: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedMessage> {
        match self.try_wait_inbox(user, count, timeout).await {
            Ok(inbox) => inbox,
            Err(error) => panic!("{error}; inbox of {user}: {:#?}", self.inbox(user)),
        }
    }

    pub async fn try_wait_inbox(
        &self,
        user: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, SimError> {
        self.shared
            .wait_for(
                || format!("{count} messages in the inbox of {user}"),
                timeout,
                |inner| {
                    let inbox = &inner.users.get(user)?.inbox;
                    (inbox.len() >= count).then(|| inbox.clone())
                },
            )
            .await
    }

    /// Waits until the phone has sent at least `count` messages (e.g. automatic receipts);
    /// panics on timeout.
    pub async fn wait_outbox(
        &self,
        user: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<SentMessage> {
        match self.try_wait_outbox(user, count, timeout).await {
            Ok(outbox) => outbox,
            Err(error) => panic!("{error}; outbox of {user}: {:#?}", self.outbox(user)),
        }
    }

    pub async fn try_wait_outbox(
        &self,
        user: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<SentMessage>, SimError> {
        self.shared
            .wait_for(
                || format!("{count} messages in the outbox of {user}"),
                timeout,
                |inner| {
                    let outbox = &inner.users.get(user)?.outbox;
                    (outbox.len() >= count).then(|| outbox.clone())
                },
            )
            .await
    }

    /// Posts every callback delivered so far once more, newest first: a Gateway that repeats
    /// old deliveries out of order. Not recorded as attempts. Returns what the receiver
    /// answered to each (`None`: no answer).
    pub async fn replay_delivered(&self) -> Vec<Option<u16>> {
        let (url, bodies) = {
            let inner = self.shared.lock();
            (inner.callback_url.clone(), inner.delivered.clone())
        };
        let Some(url) = url else {
            return Vec::new();
        };
        let mut answers = Vec::with_capacity(bodies.len());
        for body in bodies.iter().rev() {
            answers.push(crate::callback::post(&self.shared, &url, body).await.0);
        }
        answers
    }

    /// Posts every delivered callback again, `parallel` at a time in random order, so that
    /// repeats overtake each other in flight. Returns the receiver's answers.
    pub async fn replay_delivered_concurrently(&self, parallel: usize) -> Vec<Option<u16>> {
        use rand::seq::SliceRandom;
        let (url, mut bodies) = {
            let inner = self.shared.lock();
            (inner.callback_url.clone(), inner.delivered.clone())
        };
        let Some(url) = url else {
            return Vec::new();
        };
        bodies.shuffle(&mut rand::rng());
        let queue = std::sync::Mutex::new(bodies);
        let answers = std::sync::Mutex::new(Vec::new());
        let worker = || async {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    return;
                };
                let status = crate::callback::post(&self.shared, &url, &body).await.0;
                answers.lock().unwrap().push(status);
            }
        };
        futures::future::join_all((0..parallel.max(1)).map(|_| worker())).await;
        answers.into_inner().unwrap()
    }

    /// Every callback attempt so far, in order.
    pub fn callbacks(&self) -> Vec<CallbackAttempt> {
        self.shared.lock().callbacks.clone()
    }

    /// Waits until at least `count` callback attempts were made; panics on timeout.
    pub async fn wait_callbacks(&self, count: usize, timeout: Duration) -> Vec<CallbackAttempt> {
        match self.try_wait_callbacks(count, timeout).await {
            Ok(attempts) => attempts,
            Err(error) => panic!("{error}; attempts: {:#?}", self.callbacks()),
        }
    }

    pub async fn try_wait_callbacks(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<CallbackAttempt>, SimError> {
        self.shared
            .wait_for(
                || format!("{count} callback attempts"),
                timeout,
                |inner| (inner.callbacks.len() >= count).then(|| inner.callbacks.clone()),
            )
            .await
    }

    /// Waits until the message was delivered or discarded; panics on timeout.
    pub async fn wait_callback_outcome(
        &self,
        message_id: &str,
        timeout: Duration,
    ) -> CallbackOutcome {
        match self.try_wait_callback_outcome(message_id, timeout).await {
            Ok(outcome) => outcome,
            Err(error) => panic!("{error}; callback attempts: {:#?}", self.callbacks()),
        }
    }

    pub async fn try_wait_callback_outcome(
        &self,
        message_id: &str,
        timeout: Duration,
    ) -> Result<CallbackOutcome, SimError> {
        self.shared
            .wait_for(
                || format!("the callback outcome of {message_id}"),
                timeout,
                |inner| inner.outcomes.get(message_id).copied(),
            )
            .await
    }

    pub fn credits(&self) -> i64 {
        self.shared.lock().credits
    }

    pub fn set_credits(&self, credits: i64) {
        self.shared.lock().credits = credits;
    }

    /// Injects a fault for an endpoint name from [`crate::ENDPOINT_NAMES`] or `*`; replaces an
    /// earlier fault for the same name. Panics on an unknown name, which would never match.
    pub fn inject_fault(&self, endpoint: &str, fault: Fault) {
        assert!(
            endpoint == "*" || api::ENDPOINT_NAMES.contains(&endpoint),
            "unknown endpoint {endpoint:?}; expected one of {:?} or \"*\"",
            api::ENDPOINT_NAMES
        );
        self.shared.lock().faults.insert(endpoint, fault);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    pub fn faults(&self) -> Vec<(String, Fault)> {
        self.shared.lock().faults.list()
    }

    pub fn metrics(&self) -> Metrics {
        self.shared.lock().metrics.clone()
    }

    /// The simulated time (UNIX seconds) used as `date` of phone messages.
    pub fn now(&self) -> u64 {
        self.shared.clock.now_unix()
    }

    /// Moves the simulated clock forward (the `date` of later phone messages).
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Sets the simulated clock `by` behind (`ZERO`: back): later phone messages carry dates
    /// that long ago, as from a phone that was offline or whose clock is wrong.
    pub fn set_clock_behind(&self, by: Duration) {
        self.shared.clock.set_behind(by);
    }

    /// Back to the starting state: no messages, blobs, callbacks, faults or counters; pending
    /// receipts and deliveries cancelled; starting balance and callback URL restored. Users
    /// (with their keys) stay unless `remove_users`.
    pub fn reset(&self, remove_users: bool) {
        self.shared.reset(remove_users);
    }

    /// Stops serving, cancels timers and deliveries, and waits for everything to end.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        let handles: Vec<_> = self
            .tasks
            .lock()
            .expect("task list lock")
            .drain(..)
            .collect();
        for handle in handles {
            let abort = handle.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), handle)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}
