//! What became of the API's messages, derived where the bridge learns it (a driver's
//! receipt, a failure, the driver's next message), while that item is handled: a job card's
//! state moves, and an event is queued for each webhook that wants it, under an id derived
//! from the message, the driver and the event, so a repeated step queues nothing new (the
//! delivery is `webhooks`').

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use super::job::{self, Job};
use crate::{
    bridge::desk::Conversations,
    config::{Config, Webhook, WebhookEvent},
    store::{ApiMessage, ApiRecipient, OutboxItem, Store, StoreError, now_ms},
    zone::rfc3339,
};

/// A driver's message counts as the answer to the API's message for this long after it.
const ANSWER_WINDOW_MS: i64 = 7 * 86_400_000;

pub struct ApiEvents {
    store: Store,
    /// The API is configured: without it no message is the API's, nothing is looked up.
    active: bool,
    hooks: Vec<Webhook>,
    /// Wakes the webhooks' worker.
    queued: Arc<Notify>,
    /// A job's new state shows on the desk board.
    conversations: Arc<Conversations>,
}

impl ApiEvents {
    pub fn new(
        config: &Config,
        store: Store,
        queued: Arc<Notify>,
        conversations: Arc<Conversations>,
    ) -> Self {
        ApiEvents {
            store,
            active: !config.api.clients.is_empty(),
            hooks: config.api.webhooks.clone(),
            queued,
            conversations,
        }
    }

    /// A driver's receipt for `row` (delivered, read, 👍, 👎), if the API sent it: a job
    /// card's 👍/👎 is its answer. Delivery counts by the first part; a 👍 on any (the ack
    /// request is a part of its own).
    pub async fn on_receipt(
        &self,
        row: &OutboxItem,
        event: WebhookEvent,
        at: i64,
    ) -> Result<(), StoreError> {
        let thumbs_up = match event {
            WebhookEvent::Acknowledged => Some(true),
            WebhookEvent::Declined => Some(false),
            _ => None,
        };
        if row.part != 0 && thumbs_up.is_none() {
            return Ok(());
        }
        let Some((message, recipient)) = self.api_of(row).await? else {
            return Ok(());
        };
        let driver = &recipient.driver;
        if let (Some(job), Some(up)) = (job_of(&message), thumbs_up)
            && let Some(state) = job.state_of_reaction(up)
        {
            self.job_state(&message, driver, state, at).await?;
        }
        (self.report(&message, driver, event, at, json!({}))).await
    }

    /// `row` failed for good (the reason as the desk was told): the message failed if its
    /// first part did.
    pub async fn on_failed(&self, row: &OutboxItem) -> Result<(), StoreError> {
        if row.part != 0 {
            return Ok(());
        }
        let Some((message, recipient)) = self.api_of(row).await? else {
            return Ok(());
        };
        (self.failed(&message, &recipient.driver, json!(row.error))).await
    }

    /// The API's message and recipient `row` is the Threema message of, if it is one.
    async fn api_of(
        &self,
        row: &OutboxItem,
    ) -> Result<Option<(ApiMessage, ApiRecipient)>, StoreError> {
        if !self.active {
            return Ok(None);
        }
        (self.store)
            .api_recipient_by_event(row.event_id.as_str(), row.recipient.as_str())
            .await
    }

    /// The message did not reach `driver` (`reason`): a job card fails with it.
    async fn failed(
        &self,
        message: &ApiMessage,
        driver: &str,
        reason: Value,
    ) -> Result<(), StoreError> {
        let at = now_ms();
        if job_of(message).is_some() {
            self.job_state(message, driver, job::FAILED, at).await?;
        }
        let reason = json!({ "reason": reason });
        (self.report(message, driver, WebhookEvent::Failed, at, reason)).await
    }

    /// The driver voted `chosen` (answers' texts) in the poll whose portal event is `event`: a
    /// job card answered in a poll takes the choice as its state.
    pub async fn on_poll_vote(
        &self,
        event: &str,
        driver: &str,
        chosen: &[String],
        at: i64,
    ) -> Result<(), StoreError> {
        if !self.active {
            return Ok(());
        }
        let Some((message, _)) = self.store.api_recipient_by_event(event, driver).await? else {
            return Ok(());
        };
        match job_of(&message).and_then(|job| job.state_of_vote(chosen)) {
            Some(state) => self.job_state(&message, driver, &state, at).await,
            None => Ok(()),
        }
    }

    /// The copy of `message_id` for `driver` could not be given at all (given up).
    pub async fn on_copy_failed(&self, message_id: &str, driver: &str) -> Result<(), StoreError> {
        let Some(message) = self.store.api_message_any(message_id).await? else {
            return Ok(());
        };
        let reason = json!("the bridge could not give the driver's portal its copy");
        (self.failed(&message, driver, reason)).await
    }

