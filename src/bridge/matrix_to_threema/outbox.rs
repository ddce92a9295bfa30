//! Matrix → Threema, the IO part: dispatcher events are planned (`outgoing`) into the durable
//! outbox, and the outbox sends them, per driver in order.
//!
//! Each row's state is written before the Gateway call. A row found in `sending` (the bridge
//! died during the call) or a call that got no answer has an unknown outcome: the driver may
//! have the message, so it is not sent again by itself; the dispatcher gets a notice instead.
//!
//! What a row needs before its Gateway call (payload, key, media) is prepared in `prepare`.

mod holds;
mod prepare;
mod privacy_notice;
mod queueing;

pub(crate) use queueing::With;
use queueing::new_rows;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use bridge_convert::plan::{EditTarget, Outgoing, Plan};
use ruma::{EventId, RoomId, UserId};
use tokio::sync::OnceCell;

use super::transitions::{self, Answer, Event, Then};
use crate::bridge::{
    Access, BridgeError, Credits, Ghosts, Keys, Notices, Wakes, audit,
    queue::{Arrivals, Handled, Outcome, Queue},
    status::RESEND_KEYS,
    wiring::Shared,
};
use crate::{
    bridge::desk::duty,
    config::{Config, Duty},
    matrix::MatrixClient,
    metrics::{self, Metrics},
    store::{
        Direction, MessageMapping, OutboxItem, OutboxState, RecipientOnFile, Store, StoreError,
        now_ms,
    },
    threema::{ThreemaClient, ThreemaError, ThreemaId},
    zone::Zone,
};
use prepare::Prepared;
use privacy_notice::PrivacyNotice;

/// The outbox: what dispatchers' events became for Threema, queued and sent. It holds the
/// services a send goes through, not the whole bridge, so what a send can touch is visible here.
pub struct Outbox {
    store: Store,
    /// What the bot says about sends, in `bridge.language`.
    texts: Arc<crate::texts::Texts>,
    /// Fetches the attachments of outgoing files.
    matrix: MatrixClient,
    threema: Arc<ThreemaClient>,
    /// Nothing goes to a driver who left.
    access: Arc<Access>,
    keys: Arc<Keys>,
    /// Tells the dispatcher what could not go, or may not have (or waits).
    notices: Arc<Notices>,
    /// The driver's name in those notices.
    ghosts: Arc<Ghosts>,
    credits: Arc<Credits>,
    /// `bridge.send_give_up_seconds`.
    send_give_up: Duration,
    /// Takes the rows queued to the runner (or rings its bell).
    arrivals: Arc<Arrivals<OutboxItem>>,
    /// File messages whose blobs are uploaded for many recipients (broadcasts), by file.
    shared_uploads: Mutex<HashMap<String, SharedUpload>>,
    /// `gdpr.driver_notice`: goes to each driver before anything else.
    privacy_notice: Option<PrivacyNotice>,
    metrics: Arc<Metrics>,
    /// When the last restore from a backup was settled (Unix ms, 0: never): a message from
    /// before it may have been sent already and is not sent again.
    restored_at: AtomicI64,
    /// `inbox.shifts`, `inbox.off_duty`: messages to drivers off duty wait (`None`: never).
    holds: Option<(Duty, Zone)>,
    /// When the next held row comes due (Unix ms; 0: look now). A read after that starts
    /// from the outbox's beginning (see `hold_came_due`).
    next_hold: AtomicI64,
    /// What the API sent: failures are reported to its webhooks.
    api_events: Arc<crate::bridge::integration::events::ApiEvents>,
}

/// When a shared upload was started, and the file message it became.
type SharedUpload = (Instant, Arc<OnceCell<Arc<Vec<u8>>>>);

