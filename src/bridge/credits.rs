//! The Gateway account's credit balance: read now and then, warned about when low, shown in
//! `/ready`. Every message sent (receipts included) and every blob costs a credit.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use super::Bridge;

const CHECK_EVERY: Duration = Duration::from_secs(600);

/// Balance unknown (not read yet, or the Gateway did not answer).
pub const UNKNOWN: i64 = i64::MIN;

impl Bridge {
    /// The last balance read, if any.
    pub fn credits(&self) -> Option<i64> {
        Some(self.credits.load(Ordering::Relaxed)).filter(|&c| c != UNKNOWN)
    }

    /// Reads the balance now, remembers it and warns if it is low.
    pub async fn refresh_credits(&self) -> Option<i64> {
        match self.threema.credits().await {
            Ok(balance) => {
                self.credits.store(balance, Ordering::Relaxed);
                let warn_below = self.config.threema.credits_warning;
                if balance < warn_below {
                    tracing::warn!(
                        balance,
                        warn_below,
                        "Threema Gateway credits are running low"
                    );
                } else {
                    tracing::info!(balance, "Threema Gateway credits");
                }
                Some(balance)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Threema Gateway credit balance");
                None
            }
        }
    }
}

pub async fn watch(bridge: Arc<Bridge>, shutdown: CancellationToken) {
    loop {
        bridge.refresh_credits().await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}
