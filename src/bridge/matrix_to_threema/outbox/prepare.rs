//! Everything a send needs before the Gateway call that can fail without it: the payload read,
//! the driver's key, quoted and edited messages resolved, attachments fetched (and, for a file
//! that goes to many recipients, uploaded once).

use std::sync::Arc;

use bridge_convert::plan::{FileToSend, Outgoing, PollToSend};

use super::{Outbox, failure_text};
use crate::tr;
use crate::{
    bridge::BridgeError,
    store::{OutboxItem, Poll, PollChoice, RecipientOnFile},
    threema::{
        OutgoingFile, ThreemaError, ThreemaId,
        codec::{self, Location, PollSetup, ReceiptStatus},
    },
};

impl Outbox {
    /// Everything a send needs that can fail without the Gateway: `Err` is a reason it can
    /// never go (for the dispatcher); an error of the infrastructure is retried by the queue.
    /// `on_file`: the recipient's key and standing, read with `row`.
    pub(super) async fn prepare_row(
        &self,
        row: &OutboxItem,
        on_file: &RecipientOnFile,
    ) -> Result<Result<(Prepared, [u8; 32]), String>, BridgeError> {
        let recipient = &row.recipient;
        if self.access.is_former_driver(recipient) {
            return Ok(Err(tr!(self.texts, "failed-driver-left")));
        }
        // Checked when it was queued; a message that waited for the driver's shift is checked
        // again (a legal hold may have restricted the driver overnight).
        if row.hold_until.is_some() && on_file.restricted {
            return Ok(Err(tr!(self.texts, "failed-restricted")));
        }
        let item: Outgoing = serde_json::from_str(&row.payload)
            .map_err(|e| BridgeError::BadEvent(format!("outbox payload: {e}")))?;
        let prepared = match self.prepare(&item, row).await {
            Ok(prepared) => prepared,
            Err(Failure::Permanent(reason)) => return Ok(Err(reason)),
            Err(Failure::Retry(e)) => return Err(e),
        };
        match (self.keys)
            .trusted_from(recipient, on_file.public_key.as_deref())
            .await
        {
            Ok(key) => Ok(Ok((prepared, key))),
            Err(BridgeError::Threema(ThreemaError::NotFound)) => {
                Ok(Err(tr!(self.texts, "failed-no-such-id")))
            }
            Err(e) => Err(e),
        }
    }

    /// Fetches media and resolves the Threema messages an item refers to.
    async fn prepare(&self, item: &Outgoing, row: &OutboxItem) -> Result<Prepared, Failure> {
        let recipient = &row.recipient;
        Ok(match item {
            Outgoing::Text { text, reply_to } => {
                let quoted = match reply_to {
                    Some(event) => self.threema_id_of(event, recipient, 0).await?,
                    None => None,
                };
                Prepared::Text(match quoted {
                    Some(id) => crate::threema::quote::encode(&id, text),
                    None => text.clone(),
                })
            }
            Outgoing::File(file) if file.shared => {
                Prepared::FileMessage(self.shared_upload(file).await?)
            }
            Outgoing::File(file) => Prepared::File(self.fetch_file(file).await?),
            Outgoing::Location {
                latitude,
                longitude,
                accuracy_m,
                name,
            } => Prepared::Location(Location {
                latitude: *latitude,
                longitude: *longitude,
                accuracy_m: *accuracy_m,
                // Threema's format has no name without an address; the app shows either.
                name: None,
                address: name.clone(),
            }),
            Outgoing::Edit { target, text } => {
                Prepared::Edit {
                    message_id: self.threema_id_of(target, recipient, 0).await?.ok_or_else(
                        || Failure::Permanent(tr!(self.texts, "failed-edited-never-sent")),
                    )?,
                    text: text.clone(),
                }
            }
            Outgoing::Agreement { target, agree } => {
                Prepared::Receipt {
                    message_id: self.threema_id_of(target, recipient, 0).await?.ok_or_else(
                        || Failure::Permanent(tr!(self.texts, "failed-drivers-message-unknown")),
                    )?,
                    status: match agree {
                        true => ReceiptStatus::Acknowledged,
                        false => ReceiptStatus::Declined,
                    },
                }
            }
            Outgoing::Template { .. } => {
                return Err(Failure::Permanent(tr!(self.texts, "failed-template")));
            }
            Outgoing::Poll(poll) => self.prepare_poll(poll, row).await?,
            Outgoing::PollClose { target } => self.prepare_poll_close(target, recipient).await?,
            Outgoing::PollVote { target, answers } => {
                self.prepare_poll_vote(target, answers, recipient).await?
            }
            Outgoing::Delete { target, part } => Prepared::Delete {
                message_id: self
                    .threema_id_of(target, recipient, *part)
                    .await?
                    .ok_or_else(|| {
                        Failure::Permanent(tr!(self.texts, "failed-deleted-never-sent"))
                    })?,
            },
        })
    }

