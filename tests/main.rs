//! The integration tests, outside in: a real Synapse, the real binary, both databases, the
//! Gateway simulator. One test binary, each file a module: as eighteen binaries each compiled the
//! shared support and linked matrix-sdk, sqlx and the bridge again.
//!
//! One file's tests: `scripts/test --test integration conversations::`.

mod common;

mod api;
mod appservice;
mod audit;
mod broadcasts;
mod catch_up;
mod cli;
mod conversations;
mod delivery_status;
mod directory;
mod encryption;
mod faults;
mod gdpr_export;
mod key_changes;
mod lifecycle;
mod matrix_client;
mod matrix_to_threema;
mod metrics;
mod operations;
mod polls;
mod portals;
mod restart;
mod retention;
mod schedules;
mod sdk_interop;
mod shared_inbox;
mod store;
mod threema_callback;
mod threema_gateway;
mod threema_to_matrix;
