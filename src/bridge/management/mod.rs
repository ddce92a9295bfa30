//! The management room: a dispatcher's DM with the bot, where commands open portals and show
//! the bridge's state. Bot chatter lives here, never in portal rooms.

mod admin;
mod command;
mod unencrypted;

use std::sync::Arc;

use ruma::{EventId, OwnedUserId, RoomId, UserId};

use crate::tr;
use command::{Command, parse_command};

use super::{
    Access, BridgeError, Broadcasts, Credits, Directory, Ghosts, Keys, Notices, Outcome, Portals,
    lifecycle::{erase, holds, requests},
    status,
    wiring::Shared,
};
use crate::{
    config::{Config, KnownDriver, Level},
    matrix::MatrixClient,
    store::{KeyAcceptance, Store},
    threema::ThreemaId,
};

/// The management rooms: invites to the bot and the commands there. It holds the services the
/// commands call, not the whole bridge, so what a command can touch is visible here.
pub struct Management {
    store: Store,
    /// Joins and leaves management rooms, invites to portals.
    matrix: MatrixClient,
    /// The bot: it answers in the management rooms.
    bot: OwnedUserId,
    /// Shown by `status`.
    gateway_id: ThreemaId,
    /// `bridge.drivers`: found by `find` and `start` besides the drivers with a ghost.
    drivers: Vec<KnownDriver>,
    /// Whether `directory:` names a source, for `sync`.
    directory_enabled: bool,
    /// `erase` needs admin rights on the homeserver.
    synapse_admin: Option<crate::config::SynapseAdmin>,
    erased_ids: erase::IdHasher,
    /// The aliases of the unencrypted management rooms the bot opens.
    desk_aliases: erase::IdHasher,
    /// `export` reads the live config for its Art. 15 statement.
    config: Arc<Config>,
    /// What the bot answers, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
    access: Arc<Access>,
    ghosts: Arc<Ghosts>,
    keys: Arc<Keys>,
    portals: Arc<Portals>,
    notices: Arc<Notices>,
    credits: Arc<Credits>,
    /// `handover`: the shared inbox's conversations.
    conversations: Arc<crate::bridge::desk::Conversations>,
    directory: Arc<Directory>,
    broadcasts: Arc<Broadcasts>,
}

impl Management {
    pub(in crate::bridge) fn new(
        config: &Arc<Config>,
        shared: &Shared,
        directory: Arc<Directory>,
        broadcasts: Arc<Broadcasts>,
    ) -> Self {
        let Shared {
            store,
            matrix,
            threema,
            access,
            ghosts,
            keys,
            portals,
            notices,
            credits,
            conversations,
            ..
        } = shared.clone();
        Management {
            texts: shared.texts.clone(),
            conversations,
            store,
            matrix,
            bot: config.bot_user_id(),
            gateway_id: threema.gateway_id().clone(),
            drivers: config.bridge.drivers.clone(),
            directory_enabled: config.directory.enabled(),
            synapse_admin: config.synapse_admin.clone(),
            erased_ids: erase::IdHasher::new(config),
            desk_aliases: erase::IdHasher::desk_aliases(config),
            config: config.clone(),
            access,
            ghosts,
            keys,
            portals,
            notices,
            credits,
            directory,
            broadcasts,
        }
    }
}

/// The message a command came in.
pub struct CommandMessage<'a> {
    pub room_id: &'a RoomId,
    pub event_id: &'a EventId,
    pub sender: &'a UserId,
    /// The message it replies to, if any.
    pub reply_to: Option<&'a EventId>,
}

impl Management {
    /// The bot was invited: a permitted user gets a management room, others a polite refusal.
    pub(crate) async fn accept_management_invite(
        &self,
        room_id: &RoomId,
        inviter: &UserId,
        invite: &EventId,
    ) -> Result<Outcome, BridgeError> {
        self.matrix.join(room_id, &self.bot).await?;
        if self.access.level(inviter) < Level::Dispatcher {
            self.notices
                .notice(
                    room_id,
                    None,
                    &tr!(self.texts, "mgmt-not-permitted-ask"),
                    &format!("refusal-{room_id}"),
                )
                .await?;
            self.matrix
                .leave(room_id, &self.bot, "not permitted to use the bridge")
                .await?;
            return Ok(Outcome::refused(format!(
                "management room for {inviter}: not permitted"
            )));
        }
        self.store
            .management_room_insert(room_id.as_str(), inviter.as_str())
            .await?;
        // Element X makes every DM encrypted: without encryption of its own (`bridge.encryption:
        // off`) the bot could not read a word there.
        if self.matrix.crypto().is_none() && self.matrix.is_encrypted(room_id).await? {
            return self.move_to_unencrypted(room_id, inviter, invite).await;
        }
        self.welcome(room_id).await?;
        Ok(Outcome::bridged(format!("management room of {inviter}")))
    }

