//! The integration API's sends: a program of the company (the ERP, the transport management
//! system) writes to drivers through the bridge. A request is checked against the client's
//! scope, stored with its recipients in one transaction (an `Idempotency-Key` seen before
//! finds the stored message instead) and only then acknowledged; a worker then gives each
//! recipient their copy: the bot's message in the driver's portal, named after the client, and
//! the Threema message queued under it, signed with the client's name. Each step is recorded,
//! and repeated after a crash without a second copy (the post is found again by a key in its
//! content, the outbox keeps one row per event and part).
//!
//! The requests' shapes and bounds are `request`'s, job cards `job`'s, the worker `deliver`'s;
//! what became of a message (receipts, answers, job states) is derived in `events` and pushed
//! to the company's receivers by `webhooks`.

mod deliver;
pub mod events;
pub mod job;
mod request;
pub mod webhooks;

use std::sync::Arc;

use bridge_convert::plan::RelayTemplates;
use ruma::OwnedUserId;
use tokio::sync::Notify;

use job::JobRequest;
use request::{Content, StoredFile, check, decode, hash, replayed};
pub use request::{FileUpload, Recipient, SendRequest};

use super::{
    BridgeError, Broadcasts, Ghosts, Notices, Outbox, Portals, broadcast::Viewer,
    quick_codes::QuickCodes,
};
use crate::{
    config::{ApiClient, Config},
    directory::selection::{Exclusion, Expr},
    store::{ApiMessage, ApiStored, AuditRecord, OutboxState, Reaction, Store, now_ms},
    texts::Texts,
    threema::ThreemaId,
};

/// Recipients one request may reach (a selection of the whole fleet is a broadcast's job).
pub const MAX_RECIPIENTS: usize = 5_000;

/// Why a request sends nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendRefused {
    #[error("{0}")]
    Invalid(String),
    /// The driver named is outside the client's scope (never said who they are).
    #[error("the recipient is outside this client's scope")]
    OutOfScope,
    #[error("{0}")]
    NotReachable(String),
    #[error("the selection matches no driver this client may reach")]
    NobodySelected,
    #[error("this Idempotency-Key was used with a different request")]
    KeyReused,
}

/// A request taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    /// A repeated request (same Idempotency-Key): nothing new was sent.
    pub replayed: bool,
}

/// Where one recipient's copy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Stored; the copy is not queued yet.
    Accepted,
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
    /// The Gateway may have taken it (a crash during the call): not resent by itself.
    Unknown,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Accepted => "accepted",
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Failed => "failed",
            DeliveryState::Unknown => "unknown",
        }
    }
}

/// One recipient of a message, as far as it got (times in Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    pub threema_id: String,
    pub name: String,
    pub state: DeliveryState,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
    /// The driver's 👍 (acknowledged) or 👎 (declined), and when.
    pub reaction: Option<(&'static str, i64)>,
}

pub struct Integration {
    store: Store,
    /// Uploads a request's file (retrying: the request waits for it).
    matrix: crate::matrix::MatrixClient,
    ghosts: Arc<Ghosts>,
    portals: Arc<Portals>,
    notices: Arc<Notices>,
    outbox: Arc<Outbox>,
    broadcasts: Arc<Broadcasts>,
    texts: Arc<Texts>,
    relay: RelayTemplates,
    bot: OwnedUserId,
    /// What a job card's codes mean.
    quick_codes: QuickCodes,
    /// A copy given up is reported.
    events: Arc<events::ApiEvents>,
    wake: Notify,
}

impl Integration {
    pub(in crate::bridge) fn new(
        config: &Config,
        shared: &super::wiring::Shared,
        outbox: Arc<Outbox>,
        broadcasts: Arc<Broadcasts>,
    ) -> Self {
        Integration {
            store: shared.store.clone(),
            matrix: shared.matrix.clone(),
            ghosts: shared.ghosts.clone(),
            portals: shared.portals.clone(),
            notices: shared.notices.clone(),
            outbox,
            broadcasts,
            texts: shared.texts.clone(),
            relay: RelayTemplates {
                template: config.bridge.relay_template.clone(),
                emote_template: config.bridge.emote_template.clone(),
            },
            bot: config.bot_user_id(),
            quick_codes: config.quick_codes.clone(),
            events: shared.api_events.clone(),
            wake: Notify::new(),
        }
    }

    /// Checks and stores `request` of `client`; acknowledged once stored.
    pub async fn send(
        &self,
        client: &ApiClient,
        idempotency_key: Option<&str>,
        request: &SendRequest,
    ) -> Result<Result<Accepted, SendRefused>, BridgeError> {
        if let Err(refused) = check(&request.text, &request.reference, idempotency_key) {
            return Ok(Err(refused));
        }
        let file = match request.file.as_ref().map(decode).transpose() {
            Ok(file) => file,
            Err(refused) => return Ok(Err(refused)),
        };
        let content = Content {
            text: request.text.clone(),
            reference: request.reference.clone(),
            ack_requested: request.ack_requested,
            job: None,
            file,
        };
        (self.accept(client, idempotency_key, &request.to, hash(request), content)).await
    }

