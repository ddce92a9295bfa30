//! The dispatcher's client in end-to-end tests: matrix-sdk, the engine of Element X, logged
//! into the test Synapse with a password and kept up to date by a background sync loop, as an
//! app would be. Waits re-check their condition after every sync response instead of sleeping.
//!
//! Events come back as JSON so tests assert on exactly what the homeserver serves a client.

use std::{
    collections::HashSet,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use matrix_sdk::{
    Client, LoopCtrl, Room, RoomMemberships,
    config::SyncSettings,
    media::{MediaFormat, MediaRequestParameters},
    room::MessagesOptions,
    ruma::{
        OwnedEventId, OwnedMxcUri, OwnedRoomId, OwnedUserId, RoomId, UserId,
        api::client::{
            profile::get_profile::v3::Request as GetProfile,
            receipt::create_receipt::v3::ReceiptType as SendReceiptType,
            room::create_room::v3::{Request as CreateRoom, RoomPreset},
            state::{
                get_state_event_for_key::v3::Request as GetState,
                get_state_events::v3::Request as GetAllState,
            },
        },
        events::{
            StateEventType,
            receipt::{ReceiptThread, ReceiptType},
            room::MediaSource,
        },
        serde::Raw,
    },
};
use serde_json::{Value, json};
use tokio::{sync::watch, task::JoinHandle, time::Instant};

use super::{
    encrypting_client::EncryptingClient,
    synapse::{DOMAIN, Synapse, unique_localpart},
};

/// How long one sync request waits for news; bounds how late a wait notices a timeout.
const LONG_POLL: Duration = Duration::from_secs(2);

pub struct Dispatcher {
    pub client: Client,
    pub user_id: String,
    /// Bumped after every sync response.
    synced: watch::Receiver<u64>,
    sync_loop: JoinHandle<()>,
    /// Invites [`Dispatcher::wait_invite`] already returned.
    seen_invites: Mutex<HashSet<OwnedRoomId>>,
    /// A second device of the same user that encrypts and decrypts, syncing in the background
    /// (tests with end-to-bridge encryption; matrix-sdk's own encryption cannot be linked here).
    encrypting: Option<(Arc<EncryptingClient>, JoinHandle<()>)>,
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.sync_loop.abort();
        if let Some((_, sync)) = &self.encrypting {
            sync.abort();
        }
    }
}

