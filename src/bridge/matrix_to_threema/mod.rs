//! Matrix → Threema: what a dispatcher wrote in a portal, onto the driver's phone.
//!
//! `worker` drains the Matrix inbox (transactions persisted by `http::appservice`): drops our own
//! echoes, routes commands, and plans each event with the pure planner (`bridge_convert::plan`).
//! `outbox` queues the plan's Threema messages and sends them, per driver in order, recording
//! every state before the Gateway call; the rules it follows are the pure `transitions`.

pub mod outbox;
pub mod transitions;
pub mod worker;

pub use outbox::{FORMER_DRIVER, ThreemaOutbox};
pub use worker::MatrixInbox;
