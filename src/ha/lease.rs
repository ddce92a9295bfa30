//! Taking and keeping the lease: the active renews it every third of `ha.lease_seconds`, and
//! stops calling out two thirds into a period it could not renew, a third before a standby may
//! take over; a standby asks again when the lease runs out (at least every third).

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Fence;
use crate::{
    metrics::Metrics,
    store::{Store, StoreError},
};

/// The lease, as this process holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub token: i64,
    until: Instant,
}

/// Why a term as the active process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Taken over, or not renewed in time: back to standby.
    Lost,
    Shutdown,
}

pub struct Lease {
    store: Store,
    /// Who this process is in the lease row (see [`holder`]).
    holder: String,
    period: Duration,
    fence: Arc<Fence>,
    metrics: Arc<Metrics>,
}

impl Lease {
    pub fn new(
        store: Store,
        holder: String,
        period: Duration,
        fence: Arc<Fence>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Lease {
            store,
            holder,
            period,
            fence,
            metrics,
        }
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn every(&self) -> Duration {
        self.period / 3
    }

    /// Until when a lease asked for at `asked` may be used: a third short of its end, for the
    /// time the request took, for the renewals that may fail and for clock drift.
    fn deadline(&self, asked: Instant) -> Instant {
        asked + self.period * 2 / 3
    }

    /// Asks once. `None`: another process holds it.
    pub async fn try_take(&self) -> Result<Option<Held>, StoreError> {
        let asked = Instant::now();
        let token = self.store.lease_take(&self.holder, self.period).await?;
        Ok(token.map(|token| Held {
            token,
            until: self.deadline(asked),
        }))
    }

    /// Standby until the lease is this process's (`None`: shut down first); then active.
    pub async fn take(&self, shutdown: &CancellationToken) -> Option<Held> {
        self.fence.stand_by();
        loop {
            match self.try_take().await {
                Ok(Some(held)) => {
                    self.fence.activate(held.token, held.until);
                    return Some(held);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot ask for the lease; standby"),
            }
            // Asked again as the lease runs out, so a dead active is replaced within the
            // period, and at least every third of it.
            let runs_out = match self.store.lease_holder().await {
                Ok(Some(held)) => Duration::from_millis(held.expires_in_ms.max(0) as u64 + 20),
                _ => self.every(),
            };
            let wait = runs_out.clamp(Duration::from_millis(100), self.every());
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Active with `held` until the lease is lost or `shutdown`; renews it meanwhile.
    pub async fn hold(&self, held: Held, shutdown: &CancellationToken) -> Ended {
        let token = held.token;
        let mut until = held.until;
        self.fence.activate(token, until);
        self.metrics.ha_took_over();
        // Renewed at once: the startup or the takeover may have used part of the period.
        let mut next = Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ended::Shutdown,
                _ = tokio::time::sleep_until(next) => {}
            }
            let asked = Instant::now();
            // Late is fine: the row only renews while the token is still this process's.
            let renewal = self.store.lease_renew(&self.holder, token, self.period);
            match tokio::time::timeout(self.every(), renewal).await {
                Ok(Ok(true)) => {
                    until = self.deadline(asked);
                    self.fence.activate(token, until);
                    self.metrics.ha_renewed();
                    next = asked + self.every();
                    continue;
                }
                Ok(Ok(false)) => {
                    tracing::error!(token, "another process took the lease over: standby");
                    return self.lost();
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew the lease; trying again"),
                Err(_) => tracing::warn!("the database did not answer the lease's renewal in time"),
            }
            if Instant::now() >= until {
                tracing::error!(token, "the lease could not be renewed in time: standby");
                return self.lost();
            }
            next = Instant::now() + Duration::from_secs(1);
        }
    }

    /// No more outside calls; the caller lets the workers finish, then stands by.
    fn lost(&self) -> Ended {
        self.fence.stop_calls();
        self.metrics.ha_lost();
        Ended::Lost
    }

    /// Gives the lease up after a clean shutdown's last work, so a standby need not wait.
    pub async fn release(&self, held: Held) {
        self.fence.stand_by();
        if let Err(e) = self.store.lease_release(&self.holder, held.token).await {
            tracing::warn!(error = %e, "cannot give the lease up; it runs out by itself");
        }
    }
}

/// This process's name in the lease row: the host's name and the appservice address it
/// listens on, with the machine's boot and the network namespace it listens in. Only one live
/// process can listen on one address in one namespace, so a row under this name is a dead
/// predecessor's, and a restart takes the lease at once instead of waiting for it to run out.
/// Where the system does not say, the name is this process's alone (no shortcut).
pub fn holder(listen: std::net::SocketAddr) -> String {
    let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_owned());
    let host = read("/proc/sys/kernel/hostname").unwrap_or_else(|_| "localhost".into());
    let namespace = std::fs::read_link("/proc/self/ns/net").map(|l| l.display().to_string());
    match (read("/proc/sys/kernel/random/boot_id"), namespace) {
        (Ok(boot), Ok(namespace)) => format!("{host} {listen} boot {boot} {namespace}"),
        _ => format!(
            "{host} {listen} process {}",
            hex::encode(rand::random::<[u8; 8]>())
        ),
    }
}
