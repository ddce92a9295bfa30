//! The store API on SQLite and on PostgreSQL: the same suite runs on both.

use crate::common;

use common::db::TestDb;
use threema_bridge::store::{
    ApiMessage, ApiStored, BroadcastRoom, BroadcastState, CachedKey, DeliveryDone, Direction,
    ErasureTarget, HeldScope, HoldTarget, InboxKind, KeyAcceptance, MessageMapping, NewBroadcast,
    NewInboxItem, NewOutgoing, NewThreemaItem, OutboxState, Poll, PollChoice, Reaction,
    ReadThrough, RecipientOnFile, RoomStateKind, Standing, Store,
};
use threema_bridge::threema::ThreemaId;

/// An audit entry to write with a change.
fn audit_record(action: &str) -> threema_bridge::store::AuditRecord {
    threema_bridge::store::AuditRecord {
        actor: "@d:x".into(),
        action: action.into(),
        subject: "!broadcast:x".into(),
        details: "2 recipient(s)".into(),
    }
}

/// Runs `$suite(store, url)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_databases {
    ($($suite:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $suite() {
                let db = super::TestDb::sqlite();
                let store = super::Store::connect(db.url(), 4).await.unwrap();
                super::$suite(store, db.url()).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $suite() {
                let Some(db) = super::TestDb::postgres().await else { return };
                let store = super::Store::connect(db.url(), 4).await.unwrap();
                super::$suite(store.clone(), db.url()).await;
                store.close().await;
                db.cleanup().await;
            })*
        }
    };
}

on_both_databases!(
    inbox_dedups_and_keeps_order,
    callbacks_arriving_together_are_each_stored_once_and_answered,
    a_sent_message_is_recorded_and_done_in_one_commit,
    a_row_is_read_with_its_recipients_key_and_standing,
    rows_asked_for_at_once_are_each_their_callers,
    queue_rows_become_visible_in_the_order_of_their_numbers,
    a_catch_up_puts_what_it_missed_in_its_place,
    conversations_open_close_move_and_are_erased_with_the_people_in_them,
    inbox_finish_counts_once,
    ghosts_are_idempotent,
    a_senders_ghost_and_portal_are_read_together,
    portals_are_unique_per_driver,
    message_mappings_are_unique_both_ways,
    migrations_are_idempotent,
    a_schema_from_a_newer_release_is_refused_by_name,
    threema_callbacks_dedup_on_sender_and_message_id,
    public_key_changes_are_held_back,
    held_messages_are_queued_again_in_order_once_the_key_is_accepted,
    a_key_accepted_twice_at_once_is_accepted_once,
    nothing_is_held_once_the_key_was_accepted,
    polls_keep_their_choices,
    a_schedule_is_recorded_once_and_moves_on_once_per_occurrence,
    delivery_status_is_kept_and_resends_are_new_rows,
    messages_held_for_a_driver_off_duty_wait_until_their_time_or_urgent,
    unread_messages_are_found_up_to_the_read_event,
    directory_changes_are_stored_with_their_audit,
    a_changed_phone_or_email_is_looked_up_again,
    room_state_records_what_was_set,
    handled_rows_past_their_retention_are_pruned,
    legal_holds_keep_what_they_cover_and_are_audited,
    broadcasts_start_once_and_report_each_recipient,
    a_large_broadcast_starts_every_recipient,
    api_messages_are_stored_once_per_key_and_go_with_their_driver,
);

