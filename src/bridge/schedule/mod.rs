//! Scheduled messages: `!at 2027-01-04 05:55 <text>` and `!every mon-fri 05:55 <text>` in a
//! portal or a broadcast room, `!scheduled` and `!cancel <n>` there; the times on the
//! `bridge.timezone` wall clock. Each schedule is a row until its last occurrence went or it
//! was cancelled (the rule and its parsing are pure, in `rule`).
//!
//! An occurrence goes once, whatever crashes: it is marked as being sent (`firing_at`) before
//! anything leaves, the bot's message for it is posted once (its transaction id and a key in
//! its content name the occurrence, and after a crash the room is looked through first), the
//! Threema messages are queued under that message's event (the outbox keeps one row per event
//! and part), and only then does the schedule move on. A crash anywhere repeats steps, never
//! sends twice, and the occurrence still goes when the bridge is back, unless that is more
//! than an hour after its time: then it is skipped and the room told so.
//!
//! In a portal the bot writes the message into the portal, signed by the dispatcher who
//! scheduled it, and queues it for the driver (held for a driver off duty like any message).
//! In a broadcast room the bot posts it there and it starts as a broadcast without asking for
//! a 👍 (the schedule was the confirmation): the room's selection is evaluated then.

pub mod rule;

use std::{sync::Arc, time::Duration};

use bridge_convert::plan::{RelayTemplates, signed_text};
use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomId, UserId};
use serde_json::json;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use rule::{Command, Rule};

use super::{Access, BridgeError, Broadcasts, Notices, Outbox, Outcome, wiring::Shared};
use crate::bridge::matrix_to_threema::outbox::With;
use crate::{
    config::{Config, Level},
    matrix::MatrixClient,
    store::{NewSchedule, Schedule, Store, now_ms},
    texts::Texts,
    threema::ThreemaId,
    tr,
    zone::Zone,
};

/// How late an occurrence still goes (the bridge was not running at its time).
const MAX_LATE_MS: i64 = 3_600_000;
/// After an occurrence could not go for a passing reason, the next try.
const RETRY_MS: i64 = 10_000;

/// When to look at the schedules again.
enum Due {
    /// At the next occurrence (`None`: none is scheduled).
    Next(Option<i64>),
    /// Soon: something could not go.
    Retry,
}
/// Names the occurrence a bot's message was posted for, so that a post whose answer was lost
/// is found again.
const SCHEDULE_KEY: &str = "org.threema_bridge.schedule";
/// A test clock: the bridge's "now" for schedules is this far ahead of the system clock
/// (`THREEMA_BRIDGE_CLOCK_OFFSET_MS`), so a test reaches a due time without waiting for it.
const CLOCK_OFFSET_VAR: &str = "THREEMA_BRIDGE_CLOCK_OFFSET_MS";

/// Where a schedule was asked for, by whom, when.
#[derive(Clone, Copy)]
struct Asked<'a> {
    room_id: &'a RoomId,
    event_id: &'a EventId,
    sender: &'a UserId,
    driver: Option<&'a ThreemaId>,
    /// On the schedules' clock.
    written_at: i64,
}

pub struct Schedules {
    store: Store,
    matrix: MatrixClient,
    access: Arc<Access>,
    notices: Arc<Notices>,
    outbox: Arc<Outbox>,
    broadcasts: Arc<Broadcasts>,
    zone: Zone,
    texts: Arc<Texts>,
    /// `bridge.relay_template` and `emote_template`: how messages are signed.
    relay: RelayTemplates,
    offset_ms: i64,
    wake: Notify,
}

