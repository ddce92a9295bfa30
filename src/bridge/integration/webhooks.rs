//! Webhooks: what became of the API's messages, pushed to the company's receivers
//! (`api.webhooks`). Each event is derived where the bridge learns it (a receipt, a failure,
//! the driver's next message) while that item is handled, and queued in the store under an
//! id derived from the message, the driver and the event, so a repeated step queues nothing
//! new. A worker then POSTs each queued event, signed like Stripe's (`Webhook-Signature:
//! t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), until the receiver answers 2xx,
//! with back-off from one second to an hour, for three days at most: at least once, and the
//! receiver drops repeats by `Webhook-Id` (the event's `id`).

use std::{sync::Arc, time::Duration};

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    config::{Config, Webhook, WebhookEvent},
    metrics::Metrics,
    store::{ApiMessage, OutboxItem, Store, StoreError, WebhookDelivery, now_ms},
    zone::rfc3339,
};

/// A driver's message counts as the answer to the API's message for this long after it.
const ANSWER_WINDOW_MS: i64 = 7 * 86_400_000;
/// A delivery not taken for this long is given up (and counted).
const GIVE_UP_MS: i64 = 3 * 86_400_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// One receiver taking its time holds up the others no longer than this.
const TIMEOUT: Duration = Duration::from_secs(10);
/// `Webhook-Signature` (named as Stripe's, whose receivers' libraries check this scheme).
pub const SIGNATURE_HEADER: &str = "webhook-signature";
pub const ID_HEADER: &str = "webhook-id";

pub struct Webhooks {
    store: Store,
    hooks: Vec<Webhook>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    wake: Notify,
}

impl Webhooks {
    pub fn new(config: &Config, store: Store, metrics: Arc<Metrics>) -> Self {
        Webhooks {
            store,
            hooks: config.api.webhooks.clone(),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            metrics,
            wake: Notify::new(),
        }
    }

    /// A driver's receipt for `row` (delivered, read, 👍, 👎): an event if the API sent it.
    pub async fn on_receipt(
        &self,
        row: &OutboxItem,
        event: WebhookEvent,
        at: i64,
    ) -> Result<(), StoreError> {
        if self.hooks.is_empty() || row.part != 0 {
            return Ok(());
        }
        let found = (self.store)
            .api_recipient_by_event(row.event_id.as_str(), row.recipient.as_str())
            .await?;
        if let Some((message, recipient)) = found {
            self.report(&message, &recipient.driver, event, at, json!({}))
                .await?;
        }
        Ok(())
    }

    /// `row` failed for good (the reason as the desk was told).
    pub async fn on_failed(&self, row: &OutboxItem) -> Result<(), StoreError> {
        if self.hooks.is_empty() {
            return Ok(());
        }
        let found = (self.store)
            .api_recipient_by_event(row.event_id.as_str(), row.recipient.as_str())
            .await?;
        if let Some((message, recipient)) = found {
            let reason = json!({"reason": row.error});
            (self.report(
                &message,
                &recipient.driver,
                WebhookEvent::Failed,
                now_ms(),
                reason,
            ))
            .await?;
        }
        Ok(())
    }

