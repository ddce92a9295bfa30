//! Portal rooms: one per driver, holding the driver's whole history, made by the bot with the
//! driver's ghost in it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use ruma::{
    OwnedRoomAliasId, OwnedRoomId, OwnedServerName, OwnedUserId, RoomId, UserId,
    api::client::room::{Visibility, create_room},
};
use serde_json::json;
use tokio::sync::Notify;

use super::{Access, BridgeError};
use crate::{
    directory::plan::Membership,
    matrix::{MatrixClient, initial_state},
    store::{Portal, RoomStateKind, Store},
    threema::ThreemaId,
};

pub struct Portals {
    store: Store,
    matrix: MatrixClient,
    bot: OwnedUserId,
    domain: OwnedServerName,
    /// Invited to every new portal they may see until the directory decides
    /// (`bridge.dispatchers`).
    desk: Vec<OwnedUserId>,
    access: Arc<Access>,
    /// The directory's wake-up: a new portal is filed in its spaces and shown to its
    /// dispatchers by the next reconcile.
    directory_wake: Arc<Notify>,
    /// Portals being created now: their rooms exist (and the desk, invited, may write in them)
    /// before they are recorded.
    opening: AtomicUsize,
}

/// Counts a portal as being opened while it lives.
struct Opening<'a>(&'a AtomicUsize);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Portals {
    pub fn new(
        store: Store,
        matrix: MatrixClient,
        bot: OwnedUserId,
        domain: OwnedServerName,
        desk: Vec<OwnedUserId>,
        access: Arc<Access>,
        directory_wake: Arc<Notify>,
    ) -> Self {
        Portals {
            store,
            matrix,
            bot,
            domain,
            desk,
            access,
            directory_wake,
            opening: AtomicUsize::new(0),
        }
    }

    /// The driver's portal room: from the store, or created now (see [`Portals::create`]) with
    /// the ghost in it and the desk invited.
    pub async fn ensure(
        &self,
        driver: &ThreemaId,
        ghost: &UserId,
        name: &str,
    ) -> Result<OwnedRoomId, BridgeError> {
        self.ensure_from(driver, ghost, name, None).await
    }

    /// [`Portals::ensure`] from the portal as the caller read it (`None`: not read, or not
    /// there then: it is looked for again before one is created).
    pub async fn ensure_from(
        &self,
        driver: &ThreemaId,
        ghost: &UserId,
        name: &str,
        read: Option<Portal>,
    ) -> Result<OwnedRoomId, BridgeError> {
        if let Some(portal) = read {
            return Ok(portal.room_id);
        }
        if let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await? {
            return Ok(portal.room_id);
        }
        let topic = format!("Threema {driver}");
        // With a directory, `bridge.dispatchers` are scoped like everyone else.
        let desk: Vec<OwnedUserId> = (self.desk.iter())
            .filter(|user| self.access.may_see(user, driver))
            .cloned()
            .collect();
        let room_id = self.create(driver, ghost, name, &topic, &desk).await?;
        // The directory invites the dispatchers who may see this driver and files the portal
        // in its spaces.
        self.directory_wake.notify_one();
        Ok(room_id)
    }

    /// Creates the driver's portal with the ghost in it and `invite` invited, and records it.
    ///
    /// Creating a room is not idempotent, so each portal gets the alias `#threema_<id>` in our
    /// exclusive namespace. If an earlier attempt created the room and then failed (or its
    /// answer was lost), creating again answers `M_ROOM_IN_USE` and the alias names the room.
    pub async fn create(
        &self,
        driver: &ThreemaId,
        ghost: &UserId,
        name: &str,
        topic: &str,
        invite: &[OwnedUserId],
    ) -> Result<OwnedRoomId, BridgeError> {
        let alias = self.alias(driver);
        let request = self.request(driver, ghost, name, topic, invite);
        self.opening.fetch_add(1, Ordering::SeqCst);
        let _opening = Opening(&self.opening);
        let (room_id, created) = self.matrix.create_closed_room(request, &alias).await?;
        if !created {
            // An earlier attempt made the room, but may have been cut off before the
            // homeserver sent its invites (found by killing the bridge during a broadcast).
            for user in std::iter::once(ghost).chain(invite.iter().map(|u| &**u)) {
                self.matrix.ensure_invited(&room_id, user).await?;
            }
        }
        // Join before recording: a portal in the store always has its ghost in the room.
        self.matrix.join(&room_id, ghost).await?;
        let room = room_id.as_str();
        self.store
            .record_member(room, ghost, Membership::Join)
            .await?;
        if created {
            self.store
                .room_state_set(room, RoomStateKind::Name, "", name)
                .await?;
            self.store
                .room_state_set(room, RoomStateKind::Topic, "", topic)
                .await?;
            for user in invite {
                self.store
                    .record_member(room, user, Membership::Invite)
                    .await?;
            }
        }
        if !self.store.portal_insert(driver.as_str(), room).await? {
            // Another worker recorded it first (the alias makes it the same room).
            tracing::debug!(threema_id = %driver, "portal recorded concurrently");
        }
        tracing::info!(threema_id = %driver, room_id = %room_id, "created portal");
        Ok(room_id)
    }