    /// A desk's poll: recorded (before it leaves, so that the driver's votes find it) with
    /// the Matrix ids of its answers, then encoded.
    async fn prepare_poll(&self, poll: &PollToSend, row: &OutboxItem) -> Result<Prepared, Failure> {
        let stored = Poll {
            threema_peer: row.recipient.to_string(),
            creator: self.threema.gateway_id().to_string(),
            poll_id: poll.poll_id,
            event_id: row.event_id.to_string(),
            choices: (poll.answers.iter().enumerate())
                .map(|(i, answer)| PollChoice {
                    id: i as u64,
                    name: answer.text.clone(),
                    answer: Some(answer.id.clone()),
                })
                .collect(),
            question: poll.question.clone(),
            multiple: poll.multiple,
            namespace: poll.namespace.as_str().into(),
            broadcast_event: poll.broadcast.clone(),
            closed_at: None,
        };
        let data = codec::encode::poll_setup(&setup_of(&stored, false), None);
        self.within_poll_limit(&data)?;
        self.store.poll_insert(&stored).await.map_err(retry)?;
        Ok(Prepared::Raw {
            message_type: codec::POLL_SETUP,
            data,
        })
    }

    /// The desk's poll `target` sent again, closed, with each vote: the phone shows the
    /// results and takes no more votes.
    async fn prepare_poll_close(
        &self,
        target: &str,
        recipient: &ThreemaId,
    ) -> Result<Prepared, Failure> {
        let poll = (self.store.poll_by_event(recipient.as_str(), target).await)
            .map_err(retry)?
            .filter(|p| p.creator == self.threema.gateway_id().as_str())
            .ok_or_else(|| Failure::Permanent(tr!(self.texts, "failed-poll-never-sent")))?;
        let votes = self.store.poll_votes(&poll).await.map_err(retry)?;
        let results = codec::encode::PollResults {
            votes: votes.into_iter().map(|v| (v.voter, v.choices)).collect(),
        };
        let data = codec::encode::poll_setup(&setup_of(&poll, true), Some(&results));
        self.within_poll_limit(&data)?;
        Ok(Prepared::Raw {
            message_type: codec::POLL_SETUP,
            data,
        })
    }

    /// The company's vote in the driver's poll `target`: every choice, chosen or not.
    async fn prepare_poll_vote(
        &self,
        target: &str,
        answers: &[String],
        recipient: &ThreemaId,
    ) -> Result<Prepared, Failure> {
        let poll = (self.store.poll_by_event(recipient.as_str(), target).await)
            .map_err(retry)?
            .filter(|p| p.creator == recipient.as_str())
            .ok_or_else(|| Failure::Permanent(tr!(self.texts, "failed-drivers-poll-unknown")))?;
        let choices: Vec<(u64, bool)> = (poll.choices.iter())
            .map(|c| (c.id, answers.contains(&c.answer_id())))
            .collect();
        Ok(Prepared::Raw {
            message_type: codec::POLL_VOTE,
            data: codec::encode::poll_vote(&poll.creator, poll.poll_id, &choices),
        })
    }

    /// A poll's close reached the Gateway: the poll takes no more votes from the desk, and a
    /// broadcast's board shows it ended.
    pub(super) async fn poll_closed(
        &self,
        row: &OutboxItem,
        target: &str,
    ) -> Result<(), BridgeError> {
        if let Some(poll) = self
            .store
            .poll_by_event(row.recipient.as_str(), target)
            .await?
        {
            self.store.poll_close(&poll).await?;
        }
        Ok(())
    }

    /// The company's vote reached the Gateway: kept as the Gateway ID's, for the results the
    /// driver's close repeats.
    pub(super) async fn company_voted(
        &self,
        row: &OutboxItem,
        target: &str,
        answers: &[String],
    ) -> Result<(), BridgeError> {
        let Some(poll) = self
            .store
            .poll_by_event(row.recipient.as_str(), target)
            .await?
        else {
            return Ok(());
        };
        let chosen: Vec<u64> = (poll.choices.iter())
            .filter(|c| answers.contains(&c.answer_id()))
            .map(|c| c.id)
            .collect();
        let gateway = self.threema.gateway_id().to_string();
        self.store.poll_vote_set(&poll, &gateway, &chosen).await?;
        Ok(())
    }

    /// The Threema message id that part `part` of a Matrix event has in this chat.
    async fn threema_id_of(
        &self,
        event_id: &str,
        peer: &ThreemaId,
        part: i64,
    ) -> Result<Option<String>, Failure> {
        let mappings = self
            .store
            .messages_by_event_id(event_id)
            .await
            .map_err(|e| Failure::Retry(e.into()))?;
        Ok(mappings
            .into_iter()
            .find(|m| m.threema_peer == *peer && m.part == part)
            .map(|m| m.threema_message_id))
    }

