//! The core: the only module that sees both Matrix and Threema. It decides what each inbound
//! item means and does it through `matrix`, `threema` and `store`.

pub mod access;
pub mod audit;
pub mod bot_room;
pub mod broadcast;
pub mod credits;
pub mod desk;
pub mod directory;
mod figures;
pub mod ghosts;
pub mod integration;
pub mod lifecycle;
pub mod management;
pub mod matrix_to_threema;
pub mod notice;
pub mod outcome;
pub mod portal;
pub mod privacy;
pub mod prune;
pub mod queue;
pub mod quick_codes;
pub mod quick_replies;
pub mod receipts;
mod restore;
pub mod schedule;
pub mod status;
pub mod threema_to_matrix;
pub mod wakes;
mod wiring;

use std::sync::{Arc, atomic::AtomicBool};

use ruma::OwnedUserId;

use crate::{
    config::Config,
    matrix::{MatrixClient, MatrixError},
    store::{Store, StoreError},
    texts::Texts,
    threema::{ThreemaClient, ThreemaError},
};
pub use access::Access;
pub use broadcast::Broadcasts;
pub use credits::Credits;
pub use directory::Directory;
pub use ghosts::Ghosts;
pub use management::Management;
pub use matrix_to_threema::{MatrixToThreema, Outbox};
pub use notice::Notices;
pub use outcome::Outcome;
pub use portal::Portals;
pub use receipts::Receipts;
pub use schedule::Schedules;
pub use threema_to_matrix::keys::Keys;
pub use threema_to_matrix::{Incoming, ThreemaToMatrix};
pub use wakes::Wakes;
use wiring::Shared;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Matrix(#[from] MatrixError),
    #[error(transparent)]
    Threema(#[from] ThreemaError),
    #[error("malformed event: {0}")]
    BadEvent(String),
    /// Depends on something still under way (a receipt for a send whose answer is not
    /// recorded yet): try again shortly.
    #[error("not yet: {0}")]
    NotYet(String),
}

impl BridgeError {
    /// Retry later (infrastructure down) rather than record a permanent failure.
    pub fn is_transient(&self) -> bool {
        match self {
            BridgeError::Store(e) => e.is_transient(),
            BridgeError::Matrix(e) => e.is_transient(),
            BridgeError::Threema(e) => e.is_transient(),
            BridgeError::BadEvent(_) => false,
            BridgeError::NotYet(_) => true,
        }
    }

    /// How long the homeserver asked us to wait (a rate limit's `retry_after`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            BridgeError::Matrix(MatrixError::Api { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }
}

/// The wiring of the bridge's services, shared by the workers and the HTTP handlers. Each
/// service owns one noun (ghosts, keys, notices, credits, who may do what, broadcasts, the
/// directory); the flows in the direction folders combine them.
pub struct Bridge {
    pub config: Arc<Config>,
    pub store: Store,
    /// Retries transient failures itself: for the startup steps, which nothing else retries.
    pub matrix: MatrixClient,
    pub threema: Arc<ThreemaClient>,
    pub bot: OwnedUserId,
    /// Who may use the bridge, and the directory's view of who is current.
    pub access: Arc<Access>,
    pub ghosts: Arc<Ghosts>,
    pub keys: Arc<Keys>,
    pub portals: Arc<Portals>,
    pub scim_users: directory::ScimUsers,
    /// Directory syncs, the rooms they keep in line, and the closed rooms' members.
    pub directory: Arc<Directory>,
    pub notices: Arc<Notices>,
    pub credits: Arc<Credits>,
    pub wakes: Wakes,
    /// Broadcast rooms, their fan-out and boards, and the management room's selections.
    pub broadcasts: Arc<Broadcasts>,
    /// A catch-up with the homeserver's timeline is due: transactions wait.
    pub catch_up: Arc<matrix_to_threema::catch_up::CatchUp>,
    /// The startup steps are done (the homeserver reached us, the bot exists): ready to serve.
    pub started: AtomicBool,
    /// Dispatchers' messages queued for Threema and sent, per driver in order.
    pub outbox: Arc<Outbox>,
    /// Read and delivery receipts, both ways.
    pub receipts: Arc<Receipts>,
    /// The management rooms' invites and commands.
    pub management: Arc<Management>,
    /// The Matrix inbox's worker: each pushed event to the service that handles it.
    pub matrix_to_threema: Arc<MatrixToThreema>,
    /// The Threema inbox's worker: each driver's message into their portal.
    pub threema_to_matrix: Arc<ThreemaToMatrix>,
    /// What `/metrics` shows (`metrics.listen`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The shared inbox: who answers which driver (`inbox:`).
    pub conversations: Arc<desk::Conversations>,
    /// Scheduled messages (`!at`, `!every`).
    pub schedules: Arc<Schedules>,
    /// What the bot writes, in `bridge.language`.
    pub texts: Arc<Texts>,
    /// The integration API's sends (`api:`).
    pub integration: Arc<integration::Integration>,
    /// … and its webhooks.
    pub webhooks: Arc<integration::webhooks::Webhooks>,
}

impl Bridge {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        matrix: MatrixClient,
        threema: ThreemaClient,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        let wakes = Wakes::default();
        // The services try each homeserver request once: whoever runs them retries (the
        // durable queues, the directory per action), so that a failure is not retried inside a
        // retry, and a send whose answer was lost is looked for before it is repeated.
        let shared = Shared::new(
            &config,
            &wakes,
            store,
            matrix.once(),
            Arc::new(threema),
            metrics,
        );
        let outbox = Arc::new(Outbox::new(&config, &wakes, &shared));
        let broadcasts = Arc::new(Broadcasts::new(&config, &wakes, &shared, outbox.clone()));
        let directory = Arc::new(Directory::new(&config, &wakes, &shared));
        let receipts = Arc::new(Receipts::new(&config, &shared));
        let management = Arc::new(Management::new(
            &config,
            &shared,
            directory.clone(),
            broadcasts.clone(),
        ));
        let schedules = Arc::new(Schedules::new(
            &config,
            &shared,
            outbox.clone(),
            broadcasts.clone(),
        ));
        let integration = Arc::new(integration::Integration::new(
            &config,
            &shared,
            outbox.clone(),
            broadcasts.clone(),
        ));
        let flows = matrix_to_threema::Flows {
            outbox: outbox.clone(),
            receipts: receipts.clone(),
            management: management.clone(),
            broadcasts: broadcasts.clone(),
            directory: directory.clone(),
            schedules: schedules.clone(),
        };
        let matrix_to_threema = Arc::new(MatrixToThreema::new(&config, &shared, flows));
        let threema_to_matrix = Arc::new(ThreemaToMatrix::new(
            &config,
            &wakes,
            &shared,
            receipts.clone(),
            outbox.clone(),
        ));
        let scim_users = directory::ScimUsers::new(
            shared.store.clone(),
            wakes.directory.clone(),
            config.directory.attributes.clone(),
        );
        let Shared {
            store,
            matrix: _,
            threema,
            access,
            ghosts,
            keys,
            portals,
            notices,
            credits,
            metrics,
            conversations,
            texts,
            api_events: _,
            webhooks_queued,
        } = shared;
        let webhooks = Arc::new(integration::webhooks::Webhooks::new(
            &config,
            store.clone(),
            metrics.clone(),
            webhooks_queued,
        ));
        Bridge {
            webhooks,
            integration,
            texts,
            conversations,
            schedules,
            bot: config.bot_user_id(),
            directory,
            ghosts,
            portals,
            keys,
            credits,
            notices,
            broadcasts,
            outbox,
            receipts,
            management,
            matrix_to_threema,
            scim_users,
            access,
            wakes,
            catch_up: Default::default(),
            threema_to_matrix,
            started: AtomicBool::new(false),
            metrics,
            config,
            store,
            matrix,
            threema,
        }
    }
}
