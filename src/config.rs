//! Configuration: a YAML file, overridden by `THREEMA_BRIDGE__SECTION__KEY` environment
//! variables, validated into [`Config`]. Validation collects every problem and names the key,
//! so `check-config` can tell an operator all that is wrong at once.

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Yaml},
};
use ruma::{OwnedServerName, OwnedUserId, ServerName, UserId};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use crate::registration::Registration;

/// Prefix of environment variables that override config keys (`__` separates levels).
pub const ENV_PREFIX: &str = "THREEMA_BRIDGE__";

/// The config as read from YAML and env, before validation. Every field is optional so that
/// validation, not the deserialiser, reports what is missing, by its full key.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub homeserver: RawHomeserver,
    pub appservice: RawAppservice,
    pub threema: RawThreema,
    pub database: RawDatabase,
    pub bridge: RawBridge,
    pub directory: RawDirectory,
    pub broadcast: RawBroadcast,
    pub logging: RawLogging,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawBroadcast {
    pub confirm: Option<String>,
    pub concurrency: Option<usize>,
    pub rate_per_second: Option<f64>,
    pub board_interval_ms: Option<u64>,
    pub board_unread_names: Option<usize>,
    pub escalate_after_minutes: Option<f64>,
    pub escalate_below_percent: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHomeserver {
    pub url: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAppservice {
    pub id: Option<String>,
    pub registration: Option<PathBuf>,
    pub listen: Option<String>,
    pub url: Option<String>,
    pub bot_displayname: Option<String>,
    pub max_body_bytes: Option<usize>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawThreema {
    pub api_url: Option<String>,
    pub gateway_id: Option<String>,
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
    pub private_key: Option<SecretString>,
    pub private_key_file: Option<PathBuf>,
    pub callback_listen: Option<String>,
    pub credits_warning: Option<i64>,
    pub timeout_seconds: Option<u64>,
    pub callback_body_timeout_seconds: Option<u64>,
    pub callback_refusals_per_minute: Option<u32>,
    pub callback_block_seconds: Option<u64>,
}

impl fmt::Debug for RawThreema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawThreema")
            .field("api_url", &self.api_url)
            .field("gateway_id", &self.gateway_id)
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("secret_file", &self.secret_file)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "[REDACTED]"),
            )
            .field("private_key_file", &self.private_key_file)
            .field("callback_listen", &self.callback_listen)
            .field("credits_warning", &self.credits_warning)
            .field("timeout_seconds", &self.timeout_seconds)
            .field(
                "callback_body_timeout_seconds",
                &self.callback_body_timeout_seconds,
            )
            .field(
                "callback_refusals_per_minute",
                &self.callback_refusals_per_minute,
            )
            .field("callback_block_seconds", &self.callback_block_seconds)
            .finish()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDatabase {
    pub url: Option<String>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawBridge {
    pub inbox_workers: Option<usize>,
    pub dispatchers: Option<Vec<String>>,
    pub permissions: Option<std::collections::BTreeMap<String, String>>,
    pub relay_template: Option<String>,
    pub emote_template: Option<String>,
    pub unknown_senders: Option<String>,
    pub drivers: Option<Vec<RawDriver>>,
    pub read_receipts: Option<String>,
    pub send_give_up_seconds: Option<u64>,
    pub received_marker: Option<String>,
    pub read_marker: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDriver {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawDirectory {
    pub csv: Option<PathBuf>,
    pub http: Option<RawHttpSource>,
    pub scim_token: Option<SecretString>,
    pub scim_token_file: Option<PathBuf>,
    pub check_seconds: Option<u64>,
    pub sync_interval_seconds: Option<u64>,
    pub space_attributes: Option<Vec<String>>,
    pub scope_attributes: Option<Vec<String>>,
    pub ghost_name_template: Option<String>,
    pub former_name_template: Option<String>,
    pub space_name: Option<String>,
    pub former_space_name: Option<String>,
    pub max_offboard_share: Option<f64>,
    pub max_offboard_always: Option<usize>,
    pub synapse_admin_token: Option<SecretString>,
    pub synapse_admin_token_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHttpSource {
    pub url: Option<String>,
    /// `Authorization` header value (e.g. `Bearer …`); a secret.
    pub authorization: Option<SecretString>,
    pub items_path: Option<String>,
    pub fields: Option<std::collections::BTreeMap<String, String>>,
    pub interval_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLogging {
    pub filter: Option<String>,
    pub format: Option<String>,
}

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
    pub logging: LoggingConfig,
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
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct BridgeConfig {
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
    /// A message the Gateway (or the homeserver, for its media) keeps refusing with transient
    /// errors is given up after this long: marked failed, with a notice and the resend action.
    pub send_give_up: std::time::Duration,
    /// The ghost's reaction on a message the phone received, and the one that replaces it when
    /// the driver read it (empty: no marker).
    pub received_marker: String,
    pub read_marker: String,
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

/// What a Matrix user may do with the bridge, from `bridge.permissions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Dispatcher,
    Admin,
}

/// `bridge.permissions`: levels by exact user ID or by server name (`*` for everyone); the
/// most specific entry wins.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    users: std::collections::BTreeMap<OwnedUserId, Level>,
    servers: std::collections::BTreeMap<String, Level>,
}

impl Permissions {
    pub fn level(&self, user: &UserId) -> Level {
        self.users
            .get(user)
            .or_else(|| self.servers.get(user.server_name().as_str()))
            .or_else(|| self.servers.get("*"))
            .copied()
            .unwrap_or(Level::None)
    }
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
    pub plan: crate::directory::plan::Settings,
    pub safety: crate::directory::snapshot::Safety,
    /// With it, a departed dispatcher's account is deactivated through the Synapse admin API.
    pub synapse_admin_token: Option<SecretString>,
}

impl DirectoryConfig {
    /// Whether the directory decides who is a driver or dispatcher.
    pub fn enabled(&self) -> bool {
        self.csv.is_some() || self.http.is_some() || self.scim_token.is_some()
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

impl RawConfig {
    /// Reads the YAML file and applies environment overrides.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        // Read it ourselves first: figment treats a missing file as empty.
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Figment::new()
            .merge(Yaml::file_exact(path))
            .merge(Env::prefixed(ENV_PREFIX).split("__"))
            .extract()
            .map_err(|e| ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })
    }
}

/// Collects problems while validating; each check returns `None` on failure.
struct Checker {
    base_dir: PathBuf,
    problems: Vec<ConfigProblem>,
}

impl Checker {
    fn fail<T>(&mut self, key: &str, reason: impl Into<String>) -> Option<T> {
        self.problems.push(ConfigProblem {
            key: key.into(),
            reason: reason.into(),
        });
        None
    }

    fn required<T: Clone>(&mut self, key: &str, value: &Option<T>) -> Option<T> {
        match value {
            Some(v) => Some(v.clone()),
            None => self.fail(key, "is required"),
        }
    }

    fn http_url(&mut self, key: &str, value: &Option<String>) -> Option<Url> {
        let raw = self.required(key, value)?;
        match Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            Ok(_) => self.fail(key, format!("{raw:?} is not an http(s) URL")),
            Err(e) => self.fail(key, format!("{raw:?} is not a URL: {e}")),
        }
    }

    fn socket_addr(
        &mut self,
        key: &str,
        value: &Option<String>,
        default: &str,
    ) -> Option<SocketAddr> {
        let raw = value.clone().unwrap_or_else(|| default.to_owned());
        match raw.parse() {
            Ok(addr) => Some(addr),
            Err(_) => self.fail(
                key,
                format!("{raw:?} is not an address like 127.0.0.1:29318"),
            ),
        }
    }

    /// Resolves a path relative to the config file's directory.
    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    /// A secret given inline (`key`) or in a file (`key_file`), exactly one of them.
    fn secret(
        &mut self,
        key: &str,
        value: &Option<SecretString>,
        file: &Option<PathBuf>,
    ) -> Option<SecretString> {
        match (value, file) {
            (Some(_), Some(_)) => {
                self.fail(key, format!("set either {key} or {key}_file, not both"))
            }
            (Some(v), None) => Some(v.clone()),
            (None, Some(path)) => match std::fs::read_to_string(self.path(path)) {
                Ok(s) => Some(SecretString::from(s.trim().to_owned())),
                Err(e) => self.fail(
                    &format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                ),
            },
            (None, None) => self.fail(key, format!("is required (or {key}_file)")),
        }
    }
}

impl Config {
    /// Loads and validates the config at `path`, including the registration file it names.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let raw = RawConfig::load(path)?;
        Self::from_raw(raw, path.parent().unwrap_or(Path::new(".")))
    }

    /// Validates `raw`; relative paths are resolved against `base_dir` (the config's folder).
    pub fn from_raw(raw: RawConfig, base_dir: &Path) -> Result<Self, ConfigError> {
        let mut c = Checker {
            base_dir: base_dir.to_owned(),
            problems: Vec::new(),
        };

        let hs_url = c.http_url("homeserver.url", &raw.homeserver.url);
        let domain = server_name(&mut c, &raw.homeserver.domain);

        let as_listen = c.socket_addr(
            "appservice.listen",
            &raw.appservice.listen,
            "127.0.0.1:29318",
        );
        let as_url = c.http_url("appservice.url", &raw.appservice.url);
        let registration_path = c.required("appservice.registration", &raw.appservice.registration);
        let registration = match (&registration_path, &domain) {
            (Some(p), Some(d)) => match Registration::load(&c.path(p)) {
                Ok(reg) => {
                    let id = raw
                        .appservice
                        .id
                        .as_deref()
                        .unwrap_or(crate::registration::DEFAULT_ID);
                    for problem in reg.check_against(id, d) {
                        c.fail::<()>(
                            "appservice.registration",
                            format!("{}: {problem}", p.display()),
                        );
                    }
                    Some(reg)
                }
                Err(e) => c.fail("appservice.registration", e.to_string()),
            },
            _ => None,
        };

        let api_url = c.http_url(
            "threema.api_url",
            &Some(
                raw.threema
                    .api_url
                    .clone()
                    .unwrap_or_else(|| "https://msgapi.threema.ch".into()),
            ),
        );
        let gateway_id = match c.required("threema.gateway_id", &raw.threema.gateway_id) {
            Some(id) if is_gateway_id(&id) => Some(id),
            Some(id) => c.fail(
                "threema.gateway_id",
                format!("{id:?} is not a Gateway ID (\"*\" and 7 capitals or digits)"),
            ),
            None => None,
        };
        let secret = c.secret(
            "threema.secret",
            &raw.threema.secret,
            &raw.threema.secret_file,
        );
        let private_key = c
            .secret(
                "threema.private_key",
                &raw.threema.private_key,
                &raw.threema.private_key_file,
            )
            .and_then(|key| match check_private_key(key.expose_secret()) {
                Ok(()) => Some(key),
                // The reason never quotes the value: it is a secret.
                Err(reason) => c.fail("threema.private_key", reason),
            });
        let callback_listen = c.socket_addr(
            "threema.callback_listen",
            &raw.threema.callback_listen,
            "0.0.0.0:29319",
        );

        let db_url = raw
            .database
            .url
            .clone()
            .unwrap_or_else(|| "sqlite://data/bridge.db".into());
        let db_url = match crate::store::DbKind::of_url(&db_url) {
            Some(_) => Some(db_url),
            None => c.fail("database.url", "must start with sqlite:// or postgres://"),
        };

        let dispatchers = raw
            .bridge
            .dispatchers
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|d| match UserId::parse(&d) {
                Ok(id) => Some(id),
                Err(e) => c.fail(
                    "bridge.dispatchers",
                    format!("{d:?} is not a Matrix user ID: {e}"),
                ),
            })
            .collect::<Option<Vec<_>>>();

        let permissions = permissions(
            &mut c,
            &raw.bridge,
            domain.as_deref(),
            dispatchers.as_deref(),
        );
        let unknown_senders = match raw.bridge.unknown_senders.as_deref() {
            None | Some("quarantine") => Some(UnknownSenders::Quarantine),
            Some("reject") => Some(UnknownSenders::Reject),
            Some("open") => Some(UnknownSenders::Open),
            Some(other) => c.fail(
                "bridge.unknown_senders",
                format!("{other:?} is none of \"quarantine\", \"reject\", \"open\""),
            ),
        };
        let confirm = match raw.broadcast.confirm.as_deref() {
            None | Some("each") => Some(Confirm::Each),
            Some("once") => Some(Confirm::Once),
            Some(other) => c.fail(
                "broadcast.confirm",
                format!("{other:?} is neither \"each\" nor \"once\""),
            ),
        };
        let rate_per_second = match raw.broadcast.rate_per_second {
            Some(rate) if !(rate >= 0.0 && rate.is_finite()) => c.fail(
                "broadcast.rate_per_second",
                format!("{rate} is not a rate (0 for no limit)"),
            ),
            rate => Some(rate.unwrap_or(0.0)),
        };
        let escalate_below_percent = match raw.broadcast.escalate_below_percent {
            Some(p) if p > 100 => c.fail(
                "broadcast.escalate_below_percent",
                format!("{p} is over 100"),
            ),
            p => Some(p.unwrap_or(80)),
        };
        let read_receipts = match raw.bridge.read_receipts.as_deref() {
            None | Some("on") => Some(ReadReceipts::On),
            Some("off") => Some(ReadReceipts::Off),
            Some("aggregate") => Some(ReadReceipts::Aggregate),
            Some(other) => c.fail(
                "bridge.read_receipts",
                format!("{other:?} is none of \"on\", \"off\", \"aggregate\""),
            ),
        };
        let relay_template = template(
            &mut c,
            "bridge.relay_template",
            &raw.bridge.relay_template,
            "{displayname}: {body}",
        );
        let emote_template = template(
            &mut c,
            "bridge.emote_template",
            &raw.bridge.emote_template,
            "* {displayname} {body}",
        );
        let drivers = raw
            .bridge
            .drivers
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|d| match threema_protocol::ThreemaId::parse(&d.id) {
                Some(id) => Some(KnownDriver { id, name: d.name }),
                None => c.fail("bridge.drivers", format!("{:?} is not a Threema ID", d.id)),
            })
            .collect::<Option<Vec<_>>>();

        let directory = directory_config(
            &mut c,
            &raw.directory,
            domain.as_deref(),
            dispatchers.as_deref(),
        );

        let json = match raw.logging.format.as_deref() {
            None | Some("pretty") => Some(false),
            Some("json") => Some(true),
            Some(other) => c.fail(
                "logging.format",
                format!("{other:?} is neither \"pretty\" nor \"json\""),
            ),
        };

        if !c.problems.is_empty() {
            return Err(ConfigError::Invalid(c.problems));
        }
        // Every `None` above pushed a problem, so these all hold values now.
        let missing = || ConfigError::Invalid(Vec::new());
        Ok(Config {
            homeserver: HomeserverConfig {
                url: hs_url.ok_or_else(missing)?,
                domain: domain.ok_or_else(missing)?,
            },
            appservice: AppserviceConfig {
                registration_path: c.path(&registration_path.ok_or_else(missing)?),
                registration: registration.ok_or_else(missing)?,
                listen: as_listen.ok_or_else(missing)?,
                url: as_url.ok_or_else(missing)?,
                bot_displayname: raw
                    .appservice
                    .bot_displayname
                    .unwrap_or_else(|| "Threema bridge".into()),
                max_body_bytes: raw.appservice.max_body_bytes.unwrap_or(32 * 1024 * 1024),
            },
            threema: ThreemaConfig {
                api_url: api_url.ok_or_else(missing)?,
                gateway_id: gateway_id.ok_or_else(missing)?,
                secret: secret.ok_or_else(missing)?,
                private_key: private_key.ok_or_else(missing)?,
                callback_listen: callback_listen.ok_or_else(missing)?,
                credits_warning: raw.threema.credits_warning.unwrap_or(100),
                timeout: std::time::Duration::from_secs(
                    raw.threema.timeout_seconds.unwrap_or(30).max(1),
                ),
                callback_body_timeout: std::time::Duration::from_secs(
                    raw.threema
                        .callback_body_timeout_seconds
                        .unwrap_or(10)
                        .max(1),
                ),
                callback_refusals_per_minute: raw
                    .threema
                    .callback_refusals_per_minute
                    .unwrap_or(60),
                callback_block: std::time::Duration::from_secs(
                    raw.threema.callback_block_seconds.unwrap_or(300),
                ),
            },
            database: DatabaseConfig {
                url: SecretString::from(resolve_sqlite_path(
                    &db_url.ok_or_else(missing)?,
                    base_dir,
                )),
                max_connections: raw.database.max_connections.unwrap_or(10),
            },
            bridge: BridgeConfig {
                inbox_workers: raw.bridge.inbox_workers.unwrap_or(16),
                dispatchers: dispatchers.ok_or_else(missing)?,
                permissions: permissions.ok_or_else(missing)?,
                relay_template: relay_template.ok_or_else(missing)?,
                emote_template: emote_template.ok_or_else(missing)?,
                unknown_senders: unknown_senders.ok_or_else(missing)?,
                drivers: drivers.ok_or_else(missing)?,
                read_receipts: read_receipts.ok_or_else(missing)?,
                send_give_up: std::time::Duration::from_secs(
                    raw.bridge.send_give_up_seconds.unwrap_or(900),
                ),
                received_marker: raw.bridge.received_marker.unwrap_or_else(|| "✓".into()),
                read_marker: raw.bridge.read_marker.unwrap_or_else(|| "✓✓".into()),
            },
            directory: directory.ok_or_else(missing)?,
            broadcast: BroadcastConfig {
                confirm: confirm.ok_or_else(missing)?,
                concurrency: raw.broadcast.concurrency.unwrap_or(8).max(1),
                rate_per_second: rate_per_second.ok_or_else(missing)?,
                board_interval: std::time::Duration::from_millis(
                    raw.broadcast.board_interval_ms.unwrap_or(2000).max(100),
                ),
                board_unread_names: raw.broadcast.board_unread_names.unwrap_or(20),
                escalate_after: raw
                    .broadcast
                    .escalate_after_minutes
                    .filter(|&m| m > 0.0 && m.is_finite())
                    .map(|m| std::time::Duration::from_secs_f64(m * 60.0)),
                escalate_below_percent: escalate_below_percent.ok_or_else(missing)?,
            },
            logging: LoggingConfig {
                filter: raw.logging.filter.unwrap_or_else(|| "info".into()),
                json: json.ok_or_else(missing)?,
            },
        })
    }

    pub fn bot_user_id(&self) -> OwnedUserId {
        crate::ids::bot_user_id(&self.homeserver.domain)
    }
}

fn directory_config(
    c: &mut Checker,
    raw: &RawDirectory,
    domain: Option<&ServerName>,
    dispatchers: Option<&[OwnedUserId]>,
) -> Option<DirectoryConfig> {
    let http = match &raw.http {
        None => Some(None),
        Some(http) => c.http_url("directory.http.url", &http.url).map(|url| {
            Some(HttpSourceConfig {
                url,
                authorization: http.authorization.clone(),
                items_path: http.items_path.clone().unwrap_or_default(),
                fields: http.fields.clone().unwrap_or_default(),
                interval: std::time::Duration::from_secs(
                    http.interval_seconds.unwrap_or(300).max(1),
                ),
            })
        }),
    };
    let optional_secret = |c: &mut Checker,
                           key: &str,
                           value: &Option<SecretString>,
                           file: &Option<PathBuf>| match (value, file) {
        (None, None) => Some(None),
        _ => c.secret(key, value, file).map(Some),
    };
    let scim_token = optional_secret(
        c,
        "directory.scim_token",
        &raw.scim_token,
        &raw.scim_token_file,
    );
    let synapse_admin_token = optional_secret(
        c,
        "directory.synapse_admin_token",
        &raw.synapse_admin_token,
        &raw.synapse_admin_token_file,
    );
    let share = raw.max_offboard_share.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&share) {
        c.fail::<()>(
            "directory.max_offboard_share",
            format!("{share} is not a share between 0 and 1"),
        );
    }
    let names = |list: &Option<Vec<String>>| -> Vec<String> {
        list.iter()
            .flatten()
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty())
            .collect()
    };
    let synapse_admin_token = synapse_admin_token?;
    Some(DirectoryConfig {
        csv: raw.csv.as_ref().map(|p| c.path(p)),
        http: http?,
        scim_token: scim_token?,
        check_interval: std::time::Duration::from_secs(raw.check_seconds.unwrap_or(5).max(1)),
        sync_interval: match raw.sync_interval_seconds.unwrap_or(300) {
            0 => None,
            seconds => Some(std::time::Duration::from_secs(seconds)),
        },
        plan: crate::directory::plan::Settings {
            domain: domain?.to_owned(),
            space_attributes: names(&raw.space_attributes),
            scope_attributes: names(&raw.scope_attributes),
            ghost_name_template: raw
                .ghost_name_template
                .clone()
                .unwrap_or_else(|| "{display_name}".into()),
            former_name_template: raw
                .former_name_template
                .clone()
                .unwrap_or_else(|| "{name} (former)".into()),
            root_space_name: raw.space_name.clone().unwrap_or_else(|| "Dispatch".into()),
            former_space_name: raw
                .former_space_name
                .clone()
                .unwrap_or_else(|| "Former employees".into()),
            extra_dispatchers: dispatchers?.to_vec(),
            deactivate_dispatchers: synapse_admin_token.is_some(),
        },
        safety: crate::directory::snapshot::Safety {
            max_share: share,
            always_allowed: raw.max_offboard_always.unwrap_or(2),
        },
        synapse_admin_token,
    })
}

