//! The integration API's sends: a program of the company (the ERP, the transport management
//! system) writes to drivers through the bridge. A request is checked against the client's
//! scope, stored with its recipients in one transaction (an `Idempotency-Key` seen before
//! finds the stored message instead) and only then acknowledged; a worker then gives each
//! recipient their copy: the bot's message in the driver's portal, named after the client, and
//! the Threema message queued under it, signed with the client's name. Each step is recorded,
//! and repeated after a crash without a second copy (the post is found again by a key in its
//! content, the outbox keeps one row per event and part).

pub mod events;
pub mod job;
pub mod webhooks;

use std::{sync::Arc, time::Duration};

use bridge_convert::{
    plan::{EditTarget, Outgoing, Plan, RelayTemplates, plan_message, plan_poll, signed_text},
    poll::start_content,
};
use ruma::events::room::message::RoomMessageEventContent;
use ruma::{OwnedRoomId, OwnedUserId};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use job::JobRequest;

use super::{
    BridgeError, Broadcasts, Ghosts, Notices, Outbox, Portals, broadcast::Viewer,
    quick_codes::QuickCodes,
};
use crate::{
    config::{ApiClient, Config},
    directory::selection::{Exclusion, Expr},
    store::{ApiMessage, ApiPending, ApiStored, AuditRecord, OutboxState, Reaction, Store, now_ms},
    texts::Texts,
    threema::ThreemaId,
    tr,
};

/// Names the API message and recipient a portal copy was posted for.
const API_KEY: &str = "org.threema_bridge.api_message";
/// A text longer than this is not a dispatch message (the outbox splits what fits Threema).
pub const MAX_TEXT_CHARS: usize = 10_000;
pub const MAX_REFERENCE_CHARS: usize = 200;
pub const MAX_KEY_CHARS: usize = 255;
/// A delivery note or a photo, not a video archive.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Recipients one request may reach (a selection of the whole fleet is a broadcast's job).
pub const MAX_RECIPIENTS: usize = 5_000;
/// After the store could not be read, the next look.
const RETRY: Duration = Duration::from_secs(10);
/// A copy that could not be given is tried this often, at most this far apart (about a day).
const MAX_ATTEMPTS: i64 = 30;
const MAX_BACKOFF_MS: i64 = 3_600_000;

/// Whom a message is for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Recipient {
    EmployeeId(String),
    ThreemaId(String),
    /// A selection in the broadcast syntax (`depot=North AND shift=late`).
    Selection(String),
}

/// `POST /api/v1/messages`, as the client sent it.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub to: Recipient,
    /// With a file: its caption.
    pub text: String,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub ack_requested: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileUpload>,
}

/// A file sent with the text (a delivery note, a map), in the request's JSON.
#[derive(Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileUpload {
    pub name: String,
    pub mime_type: String,
    pub data_base64: String,
}

/// Without the texts and the file's bytes (personal data).
impl std::fmt::Debug for SendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendRequest")
            .field("to", &self.to)
            .field("ack_requested", &self.ack_requested)
            .field("file", &self.file.is_some())
            .finish_non_exhaustive()
    }
}

/// A file as stored with the message once it is in the homeserver's media store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct StoredFile {
    pub mxc: String,
    pub name: String,
    pub mime_type: String,
    pub size: usize,
}

