//! A phone receiving a message from the Gateway (§9.3): decrypt with its own secret key and the
//! Gateway's public key, strip the padding, decode, fetch and decrypt blobs, record the message
//! in the inbox, then run its behaviour (receipts, replies).

use std::{sync::Arc, time::Duration};

use axum::body::Bytes;
use tracing::{debug, info};

use super::{Decoded, ReceivedMessage, UserMessage};
use crate::{
    crypto::{self, FILE_NONCE, THUMBNAIL_NONCE},
    message::{self, Parsed, message_type},
    state::Shared,
};

/// A box accepted by `send_e2e` or `send_e2e_bulk` for one phone.
pub(crate) struct Incoming {
    pub(crate) to: String,
    pub(crate) message_id: String,
    pub(crate) nonce: [u8; 24],
    pub(crate) box_data: Vec<u8>,
    pub(crate) no_delivery_receipts: bool,
    pub(crate) no_push: bool,
    pub(crate) group: Option<bool>,
    pub(crate) via: &'static str,
}

/// Hands a box to its recipient's phone. The phone's processing (decryption, blob download)
/// happens before this returns, so the inbox is up to date when the API answers; receipts and
/// replies follow on timers.
pub(crate) fn deliver(shared: &Arc<Shared>, incoming: Incoming) {
    let Some((secret_key, behaviour)) = shared
        .lock()
        .users
        .get(&incoming.to)
        .map(|user| (user.secret_key, user.behaviour.clone()))
    else {
        // The API validated the recipient; a concurrent reset may have removed it since.
        return;
    };
    let (plaintext, padding, decoded) = open(shared, &incoming, &secret_key);
    info!(
        user = %incoming.to,
        message_id = %incoming.message_id,
        kind = kind(&decoded),
        "phone received a message"
    );
    let text = match &decoded {
        Decoded::Text(text) => Some(text.clone()),
        _ => None,
    };
    let wants_receipt = wants_receipt(&decoded);
    let message_id = incoming.message_id.clone();
    let received = ReceivedMessage {
        message_id: incoming.message_id,
        from: shared.config.gateway_id.clone(),
        date: shared.clock.now_unix(),
        no_delivery_receipts: incoming.no_delivery_receipts,
        no_push: incoming.no_push,
        group: incoming.group,
        via: incoming.via.to_owned(),
        message: decoded,
        plaintext,
        padding,
    };
    record(shared, &incoming.to, received);

    let mut actions: Vec<(Duration, UserMessage)> = Vec::new();
    if wants_receipt && !incoming.no_delivery_receipts {
        let receipt = |status| UserMessage::DeliveryReceipt {
            status,
            message_ids: vec![message_id.clone()],
        };
        if behaviour.auto_received {
            actions.push((behaviour.receipt_delay, receipt(1)));
        }
        if let Some(read_after) = behaviour.read_after {
            actions.push((read_after, receipt(2)));
        }
    }
    if let Some(text) = text {
        if let Some(reply) = behaviour.reply {
            actions.push((behaviour.reply_delay, reply));
        }
        if behaviour.echo {
            actions.push((behaviour.reply_delay, UserMessage::Text(text)));
        }
    }
    if !actions.is_empty() {
        schedule(shared, incoming.to, actions);
    }
}

/// `send_simple` (basic mode): the server encrypted for the phone; the phone sees the text.
pub(crate) fn deliver_plaintext(shared: &Arc<Shared>, to: &str, message_id: String, text: String) {
    let mut plaintext = vec![message_type::TEXT];
    plaintext.extend_from_slice(text.as_bytes());
    let received = ReceivedMessage {
        message_id,
        from: shared.config.gateway_id.clone(),
        date: shared.clock.now_unix(),
        no_delivery_receipts: false,
        no_push: false,
        group: None,
        via: "send_simple".to_owned(),
        message: Decoded::Text(text),
        plaintext,
        padding: 0,
    };
    record(shared, to, received);
}

