//! Startup and shutdown: `App::build` checks the homeserver and binds the listeners,
//! `App::run` serves until the shutdown token is cancelled.

use std::{net::SocketAddr, sync::Arc};

use secrecy::ExposeSecret;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    bridge::{
        Bridge,
        audit::{self, AuditError, AuditRoom, Checkpoints},
        broadcast::BroadcastFanout,
        credits,
        directory::closed_rooms,
        lifecycle::{due::DueErasures, erase::IdHasher, requests, retention},
        matrix_to_threema::{MatrixInbox, ThreemaOutbox, catch_up},
        prune, queue,
        threema_to_matrix::ThreemaInbox,
    },
    config::Config,
    ha::{
        Fence,
        lease::{self, Ended, Held, Lease},
    },
    http::{self, AppState, threema::CallbackState},
    matrix::crypto::RoomCrypto,
    matrix::{MatrixClient, MatrixError},
    metrics::Metrics,
    store::{Store, StoreError},
    threema::{ThreemaClient, ThreemaError},
};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot open the database")]
    Store(#[from] StoreError),
    #[error(
        "the homeserver at {url} does not answer /_matrix/client/versions (is homeserver.url right and the homeserver running?)"
    )]
    HomeserverUnreachable { url: String, source: MatrixError },
    #[error(
        "the homeserver rejects our as_token ({0}): is {1} listed in its app_service_config_files, and was it restarted since?"
    )]
    TokenRejected(MatrixError, String),
    #[error(
        "the homeserver takes our as_token for {actual}, not {expected}: is the registration's sender_localpart right?"
    )]
    WrongBot { expected: String, actual: String },
    #[error("cannot listen on {addr} ({key})")]
    Listen {
        key: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up the Gateway client")]
    Threema(#[source] ThreemaError),
    #[error(
        "the homeserver cannot reach the bridge at {url} ({source}): check appservice.url in the registration and that the homeserver can connect to it"
    )]
    PingFailed { url: String, source: MatrixError },
    #[error("cannot set up the bridge bot")]
    Bot(#[source] MatrixError),
    /// `bridge.encryption`: the crypto state cannot be opened (a changed key, the database).
    #[error("cannot set up end-to-bridge encryption: {0}")]
    Encryption(String),
    #[error("cannot read the employee directory from the database")]
    Directory(#[source] crate::bridge::BridgeError),
    #[error("cannot set up the audit checkpoints")]
    Audit(#[source] AuditError),
    #[error("the HTTP server failed")]
    Serve(#[source] std::io::Error),
    /// SQLite serves one process: two would both send every queued message.
    #[error(
        "another threema-bridge already serves the SQLite database {0} (SQLite is for one \
         process; run two on PostgreSQL)"
    )]
    SqliteInUse(String),
    #[error("cannot lock the SQLite database {0}")]
    SqliteLock(String, #[source] std::io::Error),
}

pub struct App {
    config: Arc<Config>,
    bridge: Arc<Bridge>,
    listener: TcpListener,
    callback_listener: TcpListener,
    /// `metrics.listen`, when configured.
    metrics_listener: Option<TcpListener>,
    /// `api.listen`, when configured.
    api_listener: Option<TcpListener>,
    /// Held while this process serves a SQLite database (see [`serve_alone`]).
    _sqlite_lock: Option<std::fs::File>,
    checkpoints: Option<Arc<Checkpoints>>,
    /// On PostgreSQL: the lease, and this process's first term as the active one if it took
    /// the lease at once.
    ha: Option<(Lease, Option<Held>)>,
}

impl App {
    /// Opens the store, checks that the homeserver answers and accepts our token, and binds the
    /// appservice and callback listeners. Nothing is served yet. The Gateway is not contacted:
    /// the bridge starts (and stores what arrives) while Threema is unreachable.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let sqlite_lock = serve_alone(config.database.url.expose_secret())?;
        let config = Arc::new(config);
        let bridge = Arc::new(connect_serving(config.clone()).await?);
        let listener = bind("appservice.listen", config.appservice.listen).await?;
        let callback_listener =
            bind("threema.callback_listen", config.threema.callback_listen).await?;
        let metrics_listener = match config.metrics.listen {
            Some(addr) => Some(bind("metrics.listen", addr).await?),
            None => None,
        };
        let api_listener = match config.api.listen {
            Some(addr) => Some(bind("api.listen", addr).await?),
            None => None,
        };
        // Asked once the listener is ours: the lease's holder is named by its address.
        let ha = match bridge.store.is_shared() {
            true => {
                // Its own connections: a renewal never waits for a busy pool.
                let lease = Lease::new(
                    bridge.store.with_own_connections(2),
                    lease::holder(config.appservice.listen),
                    config.ha.lease,
                    bridge.store.fence().clone(),
                    bridge.metrics.clone(),
                );
                let first = lease.try_take().await?;
                Some((lease, first))
            }
            false => None,
        };
        // Before a transaction is stored: what the homeserver never pushed keeps its place
        // before what it pushes now. A standby catches up when it takes over.
        if !matches!(ha, Some((_, None))) {
            begin_term(&bridge).await?;
        }
        let room = AuditRoom {
            matrix: bridge.matrix.clone(),
            notices: bridge.notices.clone(),
            domain: config.homeserver.domain.clone(),
            admins: config.bridge.permissions.admins().cloned().collect(),
        };
        let checkpoints = Checkpoints::new(&config, bridge.store.clone(), Some(room))
            .map_err(StartupError::Audit)?
            .map(Arc::new);
        // Which settings this run had: a changed one shows as a new hash.
        let details = format!(
            "version {}, configuration sha256 {}",
            env!("CARGO_PKG_VERSION"),
            config.fingerprint
        );
        (bridge.store)
            .audit("bridge", "bridge.started", "configuration", &details)
            .await?;
        Ok(App {
            config,
            bridge,
            listener,
            callback_listener,
            metrics_listener,
            api_listener,
            _sqlite_lock: sqlite_lock,
            checkpoints,
            ha,
        })
    }

    pub fn appservice_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn callback_addr(&self) -> SocketAddr {
        self.callback_listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        (self.metrics_listener.as_ref()).map(|l| l.local_addr().expect("a bound listener"))
    }

    /// Where the integration API is served, if it is.
    pub fn api_addr(&self) -> Option<SocketAddr> {
        (self.api_listener.as_ref()).map(|l| l.local_addr().expect("a bound listener"))
    }

    pub fn bridge(&self) -> Arc<Bridge> {
        self.bridge.clone()
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets the workers finish the
    /// item at hand and returns. Whatever is still pending is handled after the next start.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), StartupError> {
        let App {
            config,
            bridge,
            listener,
            callback_listener,
            metrics_listener,
            api_listener,
            _sqlite_lock,
            checkpoints,
            ha,
        } = self;
        let running = Running {
            config,
            bridge,
            tasks: TaskTracker::new(),
            shutdown,
            checkpoints,
        };
        let server = running.serve_appservice(listener);
        let callback_server = running.serve_callbacks(callback_listener);
        let metrics_server = metrics_listener.map(|l| running.serve_metrics(l));
        let api_server = api_listener.map(|l| running.serve_api(l));
        let Running {
            config,
            bridge,
            tasks,
            shutdown,
            ..
        } = &running;

        if let Err(e) = startup_with_server(bridge, config).await {
            if let Some((lease, Some(held))) = &ha {
                lease.release(*held).await;
            }
            shutdown.cancel();
            let _ = tokio::join!(server, callback_server);
            for server in metrics_server.into_iter().chain(api_server) {
                let _ = server.await;
            }
            return Err(e);
        }
        bridge
            .started
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(listen = %config.appservice.listen, callbacks = %config.threema.callback_listen, "bridge running");
        match ha {
            Some((lease, first)) => running.take_turns(lease, first).await,
            None => {
                running.spawn_workers(shutdown, tasks);
                shutdown.cancelled().await;
            }
        }
        tracing::info!("shutting down");
        tasks.close();
        tasks.wait().await;
        bridge.store.close().await;
        let servers = [server, callback_server].into_iter().chain(metrics_server);
        for server in servers.chain(api_server) {
            if let Ok(Err(e)) = server.await {
                return Err(StartupError::Serve(e));
            }
        }
        Ok(())
    }
}

/// What the running bridge's tasks share: each is spawned on `tasks` and ends when `shutdown`
/// is cancelled.
struct Running {
    config: Arc<Config>,
    bridge: Arc<Bridge>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
    checkpoints: Option<Arc<Checkpoints>>,
}

/// A server's task: it ends at shutdown, or when serving fails.
type Server = JoinHandle<std::io::Result<()>>;

impl Running {
    /// The appservice API (and health) for the homeserver; a transaction wakes the Matrix
    /// inbox.
    fn serve_appservice(&self, listener: TcpListener) -> Server {
        let state = AppState {
            bridge: self.bridge.clone(),
            hs_token: self.config.appservice.registration.hs_token.clone(),
            probe: self.bridge.matrix.once(),
            max_body_bytes: self.config.appservice.max_body_bytes,
        };
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            axum::serve(listener, http::router(state))
                .with_graceful_shutdown(token.cancelled_owned())
                .await
        })
    }

    /// The Gateway's callbacks, with the peer's address for the refusal guard; a callback
    /// wakes the Threema inbox.
    fn serve_callbacks(&self, listener: TcpListener) -> Server {
        let state = CallbackState::new(self.bridge.clone(), &self.config.threema);
        let body_timeout = self.config.threema.callback_body_timeout;
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            let router = http::threema::router(state, body_timeout);
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(token.cancelled_owned())
            .await
        })
    }

    /// `GET /metrics` for Prometheus.
    fn serve_metrics(&self, listener: TcpListener) -> Server {
        let router = http::metrics::router(self.bridge.clone());
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
        })
    }

    /// The integration API (`api.listen`).
    fn serve_api(&self, listener: TcpListener) -> Server {
        let router = http::api::router(self.bridge.clone());
        let token = self.shutdown.clone();
        self.tasks.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(token.cancelled_owned())
                .await
        })
    }

    /// Active/standby until shutdown: standby (passing wake-ups on) while another process
    /// holds the lease, active (the workers, woken by the standbys too) while this one does.
    async fn take_turns(&self, lease: Lease, mut first: Option<Held>) {
        let (bridge, shutdown) = (&self.bridge, &self.shutdown);
        loop {
            let held = match first.take() {
                Some(held) => held,
                None => {
                    tracing::info!(
                        holder = lease.holder(),
                        "standby: another process holds the lease"
                    );
                    let standby = shutdown.child_token();
                    let forward = bridge
                        .wakes
                        .forward_to_active(&bridge.store, standby.clone());
                    let taken = tokio::select! {
                        taken = lease.take(shutdown) => taken,
                        _ = forward => None,
                    };
                    standby.cancel();
                    let Some(held) = taken else { return };
                    if let Err(e) = self.take_over().await {
                        tracing::error!(error = %crate::error_chain::chain(&e), "cannot take over; standby again");
                        lease.release(held).await;
                        // Another standby's turn, or this one's again in a moment.
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(self.config.ha.lease / 3) => {}
                        }
                        continue;
                    }
                    held
                }
            };
            tracing::info!(
                token = held.token,
                holder = lease.holder(),
                "active: this process holds the lease"
            );
            let (term, tasks) = (shutdown.child_token(), TaskTracker::new());
            self.spawn_workers(&term, &tasks);
            let url = self.config.database.url.clone();
            let wakes = bridge.clone();
            let relay_term = term.clone();
            tasks.spawn(async move { wakes.wakes.relay_from_standbys(&url, relay_term).await });
            let ended = lease.hold(held, shutdown).await;
            // Lost: the fence stopped the outside calls already, and what the workers have in
            // hand stops before it leaves. Shut down: they finish the item at hand.
            term.cancel();
            tasks.close();
            tasks.wait().await;
            // A standby holds no devices: their state is the active one's now.
            if let Some(crypto) = bridge.matrix.crypto() {
                crypto.new_term();
            }
            // A standby leaves catching up with the homeserver to the active one: it stores
            // what is pushed to it meanwhile.
            bridge.catch_up.leave_to_active();
            if ended == Ended::Shutdown {
                lease.release(held).await;
                return;
            }
        }
    }

    /// What a process taking over reads anew: a restore to settle, the homeserver's timeline
    /// since the last event stored (the old active may have died with events in flight), and
    /// the directory as the old active left it.
    async fn take_over(&self) -> Result<(), StartupError> {
        let bridge = &self.bridge;
        begin_term(bridge).await?;
        (bridge.directory.load_view().await).map_err(StartupError::Directory)
    }

    /// The queue runners and the periodic jobs (boards, credits, directory, the homeserver
    /// watch, audit checkpoints), for as long as `shutdown` lasts.
    fn spawn_workers(&self, shutdown: &CancellationToken, tasks: &TaskTracker) {
        let bridge = &self.bridge;
        if let Some(checkpoints) = &self.checkpoints {
            let every = self.config.audit.checkpoint_every;
            tasks.spawn(checkpoints.clone().watch(every, shutdown.clone()));
        }
        let workers = self.config.bridge.inbox_workers;
        let matrix_inbox = queue::run(
            Arc::new(MatrixInbox(bridge.matrix_to_threema.clone())),
            bridge.wakes.matrix.clone(),
            shutdown.clone(),
            workers,
            bridge.metrics.clone(),
        );
        let (catch_up, token) = (bridge.catch_up.clone(), shutdown.clone());
        tasks.spawn(async move {
            if catch_up.first_done(&token).await {
                matrix_inbox.await;
            }
        });
        tasks.spawn(queue::run(
            Arc::new(ThreemaInbox(bridge.threema_to_matrix.clone())),
            bridge.wakes.threema.clone(),
            shutdown.clone(),
            workers,
            bridge.metrics.clone(),
        ));
        tasks.spawn(queue::run(
            Arc::new(ThreemaOutbox(bridge.outbox.clone())),
            bridge.wakes.outbox.clone(),
            shutdown.clone(),
            workers,
            bridge.metrics.clone(),
        ));
        tasks.spawn(queue::run(
            Arc::new(BroadcastFanout::new(bridge.broadcasts.clone())),
            // Its rows are found by reading: the bell alone.
            Arc::new(queue::Arrivals::new(bridge.wakes.broadcast.clone())),
            shutdown.clone(),
            self.config.broadcast.concurrency,
            bridge.metrics.clone(),
        ));
        tasks.spawn(bridge.broadcasts.clone().run_boards(shutdown.clone()));
        tasks.spawn(credits::watch(bridge.credits.clone(), shutdown.clone()));
        tasks.spawn(bridge.conversations.clone().watch(shutdown.clone()));
        tasks.spawn(bridge.conversations.clone().run_boards(shutdown.clone()));
        tasks.spawn(bridge.schedules.clone().run(shutdown.clone()));
        tasks.spawn(bridge.integration.clone().run(shutdown.clone()));
        tasks.spawn(bridge.webhooks.clone().run(shutdown.clone()));
        tasks.spawn(
            bridge
                .conversations
                .clone()
                .run_shift_summaries(shutdown.clone()),
        );
        let watcher = catch_up::Watcher {
            state: bridge.catch_up.clone(),
            store: bridge.store.clone(),
            matrix: bridge.matrix.once(),
            ghosts: bridge.ghosts.clone(),
            wake: bridge.wakes.matrix.bell().clone(),
            registration_id: self.config.appservice.registration.id.clone(),
        };
        tasks.spawn(catch_up::watch(watcher, shutdown.clone()));
        tasks.spawn(closed_rooms::close_existing(
            bridge.directory.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(bridge.directory.clone().run(shutdown.clone()));
        tasks.spawn(prune::watch(
            bridge.store.clone(),
            self.config.homeserver.domain.clone(),
            self.config.retention.inbox,
            shutdown.clone(),
        ));
        tasks.spawn(requests::watch(
            bridge.store.clone(),
            bridge.notices.clone(),
            bridge.texts.clone(),
            shutdown.clone(),
        ));
        if self.config.retention.has_periods() {
            tasks.spawn(retention::watch(
                bridge.store.clone(),
                bridge.matrix.clone(),
                self.config.synapse_admin.clone(),
                self.config.retention.clone(),
                self.config.homeserver.domain.clone(),
                shutdown.clone(),
            ));
        }
        if let (Some(after), Some(admin)) =
            (self.config.gdpr.erase_after, &self.config.synapse_admin)
        {
            let due = DueErasures {
                store: bridge.store.clone(),
                matrix: bridge.matrix.clone(),
                admin: admin.clone(),
                domain: self.config.homeserver.domain.clone(),
                hasher: IdHasher::new(&self.config),
                zone: self.config.bridge.timezone.clone(),
                after,
                wake: bridge.wakes.erasures.clone(),
                directory: bridge.wakes.directory.clone(),
            };
            tasks.spawn(due.run(shutdown.clone()));
        }
    }
}

/// Opens the store, checks that the homeserver answers and accepts our token, and sets up the
/// Gateway client (not contacted: the bridge starts, and stores what arrives, while Threema is
/// unreachable). Enough for one-off commands (`directory sync`); `App` adds the listeners.
pub async fn connect(config: Arc<Config>) -> Result<Bridge, StartupError> {
    connect_as(config, false).await
}

/// `connect` for `serve`: on PostgreSQL, everything it changes outside and every queue state
/// change is fenced by the lease (`ha`).
async fn connect_serving(config: Arc<Config>) -> Result<Bridge, StartupError> {
    connect_as(config, true).await
}

async fn connect_as(config: Arc<Config>, serving: bool) -> Result<Bridge, StartupError> {
    let metrics = Arc::new(Metrics::new());
    let store = Store::connect_keyed(
        config.database.url.expose_secret(),
        config.database.max_connections,
        audit::key(&config),
    )
    .await?;
    let fence = Arc::new(match serving && store.is_shared() {
        true => Fence::leased(metrics.ha_fenced_calls.clone()),
        false => Fence::open(),
    });
    let store = store.fenced_by(fence.clone());
    let mut matrix = MatrixClient::new(
        &config.homeserver.url,
        config.appservice.registration.as_token.clone(),
    )
    .with_metrics(metrics.homeserver_requests.clone())
    .with_fence(fence.clone());
    let versions =
        matrix
            .versions()
            .await
            .map_err(|source| StartupError::HomeserverUnreachable {
                url: config.homeserver.url.to_string(),
                source,
            })?;
    matrix.set_versions(versions);
    let bot = config.bot_user_id();
    let me = matrix.whoami(None).await.map_err(|e| {
        StartupError::TokenRejected(e, config.appservice.registration_path.display().to_string())
    })?;
    if me != bot {
        return Err(StartupError::WrongBot {
            expected: bot.to_string(),
            actual: me.to_string(),
        });
    }
    // Only the serving process holds the devices: two `OlmMachine`s on one device's state (a
    // command beside the bridge) would spoil it. Commands post unencrypted.
    if serving
        && let (Some(key), Some(policy)) = (
            config.bridge.encryption.key(),
            config.bridge.encryption.policy(),
        )
    {
        let crypto = RoomCrypto::open(
            &matrix,
            store.pool(),
            &key.0,
            config.homeserver.domain.clone(),
            config.bot_user_id(),
            policy,
        )
        .await
        .map_err(|e| StartupError::Encryption(e.to_string()))?;
        matrix = matrix.clone().with_crypto(Arc::new(crypto));
    }
    let threema = ThreemaClient::new(&config.threema)
        .map_err(StartupError::Threema)?
        .with_metrics(metrics.gateway_requests.clone())
        .with_fence(fence);
    let bridge = Bridge::new(config, store, matrix, threema, metrics);
    bridge
        .directory
        .load_view()
        .await
        .map_err(StartupError::Directory)?;
    Ok(bridge)
}

/// Before a term's workers start as the active process: a restored database settled, and a
/// catch-up with the homeserver's timeline due from the newest event stored.
async fn begin_term(bridge: &Bridge) -> Result<(), StartupError> {
    bridge.settle_restore().await?;
    bridge.matrix_to_threema.new_term();
    // The devices' state as the other process may have left it (`ha`); the bot's device there
    // before anyone writes to it (made and cross-signed the first time). If the homeserver
    // stumbles now, it is opened when first needed.
    if let Some(crypto) = bridge.matrix.crypto() {
        crypto.new_term();
        if let Err(e) = crypto.open_bot_device().await {
            tracing::warn!(error = %e, "the bot's crypto device is not open yet; opened when needed");
        }
    }
    let last_received = bridge.store.inbox_last_received().await?;
    bridge.catch_up.due_from_last_received(last_received);
    Ok(())
}

/// On SQLite, only one process serves: an exclusive lock on `<database>.serve.lock`, held
/// until this process ends (the system drops it with a killed process too). The command line's
/// other commands do not take it: they run beside the serving bridge.
fn serve_alone(database_url: &str) -> Result<Option<std::fs::File>, StartupError> {
    let Some(file) = crate::store::sqlite_file(database_url) else {
        return Ok(None);
    };
    let path = crate::store::beside(&file, ".serve.lock");
    let shown = path.display().to_string();
    let lock = crate::store::open_lock_file(&path)
        .map_err(|e| StartupError::SqliteLock(shown.clone(), e))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => Err(StartupError::SqliteInUse(shown)),
        Err(std::fs::TryLockError::Error(e)) => Err(StartupError::SqliteLock(shown, e)),
    }
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { key, addr, source })
}

/// The steps that need our listener up: the homeserver's ping reaches us, and the bot exists
/// with its display name.
async fn startup_with_server(bridge: &Bridge, config: &Config) -> Result<(), StartupError> {
    let txn = format!("startup-{}", hex::encode(rand::random::<[u8; 8]>()));
    let registration = &config.appservice.registration;
    let url = registration.url.clone().unwrap_or_default();
    let rtt = bridge
        .matrix
        .ping(&registration.id, &txn)
        .await
        .map_err(|source| StartupError::PingFailed { url, source })?;
    tracing::info!(
        rtt_ms = rtt.as_millis() as u64,
        "homeserver reaches the bridge"
    );
    bridge
        .matrix
        .register(bridge.bot.localpart())
        .await
        .map_err(StartupError::Bot)?;
    bridge
        .matrix
        .ensure_display_name(&bridge.bot, &config.appservice.bot_displayname)
        .await
        .map_err(StartupError::Bot)?;
    Ok(())
}
