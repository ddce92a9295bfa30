//! Pure conversion between Matrix and Threema, shared by both directions of the bridge:
//! `format` turns Threema markup into Matrix HTML and back and splits long text; `plan` decides
//! what a dispatcher's Matrix event becomes on the driver's phone; `poll` reads and writes
//! Matrix polls.
//!
//! No IO: everything here takes what a client or an app wrote and returns values, so it is
//! table-tested and fuzzed (`fuzz/`) apart from the bridge.

pub mod format;
pub mod plan;
pub mod poll;