fn event(key: &str, room: &str) -> NewInboxItem {
    NewInboxItem {
        dedup_key: key.into(),
        room_id: room.into(),
        kind: InboxKind::Event,
        event_type: "m.room.message".into(),
        sender: Some("@alice:dispatch.test".into()),
        payload: format!(r#"{{"event_id":"{key}"}}"#),
    }
}

/// The shared inbox's rows: a driver's message opens (once), an answer closes, a claim and a
/// handover move it; erasing the driver deletes it, erasing a dispatcher replaces their ID.
async fn conversations_open_close_move_and_are_erased_with_the_people_in_them(
    store: Store,
    _url: &str,
) {
    use threema_bridge::store::{Closed, ConversationState, DispatcherTarget, ErasureTarget};
    assert!(
        store
            .conversation_driver_wrote("ABCD1234", "$1", 1000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .conversation_driver_wrote("ABCD1234", "$2", 2000)
            .await
            .unwrap(),
        "still open"
    );
    let open = store.conversation("ABCD1234").await.unwrap().unwrap();
    assert_eq!(
        (open.waiting_since, open.waiting_event.as_deref()),
        (Some(1000), Some("$1"))
    );
    assert!(
        store
            .conversation_set_owner("ABCD1234", Some("@anna:x"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .conversation_set_owner("ABCD1234", Some("@anna:x"))
            .await
            .unwrap(),
        "no change"
    );
    store
        .conversation_shown("ABCD1234", "… Anna Dispo has it")
        .await
        .unwrap();
    assert_eq!(
        store.conversations_owned_by("@anna:x").await.unwrap(),
        ["ABCD1234"]
    );
    let moved = store.conversation_move_owner("ABCD1234", "@anna:x", "@ben:x");
    assert!(moved.await.unwrap());
    let again = store.conversation_move_owner("ABCD1234", "@anna:x", "@ben:x");
    assert!(!again.await.unwrap(), "Anna has it no more");
    // The desk room is told once per waiting message, the admins after it.
    use threema_bridge::store::Told;
    let waiting = store.conversations_waiting().await.unwrap();
    assert_eq!(waiting.len(), 1);
    let since = waiting[0].waiting_since.unwrap();
    assert!(
        !store
            .conversation_told("ABCD1234", since + 1, Told::Late)
            .await
            .unwrap(),
        "another message"
    );
    assert!(
        store
            .conversation_told("ABCD1234", since, Told::Late)
            .await
            .unwrap()
    );
    assert!(
        !store
            .conversation_told("ABCD1234", since, Told::Late)
            .await
            .unwrap(),
        "once"
    );
    assert!(
        store
            .conversation_told("ABCD1234", since, Told::Escalated)
            .await
            .unwrap()
    );
    let told = store.conversation("ABCD1234").await.unwrap().unwrap();
    assert!(told.late_at.is_some() && told.escalated_at.is_some());
    // An answer written before the waiting message does not answer it.
    let early = store.conversation_close("ABCD1234", "@ben:x", Closed::Answered, 999);
    assert!(!early.await.unwrap());
    // One written between the driver's two messages answers the first: it waits since the
    // second, told nothing yet.
    let between = store.conversation_close("ABCD1234", "@ben:x", Closed::Answered, 1500);
    assert!(between.await.unwrap());
    let still = store.conversation("ABCD1234").await.unwrap().unwrap();
    assert_eq!(
        (
            still.state,
            still.waiting_since,
            still.waiting_event.as_deref()
        ),
        (ConversationState::Open, Some(2000), Some("$2"))
    );
    assert_eq!((still.late_at, still.escalated_at), (None, None));
    let answer = store.conversation_close("ABCD1234", "@ben:x", Closed::Answered, 2000);
    assert!(answer.await.unwrap());
    let twice = store.conversation_close("ABCD1234", "@ben:x", Closed::Done, i64::MAX);
    assert!(!twice.await.unwrap());
    assert!(
        !store
            .conversation_set_owner("ABCD1234", Some("@anna:x"))
            .await
            .unwrap(),
        "closed"
    );
    let closed = store.conversation("ABCD1234").await.unwrap().unwrap();
    assert_eq!(
        (closed.late_at, closed.escalated_at),
        (None, None),
        "what was told ends"
    );
    assert!(store.conversations_waiting().await.unwrap().is_empty());
    assert_eq!(
        (closed.state, closed.closed_how, closed.owner.as_deref()),
        (
            ConversationState::Closed,
            Some(Closed::Answered),
            Some("@ben:x")
        )
    );

    let ben = DispatcherTarget {
        user: "@ben:x".into(),
        employee_id: None,
        names: vec!["Ben Dispo".into()],
        pseudonym: "@erased-1:x".into(),
        pseudonym_name: "[erased dispatcher]".into(),
    };
    // Off shift until on-shift or erasure.
    assert!(
        store
            .dispatcher_set_off_shift("@ben:x", true)
            .await
            .unwrap()
    );
    assert!(
        !store
            .dispatcher_set_off_shift("@ben:x", true)
            .await
            .unwrap(),
        "no change"
    );
    assert!(
        store
            .dispatcher_set_off_shift("@anna:x", true)
            .await
            .unwrap()
    );
    assert!(
        store
            .dispatcher_set_off_shift("@anna:x", false)
            .await
            .unwrap()
    );
    assert_eq!(store.dispatchers_off_shift().await.unwrap(), ["@ben:x"]);
    store.erase_dispatcher(&ben, false).await.unwrap();
    assert!(
        store.dispatchers_off_shift().await.unwrap().is_empty(),
        "erased"
    );
    let kept = store.conversation("ABCD1234").await.unwrap().unwrap();
    assert_eq!(
        (kept.owner.as_deref(), kept.closed_by.as_deref()),
        (Some("@erased-1:x"), Some("@erased-1:x"))
    );
    let driver = ErasureTarget {
        threema_id: "ABCD1234".into(),
        ghost: "@threema_abcd1234:x".into(),
        room: None,
        employee_id: None,
        names: Vec::new(),
    };
    store.erase_driver(&driver, false).await.unwrap();
    assert_eq!(store.conversation("ABCD1234").await.unwrap(), None);
}

/// An event the homeserver never pushed, found by the first catch-up of a term, goes before the
/// newer unhandled events of its room (a standby stored those meanwhile); handled rows, other
/// rooms' and failed attempts stay as they were.
async fn a_catch_up_puts_what_it_missed_in_its_place(store: Store, _url: &str) {
    let stored = [
        event("$a", "!r"),
        event("$c", "!r"),
        event("$x", "!other"),
        event("$d", "!r"),
    ];
    assert_eq!(store.inbox_push(&stored).await.unwrap(), 4);
    let seq_of = |items: &[threema_bridge::store::InboxItem], key: &str| {
        items.iter().find(|i| i.dedup_key == key).map(|i| i.seq)
    };
    let pending = store.inbox_pending(0, 10).await.unwrap();
    assert!(
        store
            .inbox_finish(seq_of(&pending, "$a").unwrap(), "bridged")
            .await
            .unwrap()
    );
    store
        .inbox_record_attempt(seq_of(&pending, "$d").unwrap())
        .await
        .unwrap();
    let timeline = [
        event("$a", "!r"),
        event("$b", "!r"),
        event("$c", "!r"),
        event("$d", "!r"),
    ];
    assert_eq!(
        store.inbox_push_in_place(&timeline).await.unwrap(),
        1,
        "one was missing"
    );
    let pending = store.inbox_pending(0, 10).await.unwrap();
    let order: Vec<(&str, i64)> = (pending.iter())
        .map(|i| (i.dedup_key.as_str(), i.attempts))
        .collect();
    assert_eq!(order, [("$x", 0), ("$b", 0), ("$c", 0), ("$d", 1)]);
    // Nothing missing: nothing moves.
    assert_eq!(store.inbox_push_in_place(&timeline).await.unwrap(), 0);
    let again: Vec<i64> = (store.inbox_pending(0, 10).await.unwrap().iter())
        .map(|i| i.seq)
        .collect();
    assert_eq!(again, pending.iter().map(|i| i.seq).collect::<Vec<_>>());
}

/// The queues read on from the last sequence number they saw. PostgreSQL numbers a row when it
/// is inserted, not when it commits: a row that became visible after one numbered later would
/// be passed over by that read and found only by a rescan, after its lane had handled newer
/// rows (a dispatcher's message overtaken by the next one). Writers at once on every queue, and
/// a reader that reads on: it passes over nothing.
async fn queue_rows_become_visible_in_the_order_of_their_numbers(store: Store, url: &str) {
    const WRITERS: usize = 8;
    const ROWS: usize = 50;
    // A connection each, so that they do write at once.
    let writer_store = Store::connect(url, WRITERS as u32).await.unwrap();
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, writing) = (writer_store.clone(), writing.clone());
            tokio::spawn(async move {
                for i in 0..ROWS {
                    let key = format!("$w{w}-{i}");
                    let outgoing = NewOutgoing {
                        event_id: key.clone(),
                        recipient: format!("WRITER{w:02}"),
                        part: 0,
                        room_id: format!("!w{w}"),
                        sender: "@d:x".into(),
                        payload: "{}".into(),
                        hold_until: None,
                    };
                    store.outbox_enqueue(&[outgoing]).await.unwrap();
                    store
                        .inbox_push(&[event(&key, &format!("!w{w}"))])
                        .await
                        .unwrap();
                    let message_id = format!("{w:08x}{i:08x}");
                    let callback = callback(&format!("WRITER{w:02}"), &message_id);
                    assert!(store.threema_inbox_push(&callback).await.unwrap());
                }
                writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            })
        })
        .collect();
    // Read on from the last number seen, as `queue::run` does between its full scans.
    let mut seen: [Vec<i64>; 3] = Default::default();
    loop {
        let last = writing.load(std::sync::atomic::Ordering::SeqCst) == 0;
        let after = |seen: &Vec<i64>| seen.last().copied().unwrap_or(0);
        let outbox = store.outbox_pending(after(&seen[0]), 1000).await.unwrap();
        seen[0].extend(outbox.iter().map(|r| r.seq));
        let inbox = store.inbox_pending(after(&seen[1]), 1000).await.unwrap();
        seen[1].extend(inbox.iter().map(|r| r.seq));
        let threema = store
            .threema_inbox_pending(after(&seen[2]), 1000)
            .await
            .unwrap();
        seen[2].extend(threema.iter().map(|r| r.seq));
        if last {
            break;
        }
    }
    for writer in writers {
        writer.await.unwrap();
    }
    writer_store.close().await;
    let all: [Vec<i64>; 3] = [
        (store.outbox_pending(0, 1000).await.unwrap().iter())
            .map(|r| r.seq)
            .collect(),
        (store.inbox_pending(0, 1000).await.unwrap().iter())
            .map(|r| r.seq)
            .collect(),
        (store.threema_inbox_pending(0, 1000).await.unwrap().iter())
            .map(|r| r.seq)
            .collect(),
    ];
    for ((queue, seen), all) in ["outbox", "Matrix inbox", "Threema inbox"]
        .iter()
        .zip(&seen)
        .zip(&all)
    {
        assert_eq!(all.len(), WRITERS * ROWS, "{queue}");
        let passed_over: Vec<&i64> = all.iter().filter(|seq| !seen.contains(seq)).collect();
        assert!(
            passed_over.is_empty(),
            "{queue}: the reader passed over {passed_over:?}"
        );
    }
}

async fn inbox_dedups_and_keeps_order(store: Store, _url: &str) {
    let first = [event("$a", "!r1"), event("$b", "!r2"), event("$c", "!r1")];
    assert_eq!(store.inbox_push(&first).await.unwrap(), 3);
    // A replayed transaction, partly overlapping with a new one: only `$d` is new.
    let new = store
        .inbox_push_rows(&[event("$b", "!r2"), event("$d", "!r1")])
        .await
        .unwrap();
    let pending = store.inbox_pending(0, 100).await.unwrap();
    let keys: Vec<_> = pending.iter().map(|i| i.dedup_key.as_str()).collect();
    assert_eq!(keys, ["$a", "$b", "$c", "$d"]);
    // The new row as the queue reads it (what its runner is handed instead of reading it).
    assert_eq!(new, pending[3..]);
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(pending[0].payload, r#"{"event_id":"$a"}"#);
    // Paging from a sequence number.
    let rest = store.inbox_pending(pending[1].seq, 100).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(store.inbox_backlog().await.unwrap(), 4);

    // Handled items are remembered: pushing them again stores nothing.
    store.inbox_finish(pending[0].seq, "done").await.unwrap();
    assert_eq!(store.inbox_push(&[event("$a", "!r1")]).await.unwrap(), 0);
    assert_eq!(store.inbox_backlog().await.unwrap(), 3);
    assert_eq!(
        store.inbox_outcome("$a").await.unwrap(),
        Some(Some("done".into()))
    );
    assert_eq!(store.inbox_outcome("$b").await.unwrap(), Some(None));
    assert_eq!(store.inbox_outcome("$zzz").await.unwrap(), None);
}

async fn inbox_finish_counts_once(store: Store, _url: &str) {
    store.inbox_push(&[event("$x", "!r")]).await.unwrap();
    let item = store.inbox_pending(0, 10).await.unwrap().remove(0);
    store.inbox_record_attempt(item.seq).await.unwrap();
    assert_eq!(store.inbox_pending(0, 10).await.unwrap()[0].attempts, 1);
    assert!(store.inbox_finish(item.seq, "first").await.unwrap());
    assert!(!store.inbox_finish(item.seq, "second").await.unwrap());
    assert_eq!(
        store.inbox_outcome("$x").await.unwrap(),
        Some(Some("first".into()))
    );
    assert!(store.inbox_pending(0, 10).await.unwrap().is_empty());
}

async fn ghosts_are_idempotent(store: Store, _url: &str) {
    let ghost = store
        .ghost_ensure("ECHO1234", "@threema_echo1234:d.test")
        .await
        .unwrap();
    assert_eq!(ghost.registered_at, None);
    store.ghost_mark_registered("ECHO1234").await.unwrap();
    let again = store
        .ghost_ensure("ECHO1234", "@threema_echo1234:d.test")
        .await
        .unwrap();
    assert!(
        again.registered_at.is_some(),
        "ensure keeps the registration state"
    );
    store
        .ghost_set_profile("ECHO1234", Some("Erika Driver"), None)
        .await
        .unwrap();
    let by_user = store
        .ghost_by_user_id("@threema_echo1234:d.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_user.display_name.as_deref(), Some("Erika Driver"));
    assert_eq!(store.ghost_by_threema_id("NOPE0000").await.unwrap(), None);
}

/// What a driver's message reads of them in one statement: the same rows as read one by one.
async fn a_senders_ghost_and_portal_are_read_together(store: Store, _url: &str) {
    let none = store.sender_rows("ECHO1234").await.unwrap();
    assert_eq!(
        (none.ghost, none.portal, none.unanswered),
        (None, None, None)
    );
    store
        .ghost_ensure("ECHO1234", "@threema_echo1234:d.test")
        .await
        .unwrap();
    store
        .ghost_set_profile("ECHO1234", Some("Erika Driver"), None)
        .await
        .unwrap();
    let ghost_only = store.sender_rows("ECHO1234").await.unwrap();
    assert_eq!(
        ghost_only.ghost,
        store.ghost_by_threema_id("ECHO1234").await.unwrap()
    );
    assert_eq!(ghost_only.portal, None);
    store
        .portal_insert("ECHO1234", "!room1:d.test")
        .await
        .unwrap();
    store
        .restriction_set("ECHO1234", Some("!room1:d.test"), "@dpo:d.test")
        .await
        .unwrap();
    // Another driver's rows are not theirs.
    store
        .ghost_ensure("ECHO5678", "@threema_echo5678:d.test")
        .await
        .unwrap();
    store
        .portal_insert("ECHO5678", "!room2:d.test")
        .await
        .unwrap();
    let both = store.sender_rows("ECHO1234").await.unwrap();
    assert_eq!(both.ghost, ghost_only.ghost);
    let portal = store.portal_by_threema_id("ECHO1234").await.unwrap();
    assert_eq!(both.portal, portal);
    let portal = portal.unwrap();
    assert!(
        portal.restricted,
        "read with the portal, as portal_by_threema_id reads it"
    );
    assert_eq!(portal.room_id.as_str(), "!room1:d.test");
    let other = store.sender_rows("ECHO5678").await.unwrap();
    assert!(!other.portal.unwrap().restricted);
}

async fn portals_are_unique_per_driver(store: Store, _url: &str) {
    assert!(store.portal_insert("ECHO1234", "!room1").await.unwrap());
    assert!(!store.portal_insert("ECHO1234", "!room2").await.unwrap());
    assert_eq!(
        store
            .portal_by_threema_id("ECHO1234")
            .await
            .unwrap()
            .unwrap()
            .room_id,
        "!room1"
    );
    assert_eq!(
        store
            .portal_by_room_id("!room1")
            .await
            .unwrap()
            .unwrap()
            .threema_id
            .as_str(),
        "ECHO1234"
    );
    assert_eq!(store.portal_by_room_id("!room2").await.unwrap(), None);

    // A legal hold on the driver is read with their portal, by either key.
    assert!(
        !store
            .portal_by_room_id("!room1")
            .await
            .unwrap()
            .unwrap()
            .restricted
    );
    store
        .restriction_set("ECHO1234", None, "@dpo:x")
        .await
        .unwrap();
    assert!(
        store
            .portal_by_room_id("!room1")
            .await
            .unwrap()
            .unwrap()
            .restricted
    );
    let by_id = store.portal_by_threema_id("ECHO1234").await.unwrap();
    assert!(by_id.unwrap().restricted);
    assert!(store.portals().await.unwrap().iter().all(|p| p.restricted));
}

async fn message_mappings_are_unique_both_ways(store: Store, _url: &str) {
    let m = MessageMapping {
        room_id: "!room1".try_into().unwrap(),
        event_id: "$ev1".try_into().unwrap(),
        threema_peer: ThreemaId::parse("ECHO1234").unwrap(),
        threema_message_id: "0011223344556677".into(),
        direction: Direction::In,
        matrix_sender: "@threema_echo1234:d.test".try_into().unwrap(),
        part: 0,
    };
    assert!(store.message_insert(&m).await.unwrap());
    assert!(
        !store.message_insert(&m).await.unwrap(),
        "the same message twice"
    );
    let same_event = MessageMapping {
        threema_message_id: "8899aabbccddeeff".into(),
        ..m.clone()
    };
    assert!(
        !store.message_insert(&same_event).await.unwrap(),
        "one event, two messages as the same part"
    );
    // A long text is sent in parts: one event, several messages.
    let second_part = MessageMapping {
        part: 1,
        ..same_event.clone()
    };
    assert!(store.message_insert(&second_part).await.unwrap());
    assert_eq!(
        store.messages_by_event_id("$ev1").await.unwrap(),
        [m.clone(), second_part]
    );
    // The same id from the other direction is a different message.
    let outgoing = MessageMapping {
        event_id: "$ev2".try_into().unwrap(),
        direction: Direction::Out,
        ..m.clone()
    };
    assert!(store.message_insert(&outgoing).await.unwrap());
    assert_eq!(
        store.message_by_event_id("$ev1").await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(
        store
            .message_by_threema_id("ECHO1234", "0011223344556677", Direction::Out)
            .await
            .unwrap()
            .unwrap()
            .event_id,
        "$ev2"
    );
}

async fn migrations_are_idempotent(store: Store, url: &str) {
    // Connecting again to a migrated database applies nothing and loses nothing.
    store.portal_insert("ECHO1234", "!room1").await.unwrap();
    let again = Store::connect(url, 2).await.unwrap();
    assert_eq!(
        again
            .portal_by_threema_id("ECHO1234")
            .await
            .unwrap()
            .unwrap()
            .room_id,
        "!room1"
    );
    again.close().await;
}

fn callback(sender: &str, message_id: &str) -> NewThreemaItem {
    NewThreemaItem {
        sender: sender.into(),
        message_id: message_id.into(),
        date: 1_700_000_000,
        nonce: "33".repeat(24),
        ciphertext: "ab".repeat(40),
        nickname: Some("Driver Dan".into()),
    }
}

/// `sending → sent` with the end of the row's work: the message recorded, the row done (not
/// pending any more, its hold gone), in one commit; a second try finds it moved on and writes
/// nothing.
async fn a_sent_message_is_recorded_and_done_in_one_commit(store: Store, _url: &str) {
    let outgoing = NewOutgoing {
        event_id: "$sent".into(),
        recipient: "ABCD1234".into(),
        part: 0,
        room_id: "!portal".into(),
        sender: "@d:x".into(),
        payload: "{}".into(),
        hold_until: Some(1),
    };
    store.outbox_enqueue(&[outgoing]).await.unwrap();
    let seq = store.outbox_by_event("$sent").await.unwrap()[0].seq;
    let (queued, sending) = (OutboxState::Queued, OutboxState::Sending);
    let claimed = store.outbox_transition(seq, queued, sending, None, None, None);
    assert!(claimed.await.unwrap());
    let message = MessageMapping {
        room_id: "!portal:x".try_into().unwrap(),
        event_id: "$sent".try_into().unwrap(),
        threema_peer: ThreemaId::parse("ABCD1234").unwrap(),
        threema_message_id: "00000000000000bb".into(),
        direction: Direction::Out,
        matrix_sender: "@d:x".try_into().unwrap(),
        part: 0,
    };
    let sent = store.outbox_sent_and_done(seq, "00000000000000bb", None, Some(&message));
    assert!(sent.await.unwrap());
    let (row, _) = store.outbox_get(seq).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.threema_message_id.as_deref(), row.hold_until),
        (OutboxState::Sent, Some("00000000000000bb"), None)
    );
    assert!(store.outbox_pending(0, 10).await.unwrap().is_empty());
    let recorded = store.message_by_event_id("$sent").await.unwrap();
    assert_eq!(recorded, Some(message.clone()));
    let again = store.outbox_sent_and_done(seq, "00000000000000cc", None, Some(&message));
    assert!(!again.await.unwrap());
    let (row, _) = store.outbox_get(seq).await.unwrap().unwrap();
    assert_eq!(row.threema_message_id.as_deref(), Some("00000000000000bb"));
}

/// An outbox row comes with what its send checks of the recipient, as it is at the read: the
/// trusted key (not a pending one), and whether a legal hold restricts them; another driver's
/// key or restriction is not theirs.
async fn a_row_is_read_with_its_recipients_key_and_standing(store: Store, _url: &str) {
    let row = |recipient: &str| NewOutgoing {
        event_id: "$checked".into(),
        recipient: recipient.into(),
        part: 0,
        room_id: "!portal".into(),
        sender: "@d:x".into(),
        payload: "{}".into(),
        hold_until: None,
    };
    store
        .outbox_enqueue(&[row("ABCD1234"), row("EFGH5678")])
        .await
        .unwrap();
    let seqs: Vec<i64> = (store.outbox_by_event("$checked").await.unwrap())
        .iter()
        .map(|row| row.seq)
        .collect();
    let on_file = async |seq| store.outbox_get(seq).await.unwrap().unwrap().1;
    assert_eq!(on_file(seqs[0]).await, RecipientOnFile::default());
    // When the homeserver brought the event, while its inbox row is kept (for `/metrics`).
    store
        .inbox_push(&[event("$checked", "!portal")])
        .await
        .unwrap();
    let received_at = store.inbox_received_at("$checked").await.unwrap();
    assert!(received_at.is_some());
    assert_eq!(on_file(seqs[1]).await.event_received_at, received_at);

    let (trusted, pending) = ("aa".repeat(32), "bb".repeat(32));
    store.public_key_insert("ABCD1234", &trusted).await.unwrap();
    store
        .public_key_set_pending("ABCD1234", &pending)
        .await
        .unwrap();
    store
        .restriction_set("ABCD1234", None, "@dpo:x")
        .await
        .unwrap();
    let expected = RecipientOnFile {
        public_key: Some(trusted),
        restricted: true,
        event_received_at: received_at,
    };
    assert_eq!(on_file(seqs[0]).await, expected);
    let other = RecipientOnFile {
        event_received_at: received_at,
        ..RecipientOnFile::default()
    };
    assert_eq!(on_file(seqs[1]).await, other);
    assert!(store.outbox_get(seqs[1] + 100).await.unwrap().is_none());
}

/// The queue lanes' calls made at the same time run as one statement (`coalesce`): each
/// caller still gets what it asked for and nothing of another's; a row claimed twice at once
/// is claimed once.
async fn rows_asked_for_at_once_are_each_their_callers(store: Store, _url: &str) {
    let drivers = ["AAAA0001", "AAAA0002", "AAAA0003"];
    let rows: Vec<NewOutgoing> = (drivers.iter())
        .map(|driver| NewOutgoing {
            event_id: "$at-once".into(),
            recipient: (*driver).into(),
            part: 0,
            room_id: "!portal".into(),
            sender: "@d:x".into(),
            payload: format!("{{\"to\":\"{driver}\"}}"),
            hold_until: None,
        })
        .collect();
    store.outbox_enqueue(&rows).await.unwrap();
    let seqs: Vec<i64> = (store.outbox_by_event("$at-once").await.unwrap())
        .iter()
        .map(|row| row.seq)
        .collect();
    store
        .public_key_insert("AAAA0002", &"cc".repeat(32))
        .await
        .unwrap();
    store
        .restriction_set("AAAA0003", None, "@dpo:x")
        .await
        .unwrap();

    // Read at once: each row with its own recipient's key and standing; a gone row none.
    let read = futures::future::join_all(
        (seqs.iter().chain([&(seqs[2] + 100)])).map(|seq| store.outbox_get(*seq)),
    )
    .await;
    let read: Vec<_> = read.into_iter().map(Result::unwrap).collect();
    for (i, driver) in drivers.iter().enumerate() {
        let (row, on_file) = read[i].as_ref().expect("the row");
        assert_eq!((row.seq, row.recipient.as_str()), (seqs[i], *driver));
        assert_eq!(row.payload, format!("{{\"to\":\"{driver}\"}}"));
        assert_eq!(on_file.public_key.is_some(), i == 1);
        assert_eq!(on_file.restricted, i == 2);
    }
    assert!(read[3].is_none());

    // Claimed at once, the first row twice: it is claimed once, by the first to ask (the
    // second waits for the next statement).
    let claim = |seq| {
        store.outbox_transition(
            seq,
            OutboxState::Queued,
            OutboxState::Sending,
            None,
            None,
            None,
        )
    };
    let claims = futures::future::join_all([seqs[1], seqs[0], seqs[0], seqs[2]].map(claim)).await;
    let claims: Vec<bool> = claims.into_iter().map(Result::unwrap).collect();
    assert_eq!(claims, [true, true, false, true]);
    let (row, _) = store.outbox_get(seqs[0]).await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (OutboxState::Sending, 1));
    assert!(!claim(seqs[0]).await.unwrap(), "not queued any more");

    // Receipts looked up at once: each finds its own driver's rows, under way or sent.
    let id = |n: u8| format!("{n:016x}");
    store
        .outbox_transition(
            seqs[1],
            OutboxState::Sending,
            OutboxState::Sent,
            Some(&id(2)),
            None,
            None,
        )
        .await
        .unwrap();
    let (ids_1, ids_2, ids_none) = (vec![id(1)], vec![id(2), id(1)], vec![id(2)]);
    let (first, second, stranger) = tokio::join!(
        store.outbox_receipt_lookup("AAAA0001", &ids_1),
        store.outbox_receipt_lookup("AAAA0002", &ids_2),
        store.outbox_receipt_lookup("ZZZZ9999", &ids_none),
    );
    let (first, second, stranger) = (first.unwrap(), second.unwrap(), stranger.unwrap());
    assert!(
        first.in_flight && first.sent.is_empty(),
        "its send is under way"
    );
    assert!(!second.in_flight);
    assert_eq!(
        second.sent.iter().map(|row| row.seq).collect::<Vec<_>>(),
        [seqs[1]]
    );
    assert!(!stranger.in_flight && stranger.sent.is_empty());

    // Receipts applied at once: each row its own times and marker; a row's second receipt
    // after its first (read implies received; a later "received" keeps the earlier time).
    let marks = tokio::join!(
        store.outbox_mark_delivered(seqs[1], true, 5_000, Some("$read")),
        store.outbox_mark_delivered(seqs[2], false, 6_000, None),
        store.outbox_mark_delivered(seqs[1], false, 7_000, None),
    );
    for mark in [marks.0, marks.1, marks.2] {
        mark.unwrap();
    }
    let status = async |seq| store.outbox_get(seq).await.unwrap().unwrap().0.status;
    let (read, received) = (status(seqs[1]).await, status(seqs[2]).await);
    assert_eq!((read.received_at, read.read_at), (Some(5_000), Some(5_000)));
    assert_eq!(read.marker_event.as_deref(), Some("$read"));
    assert_eq!(
        (received.received_at, received.read_at),
        (Some(6_000), None)
    );
    assert_eq!(received.marker_event, None);

    // A driver's standing asked for at once with others': theirs.
    let erasure = store.erasure_start("hash-4", "@dpo:x").await.unwrap();
    store.erasure_finish(erasure, "hash-4").await.unwrap();
    let (plain, keyed, held, erased) = tokio::join!(
        store.driver_on_file("hash-1", "AAAA0001"),
        store.driver_on_file("hash-2", "AAAA0002"),
        store.driver_on_file("hash-3", "AAAA0003"),
        store.driver_on_file("hash-4", "AAAA0004"),
    );
    let (plain, keyed, held) = (plain.unwrap(), keyed.unwrap(), held.unwrap());
    assert_eq!(erased.unwrap().standing, Standing::Erased);
    assert_eq!(
        (plain.standing, plain.public_key),
        (Standing::Bridged, None)
    );
    assert_eq!(keyed.public_key, Some("cc".repeat(32)));
    assert_eq!(held.standing, Standing::Restricted);
}

/// The callback writer's group commits: callbacks that arrive at once (some of them the
/// Gateway's retries of others) are each answered, once stored, and stored once.
async fn callbacks_arriving_together_are_each_stored_once_and_answered(store: Store, _url: &str) {
    let intake = threema_bridge::store::ThreemaIntake::start(store.clone());
    let message_ids: Vec<String> = (0..40).map(|i| format!("{i:016x}")).collect();
    // Every fourth one twice, at the same moment.
    let sent: Vec<&String> = message_ids
        .iter()
        .chain(message_ids.iter().step_by(4))
        .collect();
    let answers = futures::future::join_all(sent.iter().map(|id| {
        let intake = intake.clone();
        let item = callback("GROUP123", id);
        async move { intake.push(item).await.unwrap() }
    }))
    .await;
    assert_eq!(answers.iter().flatten().count(), 40);
    for id in message_ids.iter().step_by(4) {
        let firsts = sent
            .iter()
            .zip(&answers)
            .filter(|(sent, new)| **sent == id && new.is_some())
            .count();
        assert_eq!(firsts, 1, "{id} is new once");
    }
    let stored = store.threema_inbox_pending(0, 1000).await.unwrap();
    let mut ids: Vec<&str> = stored.iter().map(|row| row.message_id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, message_ids);
    // Each new callback is answered with its row as the queue reads it (what its runner is
    // handed instead of reading it).
    let mut answered: Vec<_> = answers.into_iter().flatten().collect();
    answered.sort_by_key(|row| row.seq);
    assert_eq!(answered, stored);
}

async fn threema_callbacks_dedup_on_sender_and_message_id(store: Store, _url: &str) {
    assert!(
        store
            .threema_inbox_push(&callback("ECHO1234", "0102030405060708"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .threema_inbox_push(&callback("ECHO1234", "0102030405060708"))
            .await
            .unwrap(),
        "a retried callback"
    );
    // The same id from another sender is another message.
    assert!(
        store
            .threema_inbox_push(&callback("OTHR5678", "0102030405060708"))
            .await
            .unwrap()
    );
    let pending = store.threema_inbox_pending(0, 10).await.unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].nickname.as_deref(), Some("Driver Dan"));
    assert_eq!(pending[0].ciphertext, "ab".repeat(40));
    // Failed downloads are counted apart from the other failed attempts.
    store
        .threema_inbox_record_attempt(pending[0].seq)
        .await
        .unwrap();
    for failed in 1..=2 {
        assert_eq!(
            store
                .threema_inbox_download_failed(pending[0].seq)
                .await
                .unwrap(),
            failed
        );
    }
    assert_eq!(
        store.threema_inbox_pending(0, 10).await.unwrap()[0].attempts,
        1
    );

    // Finished at once (one statement, `coalesce`): the first of two for one row counts.
    let finished = tokio::join!(
        store.threema_inbox_finish(pending[0].seq, "bridged", false),
        store.threema_inbox_finish(pending[0].seq, "again", false),
        store.threema_inbox_finish(pending[1].seq, "unknown type 0x99", true),
    );
    assert_eq!(
        (
            finished.0.unwrap(),
            finished.1.unwrap(),
            finished.2.unwrap()
        ),
        (true, false, true)
    );
    assert!(
        !store
            .threema_inbox_push(&callback("ECHO1234", "0102030405060708"))
            .await
            .unwrap(),
        "handled ones too"
    );
    assert_eq!(
        store
            .threema_inbox_outcome("ECHO1234", "0102030405060708")
            .await
            .unwrap(),
        Some(Some("bridged".into()))
    );
    assert_eq!(store.threema_inbox_count().await.unwrap(), 2);
    assert!(store.threema_inbox_pending(0, 10).await.unwrap().is_empty());
}

async fn public_key_changes_are_held_back(store: Store, _url: &str) {
    let (k1, k2) = ("11".repeat(32), "22".repeat(32));
    assert_eq!(store.public_key("ECHO1234").await.unwrap(), None);
    assert_eq!(store.public_key_insert("ECHO1234", &k1).await.unwrap(), k1);
    assert_eq!(
        store.public_key_insert("ECHO1234", &k2).await.unwrap(),
        k1,
        "the key cached first is the one returned"
    );
    let cached = CachedKey {
        public_key: k1.clone(),
        pending_key: None,
    };
    assert_eq!(
        store.public_key("ECHO1234").await.unwrap(),
        Some(cached.clone()),
        "insert never replaces"
    );
    // The same key again is no change.
    store.public_key_set_pending("ECHO1234", &k1).await.unwrap();
    assert_eq!(store.public_key("ECHO1234").await.unwrap(), Some(cached));
    store.public_key_set_pending("ECHO1234", &k2).await.unwrap();
    assert_eq!(
        store.public_key("ECHO1234").await.unwrap(),
        Some(CachedKey {
            public_key: k1,
            pending_key: Some(k2.clone())
        })
    );
    assert_eq!(
        store.public_key_accept("ECHO1234", "cli").await.unwrap(),
        KeyAcceptance::Accepted { requeued: 0 }
    );
    assert_eq!(
        store.public_key_accept("ECHO1234", "cli").await.unwrap(),
        KeyAcceptance::NothingPending
    );
    assert_eq!(
        store.public_key("ECHO1234").await.unwrap(),
        Some(CachedKey {
            public_key: k2,
            pending_key: None
        })
    );
}

/// `sender` has a trusted key and a changed one pending.
async fn key_pending(store: &Store, sender: &str) {
    store
        .public_key_insert(sender, &"11".repeat(32))
        .await
        .unwrap();
    store
        .public_key_set_pending(sender, &"22".repeat(32))
        .await
        .unwrap();
}

/// Stores a callback and returns its sequence number.
async fn push(store: &Store, sender: &str, message_id: &str) -> i64 {
    assert!(
        store
            .threema_inbox_push(&callback(sender, message_id))
            .await
            .unwrap()
    );
    let pending = store.threema_inbox_pending(0, 100).await.unwrap();
    pending
        .iter()
        .find(|i| i.sender == sender && i.message_id == message_id)
        .unwrap()
        .seq
}

async fn held_messages_are_queued_again_in_order_once_the_key_is_accepted(
    store: Store,
    _url: &str,
) {
    key_pending(&store, "ECHO1234").await;
    let first = push(&store, "ECHO1234", "00000000000000a1").await;
    let other = push(&store, "OTHR5678", "00000000000000b1").await;
    let second = push(&store, "ECHO1234", "00000000000000a2").await;
    for seq in [first, second] {
        assert!(
            store
                .threema_inbox_hold(seq, "ECHO1234", "held")
                .await
                .unwrap()
        );
    }
    store
        .threema_inbox_finish(other, "bridged", false)
        .await
        .unwrap();
    // A held message counts as handled: the runner does not take it up again by itself.
    assert!(
        store
            .threema_inbox_pending(0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.threema_inbox_held("ECHO1234").await.unwrap(),
        ["00000000000000a1", "00000000000000a2"]
    );
    assert!(
        store
            .threema_inbox_held("OTHR5678")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .threema_inbox_finish(first, "again", false)
            .await
            .unwrap(),
        "the runner's own finish after the hold changes nothing"
    );

    assert_eq!(
        store
            .public_key_accept("ECHO1234", "@admin:dispatch.test")
            .await
            .unwrap(),
        KeyAcceptance::Accepted { requeued: 2 }
    );
    assert_eq!(
        store.public_key("ECHO1234").await.unwrap(),
        Some(CachedKey {
            public_key: "22".repeat(32),
            pending_key: None
        })
    );
    // Pending again, in their order, after every number the runner has seen (no rescan needed),
    // with everything needed to open them.
    let again = store.threema_inbox_pending(second, 100).await.unwrap();
    let ids: Vec<_> = again.iter().map(|i| i.message_id.as_str()).collect();
    assert_eq!(ids, ["00000000000000a1", "00000000000000a2"]);
    assert!(again[0].seq > second && again[0].seq < again[1].seq);
    let mut expected = callback("ECHO1234", "00000000000000a1");
    assert_eq!(
        (
            &again[0].nonce,
            &again[0].ciphertext,
            &again[0].nickname,
            again[0].date
        ),
        (
            &expected.nonce,
            &expected.ciphertext,
            &expected.nickname,
            expected.date
        )
    );
    assert_eq!(
        store
            .threema_inbox_outcome("ECHO1234", "00000000000000a1")
            .await
            .unwrap(),
        Some(None)
    );
    assert!(
        store
            .threema_inbox_held("ECHO1234")
            .await
            .unwrap()
            .is_empty()
    );
    // Still one row per message: a retried callback is still a duplicate.
    expected.message_id = "00000000000000a2".into();
    assert!(!store.threema_inbox_push(&expected).await.unwrap());
    assert_eq!(store.threema_inbox_count().await.unwrap(), 3);
    let audit = store.audit_recent(Some("ECHO1234"), 10).await.unwrap();
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].action.as_str()),
        ("@admin:dispatch.test", "key.accepted")
    );

    // Accepting again finds nothing and changes nothing.
    assert_eq!(
        store.public_key_accept("ECHO1234", "cli").await.unwrap(),
        KeyAcceptance::NothingPending
    );
    assert_eq!(store.threema_inbox_pending(0, 100).await.unwrap(), again);
    assert_eq!(
        store.audit_recent(Some("ECHO1234"), 10).await.unwrap(),
        audit
    );
}

