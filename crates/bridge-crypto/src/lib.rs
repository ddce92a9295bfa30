//! End-to-bridge encryption: the bridge's devices (the bot's and each ghost's) run
//! matrix-sdk-crypto's `OlmMachine`, the state machine Element X uses, and keep its state in
//! the bridge's own database ([`CryptoDatabase`]), so that a restart, a standby taking over or a
//! backup restore finds every room key where the bridge keeps everything else.
//!
//! The crate speaks ruma 0.16 (matrix-sdk-crypto's); it is re-exported as [`ruma`] for the
//! bridge's one boundary with it.

pub mod attachment;
mod device;
mod devices;
mod store;

pub use device::{DecryptError, Device, Homeserver};
pub use devices::{Devices, TransactionCrypto};
pub use matrix_sdk_crypto;
pub use ruma;
pub use store::{AccountStore, CryptoDatabase, Error, StoreKey};
