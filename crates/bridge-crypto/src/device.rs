//! One device the bridge holds (the bot's or a ghost's): an `OlmMachine` on its
//! [`AccountStore`], and the homeserver requests it needs, sent as its user and device through
//! the appservice's identity assertion (`user_id`, `device_id`).
//!
//! The device is created by the appservice itself (MSC4190), gets a cross-signing identity of
//! its own and signs itself with it: a client that only accepts cross-signed devices (Element's
//! "exclude insecure devices") still sends it room keys and shows its messages as trusted by
//! their sender.

use std::{borrow::Cow, collections::BTreeMap, sync::Arc, time::Duration};

use matrix_sdk_common::deserialized_responses::ProcessedToDeviceEvent;
use matrix_sdk_crypto::{
    CrossSigningBootstrapRequests, DecryptionSettings, EncryptionSettings, EncryptionSyncChanges,
    MegolmError, OlmMachine, TrustRequirement,
    store::CryptoStore,
    types::requests::{AnyOutgoingRequest, ToDeviceRequest},
};
use ruma::{
    DeviceId, OneTimeKeyAlgorithm, OwnedDeviceId, OwnedUserId, RoomId, UInt, UserId,
    api::{
        AppserviceUserIdentity, IncomingResponse, OutgoingRequest, OutgoingRequestAppserviceExt,
        SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        client::{
            device::update_device,
            keys::{get_keys, upload_signing_keys},
            sync::sync_events::DeviceLists,
            to_device::send_event_to_device,
        },
        path_builder::{PathBuilder, SinglePath, VersionHistory},
    },
    events::{AnyMessageLikeEventContent, AnyToDeviceEvent},
    serde::Raw,
};
use serde_json::value::RawValue;
use tokio::sync::Mutex;

use crate::{AccountStore, CryptoDatabase, Error};

/// Where an account keeps the ID of its device: made once (random, like a client's), the same
/// across restarts. Not one fixed ID for all: a database started afresh (a reset, an old backup)
/// makes new devices rather than new keys under IDs the homeserver knows with others.
const DEVICE_ID_KEY: &str = "threema_bridge.device_id";

/// How the homeserver is reached: its URL and the appservice's token.
pub struct Homeserver {
    http: reqwest::Client,
    base_url: String,
    as_token: String,
    versions: SupportedVersions,
}

impl std::fmt::Debug for Homeserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Homeserver")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// What each ruma path builder needs to pick an endpoint's URL.
trait PathInput: PathBuilder {
    fn input(versions: &SupportedVersions) -> Self::Input<'_>;
}

impl PathInput for VersionHistory {
    fn input(versions: &SupportedVersions) -> Cow<'_, SupportedVersions> {
        Cow::Borrowed(versions)
    }
}

impl PathInput for SinglePath {
    fn input(_: &SupportedVersions) {}
}

impl Homeserver {
    pub fn new(base_url: &str, as_token: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client builds with static settings");
        Homeserver {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            as_token: as_token.to_owned(),
            versions: SupportedVersions::from_parts(&["v1.11".to_owned()], &BTreeMap::new()),
        }
    }

    /// Sends `request` once as `user` (and `device`, which must exist). What fails is tried
    /// again by whoever asked: the machine keeps a request until it is marked sent.
    async fn send<R>(
        &self,
        request: R,
        user: &UserId,
        device: Option<&DeviceId>,
    ) -> Result<R::IncomingResponse, Error>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let mut identity = AppserviceUserIdentity::new(user);
        identity.device_id = device;
        let request = request
            .try_into_http_request_with_identity::<Vec<u8>>(
                &self.base_url,
                SendAccessToken::Appservice(&self.as_token),
                identity,
                R::PathBuilder::input(&self.versions),
            )
            .map_err(|e| Error::Request(e.to_string()))?;
        let (parts, body) = request.into_parts();
        let response = self
            .http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| Error::Request(e.without_url().to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::Request(e.without_url().to_string()))?;
        if !status.is_success() {
            let errcode = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|body| body["errcode"].as_str().map(str::to_owned));
            return Err(Error::Homeserver {
                status: status.as_u16(),
                errcode,
            });
        }
        let response = http::Response::builder()
            .status(status)
            .body(bytes.to_vec())
            .expect("a status and a body make a response");
        R::IncomingResponse::try_from_http_response(response)
            .map_err(|e| Error::Request(e.to_string()))
    }
}

