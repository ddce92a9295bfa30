//! threema-bridge: a Matrix application service that bridges a dispatch desk on Matrix to
//! drivers on Threema through the Threema Gateway (end-to-end mode).
//!
//! Modules in data-flow order: inbound HTTP (`http`) hands work to the core (`bridge`), which
//! talks to the homeserver (`matrix`) and keeps its state in `store`. `app` wires them up.

pub mod app;
pub mod audit;
pub mod bridge;
pub mod cli;
pub mod config;
pub mod cpus;
pub mod directory;
mod error_chain;
pub mod ha;
pub mod http;
pub mod ids;
pub mod matrix;
pub mod metrics;
pub mod registration;
pub mod store;
pub mod telemetry;
pub mod texts;
pub mod threema;
pub mod zone;
