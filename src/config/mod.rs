//! Configuration: a YAML file, overridden by `THREEMA_BRIDGE__SECTION__KEY` environment
//! variables, validated into [`Config`]. Validation collects every problem and names the key,
//! so `check-config` can tell an operator all that is wrong at once.
//!
//! This file holds the validated types the rest of the crate reads and [`Config::load`];
//! [`raw`] is the shape as read, `check` turns it into a [`Config`] section by section,
//! [`permissions`] is who may do what, and `directory` checks the employee directory's keys.

use std::{fmt, net::SocketAddr, path::Path, path::PathBuf};

use ruma::{OwnedServerName, OwnedUserId};
use secrecy::SecretString;
use url::Url;

use crate::registration::Registration;

mod check;
mod directory;
pub mod permissions;
pub mod raw;

pub use permissions::{Level, Permissions};
pub use raw::{
    ENV_PREFIX, RawApi, RawApiClient, RawAppservice, RawAudit, RawBridge, RawBroadcast, RawConfig,
    RawDatabase, RawDirectory, RawDriver, RawGdpr, RawHa, RawHomeserver, RawHttpSource, RawInbox,
    RawLogging, RawPrivacy, RawRetention, RawSynapseAdmin, RawThreema, RawWebhook,
};

/// The validated configuration the bridge runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub homeserver: HomeserverConfig,
    pub appservice: AppserviceConfig,
    pub threema: ThreemaConfig,
    pub database: DatabaseConfig,
    pub bridge: BridgeConfig,
    pub directory: DirectoryConfig,
    pub broadcast: BroadcastConfig,
    pub retention: RetentionConfig,
    pub gdpr: GdprConfig,
    /// Admin rights on the homeserver (`synapse_admin:`); without them, what needs them is off.
    pub synapse_admin: Option<SynapseAdmin>,
    pub audit: AuditConfig,
    pub privacy: PrivacyConfig,
    pub logging: LoggingConfig,
    pub metrics: MetricsConfig,
    pub api: ApiConfig,
    pub ha: HaConfig,
    pub inbox: InboxConfig,
    /// `runtime.cpus`: how many cores the serving bridge's threads share.
    pub cpus: crate::cpus::Cpus,
    /// Quick replies (`templates:`): name → text, sent with `!t <name>` in a portal.
    pub templates: std::collections::BTreeMap<String, String>,
    /// Drivers' quick codes (`quick_codes:`): a message that is exactly a code is a status.
    pub quick_codes: crate::bridge::quick_codes::QuickCodes,
    /// SHA-256 of the file and the environment overrides it was loaded with (empty when not
    /// loaded from a file), audited at each start.
    pub fingerprint: String,
    /// What is accepted but should change (deprecated keys): printed by `check-config`,
    /// logged at start.
    pub warnings: Vec<String>,
}

/// `api:`: the integration API, on its own listener (internal network); off unless
/// `listen` is given.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    pub listen: Option<std::net::SocketAddr>,
    pub clients: Vec<ApiClient>,
    pub webhooks: Vec<Webhook>,
}

/// An event a webhook reports about a message the API sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WebhookEvent {
    Delivered,
    Read,
    Acknowledged,
    Declined,
    /// The driver's next message (or quick code) after it.
    Answered,
    Failed,
    /// A job card's state changed.
    Job,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 7] = [
        WebhookEvent::Delivered,
        WebhookEvent::Read,
        WebhookEvent::Acknowledged,
        WebhookEvent::Declined,
        WebhookEvent::Answered,
        WebhookEvent::Failed,
        WebhookEvent::Job,
    ];

    /// As in the config and the payload's `type` (`message.<name>`).
    pub fn name(self) -> &'static str {
        match self {
            WebhookEvent::Delivered => "delivered",
            WebhookEvent::Read => "read",
            WebhookEvent::Acknowledged => "acknowledged",
            WebhookEvent::Declined => "declined",
            WebhookEvent::Answered => "answered",
            WebhookEvent::Failed => "failed",
            WebhookEvent::Job => "job",
        }
    }

    /// The payload's `type`: `message.read`, `job.state_changed`, …
    pub fn kind(self) -> String {
        match self {
            WebhookEvent::Job => "job.state_changed".into(),
            other => format!("message.{}", other.name()),
        }
    }
}