impl Schedules {
    pub(in crate::bridge) fn new(
        config: &Config,
        shared: &Shared,
        outbox: Arc<Outbox>,
        broadcasts: Arc<Broadcasts>,
    ) -> Self {
        Schedules {
            store: shared.store.clone(),
            matrix: shared.matrix.clone(),
            access: shared.access.clone(),
            notices: shared.notices.clone(),
            outbox,
            broadcasts,
            zone: config.bridge.timezone.clone(),
            texts: shared.texts.clone(),
            relay: RelayTemplates {
                template: config.bridge.relay_template.clone(),
                emote_template: config.bridge.emote_template.clone(),
            },
            offset_ms: (std::env::var(CLOCK_OFFSET_VAR).ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            wake: Notify::new(),
        }
    }

    /// Now, as schedules count it.
    fn now(&self) -> i64 {
        now_ms() + self.offset_ms
    }

    /// A schedule word (`!at`, `!every`, `!scheduled`, `!cancel`) in `room_id`, a portal of
    /// `driver` or a broadcast room (`None`), by `sender`, who may write there, at
    /// `written_at` (the event's time: a command seen again means what it meant then):
    /// answered in the room. `None` when `body` is something else.
    pub async fn command(
        &self,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
        driver: Option<&ThreemaId>,
        body: &str,
        written_at: i64,
    ) -> Result<Option<Outcome>, BridgeError> {
        let written_at = written_at + self.offset_ms;
        let Some(command) = rule::parse(body, &self.zone, written_at) else {
            return Ok(None);
        };
        let (answer, outcome) = match command {
            Err(problem) => (
                problem.say(&self.texts, &self.zone),
                "schedule command not understood".to_owned(),
            ),
            Ok(Command::List) => (self.list(room_id).await?, "scheduled listed".into()),
            Ok(Command::Cancel(id)) => {
                match self.store.schedule_delete(id, room_id.as_str()).await? {
                    true => {
                        let subject = driver.map_or(room_id.to_string(), |d| d.to_string());
                        (self.store)
                            .audit(
                                sender.as_str(),
                                "schedule.cancelled",
                                &subject,
                                &format!("#{id}"),
                            )
                            .await?;
                        self.wake.notify_one();
                        (
                            tr!(self.texts, "schedule-cancelled", id = id),
                            format!("schedule #{id} cancelled"),
                        )
                    }
                    false => (
                        tr!(self.texts, "schedule-no-such", id = id),
                        "no such schedule".into(),
                    ),
                }
            }
            Ok(Command::Schedule { rule, text }) => {
                let asked = Asked {
                    room_id,
                    event_id,
                    sender,
                    driver,
                    written_at,
                };
                self.schedule(&asked, &rule, &text).await?
            }
        };
        (self.notices)
            .notice(
                room_id,
                Some(event_id),
                &answer,
                &format!("schedule-answer-{event_id}"),
            )
            .await?;
        Ok(Some(Outcome::bridged(outcome)))
    }

    /// Records a schedule (once per command event, even after it went or was cancelled) and
    /// says when it goes.
    async fn schedule(
        &self,
        asked: &Asked<'_>,
        rule: &Rule,
        text: &str,
    ) -> Result<(String, String), BridgeError> {
        let Asked {
            room_id,
            event_id,
            sender,
            driver,
            written_at,
        } = *asked;
        let Some(next_at) = rule.next(&self.zone, written_at) else {
            return Ok((tr!(self.texts, "schedule-never"), "never".into()));
        };
        let sender_name = (self.matrix)
            .member_display_name(room_id, sender)
            .await?
            .unwrap_or_else(|| sender.localpart().to_owned());
        let stored = rule.to_stored();
        let (schedule, new) = (self.store)
            .schedule_insert(&NewSchedule {
                room_id: room_id.as_str(),
                driver: driver.map(ThreemaId::as_str),
                sender: sender.as_str(),
                sender_name: &sender_name,
                body: text,
                rule: &stored,
                next_at,
                command_event: event_id.as_str(),
            })
            .await?;
        if new {
            let subject = driver.map_or(room_id.to_string(), |d| d.to_string());
            // The trail is read by the operator: in English whatever the desk speaks.
            let details = format!(
                "#{} {}",
                schedule.id,
                rule.describe(Texts::english(), &self.zone)
            );
            (self.store)
                .audit(sender.as_str(), "schedule.created", &subject, &details)
                .await?;
        }
        self.wake.notify_one();
        let Some(next) = schedule.next_at else {
            // Seen again after it went or was cancelled: nothing more.
            let answer = tr!(self.texts, "schedule-done", id = schedule.id);
            return Ok((answer, format!("schedule #{} done before", schedule.id)));
        };
        let answer = tr!(
            self.texts,
            "schedule-recorded",
            id = schedule.id,
            rule = rule.describe(&self.texts, &self.zone),
            next = self.texts.day_and_time(&self.zone, next),
        );
        Ok((answer, format!("schedule #{} recorded", schedule.id)))
    }

    /// `!scheduled`: this room's schedules, the next first.
    async fn list(&self, room_id: &RoomId) -> Result<String, BridgeError> {
        let schedules = self.store.schedules_in_room(room_id.as_str()).await?;
        if schedules.is_empty() {
            return Ok(tr!(self.texts, "schedule-none"));
        }
        let mut out = tr!(self.texts, "schedule-list", count = schedules.len());
        for s in &schedules {
            let rule = Rule::from_stored(&s.rule)
                .map_or_else(|| "?".to_owned(), |r| r.describe(&self.texts, &self.zone));
            let text: String = s.body.chars().take(60).collect();
            let more = if s.body.chars().count() > 60 {
                "…"
            } else {
                ""
            };
            out.push('\n');
            out.push_str(&tr!(
                self.texts,
                "schedule-list-line",
                id = s.id,
                rule = rule,
                next = (s.next_at)
                    .map_or_else(String::new, |at| self.texts.day_and_time(&self.zone, at)),
                sender = s.sender_name.as_str(),
                text = format!("{text}{more}"),
            ));
        }
        Ok(out)
    }

    /// Sends what is due until `shutdown` (the active process's only).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let wait = match self.fire_due().await {
                Ok(Due::Next(next)) => next.map_or(60_000, |at| (at - self.now()).clamp(0, 60_000)),
                // What could not go is tried again after a pause, not at once and again.
                Ok(Due::Retry) => RETRY_MS,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the scheduled messages");
                    RETRY_MS
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
    }

