//! Drivers' public keys: looked up at the Gateway once, then taken from the store. A key that
//! changes is a warning sign (a new phone keeps its ID only with a backup; anything else may be
//! an attack), so a new key is held back and reported until an operator accepts it
//! (`accept-key` in the management room or on the command line); then the messages held
//! meanwhile are replayed through the inbox, in their order.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::bridge::{BridgeError, queue::Outcome};
use crate::{
    store::{KeyAcceptance, Store, ThreemaItem},
    threema::{ThreemaClient, ThreemaError, ThreemaId, crypto::key_bytes},
};

/// Why a message is held (the store marks it held in its own column as well).
const HELD: &str = "the sender's public key changed";

/// Drivers' keys as the bridge trusts them.
pub struct Keys {
    store: Store,
    threema: Arc<ThreemaClient>,
    /// The Threema inbox's wake-up, rung when held messages are queued again.
    inbox_wake: Arc<Notify>,
}

impl Keys {
    pub fn new(store: Store, threema: Arc<ThreemaClient>, inbox_wake: Arc<Notify>) -> Self {
        Keys {
            store,
            threema,
            inbox_wake,
        }
    }

    /// The trusted key of `id`: from the store, or looked up and stored on first use.
    pub async fn trusted(&self, id: &ThreemaId) -> Result<[u8; 32], BridgeError> {
        let stored = self.store.public_key(id.as_str()).await?;
        self.trusted_from(id, stored.map(|cached| cached.public_key).as_deref())
            .await
    }

    /// [`Keys::trusted`] where the store's key (`stored`) was read already, with what else a
    /// message needs (`Store::driver_on_file`, `Store::outbox_get`): read with every message,
    /// never kept in memory, as the command line's `accept-key` may change it at any time.
    pub async fn trusted_from(
        &self,
        id: &ThreemaId,
        stored: Option<&str>,
    ) -> Result<[u8; 32], BridgeError> {
        if let Some(stored) = stored {
            return parse(id, stored);
        }
        let key = self.threema.lookup_public_key(id).await?;
        // Another task may have stored first, and the store keeps the first key: use that one.
        let fetched = hex::encode(key);
        let cached = (self.store)
            .public_key_insert(id.as_str(), &fetched)
            .await?;
        tracing::info!(threema_id = %id, "cached public key");
        parse(id, &cached)
    }

    /// Asks the Gateway again, after a box would not open with the stored key. Returns whether
    /// the Gateway now has another key for `id`; that key is recorded as pending, not used.
    pub async fn recheck(&self, id: &ThreemaId) -> Result<bool, BridgeError> {
        let trusted = self.trusted(id).await?;
        let current = self.threema.lookup_public_key(id).await?;
        if current == trusted {
            return Ok(false);
        }
        self.store
            .public_key_set_pending(id.as_str(), &hex::encode(current))
            .await?;
        tracing::error!(
            threema_id = %id,
            "the Gateway now returns a different public key for this ID; its messages are held until an operator accepts the new key (accept-key)"
        );
        Ok(true)
    }

    /// Holds a message that did not open because its sender's key changed. If the new key was
    /// accepted in the meantime, the item is tried again (transient error: the runner retries
    /// it in its place in the lane) and now opens with that key.
    pub(crate) async fn hold(&self, item: &ThreemaItem) -> Result<Outcome, BridgeError> {
        if self
            .store
            .threema_inbox_hold(item.seq, &item.sender, &Outcome::held(HELD).to_string())
            .await?
        {
            return Ok(Outcome::held(HELD));
        }
        Err(BridgeError::NotYet(
            "the sender's new key was accepted meanwhile".into(),
        ))
    }

    /// An operator trusts the pending key of `id`: the held messages are queued again, in their
    /// order, and this process's Threema inbox is woken for them. Another running bridge (the
    /// command line runs beside `serve`) finds them at its next rescan, within seconds.
    pub async fn accept(&self, id: &ThreemaId, actor: &str) -> Result<KeyAcceptance, BridgeError> {
        let accepted = self.store.public_key_accept(id.as_str(), actor).await?;
        if let KeyAcceptance::Accepted { requeued } = accepted {
            tracing::warn!(threema_id = %id, %actor, requeued, "changed public key accepted");
            self.inbox_wake.notify_one();
        }
        Ok(accepted)
    }
}

fn parse(id: &ThreemaId, stored: &str) -> Result<[u8; 32], BridgeError> {
    key_bytes(stored).ok_or_else(|| {
        BridgeError::Threema(ThreemaError::BadResponse(format!(
            "stored key of {id} is malformed"
        )))
    })
}