async fn a_key_accepted_twice_at_once_is_accepted_once(store: Store, _url: &str) {
    key_pending(&store, "ECHO1234").await;
    let seq = push(&store, "ECHO1234", "00000000000000a1").await;
    assert!(
        store
            .threema_inbox_hold(seq, "ECHO1234", "held")
            .await
            .unwrap()
    );
    // Two operators (or a command line and the management room) at the same moment.
    let (a, b) = tokio::join!(
        store.public_key_accept("ECHO1234", "cli"),
        store.public_key_accept("ECHO1234", "@admin:dispatch.test")
    );
    let mut results = [a.unwrap(), b.unwrap()];
    results.sort_by_key(|r| *r == KeyAcceptance::NothingPending);
    assert_eq!(
        results,
        [
            KeyAcceptance::Accepted { requeued: 1 },
            KeyAcceptance::NothingPending
        ]
    );
    assert_eq!(store.threema_inbox_pending(0, 100).await.unwrap().len(), 1);
}

async fn nothing_is_held_once_the_key_was_accepted(store: Store, _url: &str) {
    key_pending(&store, "ECHO1234").await;
    let seq = push(&store, "ECHO1234", "00000000000000a1").await;
    // The key is accepted between the failed open and the hold: the message stays pending, to
    // be opened with the new key, instead of waiting for an acceptance that already happened.
    store.public_key_accept("ECHO1234", "cli").await.unwrap();
    assert!(
        !store
            .threema_inbox_hold(seq, "ECHO1234", "held")
            .await
            .unwrap()
    );
    assert!(
        store
            .threema_inbox_held("ECHO1234")
            .await
            .unwrap()
            .is_empty()
    );
    let pending = store.threema_inbox_pending(0, 100).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].seq, seq);
    // An ID whose key never changed holds nothing either.
    let seq = push(&store, "OTHR5678", "00000000000000b1").await;
    assert!(
        !store
            .threema_inbox_hold(seq, "OTHR5678", "held")
            .await
            .unwrap()
    );
}