/// `api.webhooks[]`: a receiver of events, with the secret that signs them.
#[derive(Clone)]
pub struct Webhook {
    pub url: url::Url,
    pub secret: SecretString,
    pub events: Vec<WebhookEvent>,
    /// `None`: every client's messages.
    pub clients: Option<Vec<String>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The host only: a receiver's URL may carry a token in its path or query.
        f.debug_struct("Webhook")
            .field("host", &self.url.host_str())
            .field("events", &self.events)
            .field("clients", &self.clients)
            .finish_non_exhaustive()
    }
}

/// A program that may use the API, known by its bearer token.
#[derive(Clone)]
pub struct ApiClient {
    /// Shown on the desk (who sent what) and in the audit trail.
    pub name: String,
    pub token: SecretString,
    /// The drivers it may reach (`None`: all), a selection in the broadcast syntax.
    pub scope: Option<crate::directory::selection::Expr>,
    /// The scope as written, for the audit trail and `status`.
    pub scope_text: Option<String>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("name", &self.name)
            .field("scope", &self.scope_text)
            .finish_non_exhaustive()
    }
}

/// `metrics:`: where Prometheus scrapes `GET /metrics`; nowhere unless `listen` is given.
#[derive(Debug, Clone, Default)]
pub struct MetricsConfig {
    pub listen: Option<std::net::SocketAddr>,
}

/// `inbox:`: the shared inbox. Off: no conversation state, no topics, the portal commands
/// go to the driver as text.
#[derive(Debug, Clone)]
pub struct InboxConfig {
    pub enabled: bool,
    /// A dispatcher's reaction with one of these on a driver's message marks it handled.
    pub handled_reactions: Vec<String>,
    /// A dispatcher's reaction with this on a driver's message takes the conversation.
    pub claim_reaction: String,
    /// How long a driver's message may wait before the desk room is told.
    pub answer_within: std::time::Duration,
    /// Other periods for drivers with a directory attribute's value: (attribute, value,
    /// period); of several that apply, the shortest.
    pub answer_within_by: Vec<(String, String, std::time::Duration)>,
    /// How long after the desk room was told the admins are, if it still waits.
    pub escalate_after: std::time::Duration,
    /// Words that make a driver's message urgent (matched whole, in any case); 🆘 always does.
    pub urgent_keywords: Vec<String>,
    /// When a shift ends (in `bridge.timezone`): each desk room gets the shift summary.
    pub shift_changes: Vec<crate::zone::WallTime>,
    /// Who works when: held messages, and whom alerts mention.
    pub duty: Duty,
}

/// Who works when (in `bridge.timezone`): `inbox.shifts`, `inbox.shift_attribute`,
/// `inbox.off_duty`. What it means is in `bridge::desk::duty`.
#[derive(Debug, Clone, Default)]
pub struct Duty {
    /// Named shifts; a person's `shift_attribute` names theirs.
    pub shifts: Vec<(String, crate::zone::Window)>,
    pub shift_attribute: Option<String>,
    /// When drivers whose attribute names no shift are off duty.
    pub off_duty: Option<crate::zone::Window>,
}

/// `ha:`: several `serve` processes on one PostgreSQL database, one active at a time.
#[derive(Debug, Clone)]
pub struct HaConfig {
    /// How long the active's lease lasts unrenewed: a standby takes over at most this long
    /// after the active died or lost the database.
    pub lease: std::time::Duration,
}

/// A Synapse admin API token: `synapse_admin.token(_file)`, or the appservice token when the
/// bot is a server admin.
#[derive(Debug, Clone)]
pub struct SynapseAdmin {
    pub token: SecretString,
}

impl Config {
    /// What is off for want of `synapse_admin`, for `check-config`.
    pub fn features_without_admin(&self) -> &'static [&'static str] {
        if self.synapse_admin.is_some() {
            return &[];
        }
        &["deactivating departed dispatchers' accounts", "gdpr erase"]
    }
}

