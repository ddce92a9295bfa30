//! Everything a send needs before the Gateway call that can fail without it: the payload read,
//! the driver's key, quoted and edited messages resolved, attachments fetched (and, for a file
//! that goes to many recipients, uploaded once).

use std::sync::Arc;

use bridge_convert::plan::{FileToSend, Outgoing};

use super::{FORMER_DRIVER, Outbox, RESTRICTED, failure_text};
use crate::{
    bridge::BridgeError,
    store::OutboxItem,
    threema::{
        OutgoingFile, ThreemaError, ThreemaId,
        codec::{Location, ReceiptStatus},
    },
};

impl Outbox {
    /// Everything a send needs that can fail without the Gateway: `Err` is a reason it can
    /// never go (for the dispatcher); an error of the infrastructure is retried by the queue.
    pub(super) async fn prepare_row(
        &self,
        row: &OutboxItem,
    ) -> Result<Result<(Prepared, [u8; 32]), String>, BridgeError> {
        let recipient = &row.recipient;
        if self.access.is_former_driver(recipient) {
            return Ok(Err(FORMER_DRIVER.into()));
        }
        // Checked when it was queued; a message that waited for the driver's shift is checked
        // again (a legal hold may have restricted the driver overnight).
        if row.hold_until.is_some() && self.store.is_restricted(recipient.as_str()).await? {
            return Ok(Err(format!("not sent: {RESTRICTED}")));
        }
        let item: Outgoing = serde_json::from_str(&row.payload)
            .map_err(|e| BridgeError::BadEvent(format!("outbox payload: {e}")))?;
        let prepared = match self.prepare(&item, recipient).await {
            Ok(prepared) => prepared,
            Err(Failure::Permanent(reason)) => return Ok(Err(reason)),
            Err(Failure::Retry(e)) => return Err(e),
        };
        match self.keys.trusted(recipient).await {
            Ok(key) => Ok(Ok((prepared, key))),
            Err(BridgeError::Threema(ThreemaError::NotFound)) => {
                Ok(Err("this Threema ID does not exist (any more)".into()))
            }
            Err(e) => Err(e),
        }
    }

    /// Fetches media and resolves the Threema messages an item refers to.
    async fn prepare(&self, item: &Outgoing, recipient: &ThreemaId) -> Result<Prepared, Failure> {
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
                        || Failure::Permanent("the edited message never reached the driver".into()),
                    )?,
                    text: text.clone(),
                }
            }
            Outgoing::Agreement { target, agree } => Prepared::Receipt {
                message_id: self
                    .threema_id_of(target, recipient, 0)
                    .await?
                    .ok_or_else(|| {
                        Failure::Permanent("the driver's message is not known on Threema".into())
                    })?,
                status: match agree {
                    true => ReceiptStatus::Acknowledged,
                    false => ReceiptStatus::Declined,
                },
            },
            Outgoing::Delete { target, part } => Prepared::Delete {
                message_id: self
                    .threema_id_of(target, recipient, *part)
                    .await?
                    .ok_or_else(|| {
                        Failure::Permanent("the deleted message never reached the driver".into())
                    })?,
            },
        })
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
        let download = |mxc: String| async move {
            match self.matrix.download(&mxc).await {
                Ok(bytes) => Ok(bytes),
                Err(e) if e.is_transient() => Err(Failure::Retry(e.into())),
                Err(e) => Err(Failure::Permanent(format!(
                    "the attachment could not be fetched from the homeserver: {e}"
                ))),
            }
        };
        let data = download(file.mxc.clone()).await?;
        let thumbnail = match &file.thumbnail_mxc {
            Some(mxc) => Some((
                download(mxc.clone()).await?,
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
                Err(e) => Err(Failure::Permanent(failure_text(&e))),
            }
        })
        .await
        .cloned()
    }
}

/// How long one upload serves further recipients of the same file.
const SHARED_UPLOAD_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// An outbox item ready for the Gateway.
pub(super) enum Prepared {
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