impl Dispatcher {
    /// Creates the account `@localpart` with a display name, logs in and syncs once.
    pub async fn login(synapse: &Synapse, localpart: &str, display_name: &str) -> Dispatcher {
        synapse.create_user(localpart, display_name).await;
        let client = Client::builder()
            .homeserver_url(&synapse.url)
            .build()
            .await
            .expect("client");
        client
            .matrix_auth()
            .login_username(localpart, super::synapse::PASSWORD)
            .initial_device_display_name("threema-bridge tests")
            .send()
            .await
            .expect("login");
        client
            .sync_once(SyncSettings::default())
            .await
            .expect("first sync");

        let (tx, synced) = watch::channel(0);
        let sync_client = client.clone();
        let sync_loop = tokio::spawn(async move {
            let settings = SyncSettings::default().timeout(LONG_POLL);
            // Outages of the homeserver are part of some tests: keep syncing after errors.
            loop {
                let tx = &tx;
                let _ = sync_client
                    .sync_with_callback(settings.clone(), |_| async move {
                        tx.send_modify(|n| *n += 1);
                        LoopCtrl::Continue
                    })
                    .await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Dispatcher {
            user_id: format!("@{localpart}:{DOMAIN}"),
            client,
            synced,
            sync_loop,
            seen_invites: Mutex::default(),
            encrypting: None,
        }
    }

    /// With a second device that writes encrypted into encrypted rooms and reads what is
    /// encrypted there ([`EncryptingClient`]); this client's views show events decrypted.
    pub async fn with_encrypting_device(mut self, synapse: &Synapse) -> Dispatcher {
        let localpart = self.user_id[1..].split(':').next().unwrap().to_owned();
        let device = Arc::new(EncryptingClient::login(synapse, &localpart).await);
        let sync = device.sync_in_background();
        self.encrypting = Some((device, sync));
        self
    }

    /// A fresh user with a unique localpart, named `prefix`.
    pub async fn fresh(synapse: &Synapse, prefix: &str) -> Dispatcher {
        Dispatcher::login(synapse, &unique_localpart(prefix), prefix).await
    }

    /// Runs `check` now and after every sync until it returns `Some`; panics after `timeout`.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        let mut synced = self.synced.clone();
        loop {
            synced.borrow_and_update();
            if let Some(value) = check().await {
                return value;
            }
            match tokio::time::timeout_at(deadline, synced.changed()).await {
                Ok(changed) => changed.expect("the sync loop ended"),
                Err(_) => {
                    if let Some(value) = check().await {
                        return value;
                    }
                    panic!("timed out after {timeout:?} waiting for {what}");
                }
            }
        }
    }

    /// The room as this client knows it, waiting for the sync that brings it.
    pub async fn room(&self, room_id: &str) -> Room {
        let room_id = RoomId::parse(room_id).expect("room id");
        self.wait_until("the room in sync", LONG_POLL * 10, || async {
            self.client.get_room(&room_id)
        })
        .await
    }

    /// Waits for an invite not returned before; returns its room id.
    pub async fn wait_invite(&self, timeout: Duration) -> String {
        self.wait_until("an invite", timeout, || async {
            let mut seen = self.seen_invites.lock().unwrap();
            let room = self
                .client
                .invited_rooms()
                .into_iter()
                .map(|r| r.room_id().to_owned())
                .find(|id| !seen.contains(id))?;
            seen.insert(room.clone());
            Some(room.to_string())
        })
        .await
    }

    /// Waits for an invite to `room_id`, one seen before too (a room left and invited to again).
    pub async fn wait_invited_to(&self, room_id: &str, timeout: Duration) {
        self.wait_until(&format!("an invite to {room_id}"), timeout, || async {
            (self.client.invited_rooms().iter()).find(|r| r.room_id().as_str() == room_id)?;
            Some(())
        })
        .await
    }

    pub async fn join(&self, room_id: &str) {
        let room = RoomId::parse(room_id).expect("room id");
        self.client.join_room_by_id(&room).await.expect("join");
        if let Some((device, _)) = &self.encrypting {
            device.track(room_id).await;
        }
    }

    /// Joins if the homeserver lets them (they are invited): whether they are in.
    pub async fn try_join(&self, room_id: &str) -> bool {
        let room_id = RoomId::parse(room_id).expect("room id");
        self.client.join_room_by_id(&room_id).await.is_ok()
    }

    /// A DM with the bot (a management room), once the bot has welcomed them there.
    pub async fn management_room(&self) -> String {
        let bot = format!("@threemabot:{DOMAIN}");
        let management = self.create_room(&[&bot]).await;
        self.wait_message(&management, "the bot's welcome", |m| {
            m["sender"] == bot.as_str()
        })
        .await;
        management
    }

    /// Opens the driver's chat the way a dispatcher does: a DM with the bot, `start <driver>`,
    /// then joins the portal it invites to; returns the portal.
    pub async fn start_chat(&self, driver: &str) -> String {
        let management = self.management_room().await;
        let answer = self.ask(&management, &format!("start {driver}")).await;
        let portal = self.wait_invite(Duration::from_secs(30)).await;
        assert!(answer.contains(driver), "{answer}");
        self.join(&portal).await;
        portal
    }

    /// Invites as this user: where only the bot may invite (the rooms the bridge runs), the
    /// homeserver refuses.
    pub async fn try_invite(&self, room_id: &str, user_id: &str) -> Result<(), String> {
        let user = UserId::parse(user_id).expect("user id");
        self.room(room_id)
            .await
            .invite_user_by_id(&user)
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn invite(&self, room_id: &str, user_id: &str) {
        let user = UserId::parse(user_id).expect("user id");
        self.room(room_id)
            .await
            .invite_user_by_id(&user)
            .await
            .expect("invite");
    }

    /// A private room (a DM when `invite` is one user); returns its id.
    pub async fn create_room(&self, invite: &[&str]) -> String {
        let mut request = CreateRoom::new();
        request.invite = invite
            .iter()
            .map(|u| UserId::parse(*u).expect("user id"))
            .collect();
        request.is_direct = invite.len() == 1;
        let room = self.client.create_room(request).await.expect("create room");
        room.room_id().to_string()
    }

    /// A DM with `user` as Element X creates one: encrypted from the start.
    pub async fn create_encrypted_dm(&self, user: &str) -> String {
        let mut request = CreateRoom::new();
        request.invite = vec![UserId::parse(user).expect("user id")];
        request.is_direct = true;
        request.preset = Some(RoomPreset::TrustedPrivateChat);
        request.initial_state = vec![
            Raw::new(&json!({
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }))
            .expect("JSON values serialise")
            .cast_unchecked(),
        ];
        let room = self.client.create_room(request).await.expect("create room");
        room.room_id().to_string()
    }

    /// Sets a state event as this user.
    pub async fn set_state(&self, room_id: &str, event_type: &str, content: Value) {
        self.set_state_for(room_id, event_type, "", content).await
    }

    /// Sets a state event with a state key (their own member event: a name in this room).
    pub async fn set_state_for(
        &self,
        room_id: &str,
        event_type: &str,
        state_key: &str,
        content: Value,
    ) {
        self.room(room_id)
            .await
            .send_state_event_raw(event_type, state_key, content)
            .await
            .unwrap_or_else(|e| panic!("set {event_type}: {e}"));
    }

    /// Sends a plain `m.text`; returns the event id.
    pub async fn send_text(&self, room_id: &str, body: &str) -> String {
        self.send_content(room_id, json!({"msgtype": "m.text", "body": body}))
            .await
    }

    /// Sends a text, or `None` when the homeserver did not take it (a client shows it as not
    /// sent): for traffic that goes on while the homeserver may be away.
    pub async fn try_send_text(&self, room_id: &str, body: &str) -> Option<String> {
        if let Some((device, _)) = &self.encrypting
            && device.is_encrypted(room_id).await
        {
            // In a task of its own: a request failing while the homeserver is away fails this
            // send only.
            let (device, room, body) = (device.clone(), room_id.to_owned(), body.to_owned());
            return tokio::spawn(async move { device.send_text(&room, &body).await })
                .await
                .ok();
        }
        let room = self.client.get_room(&RoomId::parse(room_id).ok()?)?;
        let content = json!({"msgtype": "m.text", "body": body});
        let sent = room.send_raw("m.room.message", content).await.ok()?;
        Some(sent.response.event_id.to_string())
    }

    /// Sends an `m.room.message` with this content; returns the event id.
    pub async fn send_content(&self, room_id: &str, content: Value) -> String {
        self.send_event(room_id, "m.room.message", content).await
    }

    pub async fn send_event(&self, room_id: &str, event_type: &str, content: Value) -> String {
        let room = self.room(room_id).await;
        let sent = room
            .send_raw(event_type, content)
            .await
            .unwrap_or_else(|e| panic!("send {event_type}: {e}"));
        sent.response.event_id.to_string()
    }

    /// A reaction (`m.annotation`) on an event, as Element sends one.
    pub async fn react(&self, room_id: &str, event_id: &str, key: &str) -> String {
        let content = json!({"m.relates_to": {
            "rel_type": "m.annotation", "event_id": event_id, "key": key}});
        self.send_event(room_id, "m.reaction", content).await
    }

    pub async fn redact(&self, room_id: &str, event_id: &str) -> String {
        let event_id = OwnedEventId::try_from(event_id).expect("event id");
        let response = self
            .room(room_id)
            .await
            .redact(&event_id, None, None)
            .await
            .expect("redact");
        response.event_id.to_string()
    }

    /// Marks the room read up to this event (`m.read`), as a client does when it is shown.
    pub async fn read_up_to(&self, room_id: &str, event_id: &str) {
        let event_id = OwnedEventId::try_from(event_id).expect("event id");
        self.room(room_id)
            .await
            .send_single_receipt(SendReceiptType::Read, ReceiptThread::Unthreaded, event_id)
            .await
            .expect("read receipt");
    }

    /// Who has a public read receipt on exactly this event, from what sync delivered.
    pub async fn read_by(&self, room_id: &str, event_id: &str) -> Vec<String> {
        let event_id = OwnedEventId::try_from(event_id).expect("event id");
        let receipts = self
            .room(room_id)
            .await
            .load_event_receipts(ReceiptType::Read, ReceiptThread::Unthreaded, &event_id)
            .await
            .expect("receipts");
        receipts.into_iter().map(|(u, _)| u.to_string()).collect()
    }

    pub async fn upload(&self, data: &[u8], content_type: &str) -> String {
        let mime: mime::Mime = content_type.parse().expect("mime type");
        let response = self
            .client
            .media()
            .upload(&mime, data.to_vec(), None)
            .await
            .expect("upload");
        response.content_uri.to_string()
    }

    /// The bytes behind an `mxc://` URI (authenticated media).
    pub async fn download(&self, mxc: &str) -> Vec<u8> {
        let request = MediaRequestParameters {
            source: MediaSource::Plain(OwnedMxcUri::from(mxc)),
            format: MediaFormat::File,
        };
        self.client
            .media()
            .get_media_content(&request, false)
            .await
            .unwrap_or_else(|e| panic!("download {mxc}: {e}"))
    }

    /// One event as the client fetches it.
    pub async fn event(&self, room_id: &str, event_id: &str) -> Value {
        let event_id = OwnedEventId::try_from(event_id).expect("event id");
        let event = self
            .room(room_id)
            .await
            .event(&event_id, None)
            .await
            .expect("event");
        serde_json::from_str(event.raw().json().get()).unwrap()
    }

    /// The whole timeline, oldest first, paginated back to the room's creation.
    pub async fn timeline(&self, room_id: &str) -> Vec<Value> {
        let room = self.room(room_id).await;
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let options = MessagesOptions::backward().from(from.as_deref());
            let page = room.messages(options).await.expect("messages");
            for event in &page.chunk {
                let event: Value = serde_json::from_str(event.raw().json().get()).unwrap();
                events.push(match &self.encrypting {
                    Some((device, _)) => device.readable(room_id, event).await,
                    None => event,
                });
            }
            match page.end {
                Some(end) if !page.chunk.is_empty() => from = Some(end),
                _ => break,
            }
        }
        events.reverse();
        events
    }

    /// The room's `m.room.message` events (redacted ones included), oldest first.
    pub async fn messages(&self, room_id: &str) -> Vec<Value> {
        let mut events = self.timeline(room_id).await;
        events.retain(|e| e["type"] == "m.room.message");
        events
    }

    /// The body of the bot's answer to `event_id` in `room_id` (a message replying to it).
    pub async fn answer_to(&self, room_id: &str, event_id: &str) -> String {
        let answer = self
            .wait_message(room_id, "the bot's answer", |m| {
                m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event_id
            })
            .await;
        answer["content"]["body"].as_str().unwrap().to_owned()
    }

    /// Sends `text` to the bot in `room_id` (a command) and returns its answer.
    pub async fn ask(&self, room_id: &str, text: &str) -> String {
        let asked = self.send_text(room_id, text).await;
        self.answer_to(room_id, &asked).await
    }

    /// Waits until the room holds at least `n` messages; returns all of them.
    pub async fn wait_messages(&self, room_id: &str, n: usize, timeout: Duration) -> Vec<Value> {
        self.wait_until(&format!("{n} messages"), timeout, || async {
            let messages = self.messages(room_id).await;
            (messages.len() >= n).then_some(messages)
        })
        .await
    }

    /// Waits for an `m.room.message` in the room that `matches`; returns it.
    pub async fn wait_message(
        &self,
        room_id: &str,
        what: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        self.wait_until(what, Duration::from_secs(30), || async {
            self.messages(room_id)
                .await
                .into_iter()
                .find(|m| matches(m))
        })
        .await
    }

    /// The (unredacted) reactions on an event: `(sender, key)`, oldest first.
    pub async fn reactions(&self, room_id: &str, event_id: &str) -> Vec<(String, String)> {
        self.timeline(room_id)
            .await
            .into_iter()
            .filter(|e| {
                e["type"] == "m.reaction" && e["content"]["m.relates_to"]["event_id"] == event_id
            })
            .map(|e| {
                let key = e["content"]["m.relates_to"]["key"].as_str().unwrap_or("");
                (e["sender"].as_str().unwrap().to_owned(), key.to_owned())
            })
            .collect()
    }

    /// The content of a state event, fetched from the server.
    pub async fn state(&self, room_id: &str, event_type: &str, state_key: &str) -> Value {
        let request = GetState::new(
            RoomId::parse(room_id).expect("room id"),
            StateEventType::from(event_type),
            state_key.to_owned(),
        );
        let response = self.client.send(request).await.expect("state event");
        serde_json::from_str(response.event_or_content.get()).unwrap()
    }

    /// Every state event of a room, fetched from the server (the client must be joined).
    pub async fn all_state(&self, room_id: &str) -> Vec<Value> {
        let request = GetAllState::new(RoomId::parse(room_id).expect("room id"));
        let response = self.client.send(request).await.expect("room state");
        response
            .room_state
            .iter()
            .map(|e| serde_json::from_str(e.json().get()).unwrap())
            .collect()
    }

    /// The rooms this client is invited to or has joined, after the last sync.
    pub fn rooms_in(&self) -> HashSet<String> {
        self.client
            .invited_rooms()
            .into_iter()
            .chain(self.client.joined_rooms())
            .map(|r| r.room_id().to_string())
            .collect()
    }

    /// A user's global display name, fetched from the server.
    pub async fn display_name_of(&self, user_id: &str) -> Option<String> {
        let request = GetProfile::new(UserId::parse(user_id).expect("user id"));
        let response = self.client.send(request).await.expect("profile");
        response
            .get("displayname")
            .and_then(|v| v.as_str().map(str::to_owned))
    }

    /// The room an alias names, if any.
    pub async fn resolve_alias(&self, alias: &str) -> Option<String> {
        let alias = matrix_sdk::ruma::RoomAliasId::parse(alias).expect("alias");
        let response = self.client.resolve_room_alias(&alias).await.ok()?;
        Some(response.room_id.to_string())
    }

    /// The joined members as this client's store knows them after the last sync.
    pub async fn joined_members(&self, room_id: &str) -> Vec<String> {
        self.room(room_id)
            .await
            .members(RoomMemberships::JOIN)
            .await
            .expect("members")
            .iter()
            .map(|m| m.user_id().to_string())
            .collect()
    }

    /// A member's display name in the room, as the timeline shows it.
    pub async fn member_name(&self, room_id: &str, user_id: &str) -> Option<String> {
        let user = UserId::parse(user_id).expect("user id");
        let member = self.room(room_id).await.get_member(&user).await.ok()??;
        member.display_name().map(str::to_owned)
    }

    /// Starts watching typing notifications in a room (before the typing is caused).
    pub async fn watch_typing(&self, room_id: &str) -> Typing {
        let (guard, receiver) = self.room(room_id).await.subscribe_to_typing_notifications();
        Typing {
            _guard: guard,
            receiver,
        }
    }
}

pub struct Typing {
    _guard: matrix_sdk::event_handler::EventHandlerDropGuard,
    receiver: tokio::sync::broadcast::Receiver<Vec<OwnedUserId>>,
}

impl Typing {
    /// Waits until `user_id` shows as typing.
    pub async fn wait_for(&mut self, user_id: &str, timeout: Duration) {
        let wanted = async {
            loop {
                let typing = self.receiver.recv().await.expect("typing notifications");
                if typing.iter().any(|u| u.as_str() == user_id) {
                    return;
                }
            }
        };
        tokio::time::timeout(timeout, wanted)
            .await
            .unwrap_or_else(|_| panic!("{user_id} never showed as typing"));
    }
}
