//! The desk board: in each desk room one notice, edited in place (`m.replace`) when a
//! conversation of its drivers changes, listing what waits there: the driver, since when, who
//! has it, the beginning of what they wrote first, a link into the portal. The board's event
//! and the hash of its text are kept in `bridge_state` (`desk_board:<desk>`), so an unchanged
//! board costs no request and a restart edits the same board. An erasure forgets the boards
//! (their events named the driver and are redacted), and so does retention when it cut a desk
//! room's history: they are posted anew.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::Duration,
};

use ruma::{EventId, OwnedRoomId, RoomId};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{
    Conversations, Desk,
    said::{self, BoardLines, JobLine, StatusLine},
    summary::Waiting,
};

/// What one desk room's board shows: the desk, one of its drivers, and its lines.
type DeskLines = (Desk, ThreemaId, BoardLines);
/// How long a driver's quick-code status (and a job card's state) stays on the board.
const STATUS_HOURS: i64 = 24;
use crate::{bridge::BridgeError, threema::ThreemaId};

/// Marks the board's events, so that a post whose answer was lost is found again.
const BOARD_KEY: &str = "org.threema_bridge.desk_board";
/// How much of the driver's first waiting message the board shows.
const FIRST_LINE_CHARS: usize = 80;
/// Boards are looked at this often anyway (after an erasure, a failed edit).
const REFRESH: Duration = Duration::from_secs(300);

