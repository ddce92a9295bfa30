//! Retention (GDPR Art. 5(1)(e)): what is kept only for a period goes when it is over, daily
//! and by `retention run`. A portal's history is cut by the events' own dates (bridged events
//! carry the Threema date, not when the homeserver received them, so Synapse's own `purge by
//! time` would keep a driver's old messages), its newest event always stays, and the media of
//! what goes are deleted first. Dispatchers' texts kept with their sends are cleared, and the
//! inboxes pruned. What a legal hold covers is untouched. Each pass is worked out again from
//! what is there, so a pass cut off is finished by the next.

use std::{fmt, time::Duration};

use ruma::{OwnedEventId, OwnedRoomId, RoomId, ServerName};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{LifecycleError, Unfinished, holds};
use crate::{
    bridge::{BridgeError, prune},
    config::{RetentionConfig, SynapseAdmin},
    matrix::{MatrixClient, MatrixError},
    store::{HeldScope, Pruned, RoomStateKind, Store, cutoff},
    texts::Texts,
    tr,
};

/// Events per timeline page.
const PAGE: u32 = 500;
/// How long one room's purge may take before the pass moves on (the next pass looks again).
const PURGE_WAIT: Duration = Duration::from_secs(600);
const DAILY: Duration = Duration::from_secs(24 * 3600);
const AFTER_FAILURE: Duration = Duration::from_secs(600);
pub const ACTOR: &str = "bridge:retention";

/// Where a portal's history is cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The oldest event that stays: everything before it goes (the room's state stays).
    pub keep_from: OwnedEventId,
    /// Non-state events that go.
    pub events: usize,
    /// The `mxc://` URIs they refer to.
    pub media: Vec<String>,
}

/// The cut for a room's timeline (newest first) at `cutoff_ms`: the newest non-state event
/// older than the cut-off and all before it go; the event after it stays, and so does the
/// newest event when all are old. `None` when nothing goes.
pub fn cut(newest_first: &[Value], cutoff_ms: i64) -> Option<Cut> {
    let is_state = |e: &Value| e.get("state_key").is_some();
    let old = newest_first.iter().position(|e| {
        !is_state(e)
            && e["origin_server_ts"]
                .as_i64()
                .is_some_and(|ts| ts < cutoff_ms)
    })?;
    let (keep, gone) = match old {
        0 => (&newest_first[0], &newest_first[1..]),
        n => (&newest_first[n - 1], &newest_first[n..]),
    };
    let gone: Vec<&Value> = gone.iter().filter(|e| !is_state(e)).collect();
    if gone.is_empty() {
        return None;
    }
    let media = gone.iter().flat_map(|e| media_of(&e["content"])).collect();
    Some(Cut {
        keep_from: keep["event_id"].as_str()?.parse().ok()?,
        events: gone.len(),
        media,
    })
}

/// The files of the non-state events dated from `from_ms` up to (not including) `to_ms`.
pub fn expired_media(events: &[Value], from_ms: i64, to_ms: i64) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.get("state_key").is_none())
        .filter(|e| {
            e["origin_server_ts"]
                .as_i64()
                .is_some_and(|ts| (from_ms..to_ms).contains(&ts))
        })
        .flat_map(|e| media_of(&e["content"]))
        .collect()
}

/// An event's file and thumbnail.
fn media_of(content: &Value) -> impl Iterator<Item = String> + '_ {
    [&content["url"], &content["info"]["thumbnail_url"]]
        .into_iter()
        .filter_map(|uri| uri.as_str().map(str::to_owned))
}

/// What a pass did, or would do.
#[derive(Debug, Default)]
pub struct Report {
    pub dry_run: bool,
    /// Portals whose history was cut, events and media that went.
    pub rooms: usize,
    /// The shared inbox's desk rooms whose history was cut (their events and media counted
    /// with the portals').
    pub desk_rooms: usize,
    pub events: usize,
    pub media: usize,
    /// Portals (and their drivers' rows) a hold kept.
    pub held: usize,
    /// Sends whose text was cleared.
    pub outbox_payloads: u64,
    /// Polls (question, choices, votes) past the history's days.
    pub polls: u64,
    /// Drivers' quick-code statuses and last shared locations past the history's days.
    pub statuses: u64,
    /// The integration API's messages and job cards past the history's days.
    pub api_messages: u64,
    /// Sends whose delivery times were forgotten.
    pub delivery_times: u64,
    /// Files past `media_days` of events that stay.
    pub expired_media: usize,
    /// Audit entries past `audit_days`.
    pub audit: u64,
    /// Inbox rows and room state (not counted in a dry run).
    pub pruned: Option<Pruned>,
}

