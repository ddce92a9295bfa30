//! The Threema Gateway side: client, callback verification, message codec and crypto.
//! Knows nothing of Matrix.

pub mod callback;
pub mod client;
pub mod codec;
pub mod crypto;
mod error;
mod id;
pub mod quote;

pub use client::{Media, OutgoingFile, ThreemaClient};
pub use error::ThreemaError;
pub use id::ThreemaId;
