//! Receiving: from a callback's box to a decoded message with its media downloaded. The Gateway
//! side only; what a failure means (hold for a changed key, keep for an operator) is the
//! bridge's decision, so every way it can fail is its own variant.

use super::{
    ThreemaClient, ThreemaError,
    client::Media,
    codec::{self, DecodeError, Message},
};

/// A message a driver sent, decoded, with the file (or legacy media) it refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub message: Message,
    pub media: Option<Media>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The box does not open with the sender's key: garbage, or the sender's key changed.
    #[error("cannot decrypt: {0}")]
    Undecryptable(String),
    #[error("malformed: {0}")]
    Malformed(DecodeError),
    /// The message names a blob the Gateway no longer has (blobs expire).
    #[error("the blob is no longer at the Gateway")]
    BlobGone(Box<Message>),
    /// The blob is larger than the limit given (bytes).
    #[error("the blob is larger than {0} bytes")]
    BlobTooLarge(u64),
    #[error("the blob does not decrypt: {1}")]
    BlobUndecryptable(Box<Message>, String),
    /// Reaching the Gateway for the blob failed (may be transient).
    #[error(transparent)]
    Gateway(ThreemaError),
}

impl ThreemaClient {
    /// Opens the box `sender_key` sealed for us, decodes it and downloads its blobs (each up
    /// to `max_bytes` decrypted).
    pub async fn receive(
        &self,
        nonce: &[u8; 24],
        ciphertext: &[u8],
        sender_key: &[u8; 32],
        max_bytes: u64,
    ) -> Result<Received, ReceiveError> {
        let message = self.open_message(nonce, ciphertext, sender_key)?;
        let media = self.fetch_media(&message, sender_key, max_bytes).await?;
        Ok(Received { message, media })
    }

    /// Opens and decodes the box without downloading anything: what the bridge decides on
    /// before it lets a sender make it fetch blobs.
    pub fn open_message(
        &self,
        nonce: &[u8; 24],
        ciphertext: &[u8],
        sender_key: &[u8; 32],
    ) -> Result<Message, ReceiveError> {
        let (message_type, data) =
            self.open(nonce, ciphertext, sender_key)
                .map_err(|e| match e {
                    ThreemaError::Crypto(reason) => ReceiveError::Undecryptable(reason),
                    other => ReceiveError::Gateway(other),
                })?;
        codec::decode(message_type, &data).map_err(ReceiveError::Malformed)
    }

    /// Downloads and decrypts the blobs `message` refers to, if any, each up to `max_bytes`
    /// decrypted.
    pub async fn fetch_media(
        &self,
        message: &Message,
        sender_key: &[u8; 32],
        max_bytes: u64,
    ) -> Result<Option<Media>, ReceiveError> {
        match self.download_media(message, sender_key, max_bytes).await {
            Ok(media) => Ok(media),
            Err(ThreemaError::BlobTooLarge(_)) => Err(ReceiveError::BlobTooLarge(max_bytes)),
            Err(ThreemaError::NotFound) => Err(ReceiveError::BlobGone(Box::new(message.clone()))),
            Err(ThreemaError::Crypto(reason)) => Err(ReceiveError::BlobUndecryptable(
                Box::new(message.clone()),
                reason,
            )),
            Err(e) => Err(ReceiveError::Gateway(e)),
        }
    }
}
