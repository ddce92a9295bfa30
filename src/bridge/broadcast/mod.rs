//! Broadcasts: a dispatcher opens a broadcast room for a selection of drivers from the management
//! room (`broadcast <selection>`); every message there goes, after a 👍, to each recipient
//! through the durable outbox, is written into each driver's portal, and gets a status board.
//!
//! The fan-out (`fanout`) posts the copy into the portal first and queues the Threema messages
//! under the copy's event id, so receipts, quotes, answers, failure notices and resends work in
//! the portal as for any message there; the board (`board`) adds them up per broadcast.
//!
//! The management room's selection commands live in `select`, the broadcast room and the life
//! of its broadcasts in `room`, a message posted there in `message`, its `!commands` in
//! `commands`, and the copy written into each portal in `copy`.

pub mod board;
mod boards;
mod commands;
mod copy;
mod fanout;
mod message;
mod room;
mod select;

pub use fanout::BroadcastFanout;

/// Reactions that confirm a waiting broadcast.
pub const CONFIRM_KEYS: [&str; 3] = ["👍", "👍️", "✅"];
/// A message that starts with this asks drivers to acknowledge it (Threema's thumbs up).
pub const ACK_PREFIX: &str = "!ack";
/// What drivers read under a message that asks for acknowledgement.
const ACK_REQUEST: &str = "Please confirm with 👍 (tap and hold the message).";

const ROOM_HELP: &str = "Every message you post here goes to each recipient on Threema, \
    after you react with 👍 to the bot's preview, and into each driver's own chat. \
    Start a message with !ack to ask drivers to confirm it with 👍.\n\
    Commands (start with !): !recipients, !refresh (evaluate the selection again), \
    !report and !csv (per recipient, for the latest message or the one you reply to), \
    !resend-unread (send it again to those who have not read it), !help.";