impl Outbox {
    pub(in crate::bridge) fn new(config: &Config, wakes: &Wakes, shared: &Shared) -> Self {
        let Shared {
            store,
            matrix,
            threema,
            access,
            keys,
            notices,
            credits,
            metrics,
            ghosts,
            ..
        } = shared.clone();
        Outbox {
            store,
            matrix,
            threema,
            access,
            keys,
            notices,
            ghosts,
            credits,
            send_give_up: config.bridge.send_give_up,
            arrivals: wakes.outbox.clone(),
            shared_uploads: Mutex::default(),
            privacy_notice: PrivacyNotice::new(config),
            metrics,
            restored_at: AtomicI64::new(0),
            holds: (config.inbox.enabled && duty::holds_any(&config.inbox.duty))
                .then(|| (config.inbox.duty.clone(), config.bridge.timezone.clone())),
            next_hold: AtomicI64::new(0),
            texts: shared.texts.clone(),
            api_events: shared.api_events.clone(),
        }
    }

    /// See [`Store::settle_restore`]; read at each start as the active process.
    pub(crate) fn set_restored_at(&self, at: Option<i64>) {
        self.restored_at.store(at.unwrap_or(0), Ordering::Relaxed);
    }

    /// Whether a dispatcher's event sent at `sent_at_ms` is from before the last restore: the
    /// bridge may have acted on it before the disaster, so it does not again.
    pub(crate) fn predates_restore(&self, sent_at_ms: i64) -> bool {
        let restored_at = self.restored_at.load(Ordering::Relaxed);
        restored_at > 0 && sent_at_ms <= restored_at
    }

