//! End-to-bridge encryption at the homeserver boundary: which rooms are encrypted, and the
//! devices of the bot and the ghosts (`bridge_crypto`) that encrypt what the bridge posts there
//! and decrypt what others wrote. `bridge_crypto` speaks matrix-sdk-crypto's ruma; IDs cross
//! here as strings, events as JSON.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use bridge_crypto::{
    CryptoDatabase, DecryptError, Devices, Homeserver, StoreKey, TransactionCrypto,
    ruma as crypto_ruma,
};
use ruma::{OwnedServerName, OwnedUserId, RoomId, UserId};
use secrecy::ExposeSecret;
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

use super::{MatrixClient, MatrixError};

/// Which rooms the bridge encrypts (`bridge.encryption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Those others encrypted.
    Allow,
    /// Those others encrypted, and the portals it creates.
    Default,
    /// Every room it posts in: it turns encryption on where it is not yet, and posts nothing
    /// in the clear (where it may not turn it on, it does not post).
    Require,
}

/// Why an event could not be decrypted.
#[derive(Debug, thiserror::Error)]
pub enum Undecryptable {
    /// Its room key has not arrived (yet).
    #[error("the room key has not arrived")]
    MissingKey,
    #[error("cannot decrypt: {0}")]
    Failed(String),
    /// The crypto store could not be reached: worth trying again.
    #[error("crypto store: {0}")]
    Store(String),
}

/// The rooms' encryption and the bridge's devices.
pub struct RoomCrypto {
    devices: Devices,
    /// Looks up rooms' state and members (as the bot, without encryption of its own).
    matrix: MatrixClient,
    bot: OwnedUserId,
    /// Whether each room seen so far is encrypted: once it is, it stays so.
    encrypted: Mutex<HashMap<String, bool>>,
    /// Which users are the bridge's (the bot and the ghosts): only their devices are ours.
    ours: Box<dyn Fn(&str) -> bool + Send + Sync>,
    policy: Policy,
}

impl std::fmt::Debug for RoomCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomCrypto").finish_non_exhaustive()
    }
}

/// The other side's ID type from ours (both are valid Matrix IDs).
fn their_user(user: &UserId) -> crypto_ruma::OwnedUserId {
    crypto_ruma::OwnedUserId::try_from(user.as_str()).expect("a user ID is a user ID")
}

fn their_room(room: &RoomId) -> crypto_ruma::OwnedRoomId {
    crypto_ruma::OwnedRoomId::try_from(room.as_str()).expect("a room ID is a room ID")
}

fn crypto_error(e: bridge_crypto::Error) -> MatrixError {
    MatrixError::Encryption(e.to_string())
}

impl RoomCrypto {
    /// The devices of the bot (`bot`) and the ghosts of `domain` over the bridge's database
    /// (`pool`), their state sealed with `key`; `matrix` reaches the homeserver.
    pub async fn open(
        matrix: &MatrixClient,
        pool: sqlx::AnyPool,
        key: &[u8; 32],
        domain: OwnedServerName,
        bot: OwnedUserId,
        policy: Policy,
    ) -> Result<Self, bridge_crypto::Error> {
        let db = CryptoDatabase::open(pool, &StoreKey::new(*key)).await?;
        let homeserver = Homeserver::new(&matrix.base_url, matrix.as_token.expose_secret());
        let ours = move |user: &str| {
            UserId::parse(user).is_ok_and(|user| crate::ids::is_own_user(&user, &domain))
        };
        Ok(RoomCrypto {
            devices: Devices::new(db, Arc::new(homeserver)),
            matrix: matrix.clone(),
            bot,
            encrypted: Mutex::default(),
            ours: Box::new(ours),
            policy,
        })
    }

    /// Whether the portals the bridge creates are encrypted.
    pub fn creates_encrypted(&self) -> bool {
        matches!(self.policy, Policy::Default | Policy::Require)
    }

    /// Whether what the bridge posts in `room_id` is encrypted. With [`Policy::Require`] a room
    /// not encrypted yet is encrypted first (by the bot); where it may not, the error says so
    /// and nothing is posted.
    pub async fn encrypts(&self, room_id: &RoomId) -> Result<bool, MatrixError> {
        if self.is_encrypted(room_id).await? {
            return Ok(true);
        }
        if self.policy != Policy::Require {
            return Ok(false);
        }
        let algorithm = serde_json::json!({"algorithm": "m.megolm.v1.aes-sha2"});
        self.matrix
            .set_state(room_id, "m.room.encryption", "", &algorithm)
            .await?;
        tracing::info!(%room_id, "encryption turned on (bridge.encryption: require)");
        self.mark_encrypted(room_id);
        Ok(true)
    }

    /// Opens the bot's device (made and cross-signed on first start).
    pub async fn open_bot_device(&self) -> Result<(), MatrixError> {
        self.devices
            .device(&their_user(&self.bot))
            .await
            .map(drop)
            .map_err(crypto_error)
    }

