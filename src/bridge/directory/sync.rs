//! A sync: every snapshot source read, checked by the safety stop and stored, then the rooms
//! reconciled with the stored directory; and the task that runs it.

use std::{collections::HashMap, sync::Arc};

use tokio_util::sync::CancellationToken;

use super::{
    Directory, DirectoryView, SourceRefused, SourceReport, SyncOptions, SyncReport, sources,
};
use crate::{
    bridge::BridgeError,
    directory::{
        Employee, Record,
        plan::{self, Current, Membership, RoomState, SpaceKey},
        snapshot::{self, Change, Refused},
    },
    matrix::counting_requests,
    store::{RoomStateKind, StoredEmployee},
    threema::ThreemaId,
};

/// `bridge_state` key: when the last directory sync succeeded (Unix seconds), for `/metrics`.
pub const LAST_SYNC: &str = "directory.last_sync";

impl Directory {
    /// Reads every snapshot source, stores what passes the safety stop, and reconciles. One
    /// sync at a time; SCIM changes and timers queue behind a running one.
    pub async fn sync(&self, options: SyncOptions) -> Result<SyncReport, BridgeError> {
        let _one_at_a_time = self.lock.lock().await;
        let (report, calls) = counting_requests(self.sync_sources(options)).await;
        if !options.dry_run {
            let result = match &report {
                Err(_) => "failed",
                Ok(report) if report.refused() => "refused",
                Ok(report) if !report.failed.is_empty() => "partial",
                Ok(_) => "ok",
            };
            self.metrics.directory_sync(result);
            if result == "ok" {
                // Kept across restarts: a stale directory is noticed after one too.
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                if let Err(e) = self.store.state_set(LAST_SYNC, &now.to_string()).await {
                    tracing::warn!(error = %e, "cannot record the time of the directory sync");
                }
            }
        }
        let mut report = report?;
        report.homeserver_calls = calls;
        Ok(report)
    }

    async fn sync_sources(&self, options: SyncOptions) -> Result<SyncReport, BridgeError> {
        let mut report = SyncReport {
            dry_run: options.dry_run,
            ..Default::default()
        };
        let mut stored = self.store.employees().await?;
        for (source, read) in self.read_sources().await {
            let mut source_report = SourceReport {
                source: source.clone(),
                ..Default::default()
            };
            match read {
                Err(e) => source_report.refused = Some(SourceRefused::Unreadable(e)),
                Ok(parsed) => {
                    source_report.problems = parsed.problems;
                    let current: Vec<Employee> =
                        stored.iter().map(|s| s.employee.clone()).collect();
                    let changes = snapshot::diff(&current, &source, &parsed.records);
                    source_report.changes = changes.clone();
                    let check = snapshot::check(
                        &current,
                        &source,
                        &parsed.records,
                        &changes,
                        self.config.safety,
                        self.zone.today(),
                    );
                    match check {
                        Err(refused) if !options.force => {
                            self.refuse(&source, &refused, options.dry_run).await?;
                            source_report.refused = Some(SourceRefused::Stopped(refused));
                        }
                        _ if options.dry_run => {
                            stored = merged(stored, &source, &changes);
                        }
                        _ => {
                            if !changes.is_empty() {
                                self.store
                                    .employees_apply(
                                        &source,
                                        &changes,
                                        &format!("directory:{source}"),
                                    )
                                    .await?;
                                stored = self.store.employees().await?;
                            }
                        }
                    }
                }
            }
            report.sources.push(source_report);
        }
        self.reconcile_with(&stored, options.dry_run, &mut report)
            .await?;
        Ok(report)
    }

    /// Brings the rooms in line with the stored directory (after a SCIM change, on a timer).
    pub async fn reconcile(&self) -> Result<SyncReport, BridgeError> {
        let _one_at_a_time = self.lock.lock().await;
        let mut report = SyncReport::default();
        let (done, calls) = counting_requests(async {
            let stored = self.store.employees().await?;
            self.reconcile_with(&stored, false, &mut report).await
        })
        .await;
        done?;
        report.homeserver_calls = calls;
        Ok(report)
    }

