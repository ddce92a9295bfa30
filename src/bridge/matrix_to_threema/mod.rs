//! Matrix → Threema: what a dispatcher wrote in a portal, onto the driver's phone.
//!
//! `worker` drains the Matrix inbox (transactions persisted by `http::appservice`): drops our own
//! echoes, routes commands, and plans each event with the pure planner (`bridge_convert::plan`).
//! `outbox` queues the plan's Threema messages and sends them, per driver in order, recording
//! every state before the Gateway call; the rules it follows are the pure `transitions`.
//! `pushed` turns what the homeserver hands over into inbox rows; `catch_up` reads back what a
//! restarting homeserver dropped before it was pushed. `sender_names` keeps the names messages
//! are signed with until a member event or a redaction the inbox handles may change them.

pub mod catch_up;
pub mod outbox;
pub mod pushed;
mod sender_names;
pub mod transitions;
pub mod worker;

pub use outbox::{Outbox, RESTRICTED, ThreemaOutbox};
pub use worker::{Flows, MatrixInbox, MatrixToThreema, agreement};
