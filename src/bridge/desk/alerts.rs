//! The shared inbox's clock and alarms, in the desk rooms. A driver's message that waits longer
//! than `inbox.answer_within_minutes` (or the period for one of the driver's attributes) is
//! said in the desk room of the driver's scope, mentioning who has it, or everyone there who
//! may see the driver when nobody does; still waiting `inbox.escalate_after_minutes` later,
//! the admins are mentioned. An urgent message (🆘, `inbox.urgent_keywords`) is recorded and
//! said there at once. What was said is recorded on the conversation, so a restart says
//! nothing twice. Dispatchers off shift are mentioned only when nobody else may answer.
//!
//! A desk room per combination of the directory's scope attribute values (one for everyone
//! without scopes): made by the bot under an alias, with those who may see its drivers invited.
//! Before each alert and board update its members are kept to those (whoever may no longer see
//! its drivers, left or moved to another depot, is removed); whoever an alert mentions is
//! invited.

use std::{sync::Arc, time::Duration};

use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{
    Conversations, Desk, duty, permalink,
    said::{self, Due},
};
use crate::{
    bridge::{BridgeError, bot_room::BotRoom, directory::DirectoryView},
    store::{Conversation, Told, now_ms},
    threema::ThreemaId,
};

/// Looks at the open conversations at least this often (a new one wakes the clock at once).
const LOOK_EVERY: Duration = Duration::from_secs(30);
/// An alert that could not be said is tried again this soon.
const RETRY: Duration = Duration::from_secs(5);

