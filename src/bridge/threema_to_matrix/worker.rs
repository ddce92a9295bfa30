//! The Threema inbox: open, decode and fetch what a driver sent, then bridge it.

use std::{sync::Arc, time::Duration};

use super::ThreemaToMatrix;
use crate::bridge::{
    BridgeError,
    queue::{Handled, Outcome, Queue},
    threema_to_matrix::Bridged,
};
use crate::{
    metrics,
    store::{Standing, StoreError, ThreemaItem, now_ms},
    threema::{
        Media, ThreemaError, ThreemaId,
        codec::{Message, ReceiptStatus},
        receive::ReceiveError,
    },
};

/// A message from a driver, decoded, with its file (or legacy media) downloaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub from: ThreemaId,
    pub message_id: String,
    /// Unix seconds, as the driver's app set it.
    pub date: i64,
    pub nickname: Option<String>,
    pub message: Message,
    pub media: Option<Media>,
    /// Shown in place of a file that is not bridged.
    pub stand_in: Option<super::files::StandIn>,
    /// Earlier attempts that failed, here or before a restart. One may have reached the
    /// homeserver (its answer lost): look before sending again.
    pub attempts: i64,
    /// Its Threema inbox row.
    pub seq: i64,
    /// When its callback arrived (ms).
    pub received_at: i64,
}

pub struct ThreemaInbox(pub Arc<ThreemaToMatrix>);

/// A message opened, with its sender's key and what the store says of them.
struct Opened {
    incoming: Incoming,
    key: [u8; 32],
    standing: Standing,
}

impl Queue for ThreemaInbox {
    type Item = ThreemaItem;
    const NAME: &'static str = "threema";

    fn seq(item: &ThreemaItem) -> i64 {
        item.seq
    }

    fn lane(item: &ThreemaItem) -> &str {
        &item.sender
    }

    fn key(item: &ThreemaItem) -> String {
        format!("{}/{}", item.sender, item.message_id)
    }

    async fn pending(&self, after_seq: i64, limit: i64) -> Result<Vec<ThreemaItem>, StoreError> {
        self.0.store.threema_inbox_pending(after_seq, limit).await
    }

    async fn handle(&self, item: &ThreemaItem) -> Result<Handled, BridgeError> {
        self.0.handle_threema_item(item).await
    }

    async fn finish(&self, item: &ThreemaItem, outcome: &Outcome) -> Result<(), StoreError> {
        self.0
            .store
            .threema_inbox_finish(item.seq, &outcome.to_string(), outcome.keeps_payload())
            .await
            .map(drop)
    }

    async fn record_attempt(&self, item: &mut ThreemaItem) -> Result<(), StoreError> {
        // Counted here even if the store cannot count it: the attempt may have recorded the
        // message (its commit's answer lost), and the next one must look for it.
        item.attempts += 1;
        self.0.store.threema_inbox_record_attempt(item.seq).await
    }
}

impl ThreemaToMatrix {
    /// Opens and decodes one stored callback and bridges it. What cannot be bridged is kept
    /// with a reason.
    pub async fn handle_threema_item(&self, item: &ThreemaItem) -> Result<Handled, BridgeError> {
        let handled: Result<_, BridgeError> = async {
            Ok(match self.open_item(item).await? {
                Ok(opened) => {
                    let kind = kind_of(&opened.incoming.message);
                    (self.route_incoming(opened).await?, Some(kind))
                }
                Err(not_opened) => (not_opened.into(), None),
            })
        }
        .await;
        match handled {
            Ok((handled, kind)) => {
                self.count(item, kind, &handled.outcome);
                Ok(handled)
            }
            Err(e) => {
                // Failed for good: the queue records it so.
                if !e.is_transient() {
                    self.metrics.failed(metrics::Direction::ToMatrix, "failed");
                }
                Err(e)
            }
        }
    }

    /// What became of a driver's message, for `/metrics`; typing is no message, a receipt
    /// is timed where it shows. A held message (a changed key) is counted when it goes on.
    fn count(&self, item: &ThreemaItem, kind: Option<&'static str>, outcome: &Outcome) {
        let waited = Duration::from_millis((now_ms() - item.received_at).max(0) as u64);
        let to_matrix = metrics::Direction::ToMatrix;
        match (outcome, kind) {
            (_, Some("typing" | "receipt")) => {}
            (Outcome::Bridged(_), Some(kind)) => {
                self.metrics.bridged(to_matrix, kind);
                self.metrics.reached_portal(waited);
            }
            (Outcome::Failed(_), _) => self.metrics.failed(to_matrix, "failed"),
            (Outcome::Refused(_), _) => self.metrics.failed(to_matrix, "refused"),
            _ => {}
        }
    }

