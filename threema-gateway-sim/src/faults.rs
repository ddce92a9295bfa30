//! Fault injection: per endpoint, replace the answer with a status, delay it, or perform the
//! effect and never answer (the client sees a timeout although the message went out).

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// A fault for one endpoint name (`send_e2e`, `upload_blob`, `pubkeys`, … or `*` for all; the
/// names are listed in the README).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fault {
    /// Answer with this status instead of handling the request (no side effects).
    pub status: Option<u16>,
    /// Wait this long (real time, not scaled) before handling the request.
    #[serde(rename = "delay_ms", with = "crate::serde_util::opt_millis")]
    pub delay: Option<Duration>,
    /// Apply to this many requests, then disappear; `None`: until cleared.
    pub times: Option<u32>,
    /// Handle the request (deliver, debit) but never answer: the client times out.
    pub accept_then_timeout: bool,
    /// Handle the request, then wait this long (real time) before answering: the phone may
    /// react before the client learns the message went out.
    #[serde(rename = "answer_delay_ms", with = "crate::serde_util::opt_millis")]
    pub answer_delay: Option<Duration>,
    /// Apply only to this fraction of matching requests (drawn from the simulator's RNG).
    pub probability: Option<f64>,
    /// Answer 200 with this many zero bytes instead of handling the request (a blob far larger
    /// than its file message says).
    pub body_bytes: Option<u64>,
}

impl Fault {
    /// Answer every matching request with `status`.
    pub fn status(status: u16) -> Self {
        Fault {
            status: Some(status),
            ..Fault::default()
        }
    }

    /// Delay every matching request.
    pub fn delay(delay: Duration) -> Self {
        Fault {
            delay: Some(delay),
            ..Fault::default()
        }
    }

    /// Perform the effect of every matching request, then never answer.
    pub fn accept_then_timeout() -> Self {
        Fault {
            accept_then_timeout: true,
            ..Fault::default()
        }
    }

    /// Perform the effect of every matching request, then answer `delay` late.
    pub fn answer_after(delay: Duration) -> Self {
        Fault {
            answer_delay: Some(delay),
            ..Fault::default()
        }
    }

    /// Answer every matching request with `n` zero bytes.
    pub fn body_bytes(n: u64) -> Self {
        Fault {
            body_bytes: Some(n),
            ..Fault::default()
        }
    }

    /// Limit the fault to the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

#[derive(Default)]
pub(crate) struct Faults {
    entries: Vec<(String, Fault)>,
}

impl Faults {
    /// One fault per endpoint name; a new one replaces the old.
    pub(crate) fn insert(&mut self, endpoint: &str, fault: Fault) {
        self.entries.retain(|(name, _)| name != endpoint);
        self.entries.push((endpoint.to_owned(), fault));
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn list(&self) -> Vec<(String, Fault)> {
        self.entries.clone()
    }

    /// The fault that applies to this request, if any; consumes one of its `times`. An exact
    /// endpoint name wins over `*`.
    pub(crate) fn take(&mut self, endpoint: &str, rng: &mut impl Rng) -> Option<Fault> {
        let index = self
            .entries
            .iter()
            .position(|(name, _)| name == endpoint)
            .or_else(|| self.entries.iter().position(|(name, _)| name == "*"))?;
        let fault = &mut self.entries[index].1;
        if let Some(p) = fault.probability
            && !rng.random_bool(p.clamp(0.0, 1.0))
        {
            return None;
        }
        let applied = fault.clone();
        if let Some(times) = &mut fault.times {
            *times = times.saturating_sub(1);
            if *times == 0 {
                self.entries.remove(index);
            }
        }
        Some(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn times_counts_down_and_exact_name_beats_wildcard() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut faults = Faults::default();
        faults.insert("*", Fault::status(503));
        faults.insert("send_e2e", Fault::status(500).times(2));
        assert_eq!(faults.take("send_e2e", &mut rng).unwrap().status, Some(500));
        assert_eq!(faults.take("send_e2e", &mut rng).unwrap().status, Some(500));
        assert_eq!(faults.take("send_e2e", &mut rng).unwrap().status, Some(503));
        assert_eq!(faults.take("credits", &mut rng).unwrap().status, Some(503));
        faults.clear();
        assert!(faults.take("credits", &mut rng).is_none());
    }
}