    /// The driver wrote (`text`, or a quick code's `status`): the answer to the newest message
    /// the API sent them that is not answered yet.
    pub async fn on_driver_message(
        &self,
        driver: &str,
        text: Option<&str>,
        status: Option<(&str, &str)>,
        at: i64,
    ) -> Result<(), StoreError> {
        if self.hooks.is_empty() {
            return Ok(());
        }
        let since = at - ANSWER_WINDOW_MS;
        let Some((message, _)) = self.store.api_unanswered(driver, since).await? else {
            return Ok(());
        };
        let answer = json!({
            "text": text,
            "quick_code": status.map(|(code, meaning)| json!({"code": code, "meaning": meaning})),
        });
        (self.report(&message, driver, WebhookEvent::Answered, at, answer)).await?;
        self.store.api_answered(driver, at).await
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
        let id = event_id(&message.id, driver, event);
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
            "type": format!("message.{}", event.name()),
            "client": message.client,
            "data": data,
        })
        .to_string();
        let mut queued = false;
        for hook in self
            .hooks
            .iter()
            .filter(|h| wants(h, event, &message.client))
        {
            queued |= (self.store)
                .webhook_enqueue(hook.url.as_str(), &id, &payload)
                .await?;
        }
        if queued {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Delivers what is due until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if self.hooks.is_empty() {
            return;
        }
        loop {
            let wait = match self.deliver_due().await {
                Ok(next) => next.map_or(60_000, |at| (at - now_ms()).clamp(0, 60_000)),
                Err(e) => {
                    tracing::warn!(error = %e, "webhooks: cannot read the queue; tried again shortly");
                    5_000
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
    }

    /// Tries every due delivery once; when the next is due.
    async fn deliver_due(&self) -> Result<Option<i64>, StoreError> {
        let (due, next) = self.store.webhook_due(now_ms(), 100).await?;
        for delivery in &due {
            self.deliver(delivery).await?;
        }
        Ok(match due.len() {
            100 => Some(now_ms()),
            _ => next,
        })
    }

    async fn deliver(&self, delivery: &WebhookDelivery) -> Result<(), StoreError> {
        let Some(hook) = self.hooks.iter().find(|h| h.url.as_str() == delivery.url) else {
            // The webhook left the config: nobody to tell.
            let why = Some("the webhook is no longer configured");
            return (self.store)
                .webhook_done(&delivery.url, &delivery.event_id, true, why)
                .await;
        };
        let timestamp = now_ms() / 1000;
        let signature = sign(hook.secret.expose_secret(), timestamp, &delivery.payload);
        let answer = (self.http.post(hook.url.clone()))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &delivery.event_id)
            .header(SIGNATURE_HEADER, format!("t={timestamp},v1={signature}"))
            .body(delivery.payload.clone())
            .send()
            .await;
        let error = match answer {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("the receiver answered {}", response.status())),
            // Without the URL: it may carry a token in its query.
            Err(e) => Some(format!("the receiver was not reached ({})", kind(&e))),
        };
        let store = &self.store;
        let (url, id) = (&delivery.url, &delivery.event_id);
        match error {
            None => {
                self.metrics.queue_item("webhooks", "bridged");
                store.webhook_done(url, id, false, None).await
            }
            Some(error) if now_ms() - delivery.created_at > GIVE_UP_MS => {
                tracing::warn!(%error, event = %id, "webhook delivery given up after three days");
                self.metrics.queue_item("webhooks", "failed");
                store.webhook_done(url, id, true, Some(&error)).await
            }
            Some(error) => {
                self.metrics.queue_retry("webhooks");
                let backoff = (1000_i64 << delivery.attempts.min(12)).min(MAX_BACKOFF_MS);
                store
                    .webhook_retry(url, id, now_ms() + backoff, &error)
                    .await
            }
        }
    }
}

fn wants(hook: &Webhook, event: WebhookEvent, client: &str) -> bool {
    hook.events.contains(&event)
        && (hook.clients.as_ref())
            .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(client)))
}

/// The same for the same message, driver and event, whoever derives it how often.
fn event_id(message: &str, driver: &str, event: WebhookEvent) -> String {
    let digest = Sha256::digest(format!("{message}/{driver}/{}", event.name()));
    format!("evt_{}", hex::encode(&digest[..12]))
}

/// Hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn kind(e: &reqwest::Error) -> &'static str {
    match () {
        _ if e.is_timeout() => "timed out",
        _ if e.is_connect() => "connection failed",
        _ => "request failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hmac_of_timestamp_and_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            sign("secret", 1_700_000_000, r#"{"a":1}"#),
            "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
        assert_eq!(
            event_id("msg_1", "ABCD1234", WebhookEvent::Read),
            event_id("msg_1", "ABCD1234", WebhookEvent::Read)
        );
        assert_ne!(
            event_id("msg_1", "ABCD1234", WebhookEvent::Read),
            event_id("msg_1", "ABCD1234", WebhookEvent::Delivered)
        );
    }
}