fn record(shared: &Shared, to: &str, received: ReceivedMessage) {
    let mut inner = shared.lock();
    inner.metrics.messages_to_users += 1;
    if let Some(user) = inner.users.get_mut(to) {
        user.inbox.push(received);
    }
    drop(inner);
    shared.notify();
}

/// Sends the actions in the order of their delays (stable for equal delays), all measured from
/// the arrival of the message.
fn schedule(shared: &Arc<Shared>, user: String, mut actions: Vec<(Duration, UserMessage)>) {
    actions.sort_by_key(|(delay, _)| *delay);
    let task_shared = Arc::clone(shared);
    shared.spawn(async move {
        let mut elapsed = Duration::ZERO;
        for (delay, message) in actions {
            task_shared
                .sleep_simulated(delay.saturating_sub(elapsed))
                .await;
            elapsed = elapsed.max(delay);
            if let Err(error) = super::send::send_from_user(&task_shared, &user, message) {
                debug!(%user, %error, "phone behaviour could not send");
            }
        }
    });
}

/// Apps send automatic receipts for user-visible messages only; not for receipts, typing
/// indicators, edits, deletes or votes.
fn wants_receipt(decoded: &Decoded) -> bool {
    matches!(
        decoded,
        Decoded::Text(_)
            | Decoded::File { .. }
            | Decoded::Location { .. }
            | Decoded::PollSetup { .. }
            | Decoded::Image { .. }
            | Decoded::Audio { .. }
            | Decoded::Video { .. }
    )
}

fn kind(decoded: &Decoded) -> &'static str {
    match decoded {
        Decoded::Text(_) => "text",
        Decoded::File { .. } => "file",
        Decoded::Location { .. } => "location",
        Decoded::DeliveryReceipt { .. } => "delivery_receipt",
        Decoded::Typing(_) => "typing",
        Decoded::Edit { .. } => "edit",
        Decoded::Delete { .. } => "delete",
        Decoded::PollSetup { .. } => "poll_setup",
        Decoded::PollVote { .. } => "poll_vote",
        Decoded::Image { .. } => "image",
        Decoded::Audio { .. } => "audio",
        Decoded::Video { .. } => "video",
        Decoded::Other { .. } => "other",
        Decoded::Undecryptable => "undecryptable",
        Decoded::Invalid { .. } => "invalid",
    }
}

/// Decrypts and decodes; returns (type + unpadded data, padding length, decoded message).
fn open(shared: &Shared, incoming: &Incoming, secret_key: &[u8; 32]) -> (Vec<u8>, u8, Decoded) {
    let gateway_key = shared.config.gateway_public_key;
    let Ok(plaintext) = crypto::box_open(
        &incoming.box_data,
        &incoming.nonce,
        &gateway_key,
        secret_key,
    ) else {
        return (Vec::new(), 0, Decoded::Undecryptable);
    };
    let container = match message::open_container(&plaintext) {
        Ok(container) => container,
        Err(error) => {
            let invalid = Decoded::Invalid {
                message_type: plaintext.first().copied(),
                reason: error.to_string(),
            };
            return (plaintext, 0, invalid);
        }
    };
    let mut unpadded = vec![container.message_type];
    unpadded.extend_from_slice(container.data);
    let decoded = match message::parse(container.message_type, container.data) {
        Ok(parsed) => {
            resolve(shared, parsed, secret_key).unwrap_or_else(|reason| Decoded::Invalid {
                message_type: Some(container.message_type),
                reason,
            })
        }
        Err(error) => Decoded::Invalid {
            message_type: Some(container.message_type),
            reason: error.to_string(),
        },
    };
    (unpadded, container.padding, decoded)
}

