//! The worker that gives each stored recipient their copy: the bot's message in the driver's
//! portal (posted once, found again after a crash by a key in its content) and the Threema
//! message queued under it (the outbox keeps one row per event and part).

use std::{sync::Arc, time::Duration};

use bridge_convert::{
    plan::{EditTarget, Outgoing, Plan, plan_message, plan_poll, signed_text},
    poll::start_content,
};
use ruma::OwnedRoomId;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{Integration, job, request::StoredFile};
use crate::bridge::matrix_to_threema::outbox::With;
use crate::{
    bridge::BridgeError,
    store::{ApiPending, now_ms},
    threema::ThreemaId,
    tr,
};

/// Names the API message and recipient a portal copy was posted for.
const API_KEY: &str = "org.threema_bridge.api_message";
/// After the store could not be read, the next look.
const RETRY: Duration = Duration::from_secs(10);
/// A copy that could not be given is tried this often, at most this far apart (about a day).
const MAX_ATTEMPTS: i64 = 30;
const MAX_BACKOFF_MS: i64 = 3_600_000;

impl Integration {
    /// Gives every stored recipient their copy, until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let wait = match self.deliver_pending().await {
                Ok(true) => Duration::ZERO,
                Ok(false) => Duration::from_secs(60),
                Err(e) => {
                    tracing::warn!(error = %e, "integration API: a copy could not be given; tried again shortly");
                    RETRY
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One batch; whether there may be more. A copy that cannot be given is tried again
    /// later, with back-off, and given up after a day of tries (the client told by the
    /// message's state and a `message.failed`); the others go on meanwhile.
    async fn deliver_pending(&self) -> Result<bool, BridgeError> {
        let pending = self.store.api_pending(50).await?;
        for item in &pending {
            let Err(e) = self.deliver(item).await else {
                continue;
            };
            let recipient = &item.recipient;
            let (id, driver) = (&recipient.message_id, &recipient.driver);
            tracing::warn!(message = %id, error = %crate::error_chain::chain(&e), "integration API: a copy could not be given");
            let attempts = recipient.attempts + 1;
            let next_at = (attempts < MAX_ATTEMPTS)
                .then(|| now_ms() + (1000_i64 << attempts.min(10)).min(MAX_BACKOFF_MS));
            self.store.api_recipient_retry(id, driver, next_at).await?;
            if next_at.is_none() {
                self.events.on_copy_failed(id, driver).await?;
            }
        }
        Ok(pending.len() == 50)
    }

    /// The portal copy (posted once), then the Threema message queued under it.
    async fn deliver(&self, item: &ApiPending) -> Result<(), BridgeError> {
        let recipient = &item.recipient;
        let Some(driver) = ThreemaId::parse(&recipient.driver) else {
            // Not a Threema ID (cannot happen: stored from a selection): nothing to give.
            (self.store)
                .api_recipient_queued(&recipient.message_id, &recipient.driver)
                .await?;
            return Ok(());
        };
        let portal = self.portal(&driver, &recipient.name).await?;
        let poll = (item.job.as_deref())
            .and_then(|j| serde_json::from_str::<job::Job>(j).ok())
            .and_then(|job| job.poll());
        let file: Option<StoredFile> = item
            .file
            .as_deref()
            .and_then(|f| serde_json::from_str(f).ok());
        let event = match &recipient.portal_event {
            Some(event) => event.clone(),
            None => {
                let body = tr!(
                    self.texts,
                    "api-portal-copy",
                    client = item.client.as_str(),
                    text = item.body.as_str()
                );
                // A job card answered in a poll: the copy is the poll, the card its question;
                // with a file, the file with the text as its caption (Matrix 1.10).
                let poll_start = (poll.as_ref())
                    .and_then(|p| start_content(p.namespace, &body, &p.answers, false));
                let mut content = match (poll_start, &file) {
                    (Some(start), _) => start,
                    (None, Some(file)) => {
                        let mut content =
                            serde_json::to_value(file.content("")).expect("content serialises");
                        content["body"] = json!(body);
                        content
                    }
                    (None, None) => json!({"msgtype": "m.text", "body": body}),
                };
                content["m.mentions"] = json!({});
                content[API_KEY] = json!(format!("{}/{}", recipient.message_id, recipient.driver));
                let txn = format!("api-{}-{}", recipient.message_id, recipient.driver);
                let posted = (self.notices)
                    .post_once(&portal, &content, API_KEY, true, &txn, async { Ok(()) })
                    .await?;
                (self.store)
                    .api_recipient_posted(&recipient.message_id, &recipient.driver, posted.as_str())
                    .await?;
                posted.to_string()
            }
        };
        let relay = self.relay.by(&item.client);
        let mut items = match &file {
            None => signed_text(&item.body, relay),
            // Planned as a dispatcher's file with that caption would be.
            Some(file) => {
                match plan_message(&file.content(&item.body), relay, |_| EditTarget::Unknown) {
                    Plan::Send(items) => items,
                    Plan::Refuse(why) => {
                        return Err(BridgeError::BadEvent(format!("an API file: {why:?}")));
                    }
                }
            }
        };
        if let Some(poll) = &poll {
            // The same poll id whenever this is repeated: the outbox keeps the first.
            let digest = Sha256::digest(format!("{}/{}", recipient.message_id, recipient.driver));
            let poll_id = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
            match plan_poll(poll, relay, poll_id, None) {
                Plan::Send(poll) => items.extend(poll),
                Plan::Refuse(why) => {
                    return Err(BridgeError::BadEvent(format!("an API job's poll: {why:?}")));
                }
            }
        }
        if item.ack_requested {
            items.push(Outgoing::Text {
                text: tr!(self.texts, "broadcast-ack-request"),
                reply_to: None,
            });
        }
        (self.outbox)
            .queue(
                &items,
                &driver,
                &event,
                &portal,
                self.bot.as_str(),
                With::default(),
            )
            .await?;
        (self.store)
            .api_recipient_queued(&recipient.message_id, &recipient.driver)
            .await?;
        Ok(())
    }

    /// The driver's portal, made if they have none yet.
    async fn portal(&self, driver: &ThreemaId, name: &str) -> Result<OwnedRoomId, BridgeError> {
        if let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await? {
            return Ok(portal.room_id);
        }
        let ghost = self.ghosts.ensure_named(driver, name).await?;
        self.portals.ensure(driver, &ghost, name).await
    }
}
