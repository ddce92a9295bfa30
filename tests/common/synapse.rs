//! Real Synapses for integration tests, started on first use by `scripts/synapse` and shared by
//! every test binary. A homeserver pushes to one appservice URL, so a test that runs a bridge
//! holds one homeserver ([`SynapseGuard`], a cross-process lock) while it does; with
//! `TEST_HOMESERVERS` of them (2 by default) that many such tests run at once. Most of a test's
//! time is waiting on a homeserver that is mostly idle, so two halve the suite on two cores.

use std::{
    collections::HashMap,
    fs::File,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use fs4::fs_std::FileExt;
use serde_json::{Value, json};

pub const DOMAIN: &str = "dispatch.test";
/// The password of every test user.
pub const PASSWORD: &str = "test-password";

/// At most this many homeservers (`TEST_HOMESERVERS`).
const MAX_HOMESERVERS: usize = 4;

/// One more homeserver, set to encrypt every new room
/// (`encryption_enabled_by_default_for_room_type: all`), for the tests of end-to-bridge
/// encryption only: [`acquire_encrypting`]. Its ports are slot 4's (`TEST_SYNAPSE_PORT_4`,
/// `TEST_APPSERVICE_PORT_4`), its folder `target/test-synapse-4`.
const ENCRYPTING: usize = MAX_HOMESERVERS;

fn homeservers() -> usize {
    env_number("TEST_HOMESERVERS", 2).clamp(1, MAX_HOMESERVERS as u64) as usize
}

/// Ports of homeserver `slot` and of the bridge it pushes to (its registration's URL):
/// `TEST_SYNAPSE_PORT` and `TEST_APPSERVICE_PORT` for the first, `…_PORT_1` and so on for the
/// others (by default the first's plus the slot).
fn synapse_port(slot: usize) -> u16 {
    slot_port("TEST_SYNAPSE_PORT", 18008, slot)
}
fn appservice_port(slot: usize) -> u16 {
    slot_port("TEST_APPSERVICE_PORT", 29328, slot)
}

fn slot_port(name: &str, default: u16, slot: usize) -> u16 {
    let base = env_number(name, u64::from(default)) as u16;
    match slot {
        0 => base,
        n => env_number(&format!("{name}_{n}"), u64::from(base) + n as u64) as u16,
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `TEST_SYNAPSE_DIR` (default `target/test-synapse`) for the first homeserver, with `-1`,
/// `-2`… for the others; the bench keeps its own.
fn harness_dir(slot: usize) -> PathBuf {
    let first = std::env::var_os("TEST_SYNAPSE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/test-synapse"));
    match slot {
        0 => first,
        n => {
            let mut name = first.file_name().unwrap().to_owned();
            name.push(format!("-{n}"));
            first.with_file_name(name)
        }
    }
}

/// A localpart no other test uses.
pub fn unique_localpart(prefix: &str) -> String {
    format!("{prefix}-{}", hex::encode(rand::random::<[u8; 4]>()))
}

pub struct Synapse {
    pub url: String,
    pub registration: PathBuf,
    pub admin_token: String,
    pub log: PathBuf,
    /// Where this homeserver pushes transactions: the bridge under test listens here.
    pub appservice_port: u16,
    slot: usize,
}

/// Held for the length of a test that runs a bridge: one bridge at a time owns a homeserver.
pub struct SynapseGuard {
    _lock: File,
    pub synapse: &'static Synapse,
}

static SYNAPSES: [OnceLock<Synapse>; MAX_HOMESERVERS + 1] =
    [const { OnceLock::new() }; MAX_HOMESERVERS + 1];

/// Waits for a free homeserver, then makes sure it runs with the test registration.
pub async fn acquire() -> SynapseGuard {
    acquire_from(0..homeservers()).await
}

/// [`acquire`] for the homeserver that encrypts every new room ([`ENCRYPTING`]).
pub async fn acquire_encrypting() -> SynapseGuard {
    acquire_from(ENCRYPTING..ENCRYPTING + 1).await
}

async fn acquire_from(slots: std::ops::Range<usize>) -> SynapseGuard {
    let (slot, lock) = loop {
        let slots = slots.clone();
        let free = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(repo_root().join("target")).unwrap();
            slots.into_iter().find_map(|slot| {
                let file = File::create(harness_dir(slot).with_extension("bridge.lock")).unwrap();
                file.try_lock_exclusive().ok()?.then_some((slot, file))
            })
        })
        .await
        .unwrap();
        match free {
            Some(free) => break free,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let synapse = match SYNAPSES[slot].get() {
        Some(s) => s,
        None => {
            let s = tokio::task::spawn_blocking(move || start(slot))
                .await
                .unwrap();
            let s = Synapse {
                admin_token: admin_login(&s.url).await,
                ..s
            };
            SYNAPSES[slot].get_or_init(|| s)
        }
    };
    SynapseGuard {
        _lock: lock,
        synapse,
    }
}

/// The registration every test bridge uses: generated once by the real binary (so Synapse
/// loading it is itself the test that `generate-registration` output is accepted).
fn test_registration(slot: usize) -> PathBuf {
    let dir = harness_dir(slot).with_extension("registration");
    std::fs::create_dir_all(&dir).unwrap();
    let registration = dir.join("registration.yaml");
    let url = format!("http://127.0.0.1:{}", appservice_port(slot));
    // Generated anew when the appservice port changed since the last run, or it was made
    // before the encryption extensions.
    let current = std::fs::read_to_string(&registration).unwrap_or_default();
    if !current.contains(&format!("url: {url}\n")) || !current.contains("io.element.msc4190: true")
    {
        let config = dir.join("registration-config.yaml");
        // With the extensions end-to-bridge encryption needs: a bridge without encryption
        // ignores what they add to its transactions.
        std::fs::write(
            &config,
            format!(
                "homeserver: {{ domain: {DOMAIN} }}\nappservice: {{ url: '{url}', registration: registration.yaml }}\nbridge: {{ encryption: allow }}\n"
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_threema-bridge"))
            .args([
                "-c",
                config.to_str().unwrap(),
                "generate-registration",
                "--force",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "generate-registration: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    registration
}

fn start(slot: usize) -> Synapse {
    let registration = test_registration(slot);
    let mut command = Command::new(repo_root().join("scripts/synapse"));
    command
        .arg("up")
        .args(["--dir", harness_dir(slot).to_str().unwrap()])
        .args(["--port", &synapse_port(slot).to_string()])
        .args(["--registration", registration.to_str().unwrap()]);
    if slot == ENCRYPTING {
        command.arg("--encrypt-by-default");
    }
    let out = command.output().expect("scripts/synapse runs");
    assert!(
        out.status.success(),
        "scripts/synapse up failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Synapse {
        url: env["SYNAPSE_URL"].clone(),
        registration,
        admin_token: String::new(),
        log: PathBuf::from(&env["SYNAPSE_LOG"]),
        appservice_port: appservice_port(slot),
        slot,
    }
}

async fn admin_login(url: &str) -> String {
    let response: Value = reqwest::Client::new()
        .post(format!("{url}/_matrix/client/v3/login"))
        .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "admin"}, "password": "admin-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["access_token"]
        .as_str()
        .expect("admin login")
        .to_owned()
}

impl Synapse {
    /// A fresh human user with a unique name, logged in.
    pub async fn new_user(&self, prefix: &str) -> MatrixUser {
        self.new_user_named(&unique_localpart(prefix), prefix).await
    }

    /// A human user with this localpart (see [`unique_localpart`]), logged in.
    pub async fn new_user_named(&self, localpart: &str, prefix: &str) -> MatrixUser {
        let user_id = self.create_user(localpart, prefix).await;
        let http = reqwest::Client::new();
        let login: Value = http
            .post(format!("{}/_matrix/client/v3/login", self.url))
            .json(&json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart}, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        MatrixUser {
            user_id,
            token: login["access_token"].as_str().expect("login").to_owned(),
            url: self.url.clone(),
            http,
        }
    }

    /// Stops the homeserver (an outage); [`Synapse::restart`] brings it back on the same port
    /// with the same database.
    pub async fn stop(&self) {
        let slot = self.slot;
        let out = tokio::task::spawn_blocking(move || {
            Command::new(repo_root().join("scripts/synapse"))
                .arg("down")
                .args(["--dir", harness_dir(slot).to_str().unwrap()])
                .output()
                .expect("scripts/synapse runs")
        })
        .await
        .unwrap();
        assert!(out.status.success(), "scripts/synapse down failed");
    }

    pub async fn restart(&self) {
        let slot = self.slot;
        tokio::task::spawn_blocking(move || start(slot))
            .await
            .unwrap();
    }

    /// Creates (or updates) the account `@localpart` with [`PASSWORD`]; returns its user id.
    pub async fn create_user(&self, localpart: &str, display_name: &str) -> String {
        let user_id = format!("@{localpart}:{DOMAIN}");
        let created = reqwest::Client::new()
            .put(format!("{}/_synapse/admin/v2/users/{user_id}", self.url))
            .bearer_auth(&self.admin_token)
            .json(&json!({"password": PASSWORD, "displayname": display_name}))
            .send()
            .await
            .unwrap();
        assert!(
            created.status().is_success(),
            "create user: {}",
            created.text().await.unwrap()
        );
        user_id
    }

    /// Sets a state event as the bot (the appservice token), as test setup.
    pub async fn appservice_state(&self, room_id: &str, event_type: &str, content: Value) {
        let (as_token, _) = self.tokens();
        let response = reqwest::Client::new()
            .put(format!(
                "{}/_matrix/client/v3/rooms/{room_id}/state/{event_type}/",
                self.url
            ))
            .bearer_auth(as_token)
            .json(&content)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "set {event_type}: {}",
            response.text().await.unwrap()
        );
    }

    /// Joins `user_id` (the bot or a ghost) to a room with the appservice token, as test setup.
    pub async fn appservice_join(&self, room_id: &str, user_id: &str) {
        let (as_token, _) = self.tokens();
        let response = reqwest::Client::new()
            .post(format!(
                "{}/_matrix/client/v3/join/{room_id}?user_id={user_id}",
                self.url
            ))
            .bearer_auth(as_token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "join: {}",
            response.text().await.unwrap()
        );
    }

    /// The bridge's bot, speaking with the appservice token (it is in every portal).
    pub fn appservice_bot(&self) -> MatrixUser {
        let text = std::fs::read_to_string(&self.registration).unwrap();
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let localpart = yaml["sender_localpart"].as_str().unwrap();
        MatrixUser {
            user_id: format!("@{localpart}:{DOMAIN}"),
            token: self.tokens().0,
            url: self.url.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// The appservice tokens from the test registration.
    pub fn tokens(&self) -> (String, String) {
        let text = std::fs::read_to_string(&self.registration).unwrap();
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        (
            yaml["as_token"].as_str().unwrap().to_owned(),
            yaml["hs_token"].as_str().unwrap().to_owned(),
        )
    }
}

/// A logged-in human user speaking the client-server API, as Element would.
pub struct MatrixUser {
    pub user_id: String,
    pub token: String,
    url: String,
    http: reqwest::Client,
}

impl MatrixUser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// Reports an event to the homeserver's admins, as a user of its room would.
    pub async fn report(&self, room_id: &str, event_id: &str, reason: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/rooms/{room_id}/report/{event_id}"),
            Some(json!({"reason": reason, "score": -100})),
        )
        .await;
    }

    pub async fn create_room(&self, invite: &[&str]) -> String {
        self.create_room_with(json!({"preset": "private_chat", "invite": invite}))
            .await
    }

    /// A room as `body` (a `createRoom` request) describes it.
    pub async fn create_room_with(&self, body: Value) -> String {
        let room = self
            .call(
                reqwest::Method::POST,
                "/_matrix/client/v3/createRoom",
                Some(body),
            )
            .await;
        room["room_id"].as_str().unwrap().to_owned()
    }

    pub async fn invite(&self, room_id: &str, user_id: &str) {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/invite");
        self.call(
            reqwest::Method::POST,
            &path,
            Some(json!({"user_id": user_id})),
        )
        .await;
    }

    pub async fn send_text(&self, room_id: &str, body: &str) -> String {
        let txn = hex::encode(rand::random::<[u8; 8]>());
        let path = format!("/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{txn}");
        let content = json!({"msgtype": "m.text", "body": body});
        let sent = self.call(reqwest::Method::PUT, &path, Some(content)).await;
        sent["event_id"].as_str().unwrap().to_owned()
    }

    /// One event as this user's client would fetch it.
    pub async fn event(&self, room_id: &str, event_id: &str) -> Value {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/event/{event_id}");
        self.call(reqwest::Method::GET, &path, None).await
    }

    pub async fn join(&self, room_id: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/_matrix/client/v3/join/{room_id}"),
            Some(json!({})),
        )
        .await;
    }

    /// Waits (long-polling /sync, as a client does) for an invite; returns the room id.
    pub async fn wait_invite(&self, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut since: Option<String> = None;
        loop {
            let mut path = "/_matrix/client/v3/sync?timeout=2000".to_owned();
            if let Some(since) = &since {
                path.push_str(&format!("&since={since}"));
            }
            let sync = self.call(reqwest::Method::GET, &path, None).await;
            if let Some(room) = sync["rooms"]["invite"]
                .as_object()
                .and_then(|r| r.keys().next())
            {
                return room.clone();
            }
            since = sync["next_batch"].as_str().map(str::to_owned);
            assert!(
                tokio::time::Instant::now() < deadline,
                "no invite within {timeout:?}"
            );
        }
    }

    /// The room's `m.room.message` events, oldest first, as a client loads them.
    pub async fn messages(&self, room_id: &str) -> Vec<Value> {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=100");
        let page = self.call(reqwest::Method::GET, &path, None).await;
        let mut events: Vec<Value> = page["chunk"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "m.room.message")
            .cloned()
            .collect();
        events.reverse();
        events
    }

    /// Every event of the room's timeline this user can see, oldest first.
    pub async fn timeline(&self, room_id: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut from = String::new();
        loop {
            let path =
                format!("/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=1000{from}");
            let page = self.call(reqwest::Method::GET, &path, None).await;
            let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
            events.extend(chunk.iter().cloned());
            match page["end"].as_str() {
                Some(end) if !chunk.is_empty() => from = format!("&from={end}"),
                _ => break,
            }
        }
        events.reverse();
        events
    }

    pub async fn joined_rooms(&self) -> Vec<String> {
        let joined = self
            .call(
                reqwest::Method::GET,
                "/_matrix/client/v3/joined_rooms",
                None,
            )
            .await;
        joined["joined_rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn state(&self, room_id: &str, event_type: &str, state_key: &str) -> Value {
        let state_key: String =
            url::form_urlencoded::byte_serialize(state_key.as_bytes()).collect();
        let path = format!("/_matrix/client/v3/rooms/{room_id}/state/{event_type}/{state_key}");
        self.call(reqwest::Method::GET, &path, None).await
    }

    pub async fn joined_members(&self, room_id: &str) -> Vec<String> {
        let path = format!("/_matrix/client/v3/rooms/{room_id}/joined_members");
        let members = self.call(reqwest::Method::GET, &path, None).await;
        members["joined"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub async fn display_name_of(&self, user_id: &str) -> Option<String> {
        let response = self
            .http
            .get(format!(
                "{}/_matrix/client/v3/profile/{user_id}/displayname",
                self.url
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let value: Value = response.json().await.ok()?;
        value["displayname"].as_str().map(str::to_owned)
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}
