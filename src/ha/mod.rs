//! Active/standby on PostgreSQL. Any number of `serve` processes share one database; the one
//! holding the lease row is *active* and runs the workers (the queues, the directory, boards,
//! credit polls, schedules); the others are *standby*: they store what the homeserver and the
//! Gateway push to them, wake the active through `NOTIFY`, and take over when its lease runs
//! out. A takeover raises the fencing token that every queue state change checks, and each
//! outside call first checks the lease on this process's monotonic clock, so an old active that
//! wakes from a pause neither writes nor starts a send. SQLite serves one process: its fence is
//! open and it is always active.

mod fence;
pub mod lease;

pub use fence::{Fence, NotActive, Role};
