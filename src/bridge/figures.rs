//! What `/metrics` shows of the bridge's state that is not counted as it happens: the durable
//! queues, the directory, broadcasts and the credit balance, read when Prometheus scrapes.

use std::{sync::atomic::Ordering, time::Duration};

use super::{Bridge, BridgeError, directory::today};
use crate::{metrics::Figures, store::now_ms};

impl Bridge {
    /// The text of `GET /metrics`.
    pub async fn metrics_text(&self) -> Result<String, BridgeError> {
        let now = now_ms();
        let queues = (self.store.queue_figures().await?)
            .into_iter()
            .map(|(queue, waiting, oldest_ms)| {
                let age = oldest_ms.map(|at| Duration::from_millis((now - at).max(0) as u64));
                (queue, waiting, age)
            })
            .collect();
        let today = today();
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
        let figures = Figures {
            queues,
            people: people.into_iter().collect(),
            broadcasts_in_flight: self.store.broadcasts_in_flight().await?,
            credits: self.credits.balance(),
            credits_warning: self.config.threema.credits_warning,
            up: self.started.load(Ordering::Relaxed),
        };
        Ok(self.metrics.render(&figures))
    }
}
