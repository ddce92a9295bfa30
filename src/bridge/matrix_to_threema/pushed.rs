//! What the homeserver hands over, as Matrix inbox rows: timeline events keyed by their event
//! id (from a transaction, or read back by the catch-up), receipts by content. Pure
//! conversion; storing is the caller's.

use ruma::{api::appservice::event::push_events, events::AnyTimelineEvent, serde::Raw};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::store::{InboxKind, NewInboxItem};

/// Timeline events keyed by event id; read receipts (ephemeral data) too, since they are never
/// resent. Anything we cannot key or route is logged and skipped rather than failing the whole
/// transaction, which the homeserver would otherwise retry forever. Events the bot or a ghost
/// sent (`ours`) are echoes of the bridge's own doing and are not stored at all: they were
/// every bridged message's second inbox write and mark. Nor are receipts only the bridge's
/// users gave (a ghost's, whenever a driver reads what the desk sent) or typing (never
/// bridged: every Gateway message costs a credit).
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
        .filter_map(|raw| ephemeral_item(raw.cast_ref::<Value>(), &ours));
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

fn ephemeral_item(raw: &Raw<Value>, ours: impl Fn(&str) -> bool) -> Option<NewInboxItem> {
    let event_type = raw.get_field::<String>("type").ok().flatten()?;
    // Typing, presence and anything else: nothing to bridge.
    if event_type != "m.receipt" {
        return None;
    }
    let content = raw.get_field::<Value>("content").ok().flatten()?;
    if !readers(&content).any(|user| !ours(user)) {
        return None;
    }
    let payload = raw.json().get().to_owned();
    Some(NewInboxItem {
        // A receipt names event, user and time: the same JSON again is the same receipt.
        dedup_key: format!("edu:{}", hex::encode(Sha256::digest(payload.as_bytes()))),
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

/// Everyone an `m.receipt` content names, of any receipt type: `{event: {type: {user: _}}}`.
fn readers(content: &Value) -> impl Iterator<Item = &str> {
    fn entries(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
        value.as_object().into_iter().flatten()
    }
    entries(content)
        .flat_map(|(_, types)| entries(types))
        .flat_map(|(_, users)| entries(users))
        .map(|(user, _)| user.as_str())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn edu(value: Value) -> Raw<Value> {
        Raw::from_json(serde_json::value::to_raw_value(&value).unwrap())
    }

    fn ghost(user: &str) -> bool {
        user.starts_with("@threema_")
    }

    fn receipt(readers: Value) -> Raw<Value> {
        edu(json!({"type": "m.receipt", "room_id": "!r:x", "content": readers}))
    }

    #[test]
    fn a_receipt_is_kept_when_someone_other_than_the_bridge_read() {
        let both = receipt(json!({
            "$a": {"m.read": {"@threema_abc:x": {"ts": 1}}},
            "$b": {"m.read.private": {"@desk:x": {"ts": 2}}},
        }));
        let item = ephemeral_item(&both, ghost).expect("the desk's receipt is kept");
        assert_eq!(item.kind, InboxKind::Ephemeral);
        assert_eq!(item.room_id, "!r:x");
        assert!(item.dedup_key.starts_with("edu:"));
        // The same receipt again is the same row.
        assert_eq!(
            ephemeral_item(&both, ghost).unwrap().dedup_key,
            item.dedup_key
        );
    }

    #[test]
    fn the_bridges_own_receipts_typing_and_presence_are_not_stored() {
        let own = receipt(json!({"$a": {"m.read": {"@threema_abc:x": {"ts": 1}}}}));
        assert!(ephemeral_item(&own, ghost).is_none());
        assert!(ephemeral_item(&receipt(json!({})), ghost).is_none());
        let typing = edu(json!({"type": "m.typing", "room_id": "!r:x",
            "content": {"user_ids": ["@desk:x"]}}));
        assert!(ephemeral_item(&typing, ghost).is_none());
        let presence = edu(json!({"type": "m.presence", "sender": "@desk:x",
            "content": {"presence": "online"}}));
        assert!(ephemeral_item(&presence, ghost).is_none());
    }
}