    /// Queues what a dispatcher's event (sent at `sent_at_ms`) became for `driver`, or tells the
    /// dispatcher why it cannot go. Idempotent: the outbox keys rows by event, recipient and
    /// part. From before a restore, the rows start as outcome unknown (see
    /// [`Outbox::predates_restore`]). To a driver off duty it waits for their shift, unless
    /// `urgent`; the dispatcher is told until when.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn enqueue(
        &self,
        plan: Plan,
        driver: &ThreemaId,
        room_id: &RoomId,
        event_id: &EventId,
        sender: &UserId,
        sent_at_ms: i64,
        urgent: bool,
    ) -> Result<Outcome, BridgeError> {
        let items = match plan {
            Plan::Send(items) => items,
            Plan::Refuse(reason) => {
                let said = self.texts.refusal(&reason);
                (self.notices)
                    .notice(
                        room_id,
                        Some(event_id),
                        &said,
                        &format!("refused-{event_id}"),
                    )
                    .await?;
                // What Threema cannot take (an encrypted attachment, an edit it cannot do).
                self.metrics
                    .failed(metrics::Direction::ToThreema, "not_supported");
                // The kind only: the record is the operator's.
                return Ok(Outcome::refused(format!("not sent: {reason:?}")));
            }
        };
        if items.is_empty() {
            return Ok(Outcome::skipped("nothing to send"));
        }
        if self.predates_restore(sent_at_ms) {
            let rows = new_rows(
                &items,
                &vec![None; items.len()],
                event_id.as_str(),
                driver,
                room_id.as_str(),
                sender.as_str(),
            );
            let new = (self.store)
                .outbox_enqueue_as(&rows, OutboxState::Unknown, Some(crate::store::RESTORED))
                .await?;
            let count = new.len();
            self.hand(new);
            return Ok(Outcome::skipped(format!(
                "{count} message(s) for {driver} from before the restore: outcome unknown"
            )));
        }
        let queued = self
            .queue(
                &items,
                driver,
                event_id.as_str(),
                room_id,
                sender.as_str(),
                With {
                    urgent,
                    ..With::default()
                },
            )
            .await?;
        let Some(until) = queued.held_until else {
            return Ok(Outcome::bridged(format!(
                "queued {} message(s) for {driver}",
                queued.new
            )));
        };
        self.tell_held(driver, room_id, event_id, until).await?;
        Ok(Outcome::bridged(format!(
            "queued {} message(s) for {driver}, held until {until} (off duty)",
            queued.new
        )))
    }

    /// Looks for work now (rows were made pending again).
    pub(crate) fn wake(&self) {
        self.arrivals.bell().notify_one();
    }

    /// Hands rows just queued to the runner, those a read would return now (not held). While
    /// a hold has come due (or was released) the runner reads instead: its read starts from
    /// the beginning then (`hold_came_due`), so the held row goes before these.
    fn hand(&self, new: Vec<OutboxItem>) {
        if new.is_empty() {
            return;
        }
        let now = now_ms();
        if self.next_hold.load(Ordering::Relaxed) <= now {
            return self.wake();
        }
        (self.arrivals).hand(new.into_iter().filter(|row| row.due(now)));
    }

    /// What an earlier event became on Threema, for edits and redactions.
    /// `editor` may change it on the phone only if it is their own.
    pub(crate) async fn edit_target(
        &self,
        target: &str,
        driver: &ThreemaId,
        editor: &UserId,
    ) -> Result<EditTarget, BridgeError> {
        let sent: Vec<_> = self
            .store
            .outbox_by_event(target)
            .await?
            .into_iter()
            .filter(|row| row.recipient == *driver)
            .collect();
        if !sent.is_empty() {
            return Ok(match sent.iter().all(|row| row.sender == *editor) {
                true => EditTarget::Ours { parts: sent.len() },
                false => EditTarget::Colleagues,
            });
        }
        Ok(match self.store.message_by_event_id(target).await? {
            Some(m) if m.direction == Direction::In => EditTarget::Theirs,
            _ => EditTarget::Unknown,
        })
    }

    /// Queues a dispatcher's event again for the recipients it failed for (or may have):
    /// how many rows. The dispatcher decided, after reading the notice.
    pub(crate) async fn resend(&self, event_id: &str) -> Result<u64, BridgeError> {
        let queued = self.store.outbox_resend(event_id).await?;
        if queued > 0 {
            self.wake();
        }
        Ok(queued)
    }

    /// Works on one outbox row until its state is final, as `transitions::next` says; see the
    /// module comment. `event` is what happened first: the row is read, or given up on.
    ///
    /// The row is read at each attempt, not taken from the runner's read: that may be minutes
    /// old (a busy lane, retries), and an erasure since may have rewritten its text or sender,
    /// which state checks alone would not notice. What the send checks of the recipient (their
    /// key, a legal hold) is read with it.
    async fn deliver(&self, seq: i64, mut event: Event) -> Result<Handled, BridgeError> {
        let Some((mut row, mut on_file)) = self.store.outbox_get(seq).await? else {
            return Ok(Outcome::skipped("gone").into());
        };
        let mut prepared = None;
        let mut gateway_error = None;
        // The write to `sent` also ended the row's work (nothing was left to do after it).
        let mut ended = false;
        loop {
            let step = transitions::next(row.state, event);
            if let Some(write) = step.write {
                // What reached the phone is recorded with the state that says so; a broadcast's
                // copies are not (the broadcast has its own entry).
                let record = match (write.to, &write.message_id) {
                    (OutboxState::Sent, Some(id)) if !row.broadcast_copy => {
                        Some(audit::sent(&row, id, self.store.audit_key()))
                    }
                    _ => None,
                };
                // A message sent with nothing left to do is recorded and done in that commit.
                let done = match (write.from, write.to, &write.message_id) {
                    (OutboxState::Sending, OutboxState::Sent, Some(id)) => {
                        let item = serde_json::from_str(&row.payload).ok();
                        match after_sent(&row, item.as_ref(), id) {
                            AfterSent::Done(message) => Some((id, message)),
                            AfterSent::More => None,
                        }
                    }
                    _ => None,
                };
                let written = match &done {
                    Some((id, message)) => {
                        (self.store)
                            .outbox_sent_and_done(seq, id, record.as_ref(), message.as_ref())
                            .await?
                    }
                    None => {
                        (self.store)
                            .outbox_transition(
                                seq,
                                write.from,
                                write.to,
                                write.message_id.as_deref(),
                                write.error.as_deref(),
                                record.as_ref(),
                            )
                            .await?
                    }
                };
                ended = written && done.is_some();
                if !written {
                    // Moved on meanwhile (another process, a resend): start from what it is now.
                    let Some(now) = self.store.outbox_get(seq).await? else {
                        return Ok(Outcome::skipped("gone").into());
                    };
                    ((row, on_file), event) = (now, Event::Read);
                    continue;
                }
                // Counted where the final state is written, once: a retry re-enters it.
                self.count_final(&row, &on_file, write.to, gateway_error.as_ref());
                row.state = write.to;
                row.threema_message_id = write.message_id.or(row.threema_message_id);
                row.error = write.error.or(row.error);
                if matches!(gateway_error, Some(ThreemaError::NoCredits)) {
                    self.credits.refresh().await;
                }
            }
            event = match step.then {
                Then::Prepare => match self.prepare_row(&row, &on_file).await? {
                    Ok(ready) => {
                        prepared = Some(ready);
                        Event::Ready
                    }
                    Err(reason) => Event::Refused(reason),
                },
                Then::Send => {
                    let (message, key) = prepared.take().expect("prepared before the claim");
                    let answer = self.send_prepared(&row.recipient, &key, &message).await;
                    let (answer, error) = classify(&self.texts, answer);
                    if matches!(answer, Answer::Accepted(_)) {
                        self.credits.spent().await;
                    }
                    gateway_error = error;
                    Event::Answered(answer)
                }
                Then::RecordSent => {
                    let id = row.threema_message_id.as_deref().unwrap_or("?");
                    let outcome = Outcome::bridged(format!("sent as {id}"));
                    if ended {
                        return Ok(Handled::ended(outcome));
                    }
                    self.record_sent(&row).await?;
                    return Ok(outcome.into());
                }
                Then::ReportFailure => return self.report_failure(&row).await.map(Into::into),
                Then::ReportUnknown => return self.report_unknown(&row).await.map(Into::into),
                Then::Retry => {
                    return Err(gateway_error.map(BridgeError::from).unwrap_or_else(|| {
                        BridgeError::NotYet("the Gateway was not reached".into())
                    }));
                }
                Then::ReadAgain => {
                    let Some(now) = self.store.outbox_get(seq).await? else {
                        return Ok(Outcome::skipped("gone").into());
                    };
                    (row, on_file) = now;
                    Event::Read
                }
            };
        }
    }

    /// The one Gateway call of a row.
    async fn send_prepared(
        &self,
        recipient: &ThreemaId,
        key: &[u8; 32],
        message: &Prepared,
    ) -> Result<String, ThreemaError> {
        let threema = &self.threema;
        match message {
            Prepared::Raw { message_type, data } => {
                threema.send(recipient, key, *message_type, data).await
            }
            Prepared::Text(text) => threema.send_text(recipient, key, text).await,
            Prepared::File(file) => threema.send_file(recipient, key, file).await,
            Prepared::FileMessage(json) => threema.send_file_message(recipient, key, json).await,
            Prepared::Location(location) => threema.send_location(recipient, key, location).await,
            Prepared::Edit { message_id, text } => {
                threema.send_edit(recipient, key, message_id, text).await
            }
            Prepared::Delete { message_id } => {
                threema.send_delete(recipient, key, message_id).await
            }
            Prepared::Receipt { message_id, status } => {
                (threema.send_receipt(recipient, key, *status, std::slice::from_ref(message_id)))
                    .await
            }
        }
    }

    /// The sent message is part of the chat: quotes and receipts from the driver refer to it.
    /// For a row found `sent` (its work not ended), and for a poll's close or the company's
    /// vote, whose change to the poll holds once it went.
    async fn record_sent(&self, row: &OutboxItem) -> Result<(), BridgeError> {
        let Some(message_id) = &row.threema_message_id else {
            return Ok(());
        };
        let item = serde_json::from_str(&row.payload).ok();
        match &item {
            Some(Outgoing::PollClose { target }) => self.poll_closed(row, target).await?,
            Some(Outgoing::PollVote { target, answers }) => {
                self.company_voted(row, target, answers).await?
            }
            _ => {}
        }
        if let AfterSent::Done(Some(message)) = after_sent(row, item.as_ref(), message_id) {
            self.store.message_insert(&message).await?;
        }
        Ok(())
    }

    /// A message that could not be sent for `bridge.send_give_up_seconds` is of no use to a
    /// dispatch desk any more; the dispatcher decides whether to resend it.
    fn waited_too_long(&self, row: &OutboxItem) -> bool {
        // A message held for the driver's shift waits from then.
        let since = row.created_at.max(row.hold_until.unwrap_or(0));
        let waited = crate::store::now_ms().saturating_sub(since);
        waited > self.send_give_up.as_millis() as i64
    }

    /// A row that could not go for `bridge.send_give_up_seconds` fails, unless it moved on.
    async fn give_up(&self, seq: i64, error: &BridgeError) -> Result<Handled, BridgeError> {
        let minutes = self.send_give_up.as_secs().div_ceil(60);
        let reason = crate::tr!(
            self.texts,
            "failed-gave-up",
            minutes = minutes,
            error = error.to_string()
        );
        tracing::warn!(seq, %error, "giving up on an outgoing message");
        self.deliver(seq, Event::Refused(reason)).await
    }

    /// A row that reached a final state, for `/metrics`: sent (its kind, and how long after
    /// its event reached the bridge), failed (why), or of unknown outcome.
    fn count_final(
        &self,
        row: &OutboxItem,
        on_file: &RecipientOnFile,
        to: OutboxState,
        error: Option<&ThreemaError>,
    ) {
        let to_threema = metrics::Direction::ToThreema;
        match to {
            OutboxState::Sent => {}
            OutboxState::Failed => {
                let reason = error.map_or("refused", ThreemaError::label);
                return self.metrics.failed(to_threema, reason);
            }
            OutboxState::Unknown => return self.metrics.outcome_unknown(),
            OutboxState::Queued | OutboxState::Sending => return,
        }
        let kind = serde_json::from_str::<serde_json::Value>(&row.payload)
            .ok()
            .and_then(|p| match p["kind"].as_str()? {
                "text" => Some("text"),
                "file" => Some("file"),
                "location" => Some("location"),
                "edit" => Some("edit"),
                "delete" => Some("delete"),
                "agreement" => Some("agreement"),
                _ => None,
            })
            .unwrap_or("other");
        self.metrics.bridged(to_threema, kind);
        // From the transaction that brought the event; from the row's queueing where that is
        // not kept (a broadcast's copies, the privacy notice, a pruned inbox row).
        let received = match row.broadcast_copy {
            true => None,
            false => on_file.event_received_at,
        };
        let arrived = received.unwrap_or(row.created_at);
        // A held message: the bridge's time counts from the end of the hold.
        let arrived = arrived.max(row.hold_until.unwrap_or(0));
        let waited = (now_ms() - arrived).max(0) as u64;
        self.metrics.reached_gateway(Duration::from_millis(waited));
    }

    async fn report_failure(&self, row: &OutboxItem) -> Result<Outcome, BridgeError> {
        let reason = row.error.as_deref().unwrap_or("unknown error");
        let text = crate::tr!(
            self.texts,
            "outbox-failed",
            recipient = row.recipient.as_str(),
            reason = reason,
            resend = RESEND_KEYS[0]
        );
        self.notice_on_row(row, &text).await?;
        self.api_events.on_failed(row).await?;
        Ok(Outcome::failed(reason))
    }

    async fn report_unknown(&self, row: &OutboxItem) -> Result<Outcome, BridgeError> {
        let why = match row.error.as_deref() {
            Some(crate::store::RESTORED) => crate::tr!(self.texts, "outbox-unknown-restored"),
            _ => crate::tr!(self.texts, "outbox-unknown-unconfirmed"),
        };
        let text = crate::tr!(
            self.texts,
            "outbox-unknown",
            recipient = row.recipient.as_str(),
            why = why,
            resend = RESEND_KEYS[0]
        );
        self.notice_on_row(row, &text).await?;
        Ok(Outcome::failed(format!(
            "outcome unknown: {}",
            row.error.as_deref().unwrap_or("")
        )))
    }

    async fn notice_on_row(&self, row: &OutboxItem, text: &str) -> Result<(), BridgeError> {
        self.notices
            .in_thread(
                &row.room_id,
                &row.event_id,
                text,
                &format!("outbox-{}", row.seq),
            )
            .await
    }
}

