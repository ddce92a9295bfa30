//! What the homeserver hands over, as Matrix inbox rows: timeline events keyed by their event
//! id (from a transaction, or read back by the catch-up), receipts and typing by content. Pure
//! conversion; storing is the caller's.

use ruma::{api::appservice::event::push_events, events::AnyTimelineEvent, serde::Raw};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{InboxKind, NewInboxItem};

/// Timeline events keyed by event id; receipts and typing (ephemeral data) too, since they are
/// never resent. Anything we cannot key or route is logged and skipped rather than failing the
/// whole transaction, which the homeserver would otherwise retry forever. Events the bot or a
/// ghost sent (`ours`) are echoes of the bridge's own doing and are not stored at all: they
/// were every bridged message's second inbox write and mark.
pub fn inbox_items(
    transaction: &push_events::v1::Request,
    ours: impl Fn(&str) -> bool,
) -> Vec<NewInboxItem> {
    let timeline = transaction
        .events
        .iter()
        .filter_map(|raw| timeline_item(raw, &ours));
    let ephemeral = transaction
        .ephemeral
        .iter()
        .filter_map(|raw| ephemeral_item(raw.cast_ref::<Value>()));
    timeline.chain(ephemeral).collect()
}

/// One timeline event as an inbox row, unless it is the bridge's own (`ours`) or cannot be
/// keyed.
pub fn timeline_item(
    raw: &Raw<AnyTimelineEvent>,
    ours: impl Fn(&str) -> bool,
) -> Option<NewInboxItem> {
    let field = |name: &str| raw.get_field::<String>(name).ok().flatten();
    let (Some(event_id), Some(room_id), Some(event_type)) =
        (field("event_id"), field("room_id"), field("type"))
    else {
        tracing::warn!("skipping an event without event_id, room_id or type");
        return None;
    };
    let sender = field("sender");
    if sender.as_deref().is_some_and(ours) {
        return None;
    }
    Some(NewInboxItem {
        dedup_key: event_id,
        room_id,
        kind: InboxKind::Event,
        event_type,
        sender,
        payload: raw.json().get().to_owned(),
    })
}

fn ephemeral_item(raw: &Raw<Value>) -> Option<NewInboxItem> {
    let event_type = raw.get_field::<String>("type").ok().flatten()?;
    let payload = raw.json().get().to_owned();
    let dedup_key = match event_type.as_str() {
        // A receipt names event, user and time: the same JSON again is the same receipt.
        "m.receipt" => format!("edu:{}", hex::encode(Sha256::digest(payload.as_bytes()))),
        // Typing repeats identical content on purpose; each one is new.
        "m.typing" => format!("edu:typing:{}", hex::encode(rand::random::<[u8; 16]>())),
        // Presence and anything else: nothing to bridge.
        _ => return None,
    };
    Some(NewInboxItem {
        dedup_key,
        room_id: raw
            .get_field::<String>("room_id")
            .ok()
            .flatten()
            .unwrap_or_default(),
        kind: InboxKind::Ephemeral,
        event_type,
        sender: None,
        payload,
    })
}