/// What a device could not decrypt, and whether waiting can help.
#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    /// The room key has not arrived (yet): the event is tried again when keys arrive.
    #[error("the room key for this event has not arrived")]
    MissingKey,
    #[error("the event cannot be decrypted: {0}")]
    Failed(String),
    #[error(transparent)]
    Store(#[from] Error),
}

/// One of the bridge's devices.
pub struct Device {
    machine: OlmMachine,
    store: AccountStore,
    homeserver: Arc<Homeserver>,
    /// One round of outgoing requests at a time: the machine hands out the same ones until they
    /// are marked sent.
    outgoing: Mutex<()>,
    /// Sharing a room key and encrypting with it, one room message at a time.
    sharing: Mutex<()>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("user_id", &self.machine.user_id())
            .finish_non_exhaustive()
    }
}

/// Marks a device whose cross-signing keys the homeserver has (kept in its store).
const CROSS_SIGNING_UPLOADED: &str = "threema_bridge.cross_signing_uploaded";

impl Device {
    /// Opens `user_id`'s device: created on the homeserver if new (MSC4190), its keys uploaded,
    /// its cross-signing identity made and uploaded once.
    pub async fn open(
        db: &CryptoDatabase,
        homeserver: Arc<Homeserver>,
        user_id: &UserId,
    ) -> Result<Device, Error> {
        let store = db.account(user_id);
        let device_id: OwnedDeviceId = match store.get_custom_value(DEVICE_ID_KEY).await? {
            Some(stored) => String::from_utf8(stored)
                .map_err(|_| Error::Unpickle)?
                .into(),
            None => {
                let new = DeviceId::new();
                // Kept before the homeserver hears of it: a second try uses the same ID.
                store
                    .set_custom_value(DEVICE_ID_KEY, new.as_bytes().to_vec())
                    .await?;
                new
            }
        };
        // Creating a device that exists changes nothing but its name.
        let mut create = update_device::v3::Request::new(device_id.clone());
        create.display_name = Some("Threema bridge".to_owned());
        homeserver.send(create, user_id, None).await?;

        let machine = OlmMachine::with_store(user_id, &device_id, store.clone(), None)
            .await
            .map_err(|e| Error::Crypto(e.to_string()))?;
        let device = Device {
            machine,
            store,
            homeserver,
            outgoing: Mutex::new(()),
            sharing: Mutex::new(()),
        };
        // Changes while this device was not loaded were not seen: ask again about everyone.
        device
            .machine
            .mark_all_tracked_users_as_dirty()
            .await
            .map_err(|e| Error::Crypto(e.to_string()))?;
        device.flush().await?;
        device.cross_sign().await?;
        Ok(device)
    }

    pub fn user_id(&self) -> &UserId {
        self.machine.user_id()
    }

    pub fn device_id(&self) -> &DeviceId {
        self.machine.device_id()
    }

