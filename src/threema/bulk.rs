//! Messages sent at the same time leave in one request: while a request to the Gateway is on its
//! way, the messages queued meanwhile (a broadcast's lanes, several dispatchers) wait and then go
//! together through `send_e2e_bulk`, up to 1,000 a request; alone, a message goes through
//! `send_e2e`. Each sender is answered with its own message's result, so nothing changes for
//! the outbox: its row is `sending` before the call and records what it is told (the Gateway
//! keeps the per-recipient state, a failed recipient is retried on its own).
//!
//! `send_e2e_bulk` is not in the Gateway's public documentation. A Gateway that does not offer it
//! (404 or 405) gets single sends from then on; one that refuses a request as a whole (its rate
//! limit, a body it does not take, a failure on its side) gets that request's messages one by
//! one. What the Gateway may have taken (no answer, an answer that does not fit) is reported
//! to every sender as such, never sent again here.
//!
//! By hand, because the crate sends one request per call: the gathering is ours, the requests
//! are the crate's.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

use threema_gateway::{
    BulkE2eMessage, BulkE2eMessageSendStatus, E2eApi, EncryptedMessage, ThreemaId as CrateId,
    errors::ApiError,
};
use tokio::sync::oneshot;

use super::ThreemaError;
use crate::metrics::Requests;

/// The Gateway's limit per bulk request.
const MOST_PER_REQUEST: usize = 1000;

/// The Gateway's message id (16 hex, as `send_e2e` answers it), or why the message did not go.
type Answer = Result<String, ThreemaError>;

struct Queued {
    message: BulkE2eMessage,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Gathered {
    queued: Vec<Queued>,
    /// A task is sending (and sends what is queued meanwhile when it is done).
    sending: bool,
}

pub(super) struct Bulk {
    api: E2eApi,
    gathered: Mutex<Gathered>,
    /// The Gateway answered a bulk request as if it had no such endpoint.
    not_offered: AtomicBool,
    requests: Requests,
}

impl Bulk {
    pub(super) fn new(api: E2eApi, requests: Requests) -> Arc<Self> {
        Arc::new(Bulk {
            api,
            gathered: Mutex::default(),
            not_offered: AtomicBool::new(false),
            requests,
        })
    }

    /// Sends one message, with those queued at the same time.
    pub(super) async fn send(self: &Arc<Self>, to: CrateId, message: EncryptedMessage) -> Answer {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut gathered = self.gathered.lock().expect("bulk queue lock");
            gathered.queued.push(Queued {
                message: BulkE2eMessage {
                    to,
                    message,
                    delivery_receipts: true,
                    push: true,
                    is_group_message: false,
                },
                answer,
            });
            !std::mem::replace(&mut gathered.sending, true)
        };
        // A task of its own: a sender that stops waiting (its lane shut down) must not take
        // the others' requests with it.
        if start {
            tokio::spawn(self.clone().drain());
        }
        answered.await.unwrap_or_else(|_| {
            // The sending task panicked: the request may have left.
            Err(ThreemaError::NoAnswer("the send was interrupted".into()))
        })
    }

    /// Sends what is queued until nothing is.
    async fn drain(self: Arc<Self>) {
        let _unwinding = Unwinding(&self);
        loop {
            let batch: Vec<Queued> = {
                let mut gathered = self.gathered.lock().expect("bulk queue lock");
                if gathered.queued.is_empty() {
                    gathered.sending = false;
                    return;
                }
                let take = gathered.queued.len().min(MOST_PER_REQUEST);
                gathered.queued.drain(..take).collect()
            };
            self.send_batch(batch).await;
        }
    }

    async fn send_batch(&self, batch: Vec<Queued>) {
        if batch.len() == 1 || self.not_offered.load(Ordering::Relaxed) {
            return self.one_by_one(batch).await;
        }
        let messages: Vec<&BulkE2eMessage> = batch.iter().map(|queued| &queued.message).collect();
        let result = self.api.send_bulk(&messages, false).await;
        if result.is_ok() {
            self.requests.count("send_e2e_bulk", "200");
        }
        match result {
            Ok(statuses) if statuses.len() == batch.len() => {
                for (queued, status) in batch.into_iter().zip(statuses) {
                    let _ = queued.answer.send(answer_of(status));
                }
            }
            // The Gateway took the request: what it did with each message is not known.
            Ok(statuses) => {
                let said = format!(
                    "{} answers to a bulk request of {}",
                    statuses.len(),
                    batch.len()
                );
                for queued in batch {
                    let _ = queued
                        .answer
                        .send(Err(ThreemaError::NoAnswer(said.clone())));
                }
            }
            Err(e) => {
                let refused = refused_as_a_whole(&e);
                let error = ThreemaError::from(e);
                self.requests.count("send_e2e_bulk", error.label());
                self.after_refusal(refused, error, batch).await
            }
        }
    }

