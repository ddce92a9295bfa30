//! The audit trail's running parts: the key its hashes use, checkpoints (signed, written to a
//! folder outside the database, posted to the admins' audit room) and `audit verify`.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use ruma::{OwnedRoomId, OwnedUserId};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::{BridgeError, bot_room::BotRoom, notice::Notices};
use crate::{
    audit::{AuditKey, Break, Checkpoint, CheckpointError, Hash, SigningKey},
    config::Config,
    matrix::MatrixClient,
    store::{AuditRecord, Broadcast, OutboxItem, Store, StoreError},
};
use bridge_convert::plan::Outgoing;

/// `bridge_state` key of the admins' audit room.
pub const AUDIT_ROOM: &str = "audit_room";

/// The key of the trail's keyed hashes, derived from the Gateway private key as the erasure's
/// ID hashes are (its own purpose string, so the two say nothing about each other).
pub fn key(config: &Config) -> AuditKey {
    let mut hash = Sha256::new();
    hash.update(b"threema-bridge audit\0");
    hash.update(config.threema.private_key.expose_secret().as_bytes());
    AuditKey::new(hash.finalize().into())
}

/// The entry for a dispatcher's message that reached the Gateway: who, to whom, the Matrix
/// event, the Threema message ID and a keyed hash of what was sent, never the text itself.
pub fn sent(row: &OutboxItem, message_id: &str, key: &AuditKey) -> AuditRecord {
    let (kind, target) = match serde_json::from_str::<Outgoing>(&row.payload) {
        Ok(Outgoing::Edit { target, .. }) => ("message.edited", Some(target)),
        Ok(Outgoing::Delete { target, .. }) => ("message.deleted", Some(target)),
        Ok(Outgoing::Agreement { target, agree }) => (
            if agree {
                "message.agreed"
            } else {
                "message.declined"
            },
            Some(target),
        ),
        Ok(Outgoing::Poll(_)) if row.resend == 0 => ("poll.sent", None),
        Ok(Outgoing::PollClose { target }) => ("poll.closed", Some(target)),
        Ok(Outgoing::PollVote { target, .. }) => ("poll.voted", Some(target)),
        _ if row.resend > 0 => ("message.resent", None),
        _ => ("message.sent", None),
    };
    let mut details = format!(
        "event {} part {} in {}, Threema message {message_id}, content hmac {}",
        row.event_id,
        row.part,
        row.room_id,
        key.body_hash(&row.payload)
    );
    if let Some(target) = target {
        details += &format!(", of event {target}");
    }
    if row.resend > 0 {
        details += &format!(", try {}", row.resend + 1);
    }
    AuditRecord {
        actor: row.sender.to_string(),
        action: kind.to_owned(),
        subject: row.recipient.to_string(),
        details,
    }
}

/// A broadcast's one entry, however many it reaches: who, the room, how many, a keyed hash of
/// the recipient list (which list it was can be shown later, the list is not kept here) and of
/// the content.
pub fn broadcast(
    broadcast: &Broadcast,
    recipients: &[(String, String)],
    key: &AuditKey,
) -> AuditRecord {
    let mut ids: Vec<&str> = recipients.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    AuditRecord {
        actor: broadcast.sender.to_string(),
        action: "broadcast.started".to_owned(),
        subject: broadcast.room_id.to_string(),
        details: format!(
            "event {}, {} recipient(s), recipient list hmac {}, content hmac {}",
            broadcast.event_id,
            ids.len(),
            key.body_hash(&ids.join("\n")),
            key.body_hash(&broadcast.payload)
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    #[error("audit.signing_key_file is not set: checkpoints need a key (`audit keygen` makes one)")]
    NoKey,
    #[error(
        "the database's audit chain ends at entry {head}, before the newest checkpoint's entry {checkpoint}: restored from an older backup or cut? Run `audit verify`; no checkpoint is signed until it is resolved"
    )]
    Behind { head: i64, checkpoint: i64 },
}

/// Takes checkpoints: the head signed, written into the folder, posted in the audit room.
pub struct Checkpoints {
    store: Store,
    key: SigningKey,
    dir: PathBuf,
    room: Option<AuditRoom>,
}

/// Where checkpoints are posted: a closed room of the bot's with the admins invited.
pub struct AuditRoom {
    pub matrix: MatrixClient,
    pub notices: Arc<Notices>,
    pub domain: ruma::OwnedServerName,
    pub admins: Vec<OwnedUserId>,
}

impl Checkpoints {
    /// `None` when `audit.signing_key_file` is not set.
    pub fn new(
        config: &Config,
        store: Store,
        room: Option<AuditRoom>,
    ) -> Result<Option<Self>, AuditError> {
        let (Some(key_file), Some(dir)) =
            (&config.audit.signing_key_file, &config.audit.checkpoint_dir)
        else {
            return Ok(None);
        };
        Ok(Some(Checkpoints {
            store,
            key: SigningKey::read(key_file)?,
            dir: dir.clone(),
            room,
        }))
    }