    /// Makes the device's own cross-signing identity (master, self-signing, user-signing keys),
    /// uploads it and signs the device with it; once.
    async fn cross_sign(&self) -> Result<(), Error> {
        if self
            .store
            .get_custom_value(CROSS_SIGNING_UPLOADED)
            .await?
            .is_some()
        {
            return Ok(());
        }
        // Not a reset: an identity made before an upload that failed is uploaded now.
        let CrossSigningBootstrapRequests {
            upload_keys_req,
            upload_signing_keys_req,
            upload_signatures_req,
        } = self
            .machine
            .bootstrap_cross_signing(false)
            .await
            .map_err(|e| Error::Crypto(e.to_string()))?;
        if let Some(request) = upload_keys_req {
            self.send_outgoing(request.request_id(), request.request())
                .await?;
        }
        let mut upload = upload_signing_keys::v3::Request::new();
        upload.master_key = upload_signing_keys_req.master_key.map(|k| k.to_raw());
        upload.self_signing_key = upload_signing_keys_req.self_signing_key.map(|k| k.to_raw());
        upload.user_signing_key = upload_signing_keys_req.user_signing_key.map(|k| k.to_raw());
        // A first upload needs no interactive auth (MSC3967); an appservice's never does.
        self.send(upload).await?;
        self.send(upload_signatures_req).await?;
        self.store
            .set_custom_value(CROSS_SIGNING_UPLOADED, vec![1])
            .await?;
        Ok(())
    }

