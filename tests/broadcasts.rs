//! Broadcasts end to end: a dispatcher (matrix-sdk) opens a broadcast room from the management
//! room, posts, confirms with 👍; the real Synapse, the Gateway simulator's phones and the
//! board the dispatcher sees.

use crate::common;

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use common::{
    bridge::{Harness, Process, TestConfig},
    db::TestDb,
    dispatcher::Dispatcher,
    synapse::{self, unique_localpart, wait_for},
    threema::{add_phone, unique_threema_id},
};
use serde_json::Value;
use threema_bridge::{
    bridge::Outcome,
    store::{BroadcastState, OutboxState, Store},
};
use threema_gateway_sim::{Behaviour, Decoded, Simulator, UserMessage};

const WAIT: Duration = Duration::from_secs(120);

/// Recipients of the two large broadcasts: `BROADCAST_RECIPIENTS`, 250 by default (a desk's
/// fleet); CI runs them smaller (scripts/test). At least 20.
fn fleet() -> usize {
    std::env::var("BROADCAST_RECIPIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250)
        .max(20)
}
const BOT: &str = "@threemabot:dispatch.test";

async fn answer_to(desk: &Dispatcher, room: &str, event: &str) -> Value {
    desk.wait_message(room, "the bot's answer", |m| {
        m["sender"] == BOT && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == event
    })
    .await
}

/// `broadcast <selection>`: the preview, and the broadcast room joined.
pub(crate) async fn open_broadcast(
    desk: &Dispatcher,
    dm: &str,
    selection: &str,
) -> (String, String) {
    let preview = desk.ask(dm, &format!("broadcast {selection}")).await;
    let room = preview
        .split("https://matrix.to/#/")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no room link in {preview:?}"))
        .to_owned();
    desk.join(&room).await;
    (preview, room)
}

/// Posts `text` in the broadcast room and confirms it with 👍 on the bot's preview; returns
/// the message's event id and the preview (the board from then on).
pub(crate) async fn broadcast(
    desk: &Dispatcher,
    room: &str,
    text: &str,
) -> (String, String, String) {
    let event = desk.send_text(room, text).await;
    let preview = answer_to(desk, room, &event).await;
    let board = preview["event_id"].as_str().unwrap().to_owned();
    let preview_text = preview["content"]["body"].as_str().unwrap().to_owned();
    desk.react(room, &board, "👍").await;
    (event, board, preview_text)
}

/// The board's text as the client shows it: the newest edit's new content, else the original.
pub(crate) async fn board_text(desk: &Dispatcher, room: &str, board: &str) -> String {
    let timeline = desk.timeline(room).await;
    let edits = timeline.iter().rfind(|e| {
        e["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && e["content"]["m.relates_to"]["event_id"] == board
    });
    match edits {
        Some(edit) => edit["content"]["m.new_content"]["body"]
            .as_str()
            .unwrap()
            .to_owned(),
        None => timeline
            .iter()
            .find(|e| e["event_id"] == board)
            .map(|e| e["content"]["body"].as_str().unwrap().to_owned())
            .unwrap_or_default(),
    }
}

async fn wait_board(desk: &Dispatcher, room: &str, board: &str, parts: &[&str]) -> String {
    let what = format!("the board to show {parts:?}");
    desk.wait_until(&what, WAIT, || async {
        let text = board_text(desk, room, board).await;
        parts.iter().all(|p| text.contains(p)).then_some(text)
    })
    .await
}

/// How many texts on the phone contain `needle`.
fn received(sim: &Simulator, phone: &str, needle: &str) -> usize {
    sim.inbox(phone)
        .iter()
        .filter(|m| matches!(&m.message, Decoded::Text(text) if text.contains(needle)))
        .count()
}

pub(crate) fn reader() -> Behaviour {
    Behaviour {
        auto_received: true,
        receipt_delay: Duration::from_millis(100),
        read_after: Some(Duration::from_millis(300)),
        ..Behaviour::silent()
    }
}

fn receiver() -> Behaviour {
    Behaviour {
        auto_received: true,
        receipt_delay: Duration::from_millis(100),
        ..Behaviour::silent()
    }
}

fn write_csv(path: &PathBuf, rows: &[[String; 7]]) {
    let mut text =
        String::from("employee_id,display_name,role,active,threema_id,matrix_id,shift\n");
    for r in rows {
        text.push_str(&r.join(","));
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broadcast_to_a_fleet_by_attribute_reaches_each_phone_once_and_its_board_converges() {
    let n_late = fleet();
    let (read_end, receive_end) = (n_late - 10, n_late - 5);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let desk_lp = unique_localpart("bcast");
    let space = format!("Dispatch {}", hex::encode(rand::random::<[u8; 3]>()));
    let (h, sim) = Harness::with_simulator(|c| {
        c.directory = format!(
            "  csv: {}\n  check_seconds: 3600\n  sync_interval_seconds: 0\n  space_name: \"{space}\"\n",
            csv.display()
        );
        c.sections = "broadcast:\n  board_interval_ms: 300\n  board_unread_names: 20\n".into();
    })
    .await;
    sim.set_credits(100_000);
    let desk = Dispatcher::login(h.synapse, &desk_lp, "Anna Dispo").await;

    // The fleet on the late shift (250 by default): all but 10 phones read what they get, 5
    // only confirm receipt, 5 IDs do not exist. 5 on the early shift are not selected; 1 late
    // driver has left.
    let mut rows = Vec::new();
    let mut readers = Vec::new();
    let mut receivers = Vec::new();
    let mut unknown = Vec::new();
    let early = n_late..n_late + 5;
    let left = n_late + 5;
    for n in 0..=left {
        let id = if n < read_end || early.contains(&n) {
            add_phone(&sim, 'B', &format!("R{n}"), reader())
        } else if n < receive_end {
            add_phone(&sim, 'B', &format!("C{n}"), receiver())
        } else {
            unique_threema_id('X')
        };
        if n < read_end {
            readers.push(id.clone());
        } else if n < receive_end {
            receivers.push(id.clone());
        } else if n < n_late {
            unknown.push(id.clone());
        }
        let shift = if early.contains(&n) { "early" } else { "late" };
        let active = if n == left { "false" } else { "true" };
        rows.push([
            format!("D{n:04}"),
            format!("Driver {n}"),
            "driver".into(),
            active.into(),
            id,
            String::new(),
            shift.into(),
        ]);
    }
    rows.push([
        "P1".into(),
        "Anna Dispo".into(),
        "dispatcher".into(),
        "true".into(),
        String::new(),
        desk.user_id.clone(),
        String::new(),
    ]);
    write_csv(&csv, &rows);
    let report = h
        .bridge
        .directory
        .sync(Default::default())
        .await
        .expect("the directory syncs");
    assert!(report.failed.is_empty(), "{report}");

    let dm = desk.management_room().await;
    let (preview, room) = open_broadcast(&desk, &dm, "shift=late").await;
    assert!(
        preview.contains(&format!("shift=late: {n_late} recipient(s)")),
        "{preview}"
    );
    assert!(
        preview.contains(&format!("Left out (1):\n• Driver {left} (")),
        "{preview}"
    );
    assert!(preview.contains("has left the company"), "{preview}");
    assert!(
        preview.contains(&format!("Cost: {n_late} credit(s)")),
        "{preview}"
    );

    let text = format!("Road A7 closed at exit 12 ({})", desk_lp);
    let started = std::time::Instant::now();
    let (_, board, ready) = broadcast(&desk, &room, &text).await;
    assert!(
        ready.contains(&format!("Ready for {n_late} recipient(s)")),
        "{ready}"
    );

    let phones: Vec<&String> = readers.iter().chain(&receivers).collect();
    wait_for("every phone to have the broadcast", WAIT, || async {
        phones
            .iter()
            .all(|p| received(&sim, p, &text) >= 1)
            .then_some(())
    })
    .await;
    let delivered = started.elapsed();
    let board_now = wait_board(
        &desk,
        &room,
        &board,
        &[
            &format!(
                "sent {receive_end} · received {receive_end} · read {read_end} · failed 5 (of {n_late})"
            ),
            "Not read yet (10)",
        ],
    )
    .await;
    eprintln!(
        "{n_late} phones in {delivered:?}, board converged in {:?}",
        started.elapsed()
    );
    for phone in &phones {
        assert_eq!(
            received(&sim, phone, &text),
            1,
            "{phone} got it more than once"
        );
    }
    for id in receivers.iter().chain(&unknown) {
        assert!(
            board_now.contains(id.as_str()),
            "{id} not named as unread:\n{board_now}"
        );
    }
    assert!(
        board_now.contains("this Threema ID does not exist"),
        "{board_now}"
    );
    assert!(!board_now.contains(readers[0].as_str()), "{board_now}");

    // Each driver's history holds the message: the bot's copy, marked and signed, once.
    for id in [&readers[0], &receivers[0], &unknown[0]] {
        let portal = h
            .bridge
            .store
            .portal_by_threema_id(id)
            .await
            .unwrap()
            .expect("a portal")
            .room_id
            .to_string();
        let copies: Vec<Value> = h
            .synapse
            .appservice_bot()
            .messages(&portal)
            .await
            .into_iter()
            .filter(|m| {
                m["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains(&text))
            })
            .collect();
        assert_eq!(copies.len(), 1, "{id}: {copies:?}");
        assert_eq!(copies[0]["sender"], BOT);
        assert_eq!(
            copies[0]["content"]["body"],
            format!("📢 Broadcast from Anna Dispo: {text}")
        );
    }

    // Per recipient with times, and the same as a CSV file.
    let report = desk.ask(&room, "!report").await;
    assert_eq!(report.lines().count(), n_late + 1, "{report}");
    assert!(
        report.contains(&format!("({}): received", receivers[0])),
        "{report}"
    );
    let asked = desk.send_text(&room, "!csv").await;
    let file = answer_to(&desk, &room, &asked).await;
    assert_eq!(file["content"]["msgtype"], "m.file");
    let csv_text = String::from_utf8(
        desk.download(file["content"]["url"].as_str().unwrap())
            .await,
    )
    .unwrap();
    assert_eq!(csv_text.lines().count(), n_late + 1);
    assert!(
        csv_text
            .lines()
            .any(|l| l.starts_with(&format!("{},", unknown[0])) && l.contains(",failed,")),
        "{csv_text}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bridge_killed_in_the_middle_of_a_fan_out_sends_to_each_driver_once() {
    let guard = synapse::acquire().await;
    let hs = guard.synapse;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let mut config = TestConfig::new(db.url());
    config.callback_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim = config
        .start_simulator(|sim| {
            sim.credits = 100_000;
            sim.callback_attempts = 100_000;
            sim.callback_retry_interval = Duration::from_millis(20_000);
        })
        .await;
    // Drivers the bridge knows from its config; their portals are opened by the fan-out
    // itself, which makes it slow enough (Synapse creates a few rooms a second) to be cut.
    let fleet = fleet();
    let drivers: Vec<String> = (0..fleet)
        .map(|n| add_phone(&sim, 'K', &format!("K{n}"), reader()))
        .collect();
    // Each worker has at most one send in flight when the bridge is killed: that bounds the
    // sends whose outcome is unknown afterwards.
    const WORKERS: usize = 4;
    config.inbox_workers = WORKERS;
    config.bridge_extra = format!(
        "  drivers:\n{}",
        drivers
            .iter()
            .enumerate()
            .map(|(n, id)| format!("    - {{id: \"{id}\", name: \"Kai {n}\"}}\n"))
            .collect::<String>()
    );
    config.sections = "broadcast:\n  board_interval_ms: 500\n  concurrency: 8\n".into();
    let config_path = config.write(dir.path(), hs);
    let store = Store::connect(db.url(), 2).await.unwrap();
    let log = |n: u32| dir.path().join(format!("bridge-{n}.log"));
    let bridge = Process::start(&config_path, log(1)).await;

    let desk = Arc::new(Dispatcher::login(hs, &unique_localpart("kill"), "Kim Desk").await);
    let dm = desk.management_room().await;
    let (preview, room) = open_broadcast(&desk, &dm, "all").await;
    assert!(
        preview.contains(&format!("all: {fleet} recipient(s)")),
        "{preview}"
    );
    let text = format!("Depot closes at 18:00 ({})", unique_localpart("t"));
    let (event, board, _) = broadcast(&desk, &room, &text).await;

    let phones_with_it = || {
        drivers
            .iter()
            .filter(|p| received(&sim, p, &text) > 0)
            .count()
    };
    wait_for("the fan-out to be under way", WAIT, || async {
        (phones_with_it() >= fleet / 6).then_some(())
    })
    .await;
    bridge.kill();
    let cut_at = phones_with_it();
    assert!(cut_at < fleet, "the fan-out was over before the kill");
    let bridge = Process::start(&config_path, log(2)).await;

    // A send cut off by the kill is "outcome unknown", not repeated: such a phone may lack it;
    // every other phone must have it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let rows = store.broadcast_report(&event).await.unwrap();
        let unknown: Vec<&str> = rows
            .iter()
            .filter(|r| {
                r.send
                    .as_ref()
                    .is_some_and(|s| s.state == OutboxState::Unknown)
            })
            .map(|r| r.recipient.as_str())
            .collect();
        let missing: Vec<&String> = drivers
            .iter()
            .filter(|p| received(&sim, p, &text) == 0 && !unknown.contains(&p.as_str()))
            .collect();
        if missing.is_empty() {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let mut kept = dir;
            kept.disable_cleanup(true);
            let states: Vec<String> = rows
                .iter()
                .filter(|r| missing.contains(&&r.recipient))
                .take(10)
                .map(|r| {
                    format!(
                        "{} copy {:?} error {:?} send {:?}",
                        r.recipient, r.copy_event, r.delivery_error, r.send
                    )
                })
                .collect();
            panic!(
                "{} phones never got it; logs kept in {}; e.g.\n{}",
                missing.len(),
                kept.path().display(),
                states.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut unknown = 0;
    for row in store.broadcast_report(&event).await.unwrap() {
        let on_phone = received(&sim, &row.recipient, &text);
        assert!(on_phone <= 1, "{} got it {on_phone} times", row.recipient);
        let state = row.send.as_ref().map(|s| s.state);
        if state == Some(OutboxState::Unknown) {
            unknown += 1;
        } else {
            assert_eq!(on_phone, 1, "{} never got it ({state:?})", row.recipient);
        }
    }
    assert!(
        unknown <= WORKERS,
        "{unknown} sends marked unknown, more than could be in flight"
    );
    eprintln!("killed with {cut_at} of {fleet} phones served; {unknown} marked outcome unknown");

    // Each portal has the copy once.
    let mut copies: HashMap<String, usize> = HashMap::new();
    for row in store.broadcast_report(&event).await.unwrap() {
        let portal = row.portal_room.expect("a portal");
        let n = hs
            .appservice_bot()
            .messages(&portal)
            .await
            .iter()
            .filter(|m| {
                m["content"]["body"]
                    .as_str()
                    .is_some_and(|b| b.contains(&text))
            })
            .count();
        copies.insert(row.recipient, n);
    }
    assert!(copies.values().all(|&n| n == 1), "{copies:?}");
    wait_board(
        &desk,
        &room,
        &board,
        &[&format!("read {}", fleet - unknown)],
    )
    .await;
    bridge.terminate();
    drop(guard);
}

/// Deleting a broadcast that waits for its 👍 cancels it, in its own room only: a redaction
/// that names it from another broadcast room changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_waiting_broadcast_is_cancelled_by_deleting_it_in_its_own_room() {
    let (h, sim) = Harness::with_simulator(|c| {
        c.sections = "broadcast:\n  board_interval_ms: 300\n".into();
    })
    .await;
    let drivers: Vec<String> = (0..2)
        .map(|n| add_phone(&sim, 'C', &format!("C{n}"), reader()))
        .collect();
    for d in &drivers {
        sim.send_from_user(d, UserMessage::text("hallo"))
            .await
            .unwrap();
    }
    let store = &h.bridge.store;
    wait_for("the portals", WAIT, || async {
        (store.portals().await.unwrap().len() >= 2).then_some(())
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &unique_localpart("cancel"), "Cay Desk").await;
    let dm = desk.management_room().await;
    let selection = drivers.join(", ");
    let (_, room) = open_broadcast(&desk, &dm, &selection).await;
    let (_, other) = open_broadcast(&desk, &dm, &selection).await;
    let event = desk.send_text(&room, "Feierabend um 16 Uhr").await;
    let preview = answer_to(&desk, &room, &event).await;

    let stray = format!("$stray-{}", unique_localpart("r"));
    h.push_events(vec![serde_json::json!({
        "event_id": stray, "room_id": other, "sender": desk.user_id,
        "type": "m.room.redaction", "redacts": event, "origin_server_ts": 1,
        "content": {"redacts": event}
    })])
    .await;
    let outcome = wait_for("the stray redaction handled", WAIT, || async {
        store.inbox_outcome(&stray).await.unwrap().flatten()
    })
    .await;
    let outcome: Outcome = outcome.parse().unwrap();
    assert!(matches!(outcome, Outcome::Refused(_)), "{outcome}");
    let waiting = store.broadcast_get(&event).await.unwrap().unwrap();
    assert_eq!(waiting.state, BroadcastState::Awaiting);

    desk.redact(&room, &event).await;
    wait_for("the broadcast cancelled", WAIT, || async {
        let b = store.broadcast_get(&event).await.unwrap()?;
        (b.state == BroadcastState::Cancelled).then_some(())
    })
    .await;
    desk.react(&room, preview["event_id"].as_str().unwrap(), "👍")
        .await;
    let report = desk.ask(&room, "!report").await;
    assert!(report.contains("No broadcast here yet"), "{report}");
    for d in &drivers {
        assert_eq!(received(&sim, d, "Feierabend um 16 Uhr"), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn insufficient_credits_are_said_in_the_preview_and_nothing_is_sent() {
    let (h, sim) = Harness::with_simulator(|c| {
        c.sections = "broadcast:\n  board_interval_ms: 300\n".into();
    })
    .await;
    let drivers: Vec<String> = (0..4)
        .map(|n| add_phone(&sim, 'Q', &format!("Q{n}"), reader()))
        .collect();
    // The drivers wrote once: the bridge knows them from their portals.
    for d in &drivers {
        sim.send_from_user(d, UserMessage::text("hallo"))
            .await
            .unwrap();
    }
    wait_for("the portals", WAIT, || async {
        let n = h.bridge.store.portals().await.unwrap().len();
        (n >= 4).then_some(())
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &unique_localpart("poor"), "Pat Desk").await;
    let dm = desk.management_room().await;
    let selection = drivers.join(", ");

    sim.set_credits(3);
    let answer = desk.ask(&dm, &format!("broadcast {selection}")).await;
    assert!(answer.contains(": 4 recipient(s)"), "{answer}");
    assert!(answer.contains("balance 3"), "{answer}");
    assert!(answer.contains("Not enough credits"), "{answer}");
    assert!(!answer.contains("matrix.to"), "{answer}");

    // With credits the room opens; when they run out before a message, it is not started.
    sim.set_credits(10);
    let (_, room) = open_broadcast(&desk, &dm, &selection).await;
    sim.set_credits(2);
    let event = desk.send_text(&room, "Not for free").await;
    let preview = answer_to(&desk, &room, &event).await;
    let preview_text = preview["content"]["body"].as_str().unwrap();
    assert!(
        preview_text.contains("Not enough credits"),
        "{preview_text}"
    );
    desk.react(&room, preview["event_id"].as_str().unwrap(), "👍")
        .await;
    // A command after the 👍 is handled after it (one room, in order): then nothing was sent.
    let report = desk.ask(&room, "!report").await;
    assert!(report.contains("No broadcast here yet"), "{report}");
    for d in &drivers {
        assert_eq!(received(&sim, d, "Not for free"), 0);
    }

    // A frozen room keeps its recipients until asked to look again.
    sim.set_credits(100);
    let (_, everyone) = open_broadcast(&desk, &dm, "all").await;
    let newcomer = add_phone(&sim, 'Q', "Quinn", reader());
    sim.send_from_user(&newcomer, UserMessage::text("neu hier"))
        .await
        .unwrap();
    wait_for("the newcomer's portal", WAIT, || async {
        h.bridge
            .store
            .portal_by_threema_id(&newcomer)
            .await
            .unwrap()
    })
    .await;
    let listed = desk.ask(&everyone, "!recipients").await;
    assert!(listed.starts_with("4 recipient(s) (frozen)"), "{listed}");
    assert!(!listed.contains(&newcomer), "{listed}");
    let refreshed = desk.ask(&everyone, "!refresh").await;
    assert!(
        refreshed.contains("5 recipient(s) now (1 added, 0 removed)"),
        "{refreshed}"
    );
    let listed = desk.ask(&everyone, "!recipients").await;
    assert!(
        listed.contains(&format!("• Quinn ({newcomer})")),
        "{listed}"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledgements_answers_resends_escalation_and_saved_lists() {
    let (h, sim) = Harness::with_simulator(|c| {
        c.sections = "broadcast:\n  board_interval_ms: 300\n  confirm: once\n  \
                      escalate_after_minutes: 0.02\n  escalate_below_percent: 100\n"
            .into();
    })
    .await;
    let ann = add_phone(&sim, 'A', "Ann", reader());
    let ben = add_phone(&sim, 'A', "Ben", receiver());
    let cem = add_phone(&sim, 'A', "Cem", reader());
    for d in [&ann, &ben, &cem] {
        sim.send_from_user(d, UserMessage::text("hallo"))
            .await
            .unwrap();
    }
    wait_for("the portals", WAIT, || async {
        (h.bridge.store.portals().await.unwrap().len() >= 3).then_some(())
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &unique_localpart("ack"), "Dora Desk").await;
    let dm = desk.management_room().await;

    let list = format!("crew{}", hex::encode(rand::random::<[u8; 2]>()));
    let saved = desk
        .ask(&dm, &format!("save-list {list} {ann}, {ben}, {cem}"))
        .await;
    assert!(saved.contains("(3 recipient(s) now)"), "{saved}");
    let selected = desk
        .ask(&dm, &format!("select list:{list} NOT {cem}"))
        .await;
    assert!(selected.contains(": 2 recipient(s)"), "{selected}");
    assert!(selected.contains(&format!("• Ben ({ben})")), "{selected}");
    let bad = desk.ask(&dm, "select depot=").await;
    assert!(bad.contains("is not understood"), "{bad}");

    let (_, room) = open_broadcast(&desk, &dm, &format!("live list:{list}")).await;
    let (_, board, _) = broadcast(&desk, &room, "!ack Shift starts at 6:00").await;

    // On the phone: the text without "!ack", signed, and the request to confirm.
    let on_phone = sim.wait_inbox(&ann, 2, WAIT).await;
    let texts: Vec<String> = on_phone
        .iter()
        .filter_map(|m| match &m.message {
            Decoded::Text(t) => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts[0], "Dora Desk: Shift starts at 6:00", "{texts:?}");
    assert!(texts[1].contains("Please confirm with 👍"), "{texts:?}");
    let first = on_phone[0].message_id.clone();

    // Ann acknowledges, Cem answers, Ben never reads.
    sim.send_from_user(
        &ann,
        UserMessage::DeliveryReceipt {
            status: 3,
            message_ids: vec![first],
        },
    )
    .await
    .unwrap();
    sim.send_from_user(&cem, UserMessage::text("Verstanden"))
        .await
        .unwrap();
    let cem_portal = h
        .bridge
        .store
        .portal_by_threema_id(&cem)
        .await
        .unwrap()
        .unwrap()
        .room_id
        .to_string();
    let text = wait_board(
        &desk,
        &room,
        &board,
        &[
            "read 2",
            "acknowledged 1",
            "Answers (1): Cem https://matrix.to/#/",
        ],
    )
    .await;
    assert!(
        text.contains(&format!("Not read yet (1): Ben ({ben})")),
        "{text}"
    );
    assert!(
        text.contains(&format!("Read, not acknowledged yet (1): Cem ({cem})")),
        "{text}"
    );
    assert!(text.contains(&cem_portal), "{text}");

    // Fewer than all have read it after the configured time: one notice, naming the author.
    let escalation = desk
        .wait_message(&room, "the escalation", |m| {
            m["content"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("⏰"))
        })
        .await;
    assert_eq!(
        escalation["content"]["m.mentions"]["user_ids"][0],
        desk.user_id
    );

    // Sent again to whoever has not read it: Ben only.
    let resent = desk.ask(&room, "!resend-unread").await;
    assert!(resent.contains("Sent again to 1 driver(s)"), "{resent}");
    wait_for("Ben's second copy", WAIT, || async {
        (received(&sim, &ben, "Shift starts at 6:00") == 2).then_some(())
    })
    .await;
    assert_eq!(received(&sim, &ann, "Shift starts at 6:00"), 1);

    // Confirmed once: the next message goes at once, its board a reply to it.
    let second = desk.send_text(&room, "Second note").await;
    let board2 = answer_to(&desk, &room, &second).await;
    assert!(
        board2["content"]["body"]
            .as_str()
            .unwrap()
            .starts_with("📢 Broadcast to 3 driver(s)"),
        "{board2}"
    );
    for d in [&ann, &ben, &cem] {
        wait_for("the second note", WAIT, || async {
            (received(&sim, d, "Second note") == 1).then_some(())
        })
        .await;
    }

    // An image: its blob is uploaded once and every phone decrypts the same picture.
    let uploads = sim.metrics().count("upload_blob", 200);
    let image: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let mxc = desk.upload(&image, "image/png").await;
    desk.send_content(
        &room,
        serde_json::json!({"msgtype": "m.image", "body": "route.png", "url": mxc,
               "info": {"mimetype": "image/png", "size": image.len()}}),
    )
    .await;
    for d in [&ann, &ben, &cem] {
        let file = wait_for("the image", WAIT, || async {
            sim.inbox(d).into_iter().find_map(|m| match m.message {
                Decoded::File { data, json, .. } => Some((data, json)),
                _ => None,
            })
        })
        .await;
        assert_eq!(file.0, image, "{d}");
        assert_eq!(file.1["d"], "Dora Desk", "{d}: {}", file.1);
    }
    assert_eq!(sim.metrics().count("upload_blob", 200) - uploads, 1);
    h.stop().await;
}

/// `!t <name>` in a broadcast room: previewed with the template, each driver gets it filled in
/// with their own name (and their portal's copy shows what they got).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_template_in_a_broadcast_reaches_each_driver_filled_in_for_them() {
    let (h, sim) = Harness::with_simulator(|c| {
        c.sections = "broadcast:\n  board_interval_ms: 300\n\
                      templates:\n  gruss: \"Guten Morgen {driver}, hier {dispatcher}.\"\n"
            .into();
    })
    .await;
    let names = ["Erika Muster", "Max Fahrer"];
    let drivers: Vec<String> = (names.iter())
        .map(|name| add_phone(&sim, 'T', name, reader()))
        .collect();
    for d in &drivers {
        sim.send_from_user(d, UserMessage::text("hallo"))
            .await
            .unwrap();
    }
    let store = &h.bridge.store;
    wait_for("the portals", WAIT, || async {
        (store.portals().await.unwrap().len() >= 2).then_some(())
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &unique_localpart("tmpl"), "Cay Desk").await;
    let dm = desk.management_room().await;
    let (_, room) = open_broadcast(&desk, &dm, &drivers.join(", ")).await;
    let (event, _, preview) = broadcast(&desk, &room, "!t Gruss").await;
    assert!(
        preview.contains("Each driver gets: Guten Morgen {driver}, hier {dispatcher}."),
        "{preview}"
    );
    for (driver, name) in drivers.iter().zip(names) {
        let phone = sim.wait_inbox(driver, 1, WAIT).await;
        let expected = format!("Cay Desk: Guten Morgen {name}, hier Cay Desk.");
        assert!(
            matches!(&phone[0].message, Decoded::Text(text) if *text == expected),
            "{:?}",
            phone[0].message
        );
        let delivery = store.broadcast_report(&event).await.unwrap();
        let copy = (delivery.iter())
            .find(|d| d.recipient == *driver)
            .and_then(|d| d.copy_event.clone())
            .expect("the portal copy");
        let portal = store
            .portal_by_threema_id(driver)
            .await
            .unwrap()
            .unwrap()
            .room_id;
        let copy = h
            .synapse
            .appservice_bot()
            .event(portal.as_str(), &copy)
            .await;
        assert_eq!(
            copy["content"]["body"],
            format!("📢 Broadcast from Cay Desk: Guten Morgen {name}, hier Cay Desk.")
        );
    }
    // An unknown name sends nothing.
    let unknown = desk.send_text(&room, "!t tschuess").await;
    let refused = answer_to(&desk, &room, &unknown).await;
    assert!(
        (refused["content"]["body"].as_str().unwrap()).contains("no template \"tschuess\""),
        "{refused}"
    );
    h.stop().await;
}
