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

use crate::store::StoreError;

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
    /// The operator's input names nobody (or nothing) the bridge knows: nothing changed.
    #[error("{0}")]
    Input(String),
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
