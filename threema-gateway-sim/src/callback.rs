//! The callback engine (§4, §9.4): POSTs each message a phone sent to the configured callback
//! URL as a form with MAC, retries on anything but 200 after the retry interval, and discards the
//! message after the last attempt. Every attempt is recorded.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};
use tracing::{info, warn};

use crate::{config::SimConfig, crypto, serde_util::millis, state::Shared};

/// How the delivery of one message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackOutcome {
    /// An attempt was answered with 200.
    Delivered,
    /// All attempts failed; the message is gone, as at Threema.
    Discarded,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallbackAttempt {
    pub message_id: String,
    /// The sending phone.
    pub from: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub url: Option<String>,
    /// The HTTP status, if the receiver answered.
    pub status: Option<u16>,
    /// Connect error, timeout, or missing callback URL.
    pub error: Option<String>,
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
    /// Set on the attempt that decided the message's fate.
    pub outcome: Option<CallbackOutcome>,
}

/// A queued incoming message: the form body is fixed when the phone sends (the MAC covers it),
/// every attempt posts the same bytes.
pub(crate) struct CallbackJob {
    message_id: String,
    from: String,
    body: String,
    generation: u64,
}

impl CallbackJob {
    /// The form of §4.1 in the order from, to, messageId, date, nonce, box, mac[, nickname];
    /// the MAC (§4.2) covers the hex strings exactly as posted; the nickname is not covered.
    pub(crate) fn new(
        config: &SimConfig,
        from: &str,
        message_id: &str,
        date: u64,
        nonce: &[u8; 24],
        box_data: &[u8],
        nickname: Option<&str>,
    ) -> Self {
        let to = config.gateway_id.as_str();
        let date = date.to_string();
        let nonce = hex::encode(nonce);
        let box_hex = hex::encode(box_data);
        let mac = crypto::callback_mac(
            &config.secret,
            from,
            to,
            message_id,
            &date,
            &nonce,
            &box_hex,
        );
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("from", from)
            .append_pair("to", to)
            .append_pair("messageId", message_id)
            .append_pair("date", &date)
            .append_pair("nonce", &nonce)
            .append_pair("box", &box_hex)
            .append_pair("mac", &mac);
        if let Some(nickname) = nickname {
            form.append_pair("nickname", nickname);
        }
        CallbackJob {
            message_id: message_id.to_owned(),
            from: from.to_owned(),
            body: form.finish(),
            generation: 0,
        }
    }

    pub(crate) fn with_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }
}

/// Takes queued messages in order and delivers up to `callback_concurrency` at once. With 1,
/// a message's retries finish before the next message is tried: order is kept.
pub(crate) async fn run_dispatcher(
    shared: Arc<Shared>,
    mut queue: mpsc::UnboundedReceiver<CallbackJob>,
) {
    let permits = Arc::new(Semaphore::new(shared.config.callback_concurrency.max(1)));
    loop {
        let job = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            job = queue.recv() => match job {
                Some(job) => job,
                None => return,
            },
        };
        if job.generation != shared.lock().generation {
            continue; // queued before a reset
        }
        let permit = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            permit = Arc::clone(&permits).acquire_owned() => permit.expect("semaphore never closed"),
        };
        let task_shared = Arc::clone(&shared);
        shared.spawn(async move {
            deliver(&task_shared, &job).await;
            drop(permit);
        });
    }
}

async fn deliver(shared: &Shared, job: &CallbackJob) {
    let attempts = shared.config.callback_attempts.max(1);
    for attempt in 1..=attempts {
        let url = shared.lock().callback_url.clone();
        let started = Instant::now();
        let (status, error) = match &url {
            None => (None, Some("no callback URL configured".to_owned())),
            Some(url) => post(shared, url, &job.body).await,
        };
        let latency = started.elapsed();
        let success = status.is_some_and(|status| {
            status == 200 || (shared.config.callback_accept_any_2xx && (200..300).contains(&status))
        });
        let outcome = if success {
            Some(CallbackOutcome::Delivered)
        } else if attempt == attempts {
            Some(CallbackOutcome::Discarded)
        } else {
            None
        };
        match outcome {
            Some(CallbackOutcome::Delivered) => {
                info!(message_id = %job.message_id, attempt, "callback delivered");
            }
            Some(CallbackOutcome::Discarded) => {
                warn!(message_id = %job.message_id, attempt, ?status, ?error, "callback failed, message discarded");
            }
            None => {
                warn!(message_id = %job.message_id, attempt, ?status, ?error, "callback failed, will retry");
            }
        }
        {
            let mut inner = shared.lock();
            inner.metrics.callbacks_attempted += 1;
            match outcome {
                Some(CallbackOutcome::Delivered) => {
                    inner.metrics.callbacks_delivered += 1;
                    inner.delivered.push(job.body.clone());
                }
                Some(CallbackOutcome::Discarded) => inner.metrics.callbacks_discarded += 1,
                None => {}
            }
            inner.callbacks.push(CallbackAttempt {
                message_id: job.message_id.clone(),
                from: job.from.clone(),
                attempt,
                url,
                status,
                error,
                latency,
                outcome,
            });
            if let Some(outcome) = outcome {
                inner.outcomes.insert(job.message_id.clone(), outcome);
            }
        }
        shared.notify();
        if outcome.is_some() {
            return;
        }
        shared
            .sleep_simulated(shared.config.callback_retry_interval)
            .await;
    }
}

pub(crate) async fn post(shared: &Shared, url: &str, body: &str) -> (Option<u16>, Option<String>) {
    let request = shared
        .http
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body.to_owned())
        .timeout(shared.config.callback_timeout);
    match request.send().await {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) if error.is_timeout() => (None, Some(format!("timeout: {error}"))),
        Err(error) => (None, Some(format!("request failed: {error}"))),
    }
}
