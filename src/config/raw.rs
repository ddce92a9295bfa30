//! The config as read: the YAML file, then `THREEMA_BRIDGE__SECTION__KEY` environment
//! overrides, merged by figment into these serde structs. Every field is optional so that
//! validation ([`super::check`]), not the deserialiser, reports what is missing, by its full
//! key; closed sets of words (`logging.format`, `bridge.read_receipts`…) stay strings here for
//! the same reason: a bad word becomes one named problem among all the others, not a parse
//! error that hides them.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Yaml},
};
use secrecy::SecretString;
use serde::Deserialize;

use super::ConfigError;

/// Prefix of environment variables that override config keys (`__` separates levels).
pub const ENV_PREFIX: &str = "THREEMA_BRIDGE__";

/// The config as read from YAML and env, before validation. Every field is optional so that
/// validation, not the deserialiser, reports what is missing, by its full key.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    #[serde(deserialize_with = "null_is_default")]
    pub homeserver: RawHomeserver,
    #[serde(deserialize_with = "null_is_default")]
    pub appservice: RawAppservice,
    #[serde(deserialize_with = "null_is_default")]
    pub threema: RawThreema,
    #[serde(deserialize_with = "null_is_default")]
    pub database: RawDatabase,
    #[serde(deserialize_with = "null_is_default")]
    pub bridge: RawBridge,
    #[serde(deserialize_with = "null_is_default")]
    pub directory: RawDirectory,
    #[serde(deserialize_with = "null_is_default")]
    pub broadcast: RawBroadcast,
    #[serde(deserialize_with = "null_is_default")]
    pub retention: RawRetention,
    #[serde(deserialize_with = "null_is_default")]
    pub gdpr: RawGdpr,
    #[serde(deserialize_with = "null_is_default")]
    pub synapse_admin: RawSynapseAdmin,
    #[serde(deserialize_with = "null_is_default")]
    pub audit: RawAudit,
    #[serde(deserialize_with = "null_is_default")]
    pub privacy: RawPrivacy,
    #[serde(deserialize_with = "null_is_default")]
    pub metrics: RawMetrics,
    #[serde(deserialize_with = "null_is_default")]
    pub ha: RawHa,
    #[serde(deserialize_with = "null_is_default")]
    pub inbox: RawInbox,
    /// Quick replies: name → text.
    #[serde(deserialize_with = "null_is_default")]
    pub templates: BTreeMap<String, String>,
    /// Drivers' quick codes: code → meaning.
    #[serde(deserialize_with = "null_is_default")]
    pub quick_codes: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_is_default")]
    pub logging: RawLogging,
    #[serde(deserialize_with = "null_is_default")]
    pub api: RawApi,
    #[serde(deserialize_with = "null_is_default")]
    pub runtime: RawRuntime,
}

/// `api:`: the integration API for the ERP or transport system (off unless `listen` is set).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawApi {
    pub listen: Option<String>,
    pub clients: Vec<RawApiClient>,
    pub webhooks: Vec<RawWebhook>,
}

/// Where the bridge reports what became of the API's messages.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWebhook {
    pub url: Option<String>,
    /// Signs each delivery (HMAC-SHA256).
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
    /// Which events (default: all).
    pub events: Option<Vec<String>>,
    /// Whose messages (client names; default: every client's).
    pub clients: Option<Vec<String>>,
}

/// One program that may use the API.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawApiClient {
    pub name: Option<String>,
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
    /// A selection in the broadcast syntax (`depot=North`): the drivers it may reach (absent:
    /// all).
    pub scope: Option<String>,
}

/// `synapse_admin:`: admin rights on the homeserver, for every feature that needs them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSynapseAdmin {
    pub token: Option<SecretString>,
    pub token_file: Option<PathBuf>,
    /// The bot is a server admin: its appservice token serves.
    pub bot_is_admin: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRetention {
    pub inbox_days: Option<f64>,
    /// Portal history (and its media) on the homeserver, by the events' own dates.
    pub history_days: Option<f64>,
    /// Dispatchers' texts kept with their sends (for 🔁 resends).
    pub outbox_days: Option<f64>,
    /// When each driver received and read each message (the state and the counts stay).
    pub delivery_times_days: Option<f64>,
    /// Portal files on the homeserver, by the date of the event that carries them.
    pub media_days: Option<f64>,
    /// Audit entries (those about a person or room under a hold stay).
    pub audit_days: Option<f64>,
    /// Set `m.room.retention` on portals, for clients that show it.
    pub room_state: Option<bool>,
}

/// `privacy:`: the works council's settings on who sees drivers' reading.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPrivacy {
    /// `admins`, `dispatchers` (default) or `nobody`: who sees per-person read and delivery
    /// times.
    pub receipt_detail: Option<String>,
    /// Read counts only for groups of at least this many recipients (0: always).
    pub minimum_group: Option<usize>,
}

/// `audit:`: the signed checkpoints of the audit trail.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAudit {
    /// Ed25519 key (`audit keygen` writes one); without it no checkpoints are taken.
    pub signing_key_file: Option<PathBuf>,
    /// Where checkpoint files go: another disk or a backed-up folder.
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_minutes: Option<f64>,
}