impl Conversations {
    /// Keeps the boards current until `shutdown` (the active process's only).
    pub async fn run_boards(self: Arc<Self>, shutdown: CancellationToken) {
        if !self.enabled() {
            return;
        }
        loop {
            if let Err(e) = self.update_boards().await {
                tracing::warn!(error = %e, "cannot update the desk boards");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(REFRESH) => {}
                _ = self.board_wake.notified() => {
                    // Several changes close together make one edit.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Renders every desk's board: those with something waiting, and those that have a board.
    async fn update_boards(&self) -> Result<(), BridgeError> {
        let mut desks: BTreeMap<String, DeskLines> = BTreeMap::new();
        let mut waiting_events = HashSet::new();
        for waiting in self.waiting(|_| true).await? {
            let Waiting {
                driver,
                portal,
                event,
                mut line,
            } = waiting;
            if let Some(Ok(event)) = event.as_deref().map(EventId::parse) {
                line.first_line = self.first_line(&portal, &event).await;
                waiting_events.insert(event.to_string());
            }
            let desk = self.desk_of(&driver);
            (desks.entry(desk.state_key.clone()))
                .or_insert_with(|| (desk, driver, BoardLines::default()))
                .2
                .open
                .push(line);
        }
        let since = crate::store::now_ms() - STATUS_HOURS * 3600 * 1000;
        for status in self.store.driver_statuses_since(since).await? {
            let Some((driver, portal)) = self.served(&status.threema_id).await? else {
                continue;
            };
            let line = StatusLine {
                driver: self.driver_name(&driver).await?,
                meaning: status.meaning,
                code: status.code,
                at: status.at,
                link: super::permalink(portal.room_id.as_str(), Some(&status.event_id)),
            };
            let desk = self.desk_of(&driver);
            (desks.entry(desk.state_key.clone()))
                .or_insert_with(|| (desk, driver, BoardLines::default()))
                .2
                .statuses
                .push(line);
        }
        for (driver, line) in self.job_lines(since).await? {
            let desk = self.desk_of(&driver);
            (desks.entry(desk.state_key.clone()))
                .or_insert_with(|| (desk, driver, BoardLines::default()))
                .2
                .jobs
                .push(line);
        }
        // Each desk on its own: one that fails holds up no other (and is tried again at the
        // next change, or the next refresh).
        for (desk, driver, lines) in desks.values() {
            if let Err(e) = self.desk_board(desk, driver, lines).await {
                tracing::warn!(desk = %desk.name, error = %e, "cannot update a desk board");
            }
        }
        // Boards whose drivers all got their answer.
        for (key, _) in self.store.state_with_prefix("desk_board:").await? {
            let desk_key = key.trim_start_matches("desk_board:");
            if desks.contains_key(desk_key) {
                continue;
            }
            let Some(room) = self.store.state_get(desk_key).await? else {
                continue;
            };
            let room = OwnedRoomId::try_from(room)
                .map_err(|e| BridgeError::BadEvent(format!("stored desk room: {e}")))?;
            if let Err(e) = (self.show_board(desk_key, &room, &BoardLines::default())).await {
                tracing::warn!(%room, error = %e, "cannot update a desk board");
            }
        }
        // Only what still waits is remembered.
        (self.first_lines.lock().expect("not poisoned"))
            .retain(|event, _| waiting_events.contains(event));
        Ok(())
    }

    /// One desk's room, kept to those who may see its drivers, and its board.
    async fn desk_board(
        &self,
        desk: &Desk,
        driver: &ThreemaId,
        lines: &BoardLines,
    ) -> Result<(), BridgeError> {
        let room = self.ensure_desk_room(desk, driver).await?;
        self.keep_members(&room, driver).await?;
        self.show_board(&desk.state_key, &room, lines).await
    }

    /// A driver the board still names (not former, not restricted) and their portal.
    async fn served(
        &self,
        threema_id: &str,
    ) -> Result<Option<(ThreemaId, crate::store::Portal)>, BridgeError> {
        let Some(driver) = ThreemaId::parse(threema_id) else {
            return Ok(None);
        };
        if self.access.is_former_driver(&driver)
            || self.store.is_restricted(driver.as_str()).await?
        {
            return Ok(None);
        }
        let portal = self.store.portal_by_threema_id(driver.as_str()).await?;
        Ok(portal.map(|portal| (driver, portal)))
    }

    /// The job cards of the integration API whose state changed since `since` (Unix ms), of
    /// drivers the desk still serves, newest first.
    async fn job_lines(&self, since: i64) -> Result<Vec<(ThreemaId, JobLine)>, BridgeError> {
        let mut out = Vec::new();
        for (message, recipient) in self.store.api_jobs_since(since).await? {
            let Some((driver, portal)) = self.served(&recipient.driver).await? else {
                continue;
            };
            let title = (message.job.as_deref())
                .and_then(|j| serde_json::from_str::<crate::bridge::integration::job::Job>(j).ok())
                .map(|job| job.title)
                .unwrap_or_default();
            let line = JobLine {
                driver: self.driver_name(&driver).await?,
                client: message.client,
                title,
                state: message.job_state.unwrap_or_default(),
                at: message.job_state_at.unwrap_or(message.created_at),
                link: super::permalink(portal.room_id.as_str(), recipient.portal_event.as_deref()),
            };
            out.push((driver, line));
        }
        Ok(out)
    }

    /// Posts the board, or edits it, unless it says that already. Without a known text (after
    /// an erasure) the board is looked at first: redacted, it is posted anew.
    async fn show_board(
        &self,
        desk: &str,
        room: &RoomId,
        lines: &BoardLines,
    ) -> Result<(), BridgeError> {
        let text = said::board(&self.texts, lines, &self.zone);
        let hash = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
        let (board_key, hash_key, tried_key, generation_key) = (
            format!("desk_board:{desk}"),
            format!("desk_board_hash:{desk}"),
            format!("desk_board_tried:{desk}"),
            format!("desk_board_generation:{desk}"),
        );
        let shown = self.store.state_get(&hash_key).await?;
        if shown.as_deref() == Some(hash.as_str()) {
            return Ok(());
        }
        let mut board = self.store.state_get(&board_key).await?;
        if let (None, Some(posted)) = (&shown, &board)
            && let Ok(posted) = EventId::parse(posted)
            && self.gone(room, &posted).await?
        {
            self.store.state_delete(&board_key).await?;
            self.store.state_delete(&tried_key).await?;
            let generation = (self.store.state_get(&generation_key).await?)
                .and_then(|g| g.parse::<u64>().ok())
                .unwrap_or(0);
            (self.store)
                .state_set(&generation_key, &(generation + 1).to_string())
                .await?;
            board = None;
        }
        match board {
            Some(board) => {
                let content = json!({
                    "msgtype": "m.notice",
                    "body": format!("* {text}"),
                    "m.new_content": {"msgtype": "m.notice", "body": text},
                    "m.relates_to": {"rel_type": "m.replace", "event_id": board},
                    "m.mentions": {},
                    BOARD_KEY: desk,
                });
                // Unique per edit: the homeserver would take a text shown before (the empty
                // board, again) for a retry of that edit and post nothing.
                let txn = format!("desk-board-{board}-{hash}-{}", crate::store::now_ms());
                self.notices.post_raw(room, &content, &txn).await?;
            }
            None => {
                let content = json!({
                    "msgtype": "m.notice",
                    "body": text,
                    "m.mentions": {},
                    BOARD_KEY: desk,
                });
                let tried = self.store.state_get(&tried_key).await?.is_some();
                // A board posted anew (after an erasure) is a new post, not a retry.
                let generation = (self.store.state_get(&generation_key).await?).unwrap_or_default();
                let key_hash = hex::encode(&Sha256::digest(board_key.as_bytes())[..8]);
                let txn = format!("desk-board-{key_hash}-{generation}");
                let mark_tried = self.store.state_set(&tried_key, "1");
                let board = (self.notices)
                    .post_once(room, &content, BOARD_KEY, tried, &txn, mark_tried)
                    .await?;
                self.store.state_set(&board_key, board.as_str()).await?;
            }
        }
        self.store.state_set(&hash_key, &hash).await?;
        Ok(())
    }

    /// Whether the bot's event is gone: redacted (an erasure took it) or purged (retention
    /// cut the desk room's history).
    async fn gone(&self, room: &RoomId, event: &EventId) -> Result<bool, BridgeError> {
        let read = match self.matrix.event(room, event).await {
            Ok(read) => read,
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => return Ok(true),
            Err(e) => return Err(e.into()),
        };
        Ok(read["unsigned"]["redacted_because"].is_object()
            || read["content"].as_object().is_none_or(|c| c.is_empty()))
    }

    /// The beginning of a driver's message, read from the portal once and remembered while it
    /// waits (not stored: the portal has it).
    async fn first_line(&self, portal: &RoomId, event: &EventId) -> Option<String> {
        if let Some(line) = self
            .first_lines
            .lock()
            .expect("not poisoned")
            .get(event.as_str())
        {
            return Some(line.clone());
        }
        let read = self.matrix.event(portal, event).await.ok()?;
        let body = read["content"]["body"].as_str()?;
        let mut line: String = body.chars().take(FIRST_LINE_CHARS).collect();
        if body.chars().count() > FIRST_LINE_CHARS {
            line.push('…');
        }
        (self.first_lines.lock().expect("not poisoned")).insert(event.to_string(), line.clone());
        Some(line)
    }
}