    /// Checks and stores job card `request` of `client` (to one driver); acknowledged once
    /// stored, sent like a message.
    pub async fn job(
        &self,
        client: &ApiClient,
        idempotency_key: Option<&str>,
        request: &JobRequest,
    ) -> Result<Result<Accepted, SendRefused>, BridgeError> {
        if let Recipient::Selection(_) = request.to {
            return Ok(Err(SendRefused::Invalid(
                "a job goes to one driver: to.employee_id or to.threema_id".into(),
            )));
        }
        if let Some(problem) = request.job.problem(&self.quick_codes) {
            return Ok(Err(SendRefused::Invalid(problem)));
        }
        let text = request.job.render(&self.texts, &self.quick_codes);
        if let Err(refused) = check(&text, &request.reference, idempotency_key) {
            return Ok(Err(refused));
        }
        let content = Content {
            text,
            reference: request.reference.clone(),
            ack_requested: false,
            job: Some(serde_json::to_string(&request.job).expect("a job serialises")),
            file: None,
        };
        (self.accept(client, idempotency_key, &request.to, hash(request), content)).await
    }

    /// Stores what `client` asked to send to `to` (a repeated Idempotency-Key finds the
    /// earlier request instead), audits it per driver and wakes the worker.
    async fn accept(
        &self,
        client: &ApiClient,
        idempotency_key: Option<&str>,
        to: &Recipient,
        request_hash: String,
        content: Content,
    ) -> Result<Result<Accepted, SendRefused>, BridgeError> {
        // A repeated request is answered before its recipients are looked at again: they may
        // have changed since, the message may not.
        if let Some(key) = idempotency_key
            && let Some(earlier) = self.store.api_message_by_key(&client.name, key).await?
        {
            return Ok(replayed(earlier, &request_hash));
        }
        let recipients = match self.recipients(client, to).await? {
            Ok(recipients) => recipients,
            Err(refused) => return Ok(Err(refused)),
        };
        // In the media store before the request is stored: what is stored can be sent.
        let file = match content.file {
            None => None,
            Some((upload, bytes)) => {
                let size = bytes.len();
                let mxc = (self.matrix)
                    .upload(
                        bytes.into(),
                        &upload.mime_type,
                        Some(&upload.name),
                        &self.bot,
                    )
                    .await?;
                let stored = StoredFile {
                    mxc: mxc.to_string(),
                    name: upload.name.clone(),
                    mime_type: upload.mime_type.clone(),
                    size,
                };
                Some(serde_json::to_string(&stored).expect("a file serialises"))
            }
        };
        let now = now_ms();
        let is_job = content.job.is_some();
        let message = ApiMessage {
            id: format!(
                "{}_{}",
                if is_job { "job" } else { "msg" },
                hex::encode(rand::random::<[u8; 12]>())
            ),
            client: client.name.clone(),
            idempotency_key: idempotency_key.map(str::to_owned),
            request_hash: request_hash.clone(),
            reference: content.reference,
            ack_requested: content.ack_requested,
            created_at: now,
            job: content.job,
            job_state: is_job.then(|| job::OPEN.to_owned()),
            job_state_at: is_job.then_some(now),
            file,
        };
        let rows: Vec<(String, String)> = (recipients.iter())
            .map(|(id, name)| (id.to_string(), name.clone()))
            .collect();
        // Audited with the message, in its transaction: by message id (the reference is the
        // client's free text).
        let actor = format!("api:{}", client.name);
        let action = if is_job { "api.job" } else { "api.message" };
        let audit: Vec<AuditRecord> = (recipients.iter())
            .map(|(driver, _)| AuditRecord {
                actor: actor.clone(),
                action: action.to_owned(),
                subject: driver.to_string(),
                details: format!("message {}", message.id),
            })
            .collect();
        match (self.store)
            .api_message_insert(&message, &content.text, &rows, &audit)
            .await?
        {
            ApiStored::Existing(earlier) => return Ok(replayed(*earlier, &request_hash)),
            ApiStored::Created => {}
        }
        self.wake.notify_one();
        Ok(Ok(Accepted {
            id: message.id,
            replayed: false,
        }))
    }