    async fn welcome(&self, room_id: &RoomId) -> Result<(), BridgeError> {
        self.notices
            .notice(
                room_id,
                None,
                &tr!(
                    self.texts,
                    "mgmt-welcome",
                    help = tr!(self.texts, "mgmt-help")
                ),
                &format!("welcome-{room_id}"),
            )
            .await
    }

    /// A message in a management room (or the quarantine room): a command.
    pub(crate) async fn handle_command(
        &self,
        message: &CommandMessage<'_>,
        body: &str,
    ) -> Result<Outcome, BridgeError> {
        let CommandMessage {
            room_id,
            event_id,
            sender,
            reply_to,
        } = *message;
        let Some(command) = parse_command(body) else {
            return Ok(Outcome::skipped("empty message"));
        };
        let txn = format!("answer-{event_id}");
        if self.access.level(sender) < Level::Dispatcher {
            self.notices
                .notice(
                    room_id,
                    Some(event_id),
                    &tr!(self.texts, "mgmt-not-permitted"),
                    &txn,
                )
                .await?;
            return Ok(Outcome::refused(format!(
                "command of {sender}: not permitted"
            )));
        }
        if let Some((word, about)) = command.admin() {
            // Every admin command, refused or not: the command's own entry (an erasure, a
            // hold) follows when it acts.
            let refused = self.access.level(sender) < Level::Admin;
            let details = match refused {
                true => format!("refused (not an admin): {body}"),
                false => body.trim().to_owned(),
            };
            (self.store)
                .audit(
                    sender.as_str(),
                    &format!("command.{word}"),
                    &about,
                    &details,
                )
                .await?;
        }
        let answer = match &command {
            Command::Help => tr!(self.texts, "mgmt-help"),
            Command::Start(who) => self.start_command(who, sender).await?,
            Command::Find(text) => self.find_command(text, sender).await?,
            Command::Status(Some(link)) => match status::parse_event_ref(link) {
                Some(target) => self.message_status(&target, sender).await?,
                None => tr!(self.texts, "mgmt-not-a-link", link = link.as_str()),
            },
            Command::Status(None) => match reply_to {
                Some(target) => self.message_status(target.as_str(), sender).await?,
                None => self.status_command().await?,
            },
            Command::Sync
            | Command::Audit(_)
            | Command::AcceptKey(_)
            | Command::Hold(_)
            | Command::Erase(_)
            | Command::Export(_)
            | Command::Requests
            | Command::Retention(_)
                if self.access.level(sender) < Level::Admin =>
            {
                tr!(self.texts, "mgmt-admins-only")
            }
            Command::Sync => self.sync_command().await?,
            Command::Audit(subject) => self.audit_command(subject.as_deref()).await?,
            Command::Broadcast(args) => {
                self.broadcasts
                    .broadcast_command(args, sender, event_id)
                    .await?
            }
            Command::Select(text) => self.broadcasts.select_command(text, sender).await?,
            Command::SaveList(args) => self.broadcasts.save_list_command(args, sender).await?,
            Command::AcceptKey(who) => self.accept_key_command(who, sender).await?,
            Command::Erase(args) => self.erase_command(args, sender).await?,
            Command::Export(args) => self.export_command(args, room_id, event_id, sender).await?,
            Command::Retention(args) => self.retention_command(args, sender).await?,
            Command::Requests => {
                let today = requests::today();
                let open = self.store.requests_open().await?;
                match open.is_empty() {
                    true => tr!(self.texts, "mgmt-no-requests"),
                    false => open
                        .iter()
                        .map(|r| requests::describe(&self.texts, r, today))
                        .collect::<Vec<_>>()
                        .join("\n"),
                }
            }
            Command::Hold(request) => {
                let domain = self.bot.server_name();
                holds::answer(
                    &self.store,
                    &self.texts,
                    domain,
                    request.clone(),
                    sender.as_str(),
                )
                .await?
            }
            Command::Handover(to) => self.conversations.hand_over(sender, to).await?,
            Command::Summary => self.conversations.summary(sender).await?,
            Command::Templates => {
                crate::bridge::quick_replies::list(&self.texts, &self.config.templates)
            }
            Command::LastPositions => self.last_positions(sender).await?,
            Command::OnShift(on) => self.conversations.set_on_shift(sender, *on).await?,
            Command::Unknown(word) => tr!(
                self.texts,
                "mgmt-unknown",
                word = word.as_str(),
                help = tr!(self.texts, "mgmt-help")
            ),
        };
        self.notices
            .notice(room_id, Some(event_id), &answer, &txn)
            .await?;
        Ok(Outcome::bridged(format!("command {command:?} answered")))
    }