    /// The stored callback decoded (its media not fetched yet), with the sender's key and
    /// standing; or why that cannot be done (a changed key holds the message).
    async fn open_item(&self, item: &ThreemaItem) -> Result<Result<Opened, Outcome>, BridgeError> {
        let Some(from) = ThreemaId::parse(&item.sender) else {
            return self.unreadable(item, "sender").await.map(Err);
        };
        let Some(nonce) = hex::decode(&item.nonce)
            .ok()
            .and_then(|n| <[u8; 24]>::try_from(n).ok())
        else {
            return self.unreadable(item, "nonce").await.map(Err);
        };
        let Ok(ciphertext) = hex::decode(&item.ciphertext) else {
            return self.unreadable(item, "box").await.map(Err);
        };
        // An erased driver is a stranger now, whatever this process's caches and the
        // directory's view still say: an erasure by the command line reaches them only with
        // the next directory pass, and a former driver's message would be audited by ID.
        let id_hash = self.erased_ids.hash(&from);
        let on_file = (self.store).driver_on_file(&id_hash, from.as_str()).await?;
        let key = match (self.keys)
            .trusted_from(&from, on_file.public_key.as_deref())
            .await
        {
            Err(BridgeError::Threema(ThreemaError::NotFound)) => {
                tracing::warn!(threema_id = %from, "message from an ID the Gateway does not know");
                return Ok(Err(Outcome::failed("sender unknown to the Gateway")));
            }
            other => other?,
        };
        let message = match self.threema.open_message(&nonce, &ciphertext, &key) {
            Ok(message) => message,
            Err(ReceiveError::Undecryptable(reason)) => {
                if self.keys.recheck(&from).await? {
                    return self.keys.hold(item).await.map(Err);
                }
                tracing::warn!(threema_id = %from, %reason, "cannot open a message");
                return Ok(Err(Outcome::failed(format!("cannot decrypt: {reason}"))));
            }
            Err(e @ ReceiveError::Malformed(_)) => {
                tracing::warn!(threema_id = %from, error = %e, "malformed message kept");
                return Ok(Err(Outcome::failed(e.to_string())));
            }
            Err(ReceiveError::Gateway(e)) => return Err(e.into()),
            Err(e) => return Ok(Err(Outcome::failed(e.to_string()))),
        };
        let incoming = Incoming {
            from,
            message_id: item.message_id.clone(),
            date: item.date,
            nickname: item.nickname.clone(),
            message,
            media: None,
            stand_in: None,
            attempts: item.attempts,
            seq: item.seq,
            received_at: item.received_at,
        };
        Ok(Ok(Opened {
            incoming,
            key,
            standing: on_file.standing,
        }))
    }

    /// The Gateway sent a callback whose `field` does not parse (stored as it came): nobody
    /// would notice a message that never shows, so the admins are told. The notice names the
    /// inbox row, not what the field holds.
    async fn unreadable(&self, item: &ThreemaItem, field: &str) -> Result<Outcome, BridgeError> {
        tracing::warn!(seq = item.seq, field, "a stored callback cannot be read");
        let text = crate::tr!(
            self.texts,
            "callback-unreadable",
            field = field,
            row = item.seq
        );
        let txn = format!("unreadable-{}", item.seq);
        self.notices.to_admins(&text, &txn).await?;
        Ok(Outcome::failed(format!("malformed callback: {field}")))
    }

