//! A dispatcher's device that encrypts, as Element X's: matrix-sdk's client for the requests
//! and an `OlmMachine` of its own (matrix-sdk-crypto, the engine Element X runs), fed by its own
//! `/sync`. As strict as Element X set to exclude insecure devices: room keys go only to devices
//! their owners cross-signed, and only messages from such devices are decrypted. Its own device
//! is cross-signed too.
//!
//! Not matrix-sdk's own encryption: that feature links its SQLite store, which cannot share the
//! process with sqlx's SQLite.

use std::{
    collections::HashMap,
    io::{Cursor, Read},
    time::Duration,
};

use bridge_crypto::matrix_sdk_crypto::{
    AttachmentDecryptor, AttachmentEncryptor, CollectStrategy, CrossSigningBootstrapRequests,
    DecryptionSettings, EncryptionSettings, EncryptionSyncChanges, OlmMachine, TrustRequirement,
    types::requests::{AnyOutgoingRequest, ToDeviceRequest},
};
use matrix_sdk::{
    Client,
    media::{MediaFormat, MediaRequestParameters},
    ruma::{
        OwnedRoomId, OwnedUserId, RoomId, TransactionId, UserId,
        api::client::{
            keys::{get_keys, upload_signing_keys},
            membership::joined_members,
            message::send_message_event,
            sync::sync_events,
            to_device::send_event_to_device,
        },
        events::{
            AnyMessageLikeEventContent, AnySyncTimelineEvent,
            room::{EncryptedFile, MediaSource},
        },
        serde::Raw,
    },
};
use serde_json::{Value, json};
use tokio::{sync::Mutex, time::Instant};

use super::synapse::{DOMAIN, PASSWORD, Synapse};

pub struct EncryptingClient {
    pub client: Client,
    pub user_id: String,
    machine: OlmMachine,
    state: Mutex<SyncState>,
}

/// The `/sync` position, and each room's timeline so far (as the homeserver sent it).
#[derive(Default)]
struct SyncState {
    since: Option<String>,
    timelines: HashMap<OwnedRoomId, Vec<Raw<AnySyncTimelineEvent>>>,
}

/// A named function, not a closure: the futures that use it stay `Send` for any lifetime.
fn as_user(user: &OwnedUserId) -> &UserId {
    user
}

fn strict() -> DecryptionSettings {
    DecryptionSettings {
        sender_device_trust_requirement: TrustRequirement::CrossSigned,
    }
}

impl EncryptingClient {
    /// Logs `@localpart` (an existing user) in on a new device, uploads its keys and
    /// cross-signs it.
    pub async fn login(synapse: &Synapse, localpart: &str) -> EncryptingClient {
        let client = Client::builder()
            .homeserver_url(&synapse.url)
            .build()
            .await
            .expect("client");
        let session = client
            .matrix_auth()
            .login_username(localpart, PASSWORD)
            .initial_device_display_name("encrypting test client")
            .send()
            .await
            .expect("login");
        let machine = OlmMachine::new(&session.user_id, &session.device_id).await;
        let me = EncryptingClient {
            client,
            user_id: format!("@{localpart}:{DOMAIN}"),
            machine,
            state: Mutex::default(),
        };
        me.flush().await;
        let CrossSigningBootstrapRequests {
            upload_keys_req,
            upload_signing_keys_req,
            upload_signatures_req,
        } = me.machine.bootstrap_cross_signing(false).await.unwrap();
        if let Some(request) = upload_keys_req {
            me.send_outgoing(request.request_id(), request.request())
                .await;
        }
        let mut upload = upload_signing_keys::v3::Request::new();
        upload.master_key = upload_signing_keys_req.master_key.map(|k| k.to_raw());
        upload.self_signing_key = upload_signing_keys_req.self_signing_key.map(|k| k.to_raw());
        upload.user_signing_key = upload_signing_keys_req.user_signing_key.map(|k| k.to_raw());
        me.client.send(upload).await.expect("cross-signing keys");
        me.client
            .send(upload_signatures_req)
            .await
            .expect("the device's signature");
        me.sync().await;
        me
    }