    async fn send<R>(&self, request: R) -> Result<R::IncomingResponse, Error>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        self.homeserver
            .send(
                request,
                self.machine.user_id(),
                Some(self.machine.device_id()),
            )
            .await
    }

    /// Sends what the machine wants sent (key uploads, key queries, room keys to other
    /// devices), each marked sent once the homeserver took it.
    pub async fn flush(&self) -> Result<(), Error> {
        let _one = self.outgoing.lock().await;
        let requests = self
            .machine
            .outgoing_requests()
            .await
            .map_err(|e| Error::Crypto(e.to_string()))?;
        for request in requests {
            self.send_outgoing(request.request_id(), request.request())
                .await?;
        }
        Ok(())
    }

    async fn send_outgoing(
        &self,
        id: &ruma::TransactionId,
        request: &AnyOutgoingRequest,
    ) -> Result<(), Error> {
        let marked = match request {
            AnyOutgoingRequest::KeysUpload(request) => {
                let response = self.send(request.clone()).await?;
                self.machine.mark_request_as_sent(id, &response).await
            }
            AnyOutgoingRequest::KeysQuery(request) => {
                let mut query = get_keys::v3::Request::new();
                query.device_keys = request.device_keys.clone();
                let response = self.send(query).await?;
                self.machine.mark_request_as_sent(id, &response).await
            }
            AnyOutgoingRequest::KeysClaim(request) => {
                let response = self.send(request.clone()).await?;
                self.machine.mark_request_as_sent(id, &response).await
            }
            AnyOutgoingRequest::ToDeviceRequest(request) => {
                let response = self.send_to_device(request).await?;
                self.machine.mark_request_as_sent(id, &response).await
            }
            AnyOutgoingRequest::SignatureUpload(request) => {
                let response = self.send(request.clone()).await?;
                self.machine.mark_request_as_sent(id, &response).await
            }
            // In-room verification: the bridge's devices verify no one interactively.
            AnyOutgoingRequest::RoomMessage(_) => return Ok(()),
        };
        marked.map_err(|e| Error::Crypto(e.to_string()))
    }

    async fn send_to_device(
        &self,
        request: &ToDeviceRequest,
    ) -> Result<send_event_to_device::v3::Response, Error> {
        let send = send_event_to_device::v3::Request::new_raw(
            request.event_type.clone(),
            request.txn_id.clone(),
            request.messages.clone(),
        );
        self.send(send).await
    }

    /// Takes in what the homeserver's transaction had for this device: to-device events (room
    /// keys among them), whose devices changed, how many one-time keys are left. Stored by the
    /// machine before this returns, so the transaction can be acknowledged after it.
    pub async fn receive(
        &self,
        to_device: Vec<Raw<AnyToDeviceEvent>>,
        changed_devices: &DeviceLists,
        one_time_keys: &BTreeMap<OneTimeKeyAlgorithm, UInt>,
        unused_fallback_keys: Option<&[OneTimeKeyAlgorithm]>,
    ) -> Result<Vec<ProcessedToDeviceEvent>, Error> {
        let changes = EncryptionSyncChanges {
            to_device_events: to_device,
            changed_devices,
            one_time_keys_counts: one_time_keys,
            unused_fallback_keys,
            next_batch_token: None,
        };
        let (events, _room_keys) = self
            .machine
            .receive_sync_changes(changes, &decryption_settings())
            .await
            .map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(events)
    }

    /// Decrypts an `m.room.encrypted` event of `room_id` (the whole event as the homeserver
    /// sent it); returns the decrypted event (type, content, sender, event ID).
    pub async fn decrypt(
        &self,
        room_id: &RoomId,
        event: &RawValue,
    ) -> Result<Box<RawValue>, DecryptError> {
        let raw = Raw::from_json(event.to_owned());
        match self
            .machine
            .decrypt_room_event(&raw, room_id, &decryption_settings())
            .await
        {
            Ok(decrypted) => Ok(decrypted.event.into_json()),
            // A key from a later index only is a key still to come too (a forwarded one).
            Err(
                MegolmError::MissingRoomKey(_)
                | MegolmError::Decryption(
                    matrix_sdk_crypto::vodozemac::megolm::DecryptionError::UnknownMessageIndex(..),
                ),
            ) => Err(DecryptError::MissingKey),
            // The store may be back in a moment: tried again, not given up.
            Err(MegolmError::Store(e)) => Err(DecryptError::Store(Error::Crypto(e.to_string()))),
            Err(e) => Err(DecryptError::Failed(e.to_string())),
        }
    }

    /// Encrypts `content` (an `event_type` message) for `room_id`, whose members are `members`:
    /// their devices get the room key first (to-device, Olm-encrypted). Returns the
    /// `m.room.encrypted` content to send.
    pub async fn encrypt(
        &self,
        room_id: &RoomId,
        members: &[OwnedUserId],
        event_type: &str,
        content: &RawValue,
    ) -> Result<Box<RawValue>, Error> {
        let crypto = |e: &dyn std::fmt::Display| Error::Crypto(e.to_string());
        let _one = self.sharing.lock().await;
        self.machine
            .update_tracked_users(members.iter().map(as_user))
            .await
            .map_err(|e| crypto(&e))?;
        // New members' devices are queried before sessions to them can be made. A request that
        // fails here (another one of the machine's) is sent with the next round; the message
        // still goes to the devices known.
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "crypto requests not sent before encrypting; sent later");
        }
        if let Some((id, claim)) = self
            .machine
            .get_missing_sessions(members.iter().map(as_user))
            .await
            .map_err(|e| crypto(&e))?
        {
            let response = self.send(claim).await?;
            self.machine
                .mark_request_as_sent(&id, &response)
                .await
                .map_err(|e| crypto(&e))?;
        }
        let shares = self
            .machine
            .share_room_key(
                room_id,
                members.iter().map(as_user),
                EncryptionSettings::default(),
            )
            .await
            .map_err(|e| crypto(&e))?;
        for share in shares {
            let response = self.send_to_device(&share).await?;
            self.machine
                .mark_request_as_sent(&share.txn_id, &response)
                .await
                .map_err(|e| crypto(&e))?;
        }
        let content: Raw<AnyMessageLikeEventContent> = Raw::from_json(content.to_owned());
        let encrypted = self
            .machine
            .encrypt_room_event_raw(room_id, event_type, &content)
            .await
            .map_err(|e| crypto(&e))?;
        Ok(encrypted.content.into_json())
    }
}

/// A named function rather than a closure: the futures that use it stay `Send` for any
/// lifetime (a closure's signature is inferred too narrowly for that).
fn as_user(user: &OwnedUserId) -> &UserId {
    user
}

/// The bridge decrypts what any device of the room's members sent: it relays, and judges
/// nobody's devices.
fn decryption_settings() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::Untrusted,
    }
}