    /// A decoded message goes to the driver's portal, unless its sender has left the company
    /// or is unknown (quarantined), or its type is not bridged (kept for an operator). Its
    /// blobs are fetched only once the sender is known: nobody else makes the bridge download.
    async fn route_incoming(&self, opened: Opened) -> Result<Handled, BridgeError> {
        let Opened {
            mut incoming,
            key,
            standing,
        } = opened;
        if standing == Standing::Erased {
            return self
                .handle_unknown_sender(&incoming)
                .await
                .map(Handled::from);
        }
        if standing == Standing::Restricted {
            // Kept as the callback, not shown: only storing is allowed while restricted.
            return Ok(Outcome::refused(format!(
                "not bridged: {} (GDPR Art. 18)",
                crate::bridge::matrix_to_threema::RESTRICTED
            ))
            .into());
        }
        if self.access.is_former_driver(&incoming.from) {
            // Kept in the inbox and audited, not shown: the person has left the company.
            tracing::info!(threema_id = %incoming.from, "message from a former driver, not bridged");
            self.store
                .audit(
                    "bridge",
                    "inbound.refused",
                    incoming.from.as_str(),
                    &format!(
                        "{} from a former driver, not bridged",
                        summary(&incoming.message, None)
                    ),
                )
                .await?;
            return Ok(Outcome::refused("from a former driver: not bridged").into());
        }
        if !self.is_known_sender(&incoming.from).await? {
            return self
                .handle_unknown_sender(&incoming)
                .await
                .map(Handled::from);
        }
        // Held until the file is in the portal.
        let _memory = match self.fetch_driver_file(&mut incoming, &key).await? {
            Ok(reserved) => reserved,
            Err(e) => {
                let what = summary(&incoming.message, None);
                return Ok(Outcome::failed(format!("{what}: {e}")).into());
            }
        };
        let what = described(&incoming);
        Ok(match self.bridge_incoming(&incoming).await? {
            // Its row was ended with this outcome when the message was recorded.
            Bridged::Recorded(event_id) => Handled::ended(in_portal(&incoming, &event_id)),
            Bridged::Event(event_id) => in_portal(&incoming, &event_id).into(),
            Bridged::Done(how) => Outcome::bridged(format!("{what}: {how}")).into(),
            Bridged::Skipped(why) => Outcome::skipped(format!("{what}: {why}")).into(),
            Bridged::NotHandled => {
                tracing::warn!(threema_id = %incoming.from, %what, "message type not bridged; kept");
                Outcome::failed(what).into()
            }
        })
    }
}

/// What arrived, for its row's outcome: its kind and size, never its content.
fn described(incoming: &Incoming) -> String {
    let what = summary(&incoming.message, incoming.media.as_ref());
    match &incoming.stand_in {
        Some(stand_in) => format!(
            "{what}, not bridged ({}), a notice instead",
            stand_in.reason()
        ),
        None => what,
    }
}

/// The outcome of a message that is in its portal as `event_id`.
pub(super) fn in_portal(incoming: &Incoming, event_id: &ruma::EventId) -> Outcome {
    Outcome::bridged(format!("{} → {event_id}", described(incoming)))
}

/// A message's kind, as a metric's label.
fn kind_of(message: &Message) -> &'static str {
    match message {
        Message::Text(_) => "text",
        Message::File(_) => "file",
        Message::Location(_) => "location",
        Message::DeliveryReceipt { .. } => "receipt",
        Message::Typing(_) => "typing",
        Message::Edit { .. } => "edit",
        Message::Delete { .. } => "delete",
        Message::PollSetup(_) => "poll",
        Message::PollVote { .. } => "poll_vote",
        Message::LegacyImage { .. } => "image",
        Message::LegacyAudio { .. } => "audio",
        Message::LegacyVideo { .. } => "video",
        Message::Unsupported { .. } => "unsupported",
    }
}

/// What arrived, without its content (outcomes are kept; message text is not).
fn summary(message: &Message, media: Option<&Media>) -> String {
    let size = media
        .map(|m| format!(", {} bytes", m.data.len()))
        .unwrap_or_default();
    match message {
        Message::Text(t) => format!("text, {} bytes", t.len()),
        Message::File(f) => format!("file {}{size}", f.media_type),
        Message::Location(_) => "location".into(),
        Message::DeliveryReceipt {
            status,
            message_ids,
        } => {
            let status = match status {
                ReceiptStatus::Received => "received".to_owned(),
                ReceiptStatus::Read => "read".to_owned(),
                ReceiptStatus::Acknowledged => "acknowledged".to_owned(),
                ReceiptStatus::Declined => "declined".to_owned(),
                ReceiptStatus::Other(n) => format!("status {n}"),
            };
            format!("receipt {status} for {} message(s)", message_ids.len())
        }
        Message::Typing(on) => format!("typing {}", if *on { "started" } else { "stopped" }),
        Message::Edit { message_id, .. } => format!("edit of {}", message_id.to_hex_le()),
        Message::Delete { message_id } => format!("delete of {}", message_id.to_hex_le()),
        Message::PollSetup(p) => format!("poll with {} choices", p.choices.len()),
        Message::PollVote { .. } => "poll vote".into(),
        Message::LegacyImage { .. } => format!("legacy image{size}"),
        Message::LegacyAudio { .. } => format!("legacy audio{size}"),
        Message::LegacyVideo { .. } => format!("legacy video{size}"),
        Message::Unsupported { message_type, .. } => {
            format!("unsupported type 0x{message_type:02x}")
        }
    }
}
