//! The first start on a database restored from a backup (see `store::restore`).

use super::Bridge;
use crate::store::StoreError;

impl Bridge {
    /// Before the workers start as the active process: settles a restored database once, and
    /// tells the outbox when the last restore was (what came before it is not acted on again).
    pub async fn settle_restore(&self) -> Result<(), StoreError> {
        if let Some(settled) = self.store.settle_restore().await? {
            tracing::warn!(
                sends_unknown = settled.sends,
                broadcast_copies_ended = settled.broadcast_copies,
                incoming_looked_for = settled.incoming,
                "started on a database restored from a backup: what was pending is not sent \
                 again (marked outcome unknown in the portals)"
            );
        }
        self.outbox.set_restored_at(self.store.restored_at().await?);
        Ok(())
    }
}
