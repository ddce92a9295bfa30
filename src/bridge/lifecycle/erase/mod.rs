//! Erasing a driver (GDPR Art. 17): their portal with its media purged on the homeserver, their
//! ghost deactivated and erased, their rows in every bridge table deleted and their ID and
//! names taken out of what is kept for others. Each step is recorded on the erasure's
//! tombstone as it is done and can be run again, so a run cut off (SIGKILL) is finished by the
//! next. A hold in force stops it; a driver the directory still lists as active is refused.

use std::{collections::BTreeMap, fmt, time::Duration};

use hmac::{Hmac, Mac};
use ruma::{OwnedRoomId, OwnedUserId, ServerName};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use threema_protocol::ThreemaId;

mod dispatcher;
mod restrict;

use super::{LifecycleError, Refused, Subject, Unfinished, holds, redact, resolve};
use crate::{
    bridge::BridgeError,
    config::{Config, SynapseAdmin},
    ids,
    matrix::MatrixClient,
    store::{ErasedRows, ErasureTarget, Hold, Store},
    texts::Texts,
    tr,
    zone::Zone,
};

/// How long a room's purge may take before the run stops (the next run waits for it again).
const PURGE_WAIT: Duration = Duration::from_secs(600);

/// Keyed hashes of Threema IDs: an erased ID is recognised, not kept. The key is derived from
/// the Gateway's private key, which every installation has and keeps secret.
#[derive(Clone)]
pub struct IdHasher([u8; 32]);

impl IdHasher {
    /// For erased Threema IDs.
    pub fn new(config: &Config) -> Self {
        Self::for_purpose(config, b"threema-bridge erased ids\0")
    }

    /// For colleagues' pseudonyms in exports: a key of its own, so that a pseudonym says
    /// nothing about an erased ID's hash.
    pub fn pseudonyms(config: &Config) -> Self {
        Self::for_purpose(config, b"threema-bridge pseudonyms\0")
    }

    /// For the aliases of the unencrypted management rooms the bot opens (see
    /// `management::unencrypted`): nobody can tell from one whose room it is.
    pub fn desk_aliases(config: &Config) -> Self {
        Self::for_purpose(config, b"threema-bridge desk aliases\0")
    }

    fn for_purpose(config: &Config, purpose: &[u8]) -> Self {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        hash.update(purpose);
        hash.update(config.threema.private_key.expose_secret().as_bytes());
        IdHasher(hash.finalize().into())
    }

    #[cfg(test)]
    pub fn from_key(key: [u8; 32]) -> Self {
        IdHasher(key)
    }

    pub fn hash(&self, id: &ThreemaId) -> String {
        self.hash_text(id.as_str())
    }

    pub fn hash_text(&self, text: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&self.0).expect("any key length");
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// What `gdpr erase` did, or would do.
#[derive(Debug)]
pub enum Erased {
    /// Done: the tombstone's id and what went where.
    Done { tombstone: i64, report: Report },
    /// `--dry-run`: what would go.
    WouldErase(Report),
    /// A hold covers the driver or their portal: nothing was erased (the holds in force).
    Held(Vec<Hold>),
}

/// What went (or would go) per system.
#[derive(Debug, Default)]
pub struct Report {
    pub portal: Option<OwnedRoomId>,
    /// The homeserver: media deleted, the room purged, the ghost erased.
    pub homeserver: BTreeMap<String, Value>,
    /// The bridge's tables.
    pub rows: ErasedRows,
}

impl Report {
    /// A line per step and table.
    pub fn said(&self, texts: &Texts) -> String {
        let homeserver = self.homeserver.iter().map(|(step, what)| {
            tr!(
                texts,
                "erase-report-homeserver",
                step = step.as_str(),
                what = what.to_string()
            )
        });
        let rows = (self.rows.iter())
            .map(|(table, n)| tr!(texts, "erase-report-table", table = *table, count = *n));
        let lines = homeserver.chain(rows).map(|line| format!("  {line}"));
        lines.collect::<Vec<_>>().join("\n")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.said(Texts::english()))
    }
}

/// Everything an erasure talks to.
pub struct Eraser<'a> {
    pub store: &'a Store,
    /// A client that retries: this runs outside the queues.
    pub matrix: &'a MatrixClient,
    pub admin: &'a SynapseAdmin,
    pub domain: &'a ServerName,
    pub hasher: &'a IdHasher,
    /// `bridge.timezone`: whether the driver has left yet is read on its calendar.
    pub zone: &'a Zone,
}