impl Report {
    /// A line per kind of data (no line break after the last).
    pub fn said(&self, texts: &Texts) -> String {
        let verb = match self.dry_run {
            true => tr!(texts, "retention-would-go"),
            false => tr!(texts, "retention-gone"),
        };
        let verb = verb.as_str();
        let pruned = match &self.pruned {
            Some(p) => tr!(
                texts,
                "retention-report-inboxes",
                matrix = p.matrix_inbox,
                threema = p.threema_inbox,
                state = p.room_state
            ),
            None => tr!(texts, "retention-report-inboxes-not-counted"),
        };
        [
            tr!(
                texts,
                "retention-report-history",
                events = self.events,
                media = self.media,
                rooms = self.rooms,
                desks = self.desk_rooms,
                verb = verb
            ),
            tr!(
                texts,
                "retention-report-media",
                count = self.expired_media,
                verb = verb
            ),
            tr!(texts, "retention-report-held", count = self.held),
            tr!(
                texts,
                "retention-report-texts",
                count = self.outbox_payloads,
                verb = verb
            ),
            tr!(
                texts,
                "retention-report-delivery-times",
                count = self.delivery_times,
                verb = verb
            ),
            tr!(
                texts,
                "retention-report-polls",
                polls = self.polls,
                statuses = self.statuses,
                verb = verb
            ),
            tr!(
                texts,
                "retention-report-api",
                count = self.api_messages,
                verb = verb
            ),
            tr!(
                texts,
                "retention-report-audit",
                count = self.audit,
                verb = verb
            ),
            pruned,
        ]
        .map(|line| format!("  {line}"))
        .join("\n")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.said(Texts::english()))
    }
}

/// Everything a retention pass talks to.
pub struct Retention<'a> {
    pub store: &'a Store,
    /// As the bot (reads the portals), retrying: this runs outside the queues.
    pub matrix: &'a MatrixClient,
    /// Needed for the history; checked by the config when `retention.history_days` is set.
    pub admin: Option<&'a SynapseAdmin>,
    pub config: &'a RetentionConfig,
    pub domain: &'a ServerName,
}