async fn polls_keep_their_choices(store: Store, _url: &str) {
    let poll = Poll {
        threema_peer: "ECHO1234".into(),
        creator: "ECHO1234".into(),
        // Beyond a signed BIGINT: poll ids are any u64.
        poll_id: u64::MAX - 1,
        event_id: "$poll".into(),
        choices: vec![
            PollChoice {
                id: 1,
                name: "Ja".into(),
                answer: None,
            },
            PollChoice {
                id: 0,
                name: "Nein, \"leider\"".into(),
                answer: Some("a-0".into()),
            },
        ],
        question: "Pause?".into(),
        multiple: true,
        namespace: "stable".into(),
        broadcast_event: Some("$broadcast".into()),
        closed_at: None,
    };
    assert!(store.poll_insert(&poll).await.unwrap());
    assert!(
        !store
            .poll_insert(&Poll {
                event_id: "$again".into(),
                ..poll.clone()
            })
            .await
            .unwrap(),
        "recorded once"
    );
    assert_eq!(
        store
            .poll_get("ECHO1234", "ECHO1234", u64::MAX - 1)
            .await
            .unwrap(),
        Some(poll.clone())
    );
    // Poll ids are per creator.
    assert_eq!(
        store
            .poll_get("ECHO1234", "*DISPTCH", u64::MAX - 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .poll_by_event("ECHO1234", "$poll")
            .await
            .unwrap()
            .as_ref(),
        Some(&poll)
    );
    assert_eq!(
        store.poll_by_event("OTHR5678", "$poll").await.unwrap(),
        None
    );
    assert_eq!(
        store.polls_of_broadcast("$broadcast").await.unwrap(),
        vec![poll.clone()]
    );
    assert_eq!(
        poll.choices[0].answer_id(),
        "1",
        "a driver's choice by its id"
    );
    assert_eq!(
        poll.choices[1].answer_id(),
        "a-0",
        "the desk's answer by its Matrix id"
    );

    // Each voter's current choice: a later vote replaces the earlier one.
    store.poll_vote_set(&poll, "ECHO1234", &[1]).await.unwrap();
    store
        .poll_vote_set(&poll, "*DISPTCH", &[0, 1])
        .await
        .unwrap();
    store.poll_vote_set(&poll, "ECHO1234", &[0]).await.unwrap();
    let votes = store.poll_votes(&poll).await.unwrap();
    let votes: Vec<(&str, &[u64])> = votes
        .iter()
        .map(|v| (v.voter.as_str(), v.choices.as_slice()))
        .collect();
    assert_eq!(
        votes,
        vec![("*DISPTCH", &[0, 1][..]), ("ECHO1234", &[0][..])]
    );

    // Closed once.
    assert!(store.poll_close(&poll).await.unwrap());
    assert!(!store.poll_close(&poll).await.unwrap());
    let closed = store
        .poll_get("ECHO1234", "ECHO1234", u64::MAX - 1)
        .await
        .unwrap()
        .unwrap();
    assert!(closed.closed_at.is_some());

    // Retention: a driver under a legal hold keeps theirs; the rest goes with its votes.
    let future = i64::MAX;
    assert_eq!(
        store
            .polls_prune(future, &["ECHO1234".into()], false)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.polls_prune(future, &[], true).await.unwrap(),
        1,
        "dry run counts"
    );
    assert!(
        store
            .poll_get("ECHO1234", "ECHO1234", u64::MAX - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.polls_prune(future, &[], false).await.unwrap(), 1);
    assert_eq!(
        store
            .poll_get("ECHO1234", "ECHO1234", u64::MAX - 1)
            .await
            .unwrap(),
        None
    );
    assert!(store.poll_votes(&poll).await.unwrap().is_empty());
    assert_eq!(store.polls_prune(0, &[], false).await.unwrap(), 0);
}

async fn messages_held_for_a_driver_off_duty_wait_until_their_time_or_urgent(
    store: Store,
    _url: &str,
) {
    let now = threema_bridge::store::now_ms();
    let row = |event: &str, driver: &str, hold_until: Option<i64>| NewOutgoing {
        event_id: event.into(),
        recipient: driver.into(),
        part: 0,
        room_id: "!r".into(),
        sender: "@d:x".into(),
        payload: "{}".into(),
        hold_until,
    };
    let hour = 3_600_000;
    let new = (store.outbox_enqueue_as(
        &[
            row("$night", "ABCD1234", Some(now + hour)),
            row("$urgent", "ABCD1234", None),
            row("$also", "ABCD1234", Some(now + hour)),
            row("$past", "EFGH5678", Some(now - 1)),
            row("$other", "EFGH5678", Some(now + hour)),
        ],
        OutboxState::Queued,
        None,
    ))
    .await
    .unwrap();
    // The rows as stored; those due are the rows the queue reads (what its runner is handed
    // instead of reading them).
    assert_eq!(new.len(), 5);
    let due: Vec<_> = new.into_iter().filter(|row| row.due(now)).collect();
    assert_eq!(due, store.outbox_pending(0, 100).await.unwrap());
    let pending = |store: Store| async move {
        let rows = store.outbox_pending(0, 100).await.unwrap();
        rows.into_iter()
            .map(|r| r.event_id.to_string())
            .collect::<Vec<_>>()
    };
    // Only what is due: not held, or held until a time that has passed.
    assert_eq!(pending(store.clone()).await, ["$urgent", "$past"]);
    let outbox = store.queue_figures().await.unwrap();
    let (_, waiting, oldest) = outbox.iter().find(|(q, _, _)| *q == "outbox").unwrap();
    assert_eq!(*waiting, 2, "held messages are not waiting in the queue");
    assert!(oldest.unwrap() >= now - 1);
    // An edit of one and of another (whose ID starts like the first's) wait with them.
    let edit = |of: &str, driver: &str| NewOutgoing {
        payload: format!(r#"{{"kind":"edit","target":"{of}","text":"x"}}"#),
        ..row(&format!("$edit{of}"), driver, Some(now + hour))
    };
    (store.outbox_enqueue(&[edit("$night", "ABCD1234"), edit("$nigh", "ABCD1234")]))
        .await
        .unwrap();
    // `!urgent` on one message sends it with its edit, on none all the driver's; not another
    // driver's. The next hold to come due is known.
    let release = |event: Option<&'static str>| {
        let store = store.clone();
        async move { store.outbox_release_held("ABCD1234", event).await.unwrap() }
    };
    assert_eq!(release(Some("$night")).await, 2);
    assert_eq!(
        pending(store.clone()).await,
        ["$night", "$urgent", "$past", "$edit$night"]
    );
    let next_hold = |store: Store| async move {
        let now = threema_bridge::store::now_ms();
        store.outbox_next_hold(now).await.unwrap()
    };
    assert_eq!(next_hold(store.clone()).await, Some(now + hour));
    assert_eq!(release(None).await, 2);
    assert_eq!(release(None).await, 0);
    // Deleted while held: gone, with its held edits. Not once it is due.
    let withdraw = |event: &'static str| {
        let store = store.clone();
        async move { store.outbox_withdraw_held("EFGH5678", event).await.unwrap() }
    };
    assert_eq!(withdraw("$past").await, 0);
    (store.outbox_enqueue(&[edit("$other", "EFGH5678")]))
        .await
        .unwrap();
    assert_eq!(withdraw("$other").await, 2);
    assert!(store.outbox_by_event("$other").await.unwrap().is_empty());
    assert_eq!(
        pending(store.clone()).await,
        [
            "$night",
            "$urgent",
            "$also",
            "$past",
            "$edit$night",
            "$edit$nigh"
        ]
    );
    assert_eq!(next_hold(store.clone()).await, None);
}

async fn delivery_status_is_kept_and_resends_are_new_rows(store: Store, _url: &str) {
    let outgoing = NewOutgoing {
        event_id: "$e".into(),
        recipient: "ABCD1234".into(),
        part: 0,
        room_id: "!r".into(),
        sender: "@d:x".into(),
        payload: "{}".into(),
        hold_until: None,
    };
    assert_eq!(
        store
            .outbox_enqueue(std::slice::from_ref(&outgoing))
            .await
            .unwrap(),
        1
    );
    let seq = store.outbox_by_event("$e").await.unwrap()[0].seq;
    for (from, to) in [
        (OutboxState::Queued, OutboxState::Sending),
        (OutboxState::Sending, OutboxState::Failed),
    ] {
        assert!(
            store
                .outbox_transition(seq, from, to, None, Some("no credits"), None)
                .await
                .unwrap()
        );
    }
    // For the shift summary: one failed message for the driver, none before the period;
    // with the driver's portal, whichever room the message was written in.
    assert!(
        store.outbox_failed_since(0).await.unwrap().is_empty(),
        "no portal"
    );
    store.portal_insert("ABCD1234", "!portal").await.unwrap();
    let failed = store.outbox_failed_since(0).await.unwrap();
    assert_eq!(failed, [("ABCD1234".to_owned(), "!portal".to_owned(), 1)]);
    let later = store.outbox_failed_since(i64::MAX).await.unwrap();
    assert!(later.is_empty());
    // Resending queues one new row, asking again queues nothing, replaying the event neither.
    assert_eq!(store.outbox_resend("$e").await.unwrap(), 1);
    assert_eq!(store.outbox_resend("$e").await.unwrap(), 0);
    assert_eq!(store.outbox_enqueue(&[outgoing]).await.unwrap(), 0);
    let rows = store.outbox_by_event("$e").await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(!rows[0].broadcast_copy && !rows[1].broadcast_copy);
    assert_eq!((rows[1].resend, rows[1].state), (1, OutboxState::Queued));
    assert!(
        store.outbox_failed_since(0).await.unwrap().is_empty(),
        "a resend replaces the failure"
    );

    let retry = rows[1].seq;
    store
        .outbox_transition(
            retry,
            OutboxState::Queued,
            OutboxState::Sending,
            None,
            None,
            None,
        )
        .await
        .unwrap();
    // A receipt that outruns the Gateway's answer finds the send under way, not its message.
    let ids = ["00000000000000aa".to_owned(), "00000000000000bb".to_owned()];
    let early = store.outbox_receipt_lookup("ABCD1234", &ids).await.unwrap();
    assert!(early.in_flight && early.sent.is_empty());
    let other = store.outbox_receipt_lookup("ZZZZ9999", &ids).await.unwrap();
    assert!(!other.in_flight, "another driver's send is not theirs");
    store
        .outbox_transition(
            retry,
            OutboxState::Sending,
            OutboxState::Sent,
            Some("00000000000000aa"),
            None,
            None,
        )
        .await
        .unwrap();
    let lookup = store.outbox_receipt_lookup("ABCD1234", &ids).await.unwrap();
    assert!(!lookup.in_flight);
    let [row] = &lookup.sent[..] else {
        panic!("one row sent as 00000000000000aa: {:?}", lookup.sent.len())
    };
    assert_eq!(row.seq, retry);
    let none = store.outbox_receipt_lookup("ABCD1234", &[]).await.unwrap();
    assert!(!none.in_flight && none.sent.is_empty());
    assert!(row.status.sent_at.is_some());
    // Read implies received; a later "received" keeps the earlier times.
    // The marker that shows it is recorded with it; a receipt without one keeps it.
    store
        .outbox_mark_delivered(retry, true, 5_000, Some("$marker"))
        .await
        .unwrap();
    store
        .outbox_mark_delivered(retry, false, 9_000, None)
        .await
        .unwrap();
    store
        .outbox_set_reaction(retry, Reaction::Declined, 6_000)
        .await
        .unwrap();
    store
        .outbox_set_status_events(retry, None, Some("$thumb"))
        .await
        .unwrap();
    let status = store.outbox_get(retry).await.unwrap().unwrap().0.status;
    assert_eq!(
        (status.received_at, status.read_at),
        (Some(5_000), Some(5_000))
    );
    assert_eq!(
        (status.reaction, status.reaction_at),
        (Some(Reaction::Declined), Some(6_000))
    );
    assert_eq!(status.marker_event.as_deref(), Some("$marker"));
    assert_eq!(status.reaction_event.as_deref(), Some("$thumb"));
}

async fn unread_messages_are_found_up_to_the_read_event(store: Store, _url: &str) {
    for (n, direction) in [
        (1, Direction::In),
        (2, Direction::Out),
        (3, Direction::In),
        (4, Direction::In),
    ] {
        let mapping = MessageMapping {
            room_id: "!r".try_into().unwrap(),
            event_id: format!("$m{n}").try_into().unwrap(),
            threema_peer: ThreemaId::parse("ABCD1234").unwrap(),
            threema_message_id: format!("{n:016x}"),
            direction,
            matrix_sender: "@x:x".try_into().unwrap(),
            part: 0,
        };
        store.message_insert(&mapping).await.unwrap();
    }
    let ids = |unread: Vec<threema_bridge::store::UnreadMessage>| {
        unread
            .into_iter()
            .map(|m| m.threema_message_id)
            .collect::<Vec<_>>()
    };
    let through_3 = store
        .messages_unread("!r", ReadThrough::Event("$m3"))
        .await
        .unwrap();
    assert_eq!(
        ids(through_3.clone()),
        ["0000000000000001", "0000000000000003"]
    );
    let rows: Vec<i64> = through_3.iter().map(|m| m.id).collect();
    store.messages_mark_read_sent(&rows).await.unwrap();
    assert!(
        store
            .messages_unread("!r", ReadThrough::Event("$m3"))
            .await
            .unwrap()
            .is_empty()
    );
    let all = store
        .messages_unread("!r", ReadThrough::Time(i64::MAX))
        .await
        .unwrap();
    assert_eq!(ids(all), ["0000000000000004"]);
    assert!(
        store
            .messages_unread("!other", ReadThrough::Time(i64::MAX))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .messages_unread("!r", ReadThrough::Event("$unknown"))
            .await
            .unwrap()
            .is_empty()
    );
}

fn record(employee_id: &str, depot: &str) -> threema_bridge::directory::Record {
    let fields = [
        ("employee_id", employee_id),
        ("display_name", "Erika Muster"),
        ("role", "driver"),
        ("active", "true"),
        ("threema_id", "ABCD1234"),
        ("depot", depot),
        ("leave_date", "2027-03-31"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    threema_bridge::directory::Record::from_fields(&fields).unwrap()
}

/// A Threema ID found by phone number or email is forgotten when that number or address
/// changes (it may be someone else's now); other changes keep it.
async fn a_changed_phone_or_email_is_looked_up_again(store: Store, _url: &str) {
    use threema_bridge::directory::{Record, snapshot::Change};
    let before = Record {
        phone: Some("+41790000001".into()),
        ..record("D7", "North")
    };
    store
        .employees_apply("csv", &[Change::Added(before.clone())], "t")
        .await
        .unwrap();
    let looked_up = async || {
        let stored = store.employee_by_id("D7").await.unwrap().unwrap();
        stored.looked_up()
    };
    let found = ThreemaId::parse("LOOKUP01").unwrap();
    store
        .employee_set_looked_up("D7", found.as_str())
        .await
        .unwrap();
    let moved = Record {
        phone: before.phone.clone(),
        ..record("D7", "South")
    };
    store
        .employees_apply("csv", &[Change::Changed(before, moved.clone())], "t")
        .await
        .unwrap();
    assert_eq!(
        looked_up().await,
        Some(found.clone()),
        "a depot change keeps it"
    );
    for changed in [
        Record {
            phone: Some("+41790000002".into()),
            ..moved.clone()
        },
        Record {
            email: Some("d7@example.com".into()),
            ..moved.clone()
        },
    ] {
        store
            .employee_set_looked_up("D7", found.as_str())
            .await
            .unwrap();
        store
            .employees_apply("csv", &[Change::Changed(moved.clone(), changed)], "t")
            .await
            .unwrap();
        assert_eq!(looked_up().await, None, "looked up again");
    }
}

async fn directory_changes_are_stored_with_their_audit(store: Store, _url: &str) {
    use threema_bridge::directory::snapshot::Change;
    let north = record("D1", "North");
    store
        .employees_apply("csv", &[Change::Added(north.clone())], "directory:csv")
        .await
        .unwrap();
    let south = record("D1", "South");
    store
        .employees_apply(
            "csv",
            &[Change::Changed(north.clone(), south.clone())],
            "directory:csv",
        )
        .await
        .unwrap();
    let stored = store.employees().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].employee.record, south,
        "the record round-trips through JSON"
    );
    assert!(!stored[0].employee.removed);

    assert!(
        store
            .employee_set_scim("D1", "scim-1", "erika")
            .await
            .unwrap()
    );
    store
        .employees_apply("csv", &[Change::Added(record("D2", "North"))], "t")
        .await
        .unwrap();
    assert!(
        !store
            .employee_set_scim("D2", "scim-2", "erika")
            .await
            .unwrap(),
        "userName is unique"
    );
    assert_eq!(
        store
            .employee_by_scim_id("scim-1")
            .await
            .unwrap()
            .unwrap()
            .employee
            .record
            .employee_id,
        "D1"
    );

    store
        .employees_apply("csv", &[Change::Removed(south)], "directory:csv")
        .await
        .unwrap();
    assert!(
        store
            .employee_by_id("D1")
            .await
            .unwrap()
            .unwrap()
            .employee
            .removed
    );
    let audit = store.audit_recent(Some("D1"), 10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["directory.removed", "directory.changed", "directory.added"]
    );
    assert!(
        audit[1].details.contains("depot: North → South"),
        "{}",
        audit[1].details
    );
    assert_eq!(store.audit_recent(None, 2).await.unwrap().len(), 2);
}

async fn room_state_records_what_was_set(store: Store, _url: &str) {
    // A membership event older than what the bridge recorded since (a join delivered late
    // after the bridge removed the user) changes nothing; a newer one does.
    use threema_bridge::directory::plan::Membership;
    let user = ruma::UserId::parse("@late:x").unwrap();
    let now = threema_bridge::store::now_ms();
    store
        .record_member("!k:x", &user, Membership::Kicked)
        .await
        .unwrap();
    let stale = store.record_member_from_event("!k:x", &user, Membership::Join, now - 5_000);
    assert!(!stale.await.unwrap());
    let member = |store: Store| async move {
        store
            .room_state_get("!k:x", RoomStateKind::Member, "@late:x")
            .await
            .unwrap()
    };
    assert_eq!(member(store.clone()).await.as_deref(), Some("kicked"));
    let later = store.record_member_from_event("!k:x", &user, Membership::Join, now + 5_000);
    assert!(later.await.unwrap());
    assert_eq!(member(store.clone()).await.as_deref(), Some("join"));
    (store.room_state_delete("!k:x", RoomStateKind::Member, "@late:x"))
        .await
        .unwrap();
    store
        .room_state_set("!a:x", RoomStateKind::Name, "", "Erika")
        .await
        .unwrap();
    store
        .room_state_set("!a:x", RoomStateKind::Name, "", "Erika M.")
        .await
        .unwrap();
    store
        .room_state_set("!a:x", RoomStateKind::Member, "@d:x", "invite")
        .await
        .unwrap();
    store
        .room_state_set("!s:x", RoomStateKind::Child, "!a:x", "")
        .await
        .unwrap();
    store
        .room_state_delete("!s:x", RoomStateKind::Child, "!a:x")
        .await
        .unwrap();
    let mut rows = common::db::room_states(&store).await;
    rows.sort();
    assert_eq!(
        rows,
        [
            (
                "!a:x".to_owned(),
                RoomStateKind::Member,
                "@d:x".to_owned(),
                "invite".to_owned()
            ),
            (
                "!a:x".to_owned(),
                RoomStateKind::Name,
                String::new(),
                "Erika M.".to_owned()
            ),
        ]
    );
    store.space_insert("depot=North", "!s:x").await.unwrap();
    store.space_insert("depot=North", "!other:x").await.unwrap();
    assert_eq!(
        store.spaces().await.unwrap(),
        [("depot=North".to_owned(), "!s:x".to_owned())]
    );
}

async fn handled_rows_past_their_retention_are_pruned(store: Store, url: &str) {
    let day = 86_400_000;
    let events = [event("$a", "!r"), event("$b", "!r"), event("$c", "!r")];
    store.inbox_push(&events).await.unwrap();
    store.inbox_push(&[event("$d", "!r")]).await.unwrap();
    // A receipt after the newest timeline event.
    let receipt = NewInboxItem {
        dedup_key: "edu:1".into(),
        kind: InboxKind::Ephemeral,
        event_type: "m.receipt".into(),
        ..event("edu:1", "!r")
    };
    store.inbox_push(&[receipt]).await.unwrap();
    let pending = store.inbox_pending(0, 10).await.unwrap();
    for item in [&pending[0], &pending[1], &pending[3], &pending[4]] {
        store.inbox_finish(item.seq, "bridged").await.unwrap();
    }
    // $a and $b came a day before the rest.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query("UPDATE matrix_inbox SET received_at = received_at - $1 WHERE seq <= $2")
        .bind(day)
        .bind(pending[1].seq)
        .execute(&mut conn)
        .await
        .unwrap();
    let handled = push(&store, "ECHO1234", "00000000000000a1").await;
    let held = push(&store, "ECHO1234", "00000000000000a2").await;
    push(&store, "ECHO1234", "00000000000000a3").await;
    let newest = push(&store, "ECHO1234", "00000000000000a4").await;
    store
        .threema_inbox_finish(handled, "bridged", false)
        .await
        .unwrap();
    key_pending(&store, "ECHO1234").await;
    assert!(
        store
            .threema_inbox_hold(held, "ECHO1234", "held")
            .await
            .unwrap()
    );
    store
        .threema_inbox_finish(newest, "bridged", false)
        .await
        .unwrap();
    store.portal_insert("ECHO1234", "!portal:x").await.unwrap();
    for room in ["!portal:x", "!gone:x"] {
        store
            .room_state_set(room, RoomStateKind::Member, "@d:x", "join")
            .await
            .unwrap();
    }
    store
        .room_state_set("", RoomStateKind::Account, "@left:x", "deactivated")
        .await
        .unwrap();

    // Nothing is old enough yet.
    let now = threema_bridge::store::now_ms();
    let catch_up = 120_000;
    let none = HeldScope::default();
    assert_eq!(
        store
            .prune(now - 2 * day, "quarantine_room", catch_up, &none)
            .await
            .unwrap(),
        Default::default()
    );
    // A day later: what was handled goes, but not what is pending or held, nor the Threema
    // inbox's newest row, nor the newest timeline event and what came shortly before it (a
    // catch-up reads from there), although a receipt came after it.
    let pruned = store
        .prune(now + day, "quarantine_room", catch_up, &none)
        .await
        .unwrap();
    assert_eq!(
        (pruned.matrix_inbox, pruned.threema_inbox, pruned.room_state),
        (2, 1, 1)
    );
    assert_eq!(store.inbox_outcome("$a").await.unwrap(), None);
    assert_eq!(store.inbox_outcome("$b").await.unwrap(), None);
    assert_eq!(store.inbox_outcome("$c").await.unwrap(), Some(None));
    assert_eq!(
        store.inbox_outcome("$d").await.unwrap(),
        Some(Some("bridged".into()))
    );
    assert_eq!(
        store
            .threema_inbox_outcome("ECHO1234", "00000000000000a1")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.threema_inbox_held("ECHO1234").await.unwrap(),
        ["00000000000000a2"]
    );
    let pending = store.threema_inbox_pending(0, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].message_id, "00000000000000a3");
    assert!(
        store
            .threema_inbox_outcome("ECHO1234", "00000000000000a4")
            .await
            .unwrap()
            .is_some()
    );
    let mut rooms: Vec<_> = common::db::room_states(&store)
        .await
        .into_iter()
        .map(|(room, ..)| room)
        .collect();
    rooms.sort();
    assert_eq!(rooms, ["", "!portal:x"]);
    assert_eq!(
        store
            .inbox_last_received()
            .await
            .unwrap()
            .map(|at| at > now - day),
        Some(true)
    );
    // A second pass finds nothing more.
    assert_eq!(
        store
            .prune(now + day, "quarantine_room", catch_up, &none)
            .await
            .unwrap(),
        Default::default()
    );
}

