//! Threema → Matrix: a driver's message into their portal, as their ghost, at the time the
//! driver's app sent it.

use ruma::{
    MilliSecondsSinceUnixEpoch, OwnedEventId, UInt, api::client::message::send_message_event,
    events::room::message::RoomMessageEventContent,
};

use super::{Bridge, BridgeError, Incoming};
use crate::{
    store::{Direction, MessageMapping},
    threema::codec::Message,
};

impl Bridge {
    /// Bridges one decoded message. Returns its event, or `None` for a type not (yet) bridged.
    /// Idempotent: a message bridged before returns its event again, and the send itself uses a
    /// transaction id derived from the Threema message, so the homeserver deduplicates a retry.
    pub async fn bridge_to_matrix(
        &self,
        incoming: &Incoming,
    ) -> Result<Option<OwnedEventId>, BridgeError> {
        let content = match &incoming.message {
            Message::Text(text) => RoomMessageEventContent::text_plain(text),
            // Files, locations, receipts, edits… come with the conversion work.
            _ => return Ok(None),
        };
        let (from, message_id) = (incoming.from.as_str(), incoming.message_id.as_str());
        if let Some(known) = self
            .store
            .message_by_threema_id(from, message_id, Direction::In)
            .await?
        {
            return Ok(Some(
                OwnedEventId::try_from(known.event_id)
                    .map_err(|e| BridgeError::BadEvent(e.to_string()))?,
            ));
        }
        let name = incoming
            .nickname
            .clone()
            .unwrap_or_else(|| incoming.from.to_string());
        let ghost = self.ensure_ghost_profile(&incoming.from, &name).await?;
        let room_id = self.ensure_portal(&incoming.from, &ghost, &name).await?;

        let txn_id: ruma::OwnedTransactionId = format!("threema-{from}-{message_id}").into();
        let mut request = send_message_event::v3::Request::new(room_id.clone(), txn_id, &content)
            .map_err(|e| BridgeError::BadEvent(e.to_string()))?;
        request.timestamp =
            UInt::new(incoming.date.max(0) as u64 * 1000).map(MilliSecondsSinceUnixEpoch);
        let event_id = self.matrix.send(request, Some(&ghost)).await?.event_id;
        self.store
            .message_insert(&MessageMapping {
                room_id: room_id.to_string(),
                event_id: event_id.to_string(),
                threema_peer: from.to_owned(),
                threema_message_id: message_id.to_owned(),
                direction: Direction::In,
                matrix_sender: ghost.to_string(),
                part: 0,
            })
            .await?;
        Ok(Some(event_id))
    }
}