fn server_name(c: &mut Checker, value: &Option<String>) -> Option<OwnedServerName> {
    let raw = c.required("homeserver.domain", value)?;
    match ServerName::parse(&raw) {
        Ok(name) => Some(name),
        Err(e) => c.fail(
            "homeserver.domain",
            format!("{raw:?} is not a server name: {e}"),
        ),
    }
}

/// `bridge.permissions`, by default `dispatcher` for everyone on our own server. Listed
/// `bridge.dispatchers` are at least dispatchers.
fn permissions(
    c: &mut Checker,
    raw: &RawBridge,
    domain: Option<&ServerName>,
    dispatchers: Option<&[OwnedUserId]>,
) -> Option<Permissions> {
    let mut permissions = Permissions::default();
    let entries = match &raw.permissions {
        Some(entries) => entries.clone(),
        None => domain
            .map(|d| [(d.to_string(), "dispatcher".to_owned())].into())
            .unwrap_or_default(),
    };
    let mut ok = true;
    for (who, level) in entries {
        let level = match level.as_str() {
            "admin" => Level::Admin,
            "dispatcher" => Level::Dispatcher,
            "none" => Level::None,
            other => {
                ok = c
                    .fail::<()>(
                        "bridge.permissions",
                        format!("{who}: {other:?} is none of \"admin\", \"dispatcher\", \"none\""),
                    )
                    .is_some();
                continue;
            }
        };
        if who.starts_with('@') {
            match UserId::parse(&who) {
                Ok(user) => {
                    permissions.users.insert(user, level);
                }
                Err(e) => {
                    ok = c
                        .fail::<()>(
                            "bridge.permissions",
                            format!("{who:?} is not a Matrix user ID: {e}"),
                        )
                        .is_some();
                }
            }
        } else if who == "*" || ServerName::parse(&who).is_ok() {
            permissions.servers.insert(who, level);
        } else {
            ok = c
                .fail::<()>(
                    "bridge.permissions",
                    format!("{who:?} is neither a user ID, a server name nor \"*\""),
                )
                .is_some();
        }
    }
    for d in dispatchers.unwrap_or_default() {
        let level = permissions.level(d).max(Level::Dispatcher);
        permissions.users.insert(d.clone(), level);
    }
    ok.then_some(permissions)
}