    /// The encryption part of a transaction's `body` (room keys, device changes, key counts);
    /// `None` when it has none.
    pub fn transaction_part(body: &[u8]) -> Result<Option<TransactionCrypto>, MatrixError> {
        let crypto = TransactionCrypto::parse(body)
            .map_err(|e| MatrixError::Encryption(format!("transaction: {e}")))?;
        Ok((!crypto.is_empty()).then_some(crypto))
    }

    /// Takes in a transaction's encryption part; stored when this returns. The devices'
    /// answers (new one-time keys, key queries) are sent in the background.
    pub async fn take_in(&self, crypto: TransactionCrypto) {
        let ours = |user: &crypto_ruma::UserId| (self.ours)(user.as_str());
        for device in self.devices.receive(crypto, ours).await {
            tokio::spawn(async move {
                if let Err(e) = device.flush().await {
                    tracing::warn!(error = %e, "crypto requests not sent yet; sent with the next ones");
                }
            });
        }
    }

    /// A new term as the active process (`ha`): the devices' and rooms' state is read anew,
    /// as the other process may have changed it meanwhile.
    pub fn new_term(&self) {
        self.devices.close_all();
        self.encrypted.lock().expect("encrypted rooms lock").clear();
    }

    /// Notes that `room_id` is encrypted (its `m.room.encryption` went by).
    pub fn mark_encrypted(&self, room_id: &RoomId) {
        self.encrypted
            .lock()
            .expect("encrypted rooms lock")
            .insert(room_id.to_string(), true);
    }

    /// Whether `room_id` is encrypted, asked of the homeserver once per room.
    pub async fn is_encrypted(&self, room_id: &RoomId) -> Result<bool, MatrixError> {
        if let Some(known) = self
            .encrypted
            .lock()
            .expect("encrypted rooms lock")
            .get(room_id.as_str())
        {
            return Ok(*known);
        }
        let encrypted = self.matrix.is_encrypted(room_id).await?;
        let mut known = self.encrypted.lock().expect("encrypted rooms lock");
        // Once encrypted, encrypted: an `m.room.encryption` seen meanwhile wins.
        let entry = known.entry(room_id.to_string()).or_insert(encrypted);
        *entry |= encrypted;
        Ok(*entry)
    }

    /// The members whose devices get the room key: those joined and those invited.
    async fn members(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<crypto_ruma::OwnedUserId>, MatrixError> {
        let members = self.matrix.members(room_id).await?;
        Ok(members.iter().map(|user| their_user(user)).collect())
    }

    /// `content` (an `event_type` message) encrypted by `sender`'s device for everyone in the
    /// room: the `m.room.encrypted` content to send instead.
    pub async fn encrypt(
        &self,
        room_id: &RoomId,
        sender: Option<&UserId>,
        event_type: &str,
        content: &Value,
    ) -> Result<Box<RawValue>, MatrixError> {
        let sender = their_user(sender.unwrap_or(&self.bot));
        let device = self.devices.device(&sender).await.map_err(crypto_error)?;
        let members = self.members(room_id).await?;
        let content = to_raw_value(content).expect("JSON values serialise");
        device
            .encrypt(&their_room(room_id), &members, event_type, &content)
            .await
            .map_err(crypto_error)
    }

    /// `event` (an `m.room.encrypted` event of `room_id`, as the homeserver sent it) as its
    /// sender wrote it: type and content from the plaintext, sender, room and ID as the
    /// homeserver has them. Decrypted with
    /// `reader`'s device (the bot's if `None`: it is in every room the bridge keeps).
    pub async fn decrypt_event(
        &self,
        room_id: &RoomId,
        reader: Option<&UserId>,
        event: &str,
    ) -> Result<Value, Undecryptable> {
        let plain = self.decrypt(room_id, reader, event).await?;
        let mut whole: Value = serde_json::from_str(event)
            .map_err(|e| Undecryptable::Failed(format!("not an event: {e}")))?;
        // matrix-sdk-crypto has put the relation clients keep outside the ciphertext back
        // into the content.
        whole["type"] = plain["type"].clone();
        whole["content"] = plain["content"].clone();
        Ok(whole)
    }

    /// The decrypted event as matrix-sdk-crypto gives it.
    async fn decrypt(
        &self,
        room_id: &RoomId,
        reader: Option<&UserId>,
        event: &str,
    ) -> Result<Value, Undecryptable> {
        let reader = their_user(reader.unwrap_or(&self.bot));
        let device = self
            .devices
            .device(&reader)
            .await
            .map_err(|e| Undecryptable::Store(e.to_string()))?;
        let event: Box<RawValue> = serde_json::from_str(event)
            .map_err(|e| Undecryptable::Failed(format!("not an event: {e}")))?;
        match device.decrypt(&their_room(room_id), &event).await {
            Ok(decrypted) => serde_json::from_str(decrypted.get())
                .map_err(|e| Undecryptable::Failed(e.to_string())),
            Err(DecryptError::MissingKey) => Err(Undecryptable::MissingKey),
            Err(DecryptError::Failed(reason)) => Err(Undecryptable::Failed(reason)),
            Err(DecryptError::Store(e)) => Err(Undecryptable::Store(e.to_string())),
        }
    }
}

/// Shared by every clone of a client.
pub type SharedRoomCrypto = Arc<RoomCrypto>;