    /// Sends every occurrence due now; says when to look again.
    async fn fire_due(&self) -> Result<Due, BridgeError> {
        let mut retry = false;
        for schedule in self.store.schedules_due(self.now()).await? {
            // One failing holds up no other. The homeserver or the database away: tried again
            // shortly. Anything else (its room gone, the bot not let in) will not mend: the
            // schedule ends, and the log says why.
            if let Err(e) = self.fire(&schedule).await {
                if e.is_transient() {
                    tracing::warn!(id = schedule.id, error = %e, "a scheduled message did not go yet");
                    retry = true;
                } else {
                    tracing::warn!(id = schedule.id, error = %e, "a scheduled message cannot go: ended");
                    if let Some(at) = schedule.next_at {
                        self.store.schedule_advance(schedule.id, at, None).await?;
                    }
                }
            }
        }
        Ok(match retry {
            true => Due::Retry,
            false => Due::Next(self.store.schedule_next_due().await?),
        })
    }

    /// One occurrence of `schedule`: sent (or skipped, said), then on to the next.
    async fn fire(&self, schedule: &Schedule) -> Result<(), BridgeError> {
        let Some(at) = schedule.next_at else {
            return Ok(());
        };
        let room = OwnedRoomId::try_from(schedule.room_id.as_str())
            .map_err(|e| BridgeError::BadEvent(format!("schedule room: {e}")))?;
        let Some(rule) = Rule::from_stored(&schedule.rule) else {
            self.store.schedule_advance(schedule.id, at, None).await?;
            return Ok(());
        };
        let now = self.now();
        let next = rule.next(&self.zone, at.max(now));
        let tried = schedule.firing_at == Some(at);
        let txn = |what: &str| format!("schedule-{what}-{}-{at}", schedule.id);
        let due = self.texts.day_and_time(&self.zone, at);
        // Due before the bridge was restored from a backup: it may have gone then. Not again.
        if self.outbox.predates_restore(at - self.offset_ms) {
            let text = tr!(self.texts, "schedule-restored", id = schedule.id, at = due);
            (self.notices)
                .notice(&room, None, &text, &txn("restored"))
                .await?;
            self.store.schedule_advance(schedule.id, at, next).await?;
            return Ok(());
        }
        if now - at > MAX_LATE_MS && !tried {
            let text = tr!(self.texts, "schedule-skipped", id = schedule.id, at = due);
            (self.notices)
                .notice(&room, None, &text, &txn("late"))
                .await?;
            self.store.schedule_advance(schedule.id, at, next).await?;
            return Ok(());
        }
        if let Some(why) = self.refused(schedule).await? {
            let text = tr!(self.texts, "schedule-refused", id = schedule.id, why = why);
            self.notices
                .notice(&room, None, &text, &txn("refused"))
                .await?;
            self.store.schedule_advance(schedule.id, at, None).await?;
            return Ok(());
        }
        self.store.schedule_firing(schedule.id, at).await?;
        match schedule.driver.as_deref().and_then(ThreemaId::parse) {
            Some(driver) => self.to_driver(schedule, &room, &driver, at, tried).await?,
            None => self.to_broadcast(schedule, &room, at, tried).await?,
        }
        self.store.schedule_advance(schedule.id, at, next).await?;
        Ok(())
    }