async fn legal_holds_keep_what_they_cover_and_are_audited(store: Store, url: &str) {
    let driver = HoldTarget::Driver(ThreemaId::parse("HELD1234").unwrap());
    let room = HoldTarget::Room("!held:x".try_into().unwrap());
    let id = store
        .hold_set(&driver, "dispute over a delivery", Some("C-17"), "@dpo:x")
        .await
        .unwrap()
        .expect("a new hold");
    // One hold in force per target: a second is refused and changes nothing.
    assert_eq!(
        store
            .hold_set(&driver, "again", None, "@it:x")
            .await
            .unwrap(),
        None
    );
    store
        .hold_set(&room, "works council", None, "cli")
        .await
        .unwrap()
        .unwrap();
    let holds = store.holds(false).await.unwrap();
    assert_eq!(holds.len(), 2);
    assert_eq!(
        (
            &holds[0].target,
            holds[0].reason.as_str(),
            holds[0].case_ref.as_deref()
        ),
        (&driver, "dispute over a delivery", Some("C-17"))
    );
    assert_eq!(holds[0].set_by, "@dpo:x");

    // Handled rows of the held driver and room outlive their retention; the others go.
    for (key, room) in [
        ("$held", "!held:x"),
        ("$free", "!free:x"),
        ("$last", "!free:x"),
    ] {
        store.inbox_push(&[event(key, room)]).await.unwrap();
    }
    for item in store.inbox_pending(0, 10).await.unwrap() {
        store.inbox_finish(item.seq, "bridged").await.unwrap();
    }
    // Both came well before the newest event, which a catch-up would read from.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query("UPDATE matrix_inbox SET received_at = received_at - 60000 WHERE dedup_key <> $1")
        .bind("$last")
        .execute(&mut conn)
        .await
        .unwrap();
    for (sender, message_id) in [
        ("HELD1234", "00000000000000b1"),
        ("FREE1234", "00000000000000b2"),
        ("FREE1234", "00000000000000b3"),
    ] {
        let seq = push(&store, sender, message_id).await;
        store
            .threema_inbox_finish(seq, "bridged", false)
            .await
            .unwrap();
    }
    let held = HeldScope {
        rooms: vec!["!held:x".into()],
        drivers: vec!["HELD1234".into()],
        users: Vec::new(),
    };
    let later = threema_bridge::store::now_ms() + 86_400_000;
    let pruned = store.prune(later, "q", 1000, &held).await.unwrap();
    assert_eq!((pruned.matrix_inbox, pruned.threema_inbox), (1, 1));
    assert!(store.inbox_outcome("$held").await.unwrap().is_some());
    assert!(store.inbox_outcome("$free").await.unwrap().is_none());
    assert!(
        store
            .threema_inbox_outcome("HELD1234", "00000000000000b1")
            .await
            .unwrap()
            .is_some()
    );

    // Released, the hold stays on record; a second release finds nothing in force.
    assert!(store.hold_release(&driver, "@dpo:x").await.unwrap());
    assert!(!store.hold_release(&driver, "@dpo:x").await.unwrap());
    assert_eq!(store.holds(false).await.unwrap().len(), 1);
    let all = store.holds(true).await.unwrap();
    assert_eq!(all[0].id, id);
    assert_eq!(
        all[0].released.as_ref().map(|(by, _)| by.as_str()),
        Some("@dpo:x")
    );
    // And a new one may be set.
    assert!(
        store
            .hold_set(&driver, "new dispute", None, "cli")
            .await
            .unwrap()
            .is_some()
    );

    let audit = store.audit_recent(Some("HELD1234"), 10).await.unwrap();
    let actions: Vec<_> = audit.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["hold.set", "hold.released", "hold.set"]);
    assert!(audit.last().unwrap().details.contains("case C-17"));
}