/// What is left of a row's work once its message went.
enum AfterSent {
    /// Only to record the message it became in the chat (quotes and receipts from the driver
    /// refer to it); nothing for an edit, a delete or an agreement (about another message, not
    /// messages of their own).
    Done(Option<MessageMapping>),
    /// A poll's close or the company's vote: their change to the poll comes first
    /// (`record_sent`).
    More,
}

/// What is left of `row`'s work once it was sent as `message_id`; `item`: its payload, read.
fn after_sent(row: &OutboxItem, item: Option<&Outgoing>, message_id: &str) -> AfterSent {
    match item {
        Some(Outgoing::PollClose { .. } | Outgoing::PollVote { .. }) => AfterSent::More,
        Some(Outgoing::Edit { .. } | Outgoing::Delete { .. } | Outgoing::Agreement { .. }) => {
            AfterSent::Done(None)
        }
        _ => AfterSent::Done(Some(MessageMapping {
            room_id: row.room_id.clone(),
            event_id: row.event_id.clone(),
            threema_peer: row.recipient.clone(),
            threema_message_id: message_id.to_owned(),
            direction: Direction::Out,
            matrix_sender: row.sender.clone(),
            part: row.part,
        })),
    }
}

/// Why nothing goes to or comes from a driver whose erasure waits for a legal hold.
pub const RESTRICTED: &str = "the driver's data are restricted under a legal hold";

