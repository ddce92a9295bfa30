//! `gdpr.driver_notice` (GDPR Art. 13): each driver gets the company's privacy notice before
//! anything else the bridge sends them, and when they write first, in answer; again when its
//! text changes. The bot posts it in the portal, so the desk sees what the driver was told and
//! the notice's delivery and read status like any message's; the outbox sends it under that
//! event, ahead of what follows (it keeps each driver's messages in order).

use bridge_convert::{
    format::split_text,
    plan::{MAX_TEXT_BYTES, Outgoing},
};
use ruma::RoomId;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Outbox, queueing::new_rows};
use crate::{bridge::BridgeError, config::Config, ids, store::NoticeState, threema::ThreemaId};

/// Marks the bot's copy in the portal with the text's hash, so that a copy posted before a
/// crash is found instead of posted again.
const NOTICE_KEY: &str = "threema_bridge.driver_notice";

pub(super) struct PrivacyNotice {
    text: String,
    /// Which text a driver had: a changed text is sent again.
    hash: String,
    bot: ruma::OwnedUserId,
}

impl PrivacyNotice {
    pub(super) fn new(config: &Config) -> Option<Self> {
        let text = config.gdpr.driver_notice.clone()?;
        let hash = hex::encode(Sha256::digest(text.as_bytes()));
        Some(PrivacyNotice {
            text,
            hash,
            bot: ids::bot_user_id(&config.homeserver.domain),
        })
    }
}

impl Outbox {
    /// A driver wrote first: the notice answers them, in their portal.
    pub(crate) async fn privacy_notice_in_answer(
        &self,
        driver: &ThreemaId,
    ) -> Result<(), BridgeError> {
        if self.privacy_notice.is_none() {
            return Ok(());
        }
        match self.store.portal_by_threema_id(driver.as_str()).await? {
            Some(portal) => self.privacy_notice(driver, &portal.room_id, None).await,
            None => Ok(()),
        }
    }

    /// Queues the privacy notice for `driver`, whose portal is `portal`, unless they had this
    /// text already; held until `hold_until` with the message it comes before. Each step is
    /// recorded, so a retry after a crash finishes it once.
    pub(crate) async fn privacy_notice(
        &self,
        driver: &ThreemaId,
        portal: &RoomId,
        hold_until: Option<i64>,
    ) -> Result<(), BridgeError> {
        let Some(notice) = &self.privacy_notice else {
            return Ok(());
        };
        let (id, hash) = (driver.as_str(), notice.hash.as_str());
        let state = self.store.driver_notice_state(id, hash).await?;
        let event_id = match state {
            NoticeState::Queued(event_id) => {
                // Queued with a message that waits for the driver's shift, and now something
                // goes at once: the notice goes first.
                if hold_until.is_none()
                    && let Some(event_id) = event_id
                    && self.store.outbox_release_held(id, Some(&event_id)).await? > 0
                {
                    self.hold_ended();
                }
                return Ok(());
            }
            NoticeState::Posted(event_id) => event_id,
            NoticeState::New | NoticeState::Tried => {
                let content = json!({
                    "msgtype": "m.notice",
                    "body": crate::tr!(self.texts, "outbox-privacy-notice", text = notice.text.as_str()),
                    "m.mentions": {},
                    NOTICE_KEY: hash,
                });
                let txn = format!("privacy-notice-{}-{id}", &hash[..16]);
                let tried = state == NoticeState::Tried;
                let mark_tried = self.store.driver_notice_tried(id, hash);
                let event_id = self
                    .notices
                    .post_once(portal, &content, NOTICE_KEY, tried, &txn, mark_tried)
                    .await?;
                self.store
                    .driver_notice_posted(id, hash, event_id.as_str())
                    .await?;
                event_id.to_string()
            }
        };
        let parts: Vec<Outgoing> = split_text(&notice.text, MAX_TEXT_BYTES)
            .into_iter()
            .map(|text| Outgoing::Text {
                text,
                reply_to: None,
            })
            .collect();
        let holds = vec![hold_until; parts.len()];
        let bot = notice.bot.as_str();
        let rows = new_rows(&parts, &holds, &event_id, driver, portal.as_str(), bot);
        self.queue_rows(&rows, &holds, None).await?;
        self.store.driver_notice_queued(id, hash).await?;
        Ok(())
    }
}