    async fn refuse(
        &self,
        source: &str,
        refused: &Refused,
        dry_run: bool,
    ) -> Result<(), BridgeError> {
        tracing::error!(source, reason = %refused, "directory snapshot refused by the safety stop");
        if !dry_run {
            self.store
                .audit(
                    &format!("directory:{source}"),
                    "directory.refused",
                    source,
                    &refused.to_string(),
                )
                .await?;
            // The refusal is logged and audited already; a failed notice must not hide it.
            // The same refusal (the scheduled sync finds the same file) is told once.
            let digest = <sha2::Sha256 as sha2::Digest>::digest(refused.to_string().as_bytes());
            let txn = format!("directory-refused-{}", hex::encode(&digest[..8]));
            if let Err(e) = self
                .notices
                .to_admins(
                    &crate::tr!(
                        self.texts,
                        "directory-sync-stopped",
                        why = self.texts.snapshot_refused(refused)
                    ),
                    &txn,
                )
                .await
            {
                tracing::warn!(error = %e, "cannot tell the admins about the refused snapshot");
            }
        }
        Ok(())
    }

    async fn reconcile_with(
        &self,
        stored: &[StoredEmployee],
        dry_run: bool,
        report: &mut SyncReport,
    ) -> Result<(), BridgeError> {
        let looked_up = self.look_up_drivers(stored, dry_run, report).await?;
        let directory: Vec<Employee> = stored.iter().map(|s| s.employee.clone()).collect();
        if !dry_run {
            let view =
                DirectoryView::new(&directory, &looked_up, &self.config.plan, self.zone.today());
            self.access
                .replace_view(view.with_retired(self.store.retired_threema_ids().await?));
        }
        let current = self.current_setup().await?;
        let actions = plan::plan(
            &directory,
            &looked_up,
            &self.config.plan,
            &current,
            self.zone.today(),
        );
        report.planned = actions.clone();
        if dry_run {
            return Ok(());
        }
        let moved = actions
            .iter()
            .any(|a| matches!(a, plan::Action::MoveDriver { .. }));
        self.apply_all(actions, report).await;
        if moved {
            // What still comes from an old ID is a former driver's.
            self.load_view().await?;
        }
        // The plan removes the dispatchers the directory lists; this, everyone else.
        if let Err(e) = self.remove_unpermitted().await {
            tracing::warn!(error = %e, "cannot remove members who may not be in a room");
        }
        self.passed.notify_one();
        Ok(())
    }

    /// Threema IDs of drivers known by phone or email: stored ones, and new lookups.
    async fn look_up_drivers(
        &self,
        stored: &[StoredEmployee],
        dry_run: bool,
        report: &mut SyncReport,
    ) -> Result<HashMap<String, ThreemaId>, BridgeError> {
        let mut found = HashMap::new();
        for employee in stored {
            let record = &employee.employee.record;
            if record.threema_id.is_some() || record.role != crate::directory::Role::Driver {
                continue;
            }
            if let Some(id) = employee.looked_up() {
                found.insert(record.employee_id.clone(), id);
                continue;
            }
            if employee.employee.removed || !record.active {
                continue;
            }
            match self.look_up_threema_id(record).await {
                Ok(Some(id)) => {
                    if !dry_run {
                        self.store
                            .employee_set_looked_up(&record.employee_id, id.as_str())
                            .await?;
                    }
                    found.insert(record.employee_id.clone(), id);
                }
                // Phone numbers and addresses stay out of logs and reports.
                Ok(None) => report.problems.push(format!(
                    "{}: no Threema ID found by phone or email",
                    record.employee_id
                )),
                Err(e) => report.problems.push(format!(
                    "{}: Threema ID lookup failed: {e}",
                    record.employee_id
                )),
            }
        }
        Ok(found)
    }