/// Turns a parsed message into what the phone shows, downloading and decrypting blobs.
fn resolve(shared: &Shared, parsed: Parsed, secret_key: &[u8; 32]) -> Result<Decoded, String> {
    let secretbox = |blob_id: &str, key: &[u8; 32], nonce: &[u8; 24], size: Option<u64>| {
        let blob = download(shared, blob_id)?;
        let data = crypto::secretbox_open(key, nonce, &blob)
            .map_err(|_| format!("blob {blob_id} does not decrypt with the message key"))?;
        if let Some(size) = size
            && data.len() as u64 != size
        {
            return Err(format!(
                "blob {blob_id} has {} bytes, the message says {size}",
                data.len()
            ));
        }
        Ok(data)
    };
    Ok(match parsed {
        Parsed::Text(text) => Decoded::Text(text),
        Parsed::File { json, file } => {
            let data = secretbox(&file.blob_id, &file.key, &FILE_NONCE, Some(file.size))?;
            let thumbnail = file
                .thumbnail_blob_id
                .as_deref()
                .map(|id| secretbox(id, &file.key, &THUMBNAIL_NONCE, None))
                .transpose()?;
            Decoded::File {
                json,
                data,
                thumbnail,
            }
        }
        Parsed::Location {
            lat,
            lon,
            accuracy,
            name,
            address,
        } => Decoded::Location {
            lat,
            lon,
            accuracy,
            name,
            address,
        },
        Parsed::DeliveryReceipt {
            status,
            message_ids,
        } => Decoded::DeliveryReceipt {
            status,
            message_ids,
        },
        Parsed::Typing(typing) => Decoded::Typing(typing),
        Parsed::Edit { message_id, text } => Decoded::Edit { message_id, text },
        Parsed::Delete { message_id } => Decoded::Delete { message_id },
        Parsed::PollSetup { poll_id, json } => Decoded::PollSetup { poll_id, json },
        Parsed::PollVote {
            creator,
            poll_id,
            choices,
        } => Decoded::PollVote {
            creator,
            poll_id,
            choices,
        },
        Parsed::LegacyImage {
            blob_id,
            size,
            nonce,
        } => {
            // The deprecated image blob is a crypto_box between sender and recipient.
            let blob = download(shared, &blob_id)?;
            let data =
                crypto::box_open(&blob, &nonce, &shared.config.gateway_public_key, secret_key)
                    .map_err(|_| format!("image blob {blob_id} does not decrypt"))?;
            if data.len() != size as usize {
                return Err(format!(
                    "image blob has {} bytes, expected {size}",
                    data.len()
                ));
            }
            Decoded::Image { data }
        }
        Parsed::LegacyAudio {
            duration_s,
            blob_id,
            size,
            key,
        } => Decoded::Audio {
            duration_s,
            data: secretbox(&blob_id, &key, &FILE_NONCE, Some(size.into()))?,
        },
        Parsed::LegacyVideo {
            duration_s,
            blob_id,
            size,
            thumbnail_blob_id,
            thumbnail_size,
            key,
        } => Decoded::Video {
            duration_s,
            data: secretbox(&blob_id, &key, &FILE_NONCE, Some(size.into()))?,
            thumbnail: secretbox(
                &thumbnail_blob_id,
                &key,
                &THUMBNAIL_NONCE,
                Some(thumbnail_size.into()),
            )?,
        },
        Parsed::Other { message_type, data } => Decoded::Other { message_type, data },
    })
}

/// The phone downloads a blob from the blob server and marks it done, which deletes a
/// non-persistent blob (§3.11; the apps' `POST …/done`).
fn download(shared: &Shared, blob_id: &str) -> Result<Bytes, String> {
    let mut inner = shared.lock();
    let not_found = || format!("blob {blob_id} not found");
    let blob = inner.blobs.get(blob_id).ok_or_else(not_found)?;
    if !shared.blob_is_live(blob) {
        inner.blobs.remove(blob_id);
        return Err(not_found());
    }
    let data = blob.data.clone();
    if !blob.persist {
        inner.blobs.remove(blob_id);
    }
    Ok(data)
}