    async fn fetch_file(&self, file: &FileToSend) -> Result<OutgoingFile, Failure> {
        let failed =
            |error: String| Failure::Permanent(tr!(self.texts, "failed-attachment", error = error));
        // From an encrypted room the media repository has ciphertext: opened with the key the
        // (decrypted) message carries.
        let download = |mxc: String, encrypted: Option<serde_json::Value>| async move {
            let bytes = match self.matrix.download(&mxc).await {
                Ok(bytes) => bytes,
                Err(e) if e.is_transient() => return Err(Failure::Retry(e.into())),
                Err(e) => return Err(failed(e.to_string())),
            };
            match encrypted {
                None => Ok(bytes),
                Some(file) => {
                    let plain = tokio::task::spawn_blocking(move || {
                        bridge_crypto::attachment::decrypt(&bytes, &file)
                    })
                    .await
                    .expect("decrypting does not panic");
                    plain.map_err(|e| failed(e.to_string()))
                }
            }
        };
        let data = download(file.mxc.clone(), file.encrypted.clone()).await?;
        let thumbnail = match &file.thumbnail_mxc {
            Some(mxc) => Some((
                download(mxc.clone(), file.thumbnail_encrypted.clone()).await?,
                file.thumbnail_mimetype
                    .clone()
                    .unwrap_or_else(|| "image/jpeg".into()),
            )),
            None => None,
        };
        Ok(OutgoingFile {
            data,
            media_type: file.mimetype.clone(),
            file_name: file.file_name.clone(),
            caption: file.caption.clone(),
            thumbnail,
            media: file.media,
            width_height: file.width_height,
            duration_s: file.duration_s,
        })
    }

    /// The file message of a file that goes to many recipients: its blobs uploaded once (kept
    /// after the first download) and the message shared, for a day (the Gateway expires blobs).
    async fn shared_upload(&self, file: &FileToSend) -> Result<Arc<Vec<u8>>, Failure> {
        let key = serde_json::to_string(file).expect("outgoing messages serialise");
        let cell = {
            let mut uploads = self.shared_uploads.lock().expect("not poisoned");
            let now = std::time::Instant::now();
            uploads.retain(|_, (at, _)| now.duration_since(*at) < SHARED_UPLOAD_LIFETIME);
            uploads
                .entry(key)
                .or_insert_with(|| (now, Arc::default()))
                .1
                .clone()
        };
        cell.get_or_try_init(|| async {
            let data = self.fetch_file(file).await?;
            match self.threema.upload_file_with(&data, true).await {
                Ok(json) => Ok(Arc::new(json)),
                Err(e) if e.is_transient() => Err(Failure::Retry(e.into())),
                Err(e) => Err(Failure::Permanent(failure_text(&self.texts, &e))),
            }
        })
        .await
        .cloned()
    }
}

/// How long one upload serves further recipients of the same file.
const SHARED_UPLOAD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A stored poll as Threema's poll-setup describes it.
fn setup_of(poll: &Poll, closed: bool) -> PollSetup {
    PollSetup {
        poll_id: poll.poll_id,
        description: poll.question.clone(),
        closed,
        multiple_choice: poll.multiple,
        choices: (poll.choices.iter())
            .map(|c| codec::PollChoice {
                id: c.id,
                name: c.name.clone(),
            })
            .collect(),
    }
}

impl Outbox {
    /// Threema's poll JSON holds 6000 bytes (after the 8-byte poll id).
    fn within_poll_limit(&self, data: &[u8]) -> Result<(), Failure> {
        match data.len().saturating_sub(8) > codec::encode::MAX_POLL_JSON_BYTES {
            true => Err(Failure::Permanent(tr!(self.texts, "failed-poll-too-large"))),
            false => Ok(()),
        }
    }
}

fn retry(e: crate::store::StoreError) -> Failure {
    Failure::Retry(e.into())
}

/// An outbox item ready for the Gateway.
pub(super) enum Prepared {
    /// A message of a type encoded here (polls and votes).
    Raw {
        message_type: u8,
        data: Vec<u8>,
    },
    Text(String),
    File(OutgoingFile),
    /// A file message whose blobs are uploaded already.
    FileMessage(Arc<Vec<u8>>),
    Location(Location),
    Edit {
        message_id: String,
        text: String,
    },
    Delete {
        message_id: String,
    },
    /// Agree / decline on a driver's message.
    Receipt {
        message_id: String,
        status: ReceiptStatus,
    },
}

/// Why an item could not be prepared.
enum Failure {
    /// For good, with a reason for the dispatcher.
    Permanent(String),
    /// Infrastructure: try again later.
    Retry(BridgeError),
}