/// More recipients than one statement inserts: every one of them is in the room and queued
/// for the fan-out, once, in order.
async fn a_large_broadcast_starts_every_recipient(store: Store, _url: &str) {
    let ids: Vec<String> = (0..601).map(|i| format!("L{i:07}")).collect();
    let room = BroadcastRoom {
        room_id: "!large".try_into().unwrap(),
        owner: "@d:x".try_into().unwrap(),
        selection: "all".into(),
        live: false,
        confirmed_at: None,
    };
    store.broadcast_room_insert(&room, &ids).await.unwrap();
    assert_eq!(
        store.broadcast_room_recipients("!large").await.unwrap(),
        ids
    );
    let new = NewBroadcast {
        event_id: "$large".into(),
        room_id: "!large".into(),
        sender: "@d:x".into(),
        content: "{}".into(),
        payload: "[]".into(),
        ack: false,
    };
    assert!(store.broadcast_insert(&new).await.unwrap());
    let mut recipients: Vec<_> = ids
        .iter()
        .map(|id| (id.clone(), format!("Driver {id}")))
        .collect();
    // A recipient named twice is queued once.
    recipients.push(recipients[0].clone());
    let started = audit_record("broadcast.started");
    assert!(
        store
            .broadcast_start("$large", &recipients, &started)
            .await
            .unwrap()
    );
    let pending = store.delivery_pending(0, 1000).await.unwrap();
    let queued: Vec<&str> = pending.iter().map(|d| d.recipient.as_str()).collect();
    assert_eq!(queued, ids);
    assert!(pending.iter().all(|d| d.event_id == "$large"));
    assert!(pending.windows(2).all(|w| w[0].seq < w[1].seq));
}