    async fn start_command(&self, who: &str, sender: &UserId) -> Result<String, BridgeError> {
        let id = match ThreemaId::parse(&who.to_uppercase()) {
            Some(id) => id,
            None => match self.find_driver(who, sender).await?.as_slice() {
                [(id, _)] => id.clone(),
                [] => return Ok(tr!(self.texts, "mgmt-start-none", who = who)),
                many => {
                    return Ok(tr!(
                        self.texts,
                        "mgmt-start-many",
                        count = many.len(),
                        who = who,
                        list = list(many)
                    ));
                }
            },
        };
        if id.is_gateway_id() {
            return Ok(tr!(self.texts, "mgmt-start-gateway", id = id.as_str()));
        }
        if !self.access.may_see(sender, &id) {
            // Refused before anything happens: no portal, no invite, not even for a moment.
            let why = "start: not among the drivers this user is responsible for";
            self.store
                .audit(sender.as_str(), "access.refused", id.as_str(), why)
                .await?;
            return Ok(tr!(self.texts, "mgmt-start-not-yours", id = id.as_str()));
        }
        match self.keys.trusted(&id).await {
            Ok(_) => {}
            Err(BridgeError::Threema(crate::threema::ThreemaError::NotFound)) => {
                return Ok(tr!(self.texts, "mgmt-start-no-such-id", id = id.as_str()));
            }
            Err(e) => return Err(e),
        }
        let name = self.ghosts.driver_name(&id).await?;
        if self.access.is_former_driver(&id) {
            return Ok(tr!(
                self.texts,
                "mgmt-start-left",
                name = name.as_str(),
                id = id.as_str()
            ));
        }
        let ghost = self.ghosts.ensure_named(&id, &name).await?;
        let room_id = self.portals.ensure(&id, &ghost, &name).await?;
        self.matrix.ensure_invited(&room_id, sender).await?;
        self.store
            .record_member(
                room_id.as_str(),
                sender,
                crate::directory::plan::Membership::Invite,
            )
            .await?;
        Ok(tr!(
            self.texts,
            "mgmt-start-opened",
            name = name.as_str(),
            id = id.as_str(),
            link = format!("https://matrix.to/#/{room_id}")
        ))
    }

    async fn accept_key_command(&self, who: &str, sender: &UserId) -> Result<String, BridgeError> {
        let Some(id) = ThreemaId::parse(who) else {
            return Ok(tr!(self.texts, "mgmt-not-a-threema-id", who = who));
        };
        Ok(match self.keys.accept(&id, sender.as_str()).await? {
            KeyAcceptance::Accepted { requeued } => tr!(
                self.texts,
                "mgmt-key-accepted",
                id = id.as_str(),
                count = requeued
            ),
            KeyAcceptance::NothingPending => {
                tr!(self.texts, "mgmt-key-nothing", id = id.as_str())
            }
        })
    }

    /// `last-positions`: each driver's last shared location, of the drivers `sender` may see,
    /// the newest first. A look at where people are is recorded (works council).
    async fn last_positions(&self, sender: &UserId) -> Result<String, BridgeError> {
        let zone = &self.config.bridge.timezone;
        let mut lines = Vec::new();
        for location in self.store.driver_locations().await? {
            let Some(driver) = ThreemaId::parse(&location.threema_id) else {
                continue;
            };
            // Restricted (GDPR Art. 18) or gone: kept, not shown.
            if !self.access.may_see(sender, &driver)
                || self.access.is_former_driver(&driver)
                || self.store.is_restricted(driver.as_str()).await?
            {
                continue;
            }
            let name = self.ghosts.driver_name(&driver).await?;
            let accuracy = (location.accuracy_m)
                .map(|m| format!(" (±{m:.0} m)"))
                .unwrap_or_default();
            let position = format!(
                "{:.5}, {:.5}{accuracy}",
                location.latitude, location.longitude
            );
            let link = match self.store.portal_by_threema_id(driver.as_str()).await? {
                Some(portal) => format!(
                    " — https://matrix.to/#/{}/{}",
                    portal.room_id, location.event_id
                ),
                None => String::new(),
            };
            lines.push(tr!(
                self.texts,
                "mgmt-position-line",
                name = name.as_str(),
                position = position,
                at = zone.time(location.shared_at),
                geo = format!("geo:{},{}", location.latitude, location.longitude),
                link = link
            ));
        }
        (self.store)
            .audit(
                sender.as_str(),
                "positions.viewed",
                "",
                &format!("{} driver(s) shown", lines.len()),
            )
            .await?;
        Ok(match lines.is_empty() {
            true => tr!(self.texts, "mgmt-positions-none"),
            false => tr!(
                self.texts,
                "mgmt-positions",
                count = lines.len(),
                lines = lines.join("\n")
            ),
        })
    }