impl Retention<'_> {
    pub async fn run(&self, actor: &str, dry_run: bool) -> Result<Report, LifecycleError> {
        let held = holds::scope(self.store, self.domain).await?;
        let mut report = Report {
            dry_run,
            ..Report::default()
        };
        let on_homeserver = self.config.history.is_some() || self.config.media.is_some();
        if let (true, Some(admin)) = (on_homeserver, self.admin) {
            for portal in self.store.portals().await? {
                let room = portal.room_id;
                if held.rooms.iter().any(|r| r == room.as_str())
                    || held.drivers.iter().any(|d| d == portal.threema_id.as_str())
                {
                    report.held += 1;
                    continue;
                }
                if self.room(&room, admin, dry_run, &mut report).await? {
                    report.rooms += 1;
                }
            }
            self.desk_rooms(&held, admin, dry_run, &mut report).await?;
        }
        // A poll's question and votes go with the portal's history.
        if let Some(keep) = self.config.history {
            report.polls = (self.store)
                .polls_prune(cutoff(keep), &held.drivers, dry_run)
                .await?;
            report.statuses = (self.store)
                .driver_statuses_prune(cutoff(keep), &held.drivers, dry_run)
                .await?;
            report.api_messages = (self.store)
                .api_prune(cutoff(keep), &held.drivers, dry_run)
                .await?;
            report.statuses += (self.store)
                .driver_locations_prune(cutoff(keep), &held.drivers, dry_run)
                .await?;
        }
        if let Some(keep) = self.config.outbox {
            report.outbox_payloads = self
                .store
                .outbox_expire_payloads(cutoff(keep), &held, dry_run)
                .await?;
        }
        if let Some(keep) = self.config.delivery_times {
            report.delivery_times = self
                .store
                .outbox_expire_times(cutoff(keep), &held, dry_run)
                .await?;
        }
        if let Some(keep) = self.config.audit {
            report.audit = self
                .store
                .audit_prune(cutoff(keep), &held.all(), dry_run)
                .await?;
        }
        if !dry_run {
            report.pruned = Some(prune::once(self.store, self.domain, self.config.inbox).await?);
            // Counts only: what went says nothing about whom.
            self.store
                .audit(
                    actor,
                    "retention.run",
                    "",
                    &format!(
                        "{} event(s), {} medi(a) in {} portal(s), {} older file(s); {} send \
                         text(s), {} poll(s), {} API message(s), {} send(s)' delivery times, \
                         {} audit entr(ies); {} held portal(s) kept",
                        report.events,
                        report.media,
                        report.rooms,
                        report.expired_media,
                        report.outbox_payloads,
                        report.polls,
                        report.api_messages,
                        report.delivery_times,
                        report.audit,
                        report.held
                    ),
                )
                .await?;
        }
        Ok(report)
    }

    /// The shared inbox's desk rooms, as portals: their alerts and boards name drivers. Any
    /// legal hold on a driver keeps them whole (they may name the driver). A desk room whose
    /// history was cut gets its board posted anew (its event may have gone with the cut).
    async fn desk_rooms(
        &self,
        held: &HeldScope,
        admin: &SynapseAdmin,
        dry_run: bool,
        report: &mut Report,
    ) -> Result<(), LifecycleError> {
        for (desk, room) in self.store.desk_rooms().await? {
            let Ok(room) = OwnedRoomId::try_from(room) else {
                continue;
            };
            if !held.drivers.is_empty() || held.rooms.iter().any(|r| r == room.as_str()) {
                report.held += 1;
                continue;
            }
            if self.room(&room, admin, dry_run, report).await? {
                report.desk_rooms += 1;
                if !dry_run {
                    self.store.desk_board_forget(&desk).await?;
                }
            }
        }
        Ok(())
    }

    /// One room: its history cut (`history_days`), then the files of what stays that are past
    /// `media_days` and newer than what an earlier pass looked at. Whether the history was cut.
    async fn room(
        &self,
        room: &OwnedRoomId,
        admin: &SynapseAdmin,
        dry_run: bool,
        report: &mut Report,
    ) -> Result<bool, LifecycleError> {
        if let (true, Some(keep), false) = (self.config.room_state, self.config.history, dry_run) {
            self.announce(room, keep).await?;
        }
        let events = self.timeline(room).await?;
        let cut = self
            .config
            .history
            .and_then(|keep| cut(&events, cutoff(keep)));
        let kept = match &cut {
            // Newest first: what stays runs up to the first event that stays.
            Some(cut) => {
                let end = events
                    .iter()
                    .position(|e| e["event_id"] == cut.keep_from.as_str())
                    .map_or(events.len(), |at| at + 1);
                &events[..end]
            }
            None => &events[..],
        };
        if let Some(cut) = &cut {
            if !dry_run {
                self.apply(room, cut, admin).await?;
            }
            report.events += cut.events;
            report.media += cut.media.len();
        }
        let Some(keep) = self.config.media else {
            return Ok(cut.is_some());
        };
        let to_ms = cutoff(keep);
        let from_ms = self
            .store
            .room_state_get(room.as_str(), RoomStateKind::MediaExpired, "")
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let files = expired_media(kept, from_ms, to_ms);
        report.expired_media += files.len();
        if dry_run {
            return Ok(cut.is_some());
        }
        for uri in &files {
            self.delete_media(uri, admin).await?;
        }
        self.store
            .room_state_set(
                room.as_str(),
                RoomStateKind::MediaExpired,
                "",
                &to_ms.to_string(),
            )
            .await?;
        Ok(cut.is_some())
    }

    /// `m.room.retention` with the history's period, where it says otherwise (clients that
    /// know the event show it; the bridge itself purges, whatever the homeserver does with it).
    async fn announce(&self, room: &RoomId, keep: Duration) -> Result<(), LifecycleError> {
        let wanted = serde_json::json!({ "max_lifetime": keep.as_millis() as u64 });
        let current = self
            .matrix
            .state(room, "m.room.retention", "")
            .await
            .map_err(homeserver)?;
        if current.as_ref() != Some(&wanted) {
            self.matrix
                .set_state(room, "m.room.retention", "", &wanted)
                .await
                .map_err(homeserver)?;
        }
        Ok(())
    }

    /// A medium deleted by an earlier pass, or another server's: nothing to do.
    async fn delete_media(&self, uri: &str, admin: &SynapseAdmin) -> Result<(), LifecycleError> {
        match self.matrix.delete_media(uri, &admin.token).await {
            Ok(_) => Ok(()),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(()),
            Err(e) => Err(homeserver(e)),
        }
    }

    /// The room's whole timeline as the bot reads it, newest first.
    async fn timeline(&self, room: &RoomId) -> Result<Vec<Value>, LifecycleError> {
        let mut events = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let page = self
                .matrix
                .timeline_page(room, None, from.as_deref(), PAGE)
                .await
                .map_err(homeserver)?;
            events.extend(
                page.chunk
                    .iter()
                    .filter_map(|raw| serde_json::from_str::<Value>(raw.json().get()).ok()),
            );
            match page.end {
                Some(end) if !page.chunk.is_empty() => from = Some(end),
                _ => break,
            }
        }
        Ok(events)
    }

    /// Media first (the events are how they are found), then the purge, waited for.
    async fn apply(
        &self,
        room: &OwnedRoomId,
        cut: &Cut,
        admin: &SynapseAdmin,
    ) -> Result<(), LifecycleError> {
        let token = &admin.token;
        for uri in &cut.media {
            self.delete_media(uri, admin).await?;
        }
        let purge = self
            .matrix
            .purge_history(room, &cut.keep_from, token)
            .await
            .map_err(homeserver)?;
        let deadline = tokio::time::Instant::now() + PURGE_WAIT;
        loop {
            match self
                .matrix
                .purge_status(&purge, token)
                .await
                .map_err(homeserver)?
                .as_str()
            {
                "complete" => return Ok(()),
                "failed" => {
                    return Err(LifecycleError::Unfinished(Unfinished::PurgeFailed {
                        room: room.to_string(),
                        purge: purge.to_string(),
                    }));
                }
                _ if tokio::time::Instant::now() > deadline => {
                    return Err(LifecycleError::Unfinished(Unfinished::PurgeStillRunning {
                        room: room.to_string(),
                        purge: purge.to_string(),
                    }));
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
}

fn homeserver(e: MatrixError) -> LifecycleError {
    LifecycleError::Homeserver(BridgeError::Matrix(e))
}

/// The daily pass in the running bridge (the first an hour after the start, so a restart
/// loop does not purge in a loop).
pub async fn watch(
    store: Store,
    matrix: MatrixClient,
    admin: Option<SynapseAdmin>,
    config: RetentionConfig,
    domain: ruma::OwnedServerName,
    shutdown: CancellationToken,
) {
    let mut wait = Duration::from_secs(3600);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let retention = Retention {
            store: &store,
            matrix: &matrix,
            admin: admin.as_ref(),
            config: &config,
            domain: &domain,
        };
        wait = match retention.run(ACTOR, false).await {
            Ok(report) => {
                tracing::info!(
                    rooms = report.rooms,
                    events = report.events,
                    media = report.media,
                    held = report.held,
                    outbox_payloads = report.outbox_payloads,
                    "retention pass done"
                );
                DAILY
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention pass failed; tried again later");
                AFTER_FAILURE
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(id: &str, ts: i64) -> Value {
        json!({"event_id": id, "origin_server_ts": ts, "type": "m.room.message",
               "content": {"body": id}})
    }

    #[test]
    fn history_is_cut_after_the_newest_old_message_and_state_stays() {
        let member = json!({"event_id": "$m", "origin_server_ts": 1, "type": "m.room.member",
                            "state_key": "@a:x", "content": {}});
        let mut photo = message("$p", 5);
        photo["content"]["url"] = "mxc://x/photo".into();
        photo["content"]["info"] = json!({"thumbnail_url": "mxc://x/thumb"});
        // Newest first: a new message, a state event with a new time, old ones.
        let timeline = vec![
            message("$new", 100),
            json!({"event_id": "$s", "origin_server_ts": 100, "state_key": "", "type": "m.room.name", "content": {}}),
            message("$old2", 10),
            photo,
            member,
            message("$old1", 2),
        ];
        let cut = cut(&timeline, 50).unwrap();
        assert_eq!(cut.keep_from.as_str(), "$s");
        assert_eq!(cut.events, 3);
        assert_eq!(cut.media, vec!["mxc://x/photo", "mxc://x/thumb"]);
    }

    #[test]
    fn files_expire_in_the_window_since_the_last_pass() {
        let photo = |id: &str, ts: i64| {
            let mut event = message(id, ts);
            event["content"]["url"] = format!("mxc://x/{id}").into();
            event
        };
        let timeline = vec![photo("new", 100), photo("mid", 20), photo("older", 5)];
        assert_eq!(expired_media(&timeline, 10, 50), vec!["mxc://x/mid"]);
        assert_eq!(expired_media(&timeline, 0, 50).len(), 2);
        assert!(expired_media(&timeline, 50, 50).is_empty());
    }

    #[test]
    fn the_newest_event_stays_when_all_are_old_and_nothing_new_means_no_cut() {
        let timeline = vec![message("$b", 2), message("$a", 1)];
        let all_old = cut(&timeline, 50).unwrap();
        assert_eq!(all_old.keep_from.as_str(), "$b");
        assert_eq!(all_old.events, 1);
        assert_eq!(cut(&timeline, 1), None, "only newer ones");
        assert_eq!(cut(&timeline[..1], 50), None, "one event stays");
    }
}
