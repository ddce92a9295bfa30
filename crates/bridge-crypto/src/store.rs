//! matrix-sdk-crypto's `CryptoStore` over the bridge's database (SQLite or PostgreSQL, through
//! sqlx's `Any` driver), one [`AccountStore`] per device the bridge holds.
//!
//! Written here rather than taken from `matrix-sdk-sqlite`: that crate links its own SQLite
//! (rusqlite), which cannot share the process with sqlx's, and knows no PostgreSQL; a standby
//! taking over must find the state in the database both processes share. The model is
//! `matrix-sdk-sqlite`'s crypto store (hashed identifiers, values encrypted with a
//! `StoreCipher`); the check is matrix-sdk-crypto's own store test suite, run on both databases.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use matrix_sdk_common::cross_process_lock::CrossProcessLockGeneration;
use matrix_sdk_crypto::{
    Account, DeviceData, GossipRequest, SecretInfo, TrackedUser, UserIdentityData,
    olm::{
        InboundGroupSession, OlmMessageHash, OutboundGroupSession, PickledInboundGroupSession,
        PrivateCrossSigningIdentity, SenderDataType, Session, StaticAccountData,
    },
    store::{
        CryptoStore,
        types::{
            BackupKeys, Changes, DehydratedDeviceKey, PendingChanges, RoomKeyCounts,
            RoomKeyWithheldEntry, RoomPendingKeyBundleDetails, RoomSettings,
            StoredRoomKeyBundleData,
        },
    },
    vodozemac::Curve25519PublicKey,
};
use matrix_sdk_store_encryption::StoreCipher;
use ruma::{
    DeviceId, OwnedDeviceId, RoomId, TransactionId, UserId, events::secret::request::SecretName,
};
use serde::{Serialize, de::DeserializeOwned};
use sqlx::{AnyConnection, AnyPool, Row, any::AnyRow};
use tokio::sync::Mutex;
use zeroize::Zeroizing;

/// Why the crypto store could not do what was asked. Never carries a key or a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("crypto store database error")]
    Database(#[from] sqlx::Error),
    #[error("crypto store encryption error")]
    Cipher(#[from] matrix_sdk_store_encryption::Error),
    #[error("crypto store value could not be (de)serialized")]
    Serialize(#[from] serde_json::Error),
    #[error("a stored crypto object could not be unpickled")]
    Unpickle,
    #[error("the crypto store has no account yet")]
    AccountUnset,
    /// The database's crypto state was written under another `bridge.encryption_key`.
    #[error(
        "the crypto store was written with another encryption key (bridge.encryption_key changed?)"
    )]
    WrongKey,
    /// A homeserver request could not be made or its answer not read.
    #[error("homeserver request failed: {0}")]
    Request(String),
    /// The homeserver refused a request.
    #[error("homeserver answered {status} {}", errcode.as_deref().unwrap_or("(no errcode)"))]
    Homeserver {
        status: u16,
        errcode: Option<String>,
    },
    /// The `OlmMachine` failed (its errors name no keys or plaintext).
    #[error("end-to-end encryption failed: {0}")]
    Crypto(String),
}

impl From<Error> for matrix_sdk_crypto::CryptoStoreError {
    fn from(error: Error) -> Self {
        matrix_sdk_crypto::CryptoStoreError::backend(error)
    }
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// The key the crypto state is encrypted with (`bridge.encryption_key`, 32 bytes). `Debug`
/// shows nothing of it.
#[derive(Clone)]
pub struct StoreKey(Zeroizing<[u8; 32]>);

impl StoreKey {
    pub fn new(key: [u8; 32]) -> Self {
        StoreKey(Zeroizing::new(key))
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(<redacted>)")
    }
}

/// Where the store's cipher is kept (under no account).
const CIPHER: (&str, &str, &str) = ("", "store_cipher", "");

/// The crypto state of all the bridge's devices in one database.
#[derive(Clone)]
pub struct CryptoDatabase {
    pool: AnyPool,
    cipher: Arc<StoreCipher>,
}

impl fmt::Debug for CryptoDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CryptoDatabase").finish_non_exhaustive()
    }
}