    /// Is a portal being created right now? An event in a room that is no portal (yet) may be
    /// in one that is about to be.
    pub fn opening(&self) -> bool {
        self.opening.load(Ordering::SeqCst) > 0
    }

    fn alias(&self, driver: &ThreemaId) -> OwnedRoomAliasId {
        crate::ids::portal_alias(driver, &self.domain)
    }

    /// The `m.bridge` (and `uk.half-shot.bridge`) content naming the driver.
    fn bridge_info(&self, driver: &ThreemaId, name: &str) -> serde_json::Value {
        json!({
            "bridgebot": self.bot,
            "creator": self.bot,
            "protocol": {"id": "threema", "displayname": "Threema"},
            "channel": {"id": driver.as_str(), "displayname": name},
        })
    }

    /// The portal `room_id` of `from` becomes `to`'s (the driver's new Threema ID): in the
    /// store, in its bridge state and under its alias. Each step can be repeated.
    pub async fn move_to(
        &self,
        room_id: &RoomId,
        from: &ThreemaId,
        to: &ThreemaId,
        name: &str,
    ) -> Result<(), BridgeError> {
        self.store.portal_rekey(from.as_str(), to.as_str()).await?;
        for event_type in ["m.bridge", "uk.half-shot.bridge"] {
            let (old, new) = (bridge_state_key(from), bridge_state_key(to));
            let info = self.bridge_info(to, name);
            self.matrix
                .set_state(room_id, event_type, &new, &info)
                .await?;
            // State cannot be deleted; empty content is how a bridge state ends.
            self.matrix
                .set_state(room_id, event_type, &old, &json!({}))
                .await?;
        }
        self.matrix.set_alias(&self.alias(to), room_id).await?;
        self.matrix.delete_alias(&self.alias(from)).await?;
        Ok(())
    }

    /// A private room run by the bot: the ghost and the dispatch desk invited, shared history so
    /// that dispatchers who join later read everything, and `m.bridge` state naming the driver.
    fn request(
        &self,
        driver: &ThreemaId,
        ghost: &UserId,
        name: &str,
        topic: &str,
        invite: &[OwnedUserId],
    ) -> create_room::v3::Request {
        let bridge_info = self.bridge_info(driver, name);
        let state_key = bridge_state_key(driver);
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.visibility = Visibility::Private;
        request.room_alias_name = Some(self.alias(driver).alias().to_owned());
        request.name = Some(name.to_owned());
        request.topic = Some(topic.to_owned());
        request.invite = std::iter::once(ghost.to_owned())
            .chain(invite.iter().cloned())
            .collect();
        request.initial_state = vec![
            initial_state(
                "m.room.history_visibility",
                "",
                json!({"history_visibility": "shared"}),
            ),
            initial_state("m.bridge", &state_key, bridge_info.clone()),
            initial_state("uk.half-shot.bridge", &state_key, bridge_info),
        ];
        if self.matrix.crypto().is_some_and(|c| c.creates_encrypted()) {
            request.initial_state.push(initial_state(
                "m.room.encryption",
                "",
                json!({"algorithm": "m.megolm.v1.aes-sha2"}),
            ));
        }
        request
    }
}

/// The state key of a portal's bridge state events.
fn bridge_state_key(driver: &ThreemaId) -> String {
    format!("threema://threema/{}", driver.as_str())
}