    async fn find_command(&self, text: &str, sender: &UserId) -> Result<String, BridgeError> {
        let found = self.find_driver(text, sender).await?;
        Ok(if found.is_empty() {
            tr!(self.texts, "mgmt-find-none", text = text)
        } else {
            tr!(
                self.texts,
                "mgmt-find",
                count = found.len(),
                list = list(&found)
            )
        })
    }

    /// Each recipient's delivery state of one message, for the recipients `sender` may see.
    async fn message_status(&self, event_id: &str, sender: &UserId) -> Result<String, BridgeError> {
        let mut rows = self.store.outbox_by_event(event_id).await?;
        rows.retain(|row| self.access.may_see(sender, &row.recipient));
        // Held only while the hold lasts (a row past it may still wait for the Gateway).
        let now = crate::store::now_ms();
        for row in &mut rows {
            row.hold_until = row.hold_until.filter(|at| *at > now);
        }
        let mut names = std::collections::HashMap::new();
        for row in &rows {
            let name = self.ghosts.driver_name(&row.recipient).await?;
            names.insert(row.recipient.to_string(), name);
        }
        let recipients = names.len();
        let view = (self.config.privacy).view(Some(self.access.level(sender)), recipients);
        // A look at who received and read what is itself recorded (works council).
        let shown = if view.per_person {
            "per-person status"
        } else {
            "status counts"
        };
        let details = format!("{shown} of {recipients} recipient(s)");
        (self.store)
            .audit(sender.as_str(), "status.viewed", event_id, &details)
            .await?;
        let name_of = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_owned());
        Ok(status::report(
            &self.texts,
            &rows,
            name_of,
            view,
            &self.config.bridge.timezone,
        ))
    }

    async fn status_command(&self) -> Result<String, BridgeError> {
        let credits = match self.credits.balance() {
            Some(n) => n.to_string(),
            None => tr!(self.texts, "mgmt-credits-unknown"),
        };
        let outbox = self.store.outbox_counts().await?;
        let outbox = if outbox.is_empty() {
            tr!(self.texts, "mgmt-outbox-empty")
        } else {
            outbox
                .iter()
                .map(|(state, n)| format!("{n} {state}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut status = tr!(
            self.texts,
            "mgmt-status",
            gateway = self.gateway_id.as_str(),
            credits = credits,
            outbox = outbox,
            backlog = self.store.inbox_backlog().await?
        );
        if !self.config.api.webhooks.is_empty() {
            let day_ago = crate::store::now_ms() - 86_400_000;
            let (waiting, given_up) = self.store.webhook_counts(day_ago).await?;
            status.push('\n');
            status.push_str(&tr!(
                self.texts,
                "mgmt-status-webhooks",
                waiting = waiting,
                given_up = given_up
            ));
        }
        Ok(status)
    }

    /// Known drivers (configured, or with a ghost) whose ID or name contains `text`, among those
    /// `sender` may see.
    async fn find_driver(
        &self,
        text: &str,
        sender: &UserId,
    ) -> Result<Vec<(ThreemaId, String)>, BridgeError> {
        let needle = text.to_lowercase();
        let mut found: Vec<(ThreemaId, String)> = self
            .drivers
            .iter()
            .map(|d| {
                let name = d.name.clone().unwrap_or_else(|| d.id.to_string());
                (d.id.clone(), name)
            })
            .filter(|(id, name)| {
                id.as_str().to_lowercase().contains(&needle)
                    || name.to_lowercase().contains(&needle)
            })
            .collect();
        for ghost in self.store.ghost_search(text, 50).await? {
            let id = ghost.threema_id;
            if !found.iter().any(|(known, _)| *known == id) {
                let name = ghost.display_name.unwrap_or_else(|| id.to_string());
                found.push((id, name));
            }
        }
        found.retain(|(id, _)| self.access.may_see(sender, id));
        Ok(found)
    }
}

fn list(drivers: &[(ThreemaId, String)]) -> String {
    drivers
        .iter()
        .map(|(id, name)| format!("• {name} ({id})"))
        .collect::<Vec<_>>()
        .join("\n")
}