    /// Sends what the machine wants sent.
    async fn flush(&self) {
        for request in self.machine.outgoing_requests().await.unwrap() {
            self.send_outgoing(request.request_id(), request.request())
                .await;
        }
    }

    async fn send_outgoing(&self, id: &TransactionId, request: &AnyOutgoingRequest) {
        let machine = &self.machine;
        match request {
            AnyOutgoingRequest::KeysUpload(r) => {
                let response = self.client.send(r.clone()).await.unwrap();
                machine.mark_request_as_sent(id, &response).await.unwrap();
            }
            AnyOutgoingRequest::KeysQuery(r) => {
                let mut query = get_keys::v3::Request::new();
                query.device_keys = r.device_keys.clone();
                let response = self.client.send(query).await.unwrap();
                machine.mark_request_as_sent(id, &response).await.unwrap();
            }
            AnyOutgoingRequest::KeysClaim(r) => {
                let response = self.client.send(r.clone()).await.unwrap();
                machine.mark_request_as_sent(id, &response).await.unwrap();
            }
            AnyOutgoingRequest::ToDeviceRequest(r) => {
                let response = self.to_device(r).await;
                machine.mark_request_as_sent(id, &response).await.unwrap();
            }
            AnyOutgoingRequest::SignatureUpload(r) => {
                let response = self.client.send(r.clone()).await.unwrap();
                machine.mark_request_as_sent(id, &response).await.unwrap();
            }
            AnyOutgoingRequest::RoomMessage(_) => {}
        }
    }

    async fn to_device(&self, r: &ToDeviceRequest) -> send_event_to_device::v3::Response {
        let send = send_event_to_device::v3::Request::new_raw(
            r.event_type.clone(),
            r.txn_id.clone(),
            r.messages.clone(),
        );
        self.client.send(send).await.unwrap()
    }

    /// One `/sync`: to-device events (room keys), device changes and key counts to the
    /// machine, the rooms' new events kept.
    pub async fn sync(&self) {
        self.try_sync().await.expect("sync");
    }

    /// [`EncryptingClient::sync`] that says when the homeserver is away.
    async fn try_sync(&self) -> Result<(), matrix_sdk::HttpError> {
        let mut state = self.state.lock().await;
        let mut request = sync_events::v3::Request::new();
        request.since = state.since.clone();
        request.timeout = Some(Duration::from_millis(500));
        let response = self.client.send(request).await?;
        let changes = EncryptionSyncChanges {
            to_device_events: response.to_device.events.clone(),
            changed_devices: &response.device_lists,
            one_time_keys_counts: &response.device_one_time_keys_count,
            unused_fallback_keys: response.device_unused_fallback_key_types.as_deref(),
            next_batch_token: Some(response.next_batch.clone()),
        };
        self.machine
            .receive_sync_changes(changes, &strict())
            .await
            .unwrap();
        for (room_id, room) in &response.rooms.join {
            state
                .timelines
                .entry(room_id.clone())
                .or_default()
                .extend(room.timeline.events.iter().cloned());
        }
        state.since = Some(response.next_batch);
        drop(state);
        self.flush().await;
        Ok(())
    }