/// The Gateway's answer as the state machine needs it, and the error behind it (retried as it
/// is; a refusal for lack of credits also refreshes the balance).
fn classify(
    texts: &crate::texts::Texts,
    sent: Result<String, ThreemaError>,
) -> (Answer, Option<ThreemaError>) {
    match sent {
        Ok(message_id) => (Answer::Accepted(message_id), None),
        Err(e) if e.outcome_unknown() => {
            tracing::warn!(error = %e, "the Gateway did not answer a send; not resending");
            (Answer::NoAnswer(e.to_string()), None)
        }
        // The Gateway refused or was not reached: nothing was delivered, try again.
        Err(e) if e.is_transient() => (Answer::NotReached, Some(e)),
        Err(e) => (Answer::Refused(failure_text(texts, &e)), Some(e)),
    }
}

/// A Gateway refusal in the dispatcher's words.
fn failure_text(texts: &crate::texts::Texts, e: &ThreemaError) -> String {
    match e {
        ThreemaError::NoCredits => crate::tr!(texts, "failed-no-credits"),
        ThreemaError::BadRecipient => crate::tr!(texts, "failed-bad-recipient"),
        ThreemaError::TooLarge => crate::tr!(texts, "failed-too-large"),
        ThreemaError::BadCredentials => crate::tr!(texts, "failed-credentials"),
        other => other.to_string(),
    }
}