    /// Why `schedule` may no longer go, if so: its author may not write here any more, or the
    /// driver left or is restricted.
    async fn refused(&self, schedule: &Schedule) -> Result<Option<String>, BridgeError> {
        let texts = &self.texts;
        let Ok(sender) = UserId::parse(schedule.sender.as_str()) else {
            return Ok(Some(tr!(texts, "schedule-author-unknown")));
        };
        let who = sender.as_str();
        let Some(driver) = schedule.driver.as_deref() else {
            let allowed = self.access.level(&sender) >= Level::Dispatcher
                && (self.store.broadcast_room(&schedule.room_id).await?).is_some();
            return Ok((!allowed).then(|| tr!(texts, "schedule-may-not-broadcast", who = who)));
        };
        let Some(driver) = ThreemaId::parse(driver) else {
            return Ok(Some(tr!(texts, "schedule-driver-unknown")));
        };
        Ok(if !self.access.may_see(&sender, &driver) {
            Some(tr!(texts, "schedule-may-not-write", who = who))
        } else if self.access.is_former_driver(&driver) {
            Some(tr!(texts, "driver-left"))
        } else if self.store.is_restricted(driver.as_str()).await? {
            Some(tr!(texts, "driver-restricted"))
        } else {
            None
        })
    }

    /// The bot's message for occurrence `at` of `schedule` in `room`, posted once: its
    /// transaction id and a key in its content name the occurrence, and after a try whose
    /// answer was lost (`tried`) the room is looked through first.
    async fn post(
        &self,
        schedule: &Schedule,
        room: &RoomId,
        body: String,
        at: i64,
        tried: bool,
    ) -> Result<OwnedEventId, BridgeError> {
        let content = json!({
            "msgtype": "m.text",
            "body": body,
            "m.mentions": {},
            SCHEDULE_KEY: format!("{}/{at}", schedule.id),
        });
        let txn = format!("schedule-{}-{at}", schedule.id);
        (self.notices)
            .post_once(room, &content, SCHEDULE_KEY, tried, &txn, async { Ok(()) })
            .await
    }

    /// The bot's message in the portal, then the Threema message queued under it.
    async fn to_driver(
        &self,
        schedule: &Schedule,
        portal: &RoomId,
        driver: &ThreemaId,
        at: i64,
        tried: bool,
    ) -> Result<(), BridgeError> {
        let body = tr!(
            self.texts,
            "schedule-portal-copy",
            sender = schedule.sender_name.as_str(),
            text = schedule.body.as_str()
        );
        let posted = self.post(schedule, portal, body, at, tried).await?;
        let relay = self.relay.by(&schedule.sender_name);
        let items = signed_text(&schedule.body, relay);
        (self.outbox)
            .queue(
                &items,
                driver,
                posted.as_str(),
                portal,
                &schedule.sender,
                With::default(),
            )
            .await?;
        Ok(())
    }

    /// The bot's message in the broadcast room, started as a broadcast to the room's
    /// selection as it is now.
    async fn to_broadcast(
        &self,
        schedule: &Schedule,
        room_id: &RoomId,
        at: i64,
        tried: bool,
    ) -> Result<(), BridgeError> {
        let Some(room) = self.store.broadcast_room(room_id.as_str()).await? else {
            return Ok(());
        };
        let body = tr!(
            self.texts,
            "schedule-broadcast-copy",
            sender = schedule.sender_name.as_str(),
            text = schedule.body.as_str()
        );
        let posted = self.post(schedule, room_id, body, at, tried).await?;
        let sender = UserId::parse(schedule.sender.as_str())
            .map_err(|e| BridgeError::BadEvent(format!("schedule sender: {e}")))?;
        (self.broadcasts)
            .scheduled(
                &room,
                &posted,
                &sender,
                &schedule.sender_name,
                &schedule.body,
            )
            .await?;
        Ok(())
    }
}
