//! The Gateway account's credit balance: read now and then, warned about when low, shown in
//! `/ready`. Every message sent (receipts included) and every blob costs a credit.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use super::{BridgeError, Notices};
use crate::{store::now_ms, threema::ThreemaClient};

const CHECK_EVERY: Duration = Duration::from_secs(600);

/// Balance unknown (not read yet, or the Gateway did not answer).
const UNKNOWN: i64 = i64::MIN;

/// The balance as last read and counted down since, and whether the admins were told it is low
/// (told again once it recovered and fell again).
pub struct Credits {
    threema: Arc<ThreemaClient>,
    /// The warning's words, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
    /// Where the low-balance warning goes (the admins' management rooms).
    notices: Arc<Notices>,
    warn_below: i64,
    balance: AtomicI64,
    warned: AtomicBool,
}

/// A balance read that fell below the warning threshold for the first time.
struct Low(i64);

impl Credits {
    pub fn new(
        threema: Arc<ThreemaClient>,
        notices: Arc<Notices>,
        warn_below: i64,
        texts: Arc<crate::texts::Texts>,
    ) -> Self {
        Credits {
            threema,
            texts,
            notices,
            warn_below,
            balance: AtomicI64::new(UNKNOWN),
            warned: AtomicBool::new(false),
        }
    }

    /// The last balance read, if any.
    pub fn balance(&self) -> Option<i64> {
        Some(self.balance.load(Ordering::Relaxed)).filter(|&c| c != UNKNOWN)
    }

    /// Reads the balance; `Low` when the admins are to be told now.
    async fn read(&self) -> Result<(i64, Option<Low>), crate::threema::ThreemaError> {
        let balance = self.threema.credits().await?;
        self.balance.store(balance, Ordering::Relaxed);
        if balance >= self.warn_below {
            self.warned.store(false, Ordering::Relaxed);
            tracing::info!(balance, "Threema Gateway credits");
            return Ok((balance, None));
        }
        tracing::warn!(
            balance,
            warn_below = self.warn_below,
            "Threema Gateway credits are running low"
        );
        let first = !self.warned.swap(true, Ordering::Relaxed);
        Ok((balance, first.then_some(Low(balance))))
    }

    /// One message sent costs one credit: counts down the last balance read. Returns whether
    /// to read it again (the count says it is getting low and nobody was told yet), so the
    /// warning comes before sends fail, without asking the Gateway after every message.
    fn spend_one(&self) -> bool {
        let before = self.balance.load(Ordering::Relaxed);
        if before == UNKNOWN {
            return false;
        }
        self.balance.fetch_sub(1, Ordering::Relaxed);
        before - 1 < self.warn_below && !self.warned.load(Ordering::Relaxed)
    }

    /// Reads the balance now, remembers it and tells the admins once when it falls below
    /// `threema.credits_warning`.
    pub async fn refresh(&self) -> Option<i64> {
        match self.read().await {
            Ok((balance, low)) => {
                if let Some(low) = low
                    && let Err(e) = self.warn_admins(low).await
                {
                    tracing::warn!(error = %e, "cannot tell the admins about low credits");
                    self.warned.store(false, Ordering::Relaxed);
                }
                Some(balance)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the Threema Gateway credit balance");
                None
            }
        }
    }

    /// Counts a message sent (see [`Credits::spend_one`]).
    pub async fn spent(&self) {
        if self.spend_one() {
            self.refresh().await;
        }
    }

    async fn warn_admins(&self, Low(balance): Low) -> Result<(), BridgeError> {
        let text = crate::tr!(
            self.texts,
            "credits-low",
            gateway = self.threema.gateway_id().as_str(),
            balance = balance,
            below = self.warn_below
        );
        self.notices
            .to_admins(&text, &format!("credits-low-{}", now_ms()))
            .await
    }
}

pub async fn watch(credits: Arc<Credits>, shutdown: CancellationToken) {
    loop {
        credits.refresh().await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}
