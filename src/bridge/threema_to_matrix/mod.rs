//! Threema → Matrix: what a driver's app sent, into the driver's portal.
//!
//! `worker` drains the Threema inbox (callbacks persisted by `http::threema`): opens the box with
//! the driver's key (`keys` holds a changed key back), decodes, downloads media, and routes
//! strangers to `quarantine`. `send` posts the result as the driver's ghost, once, at the
//! driver's time; `convert` is the pure part (Threema message → Matrix content).

pub mod convert;
pub mod files;
pub mod keys;
pub mod quarantine;
pub mod send;
pub mod worker;

pub use send::Bridged;
pub(crate) use send::parse_event_id;
pub use worker::{Incoming, ThreemaInbox};