/// How long the bridge keeps what it needs only for a while (`retention:`).
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Handled inbox rows: the memory of what was already seen (a replayed transaction or
    /// callback is recognised within it) and a failed item's raw payload for an operator.
    pub inbox: std::time::Duration,
    /// Portal history older than this (by the events' own dates) is purged on the homeserver
    /// with its media, the newest event kept (`None`: kept).
    pub history: Option<std::time::Duration>,
    /// A send's payload (the dispatcher's text) is cleared this long after it was handled
    /// (`None`: kept).
    pub outbox: Option<std::time::Duration>,
    /// When a driver received, read or answered a send is forgotten this long after it was
    /// handled; that it happened stays, so boards and counts still add up (`None`: kept).
    pub delivery_times: Option<std::time::Duration>,
    /// Portal files older than this (by their event's date) are deleted on the homeserver;
    /// the events stay (`None`: the files go with the history).
    pub media: Option<std::time::Duration>,
    /// Audit entries older than this are deleted, except about what a hold covers (`None`:
    /// kept).
    pub audit: Option<std::time::Duration>,
    /// Portals carry `m.room.retention` with `history`'s period, for clients that show it.
    pub room_state: bool,
}

impl RetentionConfig {
    /// Whether `retention run` (and the daily pass) has anything beyond the inbox pruning.
    pub fn has_periods(&self) -> bool {
        self.history.is_some()
            || self.media.is_some()
            || self.outbox.is_some()
            || self.delivery_times.is_some()
            || self.audit.is_some()
    }
}

/// The works council's settings (`privacy:`): who sees each driver's reading.
#[derive(Debug, Clone, Default)]
pub struct PrivacyConfig {
    pub receipt_detail: ReceiptDetail,
    /// Reading is shown (counted or per person) only for groups of at least this many
    /// recipients; 0 and 1 show it always.
    pub minimum_group: usize,
}

/// Who may see per-person read and delivery times (`privacy.receipt_detail`); the others see
/// counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReceiptDetail {
    Admins,
    #[default]
    Dispatchers,
    Nobody,
}

impl ReceiptDetail {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptDetail::Admins => "admins",
            ReceiptDetail::Dispatchers => "dispatchers",
            ReceiptDetail::Nobody => "nobody",
        }
    }
}

/// The audit trail's checkpoints (`audit:`): signed with the key in `signing_key_file`, written
/// to `checkpoint_dir` and posted to the admins' audit room every `checkpoint_every`.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    pub signing_key_file: Option<PathBuf>,
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_every: std::time::Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            signing_key_file: None,
            checkpoint_dir: None,
            checkpoint_every: std::time::Duration::from_secs(3600),
        }
    }
}

/// What data protection asks of the bridge by itself (`gdpr:`).
#[derive(Debug, Clone)]
pub struct GdprConfig {
    /// Drivers offboarded longer ago than this are erased (`None`: only by `gdpr erase`).
    pub erase_after: Option<std::time::Duration>,
    /// Sent to each driver before anything else, and again when it changes (`None`: none).
    pub driver_notice: Option<String>,
    /// Exports show colleagues by stable pseudonyms (Art. 15(4): others' rights).
    pub pseudonymise_colleagues: bool,
}

impl Default for GdprConfig {
    fn default() -> Self {
        GdprConfig {
            erase_after: None,
            driver_notice: None,
            pseudonymise_colleagues: true,
        }
    }
}

/// Broadcasts (`broadcast:`): how they are confirmed, how fast they fan out, when the desk is
/// warned about unread ones.
#[derive(Debug, Clone)]
pub struct BroadcastConfig {
    pub confirm: Confirm,
    /// Recipients whose portal copy is written and whose messages are queued at the same time.
    pub concurrency: usize,
    /// Recipients queued per second at most (the Gateway charges and may throttle); 0: no limit.
    pub rate_per_second: f64,
    /// How often the status boards are brought up to date.
    pub board_interval: std::time::Duration,
    /// How many names of drivers who have not read a board lists before "and N more".
    pub board_unread_names: usize,
    /// Warn when fewer than `escalate_below_percent` have read after this long (`None`: never).
    pub escalate_after: Option<std::time::Duration>,
    pub escalate_below_percent: u8,
}

/// When a broadcast room asks before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Every message waits for the dispatcher's 👍.
    Each,
    /// The room's first message does; the rest go at once.
    Once,
}

#[derive(Debug, Clone)]
pub struct HomeserverConfig {
    pub url: Url,
    pub domain: OwnedServerName,
}