/// A relay template: must show the message (`{body}`).
fn template(c: &mut Checker, key: &str, value: &Option<String>, default: &str) -> Option<String> {
    let template = value.clone().unwrap_or_else(|| default.to_owned());
    if template.contains("{body}") {
        Some(template)
    } else {
        c.fail(key, "must contain {body}")
    }
}

fn is_gateway_id(id: &str) -> bool {
    id.len() == 8
        && id.starts_with('*')
        && id[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A Curve25519 private key as 64 hex digits (the Gateway's `private:` prefix is accepted).
fn check_private_key(key: &str) -> Result<(), String> {
    let hex_part = key.strip_prefix("private:").unwrap_or(key);
    match hex::decode(hex_part) {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        Ok(bytes) => Err(format!(
            "must be 32 bytes (64 hex digits), got {} bytes",
            bytes.len()
        )),
        Err(_) => Err("is not hexadecimal (expected 64 hex digits)".into()),
    }
}

/// `sqlite://relative/path` is relative to the config file, so the bridge finds the same
/// database whatever its working directory.
fn resolve_sqlite_path(url: &str, base_dir: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(":memory:") => {
            format!("sqlite://{}", base_dir.join(rest).display())
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_ids() {
        assert!(is_gateway_id("*DISPTCH"));
        assert!(is_gateway_id("*ABC1234"));
        assert!(!is_gateway_id("DISPTCH1"));
        assert!(!is_gateway_id("*disptch"));
        assert!(!is_gateway_id("*DISPTC"));
    }

    #[test]
    fn private_keys() {
        assert!(check_private_key(&"ab".repeat(32)).is_ok());
        assert!(check_private_key(&format!("private:{}", "ab".repeat(32))).is_ok());
        assert!(
            check_private_key(&"ab".repeat(31))
                .unwrap_err()
                .contains("31 bytes")
        );
        assert!(
            check_private_key(&"zz".repeat(32))
                .unwrap_err()
                .contains("hexadecimal")
        );
    }

    #[test]
    fn relative_sqlite_paths_follow_the_config_file() {
        let base = Path::new("/etc/bridge");
        assert_eq!(
            resolve_sqlite_path("sqlite://data/b.db", base),
            "sqlite:///etc/bridge/data/b.db"
        );
        assert_eq!(
            resolve_sqlite_path("sqlite:///var/b.db", base),
            "sqlite:///var/b.db"
        );
        assert_eq!(
            resolve_sqlite_path("postgres://u@h/db", base),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn raw_threema_debug_hides_secrets() {
        let raw = RawThreema {
            secret: Some(SecretString::from("gateway-secret-123")),
            private_key: Some(SecretString::from("cafe".repeat(16))),
            ..Default::default()
        };
        let shown = format!("{raw:?}");
        assert!(!shown.contains("gateway-secret-123"), "{shown}");
        assert!(!shown.contains("cafecafe"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }

    #[test]
    fn read_receipts_off_and_on_read_as_words_not_booleans() {
        for word in ["on", "off", "aggregate"] {
            let raw: RawConfig =
                serde_yaml::from_str(&format!("bridge: {{read_receipts: {word}}}")).unwrap();
            assert_eq!(raw.bridge.read_receipts.as_deref(), Some(word));
        }
    }

    #[test]
    fn config_debug_hides_every_secret() {
        let dir = tempfile::tempdir().unwrap();
        let domain = ServerName::parse("dispatch.test").unwrap();
        let registration = Registration::generate("threema", "http://127.0.0.1:29318", &domain);
        registration
            .write(&dir.path().join("registration.yaml"))
            .unwrap();
        let yaml = format!(
            "homeserver: {{url: 'http://127.0.0.1:8008', domain: dispatch.test}}\n\
             appservice: {{registration: registration.yaml, url: 'http://127.0.0.1:29318'}}\n\
             threema: {{gateway_id: '*DISPTCH', secret: gateway-secret-123, private_key: '{}'}}\n\
             database: {{url: 'postgres://bridge:db-password-456@db/bridge'}}\n",
            "cafe".repeat(16)
        );
        let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap();
        let config = Config::from_raw(raw, dir.path()).unwrap();
        let shown = format!("{config:?}");
        for secret in [
            registration.as_token.expose_secret(),
            registration.hs_token.expose_secret(),
            "gateway-secret-123",
            "cafecafe",
            "db-password-456",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("dispatch.test"), "the rest stays readable");
    }
}