impl StoredFile {
    /// As a Matrix message with `caption` (an image or a file; Matrix 1.10 captions).
    fn content(&self, caption: &str) -> RoomMessageEventContent {
        let image = self.mime_type.starts_with("image/");
        serde_json::from_value(json!({
            "msgtype": if image { "m.image" } else { "m.file" },
            "body": if caption.is_empty() { self.name.as_str() } else { caption },
            "filename": self.name,
            "url": self.mxc,
            "info": {"mimetype": self.mime_type, "size": self.size},
        }))
        .expect("a file message")
    }
}

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
            out.push(RecipientStatus {
                threema_id: recipient.driver,
                name: recipient.name,
                state,
                sent_at: status.and_then(|s| s.sent_at),
                delivered_at: status.and_then(|s| s.received_at),
                read_at: status.and_then(|s| s.read_at),
                reaction: status.and_then(|s| {
                    let word = match s.reaction? {
                        Reaction::Acknowledged => "acknowledged",
                        Reaction::Declined => "declined",
                    };
                    Some((word, s.reaction_at?))
                }),
            });
        }
        Ok(Some((message, out)))
    }

    /// Gives every stored recipient their copy, until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let wait = match self.deliver_pending().await {
                Ok(true) => Duration::ZERO,
                Ok(false) => Duration::from_secs(60),
                Err(e) => {
                    tracing::warn!(error = %e, "integration API: a copy could not be given; tried again shortly");
                    RETRY
                }
            };
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One batch; whether there may be more. A copy that cannot be given is tried again
    /// later, with back-off, and given up after a day of tries (the client told by the
    /// message's state and a `message.failed`); the others go on meanwhile.
    async fn deliver_pending(&self) -> Result<bool, BridgeError> {
        let pending = self.store.api_pending(50).await?;
        for item in &pending {
            let Err(e) = self.deliver(item).await else {
                continue;
            };
            let recipient = &item.recipient;
            let (id, driver) = (&recipient.message_id, &recipient.driver);
            tracing::warn!(message = %id, error = %crate::error_chain::chain(&e), "integration API: a copy could not be given");
            let attempts = recipient.attempts + 1;
            let next_at = (attempts < MAX_ATTEMPTS)
                .then(|| now_ms() + (1000_i64 << attempts.min(10)).min(MAX_BACKOFF_MS));
            self.store.api_recipient_retry(id, driver, next_at).await?;
            if next_at.is_none() {
                self.events.on_copy_failed(id, driver).await?;
            }
        }
        Ok(pending.len() == 50)
    }

    /// The portal copy (posted once), then the Threema message queued under it.
    async fn deliver(&self, item: &ApiPending) -> Result<(), BridgeError> {
        let recipient = &item.recipient;
        let Some(driver) = ThreemaId::parse(&recipient.driver) else {
            // Not a Threema ID (cannot happen: stored from a selection): nothing to give.
            (self.store)
                .api_recipient_queued(&recipient.message_id, &recipient.driver)
                .await?;
            return Ok(());
        };
        let portal = self.portal(&driver, &recipient.name).await?;
        let poll = (item.job.as_deref())
            .and_then(|j| serde_json::from_str::<job::Job>(j).ok())
            .and_then(|job| job.poll());
        let file: Option<StoredFile> = item
            .file
            .as_deref()
            .and_then(|f| serde_json::from_str(f).ok());
        let event = match &recipient.portal_event {
            Some(event) => event.clone(),
            None => {
                let body = tr!(
                    self.texts,
                    "api-portal-copy",
                    client = item.client.as_str(),
                    text = item.body.as_str()
                );
                // A job card answered in a poll: the copy is the poll, the card its question;
                // with a file, the file with the text as its caption (Matrix 1.10).
                let poll_start = (poll.as_ref())
                    .and_then(|p| start_content(p.namespace, &body, &p.answers, false));
                let mut content = match (poll_start, &file) {
                    (Some(start), _) => start,
                    (None, Some(file)) => {
                        let mut content =
                            serde_json::to_value(file.content("")).expect("content serialises");
                        content["body"] = json!(body);
                        content
                    }
                    (None, None) => json!({"msgtype": "m.text", "body": body}),
                };
                content["m.mentions"] = json!({});
                content[API_KEY] = json!(format!("{}/{}", recipient.message_id, recipient.driver));
                let txn = format!("api-{}-{}", recipient.message_id, recipient.driver);
                let posted = (self.notices)
                    .post_once(&portal, &content, API_KEY, true, &txn, async { Ok(()) })
                    .await?;
                (self.store)
                    .api_recipient_posted(&recipient.message_id, &recipient.driver, posted.as_str())
                    .await?;
                posted.to_string()
            }
        };
        let relay = self.relay.by(&item.client);
        let mut items = match &file {
            None => signed_text(&item.body, relay),
            // Planned as a dispatcher's file with that caption would be.
            Some(file) => {
                match plan_message(&file.content(&item.body), relay, |_| EditTarget::Unknown) {
                    Plan::Send(items) => items,
                    Plan::Refuse(why) => {
                        return Err(BridgeError::BadEvent(format!("an API file: {why:?}")));
                    }
                }
            }
        };
        if let Some(poll) = &poll {
            // The same poll id whenever this is repeated: the outbox keeps the first.
            let digest = Sha256::digest(format!("{}/{}", recipient.message_id, recipient.driver));
            let poll_id = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
            match plan_poll(poll, relay, poll_id, None) {
                Plan::Send(poll) => items.extend(poll),
                Plan::Refuse(why) => {
                    return Err(BridgeError::BadEvent(format!("an API job's poll: {why:?}")));
                }
            }
        }
        if item.ack_requested {
            items.push(Outgoing::Text {
                text: tr!(self.texts, "broadcast-ack-request"),
                reply_to: None,
            });
        }
        (self.outbox)
            .queue(&items, &driver, &event, &portal, self.bot.as_str(), false)
            .await?;
        (self.store)
            .api_recipient_queued(&recipient.message_id, &recipient.driver)
            .await?;
        Ok(())
    }

    /// The driver's portal, made if they have none yet.
    async fn portal(&self, driver: &ThreemaId, name: &str) -> Result<OwnedRoomId, BridgeError> {
        if let Some(portal) = self.store.portal_by_threema_id(driver.as_str()).await? {
            return Ok(portal.room_id);
        }
        let ghost = self.ghosts.ensure_named(driver, name).await?;
        self.portals.ensure(driver, &ghost, name).await
    }
}

