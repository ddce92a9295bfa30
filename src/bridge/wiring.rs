//! How `Bridge::new` builds the services: the ones every flow shares first, then each flow's
//! service from those it uses, so that each constructor names its dependencies.

use std::sync::Arc;

use super::{
    Access, Broadcasts, Credits, Directory, Ghosts, Keys, Management, MatrixToThreema, Notices,
    Outbox, Portals, Receipts, Wakes, broadcast, directory, management,
    matrix_to_threema::{Flows, outbox, worker},
    receipts,
    threema_to_matrix::{self, ThreemaToMatrix},
};
use crate::{config::Config, matrix::MatrixClient, store::Store, threema::ThreemaClient};

/// The services the flows share.
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
}

impl Shared {
    pub fn new(
        config: &Config,
        wakes: &Wakes,
        store: Store,
        matrix: MatrixClient,
        threema: Arc<ThreemaClient>,
    ) -> Self {
        let access = Arc::new(Access::new(config.bridge.permissions.clone()));
        let domain = config.homeserver.domain.clone();
        let notices = Arc::new(Notices::new(store.clone(), matrix.clone(), access.clone()));
        let credits = Arc::new(Credits::new(
            threema.clone(),
            notices.clone(),
            config.threema.credits_warning,
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
            wakes.threema.clone(),
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
        Shared {
            store,
            matrix,
            threema,
            access,
            ghosts,
            keys,
            portals,
            notices,
            credits,
        }
    }

    pub fn broadcasts(&self, config: &Config, wakes: &Wakes) -> Broadcasts {
        Broadcasts::new(
            config,
            wakes,
            broadcast::Deps {
                store: self.store.clone(),
                matrix: self.matrix.clone(),
                access: self.access.clone(),
                ghosts: self.ghosts.clone(),
                keys: self.keys.clone(),
                portals: self.portals.clone(),
                notices: self.notices.clone(),
                credits: self.credits.clone(),
            },
        )
    }

    pub fn directory(&self, config: &Config, wakes: &Wakes) -> Directory {
        Directory::new(
            config,
            wakes,
            directory::Deps {
                store: self.store.clone(),
                matrix: self.matrix.clone(),
                threema: self.threema.clone(),
                access: self.access.clone(),
                ghosts: self.ghosts.clone(),
                portals: self.portals.clone(),
                notices: self.notices.clone(),
            },
        )
    }

    pub fn outbox(&self, config: &Config, wakes: &Wakes) -> Outbox {
        Outbox::new(
            config,
            wakes,
            outbox::Deps {
                store: self.store.clone(),
                matrix: self.matrix.clone(),
                threema: self.threema.clone(),
                access: self.access.clone(),
                keys: self.keys.clone(),
                notices: self.notices.clone(),
                credits: self.credits.clone(),
            },
        )
    }

    pub fn receipts(&self, config: &Config) -> Receipts {
        Receipts::new(
            config,
            receipts::Deps {
                store: self.store.clone(),
                matrix: self.matrix.clone(),
                threema: self.threema.clone(),
                access: self.access.clone(),
                ghosts: self.ghosts.clone(),
                keys: self.keys.clone(),
                credits: self.credits.clone(),
            },
        )
    }

    pub fn management(
        &self,
        config: &Config,
        directory: &Arc<Directory>,
        broadcasts: &Arc<Broadcasts>,
    ) -> Management {
        Management::new(
            config,
            management::Deps {
                store: self.store.clone(),
                matrix: self.matrix.clone(),
                threema: self.threema.clone(),
                access: self.access.clone(),
                ghosts: self.ghosts.clone(),
                keys: self.keys.clone(),
                portals: self.portals.clone(),
                notices: self.notices.clone(),
                credits: self.credits.clone(),
                directory: directory.clone(),
                broadcasts: broadcasts.clone(),
            },
        )
    }

    pub fn threema_to_matrix(
        &self,
        config: &Config,
        wakes: &Wakes,
        receipts: &Arc<Receipts>,
    ) -> ThreemaToMatrix {
        ThreemaToMatrix::new(
            config,
            wakes,
            threema_to_matrix::Deps {
                store: self.store.clone(),
                matrix: self.matrix.clone(),
                threema: self.threema.clone(),
                access: self.access.clone(),
                ghosts: self.ghosts.clone(),
                keys: self.keys.clone(),
                portals: self.portals.clone(),
                notices: self.notices.clone(),
                receipts: receipts.clone(),
            },
        )
    }

    pub fn matrix_to_threema(&self, config: &Config, flows: Flows) -> MatrixToThreema {
        MatrixToThreema::new(
            config,
            worker::Deps {
                store: self.store.clone(),
                matrix: self.matrix.clone(),
                access: self.access.clone(),
                ghosts: self.ghosts.clone(),
                notices: self.notices.clone(),
            },
            flows,
        )
    }
}
