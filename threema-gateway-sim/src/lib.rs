//! A local, offline simulator of the Threema Gateway API (msgapi) in end-to-end mode, and of
//! the Threema phones of the people on the other side, with real NaCl cryptography.
//!
//! The Gateway API is served at the root of a listener (the official Rust SDK drops path
//! prefixes, §8.1 of the reference), a JSON admin API under `/_sim/`. Phones decrypt what the
//! Gateway sends them, answer with delivery receipts and replies, and their messages reach the
//! client under test through the callback engine, with MAC and retries as at Threema.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use threema_gateway_sim::{SimConfig, Simulator, UserMessage, UserSpec};
//! let config = SimConfig::new("*DISPTCH", "secret", [7; 32]);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let sim = Simulator::start(config, listener).await?;
//! sim.add_user(UserSpec::new("DRIVER01").nickname("Dan"));
//! sim.set_callback_url("http://127.0.0.1:9000/callback");
//! let id = sim.send_from_user("DRIVER01", UserMessage::text("on my way")).await.unwrap();
//! # let _ = id; sim.shutdown().await; Ok(()) }
//! ```
//!
//! The simulator never depends on the bridge: it is an independent implementation of the
//! Gateway's side of the protocol, so the two can check each other.

mod admin;
mod api;
mod callback;
mod clock;
mod config;
pub mod crypto;
mod error;
mod faults;
pub mod message;
mod metrics;
mod serde_util;
mod sim;
mod state;
mod users;

pub use api::ENDPOINT_NAMES;
pub use callback::{CallbackAttempt, CallbackOutcome};
pub use config::{AccountMode, Compat, Costs, Limits, RateLimit, SimConfig};
pub use error::SimError;
pub use faults::Fault;
pub use metrics::Metrics;
pub use serde_util::parse_key;
pub use sim::Simulator;
pub use users::{
    Behaviour, DEFAULT_CAPABILITIES, Decoded, ReceivedMessage, SentMessage, UserInfo, UserMessage,
    UserSpec,
};
