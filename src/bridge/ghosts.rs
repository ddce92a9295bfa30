//! The drivers' ghosts: the Matrix users that speak for drivers, registered on the homeserver
//! once (remembered in the store) and named after the driver.

use std::sync::Arc;

use ruma::{OwnedServerName, OwnedUserId, UserId};

use super::{Access, BridgeError};
use crate::{
    config::KnownDriver,
    ids::{ghost_user_id, is_own_user},
    matrix::MatrixClient,
    store::{Ghost, Store},
    threema::ThreemaId,
};

pub struct Ghosts {
    store: Store,
    matrix: MatrixClient,
    domain: OwnedServerName,
    /// The directory's names come first.
    access: Arc<Access>,
    /// `bridge.drivers`: names given in the config.
    drivers: Vec<KnownDriver>,
}

impl Ghosts {
    pub fn new(
        store: Store,
        matrix: MatrixClient,
        domain: OwnedServerName,
        access: Arc<Access>,
        drivers: Vec<KnownDriver>,
    ) -> Self {
        Ghosts {
            store,
            matrix,
            domain,
            access,
            drivers,
        }
    }

    /// The name a driver's ghost and portal get: the directory's, else configured, else as the
    /// ghost has it, else the ID.
    pub async fn driver_name(&self, id: &ThreemaId) -> Result<String, BridgeError> {
        if let Some((name, _)) = self.access.view().driver(id) {
            return Ok(name.to_owned());
        }
        if let Some(name) = self.known_driver(id).and_then(|d| d.name.clone()) {
            return Ok(name);
        }
        Ok(self
            .store
            .ghost_by_threema_id(id.as_str())
            .await?
            .and_then(|g| g.display_name)
            .unwrap_or_else(|| id.to_string()))
    }

    /// The driver as `bridge.drivers` lists them, if it does.
    pub fn known_driver(&self, id: &ThreemaId) -> Option<&KnownDriver> {
        self.drivers.iter().find(|d| d.id == *id)
    }

    /// The driver's ghost's user ID (whether registered or not).
    pub fn user_id(&self, threema_id: &ThreemaId) -> OwnedUserId {
        ghost_user_id(threema_id, &self.domain)
    }

    /// Whether `user` is the bot or a ghost: an event of theirs is the bridge's own echo.
    pub fn is_bridge_user(&self, user: &UserId) -> bool {
        is_own_user(user, &self.domain)
    }

    /// [`Ghosts::is_bridge_user`] for a sender as the homeserver sent it.
    pub fn sent_by_bridge(&self, sender: &str) -> bool {
        UserId::parse(sender).is_ok_and(|user| self.is_bridge_user(&user))
    }

    /// The driver's ghost, registered, with `display_name` (changed only when it differs from the
    /// one recorded: every change is a member event in each of the ghost's rooms).
    pub async fn ensure_named(
        &self,
        threema_id: &ThreemaId,
        display_name: &str,
    ) -> Result<OwnedUserId, BridgeError> {
        self.ensure_named_from(threema_id, display_name, None).await
    }

    /// [`Ghosts::ensure_named`] from the ghost's row as the caller read it (`None`: not read, or
    /// not there then: it is read, or made, here).
    pub async fn ensure_named_from(
        &self,
        threema_id: &ThreemaId,
        display_name: &str,
        read: Option<Ghost>,
    ) -> Result<OwnedUserId, BridgeError> {
        let (user_id, ghost) = self.ensure_registered(threema_id, read).await?;
        if ghost.display_name.as_deref() != Some(display_name) {
            self.matrix
                .ensure_display_name(&user_id, display_name)
                .await?;
            self.store
                .ghost_set_profile(threema_id.as_str(), Some(display_name), None)
                .await?;
        }
        Ok(user_id)
    }

    /// Makes sure the driver's ghost exists on the homeserver (once; remembered in the store).
    pub async fn ensure(&self, threema_id: &ThreemaId) -> Result<OwnedUserId, BridgeError> {
        Ok(self.ensure_registered(threema_id, None).await?.0)
    }

    /// The ghost's user ID and its store row (as it was before registering, if that was needed).
    async fn ensure_registered(
        &self,
        threema_id: &ThreemaId,
        read: Option<Ghost>,
    ) -> Result<(OwnedUserId, Ghost), BridgeError> {
        let user_id = self.user_id(threema_id);
        let ghost = match read {
            Some(ghost) => ghost,
            None => {
                (self.store)
                    .ghost_ensure(threema_id.as_str(), user_id.as_str())
                    .await?
            }
        };
        if ghost.registered_at.is_none() {
            self.matrix.register(user_id.localpart()).await?;
            self.store
                .ghost_mark_registered(threema_id.as_str())
                .await?;
            tracing::info!(threema_id = %threema_id, %user_id, "registered ghost");
        }
        Ok((user_id, ghost))
    }
}