impl Eraser<'_> {
    /// Erases the driver `text` names (an employee ID, a Threema ID or the ghost's Matrix ID).
    pub async fn erase(
        &self,
        text: &str,
        actor: &str,
        force: bool,
        dry_run: bool,
    ) -> Result<Erased, LifecycleError> {
        let subject = resolve(self.store, self.domain, text).await?;
        if subject.is_active_on(self.zone.today()) && !force {
            return Err(LifecycleError::Input(Refused::StillActive(subject)));
        }
        let Some(driver) = subject.driver.clone() else {
            return self.erase_dispatcher(&subject, actor, dry_run).await;
        };
        let target = self.target(&subject, &driver).await?;
        let room = target
            .room
            .as_deref()
            .map(OwnedRoomId::try_from)
            .transpose();
        let room = room.map_err(|_| crate::store::StoreError::corrupt("portal", "room_id"))?;
        let held = self.holds_on(&driver, room.as_ref()).await?;
        if !held.is_empty() {
            if !dry_run {
                self.restrict(&target, room.as_ref(), actor).await?;
            }
            return Ok(Erased::Held(held));
        }
        if dry_run {
            return Ok(Erased::WouldErase(self.preview(&target, room).await?));
        }
        let hash = self.hasher.hash(&driver);
        let tombstone = self.store.erasure_start(&hash, actor).await?;
        let report = self.run(tombstone, &target, room).await?;
        let what = format!(
            "a driver: {} homeserver step(s), {} bridge row(s)",
            report.homeserver.len(),
            report.rows.values().sum::<u64>()
        );
        self.finish(tombstone, &hash, actor, &what).await?;
        Ok(Erased::Done { tombstone, report })
    }

    /// Every ID and name the driver's rows may carry.
    async fn target(
        &self,
        subject: &Subject,
        driver: &ThreemaId,
    ) -> Result<ErasureTarget, LifecycleError> {
        let mut names = Vec::new();
        if let Some(id) = &subject.employee_id
            && let Some(stored) = self.store.employee_by_id(id).await?
        {
            names.push(stored.employee.record.display_name.clone());
        }
        if let Some(ghost) = self.store.ghost_by_threema_id(driver.as_str()).await?
            && let Some(name) = ghost.display_name
        {
            names.push(name);
        }
        let room = self
            .store
            .portal_by_threema_id(driver.as_str())
            .await?
            .map(|p| p.room_id.to_string());
        Ok(ErasureTarget {
            threema_id: driver.to_string(),
            ghost: ids::ghost_user_id(driver, self.domain).to_string(),
            room,
            employee_id: subject.employee_id.clone(),
            names,
        })
    }

    /// The holds in force that cover the driver or their portal.
    async fn holds_on(
        &self,
        driver: &ThreemaId,
        room: Option<&OwnedRoomId>,
    ) -> Result<Vec<Hold>, LifecycleError> {
        let scope = holds::scope(self.store, self.domain).await?;
        let covered = scope.drivers.iter().any(|d| d == driver.as_str())
            || room.is_some_and(|r| scope.rooms.iter().any(|held| held == r.as_str()));
        if !covered {
            return Ok(Vec::new());
        }
        Ok(self.store.holds(false).await?)
    }

    async fn preview(
        &self,
        target: &ErasureTarget,
        room: Option<OwnedRoomId>,
    ) -> Result<Report, LifecycleError> {
        let token = &self.admin.token;
        let mut report = Report::default();
        if let Some(room) = &room
            && self.matrix.room_exists(room, token).await.map_err(bridge)?
        {
            let media = self.matrix.room_media(room, token).await.map_err(bridge)?;
            report
                .homeserver
                .insert("room media".into(), json!(media.len()));
            let reports = self
                .matrix
                .event_reports(room, token)
                .await
                .map_err(bridge)?;
            report
                .homeserver
                .insert("event reports".into(), json!(reports.len()));
            report.homeserver.insert("room".into(), json!("purged"));
        }
        let (bot, ghost) = self.bot_and_ghost(target)?;
        let named = named(target, &bot, &ghost, room.as_deref());
        let elsewhere = redact::everywhere(self.matrix, &named, "", true)
            .await
            .map_err(bridge)?;
        report.homeserver.insert(ELSEWHERE.into(), elsewhere);
        report
            .homeserver
            .insert("ghost".into(), json!("deactivated, erased"));
        report.rows = self.store.erase_driver(target, true).await?;
        report.portal = room;
        Ok(report)
    }

    /// The steps not done yet, each recorded as soon as it is.
    async fn run(
        &self,
        tombstone: i64,
        target: &ErasureTarget,
        room: Option<OwnedRoomId>,
    ) -> Result<Report, LifecycleError> {
        let token = &self.admin.token;
        let mut steps = self.store.erasure_steps(tombstone).await?;
        // Before the purge: the room's events are how the media are found.
        if steps.get("room media").is_none() {
            let mut deleted = 0;
            if let Some(room) = &room
                && self.matrix.room_exists(room, token).await.map_err(bridge)?
            {
                for uri in self.matrix.room_media(room, token).await.map_err(bridge)? {
                    deleted += u64::from(
                        self.matrix
                            .delete_media(&uri, token)
                            .await
                            .map_err(bridge)?,
                    );
                }
            }
            self.done(tombstone, &mut steps, "room media", json!(deleted))
                .await?;
        }
        // Before the purge: users' reports quote the room's events, and are found by the room.
        if steps.get("event reports").is_none() {
            let mut deleted = 0;
            if let Some(room) = &room
                && self.matrix.room_exists(room, token).await.map_err(bridge)?
            {
                for id in self
                    .matrix
                    .event_reports(room, token)
                    .await
                    .map_err(bridge)?
                {
                    deleted += u64::from(
                        self.matrix
                            .delete_event_report(id, token)
                            .await
                            .map_err(bridge)?,
                    );
                }
            }
            self.done(tombstone, &mut steps, "event reports", json!(deleted))
                .await?;
        }
        if steps.get("room").is_none() {
            let purged = match &room {
                Some(room) => self.purge_room(tombstone, &mut steps, room).await?,
                None => json!("no portal"),
            };
            self.done(tombstone, &mut steps, "room", purged).await?;
        }
        let (bot, ghost) = self.bot_and_ghost(target)?;
        // While the ghost can still redact its own. The shared inbox forgets the driver first,
        // so that no desk alert or board names them after the redaction.
        if steps.get(ELSEWHERE).is_none() {
            self.store.conversation_forget(&target.threema_id).await?;
            let named = named(target, &bot, &ghost, room.as_deref());
            let txn = format!("erase-{tombstone}");
            let counts = redact::everywhere(self.matrix, &named, &txn, false)
                .await
                .map_err(bridge)?;
            self.done(tombstone, &mut steps, ELSEWHERE, counts).await?;
        }
        // The boards of broadcasts that reached them: the old one goes (whether or not it named
        // them: its counts did), the running bridge posts one without them once the rows below
        // are gone.
        if steps.get("boards").is_none() {
            let mut redacted = 0;
            for (room, board) in self.store.boards_of_recipient(&target.threema_id).await? {
                let (Ok(room), Ok(board)) = (
                    OwnedRoomId::try_from(room.as_str()),
                    ruma::OwnedEventId::try_from(board.as_str()),
                ) else {
                    continue;
                };
                let txn = format!("erase-{tombstone}-board-{board}");
                match self
                    .matrix
                    .redact(&room, &board, &txn, &bot, Some("rebuilt after an erasure"))
                    .await
                {
                    Ok(_) => redacted += 1,
                    Err(e) if e.errcode() == Some("M_NOT_FOUND") => {}
                    Err(e) => return Err(bridge(e)),
                }
            }
            self.done(tombstone, &mut steps, "boards", json!(redacted))
                .await?;
        }
        if steps.get("ghost media").is_none() {
            let deleted = match self.matrix.delete_user_media(&ghost, token).await {
                Ok(n) => n,
                // Never registered: nothing uploaded.
                Err(e) if e.errcode() == Some("M_NOT_FOUND") => 0,
                Err(e) => return Err(bridge(e)),
            };
            self.done(tombstone, &mut steps, "ghost media", json!(deleted))
                .await?;
        }
        if steps.get("ghost").is_none() {
            let what = match self.matrix.deactivate_account(&ghost, token, true).await {
                Ok(()) => "deactivated, erased",
                Err(e) if e.errcode() == Some("M_NOT_FOUND") => "never registered",
                Err(e) => return Err(bridge(e)),
            };
            self.done(tombstone, &mut steps, "ghost", json!(what))
                .await?;
        }
        // Last: until here the rows name what the steps above act on.
        let rows = self.store.erase_driver(target, false).await?;
        let mut report = Report {
            portal: room,
            rows,
            ..Default::default()
        };
        if let Value::Object(steps) = steps {
            // The task's id is in "room" too.
            report.homeserver = steps
                .into_iter()
                .filter(|(s, _)| s != "room task")
                .collect();
        }
        Ok(report)
    }

    fn bot_and_ghost(
        &self,
        target: &ErasureTarget,
    ) -> Result<(OwnedUserId, OwnedUserId), LifecycleError> {
        let ghost = OwnedUserId::try_from(target.ghost.as_str())
            .map_err(|_| crate::store::StoreError::corrupt("ghost", "user_id"))?;
        Ok((ids::bot_user_id(self.domain), ghost))
    }

    /// Records `step` as done, here and on the tombstone.
    /// Closes the tombstone and audits the erasure: the entry names the tombstone, never the
    /// person, and says `what` went by counts.
    async fn finish(
        &self,
        tombstone: i64,
        hash: &str,
        actor: &str,
        what: &str,
    ) -> Result<(), LifecycleError> {
        self.store.erasure_finish(tombstone, hash).await?;
        (self.store)
            .audit(actor, "gdpr.erased", &format!("erasure {tombstone}"), what)
            .await?;
        Ok(())
    }

    async fn done(
        &self,
        tombstone: i64,
        steps: &mut Value,
        step: &str,
        details: Value,
    ) -> Result<(), LifecycleError> {
        steps[step] = details.clone();
        Ok(self
            .store
            .erasure_step_done(tombstone, step, details)
            .await?)
    }

    /// Deletes and purges the room, and waits until the homeserver no longer has it (its admin
    /// API answers 404): that, not the task's status, says it is done, so a run whose answer
    /// was lost, or that was killed while the homeserver purged, finishes the same way. The
    /// task's id is recorded for the tombstone and to see a failed purge.
    async fn purge_room(
        &self,
        tombstone: i64,
        steps: &mut Value,
        room: &OwnedRoomId,
    ) -> Result<Value, LifecycleError> {
        let token = &self.admin.token;
        let deadline = tokio::time::Instant::now() + PURGE_WAIT;
        loop {
            if !self.matrix.room_exists(room, token).await.map_err(bridge)? {
                return Ok(json!({"purged": true, "task": steps["room task"]}));
            }
            match steps["room task"].as_str().map(str::to_owned) {
                None => {
                    let id = self.matrix.delete_room(room, token).await.map_err(bridge)?;
                    self.done(tombstone, steps, "room task", json!(id)).await?;
                }
                Some(id) => {
                    // Synapse forgets finished tasks after a while and on restart: then only
                    // the room's presence tells.
                    let status = match self.matrix.room_delete_status(&id, token).await {
                        Ok(status) => status,
                        Err(e) if e.errcode() == Some("M_NOT_FOUND") => "unknown".to_owned(),
                        Err(e) => return Err(bridge(e)),
                    };
                    if status == "failed" {
                        // Asked again on the next run.
                        self.done(tombstone, steps, "room task", Value::Null)
                            .await?;
                        return Err(LifecycleError::Unfinished(Unfinished::RoomDeleteFailed {
                            room: room.to_string(),
                            task: id.to_string(),
                        }));
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(LifecycleError::Unfinished(Unfinished::RoomStillDeleting {
                    room: room.to_string(),
                }));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// The step that redacts the ghost's and the bot's events outside the portal.
const ELSEWHERE: &str = "events elsewhere";

/// What names the driver in an event. Names shorter than 4 letters would match too much else.
fn named<'a>(
    target: &ErasureTarget,
    bot: &'a OwnedUserId,
    ghost: &'a OwnedUserId,
    portal: Option<&'a ruma::RoomId>,
) -> redact::Named<'a> {
    let needles = [&target.threema_id, &target.ghost]
        .into_iter()
        .chain(
            target
                .names
                .iter()
                .filter(|n| n.trim().chars().count() >= 4),
        )
        .map(|n| n.trim().to_lowercase())
        .collect();
    redact::Named {
        bot,
        ghost,
        portal,
        needles,
    }
}

fn bridge(e: crate::matrix::MatrixError) -> LifecycleError {
    LifecycleError::Homeserver(BridgeError::Matrix(e))
}

/// `erase <who> [--dry-run] [--force]` in the management room: what happened, as the answer
/// in `texts`' language. Bad input and holds are told, not errors.
pub async fn answer(
    eraser: &Eraser<'_>,
    texts: &Texts,
    args: &str,
    actor: &str,
) -> Result<String, BridgeError> {
    let Some((subject, flags)) = super::command_args(args, &["--dry-run", "--force"]) else {
        return Ok(tr!(texts, "mgmt-erase-usage"));
    };
    let (dry_run, force) = (flags.contains(&"--dry-run"), flags.contains(&"--force"));
    Ok(match eraser.erase(&subject, actor, force, dry_run).await {
        Ok(Erased::Done { tombstone, report }) => tr!(
            texts,
            "mgmt-erased",
            tombstone = tombstone,
            report = report.said(texts)
        ),
        Ok(Erased::WouldErase(report)) => {
            tr!(texts, "mgmt-erase-dry-run", report = report.said(texts))
        }
        Ok(Erased::Held(holds)) => {
            let holds = holds.iter().map(|h| holds::describe(texts, h));
            tr!(
                texts,
                "mgmt-erase-held",
                holds = holds.collect::<Vec<_>>().join("\n")
            )
        }
        Err(LifecycleError::Store(e)) => return Err(e.into()),
        Err(e) => e.said(texts),
    })
}
