//! Encrypted events (`bridge.encryption` on): decrypted by the bot's device (it is in every
//! room the bridge keeps, so dispatchers' clients send it the room keys), then handled like any
//! other. One whose room key does not come is reported in its room instead of lost silently.

use super::{EventHead, MatrixToThreema};
use crate::{
    bridge::{BridgeError, Outcome},
    matrix::crypto::{RoomCrypto, Undecryptable},
    store::now_ms,
};

/// How long after it was sent an event waits for its room key (the sender's client sends the
/// key first; it can trail behind when the bridge's device was only just made).
const KEY_WAIT_MS: i64 = 2 * 60 * 1000;

impl MatrixToThreema {
    /// `event` (an `m.room.encrypted` one, `payload` as stored) decrypted: its type and content
    /// from the plaintext, its sender, room and ID as the homeserver has them. Or the outcome
    /// to record when it cannot be; a room key still awaited is an error to try again.
    pub(super) async fn decrypted(
        &self,
        crypto: &RoomCrypto,
        payload: &str,
        event: &EventHead,
    ) -> Result<Result<EventHead, Outcome>, BridgeError> {
        let whole = match crypto.decrypt_event(&event.room_id, None, payload).await {
            Ok(whole) => whole,
            Err(Undecryptable::Store(e)) => {
                return Err(BridgeError::NotYet(format!("crypto store: {e}")));
            }
            Err(Undecryptable::MissingKey) if now_ms() - event.origin_server_ts < KEY_WAIT_MS => {
                return Err(BridgeError::NotYet("its room key has not arrived".into()));
            }
            Err(reason) => {
                let said = crate::tr!(self.texts, "undecryptable");
                let key = format!("undecryptable-{}", event.event_id);
                (self.notices)
                    .notice(&event.room_id, Some(&event.event_id), &said, &key)
                    .await?;
                return Ok(Err(Outcome::failed(format!("not decrypted: {reason}"))));
            }
        };
        let inner: EventHead = serde_json::from_value(whole)
            .map_err(|e| BridgeError::BadEvent(format!("decrypted event: {e}")))?;
        // Only what clients encrypt: messages, reactions, polls. State and redactions are never
        // encrypted; one claimed inside ciphertext is not taken for one.
        let message_like = matches!(inner.event_type.as_str(), "m.room.message" | "m.reaction")
            || super::poll::Namespace::of(&inner.event_type).is_some();
        if !message_like {
            return Ok(Err(Outcome::failed(format!(
                "{} inside encryption: not handled",
                inner.event_type
            ))));
        }
        Ok(Ok(inner))
    }
}
