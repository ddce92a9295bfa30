//! The audit trail: one hash chain over every entry, personal values sealed per person,
//! checkpoints signed and kept outside the database.
//!
//! Pure code only: `chain` hashes and verifies (RFC 6962's leaf and node hashing, the chain a
//! list of heads rather than a tree), `seal` hashes identifiers and encrypts personal values,
//! `checkpoint` signs and reads checkpoints. The store appends and reads
//! (`store::audit`); `bridge::audit` writes checkpoints and verifies.

pub mod chain;
pub mod checkpoint;
pub mod seal;

pub use chain::{Break, ChainStart, Hash, SealedEntry, Verified};
pub use checkpoint::{Checkpoint, CheckpointError, SigningKey};
pub use seal::{AuditKey, PersonKey};