#[derive(Debug, Clone)]
pub struct AppserviceConfig {
    pub registration_path: PathBuf,
    pub registration: Registration,
    pub listen: SocketAddr,
    pub url: Url,
    pub bot_displayname: String,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct ThreemaConfig {
    pub api_url: Url,
    pub gateway_id: String,
    pub secret: SecretString,
    /// The Gateway ID's Curve25519 private key, 32 bytes, checked at load.
    pub private_key: SecretString,
    pub callback_listen: SocketAddr,
    /// Warn when the Gateway balance drops below this many credits.
    pub credits_warning: i64,
    /// Longest wait for one Gateway request. A send that times out is not repeated blindly.
    pub timeout: std::time::Duration,
    /// A callback body must arrive within this (slow senders are cut off).
    pub callback_body_timeout: std::time::Duration,
    /// Refused callbacks (bad MAC, malformed) an address may send per minute before it is
    /// answered 429 for `callback_block`.
    pub callback_refusals_per_minute: u32,
    pub callback_block: std::time::Duration,
    /// Reverse proxies in front of the callback listener whose `X-Forwarded-For` names the
    /// client (the refusal guard then counts the client, not the proxy).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Tries to download a driver's file before a notice says it was not bridged (the inbox's
    /// backoff between them; the driver's later messages wait meanwhile).
    pub download_attempts: i64,
    /// Memory for drivers' files in flight, in MiB: a file waits until it fits.
    pub file_memory_mib: u32,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// `bridge.timezone`: what people read and schedule is in this zone.
    pub timezone: crate::zone::Zone,
    /// `bridge.language`: what the bot and the boards write in.
    pub language: crate::texts::Language,
    /// Rooms whose inbox events may be handled at the same time. `0` accepts and persists
    /// transactions without handling them (maintenance: drain later with a normal start).
    pub inbox_workers: usize,
    /// Matrix users invited to every portal room (until the employee directory decides).
    pub dispatchers: Vec<OwnedUserId>,
    pub permissions: Permissions,
    /// How a dispatcher's message reads on the phone: `{displayname}` and `{body}` are filled in.
    pub relay_template: String,
    /// The same for `m.emote`.
    pub emote_template: String,
    pub unknown_senders: UnknownSenders,
    /// Threema IDs known to be drivers (until the employee directory says), with names.
    pub drivers: Vec<KnownDriver>,
    pub read_receipts: ReadReceipts,
    /// `bridge.reactions_to_drivers`: a dispatcher's 👍 / 👎 on a driver's message reaches the
    /// phone as Threema's agree / decline (one credit each).
    pub reactions_to_drivers: bool,
    /// `bridge.location_request`: what `!where` in a portal sends the driver (`None`: the
    /// catalogue's, in `bridge.language`).
    pub location_request: Option<String>,
    /// A message the Gateway (or the homeserver, for its media) keeps refusing with transient
    /// errors is given up after this long: marked failed, with a notice and the resend action.
    pub send_give_up: std::time::Duration,
    /// The ghost's reaction on a message the phone received, and the one that replaces it when
    /// the driver read it (empty: no marker).
    pub received_marker: String,
    pub read_marker: String,
    /// `bridge.encryption`: end-to-bridge encryption, and the key its state is sealed with.
    pub encryption: Encryption,
}

/// `bridge.encryption`: whether the bridge reads and writes encrypted rooms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Encryption {
    /// An encrypted room is told that the bridge cannot read it.
    #[default]
    Off,
    /// The bridge's bot and ghosts have devices: rooms others encrypted work.
    Allow(EncryptionKey),
    /// As `Allow`, and the rooms the bridge creates are encrypted.
    Default(EncryptionKey),
    /// As `Default`, and nothing is posted in the clear: encryption is turned on where it is
    /// not yet before the bridge posts there.
    Require(EncryptionKey),
}

impl Encryption {
    /// The key the crypto state is sealed with, unless encryption is off.
    pub fn key(&self) -> Option<&EncryptionKey> {
        match self {
            Encryption::Off => None,
            Encryption::Allow(key) | Encryption::Default(key) | Encryption::Require(key) => {
                Some(key)
            }
        }
    }

    /// Which rooms the bridge encrypts, unless encryption is off.
    pub fn policy(&self) -> Option<crate::matrix::crypto::Policy> {
        use crate::matrix::crypto::Policy;
        match self {
            Encryption::Off => None,
            Encryption::Allow(_) => Some(Policy::Allow),
            Encryption::Default(_) => Some(Policy::Default),
            Encryption::Require(_) => Some(Policy::Require),
        }
    }
}

