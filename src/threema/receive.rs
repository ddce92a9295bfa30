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
    BlobGone(Message),
    #[error("the blob does not decrypt: {1}")]
    BlobUndecryptable(Message, String),
    /// Reaching the Gateway for the blob failed (may be transient).
    #[error(transparent)]
    Gateway(ThreemaError),
}

impl ThreemaClient {
    /// Opens the box `sender_key` sealed for us, decodes it and downloads its blobs.
    pub async fn receive(
        &self,
        nonce: &[u8; 24],
        ciphertext: &[u8],
        sender_key: &[u8; 32],
    ) -> Result<Received, ReceiveError> {
        let (message_type, data) =
            self.open(nonce, ciphertext, sender_key)
                .map_err(|e| match e {
                    ThreemaError::Crypto(reason) => ReceiveError::Undecryptable(reason),
                    other => ReceiveError::Gateway(other),
                })?;
        let message = codec::decode(message_type, &data).map_err(ReceiveError::Malformed)?;
        match self.download_media(&message, sender_key).await {
            Ok(media) => Ok(Received { message, media }),
            Err(ThreemaError::NotFound) => Err(ReceiveError::BlobGone(message)),
            Err(ThreemaError::Crypto(reason)) => {
                Err(ReceiveError::BlobUndecryptable(message, reason))
            }
            Err(e) => Err(ReceiveError::Gateway(e)),
        }
    }
}
