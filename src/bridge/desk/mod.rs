//! The shared inbox (`inbox:`): every driver message has an owner and a clock. A driver's
//! message opens their conversation (or keeps it open, waiting since the first unanswered
//! one) until a dispatcher answers in the portal, marks a message of the driver's handled with
//! a reaction, or says `!done`; `!claim` or the claim reaction takes it, `!assign @colleague`
//! gives it, `!release` lets it go, and `handover @colleague` in the management room moves all
//! of one's open conversations. The portal's topic shows it (after the directory's part of
//! the topic, which stays), so every dispatcher sees it in any client.

mod alerts;
mod board;
pub mod duty;
mod said;
mod shifts;
mod summary;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use ruma::{EventId, OwnedServerName, OwnedUserId, RoomId, UserId};
use serde_json::json;
use tokio::sync::Notify;

pub use said::PortalCommand;

use super::{Access, BridgeError, Notices, Outcome};
use crate::{
    config::{Config, InboxConfig},
    matrix::MatrixClient,
    metrics::Metrics,
    store::{Closed, ConversationState, Direction, RoomStateKind, Store},
    threema::ThreemaId,
    zone::Zone,
};

/// The bot's reaction on a driver's message that waits for an answer.
const WAITING_MARK: &str = "⏳";

pub struct Conversations {
    config: InboxConfig,
    /// What the desk is told, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
    store: Store,
    matrix: MatrixClient,
    access: Arc<Access>,
    notices: Arc<Notices>,
    metrics: Arc<Metrics>,
    /// `bridge.dispatchers`: people the desk can name besides the directory's.
    dispatchers: Vec<OwnedUserId>,
    domain: OwnedServerName,
    bot: OwnedUserId,
    /// `bridge.timezone`: the times the desk reads.
    zone: Zone,
    /// Rung when a conversation opens: the clock looks again.
    clock: Notify,
    /// Rung when a conversation changes: the desk boards are brought up to date.
    board_wake: Notify,
    /// The beginnings of the waiting messages the boards show, by event.
    first_lines: Mutex<HashMap<String, String>>,
    /// One topic update at a time: two lanes (the driver's, the portal's) may change one
    /// conversation at once, and the later write must show the later state.
    showing: tokio::sync::Mutex<()>,
}