/// `bridge.encryption_key`: 32 bytes. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(pub [u8; 32]);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(<redacted>)")
    }
}

/// Read tracking (`bridge.read_receipts`), for works councils that decide on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadReceipts {
    /// Drivers learn when the desk read their messages; the desk sees per message when the
    /// driver read it.
    On,
    /// Nobody's reading is tracked: no read receipts to drivers, drivers' receipts not kept.
    Off,
    /// Drivers learn when the desk read their messages (the desk as a whole, never a person);
    /// drivers' reads are kept for counts and status only, not shown per message in portals.
    Aggregate,
    /// Drivers' reads tracked and shown as with `on`; no read receipts sent to drivers (each
    /// costs a Gateway credit).
    TrackOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDriver {
    pub id: threema_protocol::ThreemaId,
    pub name: Option<String>,
}

/// What happens to a message from a Threema ID that is not a known driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSenders {
    /// Into the shared quarantine room, where a dispatcher can `start` a portal for the sender.
    Quarantine,
    /// Not bridged; logged and kept in the inbox with the reason.
    Reject,
    /// Every sender gets a portal (demo and test setups).
    Open,
}

#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub csv: Option<PathBuf>,
    pub http: Option<HttpSourceConfig>,
    /// SCIM 2.0 on the appservice listener, when a token is set.
    pub scim_token: Option<SecretString>,
    /// How often the CSV file is checked for a change.
    pub check_interval: std::time::Duration,
    /// How often everything is synced anyway (leaving dates), starting at startup; `None`
    /// (`0`): only when the CSV changes, on SCIM changes and on command.
    pub sync_interval: Option<std::time::Duration>,
    /// `directory.attributes`: the only attributes kept from any source, if set.
    pub attributes: Option<Vec<String>>,
    /// What the shared inbox and the templates read of drivers and dispatchers
    /// (`inbox.shift_attribute`, `inbox.answer_within_minutes_by`, `templates:`).
    pub inbox_attributes: Vec<String>,
    pub plan: crate::directory::plan::Settings,
    pub safety: crate::directory::snapshot::Safety,
}

impl DirectoryConfig {
    /// Whether the directory decides who is a driver or dispatcher.
    pub fn enabled(&self) -> bool {
        self.csv.is_some() || self.http.is_some() || self.scim_token.is_some()
    }

    /// The attributes kept from the HTTP source: `directory.attributes`, or only those spaces,
    /// scopes, name templates and the shared inbox use. An HR system answers with whatever it holds about a
    /// person; the bridge keeps what it was told to need. CSV exports and SCIM keep every
    /// attribute unless `directory.attributes` is set (see [`DirectoryConfig::attributes`]).
    pub fn http_attributes(&self) -> Vec<String> {
        self.attributes.clone().unwrap_or_else(|| {
            let mut used = self.plan.used_attributes();
            used.extend(self.inbox_attributes.iter().cloned());
            used.sort();
            used.dedup();
            used
        })
    }
}

/// An HTTP endpoint answering the directory as JSON, polled.
#[derive(Debug, Clone)]
pub struct HttpSourceConfig {
    pub url: Url,
    pub authorization: Option<SecretString>,
    /// Where the array of employees is in the answer (`data.items`); empty: the answer is it.
    pub items_path: String,
    /// Our field name → the JSON key that holds it (unlisted fields keep their names).
    pub fields: std::collections::BTreeMap<String, String>,
    pub interval: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct LoggingConfig {
    pub filter: String,
    pub json: bool,
}

/// One thing wrong with the config, named by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub reason: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config has {} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

impl Config {
    /// Loads and validates the config at `path`, including the registration file it names.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw = RawConfig::load(path)?;
        let mut config = Self::from_raw(raw, path.parent().unwrap_or(Path::new(".")))?;
        config.fingerprint = RawConfig::fingerprint(path)?;
        Ok(config)
    }

    pub fn bot_user_id(&self) -> OwnedUserId {
        crate::ids::bot_user_id(&self.homeserver.domain)
    }
}

#[cfg(test)]
pub(crate) mod tests;
