//! Keeping the inboxes from growing forever: handled rows older than `retention.inbox_days` are
//! deleted at start and every few hours, with the state of rooms the bridge no longer runs.
//! What a legal hold covers is kept.

use std::time::Duration;

use ruma::ServerName;
use tokio_util::sync::CancellationToken;

use super::{
    lifecycle::holds, matrix_to_threema::catch_up, threema_to_matrix::quarantine::QUARANTINE_ROOM,
};
use crate::store::{Pruned, Store, cutoff};

const EVERY: Duration = Duration::from_secs(6 * 3600);
/// After a failed pass (the database away): soon, not in six hours.
const AFTER_FAILURE: Duration = Duration::from_secs(60);

/// One pass: deletes what is older than `keep`.
pub async fn once(
    store: &Store,
    domain: &ServerName,
    keep: Duration,
) -> Result<Pruned, crate::store::StoreError> {
    let held = holds::scope(store, domain).await?;
    let pruned = store
        .prune(cutoff(keep), QUARANTINE_ROOM, catch_up::MARGIN_MS, &held)
        .await?;
    // A done schedule's marker lives as long as the inbox rows that could bring its command
    // again.
    let schedules = store.schedules_prune(cutoff(keep)).await?;
    // A webhook event the receiver took lives as long as the inbox rows it came from.
    let webhooks = store.webhooks_prune(cutoff(keep)).await?;
    tracing::info!(
        matrix_inbox = pruned.matrix_inbox,
        threema_inbox = pruned.threema_inbox,
        room_state = pruned.room_state,
        schedules,
        webhooks,
        "pruned rows past their retention"
    );
    Ok(pruned)
}

pub async fn watch(
    store: Store,
    domain: ruma::OwnedServerName,
    keep: Duration,
    shutdown: CancellationToken,
) {
    loop {
        let wait = match once(&store, &domain, keep).await {
            Ok(_) => EVERY,
            Err(e) => {
                tracing::warn!(error = %e, "pruning failed; tried again soon");
                AFTER_FAILURE
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