impl CryptoDatabase {
    /// Opens the crypto state in `pool` (its tables made by the bridge's migrations). The first
    /// open makes the store's cipher and keeps it encrypted with `key`; a later open with
    /// another key is refused ([`Error::WrongKey`]) instead of writing state nobody can read.
    pub async fn open(pool: AnyPool, key: &StoreKey) -> Result<Self> {
        let (account, kind, id) = CIPHER;
        let stored: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT value FROM crypto_value WHERE account = $1 AND kind = $2 AND id = $3",
        )
        .bind(account)
        .bind(kind)
        .bind(id)
        .fetch_optional(&pool)
        .await?;
        let cipher = match stored {
            Some(exported) => {
                StoreCipher::import_with_key(&key.0, &exported).map_err(|_| Error::WrongKey)?
            }
            None => {
                let cipher = StoreCipher::new()?;
                let exported = cipher.export_with_key(&key.0)?;
                // Two processes opening at once: the first one's cipher is everyone's.
                sqlx::query(
                    "INSERT INTO crypto_value (account, kind, id, value) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (account, kind, id) DO NOTHING",
                )
                .bind(account)
                .bind(kind)
                .bind(id)
                .bind(exported)
                .execute(&pool)
                .await?;
                let kept: Vec<u8> = sqlx::query_scalar(
                    "SELECT value FROM crypto_value WHERE account = $1 AND kind = $2 AND id = $3",
                )
                .bind(account)
                .bind(kind)
                .bind(id)
                .fetch_one(&pool)
                .await?;
                StoreCipher::import_with_key(&key.0, &kept).map_err(|_| Error::WrongKey)?
            }
        };
        Ok(CryptoDatabase {
            pool,
            cipher: Arc::new(cipher),
        })
    }

    /// The store of the device `user_id` holds (the bridge holds one device per user).
    pub fn account(&self, user_id: &UserId) -> AccountStore {
        AccountStore {
            db: self.clone(),
            account: user_id.to_string(),
            static_account: Arc::default(),
            save_lock: Arc::default(),
        }
    }

    /// Forgets everything of `user_id`'s device (a ghost whose driver was erased): its keys and
    /// every room key it received. Returns how many rows went.
    pub async fn forget_account(&self, user_id: &UserId) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let mut removed = 0;
        for table in ["crypto_value", "crypto_inbound_group_session"] {
            removed += sqlx::query(&format!("DELETE FROM {table} WHERE account = $1"))
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(removed)
    }
}

/// One device's crypto state: what its `OlmMachine` runs on.
#[derive(Clone)]
pub struct AccountStore {
    db: CryptoDatabase,
    account: String,
    /// The account's identity, kept from the last load or save (sessions are unpickled with it).
    static_account: Arc<RwLock<Option<StaticAccountData>>>,
    /// `save_changes` pickles between awaits: two at once could write older state last.
    save_lock: Arc<Mutex<()>>,
}

impl fmt::Debug for AccountStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountStore")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// The kinds of `crypto_value` rows.
mod kind {
    pub const ACCOUNT: &str = "account";
    pub const IDENTITY: &str = "identity";
    pub const NEXT_BATCH: &str = "next_batch_token";
    pub const BACKUP_VERSION: &str = "backup_version";
    pub const RECOVERY_KEY: &str = "recovery_key";
    pub const DEHYDRATED_KEY: &str = "dehydrated_device_pickle_key";
    pub const SESSION: &str = "session";
    pub const OUTBOUND_GROUP_SESSION: &str = "outbound_group_session";
    pub const DEVICE: &str = "device";
    pub const USER_IDENTITY: &str = "user_identity";
    pub const TRACKED_USER: &str = "tracked_user";
    pub const OLM_HASH: &str = "olm_hash";
    pub const KEY_REQUEST: &str = "key_request";
    pub const WITHHELD: &str = "withheld";
    pub const ROOM_SETTINGS: &str = "room_settings";
    pub const SECRET: &str = "secret";
    pub const RECEIVED_BUNDLE: &str = "received_room_key_bundle";
    pub const BACKUP_DOWNLOADED: &str = "room_key_backup_downloaded";
    pub const PENDING_BUNDLE: &str = "room_pending_key_bundle";
    pub const CUSTOM: &str = "custom";
    /// The inbound group sessions' table, for its hashed identifiers.
    pub const INBOUND_GROUP_SESSION: &str = "inbound_group_session";
}

/// A row to write into `crypto_value`.
struct Put {
    kind: &'static str,
    id: String,
    grp: Option<String>,
    flag: Option<i64>,
    value: Vec<u8>,
}

impl AccountStore {
    /// A keyed hash of `key` as a `kind` identifier: equal keys meet, nothing else is learnt.
    fn hash(&self, kind: &str, key: impl AsRef<[u8]>) -> String {
        hex::encode(self.db.cipher.hash_key(kind, key.as_ref()))
    }

    /// Two parts hashed as one identifier (a user's device, a room's sender).
    fn hash2(&self, kind: &str, first: impl AsRef<[u8]>, second: impl AsRef<[u8]>) -> String {
        let mut key = first.as_ref().to_vec();
        key.push(0);
        key.extend_from_slice(second.as_ref());
        self.hash(kind, key)
    }

