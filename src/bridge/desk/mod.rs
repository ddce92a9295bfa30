//! The shared inbox (`inbox:`): every driver message has an owner and a clock. A driver's
//! message opens their conversation (or keeps it open, waiting since the first unanswered
//! one) until a dispatcher answers in the portal, marks the message handled with a reaction,
//! or says `!done`; `!claim` or the claim reaction takes it, `!assign @colleague` gives it,
//! `!release` lets it go, and `handover @colleague` in the management room moves all of one's
//! open conversations. The portal's topic shows it, so every dispatcher sees it in any client.

mod said;

use std::sync::Arc;

use ruma::{EventId, OwnedUserId, RoomId, UserId};
use serde_json::json;

pub use said::PortalCommand;

use super::{Access, BridgeError, Notices, Outcome};
use crate::{
    config::InboxConfig,
    matrix::MatrixClient,
    store::{Closed, Store},
    threema::ThreemaId,
};

pub struct Conversations {
    config: InboxConfig,
    store: Store,
    matrix: MatrixClient,
    access: Arc<Access>,
    notices: Arc<Notices>,
}

impl Conversations {
    pub(super) fn new(
        config: &InboxConfig,
        store: Store,
        matrix: MatrixClient,
        access: Arc<Access>,
        notices: Arc<Notices>,
    ) -> Self {
        Conversations {
            config: config.clone(),
            store,
            matrix,
            access,
            notices,
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// A driver's message `event_id` (sent at `at`) is in their portal: it waits for the desk.
    pub async fn driver_wrote(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        event_id: &EventId,
        at: i64,
    ) -> Result<(), BridgeError> {
        if !self.enabled() {
            return Ok(());
        }
        (self.store)
            .conversation_driver_wrote(driver.as_str(), event_id.as_str(), at)
            .await?;
        self.show(driver, room_id).await
    }

    /// A dispatcher wrote to the driver in the portal: answered.
    pub async fn answered(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
    ) -> Result<(), BridgeError> {
        if !self.enabled() {
            return Ok(());
        }
        (self.store)
            .conversation_close(driver.as_str(), by.as_str(), Closed::Answered)
            .await?;
        self.show(driver, room_id).await
    }

    /// A dispatcher's reaction `key` on `target` in the portal, if it means something here:
    /// the claim reaction takes the conversation, a handled reaction on the driver's message
    /// closes it. `None`: not the desk's (the caller goes on).
    pub async fn reaction(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
        target: &str,
        key: &str,
    ) -> Result<Option<Outcome>, BridgeError> {
        if !self.enabled() {
            return Ok(None);
        }
        // Only on what the driver wrote: a reaction on the desk's own message means nothing.
        let from_driver = (self.store)
            .message_by_event_id(target)
            .await?
            .is_some_and(|m| m.direction == crate::store::Direction::In);
        if !from_driver {
            return Ok(None);
        }
        if key == self.config.claim_reaction {
            return self.take(driver, room_id, by, Some(by)).await.map(Some);
        }
        if self.config.handled_reactions.iter().any(|k| k == key) {
            let closed = (self.store)
                .conversation_close(driver.as_str(), by.as_str(), Closed::Reaction)
                .await?;
            self.audit(by, "inbox.handled", driver).await?;
            self.show(driver, room_id).await?;
            return Ok(Some(match closed {
                true => Outcome::bridged(format!("conversation with {driver} marked handled")),
                false => Outcome::skipped("nothing was waiting"),
            }));
        }
        Ok(None)
    }

    /// A portal command by `by`; the answer is a notice in the portal.
    pub async fn command(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        event_id: &EventId,
        by: &UserId,
        command: PortalCommand,
    ) -> Result<Outcome, BridgeError> {
        let outcome = match &command {
            PortalCommand::Claim => self.take(driver, room_id, by, Some(by)).await?,
            PortalCommand::Release => self.take(driver, room_id, by, None).await?,
            PortalCommand::Assign(who) => {
                let Ok(who) = OwnedUserId::try_from(who.as_str()) else {
                    return self
                        .refuse(
                            room_id,
                            event_id,
                            &format!("{who} is not a Matrix user ID (like @anna:example.org)."),
                        )
                        .await;
                };
                if !self.access.may_see(&who, driver) {
                    return self
                        .refuse(
                            room_id,
                            event_id,
                            &format!("{who} may not see this driver: not assigned."),
                        )
                        .await;
                }
                self.take(driver, room_id, by, Some(&who)).await?
            }
            PortalCommand::Done => {
                let closed = (self.store)
                    .conversation_close(driver.as_str(), by.as_str(), Closed::Done)
                    .await?;
                self.audit(by, "inbox.done", driver).await?;
                self.show(driver, room_id).await?;
                match closed {
                    true => Outcome::bridged(format!("conversation with {driver} done")),
                    false => Outcome::skipped("nothing was waiting"),
                }
            }
        };
        Ok(outcome)
    }

    /// Gives the open conversation to `owner` (`None`: to nobody), as `by` asked.
    async fn take(
        &self,
        driver: &ThreemaId,
        room_id: &RoomId,
        by: &UserId,
        owner: Option<&UserId>,
    ) -> Result<Outcome, BridgeError> {
        let open = (self.store)
            .conversation_set_owner(driver.as_str(), owner.map(|o| o.as_str()))
            .await?;
        if !open {
            return Ok(Outcome::skipped("nothing is waiting"));
        }
        let details = owner.map_or_else(|| "released".to_owned(), |o| format!("owner {o}"));
        (self.store)
            .audit(by.as_str(), "inbox.owner", driver.as_str(), &details)
            .await?;
        self.show(driver, room_id).await?;
        Ok(Outcome::bridged(format!(
            "conversation with {driver}: {details}"
        )))
    }

    /// `handover @colleague` in the management room: all of `from`'s open conversations go to
    /// `to`, if `to` may see each driver; the answer for the room.
    pub async fn hand_over(&self, from: &UserId, to: &str) -> Result<String, BridgeError> {
        if !self.enabled() {
            return Ok("The shared inbox is off (inbox.enabled).".into());
        }
        let Ok(to) = OwnedUserId::try_from(to) else {
            return Ok(format!(
                "{to} is not a Matrix user ID (like @anna:example.org)."
            ));
        };
        let moved = self
            .store
            .conversations_hand_over(from.as_str(), to.as_str())
            .await?;
        let mut kept = Vec::new();
        for driver in &moved {
            let Some(driver) = ThreemaId::parse(driver) else {
                continue;
            };
            if !self.access.may_see(&to, &driver) {
                // Back to the one handing over: the colleague may not see this driver.
                (self.store)
                    .conversation_set_owner(driver.as_str(), Some(from.as_str()))
                    .await?;
                kept.push(driver.to_string());
                continue;
            }
            if let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await? {
                self.show(&driver, &portal.room_id).await?;
            }
        }
        let given = moved.len() - kept.len();
        (self.store)
            .audit(
                from.as_str(),
                "inbox.handover",
                to.as_str(),
                &format!("{given} conversation(s)"),
            )
            .await?;
        Ok(match kept.is_empty() {
            true => format!("{given} open conversation(s) handed over to {to}."),
            false => format!(
                "{given} open conversation(s) handed over to {to}; kept {} they may not see: {}.",
                kept.len(),
                kept.join(", ")
            ),
        })
    }

    /// Sets the portal's topic to what the conversation is now, unless it says that already.
    async fn show(&self, driver: &ThreemaId, room_id: &RoomId) -> Result<(), BridgeError> {
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
        let topic = said::topic(&conversation, |user| {
            names.get(user).cloned().unwrap_or_else(|| user.to_owned())
        });
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

    async fn audit(
        &self,
        by: &UserId,
        action: &str,
        driver: &ThreemaId,
    ) -> Result<(), BridgeError> {
        (self.store)
            .audit(by.as_str(), action, driver.as_str(), "")
            .await?;
        Ok(())
    }
}
