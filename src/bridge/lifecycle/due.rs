//! `gdpr.erase_after_days`: a driver the directory offboarded longer ago than that is erased by
//! the bridge itself, exactly as `gdpr erase` would (a legal hold keeps them; the audit names
//! the bridge as the actor). Looked at when the bridge starts, after every directory pass (an
//! offboarding may have made one due) and hourly.

use std::{sync::Arc, time::Duration};

use ruma::OwnedServerName;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    LifecycleError,
    erase::{Erased, Eraser, IdHasher},
    resolve,
};
use crate::{config::SynapseAdmin, matrix::MatrixClient, store::Store};

/// Who the audit and the tombstones name for these erasures.
pub const ACTOR: &str = "bridge:gdpr.erase_after_days";
const EVERY: Duration = Duration::from_secs(3600);
/// After a failed pass (the database or the homeserver away): soon, not in an hour.
const AFTER_FAILURE: Duration = Duration::from_secs(60);

/// What a pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub erased: usize,
    /// Due, but a legal hold covers them.
    pub held: usize,
}

pub struct DueErasures {
    pub store: Store,
    /// A client that retries: this runs outside the queues.
    pub matrix: MatrixClient,
    pub admin: SynapseAdmin,
    pub domain: OwnedServerName,
    pub hasher: IdHasher,
    pub zone: crate::zone::Zone,
    /// `gdpr.erase_after_days`.
    pub after: Duration,
    /// Rung after each directory pass.
    pub wake: Arc<Notify>,
    /// Rung after an erasure, so that the directory's view forgets who was erased.
    pub directory: Arc<Notify>,
}

impl DueErasures {
    /// Erases every driver offboarded before the cut-off. Dispatchers are left to `gdpr erase`
    /// (which does not erase them yet either).
    pub async fn once(&self) -> Result<Pass, LifecycleError> {
        let eraser = Eraser {
            store: &self.store,
            matrix: &self.matrix,
            admin: &self.admin,
            domain: &self.domain,
            hasher: &self.hasher,
            zone: &self.zone,
        };
        let mut pass = Pass::default();
        let cutoff = crate::store::cutoff(self.after);
        for employee in self.store.employees_removed_before(cutoff).await? {
            if resolve(&self.store, &self.domain, &employee)
                .await?
                .driver
                .is_none()
            {
                continue;
            }
            match eraser.erase(&employee, ACTOR, false, false).await {
                Ok(Erased::Done { tombstone, .. }) => {
                    tracing::info!(
                        tombstone,
                        "erased a driver offboarded past gdpr.erase_after_days"
                    );
                    pass.erased += 1;
                }
                Ok(Erased::Held(_)) => pass.held += 1,
                Ok(Erased::WouldErase(_)) => unreachable!("not a dry run"),
                // About this one driver: the others are still erased.
                Err(why @ (LifecycleError::Input(_) | LifecycleError::Unfinished(_))) => {
                    tracing::warn!(%why, "an offboarded driver is due for erasure, not erased");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(pass)
    }

    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let wait = match self.once().await {
                Ok(pass) => {
                    if pass.erased > 0 {
                        self.directory.notify_one();
                    }
                    if pass.held > 0 {
                        tracing::info!(
                            held = pass.held,
                            "offboarded drivers kept under a legal hold"
                        );
                    }
                    EVERY
                }
                Err(e) => {
                    tracing::warn!(error = %e, "erasing offboarded drivers failed; tried again soon");
                    AFTER_FAILURE
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }
}