    fn seal(&self, value: &impl Serialize) -> Result<Vec<u8>> {
        Ok(self.db.cipher.encrypt_value(value)?)
    }

    fn seal_some(&self, value: Option<&impl Serialize>) -> Result<Option<Vec<u8>>> {
        value.map(|value| self.seal(value)).transpose()
    }

    fn open<T: DeserializeOwned>(&self, value: &[u8]) -> Result<T> {
        Ok(self.db.cipher.decrypt_value(value)?)
    }

    /// The device's identity, once its account was loaded or saved through this store.
    pub fn get_static_account(&self) -> Option<StaticAccountData> {
        self.static_account
            .read()
            .expect("static account lock")
            .clone()
    }

    fn static_account(&self) -> Result<StaticAccountData> {
        self.get_static_account().ok_or(Error::AccountUnset)
    }

    async fn get(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT value FROM crypto_value WHERE account = $1 AND kind = $2 AND id = $3",
        )
        .bind(&self.account)
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?)
    }

    async fn get_open<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>> {
        self.get(kind, id)
            .await?
            .map(|value| self.open(&value))
            .transpose()
    }

    /// Every `kind` row's value and flag, or only those listed under `grp`.
    async fn list(&self, kind: &str, grp: Option<&str>) -> Result<Vec<(Vec<u8>, Option<i64>)>> {
        let rows = match grp {
            Some(grp) => {
                sqlx::query(
                    "SELECT value, flag FROM crypto_value \
                     WHERE account = $1 AND kind = $2 AND grp = $3",
                )
                .bind(&self.account)
                .bind(kind)
                .bind(grp)
                .fetch_all(&self.db.pool)
                .await?
            }
            None => {
                sqlx::query("SELECT value, flag FROM crypto_value WHERE account = $1 AND kind = $2")
                    .bind(&self.account)
                    .bind(kind)
                    .fetch_all(&self.db.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|row| Ok((row.try_get("value")?, row.try_get("flag")?)))
            .collect()
    }

    async fn put(&self, conn: &mut AnyConnection, row: Put) -> Result<()> {
        sqlx::query(
            "INSERT INTO crypto_value (account, kind, id, grp, flag, value) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account, kind, id) \
             DO UPDATE SET grp = excluded.grp, flag = excluded.flag, value = excluded.value",
        )
        .bind(&self.account)
        .bind(row.kind)
        .bind(row.id)
        .bind(row.grp)
        .bind(row.flag)
        .bind(row.value)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn delete(&self, conn: &mut AnyConnection, kind: &str, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM crypto_value WHERE account = $1 AND kind = $2 AND id = $3")
            .bind(&self.account)
            .bind(kind)
            .bind(id)
            .execute(conn)
            .await?;
        Ok(())
    }

    async fn delete_grp(&self, conn: &mut AnyConnection, kind: &str, grp: &str) -> Result<()> {
        sqlx::query("DELETE FROM crypto_value WHERE account = $1 AND kind = $2 AND grp = $3")
            .bind(&self.account)
            .bind(kind)
            .bind(grp)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// A singleton's row (`kind` with an empty id).
    fn single(&self, kind: &'static str, value: Vec<u8>) -> Put {
        Put {
            kind,
            id: String::new(),
            grp: None,
            flag: None,
            value,
        }
    }

    fn inbound_group_session(&self, row: &AnyRow) -> Result<InboundGroupSession> {
        let value: Vec<u8> = row.try_get("value")?;
        let backed_up: i64 = row.try_get("backed_up")?;
        let mut pickle: PickledInboundGroupSession = self.open(&value)?;
        // The column is what `mark_inbound_group_sessions_as_backed_up` changes.
        pickle.backed_up = backed_up != 0;
        InboundGroupSession::from_pickle(pickle).map_err(|_| Error::Unpickle)
    }

    async fn inbound_group_sessions(
        &self,
        filter: &str,
        binds: &[&str],
    ) -> Result<Vec<InboundGroupSession>> {
        let sql = format!(
            "SELECT value, backed_up FROM crypto_inbound_group_session WHERE account = $1 {filter}"
        );
        let mut query = sqlx::query(&sql).bind(&self.account);
        for bind in binds {
            query = query.bind(*bind);
        }
        query
            .fetch_all(&self.db.pool)
            .await?
            .iter()
            .map(|row| self.inbound_group_session(row))
            .collect()
    }

    fn key_request(&self, value: &[u8], sent_out: Option<i64>) -> Result<GossipRequest> {
        let mut request: GossipRequest = self.open(value)?;
        request.sent_out = sent_out.unwrap_or(0) != 0;
        Ok(request)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl CryptoStore for AccountStore {
    type Error = Error;

    async fn load_account(&self) -> Result<Option<Account>> {
        let Some(pickle) = self.get_open(kind::ACCOUNT, "").await? else {
            return Ok(None);
        };
        let account = Account::from_pickle(pickle).map_err(|_| Error::Unpickle)?;
        *self.static_account.write().expect("static account lock") =
            Some(account.static_data().clone());
        Ok(Some(account))
    }

    async fn load_identity(&self) -> Result<Option<PrivateCrossSigningIdentity>> {
        let Some(pickle) = self.get_open(kind::IDENTITY, "").await? else {
            return Ok(None);
        };
        Ok(Some(
            PrivateCrossSigningIdentity::from_pickle(pickle).map_err(|_| Error::Unpickle)?,
        ))
    }

    async fn save_pending_changes(&self, changes: PendingChanges) -> Result<()> {
        let _guard = self.save_lock.lock().await;
        let Some(account) = changes.account else {
            return Ok(());
        };
        *self.static_account.write().expect("static account lock") =
            Some(account.static_data().clone());
        let value = self.seal(&account.pickle())?;
        let mut conn = self.db.pool.acquire().await?;
        self.put(&mut conn, self.single(kind::ACCOUNT, value)).await
    }

    async fn save_changes(&self, changes: Changes) -> Result<()> {
        let _guard = self.save_lock.lock().await;

        // Everything is pickled and sealed before the transaction, which then only writes.
        // The account's single values, where this step changed them.
        let identity = match &changes.private_identity {
            Some(identity) => Some(self.seal(&identity.pickle().await)?),
            None => None,
        };
        let singles = [
            (kind::IDENTITY, identity),
            (
                kind::NEXT_BATCH,
                self.seal_some(changes.next_batch_token.as_ref())?,
            ),
            (
                kind::RECOVERY_KEY,
                self.seal_some(changes.backup_decryption_key.as_ref())?,
            ),
            (
                kind::BACKUP_VERSION,
                self.seal_some(changes.backup_version.as_ref())?,
            ),
            (
                kind::DEHYDRATED_KEY,
                self.seal_some(changes.dehydrated_device_pickle_key.as_ref())?,
            ),
        ];
        let mut rows: Vec<Put> = (singles.into_iter())
            .filter_map(|(kind, value)| Some(self.single(kind, value?)))
            .collect();
        let mut deletes: Vec<(&'static str, String)> = Vec::new();
        let mut push = |kind: &'static str,
                        id: String,
                        grp: Option<String>,
                        flag: Option<i64>,
                        value: Vec<u8>| {
            rows.push(Put {
                kind,
                id,
                grp,
                flag,
                value,
            })
        };

        for device in changes.devices.new.iter().chain(&changes.devices.changed) {
            let (user, id) = (device.user_id(), device.device_id());
            push(
                kind::DEVICE,
                self.hash2(kind::DEVICE, user.as_bytes(), id.as_bytes()),
                Some(self.hash(kind::DEVICE, user.as_bytes())),
                None,
                self.seal(device)?,
            );
        }
        for device in &changes.devices.deleted {
            let (user, id) = (device.user_id(), device.device_id());
            deletes.push((
                kind::DEVICE,
                self.hash2(kind::DEVICE, user.as_bytes(), id.as_bytes()),
            ));
        }
        for identity in changes
            .identities
            .new
            .iter()
            .chain(&changes.identities.changed)
        {
            push(
                kind::USER_IDENTITY,
                self.hash(kind::USER_IDENTITY, identity.user_id().as_bytes()),
                None,
                None,
                self.seal(identity)?,
            );
        }
        for session in &changes.sessions {
            push(
                kind::SESSION,
                self.hash(kind::SESSION, session.session_id()),
                Some(self.hash(kind::SESSION, session.sender_key().to_base64())),
                None,
                self.seal(&session.pickle().await)?,
            );
        }
        let mut inbound = Vec::new();
        for session in &changes.inbound_group_sessions {
            let pickle = session.pickle().await;
            inbound.push((
                self.hash(kind::INBOUND_GROUP_SESSION, session.session_id()),
                self.hash(kind::INBOUND_GROUP_SESSION, session.room_id().as_bytes()),
                self.hash(
                    kind::INBOUND_GROUP_SESSION,
                    session.sender_key().to_base64(),
                ),
                pickle.sender_data.to_type() as i64,
                i64::from(pickle.backed_up),
                self.seal(&pickle)?,
            ));
        }
        for session in &changes.outbound_group_sessions {
            push(
                kind::OUTBOUND_GROUP_SESSION,
                self.hash(kind::OUTBOUND_GROUP_SESSION, session.room_id().as_bytes()),
                None,
                None,
                self.seal(&session.pickle().await)?,
            );
        }
        for hash in &changes.message_hashes {
            let key = serde_json::to_vec(hash)?;
            push(
                kind::OLM_HASH,
                self.hash(kind::OLM_HASH, key),
                None,
                None,
                Vec::new(),
            );
        }
        for request in &changes.key_requests {
            push(
                kind::KEY_REQUEST,
                self.hash(kind::KEY_REQUEST, request.request_id.as_bytes()),
                None,
                Some(i64::from(request.sent_out)),
                self.seal(request)?,
            );
        }
        for (room_id, sessions) in &changes.withheld_session_info {
            for (session_id, entry) in sessions {
                push(
                    kind::WITHHELD,
                    self.hash2(kind::WITHHELD, room_id.as_bytes(), session_id),
                    Some(self.hash(kind::WITHHELD, room_id.as_bytes())),
                    None,
                    self.seal(entry)?,
                );
            }
        }
        for (room_id, settings) in &changes.room_settings {
            push(
                kind::ROOM_SETTINGS,
                self.hash(kind::ROOM_SETTINGS, room_id.as_bytes()),
                None,
                None,
                self.seal(settings)?,
            );
        }
        for secret in &changes.secrets {
            let name = secret.secret_name.to_string();
            // The same secret twice is kept once: its identifier covers name and value.
            push(
                kind::SECRET,
                self.hash2(kind::SECRET, &name, secret.secret.as_bytes()),
                Some(self.hash(kind::SECRET, &name)),
                None,
                self.seal(&*secret.secret)?,
            );
        }
        for bundle in &changes.received_room_key_bundles {
            push(
                kind::RECEIVED_BUNDLE,
                self.hash2(
                    kind::RECEIVED_BUNDLE,
                    bundle.bundle_data.room_id.as_bytes(),
                    bundle.sender_user.as_bytes(),
                ),
                None,
                None,
                self.seal(bundle)?,
            );
        }
        for room_id in &changes.room_key_backups_fully_downloaded {
            push(
                kind::BACKUP_DOWNLOADED,
                self.hash(kind::BACKUP_DOWNLOADED, room_id.as_bytes()),
                None,
                None,
                Vec::new(),
            );
        }
        for (room_id, details) in &changes.rooms_pending_key_bundle {
            let id = self.hash(kind::PENDING_BUNDLE, room_id.as_bytes());
            match details {
                Some(details) => push(kind::PENDING_BUNDLE, id, None, None, self.seal(details)?),
                None => deletes.push((kind::PENDING_BUNDLE, id)),
            }
        }

        // One transaction: an `OlmMachine` step is stored whole or not at all.
        let mut tx = self.db.pool.begin().await?;
        for row in rows {
            self.put(&mut tx, row).await?;
        }
        for (kind, id) in deletes {
            self.delete(&mut tx, kind, &id).await?;
        }
        for (session_id, room_id, sender_key, sender_data_type, backed_up, value) in inbound {
            sqlx::query(
                "INSERT INTO crypto_inbound_group_session \
                 (account, session_id, room_id, sender_key, sender_data_type, backed_up, value) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (account, session_id) DO UPDATE SET room_id = excluded.room_id, \
                 sender_key = excluded.sender_key, sender_data_type = excluded.sender_data_type, \
                 backed_up = excluded.backed_up, value = excluded.value",
            )
            .bind(&self.account)
            .bind(session_id)
            .bind(room_id)
            .bind(sender_key)
            .bind(sender_data_type)
            .bind(backed_up)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn save_inbound_group_sessions(
        &self,
        sessions: Vec<InboundGroupSession>,
        _backed_up_to_version: Option<&str>,
    ) -> Result<()> {
        // The backup version is not kept apart (the bridge keeps no server-side key backup).
        self.save_changes(Changes {
            inbound_group_sessions: sessions,
            ..Changes::default()
        })
        .await
    }

    async fn get_sessions(&self, sender_key: &str) -> Result<Option<Vec<Session>>> {
        let grp = self.hash(kind::SESSION, sender_key);
        let rows = self.list(kind::SESSION, Some(&grp)).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let device_keys = self.get_own_device().await?.as_device_keys().clone();
        rows.iter()
            .map(|(value, _)| {
                Session::from_pickle(device_keys.clone(), self.open(value)?)
                    .map_err(|_| Error::Unpickle)
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    async fn get_inbound_group_session(
        &self,
        room_id: &RoomId,
        session_id: &str,
    ) -> Result<Option<InboundGroupSession>> {
        let session_id = self.hash(kind::INBOUND_GROUP_SESSION, session_id);
        let room_id = self.hash(kind::INBOUND_GROUP_SESSION, room_id.as_bytes());
        let mut sessions = self
            .inbound_group_sessions(
                "AND session_id = $2 AND room_id = $3",
                &[&session_id, &room_id],
            )
            .await?;
        Ok(sessions.pop())
    }

    async fn get_withheld_info(
        &self,
        room_id: &RoomId,
        session_id: &str,
    ) -> Result<Option<RoomKeyWithheldEntry>> {
        let id = self.hash2(kind::WITHHELD, room_id.as_bytes(), session_id);
        self.get_open(kind::WITHHELD, &id).await
    }

    async fn get_withheld_sessions_by_room_id(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<RoomKeyWithheldEntry>> {
        let grp = self.hash(kind::WITHHELD, room_id.as_bytes());
        self.list(kind::WITHHELD, Some(&grp))
            .await?
            .iter()
            .map(|(value, _)| self.open(value))
            .collect()
    }

    async fn get_inbound_group_sessions(&self) -> Result<Vec<InboundGroupSession>> {
        self.inbound_group_sessions("", &[]).await
    }

    async fn inbound_group_session_counts(
        &self,
        _backup_version: Option<&str>,
    ) -> Result<RoomKeyCounts> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, COUNT(CASE WHEN backed_up = 1 THEN 1 END) AS backed_up \
             FROM crypto_inbound_group_session WHERE account = $1",
        )
        .bind(&self.account)
        .fetch_one(&self.db.pool)
        .await?;
        let total: i64 = row.try_get("total")?;
        let backed_up: i64 = row.try_get("backed_up")?;
        Ok(RoomKeyCounts {
            total: total as usize,
            backed_up: backed_up as usize,
        })
    }

    async fn get_inbound_group_sessions_by_room_id(
        &self,
        room_id: &RoomId,
    ) -> Result<Vec<InboundGroupSession>> {
        let room_id = self.hash(kind::INBOUND_GROUP_SESSION, room_id.as_bytes());
        self.inbound_group_sessions("AND room_id = $2", &[&room_id])
            .await
    }

    async fn get_inbound_group_sessions_for_device_batch(
        &self,
        curve_key: Curve25519PublicKey,
        sender_data_type: SenderDataType,
        after_session_id: Option<String>,
        limit: usize,
    ) -> Result<Vec<InboundGroupSession>> {
        let sender_key = self.hash(kind::INBOUND_GROUP_SESSION, curve_key.to_base64());
        // Batches follow the hashed ids; the empty string sorts before every one of them.
        let after = after_session_id
            .map(|id| self.hash(kind::INBOUND_GROUP_SESSION, id))
            .unwrap_or_default();
        let rows = sqlx::query(
            "SELECT value, backed_up FROM crypto_inbound_group_session \
             WHERE account = $1 AND sender_key = $2 AND sender_data_type = $3 AND session_id > $4 \
             ORDER BY session_id LIMIT $5",
        )
        .bind(&self.account)
        .bind(sender_key)
        .bind(sender_data_type as i64)
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| self.inbound_group_session(row))
            .collect()
    }

    async fn inbound_group_sessions_for_backup(
        &self,
        _backup_version: &str,
        limit: usize,
    ) -> Result<Vec<InboundGroupSession>> {
        let rows = sqlx::query(
            "SELECT value, backed_up FROM crypto_inbound_group_session \
             WHERE account = $1 AND backed_up = 0 LIMIT $2",
        )
        .bind(&self.account)
        .bind(limit as i64)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| self.inbound_group_session(row))
            .collect()
    }

    async fn mark_inbound_group_sessions_as_backed_up(
        &self,
        _backup_version: &str,
        room_and_session_ids: &[(&RoomId, &str)],
    ) -> Result<()> {
        let mut tx = self.db.pool.begin().await?;
        for (room_id, session_id) in room_and_session_ids {
            sqlx::query(
                "UPDATE crypto_inbound_group_session SET backed_up = 1 \
                 WHERE account = $1 AND session_id = $2 AND room_id = $3",
            )
            .bind(&self.account)
            .bind(self.hash(kind::INBOUND_GROUP_SESSION, session_id))
            .bind(self.hash(kind::INBOUND_GROUP_SESSION, room_id.as_bytes()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reset_backup_state(&self) -> Result<()> {
        sqlx::query("UPDATE crypto_inbound_group_session SET backed_up = 0 WHERE account = $1")
            .bind(&self.account)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    async fn load_backup_keys(&self) -> Result<BackupKeys> {
        Ok(BackupKeys {
            backup_version: self.get_open(kind::BACKUP_VERSION, "").await?,
            decryption_key: self.get_open(kind::RECOVERY_KEY, "").await?,
        })
    }

    async fn load_dehydrated_device_pickle_key(&self) -> Result<Option<DehydratedDeviceKey>> {
        self.get_open(kind::DEHYDRATED_KEY, "").await
    }

    async fn delete_dehydrated_device_pickle_key(&self) -> Result<()> {
        let mut conn = self.db.pool.acquire().await?;
        self.delete(&mut conn, kind::DEHYDRATED_KEY, "").await
    }

    async fn get_outbound_group_session(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<OutboundGroupSession>> {
        let id = self.hash(kind::OUTBOUND_GROUP_SESSION, room_id.as_bytes());
        let Some(pickle) = self.get_open(kind::OUTBOUND_GROUP_SESSION, &id).await? else {
            return Ok(None);
        };
        let account = self.static_account()?;
        OutboundGroupSession::from_pickle(account.device_id, account.identity_keys, pickle)
            .map(Some)
            .map_err(|_| Error::Unpickle)
    }

    async fn load_tracked_users(&self) -> Result<Vec<TrackedUser>> {
        self.list(kind::TRACKED_USER, None)
            .await?
            .iter()
            .map(|(value, _)| self.open(value))
            .collect()
    }

    async fn save_tracked_users(&self, users: &[(&UserId, bool)]) -> Result<()> {
        let values = users
            .iter()
            .map(|(user_id, dirty)| {
                let user = TrackedUser {
                    user_id: (*user_id).to_owned(),
                    dirty: *dirty,
                };
                Ok((
                    self.hash(kind::TRACKED_USER, user_id.as_bytes()),
                    self.seal(&user)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self.db.pool.begin().await?;
        for (id, value) in values {
            let row = Put {
                kind: kind::TRACKED_USER,
                id,
                grp: None,
                flag: None,
                value,
            };
            self.put(&mut tx, row).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_device(
        &self,
        user_id: &UserId,
        device_id: &DeviceId,
    ) -> Result<Option<DeviceData>> {
        let id = self.hash2(kind::DEVICE, user_id.as_bytes(), device_id.as_bytes());
        self.get_open(kind::DEVICE, &id).await
    }

    async fn get_user_devices(
        &self,
        user_id: &UserId,
    ) -> Result<HashMap<OwnedDeviceId, DeviceData>> {
        let grp = self.hash(kind::DEVICE, user_id.as_bytes());
        self.list(kind::DEVICE, Some(&grp))
            .await?
            .iter()
            .map(|(value, _)| {
                let device: DeviceData = self.open(value)?;
                Ok((device.device_id().to_owned(), device))
            })
            .collect()
    }

    async fn get_own_device(&self) -> Result<DeviceData> {
        let account = self.static_account()?;
        self.get_device(&account.user_id, &account.device_id)
            .await?
            .ok_or(Error::AccountUnset)
    }

    async fn get_user_identity(&self, user_id: &UserId) -> Result<Option<UserIdentityData>> {
        let id = self.hash(kind::USER_IDENTITY, user_id.as_bytes());
        self.get_open(kind::USER_IDENTITY, &id).await
    }

    async fn is_message_known(&self, message_hash: &OlmMessageHash) -> Result<bool> {
        let id = self.hash(kind::OLM_HASH, serde_json::to_vec(message_hash)?);
        Ok(self.get(kind::OLM_HASH, &id).await?.is_some())
    }

    async fn get_outgoing_secret_requests(
        &self,
        request_id: &TransactionId,
    ) -> Result<Option<GossipRequest>> {
        let id = self.hash(kind::KEY_REQUEST, request_id.as_bytes());
        let row = sqlx::query(
            "SELECT value, flag FROM crypto_value WHERE account = $1 AND kind = $2 AND id = $3",
        )
        .bind(&self.account)
        .bind(kind::KEY_REQUEST)
        .bind(id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|row| self.key_request(&row.try_get::<Vec<u8>, _>("value")?, row.try_get("flag")?))
            .transpose()
    }

    async fn get_secret_request_by_info(
        &self,
        secret_info: &SecretInfo,
    ) -> Result<Option<GossipRequest>> {
        for (value, sent_out) in self.list(kind::KEY_REQUEST, None).await? {
            let request = self.key_request(&value, sent_out)?;
            if request.info == *secret_info {
                return Ok(Some(request));
            }
        }
        Ok(None)
    }

    async fn get_unsent_secret_requests(&self) -> Result<Vec<GossipRequest>> {
        let mut unsent = Vec::new();
        for (value, sent_out) in self.list(kind::KEY_REQUEST, None).await? {
            if sent_out.unwrap_or(0) == 0 {
                unsent.push(self.key_request(&value, sent_out)?);
            }
        }
        Ok(unsent)
    }

    async fn delete_outgoing_secret_requests(&self, request_id: &TransactionId) -> Result<()> {
        let id = self.hash(kind::KEY_REQUEST, request_id.as_bytes());
        let mut conn = self.db.pool.acquire().await?;
        self.delete(&mut conn, kind::KEY_REQUEST, &id).await
    }

    async fn get_secrets_from_inbox(
        &self,
        secret_name: &SecretName,
    ) -> Result<Vec<Zeroizing<String>>> {
        let grp = self.hash(kind::SECRET, secret_name.to_string());
        self.list(kind::SECRET, Some(&grp))
            .await?
            .iter()
            .map(|(value, _)| self.open::<String>(value).map(Zeroizing::new))
            .collect()
    }

    async fn delete_secrets_from_inbox(&self, secret_name: &SecretName) -> Result<()> {
        let grp = self.hash(kind::SECRET, secret_name.to_string());
        let mut conn = self.db.pool.acquire().await?;
        self.delete_grp(&mut conn, kind::SECRET, &grp).await
    }

    async fn get_room_settings(&self, room_id: &RoomId) -> Result<Option<RoomSettings>> {
        let id = self.hash(kind::ROOM_SETTINGS, room_id.as_bytes());
        self.get_open(kind::ROOM_SETTINGS, &id).await
    }

    async fn get_received_room_key_bundle_data(
        &self,
        room_id: &RoomId,
        user_id: &UserId,
    ) -> Result<Option<StoredRoomKeyBundleData>> {
        let id = self.hash2(
            kind::RECEIVED_BUNDLE,
            room_id.as_bytes(),
            user_id.as_bytes(),
        );
        self.get_open(kind::RECEIVED_BUNDLE, &id).await
    }

    async fn get_pending_key_bundle_details_for_room(
        &self,
        room_id: &RoomId,
    ) -> Result<Option<RoomPendingKeyBundleDetails>> {
        let id = self.hash(kind::PENDING_BUNDLE, room_id.as_bytes());
        self.get_open(kind::PENDING_BUNDLE, &id).await
    }

    async fn get_all_rooms_pending_key_bundles(&self) -> Result<Vec<RoomPendingKeyBundleDetails>> {
        self.list(kind::PENDING_BUNDLE, None)
            .await?
            .iter()
            .map(|(value, _)| self.open(value))
            .collect()
    }

    async fn has_downloaded_all_room_keys(&self, room_id: &RoomId) -> Result<bool> {
        let id = self.hash(kind::BACKUP_DOWNLOADED, room_id.as_bytes());
        Ok(self.get(kind::BACKUP_DOWNLOADED, &id).await?.is_some())
    }

    async fn get_custom_value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let id = self.hash(kind::CUSTOM, key);
        self.get_open(kind::CUSTOM, &id).await
    }

    async fn set_custom_value(&self, key: &str, value: Vec<u8>) -> Result<()> {
        let value = self.seal(&value)?;
        let row = Put {
            kind: kind::CUSTOM,
            id: self.hash(kind::CUSTOM, key),
            grp: None,
            flag: None,
            value,
        };
        let mut conn = self.db.pool.acquire().await?;
        self.put(&mut conn, row).await
    }

    async fn remove_custom_value(&self, key: &str) -> Result<()> {
        let id = self.hash(kind::CUSTOM, key);
        let mut conn = self.db.pool.acquire().await?;
        self.delete(&mut conn, kind::CUSTOM, &id).await
    }

    async fn try_take_leased_lock(
        &self,
        lease_duration_ms: u32,
        key: &str,
        holder: &str,
    ) -> Result<Option<CrossProcessLockGeneration>> {
        let now = now_ms();
        // Taken when free, expired or already ours; the generation moves on with each new
        // holder, so that a holder can tell its lock was taken meanwhile.
        let generation: Option<i64> = sqlx::query_scalar(
            "INSERT INTO crypto_lease (id, holder, expiration, generation) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, \
             expiration = excluded.expiration, \
             generation = CASE WHEN crypto_lease.holder = excluded.holder \
                 THEN crypto_lease.generation ELSE crypto_lease.generation + 1 END \
             WHERE crypto_lease.holder = excluded.holder OR crypto_lease.expiration < $4 \
             RETURNING generation",
        )
        // A user ID has no space: the account and the key cannot run into each other.
        .bind(format!("{} {key}", self.account))
        .bind(holder)
        .bind(now + i64::from(lease_duration_ms))
        .bind(now)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(generation.map(|g| g as CrossProcessLockGeneration))
    }

    async fn next_batch_token(&self) -> Result<Option<String>> {
        self.get_open(kind::NEXT_BATCH, "").await
    }

    /// The pool belongs to the bridge and outlives the store.
    async fn close(&self) -> Result<()> {
        Ok(())
    }

    async fn reopen(&self) -> Result<()> {
        Ok(())
    }

    async fn get_size(&self) -> Result<Option<usize>> {
        Ok(None)
    }
}
