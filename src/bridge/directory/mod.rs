//! The directory at work: sources are read and checked, their changes stored, and the rooms
//! brought in line with [`crate::directory::plan`]. A snapshot the safety stop refuses changes
//! nothing; every change and every action lands in the audit log.
//!
//! The sync itself lives in `sync`, the sources in `sources`, carrying out a plan in `apply`,
//! the view the message flows consult in `view`, SCIM's changes in `scim_users`, and keeping
//! the bridge's rooms closed in `closed_rooms`.

mod apply;
pub mod closed_rooms;
mod scim_users;
mod sources;
pub(crate) mod sync;
mod view;

use std::{fmt, sync::Arc};

use ruma::OwnedServerName;
use tokio::sync::{Mutex, Notify};

pub use scim_users::{ScimUsers, ScimUsersError};
pub use view::DirectoryView;

use super::{Access, Ghosts, Notices, Portals, Wakes, wiring::Shared};
use crate::{
    config::{Config, DirectoryConfig, SynapseAdmin},
    directory::{plan::Action, snapshot, snapshot::Change},
    matrix::MatrixClient,
    store::Store,
    texts::Texts,
    threema::ThreemaClient,
    tr,
};

/// The directory flows: syncs and reconciles, carrying out plans (portals, spaces, membership,
/// offboarding, moves), and the closed rooms' members. It holds the services and settings it
/// uses, not the whole bridge, so what a directory sync can touch is visible here.
pub struct Directory {
    store: Store,
    /// What members and admins are told, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
    matrix: MatrixClient,
    /// Looks up drivers known by phone or email.
    threema: Arc<ThreemaClient>,
    /// `directory:`.
    config: DirectoryConfig,
    /// `bridge.timezone`: leaving dates are days of its calendar.
    zone: crate::zone::Zone,
    /// Deactivates departed dispatchers' accounts (without it the plan does not ask to).
    synapse_admin: Option<SynapseAdmin>,
    /// Spaces' aliases and their children's `via` are on this server.
    domain: OwnedServerName,
    access: Arc<Access>,
    ghosts: Arc<Ghosts>,
    portals: Arc<Portals>,
    notices: Arc<Notices>,
    /// Each sync's result, for `/metrics`.
    metrics: Arc<crate::metrics::Metrics>,
    /// Rung when the rooms should follow the stored directory (SCIM, a new portal).
    wake: Arc<Notify>,
    /// Rung after each pass: someone offboarded may be due for erasure.
    passed: Arc<Notify>,
    /// One sync at a time; closing the rooms at startup waits for it too, since both change
    /// power levels and either would undo the other's change.
    lock: Mutex<()>,
}

impl Directory {
    pub(in crate::bridge) fn new(config: &Config, wakes: &Wakes, shared: &Shared) -> Self {
        let Shared {
            store,
            matrix,
            threema,
            access,
            ghosts,
            portals,
            notices,
            metrics,
            ..
        } = shared.clone();
        Directory {
            texts: shared.texts.clone(),
            store,
            matrix,
            threema,
            config: config.directory.clone(),
            zone: config.bridge.timezone.clone(),
            synapse_admin: config.synapse_admin.clone(),
            domain: config.homeserver.domain.clone(),
            access,
            ghosts,
            portals,
            notices,
            metrics,
            wake: wakes.directory.clone(),
            passed: wakes.erasures.clone(),
            lock: Mutex::new(()),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Plan only: nothing is stored, nothing sent to the homeserver.
    pub dry_run: bool,
    /// Apply a snapshot the safety stop refuses.
    pub force: bool,
}

/// What one source contributed to a sync.
#[derive(Debug, Default)]
pub struct SourceReport {
    pub source: String,
    pub changes: Vec<Change>,
    /// Rows that could not be read (they change nothing; the parser's own words).
    pub problems: Vec<String>,
    /// Why nothing of this source was applied.
    pub refused: Option<SourceRefused>,
}

#[derive(Debug)]
pub enum SourceRefused {
    /// The source could not be read at all (the reader's own words).
    Unreadable(String),
    /// The safety stop.
    Stopped(snapshot::Refused),
}

#[derive(Debug, Default)]
pub struct SyncReport {
    pub dry_run: bool,
    pub sources: Vec<SourceReport>,
    /// Drivers whose Threema ID could not be found by phone or email, and the like.
    pub problems: Vec<String>,
    pub planned: Vec<Action>,
    pub applied: usize,
    /// The action and why it failed (the homeserver's words).
    pub failed: Vec<String>,
    /// Requests sent to the homeserver by this sync.
    pub homeserver_calls: u64,
}

impl SyncReport {
    pub fn refused(&self) -> bool {
        self.sources.iter().any(|s| s.refused.is_some())
    }
}

impl SyncReport {
    /// Per source its changes, then the plan and what became of it; a line each.
    pub fn said(&self, texts: &Texts) -> String {
        let mut lines = Vec::new();
        for source in &self.sources {
            let name = source.source.as_str();
            lines.push(match &source.refused {
                Some(SourceRefused::Unreadable(why)) => {
                    tr!(
                        texts,
                        "sync-source-refused",
                        source = name,
                        why = why.as_str()
                    )
                }
                Some(SourceRefused::Stopped(why)) => tr!(
                    texts,
                    "sync-source-refused",
                    source = name,
                    why = texts.snapshot_refused(why)
                ),
                None => tr!(
                    texts,
                    "sync-source-changes",
                    source = name,
                    count = source.changes.len()
                ),
            });
            let changes = source.changes.iter().map(|c| texts.directory_change(c));
            let skipped =
                (source.problems.iter()).map(|p| tr!(texts, "sync-skipped", problem = p.as_str()));
            lines.extend(changes.chain(skipped).map(|line| format!("  {line}")));
        }
        let problems = self.problems.iter();
        lines.extend(problems.map(|p| tr!(texts, "sync-problem", problem = p.as_str())));
        let count = self.planned.len();
        lines.push(match self.dry_run {
            true => tr!(texts, "sync-would-do", count = count),
            false => tr!(texts, "sync-planned", count = count),
        });
        let actions = self.planned.iter().map(|a| texts.directory_action(a));
        lines.extend(actions.map(|line| format!("  {line}")));
        if !self.dry_run {
            lines.push(tr!(
                texts,
                "sync-applied",
                applied = self.applied,
                failed = self.failed.len(),
                calls = self.homeserver_calls
            ));
            let failed = self.failed.iter();
            lines.extend(
                failed.map(|f| format!("  {}", tr!(texts, "sync-failed", what = f.as_str()))),
            );
        }
        lines.iter().map(|line| format!("{line}\n")).collect()
    }
}

impl fmt::Display for SyncReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.said(Texts::english()))
    }
}
