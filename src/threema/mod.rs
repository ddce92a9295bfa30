//! The Threema Gateway side: client, callback verification, message codec and crypto.
//! Knows nothing of Matrix.

mod bulk;
pub mod client;
mod error;
pub mod receive;
mod shared_keys;

pub use client::{Media, OutgoingFile, ThreemaClient};
pub use error::ThreemaError;
// The wire formats are a crate of their own (no IO, fuzzed on their own).
pub use threema_protocol::{BlobId, MessageId, ThreemaId, callback, codec, crypto, quote};