impl Conversations {
    pub(super) fn new(
        config: &Config,
        store: Store,
        matrix: MatrixClient,
        access: Arc<Access>,
        notices: Arc<Notices>,
        metrics: Arc<Metrics>,
        texts: Arc<crate::texts::Texts>,
    ) -> Self {
        Conversations {
            config: config.inbox.clone(),
            texts,
            store,
            matrix,
            access,
            notices,
            metrics,
            dispatchers: config.bridge.dispatchers.clone(),
            domain: config.homeserver.domain.clone(),
            bot: config.bot_user_id(),
            zone: config.bridge.timezone.clone(),
            clock: Notify::new(),
            board_wake: Notify::new(),
            first_lines: Mutex::default(),
            showing: Default::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// A driver's message `event_id` (sent at `at`, Unix ms; `text` what it says, if it is
    /// text) is in their portal, recorded: it waits for the desk, which hears of it at once if
    /// it is urgent.
    pub async fn driver_wrote(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        event_id: &EventId,
        at: i64,
        text: Option<&str>,
    ) -> Result<(), BridgeError> {
        if !self.enabled() {
            return Ok(());
        }
        (self.store)
            .conversation_driver_wrote(driver.as_str(), event_id.as_str(), at)
            .await?;
        // Said by the clock, which tries again until the desk room has it.
        if text.is_some_and(|text| said::is_urgent(text, &self.config.urgent_keywords)) {
            (self.store)
                .conversation_urgent(driver.as_str(), event_id.as_str())
                .await?;
        }
        self.clock.notify_one();
        self.show(driver, room_id).await;
        Ok(())
    }

    /// A driver's quick code (`quick_codes:`), in their portal as `event_id`: their status,
    /// which the desk board shows. A report, not a question: nothing waits for an answer.
    pub async fn driver_status(
        &self,
        driver: &ThreemaId,
        status: &crate::bridge::quick_codes::Status,
        event_id: &EventId,
        at: i64,
    ) -> Result<(), BridgeError> {
        if !self.enabled() {
            return Ok(());
        }
        (self.store)
            .driver_status_set(&crate::store::DriverStatus {
                threema_id: driver.to_string(),
                code: status.code.clone(),
                meaning: status.meaning.clone(),
                at,
                event_id: event_id.to_string(),
            })
            .await?;
        self.board_wake.notify_one();
        Ok(())
    }

    /// Something the boards show changed (a job card's state).
    pub fn boards_changed(&self) {
        self.board_wake.notify_one();
    }

    /// A dispatcher's message sent at `sent_at` (Unix ms) went to the driver: it answers what
    /// waited since before it (not a driver's message that came after it).
    pub async fn answered(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
        sent_at: i64,
    ) -> Result<(), BridgeError> {
        if !self.enabled() {
            return Ok(());
        }
        let closed = (self.store)
            .conversation_close(driver.as_str(), by.as_str(), Closed::Answered, sent_at)
            .await?;
        if closed {
            self.show(driver, room_id).await;
        }
        Ok(())
    }

    /// A dispatcher's reaction `key` on `target` in the portal, if it means something here:
    /// the claim reaction takes the conversation, a handled reaction on a message of the
    /// driver's closes it. `None`: not the desk's (the caller goes on).
    pub async fn reaction(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
        target: &str,
        key: &str,
    ) -> Result<Option<Outcome>, BridgeError> {
        // As people mean them: Element's 👍️ and a 👍🏽 are 👍.
        let key = bridge_convert::format::bare_emoji(key);
        let same = |configured: &str| bridge_convert::format::bare_emoji(configured) == key;
        let handled = self.config.handled_reactions.iter().any(|k| same(k));
        if !self.enabled() || (!same(&self.config.claim_reaction) && !handled) {
            return Ok(None);
        }
        // Only on what the driver wrote in this portal: a reaction on the desk's own message
        // means nothing.
        let from_driver = (self.store.message_by_event_id(target).await?)
            .is_some_and(|m| m.direction == Direction::In && m.room_id == room_id);
        if !from_driver {
            return Ok(None);
        }
        Ok(Some(match handled {
            true => self.close(driver, room_id, by, Closed::Reaction).await?,
            false => self.take(driver, room_id, by, Some(by)).await?,
        }))
    }

    /// A portal command by `by`. Refusals are said in the portal.
    pub async fn command(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        event_id: &EventId,
        by: &UserId,
        command: PortalCommand,
    ) -> Result<Outcome, BridgeError> {
        match command {
            PortalCommand::Claim => self.take(driver, room_id, by, Some(by)).await,
            PortalCommand::Release => self.take(driver, room_id, by, None).await,
            PortalCommand::Done => self.close(driver, room_id, by, Closed::Done).await,
            PortalCommand::Assign(None) => {
                let usage = crate::tr!(self.texts, "desk-assign-usage");
                self.refuse(room_id, event_id, &usage).await
            }
            PortalCommand::Assign(Some(who)) => {
                if !self.access.may_see(&who, driver) {
                    let text = crate::tr!(self.texts, "desk-assign-not-theirs");
                    return self.refuse(room_id, event_id, &text).await;
                }
                self.take(driver, room_id, by, Some(&who)).await
            }
        }
    }

    /// Closes the open conversation, as `by` said; audited when something was open.
    async fn close(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
        how: Closed,
    ) -> Result<Outcome, BridgeError> {
        let closed = (self.store)
            .conversation_close(driver.as_str(), by.as_str(), how, i64::MAX)
            .await?;
        if !closed {
            return Ok(Outcome::skipped("nothing was waiting"));
        }
        let action = match how {
            Closed::Answered => "inbox.answered",
            Closed::Reaction => "inbox.handled",
            Closed::Done => "inbox.done",
        };
        self.changed(driver, room_id, by, action).await
    }

    /// Gives the open conversation to `owner` (`None`: to nobody), as `by` asked; audited
    /// when it changed.
    async fn take(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
        owner: Option<&UserId>,
    ) -> Result<Outcome, BridgeError> {
        let changed = (self.store)
            .conversation_set_owner(driver.as_str(), owner.map(|o| o.as_str()))
            .await?;
        if !changed {
            return Ok(Outcome::skipped("nothing waiting, or no change"));
        }
        let action = match owner {
            Some(owner) if owner == by => "inbox.claim",
            Some(_) => "inbox.assign",
            None => "inbox.release",
        };
        self.changed(driver, room_id, by, action).await
    }

    /// A change `by` made to the driver's conversation: in the audit trail as `action`, and
    /// shown in the portal.
    async fn changed(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
        action: &str,
    ) -> Result<Outcome, BridgeError> {
        self.store
            .audit(by.as_str(), action, driver.as_str(), "")
            .await?;
        self.show(driver, room_id).await;
        Ok(Outcome::bridged(format!(
            "conversation with {driver}: {action}"
        )))
    }

    /// `handover @colleague` in the management room: all of `from`'s open conversations that
    /// `to` may see go to `to`; the answer for the room.
    pub async fn hand_over(&self, from: &UserId, to: &str) -> Result<String, BridgeError> {
        if !self.enabled() {
            return Ok(crate::tr!(self.texts, "desk-off"));
        }
        let Ok(to) = OwnedUserId::try_from(to.trim()) else {
            return Ok(crate::tr!(self.texts, "desk-handover-usage"));
        };
        let owned = self.store.conversations_owned_by(from.as_str()).await?;
        let (given, kept): (Vec<ThreemaId>, Vec<ThreemaId>) = (owned.iter())
            .filter_map(|id| ThreemaId::parse(id))
            .partition(|driver| self.access.may_see(&to, driver));
        for driver in &given {
            let moved = (self.store)
                .conversation_move_owner(driver.as_str(), from.as_str(), to.as_str())
                .await?;
            if moved && let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await? {
                self.show(driver, &portal.room_id).await;
            }
        }
        let details = format!("{} conversation(s)", given.len());
        (self.store)
            .audit(from.as_str(), "inbox.handover", to.as_str(), &details)
            .await?;
        Ok(match kept.is_empty() {
            true => crate::tr!(
                self.texts,
                "desk-handed-over",
                count = given.len(),
                to = to.as_str()
            ),
            false => crate::tr!(
                self.texts,
                "desk-handed-over-some",
                count = given.len(),
                to = to.as_str(),
                kept = kept.len(),
                drivers = kept
                    .iter()
                    .map(ThreemaId::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// Sets the portal's topic to what the conversation is now, after the directory's part,
    /// unless it says that already. Best effort: the conversation's state is recorded either
    /// way, and the next change shows it again.
    async fn show(&self, driver: &ThreemaId, room_id: &RoomId) {
        self.board_wake.notify_one();
        let _one_at_a_time = self.showing.lock().await;
        if let Err(e) = self.try_show(driver, room_id).await {
            tracing::warn!(%room_id, error = %e, "cannot show the conversation in the topic");
        }
        if let Err(e) = self.mark(driver, room_id).await {
            tracing::warn!(%room_id, error = %e, "cannot mark the waiting message");
        }
    }

    /// The bot's ⏳ on the message the conversation waits since, while it waits: put on when it
    /// opens, taken off when it closes (or moved, should it wait since another message).
    async fn mark(&self, driver: &ThreemaId, room_id: &RoomId) -> Result<(), BridgeError> {
        let Some(conversation) = self.store.conversation(driver.as_str()).await? else {
            return Ok(());
        };
        let wanted = match conversation.state {
            ConversationState::Open => conversation.waiting_event.as_deref(),
            ConversationState::Closed => None,
        };
        if conversation.marker_on.as_deref() == wanted {
            return Ok(());
        }
        if let Some(marker) = conversation.marker_event.as_deref() {
            let marker = EventId::parse(marker)
                .map_err(|e| BridgeError::BadEvent(format!("stored marker: {e}")))?;
            let txn = format!("desk-unmark-{marker}");
            let taken = (self.matrix)
                .redact(room_id, &marker, &txn, &self.bot, Some("answered"))
                .await;
            match taken {
                Ok(_) => {}
                // Gone already (the portal purged or made anew): nothing to take off.
                Err(e) if matches!(e.errcode(), Some("M_NOT_FOUND" | "M_FORBIDDEN")) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.store
            .conversation_marked(driver.as_str(), None)
            .await?;
        if let Some(waiting) = wanted {
            let waiting = EventId::parse(waiting)
                .map_err(|e| BridgeError::BadEvent(format!("stored waiting event: {e}")))?;
            let txn = format!("desk-mark-{waiting}");
            let marker = (self.matrix)
                .react(room_id, &waiting, WAITING_MARK, &txn, &self.bot)
                .await?;
            (self.store)
                .conversation_marked(driver.as_str(), Some((marker.as_str(), waiting.as_str())))
                .await?;
        }
        Ok(())
    }

    async fn try_show(&self, driver: &ThreemaId, room_id: &RoomId) -> Result<(), BridgeError> {
        let Some(conversation) = self.store.conversation(driver.as_str()).await? else {
            return Ok(());
        };
        let mut names = std::collections::HashMap::new();
        for user in [&conversation.owner, &conversation.closed_by]
            .into_iter()
            .flatten()
        {
            let name = match <&UserId>::try_from(user.as_str()) {
                Ok(id) => (self.matrix.member_display_name(room_id, id).await?)
                    .unwrap_or_else(|| id.localpart().to_owned()),
                Err(_) => user.clone(),
            };
            names.insert(user.clone(), name);
        }
        let status = said::status(
            &self.texts,
            &conversation,
            &self.config.claim_reaction,
            &self.zone,
            |user| names.get(user).cloned().unwrap_or_else(|| user.to_owned()),
        );
        let directory = (self.store)
            .room_state_get(room_id.as_str(), RoomStateKind::Topic, "")
            .await?;
        let topic = match directory {
            Some(directory) if !directory.is_empty() => format!("{directory} · {status}"),
            _ => status,
        };
        if conversation.shown_topic.as_deref() == Some(topic.as_str()) {
            return Ok(());
        }
        (self.matrix)
            .set_state(room_id, "m.room.topic", "", &json!({ "topic": topic }))
            .await?;
        self.store
            .conversation_shown(driver.as_str(), &topic)
            .await?;
        Ok(())
    }

    async fn refuse(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        text: &str,
    ) -> Result<Outcome, BridgeError> {
        (self.notices)
            .notice(room_id, Some(event_id), text, &format!("desk-{event_id}"))
            .await?;
        Ok(Outcome::refused(text.to_owned()))
    }
}

/// A link that opens the event (or the room) in the reader's client.
fn permalink(room: &str, event: Option<&str>) -> String {
    match event {
        Some(event) => format!("https://matrix.to/#/{room}/{event}"),
        None => format!("https://matrix.to/#/{room}"),
    }
}

/// A desk room: which drivers' alerts and board it gets (see `alerts`).
struct Desk {
    /// The `bridge_state` key of its ID.
    state_key: String,
    alias: String,
    name: String,
}