    /// The drivers `to` names that `client` may reach, or why none.
    async fn recipients(
        &self,
        client: &ApiClient,
        to: &Recipient,
    ) -> Result<Result<Vec<(ThreemaId, String)>, SendRefused>, BridgeError> {
        let (expr, named) = match to {
            Recipient::EmployeeId(id) => (
                Expr::Attribute("employee".into(), vec![id.trim().to_owned()]),
                true,
            ),
            Recipient::ThreemaId(id) => match ThreemaId::parse(&id.trim().to_uppercase()) {
                Some(id) if !id.is_gateway_id() => (Expr::Id(id), true),
                _ => {
                    return Ok(Err(SendRefused::Invalid(
                        "to.threema_id is not a driver's Threema ID (8 letters and digits)".into(),
                    )));
                }
            },
            Recipient::Selection(text) => match self.broadcasts.parse_selection(text).await? {
                Ok(expr) => (expr, false),
                Err(e) => {
                    return Ok(Err(SendRefused::Invalid(format!(
                        "to.selection is not understood: {e}"
                    ))));
                }
            },
        };
        let selected = (self.broadcasts)
            .select(&expr, Viewer::Client(client.scope.as_ref()))
            .await?;
        if named && selected.recipients.is_empty() {
            // Outside the scope is said as such, whatever else applies: who is there stays
            // unsaid.
            let why = selected.excluded.iter().map(|(_, why)| *why);
            return Ok(Err(
                match why.min_by_key(|why| *why != Exclusion::OutOfScope) {
                    Some(Exclusion::OutOfScope) => SendRefused::OutOfScope,
                    // A scoped client learns nothing of who exists outside its scope.
                    Some(Exclusion::Unknown) | None if client.scope.is_some() => {
                        SendRefused::OutOfScope
                    }
                    Some(Exclusion::Left) => {
                        SendRefused::NotReachable("the driver has left the company".into())
                    }
                    Some(Exclusion::NoThreemaId) => {
                        SendRefused::NotReachable("the driver has no Threema ID yet".into())
                    }
                    Some(Exclusion::Unknown) | None => {
                        SendRefused::NotReachable("no driver the bridge knows has this ID".into())
                    }
                },
            ));
        }
        if selected.recipients.is_empty() {
            return Ok(Err(SendRefused::NobodySelected));
        }
        if selected.recipients.len() > MAX_RECIPIENTS {
            return Ok(Err(SendRefused::Invalid(format!(
                "the selection matches {} drivers, more than the {MAX_RECIPIENTS} one request \
                 may reach",
                selected.recipients.len()
            ))));
        }
        Ok(Ok(selected.recipients))
    }

    /// The message `id` of `client` with each recipient's state.
    pub async fn status(
        &self,
        client: &ApiClient,
        id: &str,
    ) -> Result<Option<(ApiMessage, Vec<RecipientStatus>)>, BridgeError> {
        let Some((message, recipients)) = self.store.api_message(&client.name, id).await? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for recipient in recipients {
            let rows = match &recipient.portal_event {
                Some(event) if recipient.queued_at.is_some() => {
                    self.store.outbox_by_event(event).await?
                }
                _ => Vec::new(),
            };
            let first = (rows.iter())
                .filter(|row| row.recipient.as_str() == recipient.driver && row.part == 0)
                .max_by_key(|row| row.resend);
            let status = first.map(|row| &row.status);
            let state = match first {
                None if recipient.failed_at.is_some() => DeliveryState::Failed,
                None if recipient.queued_at.is_some() => DeliveryState::Queued,
                None => DeliveryState::Accepted,
                Some(row) => match row.state {
                    OutboxState::Queued | OutboxState::Sending => DeliveryState::Queued,
                    OutboxState::Failed => DeliveryState::Failed,
                    OutboxState::Unknown => DeliveryState::Unknown,
                    OutboxState::Sent if row.status.read_at.is_some() => DeliveryState::Read,
                    OutboxState::Sent if row.status.received_at.is_some() => {
                        DeliveryState::Delivered
                    }
                    OutboxState::Sent => DeliveryState::Sent,
                },
            };
            // The driver's latest 👍/👎 on any part (the ack request is a part of its own).
            let reaction = (rows.iter())
                .filter(|row| row.recipient.as_str() == recipient.driver)
                .filter_map(|row| Some((row.status.reaction?, row.status.reaction_at?)))
                .max_by_key(|(_, at)| *at)
                .map(|(reaction, at)| {
                    let word = match reaction {
                        Reaction::Acknowledged => "acknowledged",
                        Reaction::Declined => "declined",
                    };
                    (word, at)
                });
            out.push(RecipientStatus {
                threema_id: recipient.driver,
                name: recipient.name,
                state,
                sent_at: status.and_then(|s| s.sent_at),
                delivered_at: status.and_then(|s| s.received_at),
                read_at: status.and_then(|s| s.read_at),
                reaction,
            });
        }
        Ok(Some((message, out)))
    }
}
