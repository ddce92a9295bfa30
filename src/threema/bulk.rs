//! Messages sent at the same time leave in one request: while [`IN_FLIGHT`] requests to the
//! Gateway are on their way, the messages queued meanwhile (a broadcast's lanes, several
//! dispatchers) wait and then go together through `send_e2e_bulk`, up to 1,000 a request;
//! alone, a message goes through `send_e2e`. Each sender is answered with its own message's
//! result, so nothing changes for the outbox: its row is `sending` before the call and records
//! what it is told (the Gateway keeps the per-recipient state, a failed recipient is retried on
//! its own).
//!
//! `send_e2e_bulk` is not in the Gateway's public documentation. A Gateway that does not offer it
//! (404 or 405) gets single sends from then on; one that refuses a request as a whole before
//! carrying it out (its rate limit, credits short of all of it, a body it does not take) gets
//! that request's messages one by one. A request the Gateway failed on (5xx) or never answered
//! is, for every sender, what that answer is to a single send: nothing is sent again here.
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
use crate::{ha::Fence, metrics::Requests};

/// The Gateway's limit per bulk request.
const MOST_PER_REQUEST: usize = 1000;
/// Requests under way at once: one slow request does not hold up every send, and what becomes
/// ready while they all are waits for the next.
const IN_FLIGHT: usize = 4;

/// The Gateway's message id (16 hex, as `send_e2e` answers it), or why the message did not go.
type Answer = Result<String, ThreemaError>;

struct Queued {
    message: BulkE2eMessage,
    answer: oneshot::Sender<Answer>,
}

#[derive(Default)]
struct Gathered {
    queued: Vec<Queued>,
    /// Tasks sending (each sends what is queued until nothing is).
    senders: usize,
}

pub(super) struct Bulk {
    api: E2eApi,
    gathered: Mutex<Gathered>,
    /// The Gateway answered a bulk request as if it had no such endpoint.
    not_offered: AtomicBool,
    requests: Requests,
    /// Asked again before each request: a message may have waited past the lease.
    fence: Arc<Fence>,
}

impl Bulk {
    pub(super) fn new(api: E2eApi, requests: Requests, fence: Arc<Fence>) -> Arc<Self> {
        Arc::new(Bulk {
            api,
            gathered: Mutex::default(),
            not_offered: AtomicBool::new(false),
            requests,
            fence,
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
            let start = gathered.senders < IN_FLIGHT;
            gathered.senders += usize::from(start);
            start
        };
        // A task of its own: a sender that stops waiting (its lane shut down) must not take
        // the others' requests with it.
        if start {
            let sender = Sender {
                bulk: self.clone(),
                returned: false,
            };
            tokio::spawn(sender.drain());
        }
        answered.await.unwrap_or_else(|_| {
            // The sending task ended during the request: it may have left.
            Err(ThreemaError::NoAnswer("the send was interrupted".into()))
        })
    }

    async fn send_batch(&self, batch: Vec<Queued>) {
        if let Err(e) = self.fence.check() {
            return answer_all(batch, &ThreemaError::from(e));
        }
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
                answer_all(batch, &ThreemaError::NoAnswer(said));
            }
            Err(e) => {
                let refused = refused_as_a_whole(&e);
                let error = ThreemaError::from(e);
                self.requests.count("send_e2e_bulk", error.label());
                match refused {
                    Refused::NotOffered => {
                        tracing::info!("the Gateway offers no send_e2e_bulk: sending one by one");
                        self.not_offered.store(true, Ordering::Relaxed);
                        self.one_by_one(batch).await
                    }
                    Refused::ThisRequest => self.one_by_one(batch).await,
                    Refused::Every => answer_all(batch, &error),
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

fn answer_all(batch: Vec<Queued>, error: &ThreemaError) {
    for queued in batch {
        let _ = queued.answer.send(Err(error.clone()));
    }
}

/// One sending task. Made before it is spawned, so that it gives its place back however it
/// ends: having found nothing left (under the lock that queues, so nothing is queued unseen),
/// or dropped early (unpolled at shutdown, unwinding from a panic).
struct Sender {
    bulk: Arc<Bulk>,
    returned: bool,
}

impl Sender {
    /// Sends what is queued until nothing is.
    async fn drain(mut self) {
        loop {
            let batch: Vec<Queued> = {
                let mut gathered = self.bulk.gathered.lock().expect("bulk queue lock");
                if gathered.queued.is_empty() {
                    gathered.senders -= 1;
                    self.returned = true;
                    return;
                }
                let take = gathered.queued.len().min(MOST_PER_REQUEST);
                gathered.queued.drain(..take).collect()
            };
            self.bulk.send_batch(batch).await;
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if self.returned {
            return;
        }
        let mut gathered = (self.bulk.gathered.lock()).unwrap_or_else(|p| p.into_inner());
        gathered.senders -= 1;
        // No sender left for what is queued: it did not go, and its lanes try it again.
        if gathered.senders == 0 {
            let stopped = ThreemaError::Unreachable("the sending task stopped".into());
            answer_all(std::mem::take(&mut gathered.queued), &stopped);
        }
    }
}

/// What a failed bulk request means for its messages.
#[derive(Debug, PartialEq)]
enum Refused {
    /// No such endpoint here: single sends from now on.
    NotOffered,
    /// Not this request (a rate limit, its size or form, credits short of all of it): its
    /// messages go one by one, and the next request is tried again in bulk.
    ThisRequest,
    /// What refuses this request refuses each message too (credentials), it may have gone (no
    /// answer), or the Gateway failed on its way (a 5xx, after which part of a bulk request may
    /// have gone out): each sender is told so, and its lane decides as after a single send.
    Every,
}

fn refused_as_a_whole(e: &ApiError) -> Refused {
    match e {
        ApiError::BadCredentials | ApiError::ServerError | ApiError::RequestError(_) => {
            Refused::Every
        }
        ApiError::Other(text) if text.contains("status code: 5") => Refused::Every,
        ApiError::IdNotFound => Refused::NotOffered,
        ApiError::Other(text) if text.ends_with(": 405") => Refused::NotOffered,
        // Not taken (a rate limit, its size or form, credits short of the whole request):
        // single sends may go.
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
            ApiError::NoCredits,
            ApiError::MessageTooLong,
            ApiError::Other("Bad request (HTTP 400)".into()),
        ] {
            assert_eq!(refused_as_a_whole(&each), Refused::ThisRequest, "{each:?}");
        }
        for every in [
            ApiError::BadCredentials,
            ApiError::ServerError,
            ApiError::Other("Response status code: 503".into()),
        ] {
            assert_eq!(refused_as_a_whole(&every), Refused::Every, "{every:?}");
        }
    }
}
