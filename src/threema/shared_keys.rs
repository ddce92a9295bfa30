//! The keys we share with drivers, each computed once: every box to or from a driver is
//! sealed with the key of our secret key and theirs, an X25519 and an HSalsa20 that cost more
//! than sealing a message itself. Bounded (least recently used go first), keyed by the peer's
//! public key: a changed key is another entry, so nothing needs forgetting when a key changes.

use std::sync::{Arc, Mutex};

use hashlink::LruCache;

use super::crypto::{PublicKey, SecretKey, SharedKey, shared_key};

/// Peers whose shared key is kept: a large fleet, at about 100 bytes each.
const KEPT: usize = 16_384;

pub struct SharedKeys {
    ours: SecretKey,
    kept: Mutex<LruCache<[u8; 32], Arc<SharedKey>>>,
}

impl SharedKeys {
    pub fn new(ours: SecretKey) -> Self {
        SharedKeys {
            ours,
            kept: Mutex::new(LruCache::new(KEPT)),
        }
    }

    /// The key shared with the holder of `peer`.
    pub fn with(&self, peer: &[u8; 32]) -> Arc<SharedKey> {
        let mut kept = self.kept.lock().expect("not poisoned");
        if let Some(shared) = kept.get(peer) {
            return shared.clone();
        }
        let shared = Arc::new(shared_key(&PublicKey::from(*peer), &self.ours));
        kept.insert(*peer, shared.clone());
        shared
    }
}

// Never shows a key.
impl std::fmt::Debug for SharedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedKeys").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threema::crypto;

    #[test]
    fn a_peers_key_is_computed_once_and_seals_what_the_plain_box_opens() {
        let (ours, theirs) = (SecretKey::from([1; 32]), SecretKey::from([2; 32]));
        let peer = theirs.public_key().to_bytes();
        let keys = SharedKeys::new(ours.clone());
        let shared = keys.with(&peer);
        assert!(Arc::ptr_eq(&shared, &keys.with(&peer)), "kept");
        let (nonce, sealed) = crypto::seal_shared(b"Reifenpanne", &shared);
        let opened = crypto::open(&nonce, &sealed, &ours.public_key(), &theirs).unwrap();
        assert_eq!(opened, b"Reifenpanne");
        // Another peer's key is another entry, and does not open it.
        let other = SecretKey::from([3; 32]).public_key().to_bytes();
        assert!(crypto::open_shared(&nonce, &sealed, &keys.with(&other)).is_err());
    }
}
