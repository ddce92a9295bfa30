//! The admins' commands in the management room: the data-protection ones (`erase`, `export`,
//! `retention run`), the directory's `sync` and the `audit` trail.

use ruma::{EventId, RoomId, UserId};

use super::Management;
use crate::{
    bridge::{
        BridgeError,
        lifecycle::{self, LifecycleError, erase, export, requests, retention},
        status,
    },
    tr,
};

impl Management {
    pub(super) async fn erase_command(
        &self,
        args: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        let Some(admin) = &self.synapse_admin else {
            return Ok(tr!(self.texts, "mgmt-erase-needs-admin"));
        };
        let eraser = erase::Eraser {
            store: &self.store,
            matrix: &self.matrix,
            admin,
            domain: self.bot.server_name(),
            hasher: &self.erased_ids,
            zone: &self.config.bridge.timezone,
        };
        erase::answer(&eraser, &self.texts, args, sender.as_str()).await
    }

    /// The ZIP goes into the homeserver's media store, readable by the room's members: the
    /// answer says to remove it once handed over.
    pub(super) async fn export_command(
        &self,
        args: &str,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        let Some((subject, flags)) = lifecycle::command_args(args, &["--dry-run"]) else {
            return Ok(tr!(self.texts, "mgmt-export-usage"));
        };
        let dry_run = flags.contains(&"--dry-run");
        let exporter = export::Exporter {
            store: &self.store,
            matrix: &self.matrix,
            config: &self.config,
        };
        let file = std::env::temp_dir().join(format!(
            "threema-bridge-export-{}.zip",
            hex::encode(rand::random::<[u8; 8]>())
        ));
        let result = exporter
            .export(&subject, sender.as_str(), None, Some(&file), dry_run)
            .await;
        let summary = match result {
            Ok(export::Exported::WouldWrite(summary)) => {
                return Ok(tr!(
                    self.texts,
                    "mgmt-export-dry-run",
                    summary = summary.said(&self.texts)
                ));
            }
            Ok(export::Exported::Written { summary, .. }) => summary,
            Err(LifecycleError::Store(e)) => return Err(e.into()),
            Err(LifecycleError::Homeserver(e)) => {
                return Ok(tr!(
                    self.texts,
                    "mgmt-homeserver-silent",
                    error = e.to_string()
                ));
            }
            Err(e) => return Ok(e.said(&self.texts)),
        };
        let bytes = std::fs::read(&file);
        let _ = std::fs::remove_file(&file);
        let bytes = bytes.map_err(|e| BridgeError::BadEvent(format!("the export's file: {e}")))?;
        let name = format!("gdpr-export-{}.zip", requests::today());
        let size = bytes.len();
        let uri = self
            .matrix
            .upload(bytes.into(), "application/zip", Some(&name), &self.bot)
            .await?;
        let content = serde_json::json!({
            "msgtype": "m.file",
            "body": name,
            "filename": name,
            "url": uri,
            "info": {"mimetype": "application/zip", "size": size},
        });
        self.notices
            .post_raw(room_id, &content, &format!("export-{event_id}"))
            .await?;
        Ok(tr!(
            self.texts,
            "mgmt-exported",
            size = size,
            summary = summary.said(&self.texts)
        ))
    }

    pub(super) async fn retention_command(
        &self,
        args: &str,
        sender: &UserId,
    ) -> Result<String, BridgeError> {
        let dry_run = match args.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["run"] => false,
            ["run", "--dry-run"] => true,
            _ => return Ok(tr!(self.texts, "mgmt-retention-usage")),
        };
        let retention = retention::Retention {
            store: &self.store,
            matrix: &self.matrix,
            admin: self.synapse_admin.as_ref(),
            config: &self.config.retention,
            domain: self.bot.server_name(),
        };
        Ok(match retention.run(sender.as_str(), dry_run).await {
            Ok(report) if dry_run => {
                tr!(
                    self.texts,
                    "mgmt-retention-dry-run",
                    report = report.said(&self.texts)
                )
            }
            Ok(report) => tr!(
                self.texts,
                "mgmt-retention-done",
                report = report.said(&self.texts)
            ),
            Err(LifecycleError::Store(e)) => return Err(e.into()),
            // The homeserver's failure says itself what to do.
            Err(e @ LifecycleError::Homeserver(_)) => e.said(&self.texts),
            Err(e) => tr!(
                self.texts,
                "mgmt-retention-failed",
                error = e.said(&self.texts)
            ),
        })
    }

    pub(super) async fn sync_command(&self) -> Result<String, BridgeError> {
        if !self.directory_enabled {
            return Ok(tr!(self.texts, "mgmt-no-directory"));
        }
        let report = self
            .directory
            .sync(crate::bridge::directory::SyncOptions::default())
            .await?;
        // A first sync plans thousands of lines; the room gets the head, the log has it all.
        let answer = report.said(&self.texts);
        let mut lines = answer.lines();
        let mut head: Vec<String> = lines.by_ref().take(40).map(str::to_owned).collect();
        if lines.next().is_some() {
            head.push(tr!(self.texts, "mgmt-rest-in-log"));
            tracing::info!(report = %report, "directory sync from the management room");
        }
        Ok(head.join("\n"))
    }

    pub(super) async fn audit_command(&self, subject: Option<&str>) -> Result<String, BridgeError> {
        let entries = self.store.audit_recent(subject, 20).await?;
        if entries.is_empty() {
            return Ok(tr!(self.texts, "mgmt-no-audit"));
        }
        Ok(entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {}: {}",
                    status::time_in(e.at, &self.config.bridge.timezone),
                    e.actor,
                    e.action,
                    e.subject,
                    e.details
                )
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }
}
