//! The data lifecycle (GDPR): who a request is about ([`subject`]) and the legal holds that
//! keep what they cover from erasure and pruning ([`holds`]). These need only the store, so the
//! CLI runs them without a homeserver; the management room offers the same verbs to admins.

pub mod due;
pub mod erase;
pub mod export;
pub mod holds;
pub mod processing;
pub mod redact;
pub mod requests;
pub mod retention;
pub mod subject;

pub use subject::{Subject, resolve, resolve_target};

use std::fmt;

use threema_protocol::ThreemaId;

use crate::{
    store::{HoldTarget, StoreError},
    texts::Texts,
    tr,
};

/// A management-room command's words: the subject and the flags of `allowed` it has, or
/// `None` when it names nobody or has a flag it does not know.
pub fn command_args<'a>(args: &'a str, allowed: &[&str]) -> Option<(String, Vec<&'a str>)> {
    let (flags, subject): (Vec<&str>, Vec<&str>) =
        args.split_whitespace().partition(|w| w.starts_with("--"));
    if subject.is_empty() || flags.iter().any(|f| !allowed.contains(f)) {
        return None;
    }
    Some((subject.join(" "), flags))
}

/// Why a lifecycle command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The operator's input names nobody (or nothing) the bridge knows, or what it asks is not
    /// allowed now: nothing changed.
    #[error("{0}")]
    Input(Refused),
    /// The homeserver has not finished (or failed) a deletion the bridge asked for: what was
    /// done is kept, and running the command again carries on.
    #[error("{0}")]
    Unfinished(Unfinished),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The export's file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The homeserver refused or was away: nothing recorded as done that was not.
    #[error("homeserver: {0}")]
    Homeserver(crate::bridge::BridgeError),
}

impl LifecycleError {
    /// What an admin is told, in `texts`' language; a store error is the bridge's own failure
    /// and goes up instead, the others are English technical detail.
    pub fn said(&self, texts: &Texts) -> String {
        match self {
            LifecycleError::Input(refused) => texts.lifecycle_refused(refused),
            LifecycleError::Unfinished(unfinished) => texts.unfinished(unfinished),
            LifecycleError::Homeserver(e) => {
                tr!(texts, "mgmt-homeserver-failed", error = e.to_string())
            }
            LifecycleError::Store(_) | LifecycleError::Write { .. } => self.to_string(),
        }
    }
}

/// Why a data-protection command changed nothing: said in the desk's language in the
/// management room, in English on the command line (`Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Starts with `@` but is no Matrix user ID.
    NotAUserId(String),
    /// Neither an employee ID of the directory, a Threema ID nor a Matrix user ID.
    NobodyNamed(String),
    NotARoomId(String),
    /// An alias that is not a portal's `#threema_<id>:<domain>`.
    NotAPortalAlias {
        text: String,
        domain: String,
    },
    NoPortal(ThreemaId),
    /// Erasing somebody the directory still lists as active.
    StillActive(Subject),
    /// A person to erase who has neither a Threema ID nor a Matrix account.
    NothingToErase(Subject),
    HoldWithoutReason,
    NoHoldOn(HoldTarget),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Texts::english().lifecycle_refused(self))
    }
}

/// A homeserver task the bridge waits for that failed or is still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfinished {
    RoomDeleteFailed { room: String, task: String },
    RoomStillDeleting { room: String },
    PurgeFailed { room: String, purge: String },
    PurgeStillRunning { room: String, purge: String },
}

impl fmt::Display for Unfinished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Texts::english().unfinished(self))
    }
}
