//! The simulated Threema users ("driver phones"): their directory entries, their behaviour, and
//! what they received and sent.

mod messages;
pub(crate) mod receive;
pub(crate) mod send;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::serde_util::{hex32, millis, opt_hex32, opt_millis};
pub use messages::{Decoded, ReceivedMessage, SentMessage, UserMessage};

/// Capabilities of a current Threema app as the Python SDK knows them (§3.8).
pub const DEFAULT_CAPABILITIES: &[&str] = &["text", "image", "video", "audio", "file", "ballot"];

fn default_capabilities() -> Vec<String> {
    DEFAULT_CAPABILITIES
        .iter()
        .map(|c| (*c).to_owned())
        .collect()
}

/// A simulated user to add to the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSpec {
    /// 8 characters `[0-9A-Z]`.
    pub id: String,
    /// Sent as `nickname` with every callback.
    #[serde(default)]
    pub nickname: Option<String>,
    /// Answer of `/capabilities/{id}`.
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub behaviour: Behaviour,
    /// E.164 digits without `+`, for `/lookup/phone*`.
    #[serde(default)]
    pub phone: Option<String>,
    /// For `/lookup/email*`.
    #[serde(default)]
    pub email: Option<String>,
    /// A fixed secret key (hex in JSON); `None`: generated (from the seed in deterministic mode).
    #[serde(default, with = "opt_hex32")]
    pub secret_key: Option<[u8; 32]>,
}

impl Default for UserSpec {
    /// An empty ID (set one) with default capabilities and behaviour, for
    /// `UserSpec { id, ..UserSpec::default() }`.
    fn default() -> Self {
        UserSpec::new("")
    }
}

impl UserSpec {
    /// A user with default capabilities and behaviour.
    pub fn new(id: &str) -> Self {
        UserSpec {
            id: id.to_owned(),
            nickname: None,
            capabilities: default_capabilities(),
            behaviour: Behaviour::default(),
            phone: None,
            email: None,
            secret_key: None,
        }
    }

    pub fn nickname(mut self, nickname: &str) -> Self {
        self.nickname = Some(nickname.to_owned());
        self
    }

    pub fn behaviour(mut self, behaviour: Behaviour) -> Self {
        self.behaviour = behaviour;
        self
    }

    pub fn phone(mut self, phone: &str) -> Self {
        self.phone = Some(phone.to_owned());
        self
    }

    pub fn email(mut self, email: &str) -> Self {
        self.email = Some(email.to_owned());
        self
    }

    pub fn capabilities(mut self, capabilities: &[&str]) -> Self {
        self.capabilities = capabilities.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    pub fn secret_key(mut self, secret_key: [u8; 32]) -> Self {
        self.secret_key = Some(secret_key);
        self
    }
}

/// What a phone does by itself after a message arrived. All delays are simulated time
/// (multiplied by `time_scale`) measured from the arrival; actions run in the order of their
/// delays. Automatic receipts are only sent for user-visible messages (text, file, location,
/// poll setup, legacy media) and never when the Gateway set `noDeliveryReceipts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    /// Send a delivery receipt with status 1 (received).
    pub auto_received: bool,
    #[serde(rename = "receipt_delay_ms", with = "millis")]
    pub receipt_delay: Duration,
    /// Also send status 2 (read) this long after arrival.
    #[serde(rename = "read_after_ms", with = "opt_millis")]
    pub read_after: Option<Duration>,
    /// Send this message after each text.
    pub reply: Option<UserMessage>,
    /// Send each text back as a text.
    pub echo: bool,
    #[serde(rename = "reply_delay_ms", with = "millis")]
    pub reply_delay: Duration,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            auto_received: true,
            receipt_delay: Duration::from_millis(500),
            read_after: None,
            reply: None,
            echo: false,
            reply_delay: Duration::from_secs(1),
        }
    }
}

impl Behaviour {
    /// A phone that never sends anything by itself.
    pub fn silent() -> Self {
        Behaviour {
            auto_received: false,
            ..Behaviour::default()
        }
    }
}

/// A user's public directory entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub id: String,
    #[serde(with = "hex32")]
    pub public_key: [u8; 32],
    pub nickname: Option<String>,
    pub capabilities: Vec<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

/// A user inside the simulator.
pub(crate) struct User {
    pub(crate) info: UserInfo,
    pub(crate) secret_key: [u8; 32],
    pub(crate) behaviour: Behaviour,
    pub(crate) inbox: Vec<ReceivedMessage>,
    pub(crate) outbox: Vec<SentMessage>,
}