async fn broadcasts_start_once_and_report_each_recipient(store: Store, _url: &str) {
    let room = BroadcastRoom {
        room_id: "!b".try_into().unwrap(),
        owner: "@d:x".try_into().unwrap(),
        selection: "depot=North".into(),
        live: false,
        confirmed_at: None,
    };
    store
        .broadcast_room_insert(&room, &["AAAA0001".into(), "AAAA0002".into()])
        .await
        .unwrap();
    assert_eq!(store.broadcast_room("!b").await.unwrap(), Some(room));
    assert_eq!(
        store.broadcast_room_recipients("!b").await.unwrap(),
        ["AAAA0001", "AAAA0002"]
    );
    assert!(
        store
            .broadcast_list_save("late", "shift=late", "@d:x")
            .await
            .unwrap()
    );
    assert!(
        store
            .broadcast_list_save("late", "shift=late depot=North", "@d:x")
            .await
            .unwrap()
    );
    assert!(
        !store
            .broadcast_list_save("late", "all", "@colleague:x")
            .await
            .unwrap(),
        "a colleague's list is not overwritten"
    );
    assert_eq!(
        store.broadcast_lists().await.unwrap()["late"],
        "shift=late depot=North"
    );

    let new = NewBroadcast {
        event_id: "$b".into(),
        room_id: "!b".into(),
        sender: "@d:x".into(),
        content: "{}".into(),
        payload: "[]".into(),
        ack: true,
    };
    assert!(store.broadcast_insert(&new).await.unwrap());
    assert!(!store.broadcast_insert(&new).await.unwrap());
    let recipients = [
        ("AAAA0001".to_owned(), "Ann".to_owned()),
        ("AAAA0002".to_owned(), "Ben".to_owned()),
    ];
    // A confirmation handled twice starts once.
    let started = audit_record("broadcast.started");
    assert!(
        store
            .broadcast_start("$b", &recipients, &started)
            .await
            .unwrap()
    );
    assert!(
        !store
            .broadcast_start("$b", &recipients, &started)
            .await
            .unwrap()
    );
    let b = store.broadcast_get("$b").await.unwrap().unwrap();
    assert_eq!(
        (b.state, b.recipients, b.ack),
        (BroadcastState::Started, 2, true)
    );
    assert_eq!(
        store
            .broadcast_latest("!b")
            .await
            .unwrap()
            .unwrap()
            .event_id,
        "$b"
    );

    let pending = store.delivery_pending(0, 10).await.unwrap();
    assert_eq!(pending.len(), 2);
    // What a recipient's fan-out starts with, in one statement: the row marked tried, the
    // broadcast, the driver's standing, their portal.
    store.portal_insert("AAAA0001", "!p1:x").await.unwrap();
    store
        .restriction_set("AAAA0002", None, "@dpo:x")
        .await
        .unwrap();
    assert_eq!(
        (pending[0].recipient.as_str(), pending[1].recipient.as_str()),
        ("AAAA0001", "AAAA0002")
    );
    // Started at once (one statement, `coalesce`), each gets their own; a gone row none.
    let (first, second, gone) = tokio::join!(
        store.delivery_start(pending[0].seq),
        store.delivery_start(pending[1].seq),
        store.delivery_start(pending[1].seq + 100),
    );
    let (first, second) = (first.unwrap().unwrap(), second.unwrap().unwrap());
    assert!(gone.unwrap().is_none());
    assert_eq!(first.sender.as_str(), "@d:x");
    assert_eq!((first.payload.as_str(), first.ack), ("[]", true));
    assert!(!first.restricted && !first.tried_before);
    assert_eq!(first.portal.as_ref().map(|p| p.as_str()), Some("!p1:x"));
    assert!(second.restricted && second.portal.is_none());
    // Both rows are marked tried: another attempt (a retry in this process, whose copy of the
    // row says nothing, or one after a restart) knows. It starts in a later millisecond, as any
    // retry does (its backoff is half a second at least).
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let again = futures::future::join_all(pending.iter().map(|row| store.delivery_start(row.seq)));
    for again in again.await {
        assert!(again.unwrap().unwrap().tried_before, "marked tried");
    }
    assert!(
        store
            .delivery_start(pending[1].seq + 100)
            .await
            .unwrap()
            .is_none()
    );
    // The first recipient's copy and its Threema message, queued in one commit with the end of
    // the recipient: again, it queues nothing twice.
    let done = DeliveryDone {
        seq: pending[0].seq,
        portal_room: "!p1".into(),
        copy_event: "$c1".into(),
    };
    let rows = [NewOutgoing {
        event_id: "$c1".into(),
        recipient: "AAAA0001".into(),
        part: 0,
        room_id: "!p1".into(),
        sender: "@d:x".into(),
        payload: "{}".into(),
        hold_until: None,
    }];
    assert_eq!(store.delivery_queued(&done, &rows).await.unwrap().len(), 1);
    assert_eq!(store.delivery_pending(0, 10).await.unwrap().len(), 1);
    assert_eq!(store.delivery_queued(&done, &rows).await.unwrap().len(), 0);
    store
        .delivery_finish(pending[1].seq, Some("this Threema ID does not exist"))
        .await
        .unwrap();
    assert!(store.delivery_pending(0, 10).await.unwrap().is_empty());
    let copy = store.outbox_by_event("$c1").await.unwrap().remove(0);
    assert!(
        copy.broadcast_copy,
        "the fan-out's rows send a broadcast's copy"
    );
    let seq = copy.seq;
    store
        .outbox_transition(
            seq,
            OutboxState::Queued,
            OutboxState::Sending,
            None,
            None,
            None,
        )
        .await
        .unwrap();
    // The outbox records no entry for a copy's send (`broadcast_copy`).
    store
        .outbox_transition(
            seq,
            OutboxState::Sending,
            OutboxState::Sent,
            Some("0102030405060708"),
            None,
            None,
        )
        .await
        .unwrap();
    store
        .outbox_mark_delivered(seq, false, 5, None)
        .await
        .unwrap();
    // The broadcast is one entry; its copies' sends add none.
    let audit = store.audit_recent(None, 10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["broadcast.started"]);

    // The driver's next message answers the broadcast, once; a recipient whose copy was not
    // posted has nothing to answer.
    let unanswered = |driver: &'static str| {
        let store = store.clone();
        async move { store.sender_rows(driver).await.unwrap().unanswered }
    };
    assert_eq!(
        unanswered("AAAA0002").await,
        None,
        "Ben's copy was not posted"
    );
    let answered = unanswered("AAAA0001")
        .await
        .expect("Ann's copy awaits an answer");
    assert!(store.delivery_answered(answered, "$answer").await.unwrap());
    assert!(
        !store.delivery_answered(answered, "$later").await.unwrap(),
        "answered once"
    );
    assert_eq!(
        unanswered("AAAA0001").await,
        None,
        "nothing awaits an answer now"
    );

    let report = store.broadcast_report("$b").await.unwrap();
    assert_eq!(report.len(), 2);
    assert_eq!(report[0].name, "Ann");
    assert_eq!(report[0].reply_event.as_deref(), Some("$answer"));
    let send = report[0].send.as_ref().unwrap();
    assert_eq!(
        (send.state, send.received_at, send.read_at),
        (OutboxState::Sent, Some(5), None)
    );
    assert_eq!(
        report[1].delivery_error.as_deref(),
        Some("this Threema ID does not exist")
    );
    assert!(report[1].send.is_none());

    // Sent but not read: queued again once.
    assert_eq!(store.broadcast_resend_unread("$b").await.unwrap(), 1);
    assert_eq!(store.broadcast_resend_unread("$b").await.unwrap(), 0);
    assert_eq!(store.broadcast_report("$b").await.unwrap().len(), 3);

    // The board loop read the broadcast, then an erasure of a recipient forgot its board: what
    // the loop read does not put the old board back, nor settle it before the new one is posted.
    assert!(
        store
            .broadcast_set_board("$b", "$board", "sent 2", 0)
            .await
            .unwrap()
    );
    let read = store.broadcast_get("$b").await.unwrap().unwrap();
    let ben = ErasureTarget {
        threema_id: "AAAA0002".into(),
        ghost: "@threema_aaaa0002:x".into(),
        room: None,
        employee_id: None,
        names: Vec::new(),
    };
    store.erase_driver(&ben, false).await.unwrap();
    let rebuilds = read.board_rebuilds;
    assert!(
        !store
            .broadcast_set_board("$b", "$board", "sent 1", rebuilds)
            .await
            .unwrap()
    );
    store.broadcast_settle("$b", rebuilds).await.unwrap();
    let [unsettled] = &store.broadcasts_unsettled().await.unwrap()[..] else {
        panic!("the broadcast is to get a new board")
    };
    assert_eq!(unsettled.board_event, None);
    store
        .broadcast_settle("$b", unsettled.board_rebuilds)
        .await
        .unwrap();
    assert!(store.broadcasts_unsettled().await.unwrap().is_empty());
    assert!(!store.broadcast_cancel("$b").await.unwrap());

    // A recipient whose broadcast is gone (deleted as retention would) starts nothing.
    let rows = "SELECT COUNT(*) FROM broadcast_delivery WHERE seq = $1";
    let count = sqlx::query_scalar::<_, i64>(rows).bind(pending[0].seq);
    assert_eq!(
        count.fetch_one(&store.pool()).await.unwrap(),
        1,
        "the row is there"
    );
    sqlx::query("DELETE FROM broadcast WHERE event_id = '$b'")
        .execute(&store.pool())
        .await
        .unwrap();
    assert!(
        store
            .delivery_start(pending[0].seq)
            .await
            .unwrap()
            .is_none()
    );
}

async fn raw(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap()
}

/// A database a newer release migrated: this binary refuses it and says what to do.
async fn a_schema_from_a_newer_release_is_refused_by_name(store: Store, url: &str) {
    store.close().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from a newer release', TRUE, $1, 1)",
    )
    .bind(vec![0u8; 48])
    .execute(&mut raw(url).await)
    .await
    .unwrap();
    let refused = Store::connect(url, 2).await.unwrap_err();
    let said = refused.to_string();
    assert!(
        said.contains("newer threema-bridge") && said.contains("schema 9999"),
        "{said}"
    );
}

/// Four bridge processes starting on a fresh PostgreSQL database at once (a pair upgraded
/// together): all start, and each migration ran once.
#[tokio::test]
async fn processes_starting_at_once_on_postgres_migrate_once() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    four_start_at_once_and_migrate_once(db.url(), "postgres").await;
    db.cleanup().await;
}

/// The bridge and a command line started at once on a fresh SQLite file: both start, and each
/// migration ran once (the second waits for the first's).
#[tokio::test]
async fn processes_starting_at_once_on_sqlite_migrate_once() {
    let db = TestDb::sqlite();
    four_start_at_once_and_migrate_once(db.url(), "sqlite").await;
}

/// Four stores connect to the fresh database at `url` at once: all start, and each of the
/// `dialect`'s migrations ran once.
async fn four_start_at_once_and_migrate_once(url: &str, dialect: &str) {
    let starts = (0..4).map(|_| Store::connect(url, 2));
    let stores: Vec<Store> = futures::future::try_join_all(starts).await.unwrap();
    let ran: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut raw(url).await)
        .await
        .unwrap();
    let migrations = format!("{}/migrations/{dialect}", env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(migrations).unwrap().count();
    assert_eq!(ran as usize, files);
    for store in stores {
        store.close().await;
    }
}