impl Conversations {
    /// The clock, until `shutdown` (the active process's only).
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        if !self.enabled() {
            return;
        }
        loop {
            let wait = match self.tick().await {
                Ok(Some(at)) => Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64),
                Ok(None) => LOOK_EVERY,
                Err(e) => {
                    tracing::warn!(error = %e, "the shared inbox's clock failed; trying again");
                    RETRY
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait.clamp(Duration::from_millis(200), LOOK_EVERY)) => {}
                _ = self.clock.notified() => {}
            }
        }
    }

    /// Says what is due; when to look next (`None`: nothing waits).
    async fn tick(&self) -> Result<Option<i64>, BridgeError> {
        let mut next: Option<i64> = None;
        let mut soon = |at: i64| next = Some(next.map_or(at, |n| n.min(at)));
        for conversation in self.store.conversations_waiting().await? {
            let Some(driver) = ThreemaId::parse(&conversation.threema_id) else {
                continue;
            };
            if let Some(event) = &conversation.urgent_event
                && let Err(e) = self.urgent(&driver, event).await
            {
                tracing::warn!(%driver, error = %e, "cannot say an urgent message in the desk room; trying again");
                soon(now_ms() + RETRY.as_millis() as i64);
            }
            let (answer_within, escalate_after) =
                (self.answer_within(&driver), self.config.escalate_after);
            match said::due(&conversation, answer_within, escalate_after, now_ms()) {
                Due::Now(told) => match self.tell(&driver, &conversation, told).await {
                    // The next step (the admins) is looked at again right away.
                    Ok(()) => soon(now_ms()),
                    Err(e) => {
                        tracing::warn!(%driver, error = %e, "cannot tell the desk room; trying again");
                        soon(now_ms() + RETRY.as_millis() as i64);
                    }
                },
                Due::At(at) => soon(at),
                Due::Never => {}
            }
        }
        Ok(next)
    }

    /// Who is to answer the driver: who has the conversation; when nobody has it (or its owner
    /// is off shift or may no longer see the driver), everyone on shift who may see the driver,
    /// and when nobody is on shift, everyone who may: nothing falls through.
    async fn to_answer(
        &self,
        driver: &ThreemaId,
        owner: Option<&str>,
    ) -> Result<Vec<OwnedUserId>, BridgeError> {
        let off = self.store.dispatchers_off_shift().await?;
        let (view, now) = (self.access.view(), now_ms());
        let on_shift = |user: &UserId| {
            !off.iter().any(|o| o == user.as_str()) && self.on_shift_by_schedule(&view, user, now)
        };
        if let Some(Ok(owner)) = owner.map(UserId::parse)
            && self.access.may_see(&owner, driver)
            && on_shift(&owner)
        {
            return Ok(vec![owner]);
        }
        let everyone = self.access.who_may_see(driver, &self.dispatchers);
        let on: Vec<OwnedUserId> = everyone.iter().filter(|u| on_shift(u)).cloned().collect();
        Ok(if on.is_empty() { everyone } else { on })
    }

    /// Whether `user` works at `now` by their shift (`inbox.shift_attribute`; without one,
    /// always).
    fn on_shift_by_schedule(&self, view: &DirectoryView, user: &UserId, now: i64) -> bool {
        let duty = &self.config.duty;
        let shift = (duty.shift_attribute.as_deref())
            .map_or("", |attribute| view.dispatcher_attribute(user, attribute));
        duty::on_shift(duty, shift, &self.zone, now)
    }

    /// `on-shift` / `off-shift` in the management room; the answer.
    pub async fn set_on_shift(&self, user: &UserId, on: bool) -> Result<String, BridgeError> {
        if !self.enabled() {
            return Ok(crate::tr!(self.texts, "desk-off"));
        }
        let changed = (self.store)
            .dispatcher_set_off_shift(user.as_str(), !on)
            .await?;
        let action = if on {
            "inbox.on_shift"
        } else {
            "inbox.off_shift"
        };
        if changed {
            self.store
                .audit(user.as_str(), action, user.as_str(), "")
                .await?;
        }
        let scheduled = self.on_shift_by_schedule(&self.access.view(), user, now_ms());
        Ok(match on {
            true if !scheduled => crate::tr!(self.texts, "desk-on-shift-not-yet"),
            true => crate::tr!(self.texts, "desk-on-shift"),
            false => crate::tr!(self.texts, "desk-off-shift"),
        })
    }

    /// How long the driver's message may wait: the shortest period among those for the
    /// driver's attribute values, else `inbox.answer_within_minutes`.
    fn answer_within(&self, driver: &ThreemaId) -> Duration {
        let view = self.access.view();
        (self.config.answer_within_by.iter())
            .filter(|(attribute, value, _)| {
                view.driver_attribute(driver, attribute)
                    .trim()
                    .eq_ignore_ascii_case(value.trim())
            })
            .map(|(_, _, period)| *period)
            .min()
            .unwrap_or(self.config.answer_within)
    }

    /// Says in the desk room that the conversation waits too long (`told`), then records it.
    /// The conversation is read again first: answered meanwhile, it is not said.
    async fn tell(
        &self,
        driver: &ThreemaId,
        seen: &Conversation,
        told: Told,
    ) -> Result<(), BridgeError> {
        let Some(conversation) = self.store.conversation(driver.as_str()).await? else {
            return Ok(());
        };
        let due = said::due(
            &conversation,
            self.answer_within(driver),
            self.config.escalate_after,
            now_ms(),
        );
        if due != Due::Now(told) || conversation.waiting_since != seen.waiting_since {
            return Ok(());
        }
        let since = conversation.waiting_since.unwrap_or_default();
        let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await? else {
            // Nothing to link to (the portal was closed): nothing to say, now or later.
            (self.store)
                .conversation_told(driver.as_str(), since, told)
                .await?;
            return Ok(());
        };
        let portal = RoomId::parse(&portal.room_id)
            .map_err(|e| BridgeError::BadEvent(format!("stored portal: {e}")))?;
        let waited = self.waited(now_ms().saturating_sub(since));
        let name = self.driver_name(driver).await?;
        let (kind, text, mentioned) = match told {
            Told::Late => (
                "late",
                crate::tr!(
                    self.texts,
                    "desk-late",
                    name = name.as_str(),
                    waited = waited.as_str()
                ),
                self.to_answer(driver, conversation.owner.as_deref())
                    .await?,
            ),
            Told::Escalated => (
                "escalated",
                crate::tr!(
                    self.texts,
                    "desk-escalated",
                    name = name.as_str(),
                    waited = waited.as_str()
                ),
                // Only those who may see the driver, as everywhere in the desk rooms.
                (self.access.admins().into_iter())
                    .filter(|admin| self.access.may_see(admin, driver))
                    .collect(),
            ),
        };
        let link = permalink(portal.as_str(), conversation.waiting_event.as_deref());
        let txn = format!("desk-{kind}-{driver}-{since}");
        let posted = (self.alert(driver, &portal, &text, &link, &mentioned, &txn)).await?;
        let recorded = (self.store)
            .conversation_told(driver.as_str(), since, told)
            .await?;
        if !recorded {
            return self.take_back_if_gone(driver, posted).await;
        }
        let action = format!("inbox.{kind}");
        let details = format!("{} mentioned", mentioned.len());
        (self.store)
            .audit("inbox", &action, driver.as_str(), &details)
            .await?;
        self.metrics.inbox_alert(kind);
        Ok(())
    }

    /// Says the driver's urgent message `event` in the desk room, mentioning who has the
    /// conversation, or everyone who may see the driver; then records it said. Its text is
    /// read again from the portal (the bridge does not keep it).
    async fn urgent(&self, driver: &ThreemaId, event: &str) -> Result<(), BridgeError> {
        // As it is now: answered meanwhile, or taken over by someone else.
        let Some(conversation) = self.store.conversation(driver.as_str()).await? else {
            return Ok(());
        };
        if conversation.urgent_event.as_deref() != Some(event) {
            return Ok(());
        }
        let (Some(portal), Ok(event_id)) = (
            self.store.portal_by_threema_id(driver.as_str()).await?,
            ruma::EventId::parse(event),
        ) else {
            self.store
                .conversation_urgent_told(driver.as_str(), event)
                .await?;
            return Ok(());
        };
        let read = match self.matrix.event(&portal.room_id, &event_id).await {
            Ok(read) => read,
            // Gone from the portal (redacted, purged): nothing to say any more.
            Err(e) if matches!(e.errcode(), Some("M_NOT_FOUND" | "M_FORBIDDEN")) => {
                self.store
                    .conversation_urgent_told(driver.as_str(), event)
                    .await?;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let mentioned = self
            .to_answer(driver, conversation.owner.as_deref())
            .await?;
        let name = self.driver_name(driver).await?;
        let said = match read["content"]["body"].as_str().filter(|t| !t.is_empty()) {
            Some(text) => {
                let line: String = text.chars().take(200).collect();
                crate::tr!(
                    self.texts,
                    "desk-urgent-said",
                    name = name.as_str(),
                    line = line
                )
            }
            None => crate::tr!(self.texts, "desk-urgent", name = name.as_str()),
        };
        let link = permalink(portal.room_id.as_str(), Some(event));
        let txn = format!("desk-urgent-{event}");
        let posted = (self.alert(driver, &portal.room_id, &said, &link, &mentioned, &txn)).await?;
        if !self
            .store
            .conversation_urgent_told(driver.as_str(), event)
            .await?
        {
            return self.take_back_if_gone(driver, posted).await;
        }
        let details = format!("{} mentioned", mentioned.len());
        (self.store)
            .audit("inbox", "inbox.urgent", driver.as_str(), &details)
            .await?;
        self.metrics.inbox_alert("urgent");
        Ok(())
    }

    /// Posts `text` with a link into the portal in the driver's desk room, mentioning
    /// `mentioned` by name (Element highlights and notifies them). An `m.text`: the default
    /// push rules keep notices silent, mentions or not. `txn` makes a retry post it once.
    async fn alert(
        &self,
        driver: &ThreemaId,
        portal: &RoomId,
        text: &str,
        link: &str,
        mentioned: &[OwnedUserId],
        txn: &str,
    ) -> Result<(OwnedRoomId, ruma::OwnedEventId), BridgeError> {
        let room = self.desk_room(driver).await?;
        for user in mentioned {
            self.matrix.ensure_invited(&room, user).await?;
        }
        let mut names = Vec::new();
        for user in mentioned {
            names.push((user, self.person_name(portal, user).await));
        }
        let plain: Vec<&str> = names.iter().map(|(_, name)| name.as_str()).collect();
        let pills: Vec<String> = (names.iter())
            .map(|(user, name)| {
                let name = html_escape::encode_text(name);
                format!("<a href=\"https://matrix.to/#/{user}\">{name}</a>")
            })
            .collect();
        let mut body = format!("{text} — {link}");
        let mut html = format!(
            "{} — <a href=\"{link}\">open the chat</a>",
            html_escape::encode_text(text)
        );
        if !names.is_empty() {
            body.push_str(&format!("\n{}", plain.join(", ")));
            html.push_str(&format!("<br>{}", pills.join(", ")));
        }
        let content = json!({
            "msgtype": "m.text",
            "body": body,
            "format": "org.matrix.custom.html",
            "formatted_body": html,
            "m.mentions": { "user_ids": mentioned },
        });
        let posted = self.notices.post_raw(&room, &content, txn).await?;
        Ok((room, posted))
    }

    /// An alert posted for a driver whose conversation went meanwhile (their erasure began)
    /// is taken back: nothing may name them after the erasure's redaction.
    async fn take_back_if_gone(
        &self,
        driver: &ThreemaId,
        (room, posted): (OwnedRoomId, ruma::OwnedEventId),
    ) -> Result<(), BridgeError> {
        if self.store.conversation(driver.as_str()).await?.is_none() {
            let txn = format!("desk-takeback-{posted}");
            (self.matrix)
                .redact(&room, &posted, &txn, &self.bot, Some("erased"))
                .await?;
        }
        Ok(())
    }

    /// The driver's desk room: made (with its people invited) if it is not there yet; members
    /// who may no longer see its drivers removed.
    async fn desk_room(&self, driver: &ThreemaId) -> Result<OwnedRoomId, BridgeError> {
        let room_id = self.ensure_desk_room(&self.desk_of(driver), driver).await?;
        self.keep_members(&room_id, driver).await?;
        Ok(room_id)
    }

    /// The desk room's members are kept to those who may see its drivers (`driver` is one):
    /// whoever may no longer is removed; one that cannot be holds up nobody else. (Invited are
    /// those who may see them when the room is made, and whoever an alert mentions: someone
    /// who left the room is not asked back at every change.)
    pub(super) async fn keep_members(
        &self,
        room_id: &RoomId,
        driver: &ThreemaId,
    ) -> Result<(), BridgeError> {
        for member in self.matrix.members(room_id).await? {
            if member != self.bot && !self.access.may_see(&member, driver) {
                let reason = "no longer sees the drivers of this desk";
                if let Err(e) = self.matrix.kick(room_id, &member, reason).await {
                    tracing::warn!(%room_id, %member, error = %e, "cannot remove from the desk room");
                }
            }
        }
        Ok(())
    }

    /// The desk room of `driver` (of `desk`), made with those who may see its drivers invited
    /// if it is not there yet. Its alias ends in this installation's mark: another bridge (a
    /// test's, a new install) on the homeserver has desk rooms of its own.
    pub(super) async fn ensure_desk_room(
        &self,
        desk: &Desk,
        driver: &ThreemaId,
    ) -> Result<OwnedRoomId, BridgeError> {
        if let Some(room) = self.store.state_get(&desk.state_key).await? {
            return OwnedRoomId::try_from(room)
                .map_err(|e| BridgeError::BadEvent(format!("stored desk room: {e}")));
        }
        let mark = hex::encode(rand::random::<[u8; 4]>());
        let mark = self
            .store
            .state_set_once("inbox_installation_mark", &mark)
            .await?;
        let alias = format!("{}_{mark}", desk.alias);
        let belong = self.access.who_may_see(driver, &self.dispatchers);
        let topic = crate::tr!(self.texts, "desk-room-topic");
        let room = BotRoom {
            state_key: &desk.state_key,
            alias: &alias,
            name: &desk.name,
            topic: &topic,
            invite: belong,
        };
        room.ensure(&self.store, &self.matrix, &self.domain).await
    }

    /// Which desk room the driver's alerts go to: the values of the directory's scope
    /// attributes decide who may see a driver, so drivers alike in these share one.
    pub(super) fn desk_of(&self, driver: &ThreemaId) -> Desk {
        let view = self.access.view();
        let scope = view.driver_scope(driver);
        if scope.is_empty() {
            return Desk {
                state_key: "desk_room".into(),
                alias: "desk".into(),
                name: crate::tr!(self.texts, "desk-room-name"),
            };
        }
        let key: Vec<String> = (scope.iter())
            // As the scopes compare them (`plan::in_scope`): letters in any ASCII case.
            .map(|(attribute, value)| format!("{attribute}={}", value.trim().to_ascii_lowercase()))
            .collect();
        let key = key.join(",");
        let label: Vec<&str> = (scope.iter())
            .map(|(_, value)| if value.is_empty() { "–" } else { *value })
            .collect();
        // Letters and digits of the values for people, a hash of the key for uniqueness: two
        // scopes must never share a room.
        let slug: String = (label.join("_").to_ascii_lowercase().chars())
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(32)
            .collect();
        let hash = hex::encode(&Sha256::digest(key.as_bytes())[..4]);
        Desk {
            state_key: format!("desk_room:{key}"),
            alias: format!("desk_{slug}_{hash}"),
            name: crate::tr!(
                self.texts,
                "desk-room-name-scoped",
                scope = label.join(" · ")
            ),
        }
    }

    /// The driver's name as the desk knows it.
    pub(super) async fn driver_name(&self, driver: &ThreemaId) -> Result<String, BridgeError> {
        if let Some((name, _)) = self.access.view().driver(driver) {
            return Ok(name.to_owned());
        }
        Ok((self.store.ghost_by_threema_id(driver.as_str()).await?)
            .and_then(|g| g.display_name)
            .unwrap_or_else(|| driver.to_string()))
    }
}

impl Conversations {
    /// "12 min", "2 h 5 min".
    fn waited(&self, ms: i64) -> String {
        let minutes = (ms.max(0) + 30_000) / 60_000;
        match minutes {
            0 => crate::tr!(self.texts, "desk-waited-moment"),
            m if m < 60 => crate::tr!(self.texts, "desk-waited-minutes", minutes = m),
            m => crate::tr!(
                self.texts,
                "desk-waited-hours",
                hours = m / 60,
                minutes = m % 60
            ),
        }
    }
}