/// The outbox as a durable queue for the generic runner: one lane per driver.
pub struct ThreemaOutbox(pub Arc<Outbox>);

impl Queue for ThreemaOutbox {
    type Item = OutboxItem;
    const NAME: &'static str = "outbox";

    fn seq(item: &OutboxItem) -> i64 {
        item.seq
    }

    fn lane(item: &OutboxItem) -> &str {
        item.recipient.as_str()
    }

    fn key(item: &OutboxItem) -> String {
        format!("{}/{}/{}", item.event_id, item.recipient, item.part)
    }

    async fn pending(&self, after_seq: i64, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        let after_seq = match self.0.hold_came_due().await? {
            true => 0,
            false => after_seq,
        };
        self.0.store.outbox_pending(after_seq, limit).await
    }

    async fn handle(&self, item: &OutboxItem) -> Result<Handled, BridgeError> {
        match self.0.deliver(item.seq, Event::Read).await {
            Err(e) if e.is_transient() && self.0.waited_too_long(item) => {
                self.0.give_up(item.seq, &e).await
            }
            other => other,
        }
    }

    async fn finish(&self, item: &OutboxItem, _outcome: &Outcome) -> Result<(), StoreError> {
        self.0.store.outbox_finish(item.seq).await
    }

    async fn record_attempt(&self, _item: &mut OutboxItem) -> Result<(), StoreError> {
        // Attempts at the Gateway are counted when a row goes to `sending`.
        Ok(())
    }
}
