//! Drivers' public keys: looked up at the Gateway once, then taken from the store. A key that
//! changes is a warning sign (a new phone keeps its ID only with a backup; anything else may be
//! an attack), so a new key is held back and reported until an operator accepts it.

use super::{Bridge, BridgeError};
use crate::threema::{ThreemaError, ThreemaId, crypto::key_bytes};

impl Bridge {
    /// The trusted key of `id`: from the store, or looked up and stored on first use.
    pub async fn public_key_of(&self, id: &ThreemaId) -> Result<[u8; 32], BridgeError> {
        if let Some(cached) = self.store.public_key(id.as_str()).await? {
            return parse(id, &cached.public_key);
        }
        let key = self.threema.lookup_public_key(id).await?;
        self.store
            .public_key_insert(id.as_str(), &hex::encode(key))
            .await?;
        tracing::info!(threema_id = %id, "cached public key");
        // Another task may have stored first, and the store keeps the first key: use that one.
        match self.store.public_key(id.as_str()).await? {
            Some(cached) => parse(id, &cached.public_key),
            None => Ok(key),
        }
    }

    /// Asks the Gateway again, after a box would not open with the stored key. Returns whether
    /// the Gateway now has another key for `id`; that key is recorded as pending, not used.
    pub async fn recheck_public_key(&self, id: &ThreemaId) -> Result<bool, BridgeError> {
        let trusted = self.public_key_of(id).await?;
        let current = self.threema.lookup_public_key(id).await?;
        if current == trusted {
            return Ok(false);
        }
        self.store
            .public_key_set_pending(id.as_str(), &hex::encode(current))
            .await?;
        tracing::error!(
            threema_id = %id,
            "the Gateway now returns a different public key for this ID; its messages are held until an operator accepts the new key"
        );
        Ok(true)
    }
}

fn parse(id: &ThreemaId, stored: &str) -> Result<[u8; 32], BridgeError> {
    key_bytes(stored).ok_or_else(|| {
        BridgeError::Threema(ThreemaError::BadResponse(format!(
            "stored key of {id} is malformed"
        )))
    })
}