/// Active/standby on PostgreSQL: one holder at a time; a holder's own restart takes the lease
/// at once, another process only once it ran out; and after a takeover the old holder's queue
/// state changes are refused and change nothing, while the new holder's go through.
#[tokio::test]
async fn the_lease_has_one_holder_and_a_takeover_fences_the_old_one() {
    use std::{sync::Arc, time::Duration};
    use threema_bridge::{ha::Fence, store::StoreError};
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let fenced =
        |fence: Arc<Fence>| async { (Store::connect(db.url(), 2).await.unwrap()).fenced_by(fence) };
    let (fence_a, fence_b) = (
        Arc::new(Fence::leased(Default::default())),
        Arc::new(Fence::leased(Default::default())),
    );
    let (a, b) = (fenced(fence_a.clone()).await, fenced(fence_b.clone()).await);
    let period = Duration::from_secs(2);
    let until = tokio::time::Instant::now() + Duration::from_secs(60);

    let first = a.lease_take("host-a 127.0.0.1:1", period).await.unwrap();
    assert_eq!(first, Some(1));
    fence_a.activate(1, until);
    assert_eq!(
        b.lease_take("host-b 127.0.0.1:2", period).await.unwrap(),
        None
    );
    // A restart of the same process (same host and address) takes it over at once.
    assert_eq!(
        a.lease_take("host-a 127.0.0.1:1", period).await.unwrap(),
        Some(2)
    );
    assert!(
        !a.lease_renew("host-a 127.0.0.1:1", 1, period)
            .await
            .unwrap(),
        "old token"
    );
    assert!(
        a.lease_renew("host-a 127.0.0.1:1", 2, period)
            .await
            .unwrap()
    );
    fence_a.activate(2, until);

    let item = |id: &str| NewThreemaItem {
        sender: "ABCD1234".into(),
        message_id: id.into(),
        date: 1,
        nonce: "00".into(),
        ciphertext: "00".into(),
        nickname: None,
    };
    assert!(a.threema_inbox_push(&item("01")).await.unwrap());
    assert!(
        b.threema_inbox_push(&item("02")).await.unwrap(),
        "a standby stores pushes"
    );
    let pending = a.threema_inbox_pending(0, 10).await.unwrap();
    let (one, two) = (pending[0].seq, pending[1].seq);
    assert!(a.threema_inbox_finish(one, "bridged", false).await.unwrap());

    // The other process waits until the lease ran out (A stopped renewing), then takes it.
    let taken =
        common::synapse::wait_for("the lease to run out", Duration::from_secs(10), || async {
            b.lease_take("host-b 127.0.0.1:2", period).await.unwrap()
        })
        .await;
    assert_eq!(taken, 3);
    fence_b.activate(3, until);
    let holder = b.lease_holder().await.unwrap().unwrap();
    assert_eq!(
        (holder.holder.as_str(), holder.token),
        ("host-b 127.0.0.1:2", 3)
    );
    assert!(
        !a.lease_renew("host-a 127.0.0.1:1", 2, period)
            .await
            .unwrap()
    );

    // A, still believing it is active, changes nothing any more.
    let refused = a.threema_inbox_finish(two, "bridged", false).await;
    assert!(matches!(refused, Err(StoreError::NotActive)), "{refused:?}");
    assert!(matches!(
        a.threema_inbox_record_attempt(two).await,
        Err(StoreError::NotActive)
    ));
    let still = b.threema_inbox_pending(0, 10).await.unwrap();
    assert_eq!(
        still
            .iter()
            .map(|i| (i.seq, i.attempts))
            .collect::<Vec<_>>(),
        [(two, 0)]
    );
    assert!(b.threema_inbox_finish(two, "bridged", false).await.unwrap());

    // A standby's fence refuses too; a clean shutdown hands the lease on at once.
    fence_a.stand_by();
    assert!(matches!(
        a.inbox_record_attempt(1).await,
        Err(StoreError::NotActive)
    ));
    b.lease_release("host-b 127.0.0.1:2", 3).await.unwrap();
    assert_eq!(
        a.lease_take("host-a 127.0.0.1:1", period).await.unwrap(),
        Some(4)
    );
    a.close().await;
    b.close().await;
    db.cleanup().await;
}

async fn a_schedule_is_recorded_once_and_moves_on_once_per_occurrence(store: Store, _url: &str) {
    use threema_bridge::store::NewSchedule;
    let new = NewSchedule {
        room_id: "!portal:x",
        driver: Some("ECHO1234"),
        sender: "@anna:x",
        sender_name: "Anna",
        body: "Schichtbeginn",
        rule: "every:31@05:55:00",
        next_at: 1_000,
        command_event: "$every",
    };
    let (first, new_now) = store.schedule_insert(&new).await.unwrap();
    assert!(new_now);
    let (again, new_now) = store
        .schedule_insert(&NewSchedule {
            next_at: 5_000,
            ..new.clone()
        })
        .await
        .unwrap();
    assert!(!new_now, "the same command schedules once");
    assert_eq!(again, first);
    assert_eq!(first.next_at, Some(1_000));
    assert_eq!(store.schedules_due(999).await.unwrap(), vec![]);
    assert_eq!(store.schedule_next_due().await.unwrap(), Some(1_000));

    // Firing: marked, then moved on once (a second advance from the same time does nothing).
    store.schedule_firing(first.id, 1_000).await.unwrap();
    let due = store.schedules_due(1_000).await.unwrap();
    assert_eq!(due[0].firing_at, Some(1_000));
    store
        .schedule_advance(first.id, 1_000, Some(2_000))
        .await
        .unwrap();
    store
        .schedule_advance(first.id, 1_000, Some(3_000))
        .await
        .unwrap();
    let listed = store.schedules_in_room("!portal:x").await.unwrap();
    assert_eq!(
        (listed[0].next_at, listed[0].firing_at),
        (Some(2_000), None)
    );

    // A one-off is gone after its occurrence; a cancel only in its own room.
    let (once, _) = store
        .schedule_insert(&NewSchedule {
            rule: "once:1500",
            next_at: 1_500,
            command_event: "$once",
            ..new.clone()
        })
        .await
        .unwrap();
    store.schedule_advance(once.id, 1_500, None).await.unwrap();
    assert_eq!(store.schedules_in_room("!portal:x").await.unwrap().len(), 1);
    // Its command seen again schedules nothing: the marker stays, without the text.
    let (again, new_now) = store
        .schedule_insert(&NewSchedule {
            rule: "once:1500",
            next_at: 1_500,
            command_event: "$once",
            ..new.clone()
        })
        .await
        .unwrap();
    assert!(!new_now);
    assert_eq!((again.next_at, again.body.as_str()), (None, ""));
    assert!(!store.schedule_delete(first.id, "!other:x").await.unwrap());
    assert!(store.schedule_delete(first.id, "!portal:x").await.unwrap());
    assert!(
        !store.schedule_delete(first.id, "!portal:x").await.unwrap(),
        "once"
    );
    assert_eq!(store.schedule_next_due().await.unwrap(), None);
    assert_eq!(store.schedules_due(i64::MAX).await.unwrap(), vec![]);
    // The markers go with the inbox's retention.
    assert_eq!(store.schedules_prune(i64::MAX).await.unwrap(), 2);
    assert_eq!(store.schedules_prune(i64::MAX).await.unwrap(), 0);
}

fn api_message(id: &str, key: &str, job: bool) -> ApiMessage {
    ApiMessage {
        id: id.into(),
        client: "ERP".into(),
        idempotency_key: Some(key.into()),
        request_hash: format!("hash-{id}"),
        reference: Some("ORD-17".into()),
        ack_requested: false,
        created_at: 1_000,
        job: job.then(|| r#"{"title":"Tour 17"}"#.into()),
        job_state: job.then(|| "open".into()),
        job_state_at: job.then_some(1_000),
        file: None,
    }
}

/// The integration API's rows: a key stores a message once; a job's state takes any answer
/// while open, then only newer ones; the text goes once every copy is queued; erasing a
/// driver takes their rows, what was theirs alone and the webhook events about them, and
/// leaves the others'; retention forgets old messages but a held driver's.
async fn api_messages_are_stored_once_per_key_and_go_with_their_driver(store: Store, _url: &str) {
    let (a, b) = ("AAAA1111", "BBBB2222");
    let both = [
        (a.to_owned(), "Ann".to_owned()),
        (b.to_owned(), "Ben".to_owned()),
    ];
    let m1 = api_message("msg_1", "k1", false);
    assert_eq!(
        store
            .api_message_insert(&m1, "Hallo", &both, &[])
            .await
            .unwrap(),
        ApiStored::Created
    );
    let again = api_message("msg_other", "k1", false);
    assert_eq!(
        store
            .api_message_insert(&again, "Hallo", &both, &[])
            .await
            .unwrap(),
        ApiStored::Existing(Box::new(m1.clone()))
    );
    let j1 = api_message("job_1", "k2", true);
    let only_a = [(a.to_owned(), "Ann".to_owned())];
    store
        .api_message_insert(&j1, "Tour 17", &only_a, &[])
        .await
        .unwrap();
    assert_eq!(store.api_pending(10).await.unwrap().len(), 3);

    // Open takes an answer dated before it was opened (the phone's clock, whole seconds); then
    // only a newer one moves it.
    assert!(
        store
            .api_job_set_state("job_1", "accepted", 500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .api_job_set_state("job_1", "declined", 400)
            .await
            .unwrap()
    );
    assert!(
        store
            .api_job_set_state("job_1", "declined", 600)
            .await
            .unwrap()
    );
    assert!(
        !store
            .api_job_set_state("msg_1", "accepted", 700)
            .await
            .unwrap(),
        "not a job"
    );

    // The text stays until both copies are queued.
    store.api_recipient_posted("msg_1", a, "$e1").await.unwrap();
    store.api_recipient_queued("msg_1", a).await.unwrap();
    let pending = store.api_pending(10).await.unwrap();
    let ben = pending.iter().find(|p| p.recipient.driver == b).unwrap();
    assert_eq!(ben.body, "Hallo");
    store.api_recipient_queued("msg_1", b).await.unwrap();
    let found = store
        .api_recipient_by_event("$e1", a)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.0.id, "msg_1");

    let payload = |driver: &str| format!(r#"{{"data":{{"threema_id":"{driver}"}}}}"#);
    assert!(
        store
            .webhook_enqueue("http://h/1", "evt_a", &payload(a))
            .await
            .unwrap()
    );
    assert!(
        !store
            .webhook_enqueue("http://h/1", "evt_a", &payload(a))
            .await
            .unwrap()
    );
    assert!(
        store
            .webhook_enqueue("http://h/1", "evt_b", &payload(b))
            .await
            .unwrap()
    );

    let ann = ErasureTarget {
        threema_id: a.into(),
        ghost: "@threema_aaaa1111:x".into(),
        room: None,
        employee_id: None,
        names: Vec::new(),
    };
    let would = store.erase_driver(&ann, true).await.unwrap();
    assert_eq!(
        (
            would.get("api_message"),
            would.get("api_recipient"),
            would.get("webhook_delivery")
        ),
        (Some(&1), Some(&2), Some(&1))
    );
    store.erase_driver(&ann, false).await.unwrap();
    assert!(store.api_messages_to(a).await.unwrap().is_empty());
    assert!(
        store.api_message("ERP", "job_1").await.unwrap().is_none(),
        "hers alone"
    );
    let (_, left) = store.api_message("ERP", "msg_1").await.unwrap().unwrap();
    assert_eq!(
        left.iter().map(|r| r.driver.as_str()).collect::<Vec<_>>(),
        [b]
    );
    let (due, _) = store.webhook_due(i64::MAX, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
        ["evt_b"]
    );

    // Retention: Ben's message is old; held, it stays.
    assert_eq!(
        store
            .api_prune(2_000, &[b.to_owned()], false)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.api_prune(2_000, &[], true).await.unwrap(), 1);
    assert_eq!(store.api_prune(2_000, &[], false).await.unwrap(), 1);
    assert!(store.api_messages_to(b).await.unwrap().is_empty());
}
