//! Webhooks: the events `events` queued, pushed to the company's receivers
//! (`api.webhooks`). A worker POSTs each queued event, signed like Stripe's
//! (`Threema-Bridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), until
//! the receiver answers 2xx, with back-off from one second to an hour, for three days at most:
//! at least once, and the receiver drops repeats by `Threema-Bridge-Event-Id` (the event's
//! `id`).

use std::{sync::Arc, time::Duration};

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    config::{Config, Webhook},
    metrics::Metrics,
    store::{Store, StoreError, WebhookDelivery, now_ms},
};

/// A delivery not taken for this long is given up (and counted).
const GIVE_UP_MS: i64 = 3 * 86_400_000;
const MAX_BACKOFF_MS: i64 = 3_600_000;
/// One receiver taking its time holds up the others no longer than this.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The signature, in Stripe's scheme (`t=…,v1=…`) under the bridge's own name (the Standard
/// Webhooks headers `webhook-*` mean another scheme).
pub const SIGNATURE_HEADER: &str = "threema-bridge-signature";
/// The event's id, for the receiver to drop a repeat.
pub const ID_HEADER: &str = "threema-bridge-event-id";

pub struct Webhooks {
    store: Store,
    hooks: Vec<Webhook>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    /// Rung when an event is queued.
    wake: Arc<Notify>,
}

impl Webhooks {
    pub fn new(config: &Config, store: Store, metrics: Arc<Metrics>, wake: Arc<Notify>) -> Self {
        Webhooks {
            store,
            hooks: config.api.webhooks.clone(),
            http: reqwest::Client::builder()
                .timeout(TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            metrics,
            wake,
        }
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
    }
}
