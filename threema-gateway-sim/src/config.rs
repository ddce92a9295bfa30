//! Configuration of a simulated Gateway account. Defaults follow §6 and §9.1 of the reference;
//! every value marked [UNVERIFIED] there is a field here so tests can change it.

use std::time::Duration;

/// Basic mode: the server encrypts (`send_simple`); end-to-end mode: the client encrypts
/// (`send_e2e`) and may receive messages. Fixed per Gateway ID (§1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccountMode {
    #[default]
    EndToEnd,
    Basic,
}

/// Size limits (§6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `send_simple` text, UTF-8 bytes.
    pub text_bytes: usize,
    /// `send_e2e` box, decoded bytes (the Python SDK's mock reading of "max. 4000 bytes").
    pub box_bytes: usize,
    /// `upload_blob` size.
    pub blob_bytes: usize,
    /// Messages per `send_e2e_bulk` request (also identities per `pubkeys/bulk`).
    pub bulk_messages: usize,
    /// Hashes per `lookup/bulk` request.
    pub bulk_lookup_hashes: usize,
    /// Largest container (type + data + padding) a simulated phone sends: the CSP frame limit.
    pub user_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            text_bytes: 3500,
            box_bytes: 4000,
            blob_bytes: 20 * 1024 * 1024,
            bulk_messages: 1000,
            bulk_lookup_hashes: 1000,
            user_message_bytes: 7812,
        }
    }
}

/// Credits charged per operation (§7). Lookups are believed to be free (unverified, §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Costs {
    pub send_simple: i64,
    pub send_e2e: i64,
    /// Per accepted message of a `send_e2e_bulk` request.
    pub bulk_message: i64,
    pub upload_blob: i64,
    /// Every `lookup/*` request, `pubkeys/*` and `capabilities/*`.
    pub lookup: i64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            send_simple: 1,
            send_e2e: 1,
            bulk_message: 1,
            upload_blob: 1,
            lookup: 0,
        }
    }
}

/// A token bucket: `burst` requests at once, refilled at `per_second`. Exhausted → 429.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

/// Switches that reproduce quirks of other implementations instead of the documented API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compat {
    /// Accept the `{"identities":[[69,67,…]]}` byte-array form that threema-gateway 0.21 sends
    /// to `pubkeys/bulk` (§3.7); rejected with 400 by default.
    pub crate021_pubkeys_bulk: bool,
    /// Answer 500 to an odd-length lookup hash, like the Python SDK's mock (§3.4).
    pub python_mock_odd_hash: bool,
}

/// Everything a [`crate::Simulator`] needs to start.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The Gateway ID, e.g. `*DISPTCH`.
    pub gateway_id: String,
    /// The API secret; also the key of the callback MAC (§4.2).
    pub secret: String,
    /// The Gateway ID's public key; its private key stays with the client under test.
    pub gateway_public_key: [u8; 32],
    pub mode: AccountMode,
    /// Where incoming messages are POSTed; `None`: every attempt fails until one is set.
    pub callback_url: Option<String>,
    /// Starting balance.
    pub credits: i64,
    /// Deterministic mode: a seeded RNG for message IDs, blob IDs, keys, nonces and padding.
    pub seed: Option<u64>,
    /// Manual clock: `date` of phone messages starts here (UNIX seconds) and moves only with
    /// `advance_clock`. `None`: wall clock.
    pub start_time: Option<u64>,
    /// Multiplies every simulated delay (callback retry interval, receipt and reply delays,
    /// blob retention); tests use e.g. 0.001. Network timeouts are real and not scaled.
    pub time_scale: f64,
    /// Deliveries per incoming message: the first attempt plus retries (§4.3: 1 + 3).
    pub callback_attempts: u32,
    pub callback_retry_interval: Duration,
    /// Per attempt; not scaled by `time_scale`.
    pub callback_timeout: Duration,
    /// Deliveries in flight at once; 1 keeps the order of messages.
    pub callback_concurrency: usize,
    /// Count any 2xx as success instead of exactly 200 (§12 open question 6).
    pub callback_accept_any_2xx: bool,
    pub limits: Limits,
    pub costs: Costs,
    /// Rate limit of each bulk endpoint (`send_e2e_bulk`, `lookup/bulk`, `pubkeys/bulk`).
    pub bulk_rate_limit: Option<RateLimit>,
    /// Whether the account is approved for `lookup/bulk` (§3.5).
    pub bulk_lookup_allowed: bool,
    /// Status for `lookup/bulk` without approval (unverified, §3.5), default 401.
    pub bulk_lookup_denied_status: u16,
    /// A non-persistent blob disappears this long after its first download (§3.11: ≤ 1 h).
    pub blob_retention_after_download: Duration,
    pub compat: Compat,
}

impl SimConfig {
    pub fn new(gateway_id: &str, secret: &str, gateway_public_key: [u8; 32]) -> Self {
        SimConfig {
            gateway_id: gateway_id.to_owned(),
            secret: secret.to_owned(),
            gateway_public_key,
            mode: AccountMode::EndToEnd,
            callback_url: None,
            credits: 1000,
            seed: None,
            start_time: None,
            time_scale: 1.0,
            callback_attempts: 4,
            callback_retry_interval: Duration::from_secs(300),
            callback_timeout: Duration::from_secs(10),
            callback_concurrency: 1,
            callback_accept_any_2xx: false,
            limits: Limits::default(),
            costs: Costs::default(),
            bulk_rate_limit: Some(RateLimit {
                burst: 60,
                per_second: 10.0,
            }),
            bulk_lookup_allowed: false,
            bulk_lookup_denied_status: 401,
            blob_retention_after_download: Duration::from_secs(3600),
            compat: Compat::default(),
        }
    }
}