    /// What the bridge set up so far, from the store.
    async fn current_setup(&self) -> Result<Current, BridgeError> {
        let mut current = Current::default();
        for portal in self.store.portals().await? {
            current
                .portals
                .insert(portal.threema_id, portal.room_id.to_string());
        }
        for ghost in self.store.ghosts().await? {
            if let Some(name) = ghost.display_name {
                current.ghost_names.insert(ghost.threema_id, name);
            }
        }
        for (key, room) in self.store.spaces().await? {
            current.spaces.insert(SpaceKey::parse(&key), room);
        }
        current.restricted = self
            .store
            .restricted()
            .await?
            .iter()
            .filter_map(|id| ThreemaId::parse(id))
            .collect();
        let (rooms, deactivated) = (&mut current.rooms, &mut current.deactivated);
        let each = |room: String, kind, key: String, value: String| {
            if room.is_empty() {
                if kind == RoomStateKind::Account
                    && let Ok(user) = ruma::OwnedUserId::try_from(key)
                {
                    deactivated.insert(user);
                }
                return;
            }
            let state: &mut RoomState = rooms.entry(room).or_default();
            match kind {
                RoomStateKind::Name => state.name = Some(value),
                RoomStateKind::Topic => state.topic = Some(value),
                RoomStateKind::ReadOnly => state.read_only = value == "true",
                RoomStateKind::Child => {
                    state.children.insert(key);
                }
                RoomStateKind::Member => {
                    if let (Ok(user), Some(m)) =
                        (ruma::OwnedUserId::try_from(key), Membership::parse(&value))
                    {
                        state.members.insert(user, m);
                    }
                }
                RoomStateKind::Employee => state.employee = Some(value),
                RoomStateKind::Account | RoomStateKind::Retired | RoomStateKind::MediaExpired => {}
            }
        };
        self.store.each_room_state(each).await?;
        Ok(current)
    }

    /// Runs the directory: a sync at start, when the CSV file changes, on every interval, and
    /// a reconcile whenever something (SCIM) rings its wake.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        if !self.config.enabled() {
            return;
        }
        let config = &self.config;
        // The full sync's first tick is now (the startup sync); the others wait a period.
        let later = |period| tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut full = config.sync_interval.map(tokio::time::interval);
        let mut check = later(config.check_interval);
        let mut http = config.http.as_ref().map(|h| later(h.interval));
        let mut csv_seen = sources::csv_stamp(config.csv.as_deref());
        loop {
            let run_sync = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = async { full.as_mut().expect("guarded").tick().await }, if full.is_some() => true,
                _ = async { http.as_mut().expect("guarded").tick().await }, if http.is_some() => true,
                _ = check.tick() => {
                    let stamp = sources::csv_stamp(config.csv.as_deref());
                    let changed = stamp != csv_seen;
                    csv_seen = stamp;
                    changed
                }
                _ = self.wake.notified() => false,
            };
            let result = if run_sync {
                self.sync(SyncOptions::default()).await
            } else {
                self.reconcile().await
            };
            match result {
                Ok(report) if report.failed.is_empty() && !report.refused() => {
                    tracing::info!(
                        applied = report.applied,
                        calls = report.homeserver_calls,
                        "directory in sync"
                    )
                }
                Ok(report) => tracing::warn!(report = %report, "directory sync incomplete"),
                Err(e) => tracing::error!(error = %e, "directory sync failed"),
            }
        }
    }
}

/// The stored directory as it would be after `changes` (for `--dry-run`).
fn merged(
    mut stored: Vec<StoredEmployee>,
    source: &str,
    changes: &[Change],
) -> Vec<StoredEmployee> {
    for change in changes {
        let position = stored
            .iter()
            .position(|s| s.employee.record.employee_id == change.employee_id());
        let employee = |record: &Record, removed| Employee {
            record: record.clone(),
            source: source.to_owned(),
            removed,
        };
        let new = match change {
            Change::Added(r) | Change::Changed(_, r) => employee(r, false),
            Change::Removed(r) => employee(r, true),
        };
        match position {
            Some(i) => stored[i].employee = new,
            None => stored.push(StoredEmployee {
                employee: new,
                scim_id: None,
                scim_user_name: None,
                looked_up_id: None,
                created_at: 0,
                updated_at: 0,
            }),
        }
    }
    stored
}
