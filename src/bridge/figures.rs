//! What `/metrics` shows of the bridge's state that is not counted as it happens: the durable
//! queues, the directory, broadcasts and the credit balance, read when Prometheus scrapes.

use std::{sync::atomic::Ordering, time::Duration};

use super::Bridge;
use crate::{
    metrics::Figures,
    store::{StoreError, now_ms},
};

/// A scrape does not wait longer for the database than Prometheus waits for it (10 s by
/// default): the counters and the process figures come without the store's part.
const STORE_WAIT: Duration = Duration::from_secs(3);

/// The store's part of a scrape.
struct StoreFigures {
    queues: Vec<(&'static str, i64, Option<Duration>)>,
    people: Vec<((&'static str, &'static str), i64)>,
    broadcasts_in_flight: i64,
    directory_last_sync: Option<i64>,
}

impl Bridge {
    /// The text of `GET /metrics`. What the database cannot say in time is left out (and
    /// logged); the rest is always there.
    pub async fn metrics_text(&self) -> String {
        let store = match tokio::time::timeout(STORE_WAIT, self.store_figures()).await {
            Ok(Ok(figures)) => Some(figures),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "/metrics without the database's figures");
                None
            }
            Err(_) => {
                tracing::warn!(
                    "/metrics without the database's figures: it did not answer in time"
                );
                None
            }
        };
        let (queues, people, broadcasts_in_flight, directory_last_sync) = match store {
            Some(s) => (
                s.queues,
                s.people,
                Some(s.broadcasts_in_flight),
                s.directory_last_sync,
            ),
            None => Default::default(),
        };
        let figures = Figures {
            queues,
            people,
            broadcasts_in_flight,
            credits: self.credits.balance(),
            credits_warning: self.config.threema.credits_warning,
            serving: self.started.load(Ordering::Relaxed),
            directory_last_sync,
            role: self.store.fence().role(),
        };
        self.metrics.render(&figures)
    }

    async fn store_figures(&self) -> Result<StoreFigures, StoreError> {
        let now = now_ms();
        let queues = (self.store.queue_figures().await?)
            .into_iter()
            .map(|(queue, waiting, oldest_ms)| {
                let age = oldest_ms.map(|at| Duration::from_millis((now - at).max(0) as u64));
                (queue, waiting, age)
            })
            .collect();
        let today = self.config.bridge.timezone.today();
        let mut people = std::collections::BTreeMap::new();
        for stored in self.store.employees().await? {
            let employee = &stored.employee;
            let state = if employee.removed {
                "removed"
            } else if employee.is_active_on(today) {
                "active"
            } else {
                "inactive"
            };
            *people
                .entry((employee.record.role.as_str(), state))
                .or_insert(0) += 1;
        }
        Ok(StoreFigures {
            queues,
            people: people.into_iter().collect(),
            broadcasts_in_flight: self.store.broadcasts_in_flight().await?,
            directory_last_sync: self.last_sync().await?,
        })
    }

    /// When the directory last synced, while there is one: a directory switched off is not
    /// stale.
    async fn last_sync(&self) -> Result<Option<i64>, StoreError> {
        if !self.config.directory.enabled() {
            return Ok(None);
        }
        let at = self
            .store
            .state_get(super::directory::sync::LAST_SYNC)
            .await?;
        Ok(at.and_then(|at| at.parse().ok()))
    }
}
