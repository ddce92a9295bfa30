//! Counters for assertions and benchmarks (§9.5).

use std::collections::BTreeMap;

use serde::Serialize;

/// A snapshot of the simulator's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Metrics {
    /// Answered API requests per endpoint name and HTTP status.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Credits debited since start or reset.
    pub credits_used: i64,
    /// Messages handed to simulated phones by the API.
    pub messages_to_users: u64,
    /// Messages the phones sent towards the Gateway ID (queued for callback).
    pub messages_from_users: u64,
    pub callbacks_attempted: u64,
    pub callbacks_delivered: u64,
    pub callbacks_discarded: u64,
}

impl Metrics {
    /// How many requests to `endpoint` were answered with `status`.
    pub fn count(&self, endpoint: &str, status: u16) -> u64 {
        self.requests
            .get(endpoint)
            .and_then(|by_status| by_status.get(&status))
            .copied()
            .unwrap_or(0)
    }

    pub(crate) fn record(&mut self, endpoint: &str, status: u16) {
        *self
            .requests
            .entry(endpoint.to_owned())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }
}