    /// The driver wrote at `at` (`text`, or a quick code's `status`: code and meaning): the
    /// answer to what the API had sent them by then and no message of theirs answered yet. A
    /// quick code answers the newest job card asking for it (which takes its meaning as its
    /// state), anything else the newest message.
    pub async fn on_driver_message(
        &self,
        driver: &str,
        text: Option<&str>,
        status: Option<(&str, &str)>,
        at: i64,
    ) -> Result<(), StoreError> {
        if !self.active {
            return Ok(());
        }
        // The phone's time is in whole seconds: a message sent in the same second counts.
        let until = at + 999;
        let open = (self.store)
            .api_unanswered(driver, at - ANSWER_WINDOW_MS, until)
            .await?;
        let by_code = status.and_then(|(code, meaning)| {
            open.iter().find_map(|(message, _)| {
                let state = job_of(message)?.state_of_code(code, meaning)?;
                Some((message, state))
            })
        });
        let newest = open.first().map(|(message, _)| message);
        let Some(answered) = by_code.as_ref().map(|(message, _)| *message).or(newest) else {
            return Ok(());
        };
        if let Some((message, state)) = &by_code {
            self.job_state(message, driver, state, at).await?;
        }
        let answer = json!({
            "text": text,
            "quick_code": status.map(|(code, meaning)| json!({"code": code, "meaning": meaning})),
        });
        (self.report(answered, driver, WebhookEvent::Answered, at, answer)).await?;
        let ids: Vec<String> = open.iter().map(|(message, _)| message.id.clone()).collect();
        self.store.api_answered(driver, &ids, at).await
    }

    /// Moves the job to `state`, shows it on the desk board and reports the change. Reported
    /// also when it is there already at that very time: a crash after the move and before the
    /// report left it unsaid (the event's id makes a second report nothing new).
    async fn job_state(
        &self,
        message: &ApiMessage,
        driver: &str,
        state: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        let moved = (self.store)
            .api_job_set_state(&message.id, state, at)
            .await?;
        let there = message.job_state.as_deref() == Some(state) && message.job_state_at == Some(at);
        if moved {
            self.conversations.boards_changed();
        } else if !there {
            return Ok(());
        }
        let data = json!({"state": state});
        (self.report(message, driver, WebhookEvent::Job, at, data)).await
    }

    /// Queues `event` about `message` to `driver` for every webhook that wants it.
    async fn report(
        &self,
        message: &ApiMessage,
        driver: &str,
        event: WebhookEvent,
        at: i64,
        extra: Value,
    ) -> Result<(), StoreError> {
        let hooks: Vec<&Webhook> = (self.hooks.iter())
            .filter(|h| wants(h, event, &message.client))
            .collect();
        if hooks.is_empty() {
            return Ok(());
        }
        // A job's every state and a driver's every 👍 or 👎 is an event of its own (👍, 👎, 👍
        // again: the receiver hears the last); the others happen once per message.
        let occurrence = match event {
            WebhookEvent::Job => format!("{}@{at}", extra["state"].as_str().unwrap_or_default()),
            WebhookEvent::Acknowledged | WebhookEvent::Declined => at.to_string(),
            _ => String::new(),
        };
        let id = event_id(&message.id, driver, event, &occurrence);
        let mut data = json!({
            "message_id": message.id,
            "reference": message.reference,
            "threema_id": driver,
            "at": rfc3339(at),
        });
        if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        let payload = json!({
            "id": id,
            "type": event.kind(),
            "client": message.client,
            "data": data,
        })
        .to_string();
        let mut queued = false;
        for hook in hooks {
            queued |= (self.store)
                .webhook_enqueue(hook.url.as_str(), &id, &payload)
                .await?;
        }
        if queued {
            self.queued.notify_one();
        }
        Ok(())
    }
}

fn job_of(message: &ApiMessage) -> Option<Job> {
    serde_json::from_str(message.job.as_deref()?).ok()
}

fn wants(hook: &Webhook, event: WebhookEvent, client: &str) -> bool {
    hook.events.contains(&event)
        && (hook.clients.as_ref())
            .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(client)))
}

/// The same for the same message, driver and event (and job state), however often derived.
fn event_id(message: &str, driver: &str, event: WebhookEvent, occurrence: &str) -> String {
    let digest = Sha256::digest(format!("{message}/{driver}/{}/{occurrence}", event.name()));
    format!("evt_{}", hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_has_one_id_however_often_it_is_derived() {
        let read = |occurrence| event_id("msg_1", "ABCD1234", WebhookEvent::Read, occurrence);
        assert_eq!(read(""), read(""));
        assert_ne!(
            read(""),
            event_id("msg_1", "ABCD1234", WebhookEvent::Delivered, "")
        );
        let job = |state| event_id("job_1", "ABCD1234", WebhookEvent::Job, state);
        assert_ne!(job("accepted@1000"), job("declined@2000"));
        assert_ne!(job("accepted@1000"), job("accepted@3000"), "accepted again");
    }
}