/// What a request sends, however it was asked.
struct Content {
    text: String,
    reference: Option<String>,
    ack_requested: bool,
    /// A job card (JSON).
    job: Option<String>,
    /// A file and its bytes.
    file: Option<(FileUpload, Vec<u8>)>,
}

/// The file's bytes, if it is one the bridge sends.
fn decode(file: &FileUpload) -> Result<(FileUpload, Vec<u8>), SendRefused> {
    use base64::Engine;
    let invalid = |why: String| Err(SendRefused::Invalid(why));
    let name = file.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.contains(['/', '\\']) {
        return invalid("file.name must have 1 to 255 characters and no path".into());
    }
    let mime = file.mime_type.trim();
    let media_type = mime.split_once('/').is_some_and(|(kind, sub)| {
        let token =
            |s: &str| !s.is_empty() && !s.contains(|c: char| c.is_whitespace() || c.is_control());
        token(kind) && token(sub.split(';').next().unwrap_or_default())
    });
    if !media_type {
        return invalid("file.mime_type is not a media type (like application/pdf)".into());
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(file.data_base64.trim())
    else {
        return invalid("file.data_base64 is not base64".into());
    };
    if bytes.is_empty() || bytes.len() > MAX_FILE_BYTES {
        return invalid(format!("the file must have 1 to {MAX_FILE_BYTES} bytes"));
    }
    let upload = FileUpload {
        name: name.to_owned(),
        mime_type: mime.to_owned(),
        data_base64: String::new(),
    };
    Ok((upload, bytes))
}

/// What a request is, to tell a repeated one from another with the same key.
fn hash(request: &impl serde::Serialize) -> String {
    hex::encode(Sha256::digest(
        serde_json::to_vec(request).expect("a request serialises"),
    ))
}

/// Bounds and shape, before anything is looked up.
fn check(text: &str, reference: &Option<String>, key: Option<&str>) -> Result<(), SendRefused> {
    let invalid = |why: &str| Err(SendRefused::Invalid(why.to_owned()));
    if text.trim().is_empty() {
        return invalid("text is empty");
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(SendRefused::Invalid(format!(
            "text is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if (reference.as_ref()).is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS) {
        return Err(SendRefused::Invalid(format!(
            "reference is longer than {MAX_REFERENCE_CHARS} characters"
        )));
    }
    if key.is_some_and(|k| k.is_empty() || k.chars().count() > MAX_KEY_CHARS) {
        return Err(SendRefused::Invalid(format!(
            "the Idempotency-Key header must have 1 to {MAX_KEY_CHARS} characters"
        )));
    }
    Ok(())
}

/// The answer to a request whose Idempotency-Key was seen before.
fn replayed(earlier: ApiMessage, request_hash: &str) -> Result<Accepted, SendRefused> {
    match earlier.request_hash == request_hash {
        true => Ok(Accepted {
            id: earlier.id,
            replayed: true,
        }),
        false => Err(SendRefused::KeyReused),
    }
}