    async fn after_refusal(&self, refused: Refused, error: ThreemaError, batch: Vec<Queued>) {
        match refused {
            Refused::NotOffered => {
                tracing::info!("the Gateway offers no send_e2e_bulk: sending one by one");
                self.not_offered.store(true, Ordering::Relaxed);
                self.one_by_one(batch).await
            }
            Refused::ThisRequest => self.one_by_one(batch).await,
            Refused::Every => {
                for queued in batch {
                    let _ = queued.answer.send(Err(error.clone()));
                }
            }
        }
    }

    /// Each message through `send_e2e`, at once.
    async fn one_by_one(&self, batch: Vec<Queued>) {
        let sends = batch.into_iter().map(|queued| async move {
            let Queued { message, answer } = queued;
            let sent = self.api.send(&message.to, &message.message, true).await;
            let answer_of_one = sent.map(|id| id.to_hex_le()).map_err(ThreemaError::from);
            let label = answer_of_one
                .as_ref()
                .map_or_else(ThreemaError::label, |_| "200");
            self.requests.count("send_e2e", label);
            let _ = answer.send(answer_of_one);
        });
        futures::future::join_all(sends).await;
    }
}

/// Should a request panic, the next message starts a new task. The messages of the request
/// hear that it may have gone; those still queued, that they did not (their lanes retry them).
struct Unwinding<'a>(&'a Bulk);

impl Drop for Unwinding<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut gathered =
            (self.0.gathered.lock()).unwrap_or_else(|poisoned| poisoned.into_inner());
        gathered.sending = false;
        for queued in gathered.queued.drain(..) {
            let stopped = ThreemaError::Unreachable("the sending task stopped".into());
            let _ = queued.answer.send(Err(stopped));
        }
    }
}

/// What a failed bulk request means for its messages.
#[derive(Debug, PartialEq)]
enum Refused {
    /// No such endpoint here: single sends from now on.
    NotOffered,
    /// Not this request (a rate limit, its size or form, a failure of the Gateway's): its
    /// messages go one by one, and the next request is tried again in bulk.
    ThisRequest,
    /// What refuses this request refuses each message too (credentials, credits), or it may
    /// have gone (no answer): each sender is told so.
    Every,
}

fn refused_as_a_whole(e: &ApiError) -> Refused {
    match e {
        ApiError::BadCredentials | ApiError::NoCredits | ApiError::RequestError(_) => {
            Refused::Every
        }
        ApiError::IdNotFound => Refused::NotOffered,
        ApiError::Other(text) if text.ends_with(": 405") => Refused::NotOffered,
        _ => Refused::ThisRequest,
    }
}

/// One message's result in a bulk answer, as `send_e2e` would have answered it.
fn answer_of(status: BulkE2eMessageSendStatus) -> Answer {
    match status {
        BulkE2eMessageSendStatus::Success { message_id } => Ok(message_id.to_hex_le()),
        // The crate reads a 400 there without the meaning `send_e2e` gives it.
        BulkE2eMessageSendStatus::Error {
            error: ApiError::Other(text),
        } if text.contains("400") => Err(ThreemaError::BadRecipient),
        BulkE2eMessageSendStatus::Error { error } => Err(ThreemaError::from(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &str) -> BulkE2eMessageSendStatus {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_answer_means_what_send_e2e_would_have_said() {
        assert_eq!(
            answer_of(status(r#"{"messageId":"0102030405060708"}"#)).unwrap(),
            "0102030405060708"
        );
        let cases = [
            (400, "400"),
            (401, "401"),
            (402, "402"),
            (404, "404"),
            (413, "413"),
            (429, "429"),
            (500, "5xx"),
        ];
        for (code, label) in cases {
            let answer = answer_of(status(&format!(r#"{{"errorCode":{code}}}"#)));
            assert_eq!(answer.unwrap_err().label(), label, "errorCode {code}");
        }
    }

    #[test]
    fn a_missing_endpoint_turns_bulk_off_and_a_refused_request_goes_one_by_one() {
        assert_eq!(
            refused_as_a_whole(&ApiError::IdNotFound),
            Refused::NotOffered
        );
        let not_allowed = ApiError::Other("Response status code: 405".into());
        assert_eq!(refused_as_a_whole(&not_allowed), Refused::NotOffered);
        for each in [
            ApiError::RateLimitReached,
            ApiError::ServerError,
            ApiError::MessageTooLong,
            ApiError::Other("Bad request (HTTP 400)".into()),
        ] {
            assert_eq!(refused_as_a_whole(&each), Refused::ThisRequest, "{each:?}");
        }
        for every in [ApiError::BadCredentials, ApiError::NoCredits] {
            assert_eq!(refused_as_a_whole(&every), Refused::Every, "{every:?}");
        }
    }
}
