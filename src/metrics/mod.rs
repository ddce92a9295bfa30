//! The bridge's Prometheus metrics. One registry per bridge (the tests run several in one
//! process), counted where things happen; what the store knows (queue depths, the directory)
//! is read when Prometheus scrapes. Every name starts with `threema_bridge_`; every label is a
//! closed set of words, never an ID, a name or a number, so no personal data reaches a label.

mod process;

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A driver's message into a portal.
    ToMatrix,
    /// A dispatcher's message to a phone.
    ToThreema,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ToMatrix => "to_matrix",
            Direction::ToThreema => "to_threema",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    direction: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    direction: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    queue: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueOutcomeLabels {
    queue: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    endpoint: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RoleLabels {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeopleLabels {
    role: &'static str,
    state: &'static str,
}

/// Requests to one peer (the homeserver or the Gateway) by endpoint and status: a handle the
/// clients keep, unregistered (counting into nothing) unless the bridge gave them its own.
#[derive(Clone, Default)]
pub struct Requests(Family<RequestLabels, Counter>);

impl Requests {
    pub fn count(&self, endpoint: &'static str, status: &'static str) {
        self.0
            .get_or_create(&RequestLabels { endpoint, status })
            .inc();
    }
}

/// What is read at each scrape rather than counted as it happens.
#[derive(Debug, Default)]
pub struct Figures {
    /// Per durable queue: items waiting, and how long the oldest has waited.
    pub queues: Vec<(&'static str, i64, Option<Duration>)>,
    /// Employees per role and state.
    pub people: Vec<((&'static str, &'static str), i64)>,
    /// `None` when the store did not answer (left out, like the queues and the directory).
    pub broadcasts_in_flight: Option<i64>,
    /// The Gateway's credit balance as last read, if it was.
    pub credits: Option<i64>,
    /// `threema.credits_warning`: below it the admins are warned (and an alert may fire).
    pub credits_warning: i64,
    /// The startup is done: the bridge serves.
    pub serving: bool,
    /// When the last directory sync succeeded (Unix seconds), if one did.
    pub directory_last_sync: Option<i64>,
    /// Active or standby (a process alone on its database is active).
    pub role: crate::ha::Role,
}

/// The durable queues, by their runners' names.
const QUEUES: [&str; 5] = ["matrix", "threema", "outbox", "broadcast", "webhooks"];
/// Why a Gateway callback is refused.
const REFUSED_CALLBACKS: [&str; 6] = [
    "bad_mac",
    "wrong_recipient",
    "malformed",
    "too_large",
    "timeout",
    "blocked",
];
/// How a directory sync ends.
const SYNC_RESULTS: [&str; 4] = ["ok", "partial", "refused", "failed"];

/// A gauge without labels that can have no sample: a value not known is left out of the scrape,
/// not shown as 0 (a family without labels, as the crate has no optional gauge).
type MaybeGauge = Family<Vec<(String, String)>, Gauge>;

fn set_or_leave_out(gauge: &MaybeGauge, value: Option<i64>) {
    match value {
        Some(value) => {
            gauge.get_or_create(&Vec::new()).set(value);
        }
        None => gauge.clear(),
    }
}

fn latency() -> Histogram {
    // 10 ms … ~44 min: a message through the bridge in seconds, and through an outage of the
    // Gateway or the homeserver (retried, not lost) in minutes.
    Histogram::new(exponential_buckets(0.01, 2.0, 19))
}

pub struct Metrics {
    registry: Registry,
    bridged: Family<MessageLabels, Counter>,
    failed: Family<FailureLabels, Counter>,
    outcome_unknown: Counter,
    to_matrix_latency: Histogram,
    to_threema_latency: Histogram,
    receipt_latency: Histogram,
    queue_items: Family<QueueOutcomeLabels, Counter>,
    queue_retries: Family<QueueLabels, Counter>,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_oldest: Family<QueueLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub homeserver_requests: Requests,
    pub gateway_requests: Requests,
    callbacks_refused: Family<ReasonLabels, Counter>,
    /// No sample until the balance was read once: an unknown balance is not a zero one.
    credits: MaybeGauge,
    credits_warning: Gauge,
    directory_syncs: Family<ResultLabels, Counter>,
    /// No sample before the first successful sync.
    directory_last_sync: MaybeGauge,
    people: Family<PeopleLabels, Gauge>,
    broadcasts_in_flight: MaybeGauge,
    serving: Gauge,
    ha_role: Family<RoleLabels, Gauge>,
    ha_takeovers: Counter,
    ha_renewals: Counter,
    ha_losses: Counter,
    /// Outside calls not made because this process did not hold the lease (given to its
    /// [`crate::ha::Fence`]).
    pub ha_fenced_calls: Counter,
    inbox_alerts: Family<AlertLabels, Counter>,
    /// One scrape at a time: each rewrites the gauges read from the store.
    rendering: std::sync::Mutex<()>,
    process: process::ProcessMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("threema_bridge");
        let metrics = Metrics {
            bridged: Family::default(),
            failed: Family::default(),
            outcome_unknown: Counter::default(),
            to_matrix_latency: latency(),
            to_threema_latency: latency(),
            receipt_latency: latency(),
            queue_items: Family::default(),
            queue_retries: Family::default(),
            queue_depth: Family::default(),
            queue_oldest: Family::default(),
            homeserver_requests: Requests::default(),
            gateway_requests: Requests::default(),
            callbacks_refused: Family::default(),
            credits: Family::default(),
            credits_warning: Gauge::default(),
            directory_syncs: Family::default(),
            directory_last_sync: Family::default(),
            people: Family::default(),
            broadcasts_in_flight: Family::default(),
            serving: Gauge::default(),
            ha_role: Family::default(),
            ha_takeovers: Counter::default(),
            ha_renewals: Counter::default(),
            ha_losses: Counter::default(),
            ha_fenced_calls: Counter::default(),
            inbox_alerts: Family::default(),
            rendering: Default::default(),
            process: process::ProcessMetrics::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "messages_bridged",
            "Messages bridged, per direction and kind",
            metrics.bridged.clone(),
        );
        r.register(
            "messages_failed",
            "Messages not bridged, per direction and reason",
            metrics.failed.clone(),
        );
        r.register(
            "outbox_outcome_unknown",
            "Sends to the Gateway that got no answer (may or may not have arrived; never repeated by themselves)",
            metrics.outcome_unknown.clone(),
        );
        r.register_with_unit(
            "threema_to_matrix_latency",
            "From a Gateway callback received to the driver's message in the portal",
            Unit::Seconds,
            metrics.to_matrix_latency.clone(),
        );
        r.register_with_unit(
            "matrix_to_threema_latency",
            "From the homeserver's transaction received to the Gateway accepting the message",
            Unit::Seconds,
            metrics.to_threema_latency.clone(),
        );
        r.register_with_unit(
            "receipt_to_marker_latency",
            "From a phone's delivery receipt received to its marker in the portal",
            Unit::Seconds,
            metrics.receipt_latency.clone(),
        );
        r.register(
            "queue_items",
            "Items of the durable queues handled, per queue and outcome",
            metrics.queue_items.clone(),
        );
        r.register(
            "queue_retries",
            "Attempts of queue items that failed transiently and wait to be retried",
            metrics.queue_retries.clone(),
        );
        r.register(
            "queue_depth",
            "Items waiting in each durable queue",
            metrics.queue_depth.clone(),
        );
        r.register_with_unit(
            "queue_oldest_age",
            "How long the oldest waiting item of each durable queue has waited (0 when empty)",
            Unit::Seconds,
            metrics.queue_oldest.clone(),
        );
        r.register(
            "homeserver_requests",
            "Requests to the homeserver, per endpoint and status",
            metrics.homeserver_requests.0.clone(),
        );
        r.register(
            "gateway_requests",
            "Requests to the Threema Gateway, per endpoint and status",
            metrics.gateway_requests.0.clone(),
        );
        r.register(
            "callbacks_refused",
            "Gateway callbacks refused, per reason",
            metrics.callbacks_refused.clone(),
        );
        r.register(
            "gateway_credits",
            "The Gateway account's credit balance: as last read, less the messages sent since",
            metrics.credits.clone(),
        );
        r.register(
            "gateway_credits_warning",
            "The balance below which the admins are warned (threema.credits_warning)",
            metrics.credits_warning.clone(),
        );
        r.register(
            "directory_syncs",
            "Directory syncs, per result",
            metrics.directory_syncs.clone(),
        );
        r.register_with_unit(
            "directory_last_sync_timestamp",
            "When the last directory sync succeeded (Unix time)",
            Unit::Seconds,
            metrics.directory_last_sync.clone(),
        );
        r.register(
            "directory_people",
            "People in the employee directory, per role and state",
            metrics.people.clone(),
        );
        r.register(
            "broadcasts_in_flight",
            "Broadcasts with copies still to send",
            metrics.broadcasts_in_flight.clone(),
        );
        r.register(
            "serving",
            "1 once the bridge's startup is done (the homeserver reached it, the bot exists)",
            metrics.serving.clone(),
        );
        r.register(
            "ha_role",
            "1 for this process's role: active (does the work) or standby (stores what is pushed to it)",
            metrics.ha_role.clone(),
        );
        r.register(
            "inbox_alerts",
            "Shared inbox alerts in the desk rooms: late (unanswered too long), escalated (to the admins), urgent",
            metrics.inbox_alerts.clone(),
        );
        r.register(
            "ha_takeovers",
            "Times this process took the lease and became active",
            metrics.ha_takeovers.clone(),
        );
        r.register(
            "ha_lease_renewals",
            "Renewals of the lease by this process while active",
            metrics.ha_renewals.clone(),
        );
        r.register(
            "ha_lease_losses",
            "Times this process lost the lease (taken over, or not renewed in time)",
            metrics.ha_losses.clone(),
        );
        r.register(
            "ha_fenced_calls",
            "Gateway sends and homeserver writes not made because this process did not hold the lease",
            metrics.ha_fenced_calls.clone(),
        );
        metrics.process.register(r);
        // The usual `_info` series: always 1, the release in its label.
        let build = Family::<BuildLabels, Gauge>::default();
        let version = env!("CARGO_PKG_VERSION");
        build.get_or_create(&BuildLabels { version }).set(1);
        r.register("build_info", "The running release of threema-bridge", build);
        // The closed sets start at zero, so that `increase()` and `rate()` see the first event
        // of each (a series that appears with 1 has not increased to Prometheus).
        for queue in QUEUES {
            for outcome in ["bridged", "skipped", "refused", "held", "failed"] {
                let labels = QueueOutcomeLabels { queue, outcome };
                metrics.queue_items.get_or_create(&labels).inc_by(0);
            }
            metrics
                .queue_retries
                .get_or_create(&QueueLabels { queue })
                .inc_by(0);
        }
        for reason in REFUSED_CALLBACKS {
            let labels = ReasonLabels { reason };
            metrics.callbacks_refused.get_or_create(&labels).inc_by(0);
        }
        for result in SYNC_RESULTS {
            let labels = ResultLabels { result };
            metrics.directory_syncs.get_or_create(&labels).inc_by(0);
        }
        Metrics {
            registry,
            ..metrics
        }
    }

    pub fn bridged(&self, direction: Direction, kind: &'static str) {
        let labels = MessageLabels {
            direction: direction.as_str(),
            kind,
        };
        self.bridged.get_or_create(&labels).inc();
    }

    pub fn failed(&self, direction: Direction, reason: &'static str) {
        let labels = FailureLabels {
            direction: direction.as_str(),
            reason,
        };
        self.failed.get_or_create(&labels).inc();
    }

    pub fn outcome_unknown(&self) {
        self.outcome_unknown.inc();
    }

    /// A driver's message is in the portal, `since` after its callback arrived.
    pub fn reached_portal(&self, since: Duration) {
        self.to_matrix_latency.observe(since.as_secs_f64());
    }

    /// The Gateway accepted a dispatcher's message, `since` after its transaction arrived.
    pub fn reached_gateway(&self, since: Duration) {
        self.to_threema_latency.observe(since.as_secs_f64());
    }

    /// A phone's receipt shows in the portal, `since` after it arrived.
    pub fn receipt_shown(&self, since: Duration) {
        self.receipt_latency.observe(since.as_secs_f64());
    }

    pub fn queue_item(&self, queue: &'static str, outcome: &'static str) {
        let labels = QueueOutcomeLabels { queue, outcome };
        self.queue_items.get_or_create(&labels).inc();
    }

    pub fn queue_retry(&self, queue: &'static str) {
        self.queue_retries
            .get_or_create(&QueueLabels { queue })
            .inc();
    }

    pub fn callback_refused(&self, reason: &'static str) {
        let labels = ReasonLabels { reason };
        self.callbacks_refused.get_or_create(&labels).inc();
    }

    /// A desk-room alert of the shared inbox: `late`, `escalated` or `urgent`.
    pub fn inbox_alert(&self, kind: &'static str) {
        self.inbox_alerts.get_or_create(&AlertLabels { kind }).inc();
    }

    pub fn ha_took_over(&self) {
        self.ha_takeovers.inc();
    }

    pub fn ha_renewed(&self) {
        self.ha_renewals.inc();
    }

    pub fn ha_lost(&self) {
        self.ha_losses.inc();
    }

    /// A directory sync ended: ok, partial, refused (the safety stop) or failed.
    pub fn directory_sync(&self, result: &'static str) {
        let labels = ResultLabels { result };
        self.directory_syncs.get_or_create(&labels).inc();
    }

    /// The text Prometheus scrapes (OpenMetrics), with what the store knows as of now.
    pub fn render(&self, figures: &Figures) -> String {
        let _one_at_a_time = self.rendering.lock().expect("render lock");
        // What the store could not say this time is left out, not shown as it was.
        self.queue_depth.clear();
        self.queue_oldest.clear();
        for &(queue, depth, oldest) in &figures.queues {
            let labels = QueueLabels { queue };
            self.queue_depth.get_or_create(&labels).set(depth);
            let age = oldest.map_or(0.0, |d| d.as_secs_f64());
            self.queue_oldest.get_or_create(&labels).set(age);
        }
        self.people.clear();
        for &((role, state), n) in &figures.people {
            let labels = PeopleLabels { role, state };
            self.people.get_or_create(&labels).set(n);
        }
        set_or_leave_out(&self.broadcasts_in_flight, figures.broadcasts_in_flight);
        // Once read, a balance stays known: an unread one leaves the last value.
        if figures.credits.is_some() {
            set_or_leave_out(&self.credits, figures.credits);
        }
        self.credits_warning.set(figures.credits_warning);
        self.serving.set(i64::from(figures.serving));
        for role in [crate::ha::Role::Active, crate::ha::Role::Standby] {
            let labels = RoleLabels {
                role: role.as_str(),
            };
            let this = i64::from(role == figures.role);
            self.ha_role.get_or_create(&labels).set(this);
        }
        set_or_leave_out(&self.directory_last_sync, figures.directory_last_sync);
        self.process.refresh();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An HTTP status as a label: the codes the bridge meets by themselves, the rest by class.
pub fn status_label(status: http::StatusCode) -> &'static str {
    const NAMED: [&str; 12] = [
        "200", "400", "401", "403", "404", "409", "413", "429", "500", "502", "503", "504",
    ];
    let code = status.as_u16();
    if let Some(named) = NAMED.iter().find(|n| n.parse() == Ok(code)) {
        return named;
    }
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scrape_carries_the_prefix_base_units_and_what_was_counted() {
        let metrics = Metrics::new();
        metrics.bridged(Direction::ToMatrix, "text");
        metrics.bridged(Direction::ToMatrix, "text");
        metrics.reached_portal(Duration::from_millis(250));
        metrics
            .homeserver_requests
            .count("membership::join_room_by_id", "200");
        let figures = Figures {
            queues: vec![("outbox", 3, Some(Duration::from_secs(90)))],
            people: vec![(("driver", "active"), 7)],
            credits_warning: 100,
            serving: true,
            directory_last_sync: Some(1_800_000_000),
            ..Figures::default()
        };
        let text = metrics.render(&figures);
        for line in [
            r#"threema_bridge_messages_bridged_total{direction="to_matrix",kind="text"} 2"#,
            "threema_bridge_threema_to_matrix_latency_seconds_count 1",
            r#"threema_bridge_queue_depth{queue="outbox"} 3"#,
            r#"threema_bridge_queue_oldest_age_seconds{queue="outbox"} 90.0"#,
            r#"threema_bridge_directory_people{role="driver",state="active"} 7"#,
            r#"threema_bridge_homeserver_requests_total{endpoint="membership::join_room_by_id",status="200"} 1"#,
            "threema_bridge_gateway_credits_warning 100",
            "threema_bridge_serving 1",
            concat!(
                r#"threema_bridge_build_info{version=""#,
                env!("CARGO_PKG_VERSION"),
                r#""} 1"#
            ),
            "threema_bridge_directory_last_sync_timestamp_seconds 1800000000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        // A balance never read has no sample (it is not zero).
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("threema_bridge_gateway_credits "))
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("threema_bridge_"), "{line}");
        }
        assert_eq!(text.lines().last(), Some("# EOF"));
    }

    #[test]
    fn statuses_are_a_closed_set() {
        assert_eq!(status_label(http::StatusCode::TOO_MANY_REQUESTS), "429");
        assert_eq!(status_label(http::StatusCode::IM_A_TEAPOT), "4xx");
        assert_eq!(status_label(http::StatusCode::INSUFFICIENT_STORAGE), "5xx");
    }
}