    /// Signs the head unless the newest checkpoint in the folder already has it; returns the
    /// new checkpoint.
    pub async fn take(&self) -> Result<Option<Checkpoint>, AuditError> {
        let head = self.store.audit_head().await?;
        if let Some((_, newest)) = Checkpoint::read_dir(&self.dir)?.into_iter().next_back() {
            if newest.seq > head.seq {
                // Signing the older head would bury the evidence under a newer file.
                return Err(AuditError::Behind {
                    head: head.seq,
                    checkpoint: newest.seq,
                });
            }
            if newest.seq == head.seq && newest.head == head.head.hex() {
                return Ok(None);
            }
        }
        let checkpoint = Checkpoint::sign(&self.key, head.seq, head.head, crate::store::now_ms());
        let path = checkpoint.write_into(&self.dir)?;
        tracing::info!(seq = checkpoint.seq, path = %path.display(), "audit checkpoint written");
        if let Some(room) = &self.room {
            let room_id = room.ensure(&self.store).await?;
            let text = format!(
                "Audit checkpoint: entry {} head {} at {}\n{}",
                checkpoint.seq,
                checkpoint.head,
                crate::bridge::status::time(checkpoint.at),
                checkpoint.to_json()
            );
            room.notices
                .notice(
                    &room_id,
                    None,
                    &text,
                    &format!("audit-checkpoint-{}-{}", checkpoint.seq, checkpoint.at),
                )
                .await?;
        }
        Ok(Some(checkpoint))
    }

    /// Takes one now and then every `every`, until `shutdown`. A failure is logged and tried
    /// again at the next turn.
    pub async fn watch(self: Arc<Self>, every: std::time::Duration, shutdown: CancellationToken) {
        loop {
            if let Err(e) = self.take().await {
                tracing::warn!(error = %crate::error_chain::chain(&e), "audit checkpoint failed");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

impl AuditRoom {
    /// The room, created once (found again through its alias) with the admins invited.
    async fn ensure(&self, store: &Store) -> Result<OwnedRoomId, BridgeError> {
        let room = BotRoom {
            state_key: AUDIT_ROOM,
            alias: "audit",
            name: "Threema bridge: audit checkpoints",
            topic: "Signed heads of the bridge's audit trail, for `audit verify` against a \
                    database that may have been rewritten. Admins only.",
            invite: self.admins.clone(),
        };
        room.ensure(store, &self.matrix, &self.domain).await
    }
}

/// What `audit verify` found when everything matched.
#[derive(Debug)]
pub struct Verification {
    pub entries: u64,
    pub head: Hash,
    pub first_seq: i64,
    /// The newest checkpoint, all of them checked.
    pub last_checkpoint: Option<Checkpoint>,
    /// Checkpoints from before the kept chain's start (retention pruned what they cover).
    pub pruned_checkpoints: usize,
}

/// What `audit verify` found wrong: the first break.
#[derive(Debug, thiserror::Error)]
pub enum VerifyFailure {
    #[error(transparent)]
    Chain(#[from] Break),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "{path}: entry {seq} has another head in the database than the checkpoint signed (the chain was rewritten)"
    )]
    Rewritten { path: PathBuf, seq: i64 },
    #[error(
        "{path}: the checkpoint covers entry {seq}, the database ends at entry {last} (restored from an older backup, or its newest entries were deleted)"
    )]
    Behind { path: PathBuf, seq: i64, last: i64 },
}

/// Walks the chain and checks every checkpoint in the folder against it. The outer error is
/// one that stopped the check (the database unreachable); the inner one what did not match.
pub async fn verify(
    store: &Store,
    config: &Config,
) -> Result<Result<Verification, VerifyFailure>, AuditError> {
    let checkpoints = match (&config.audit.checkpoint_dir, &config.audit.signing_key_file) {
        (Some(dir), Some(key_file)) => {
            let key = SigningKey::read(key_file)?;
            match read_checkpoints(dir, &key) {
                Ok(checkpoints) => checkpoints,
                Err(e) => return Ok(Err(e)),
            }
        }
        _ => Vec::new(),
    };
    let wanted: BTreeSet<i64> = checkpoints.iter().map(|(_, c)| c.seq).collect();
    let walked = store.audit_walk(&wanted).await?;
    let verified = match walked.result {
        Ok(verified) => verified,
        Err(e) => return Ok(Err(e.into())),
    };
    let mut pruned = 0;
    for (path, checkpoint) in &checkpoints {
        if checkpoint.seq > verified.last_seq {
            return Ok(Err(VerifyFailure::Behind {
                path: path.clone(),
                seq: checkpoint.seq,
                last: verified.last_seq,
            }));
        }
        let expected = if checkpoint.seq == walked.start.first_seq - 1 {
            Some(walked.start.previous)
        } else {
            walked.heads.get(&checkpoint.seq).copied()
        };
        match expected {
            None => pruned += 1,
            Some(head) if head.hex() == checkpoint.head => {}
            Some(_) => {
                return Ok(Err(VerifyFailure::Rewritten {
                    path: path.clone(),
                    seq: checkpoint.seq,
                }));
            }
        }
    }
    Ok(Ok(Verification {
        entries: verified.entries,
        head: verified.head,
        first_seq: walked.start.first_seq,
        last_checkpoint: checkpoints.into_iter().next_back().map(|(_, c)| c),
        pruned_checkpoints: pruned,
    }))
}

/// Every checkpoint in `dir`, each signature checked with `key`.
fn read_checkpoints(
    dir: &Path,
    key: &SigningKey,
) -> Result<Vec<(PathBuf, Checkpoint)>, VerifyFailure> {
    let checkpoints = Checkpoint::read_dir(dir)?;
    for (path, checkpoint) in &checkpoints {
        checkpoint.verify(key, path)?;
    }
    Ok(checkpoints)
}