/// `gdpr:`: what data protection asks of the bridge by itself.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawGdpr {
    /// Offboarded drivers are erased this many days after they left (absent: never by itself).
    pub erase_after_days: Option<f64>,
    /// The privacy notice each driver gets on first contact (GDPR Art. 13).
    pub driver_notice: Option<String>,
    /// `gdpr export` replaces colleagues' IDs and names by stable pseudonyms (default true).
    pub pseudonymise_colleagues: Option<bool>,
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
    pub trusted_proxies: Vec<String>,
    pub download_attempts: Option<i64>,
    pub file_memory_mb: Option<u32>,
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
            .field("trusted_proxies", &self.trusted_proxies)
            .field("download_attempts", &self.download_attempts)
            .field("file_memory_mb", &self.file_memory_mb)
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
    pub timezone: Option<String>,
    pub language: Option<String>,
    pub inbox_workers: Option<usize>,
    pub dispatchers: Option<Vec<String>>,
    pub permissions: Option<BTreeMap<String, String>>,
    pub relay_template: Option<String>,
    pub emote_template: Option<String>,
    pub unknown_senders: Option<String>,
    pub drivers: Option<Vec<RawDriver>>,
    pub read_receipts: Option<String>,
    pub reactions_to_drivers: Option<String>,
    pub location_request: Option<String>,
    /// `off | allow | default | require`; see [`RawBridge::encryption_on`].
    pub encryption: Option<String>,
    /// 64 hex characters: what the bridge's crypto state is sealed with.
    pub encryption_key: Option<secrecy::SecretString>,
    pub encryption_key_file: Option<std::path::PathBuf>,
    pub send_give_up_seconds: Option<u64>,
    pub received_marker: Option<String>,
    pub read_marker: Option<String>,
}

impl RawBridge {
    /// Whether `bridge.encryption` asks for end-to-bridge encryption (the registration then
    /// needs the appservice extensions; the mode itself is checked with `bridge:`).
    pub fn encryption_on(&self) -> bool {
        matches!(
            self.encryption.as_deref(),
            Some("allow" | "default" | "require")
        )
    }
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
    pub attributes: Option<Vec<String>>,
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

impl RawDirectory {
    /// A source or SCIM is configured: the directory decides who is a dispatcher.
    pub fn enabled(&self) -> bool {
        self.csv.is_some()
            || self.http.is_some()
            || self.scim_token.is_some()
            || self.scim_token_file.is_some()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHttpSource {
    pub url: Option<String>,
    /// `Authorization` header value (e.g. `Bearer …`); a secret.
    pub authorization: Option<SecretString>,
    pub items_path: Option<String>,
    pub fields: Option<BTreeMap<String, String>>,
    pub interval_seconds: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMetrics {
    pub listen: Option<String>,
}

/// `inbox:`: the shared inbox (who answers which driver).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawInbox {
    pub enabled: Option<bool>,
    pub handled_reactions: Option<Vec<String>>,
    pub claim_reaction: Option<String>,
    pub answer_within_minutes: Option<f64>,
    /// Tighter (or looser) periods by a driver's directory attribute: attribute → value →
    /// minutes.
    pub answer_within_minutes_by: Option<BTreeMap<String, BTreeMap<String, f64>>>,
    pub escalate_after_minutes: Option<f64>,
    pub urgent_keywords: Option<Vec<String>>,
    pub shift_changes: Option<Vec<String>>,
    /// Named shifts: name → `"06:00-14:00"`.
    pub shifts: Option<BTreeMap<String, String>>,
    /// The directory attribute that names a person's shift.
    pub shift_attribute: Option<String>,
    /// When drivers without a shift are off duty: `"22:00-06:00"`.
    pub off_duty: Option<String>,
}

/// `ha:`: active/standby on PostgreSQL.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHa {
    pub lease_seconds: Option<f64>,
}

/// `runtime:`: how the serving process runs.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawRuntime {
    /// A number of cores, or the word `all`: any value here, so that a wrong one is a
    /// problem named by its key rather than a parse error.
    pub cpus: Option<figment::value::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLogging {
    pub filter: Option<String>,
    pub format: Option<String>,
}

/// A section written with every key commented out (`gdpr:` and nothing under it, as in the
/// example config) is YAML's null: it means the section's defaults, not a parse error.
fn null_is_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl RawConfig {
    /// Reads the YAML file and applies environment overrides.
    /// The file's text.
    pub fn source(path: &Path) -> Result<String, ConfigError> {
        std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })
    }

    /// SHA-256 over the file and the environment overrides (sorted): what the bridge runs
    /// with, for the audit trail. Secrets are in it, hashed with the rest, never shown.
    pub fn fingerprint(path: &Path) -> Result<String, ConfigError> {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(Self::source(path)?);
        let mut overrides: Vec<(String, String)> = std::env::vars()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect();
        overrides.sort();
        for (name, value) in overrides {
            hash.update(format!("\0{name}={value}"));
        }
        Ok(hex::encode(hash.finalize()))
    }

    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        // Read it ourselves first: figment treats a missing file as empty.
        Self::source(path)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An operator starts from the example: every section of it, its keys commented out or
    /// not, is read (what it lacks is for validation to say).
    #[test]
    fn the_example_config_is_read() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/config.example.yaml");
        let raw = RawConfig::load(&example).expect("the example parses");
        assert!(raw.synapse_admin.token.is_none());
        assert!(raw.gdpr.erase_after_days.is_none());
        let empty = "synapse_admin:\ngdpr:\nretention:\n";
        let dir = std::env::temp_dir().join(format!("raw-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("c.yaml"), empty).unwrap();
        let raw = RawConfig::load(&dir.join("c.yaml")).expect("empty sections parse");
        assert!(raw.retention.inbox_days.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
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
}
