//! The Gateway account's credit balance: read now and then, warned about when low, shown in
//! `/ready`. Every message sent (receipts included) and every blob costs a credit.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use super::{Bridge, BridgeError};
use crate::store::now_ms;

const CHECK_EVERY: Duration = Duration::from_secs(600);

/// Balance unknown (not read yet, or the Gateway did not answer).
pub const UNKNOWN: i64 = i64::MIN;

impl Bridge {
    /// The last balance read, if any.
    pub fn credits(&self) -> Option<i64> {
        Some(self.credits.load(Ordering::Relaxed)).filter(|&c| c != UNKNOWN)
    }

    /// Reads the balance now, remembers it and tells the admins once when it falls below
    /// `threema.credits_warning`.
    pub async fn refresh_credits(&self) -> Option<i64> {
        match self.threema.credits().await {
            Ok(balance) => {
                self.credits.store(balance, Ordering::Relaxed);
                let warn_below = self.config.threema.credits_warning;
                if balance >= warn_below {
                    self.credits_warned.store(false, Ordering::Relaxed);
                    tracing::info!(balance, "Threema Gateway credits");
                } else {
                    tracing::warn!(
                        balance,
                        warn_below,
                        "Threema Gateway credits are running low"
                    );
                    if !self.credits_warned.swap(true, Ordering::Relaxed)
                        && let Err(e) = self.warn_admins(balance).await
                    {
                        tracing::warn!(error = %e, "cannot tell the admins about low credits");
                        self.credits_warned.store(false, Ordering::Relaxed);
                    }
                }
                Some(balance)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Threema Gateway credit balance");
                None
            }
        }
    }

    /// One message sent costs one credit: counts down the last balance read, and reads it
    /// again when the count says it is getting low (so the warning comes before sends fail,
    /// without asking the Gateway after every message).
    pub(super) async fn spent_credit(&self) {
        let before = self.credits.load(Ordering::Relaxed);
        if before == UNKNOWN {
            return;
        }
        self.credits.fetch_sub(1, Ordering::Relaxed);
        if before - 1 < self.config.threema.credits_warning
            && !self.credits_warned.load(Ordering::Relaxed)
        {
            self.refresh_credits().await;
        }
    }

    async fn warn_admins(&self, balance: i64) -> Result<(), BridgeError> {
        let text = format!(
            "⚠️ The Threema Gateway account {} has {balance} credits left (warning below {}). \
             Every message to a driver costs one; when they run out, messages fail. \
             Top up the account in the Gateway admin panel.",
            self.threema.gateway_id(),
            self.config.threema.credits_warning
        );
        self.notice_admins(&text, &format!("credits-low-{}", now_ms()))
            .await
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
