//! The services every flow shares, built first by `Bridge::new`; each flow's service then takes
//! what it uses of them (its fields name its dependencies).

use std::sync::Arc;

use super::{Access, Credits, Ghosts, Keys, Notices, Portals, Wakes, desk::Conversations};
use crate::{
    config::Config, matrix::MatrixClient, metrics::Metrics, store::Store, texts::Texts,
    threema::ThreemaClient,
};

/// The services the flows share.
#[derive(Clone)]
pub(super) struct Shared {
    pub store: Store,
    pub matrix: MatrixClient,
    pub threema: Arc<ThreemaClient>,
    pub access: Arc<Access>,
    pub ghosts: Arc<Ghosts>,
    pub keys: Arc<Keys>,
    pub portals: Arc<Portals>,
    pub notices: Arc<Notices>,
    pub credits: Arc<Credits>,
    pub metrics: Arc<Metrics>,
    /// The shared inbox's conversations (`inbox:`).
    pub conversations: Arc<Conversations>,
    /// What the bot writes, in `bridge.language`.
    pub texts: Arc<Texts>,
    /// What became of the integration API's messages (job states, webhook events).
    pub api_events: Arc<super::integration::events::ApiEvents>,
    /// Rung when a webhook event is queued.
    pub webhooks_queued: Arc<tokio::sync::Notify>,
}

impl Shared {
    pub fn new(
        config: &Config,
        wakes: &Wakes,
        store: Store,
        matrix: MatrixClient,
        threema: Arc<ThreemaClient>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let access = Arc::new(Access::new(config.bridge.permissions.clone()));
        let domain = config.homeserver.domain.clone();
        let notices = Arc::new(Notices::new(
            store.clone(),
            matrix.clone(),
            access.clone(),
            config.bot_user_id(),
        ));
        let texts = Arc::new(Texts::new(config.bridge.language));

        let credits = Arc::new(Credits::new(
            threema.clone(),
            notices.clone(),
            config.threema.credits_warning,
            texts.clone(),
        ));
        let ghosts = Arc::new(Ghosts::new(
            store.clone(),
            matrix.clone(),
            domain.clone(),
            access.clone(),
            config.bridge.drivers.clone(),
        ));
        let keys = Arc::new(Keys::new(
            store.clone(),
            threema.clone(),
            wakes.threema.bell().clone(),
        ));
        let portals = Arc::new(Portals::new(
            store.clone(),
            matrix.clone(),
            config.bot_user_id(),
            domain,
            config.bridge.dispatchers.clone(),
            access.clone(),
            wakes.directory.clone(),
        ));
        let conversations = Arc::new(Conversations::new(
            config,
            store.clone(),
            matrix.clone(),
            access.clone(),
            notices.clone(),
            metrics.clone(),
            texts.clone(),
        ));
        let webhooks_queued = Arc::new(tokio::sync::Notify::new());
        let api_events = Arc::new(super::integration::events::ApiEvents::new(
            config,
            store.clone(),
            webhooks_queued.clone(),
            conversations.clone(),
        ));
        Shared {
            api_events,
            webhooks_queued,
            texts,
            conversations,
            store,
            matrix,
            threema,
            access,
            ghosts,
            keys,
            portals,
            notices,
            credits,
            metrics,
        }
    }
}
