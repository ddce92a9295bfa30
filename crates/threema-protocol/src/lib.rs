//! The Threema Gateway's end-to-end wire formats, without IO: the callback's MAC and fields, the
//! message container and the message types apps send to a Gateway ID, the NaCl boxes, IDs.
//!
//! Everything here sees bytes from outside (the callback is internet-facing, a decrypted box is
//! whatever the sender put in it) and is fuzzed (`fuzz/`); it depends on no runtime, no HTTP
//! client and no database so that the fuzz build instruments only this.

pub mod callback;
pub mod codec;
pub mod crypto;
mod id;
mod message_id;
pub mod quote;
mod wire;

pub use id::ThreemaId;
pub use message_id::{BlobId, MessageId, MessageIdError};
