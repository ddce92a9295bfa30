//! `broadcast:`: how a broadcast is confirmed, how fast it fans out, when the desk is warned
//! about unread ones.

use std::time::Duration;

use super::Checker;
use crate::config::{BroadcastConfig, Confirm, RawBroadcast};

pub(super) fn check(c: &mut Checker, raw: &RawBroadcast) -> Option<BroadcastConfig> {
    let confirm = confirm(c, &raw.confirm);
    let rate_per_second = match raw.rate_per_second {
        Some(rate) if !(rate >= 0.0 && rate.is_finite()) => c.fail(
            "broadcast.rate_per_second",
            format!("{rate} is not a rate (0 for no limit)"),
        ),
        rate => Some(rate.unwrap_or(0.0)),
    };
    let escalate_below_percent = match raw.escalate_below_percent {
        Some(p) if p > 100 => c.fail(
            "broadcast.escalate_below_percent",
            format!("{p} is over 100"),
        ),
        p => Some(p.unwrap_or(80)),
    };
    Some(BroadcastConfig {
        confirm: confirm?,
        concurrency: raw.concurrency.unwrap_or(8).max(1),
        rate_per_second: rate_per_second?,
        board_interval: Duration::from_millis(raw.board_interval_ms.unwrap_or(2000).max(100)),
        board_unread_names: raw.board_unread_names.unwrap_or(20),
        escalate_after: raw
            .escalate_after_minutes
            .filter(|&m| m > 0.0 && m.is_finite())
            .map(|m| Duration::from_secs_f64(m * 60.0)),
        escalate_below_percent: escalate_below_percent?,
    })
}

/// `broadcast.confirm`, matched by hand so a bad word is a problem named by its key among the
/// others, not a parse error that stops the check.
fn confirm(c: &mut Checker, value: &Option<String>) -> Option<Confirm> {
    match value.as_deref() {
        None | Some("each") => Some(Confirm::Each),
        Some("once") => Some(Confirm::Once),
        Some(other) => c.fail(
            "broadcast.confirm",
            format!("{other:?} is neither \"each\" nor \"once\""),
        ),
    }
}
