//! A phone sending towards the Gateway ID, exactly like a Threema app (§9.3): blobs encrypted
//! and put on the blob server, container with §5.2 padding, `crypto_box` with the phone's
//! secret key and the Gateway's public key, a random message ID, then a callback is queued.

use std::sync::Arc;

use tracing::info;

use super::{SentMessage, UserMessage};
use crate::{
    callback::CallbackJob,
    crypto::{self, FILE_NONCE, THUMBNAIL_NONCE},
    error::SimError,
    message::{self, FileRef, message_type},
    state::{Blob, Shared},
};

/// Builds, encrypts and queues one message; returns its 16-hex message ID.
pub(crate) fn send_from_user(
    shared: &Arc<Shared>,
    from: &str,
    message: UserMessage,
) -> Result<String, SimError> {
    let (secret_key, nickname) = shared
        .lock()
        .users
        .get(from)
        .map(|user| (user.secret_key, user.info.nickname.clone()))
        .ok_or_else(|| SimError::UnknownUser(from.to_owned()))?;
    let gateway_key = shared.config.gateway_public_key;

    let mut blobs = Vec::new();
    let (kind, data) = encode(shared, &message, &secret_key, &mut blobs)?;
    let padding = message::padding_length(data.len(), shared.random_padding());
    let container = message::build_container(kind, &data, padding);
    let limit = shared.config.limits.user_message_bytes;
    if container.len() > limit {
        return Err(SimError::MessageTooLarge {
            size: container.len(),
            limit,
        });
    }

    // An undecryptable message is sealed with a key that is not the sender's: the MAC and the
    // form are fine, only the Gateway client's crypto_box_open fails.
    let sealing_key = match message {
        UserMessage::Undecryptable => shared.random_bytes::<32>(),
        _ => secret_key,
    };
    let nonce = shared.random_bytes::<24>();
    let box_data = crypto::box_seal(&container, &nonce, &gateway_key, &sealing_key);
    let message_id = shared.new_message_id();
    let date = shared.clock.now_unix();

    let job = CallbackJob::new(
        &shared.config,
        from,
        &message_id,
        date,
        &nonce,
        &box_data,
        nickname.as_deref(),
    );
    let mut plaintext = vec![kind];
    plaintext.extend_from_slice(&data);

    let mut inner = shared.lock();
    for (id, data) in blobs {
        inner.blobs.insert(
            id,
            Blob {
                data: data.into(),
                persist: false,
                first_download: None,
            },
        );
    }
    let generation = inner.generation;
    inner.metrics.messages_from_users += 1;
    if let Some(user) = inner.users.get_mut(from) {
        user.outbox.push(SentMessage {
            message_id: message_id.clone(),
            date,
            message,
            plaintext,
        });
    }
    drop(inner);
    info!(user = %from, %message_id, r#type = kind, "phone sent a message");
    // The dispatcher only stops at shutdown; then there is nobody to deliver to anyway.
    let _ = shared.callback_tx.send(job.with_generation(generation));
    shared.notify();
    Ok(message_id)
}

/// The type byte and unpadded data; blobs to upload are pushed to `blobs` as (ID, ciphertext).
fn encode(
    shared: &Shared,
    message: &UserMessage,
    secret_key: &[u8; 32],
    blobs: &mut Vec<(String, Vec<u8>)>,
) -> Result<(u8, Vec<u8>), SimError> {
    let mut upload = |ciphertext: Vec<u8>| {
        let id = hex::encode(shared.random_bytes::<16>());
        blobs.push((id.clone(), ciphertext));
        id
    };
    let size32 = |data: &[u8]| {
        u32::try_from(data.len())
            .map_err(|_| SimError::InvalidMessage("blob larger than 4 GiB".into()))
    };
    Ok(match message {
        UserMessage::Text(text) => (message_type::TEXT, text.as_bytes().to_vec()),
        UserMessage::File {
            data,
            media_type,
            file_name,
            caption,
            thumbnail,
            rendering,
            metadata,
        } => {
            let key = shared.random_bytes::<32>();
            let blob_id = upload(crypto::secretbox_seal(&key, &FILE_NONCE, data));
            let (thumbnail_blob_id, thumbnail_media_type) = match thumbnail {
                Some((thumb, media_type)) => (
                    Some(upload(crypto::secretbox_seal(
                        &key,
                        &THUMBNAIL_NONCE,
                        thumb,
                    ))),
                    Some(media_type.clone()),
                ),
                None => (None, None),
            };
            let file = FileRef {
                blob_id,
                key,
                media_type: media_type.clone(),
                file_name: file_name.clone(),
                size: data.len() as u64,
                thumbnail_blob_id,
                thumbnail_media_type,
                caption: caption.clone(),
                rendering: *rendering,
                correlation_id: None,
                metadata: metadata.clone(),
            };
            (message_type::FILE, message::encode_file(&file))
        }
        UserMessage::Location {
            lat,
            lon,
            accuracy,
            name,
            address,
        } => (
            message_type::LOCATION,
            message::encode_location(*lat, *lon, *accuracy, name.as_deref(), address.as_deref())?,
        ),
        UserMessage::DeliveryReceipt {
            status,
            message_ids,
        } => (
            message_type::DELIVERY_RECEIPT,
            message::encode_delivery_receipt(*status, message_ids)?,
        ),
        UserMessage::Typing(typing) => (
            message_type::TYPING_INDICATOR,
            message::encode_typing(*typing),
        ),
        UserMessage::Edit { message_id, text } => {
            (message_type::EDIT, message::encode_edit(message_id, text)?)
        }
        UserMessage::Delete { message_id } => {
            (message_type::DELETE, message::encode_delete(message_id)?)
        }
        UserMessage::PollSetup {
            poll_id,
            description,
            choices,
            multiple,
            closed,
        } => (
            message_type::POLL_SETUP,
            message::encode_poll_setup(*poll_id, description, choices, *multiple, *closed),
        ),
        UserMessage::PollVote {
            creator,
            poll_id,
            choices,
        } => (
            message_type::POLL_VOTE,
            message::encode_poll_vote(creator, *poll_id, choices)?,
        ),
        UserMessage::LegacyImage { data } => {
            let nonce = shared.random_bytes::<24>();
            let sealed =
                crypto::box_seal(data, &nonce, &shared.config.gateway_public_key, secret_key);
            let blob_id = upload(sealed);
            (
                message_type::IMAGE,
                message::encode_legacy_image(&blob_id, size32(data)?, &nonce)?,
            )
        }
        UserMessage::LegacyAudio { data, duration_s } => {
            let key = shared.random_bytes::<32>();
            let blob_id = upload(crypto::secretbox_seal(&key, &FILE_NONCE, data));
            (
                message_type::AUDIO,
                message::encode_legacy_audio(*duration_s, &blob_id, size32(data)?, &key)?,
            )
        }
        UserMessage::LegacyVideo {
            data,
            thumbnail,
            duration_s,
        } => {
            let key = shared.random_bytes::<32>();
            let video_id = upload(crypto::secretbox_seal(&key, &FILE_NONCE, data));
            let thumb_id = upload(crypto::secretbox_seal(&key, &THUMBNAIL_NONCE, thumbnail));
            (
                message_type::VIDEO,
                message::encode_legacy_video(
                    *duration_s,
                    (&video_id, size32(data)?),
                    (&thumb_id, size32(thumbnail)?),
                    &key,
                )?,
            )
        }
        UserMessage::Raw { message_type, data } => (*message_type, data.clone()),
        UserMessage::Undecryptable => (message_type::TEXT, b"undecryptable".to_vec()),
    })
}
