//! Carrying out a plan: each action through the same Matrix calls the message flows use, then
//! recorded (room state, audit), so that a crash between the two repeats a harmless call and an
//! unchanged directory plans nothing.

use std::collections::BTreeMap;

use futures::{StreamExt, stream};
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId, api::client::room::create_room, serde::Raw};
use serde_json::json;

use super::{Directory, SyncReport};
use crate::{
    bridge::BridgeError,
    directory::plan::{Action, Membership, Room, SpaceKey},
    ids::room_alias,
    matrix::{RetryPolicy, initial_state},
    store::RoomStateKind,
    threema::ThreemaId,
};

/// Homeserver requests in flight at once: enough to hide latency, few enough not to crowd out
/// the message flows on a small homeserver.
const PARALLEL: usize = 4;

impl Directory {
    /// Applies `actions` in four steps: ghosts and portals, then spaces (whose children are
    /// those portals), then everything else, and last the deactivation of departed
    /// dispatchers' accounts, once they are out of every room (run side by side with the kicks,
    /// a deactivation was recorded before all of them were). Each failure is reported and the
    /// rest goes on.
    pub(super) async fn apply_all(&self, actions: Vec<Action>, report: &mut SyncReport) {
        // A driver's ghost comes before their portal: one lane per driver.
        let mut lanes: BTreeMap<ThreemaId, Vec<Action>> = BTreeMap::new();
        let (mut spaces, mut rest, mut deactivations) = (Vec::new(), Vec::new(), Vec::new());
        for action in actions {
            match &action {
                // A move comes first in its lane: the plan puts it before the new ghost's name.
                Action::EnsureGhost { driver, .. }
                | Action::CreatePortal { driver, .. }
                | Action::MoveDriver { to: driver, .. } => {
                    lanes.entry(driver.clone()).or_default().push(action)
                }
                Action::CreateSpace { .. } => spaces.push(action),
                Action::Deactivate { .. } => deactivations.push(action),
                _ => rest.push(action),
            }
        }
        let results: Vec<Vec<(String, Result<(), BridgeError>)>> =
            stream::iter(lanes.into_values())
                .map(|lane| async move {
                    let mut out = Vec::new();
                    for action in lane {
                        let result = self.apply_retrying(&action).await;
                        let failed = result.is_err();
                        out.push((action.to_string(), result));
                        if failed {
                            break;
                        }
                    }
                    out
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
        for (what, result) in results.into_iter().flatten() {
            tally(report, what, result);
        }
        for action in spaces {
            let result = self.apply_retrying(&action).await;
            tally(report, action.to_string(), result);
        }
        let results: Vec<(String, Result<(), BridgeError>)> = stream::iter(rest)
            .map(|action| async move { (action.to_string(), self.apply_retrying(&action).await) })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for (what, result) in results {
            tally(report, what, result);
        }
        for action in deactivations {
            let result = self.apply_retrying(&action).await;
            tally(report, action.to_string(), result);
        }
    }

    /// One action, again after a transient failure (with backoff, a few times): the
    /// homeserver client tries each request once, so this is where the directory's requests
    /// are retried. Every action can be tried again (a room is found by its alias, invites
    /// and joins are ensured, not repeated).
    async fn apply_retrying(&self, action: &Action) -> Result<(), BridgeError> {
        let policy = RetryPolicy::default();
        let mut delay = policy.first_delay;
        let mut attempt = 1;
        loop {
            match self.apply(action).await {
                Err(e) if e.is_transient() && attempt < policy.attempts => {
                    let wait = e.retry_after().unwrap_or(delay);
                    delay = (delay * 2).min(policy.max_delay);
                    tracing::debug!(action = %action, error = %e, attempt, "directory action failed; trying again");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// One action: the homeserver call, then its record (room state, audit log).
    async fn apply(&self, action: &Action) -> Result<(), BridgeError> {
        match action {
            Action::EnsureGhost { driver, name } => {
                self.ghosts.ensure_named(driver, name).await?;
                Ok(())
            }
            Action::CreatePortal {
                driver,
                employee,
                name,
                topic,
                invite,
            } => {
                self.open_portal(driver, employee, name, topic, invite, action)
                    .await
            }
            Action::LinkPortal { room, employee } => {
                self.store
                    .room_state_set(room, RoomStateKind::Employee, "", employee)
                    .await?;
                Ok(())
            }
            Action::MoveDriver {
                room,
                employee,
                from,
                to,
            } => self.move_driver(room, employee, from, to, action).await,
            Action::CreateSpace {
                key,
                name,
                children,
                invite,
            } => self.create_space(key, name, children, invite).await,
            Action::SetName { room, name } => {
                self.set_room_text(room, RoomStateKind::Name, "name", name)
                    .await
            }
            Action::SetTopic { room, topic } => {
                self.set_room_text(room, RoomStateKind::Topic, "topic", topic)
                    .await
            }
            Action::AddChild { space, child } => self.add_child(space, child).await,
            Action::RemoveChild { space, child } => self.remove_child(space, child).await,
            Action::Invite { room, user } => self.grant_access(room, user, action).await,
            Action::Kick { room, user, reason } => {
                self.remove_access(room, user, reason, action).await
            }
            Action::SetReadOnly { room, read_only } => {
                self.apply_read_only(room, *read_only, action).await
            }
            Action::GhostJoin { room, driver } => self.ghost_join(room, driver, action).await,
            Action::GhostLeave { room, driver } => self.ghost_leave(room, driver, action).await,
            Action::Deactivate { user } => self.deactivate(user, action).await,
        }
    }

    /// A new portal with the driver's ghost in it; each invite is a grant of access.
    async fn open_portal(
        &self,
        driver: &ThreemaId,
        employee: &str,
        name: &str,
        topic: &str,
        invite: &[OwnedUserId],
        action: &Action,
    ) -> Result<(), BridgeError> {
        let ghost = self.ghosts.ensure(driver).await?;
        let room_id = self
            .portals
            .create(driver, &ghost, name, topic, invite)
            .await?;
        self.store
            .room_state_set(room_id.as_str(), RoomStateKind::Employee, "", employee)
            .await?;
        for user in invite {
            self.audit_action("access.granted", user.as_str(), action)
                .await?;
        }
        Ok(())
    }

    /// The room's name or topic: `field` is `name` or `topic`, the event `m.room.<field>` with
    /// the content `{"<field>": text}`.
    async fn set_room_text(
        &self,
        room: &str,
        kind: RoomStateKind,
        field: &str,
        text: &str,
    ) -> Result<(), BridgeError> {
        let room_id = parse_room(room)?;
        self.matrix
            .set_state(
                &room_id,
                &format!("m.room.{field}"),
                "",
                &json!({ field: text }),
            )
            .await?;
        self.store.room_state_set(room, kind, "", text).await?;
        Ok(())
    }

    async fn add_child(&self, space: &str, child: &Room) -> Result<(), BridgeError> {
        let child = self.resolve(child).await?;
        self.matrix
            .set_state(&parse_room(space)?, "m.space.child", &child, &self.via())
            .await?;
        self.store
            .room_state_set(space, RoomStateKind::Child, &child, "")
            .await?;
        Ok(())
    }

    async fn remove_child(&self, space: &str, child: &str) -> Result<(), BridgeError> {
        // An empty content removes a child (m.space.child).
        self.matrix
            .set_state(&parse_room(space)?, "m.space.child", child, &json!({}))
            .await?;
        self.store
            .room_state_delete(space, RoomStateKind::Child, child)
            .await?;
        Ok(())
    }

    async fn grant_access(
        &self,
        room: &str,
        user: &UserId,
        action: &Action,
    ) -> Result<(), BridgeError> {
        self.matrix.ensure_invited(&parse_room(room)?, user).await?;
        self.store
            .record_member(room, user, Membership::Invite)
            .await?;
        self.audit_action("access.granted", user.as_str(), action)
            .await
    }

    async fn remove_access(
        &self,
        room: &str,
        user: &UserId,
        reason: &str,
        action: &Action,
    ) -> Result<(), BridgeError> {
        self.matrix.kick(&parse_room(room)?, user, reason).await?;
        self.store
            .record_member(room, user, Membership::Kicked)
            .await?;
        self.audit_action("access.removed", user.as_str(), action)
            .await
    }

    async fn apply_read_only(
        &self,
        room: &str,
        read_only: bool,
        action: &Action,
    ) -> Result<(), BridgeError> {
        self.matrix
            .set_read_only(&parse_room(room)?, read_only)
            .await?;
        self.store
            .room_state_set(room, RoomStateKind::ReadOnly, "", &read_only.to_string())
            .await?;
        self.audit_action("portal.read_only", room, action).await
    }

    /// A returning driver's ghost back in their portal.
    async fn ghost_join(
        &self,
        room: &str,
        driver: &ThreemaId,
        action: &Action,
    ) -> Result<(), BridgeError> {
        self.ghost_in(room, driver).await?;
        self.audit_action("driver.returned", driver.as_str(), action)
            .await
    }

    /// The driver's ghost (registered if need be) joined to the room, and recorded.
    async fn ghost_in(&self, room: &str, driver: &ThreemaId) -> Result<(), BridgeError> {
        let room_id = parse_room(room)?;
        let ghost = self.ghosts.ensure(driver).await?;
        self.matrix.ensure_invited(&room_id, &ghost).await?;
        self.matrix.join(&room_id, &ghost).await?;
        Ok(self
            .store
            .record_member(room, &ghost, Membership::Join)
            .await?)
    }

    /// The driver's ghost out of the room (if it is in), and recorded.
    async fn ghost_out(
        &self,
        room: &str,
        driver: &ThreemaId,
        reason: &str,
    ) -> Result<(), BridgeError> {
        let ghost = self.ghosts.user_id(driver);
        match self.matrix.leave(&parse_room(room)?, &ghost, reason).await {
            Err(e) if e.errcode() == Some("M_FORBIDDEN") => {} // not in the room
            other => other?,
        }
        Ok(self
            .store
            .record_member(room, &ghost, Membership::Leave)
            .await?)
    }

    /// The employee's portal under their new Threema ID: the new ghost in, the old one out, and
    /// the old ID a former driver's from now on.
    async fn move_driver(
        &self,
        room: &str,
        employee: &str,
        from: &ThreemaId,
        to: &ThreemaId,
        action: &Action,
    ) -> Result<(), BridgeError> {
        let room_id = parse_room(room)?;
        let name = match self.access.view().driver(to) {
            Some((name, _)) => name.to_owned(),
            None => to.to_string(),
        };
        self.store
            .room_state_set("", RoomStateKind::Retired, from.as_str(), employee)
            .await?;
        self.portals.move_to(&room_id, from, to, &name).await?;
        self.ghost_in(room, to).await?;
        self.ghost_out(room, from, "new Threema ID").await?;
        self.audit_action("driver.moved", to.as_str(), action).await
    }

    /// A departed driver's ghost out of their portal, which stays for the desk to read.
    async fn ghost_leave(
        &self,
        room: &str,
        driver: &ThreemaId,
        action: &Action,
    ) -> Result<(), BridgeError> {
        self.ghost_out(room, driver, "left the company").await?;
        self.audit_action("driver.offboarded", driver.as_str(), action)
            .await
    }

    /// A departed dispatcher's Matrix account, through the Synapse admin API.
    async fn deactivate(&self, user: &UserId, action: &Action) -> Result<(), BridgeError> {
        let admin = self
            .synapse_admin
            .as_ref()
            .ok_or_else(|| BridgeError::BadEvent("no synapse_admin token".into()))?;
        self.matrix
            .deactivate_account(user, &admin.token, false)
            .await?;
        self.store
            .room_state_set("", RoomStateKind::Account, user.as_str(), "deactivated")
            .await?;
        self.audit_action("account.deactivated", user.as_str(), action)
            .await
    }

    /// Records an action on access in the audit log, as the directory's doing.
    async fn audit_action(
        &self,
        what: &str,
        subject: &str,
        action: &Action,
    ) -> Result<(), BridgeError> {
        Ok(self
            .store
            .audit("directory", what, subject, &action.to_string())
            .await?)
    }

    /// `{"via": [our server]}`: the content of a space child event.
    fn via(&self) -> serde_json::Value {
        json!({"via": [self.domain.as_str()]})
    }

    async fn resolve(&self, room: &Room) -> Result<String, BridgeError> {
        let found = match room {
            Room::Portal(driver) => self
                .store
                .portal_by_threema_id(driver.as_str())
                .await?
                .map(|p| p.room_id.to_string()),
            Room::Space(key) => self
                .store
                .spaces()
                .await?
                .into_iter()
                .find(|(k, _)| *k == key.key())
                .map(|(_, room)| room),
        };
        found.ok_or_else(|| BridgeError::BadEvent(format!("{room:?} was not created")))
    }

    /// A space run by the bot with its children and invites in the creation request; the alias
    /// `#threema_space_<key>` makes a retry find the room an earlier attempt created.
    async fn create_space(
        &self,
        key: &SpaceKey,
        name: &str,
        children: &[Room],
        invite: &[ruma::OwnedUserId],
    ) -> Result<(), BridgeError> {
        let mut child_rooms = Vec::new();
        for child in children {
            child_rooms.push(self.resolve(child).await?);
        }
        let alias = self.space_alias(key, name);
        let mut request = create_room::v3::Request::new();
        request.preset = Some(create_room::v3::RoomPreset::PrivateChat);
        request.room_alias_name = Some(alias.alias().to_owned());
        request.name = Some(name.to_owned());
        request.invite = invite.to_vec();
        request.creation_content = Some(
            Raw::<serde_json::Value>::from_json(
                serde_json::value::to_raw_value(&json!({"type": "m.space"}))
                    .expect("JSON values serialise"),
            )
            .cast_unchecked(),
        );
        request.initial_state = child_rooms
            .iter()
            .map(|child| initial_state("m.space.child", child, self.via()))
            .collect();
        let (room_id, created) = self.matrix.create_closed_room(request, &alias).await?;
        let room = room_id.as_str();
        if created {
            self.store
                .room_state_set(room, RoomStateKind::Name, "", name)
                .await?;
            for child in &child_rooms {
                self.store
                    .room_state_set(room, RoomStateKind::Child, child, "")
                    .await?;
            }
            for user in invite {
                self.store
                    .record_member(room, user, Membership::Invite)
                    .await?;
            }
        }
        self.store.space_insert(&key.key(), room).await?;
        tracing::info!(space = %key.key(), %room_id, "created space");
        Ok(())
    }

    /// Only for finding a space whose creation answer was lost, so the name it was created with
    /// may be part of it (a desk with two root spaces of different names keeps them apart).
    fn space_alias(&self, key: &SpaceKey, name: &str) -> ruma::OwnedRoomAliasId {
        // Readable where it can be, unique always: the key's letters, and a hash.
        let slug: String = key
            .key()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        let hashed = format!("{}\n{name}", key.key());
        let hash = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(hashed.as_bytes())[..4]);
        room_alias(&format!("space_{slug}_{hash}"), &self.domain)
    }
}

fn parse_room(room: &str) -> Result<OwnedRoomId, BridgeError> {
    RoomId::parse(room).map_err(|e| BridgeError::BadEvent(format!("stored room id {room:?}: {e}")))
}

fn tally(report: &mut SyncReport, what: String, result: Result<(), BridgeError>) {
    match result {
        Ok(()) => report.applied += 1,
        Err(e) => {
            tracing::warn!(action = %what, error = %crate::error_chain::chain(&e), "directory action failed");
            report.failed.push(format!("{what}: {e}"));
        }
    }
}