    /// Syncs until dropped, as an app does, through homeserver outages: what a client that
    /// is not asked to wait for anything in particular needs to receive room keys.
    pub fn sync_in_background(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                // In a task of its own: a request failing in the homeserver's outage fails
                // this round only.
                let round = me.clone();
                let ok = tokio::spawn(async move { round.try_sync().await.is_ok() }).await;
                if !matches!(ok, Ok(true)) {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        })
    }

    /// Whether `room_id` is encrypted (its state says so).
    pub async fn is_encrypted(&self, room_id: &str) -> bool {
        use matrix_sdk::ruma::{
            api::client::state::get_state_event_for_key::v3::Request as GetState,
            events::StateEventType,
        };
        let request = GetState::new(
            RoomId::parse(room_id).unwrap(),
            StateEventType::RoomEncryption,
            String::new(),
        );
        self.client.send(request).await.is_ok()
    }

    /// Learns the room's members' devices, as a client does when it enters a room.
    pub async fn track(&self, room_id: &str) {
        let room = RoomId::parse(room_id).unwrap();
        let members = self.members(&room).await;
        let users = members.iter().map(as_user);
        self.machine.update_tracked_users(users).await.unwrap();
        self.flush().await;
    }

    /// Creates a direct chat with `invitee` encrypted from the start, as Element X does; its ID.
    pub async fn create_encrypted_dm(&self, invitee: &str) -> String {
        use matrix_sdk::ruma::{
            api::client::room::create_room::v3::{Request as CreateRoom, RoomPreset},
            events::AnyInitialStateEvent,
        };
        let mut request = CreateRoom::new();
        request.is_direct = true;
        request.preset = Some(RoomPreset::TrustedPrivateChat);
        request.invite = vec![UserId::parse(invitee).unwrap()];
        let encryption = json!({"type": "m.room.encryption", "state_key": "",
                                "content": {"algorithm": "m.megolm.v1.aes-sha2"}});
        let encryption = serde_json::value::to_raw_value(&encryption).unwrap();
        request.initial_state = vec![Raw::<AnyInitialStateEvent>::from_json(encryption)];
        let room = self.client.send(request).await.expect("create the DM");
        room.room_id.to_string()
    }

    /// Joins and, as a client does on entering an encrypted room, learns the members' devices.
    pub async fn join(&self, room_id: &str) {
        let room = RoomId::parse(room_id).unwrap();
        self.client.join_room_by_id(&room).await.expect("join");
        self.track(room_id).await;
    }

    async fn members(&self, room_id: &RoomId) -> Vec<OwnedUserId> {
        self.client
            .send(joined_members::v3::Request::new(room_id.to_owned()))
            .await
            .expect("members")
            .joined
            .into_keys()
            .collect()
    }

    /// Encrypts `content` for the room's members' cross-signed devices and sends it; the
    /// event ID.
    pub async fn send(&self, room_id: &str, event_type: &str, content: Value) -> String {
        let room_id = RoomId::parse(room_id).unwrap();
        let members = self.members(&room_id).await;
        let users = || members.iter().map(as_user);
        self.machine.update_tracked_users(users()).await.unwrap();
        self.flush().await;
        if let Some((id, claim)) = self.machine.get_missing_sessions(users()).await.unwrap() {
            let response = self.client.send(claim).await.unwrap();
            self.machine
                .mark_request_as_sent(&id, &response)
                .await
                .unwrap();
        }
        let settings = EncryptionSettings {
            sharing_strategy: CollectStrategy::IdentityBasedStrategy,
            ..EncryptionSettings::default()
        };
        for share in self
            .machine
            .share_room_key(&room_id, users(), settings)
            .await
            .unwrap()
        {
            let response = self.to_device(&share).await;
            self.machine
                .mark_request_as_sent(&share.txn_id, &response)
                .await
                .unwrap();
        }
        let content: Raw<AnyMessageLikeEventContent> = Raw::new(&content).unwrap().cast_unchecked();
        let encrypted = self
            .machine
            .encrypt_room_event_raw(&room_id, event_type, &content)
            .await
            .unwrap();
        let request = send_message_event::v3::Request::new_raw(
            room_id,
            TransactionId::new(),
            "m.room.encrypted".into(),
            encrypted.content.cast_unchecked(),
        );
        self.client
            .send(request)
            .await
            .unwrap()
            .event_id
            .to_string()
    }

    /// Sends a file as Element X does in an encrypted room: encrypted with a key of its own,
    /// the ciphertext uploaded, the key in the (encrypted) message's `file`.
    pub async fn send_file(
        &self,
        room_id: &str,
        msgtype: &str,
        name: &str,
        mimetype: &str,
        data: &[u8],
    ) -> String {
        let mut input = Cursor::new(data);
        let mut encryptor = AttachmentEncryptor::new(&mut input);
        let mut ciphertext = Vec::new();
        encryptor.read_to_end(&mut ciphertext).unwrap();
        let mut file = serde_json::to_value(encryptor.finish()).unwrap();
        let uploaded = self
            .client
            .media()
            .upload(&mime::APPLICATION_OCTET_STREAM, ciphertext, None)
            .await
            .expect("upload");
        file["url"] = json!(uploaded.content_uri);
        let content = json!({"msgtype": msgtype, "body": name, "file": file,
                             "info": {"mimetype": mimetype, "size": data.len()}});
        self.send(room_id, "m.room.message", content).await
    }

    /// Downloads what a message's `file` points to and decrypts it, checking its hash.
    pub async fn download_decrypted(&self, file: &Value) -> Vec<u8> {
        let file: EncryptedFile = serde_json::from_value(file.clone()).expect("a `file`");
        let request = MediaRequestParameters {
            source: MediaSource::Plain(file.url.clone()),
            format: MediaFormat::File,
        };
        let ciphertext = self
            .client
            .media()
            .get_media_content(&request, false)
            .await
            .expect("download");
        let mut input = Cursor::new(ciphertext);
        let mut decryptor = AttachmentDecryptor::new(&mut input, file.into()).unwrap();
        let mut plain = Vec::new();
        decryptor
            .read_to_end(&mut plain)
            .expect("decrypts, hash matches");
        plain
    }

    pub async fn send_text(&self, room_id: &str, body: &str) -> String {
        self.send(
            room_id,
            "m.room.message",
            json!({"msgtype": "m.text", "body": body}),
        )
        .await
    }

    /// The room's events so far as this client reads them: encrypted ones decrypted (type and
    /// content from the plaintext, what the homeserver holds under `wire`), or left as they are
    /// when they cannot be (yet).
    pub async fn timeline(&self, room_id: &str) -> Vec<Value> {
        let room_id = RoomId::parse(room_id).unwrap();
        let events = self
            .state
            .lock()
            .await
            .timelines
            .get(&room_id)
            .cloned()
            .unwrap_or_default();
        let mut shown = Vec::new();
        for raw in events {
            let event: Value = serde_json::from_str(raw.json().get()).unwrap();
            shown.push(self.readable(room_id.as_str(), event).await);
        }
        shown
    }

    /// `event` of `room_id` as this client reads it: decrypted where it is encrypted and can
    /// be (type and content from the plaintext, what the homeserver holds under `wire`).
    pub async fn readable(&self, room_id: &str, mut event: Value) -> Value {
        if event["type"] != "m.room.encrypted" {
            return event;
        }
        let room_id = RoomId::parse(room_id).unwrap();
        let raw = Raw::from_json(serde_json::value::to_raw_value(&event).unwrap());
        let Ok(decrypted) = (self.machine)
            .decrypt_room_event(&raw, &room_id, &strict())
            .await
        else {
            return event;
        };
        let plain: Value = serde_json::from_str(decrypted.event.json().get()).unwrap();
        event["wire"] = json!({"type": event["type"], "content": event["content"]});
        event["type"] = plain["type"].clone();
        let mut content = plain["content"].clone();
        // A relation travels outside the ciphertext.
        if let Some(relation) = event["wire"]["content"].get("m.relates_to")
            && content.get("m.relates_to").is_none()
        {
            content["m.relates_to"] = relation.clone();
        }
        event["content"] = content;
        event
    }

    /// [`EncryptingClient::wait_for`] the first event of the room's timeline that `is` picks.
    pub async fn wait_for_event(
        &self,
        room_id: &str,
        what: &str,
        timeout: Duration,
        is: impl Fn(&Value) -> bool,
    ) -> Value {
        let first = |timeline: &[Value]| timeline.iter().find(|e| is(e)).cloned();
        self.wait_for(room_id, what, timeout, first).await
    }

    /// Syncs until `check` finds what it waits for in the room's timeline; panics after
    /// `timeout`.
    pub async fn wait_for(
        &self,
        room_id: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&[Value]) -> Option<Value>,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            // Who is in the room now, as a client keeps track: their devices' keys are fetched.
            let room = RoomId::parse(room_id).unwrap();
            let members = self.members(&room).await;
            let users = members.iter().map(as_user);
            self.machine.update_tracked_users(users).await.unwrap();
            self.flush().await;
            let timeline = self.timeline(room_id).await;
            if let Some(found) = check(&timeline) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not within {timeout:?}; the timeline: {timeline:#?}"
            );
            self.sync().await;
        }
    }
}
