//! Delivery and read status as a dispatcher sees it in a Matrix client (matrix-sdk against the
//! real Synapse), with drivers' phones simulated behind the Gateway simulator.

use crate::common::{self, recorded};
use threema_bridge::bridge::Outcome;

use sqlx::Connection;
use std::time::Duration;

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    http_proxy::HttpProxy,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use threema_gateway_sim::{Behaviour, Decoded, Fault, Simulator, UserMessage};

const WAIT: Duration = Duration::from_secs(60);
const BOT: &str = "@threemabot:dispatch.test";
const RECEIVED: u8 = 1;
const READ: u8 = 2;
const ACKNOWLEDGED: u8 = 3;
const DECLINED: u8 = 4;

fn ghost(driver: &str) -> String {
    format!("@threema_{}:{DOMAIN}", driver.to_lowercase())
}

/// A driver who wrote first, and the dispatcher joined to their portal.
async fn portal(h: &Harness, sim: &Simulator, desk: &str, behaviour: Behaviour) -> Portal {
    let dispatcher = Dispatcher::login(h.synapse, desk, "Anna Dispo").await;
    let driver = add_phone(sim, 'S', "Erika Muster", behaviour);
    sim.send_from_user(&driver, UserMessage::text("Bin da"))
        .await
        .unwrap();
    let room = dispatcher.wait_invite(WAIT).await;
    dispatcher.join(&room).await;
    // The driver's message first: tests read up to it and count on its place.
    dispatcher.wait_messages(&room, 1, WAIT).await;
    Portal {
        dispatcher,
        driver,
        room,
    }
}

struct Portal {
    dispatcher: Dispatcher,
    driver: String,
    room: String,
}

impl Portal {
    /// The dispatcher's text and the Threema message id it got on the phone.
    async fn send(&self, sim: &Simulator, text: &str) -> (String, String) {
        let before = sim.inbox(&self.driver).len();
        let event = self.dispatcher.send_text(&self.room, text).await;
        let inbox = sim.wait_inbox(&self.driver, before + 1, WAIT).await;
        (event, inbox[before].message_id.clone())
    }

    /// What the bridge made of the phone's message `message_id`, once it handled it.
    async fn handled(&self, h: &Harness, message_id: &str) -> Outcome {
        let store = &h.bridge.store;
        let outcome = wait_for("the phone's message handled", WAIT, || async {
            store
                .threema_inbox_outcome(&self.driver, message_id)
                .await
                .unwrap()
                .flatten()
        })
        .await;
        recorded(outcome)
    }

    /// The phone's receipt for `ids`; returns the receipt's own message id.
    async fn receipt(&self, sim: &Simulator, status: u8, ids: &[&str]) -> String {
        let message_ids = ids.iter().map(|id| id.to_string()).collect();
        sim.send_from_user(
            &self.driver,
            UserMessage::DeliveryReceipt {
                status,
                message_ids,
            },
        )
        .await
        .unwrap()
    }

    /// Waits until the ghost's reactions on `event` are exactly `keys`.
    async fn wait_reactions(&self, event: &str, keys: &[&str]) {
        let ghost = ghost(&self.driver);
        let what = format!("the ghost's reactions {keys:?}");
        self.dispatcher
            .wait_until(&what, WAIT, || async {
                let mut shown: Vec<String> = self
                    .dispatcher
                    .reactions(&self.room, event)
                    .await
                    .into_iter()
                    .filter(|(sender, _)| *sender == ghost)
                    .map(|(_, key)| key)
                    .collect();
                shown.sort();
                let mut wanted: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                wanted.sort();
                (shown == wanted).then_some(())
            })
            .await;
    }

    /// Opens a DM with the bot and waits for its welcome.
    async fn management_room(&self) -> String {
        let dm = self.dispatcher.create_room(&[BOT]).await;
        self.dispatcher
            .wait_message(&dm, "the welcome", |m| m["sender"] == BOT)
            .await;
        dm
    }

    /// Sends a command to the bot and returns its answer.
    async fn ask(&self, dm: &str, command: &str) -> String {
        self.dispatcher.ask(dm, command).await
    }
}

#[tokio::test]
async fn the_desk_sees_each_message_received_read_and_acknowledged() {
    let desk = unique_localpart("desk");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk}:{DOMAIN}")]).await;
    // A phone that confirms receipt and then reading by itself, as Threema does.
    let phone = Behaviour {
        auto_received: true,
        receipt_delay: Duration::from_millis(100),
        read_after: Some(Duration::from_millis(300)),
        ..Behaviour::silent()
    };
    let p = portal(&h, &sim, &desk, phone).await;
    let ghost = ghost(&p.driver);

    let (first, _) = p.send(&sim, "Tour 7: Rampe 3").await;
    // Read: the ghost's read receipt sits on exactly that event, the marker says read.
    p.dispatcher
        .wait_until("the ghost's read receipt", WAIT, || async {
            p.dispatcher
                .read_by(&p.room, &first)
                .await
                .contains(&ghost)
                .then_some(())
        })
        .await;
    p.wait_reactions(&first, &["✓✓"]).await;

    // Step by step on a phone that does nothing by itself.
    sim.set_behaviour(&p.driver, Behaviour::silent()).unwrap();
    let (second, second_id) = p.send(&sim, "Bitte bestätigen").await;
    p.receipt(&sim, RECEIVED, &[&second_id]).await;
    p.wait_reactions(&second, &["✓"]).await;
    p.receipt(&sim, ACKNOWLEDGED, &[&second_id]).await;
    p.wait_reactions(&second, &["✓", "👍"]).await;
    // A change of mind replaces the thumb; a receipt for an unknown id changes nothing.
    p.receipt(&sim, DECLINED, &[&second_id, "0102030405060708"])
        .await;
    p.wait_reactions(&second, &["✓", "👎"]).await;
    p.receipt(&sim, READ, &[&second_id]).await;
    p.wait_reactions(&second, &["✓✓", "👎"]).await;
    p.dispatcher
        .wait_until("the read receipt moved on", WAIT, || async {
            p.dispatcher
                .read_by(&p.room, &second)
                .await
                .contains(&ghost)
                .then_some(())
        })
        .await;
    // The first message keeps its marker when the avatar moves on.
    p.wait_reactions(&first, &["✓✓"]).await;

    // `status` with the message's link lists the driver's state with times.
    let dm = p.management_room().await;
    let link = format!("https://matrix.to/#/{}/{second}?via={DOMAIN}", p.room);
    let answer = p.ask(&dm, &format!("status {link}")).await;
    assert!(
        answer.starts_with(&format!("• Erika Muster ({}): 👎 declined ", p.driver)),
        "{answer}"
    );
    for part in [" · read 20", " · received 20", " · sent 20", " UTC"] {
        assert!(answer.contains(part), "{part:?} in {answer}");
    }
    h.stop().await;
}

/// The phone's read receipts, each as its message ids.
fn read_receipts(sim: &Simulator, driver: &str) -> Vec<Vec<String>> {
    sim.inbox(driver)
        .into_iter()
        .filter_map(|m| match m.message {
            Decoded::DeliveryReceipt {
                status: READ,
                message_ids,
            } => Some(message_ids),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn reading_a_drivers_messages_sends_one_receipt_for_them_once() {
    let (anna, ben) = (unique_localpart("anna"), unique_localpart("ben"));
    let desk = vec![format!("@{anna}:{DOMAIN}"), format!("@{ben}:{DOMAIN}")];
    let (h, sim) = Harness::with_simulator(|c| c.dispatchers = desk.clone()).await;
    let p = portal(&h, &sim, &anna, Behaviour::silent()).await;
    let ben = Dispatcher::login(h.synapse, &ben, "Ben Dispo").await;
    ben.join(&ben.wait_invite(WAIT).await).await;

    for text in ["Stau", "Umleitung", "Ankunft 10:40"] {
        sim.send_from_user(&p.driver, UserMessage::text(text))
            .await
            .unwrap();
    }
    let messages = p.dispatcher.wait_messages(&p.room, 4, WAIT).await;
    let sent: Vec<String> = sim
        .outbox(&p.driver)
        .iter()
        .map(|m| m.message_id.clone())
        .collect();

    // Anna reads up to the last one: one receipt covers all four.
    let last = messages[3]["event_id"].as_str().unwrap();
    p.dispatcher.read_up_to(&p.room, last).await;
    wait_for("the phone's read receipt", WAIT, || async {
        (!read_receipts(&sim, &p.driver).is_empty()).then_some(())
    })
    .await;
    assert_eq!(read_receipts(&sim, &p.driver), vec![sent.clone()]);

    // Ben reads the same: nothing new. Then one more message, read by Ben: a receipt for it
    // alone (the room's receipts are handled in order, so Ben's first one came before).
    ben.read_up_to(&p.room, last).await;
    sim.send_from_user(&p.driver, UserMessage::text("Entladen"))
        .await
        .unwrap();
    let messages = ben.wait_messages(&p.room, 5, WAIT).await;
    ben.read_up_to(&p.room, messages[4]["event_id"].as_str().unwrap())
        .await;
    wait_for("the second read receipt", WAIT, || async {
        (read_receipts(&sim, &p.driver).len() == 2).then_some(())
    })
    .await;
    let newest = sim.outbox(&p.driver).last().unwrap().message_id.clone();
    assert_eq!(read_receipts(&sim, &p.driver), vec![sent, vec![newest]]);
    h.stop().await;
}

/// The desk can read a driver's message before the bridge has recorded it as sent (the
/// homeserver's answer to the ghost's send is still on its way): the receipt waits for it
/// rather than tell the phone nothing.
#[tokio::test]
async fn a_message_read_before_its_send_was_recorded_is_reported_read() {
    let desk = unique_localpart("desk");
    let mut proxy = None;
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        let through = HttpProxy::listen(0, &c.synapse().url);
        c.homeserver_url = Some(through.url.clone());
        proxy = Some(through);
    })
    .await;
    let proxy = proxy.unwrap();
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;

    proxy.hold_answer("/send/m.room.message/");
    sim.send_from_user(&p.driver, UserMessage::text("Rampe 4 frei?"))
        .await
        .unwrap();
    proxy.held(1).await;
    let messages = p.dispatcher.wait_messages(&p.room, 2, WAIT).await;
    p.dispatcher
        .read_up_to(&p.room, messages[1]["event_id"].as_str().unwrap())
        .await;
    let url = h.config.db_url.clone();
    wait_for(
        "the receipt tried while the send is unanswered",
        WAIT,
        || {
            let (url, room) = (url.clone(), p.room.clone());
            async move {
                let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
                let tried: Option<(i64,)> = sqlx::query_as(
                    "SELECT seq FROM matrix_inbox WHERE room_id = $1 AND event_type = 'm.receipt' \
                 AND (attempts > 0 OR processed_at IS NOT NULL)",
                )
                .bind(&room)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
                tried
            }
        },
    )
    .await;
    assert!(read_receipts(&sim, &p.driver).is_empty());

    proxy.pass();
    let newest = sim.outbox(&p.driver).last().unwrap().message_id.clone();
    wait_for("the phone's read receipt", WAIT, || async {
        (!read_receipts(&sim, &p.driver).is_empty()).then_some(())
    })
    .await;
    let first = sim.outbox(&p.driver)[0].message_id.clone();
    assert_eq!(read_receipts(&sim, &p.driver), vec![vec![first, newest]]);
    h.stop().await;
}

/// A portal with `bridge.read_receipts: mode` whose dispatcher read the driver's first
/// message; returns once the bridge handled that reading with `outcome`, which sent nothing to
/// the phone.
async fn desk_read_with(mode: &str, outcome: &str) -> (Harness, Simulator, Portal) {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.bridge_extra = format!("  read_receipts: {mode}");
    })
    .await;
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    let messages = p.dispatcher.wait_messages(&p.room, 1, WAIT).await;
    p.dispatcher
        .read_up_to(&p.room, messages[0]["event_id"].as_str().unwrap())
        .await;
    let store = &h.bridge.store;
    wait_for("the desk's receipt handled", WAIT, || async {
        let outcomes = store.inbox_outcomes(&p.room, "m.receipt").await.unwrap();
        outcomes
            .iter()
            .any(|o| o.parse() == Ok(Outcome::skipped(outcome)))
            .then_some(())
    })
    .await;
    assert!(read_receipts(&sim, &p.driver).is_empty());
    (h, sim, p)
}

/// `track_only`: the desk's reading is not sent to the phone (each read receipt costs a
/// credit), the driver's reading is tracked and shown as with `on`.
#[tokio::test]
async fn with_read_receipts_track_only_reads_are_shown_and_the_phone_gets_none() {
    let (h, sim, p) =
        desk_read_with("track_only", "no read receipts to drivers (track_only)").await;
    let (one, one_id) = p.send(&sim, "Eins").await;
    p.receipt(&sim, READ, &[&one_id]).await;
    p.wait_reactions(&one, &["✓✓"]).await;
    h.stop().await;
}

#[tokio::test]
async fn with_read_receipts_off_the_phone_gets_none() {
    let (h, sim, p) = desk_read_with("off", "read receipts are off").await;
    assert!(sim.inbox(&p.driver).is_empty(), "nothing reached the phone");
    h.stop().await;
}

#[tokio::test]
async fn admins_are_warned_of_low_credits_and_a_failed_message_is_resent_on_request() {
    let desk = unique_localpart("desk");
    let admin = format!("@{desk}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![admin.clone()];
        c.bridge_extra = format!("  permissions:\n    \"{admin}\": admin");
    })
    .await;
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    let dm = p.management_room().await;

    // At the warning threshold (100 by default): the next message tips it below.
    sim.set_credits(100);
    h.bridge.credits.refresh().await;
    p.send(&sim, "Guten Morgen").await;
    let warning = p
        .dispatcher
        .wait_message(&dm, "the low-credits warning", |m| {
            m["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains("99 credits left"))
        })
        .await;
    assert_eq!(warning["sender"], BOT);

    // No credits: the message fails, and the notice on it says why and how to resend.
    sim.set_credits(0);
    let failed = p.dispatcher.send_text(&p.room, "Tour 9 entfällt").await;
    let notice = p
        .dispatcher
        .wait_message(&p.room, "the failure notice", |m| {
            m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == failed.as_str()
        })
        .await;
    // In the message's thread, so Element shows it on the message.
    assert_eq!(notice["content"]["m.relates_to"]["rel_type"], "m.thread");
    assert_eq!(
        notice["content"]["m.relates_to"]["event_id"],
        failed.as_str()
    );
    let text = notice["content"]["body"].as_str().unwrap();
    assert!(text.contains("no credits left"), "{text}");
    assert!(text.contains("react with 🔁"), "{text}");
    assert_eq!(
        sim.inbox(&p.driver).len(),
        1,
        "only the first message arrived"
    );
    assert!(
        p.ask(&dm, &format!("status {failed}"))
            .await
            .contains("failed at ")
    );

    // Credits back; the dispatcher reacts 🔁 (twice, by mistake): it arrives once.
    sim.set_credits(1000);
    p.dispatcher.react(&p.room, &failed, "🔁").await;
    let inbox = sim.wait_inbox(&p.driver, 2, WAIT).await;
    match &inbox[1].message {
        Decoded::Text(text) => assert_eq!(text, "Anna Dispo: Tour 9 entfällt"),
        other => panic!("not a text: {other:?}"),
    }
    p.dispatcher.react(&p.room, &failed, "🔄").await;
    let store = &h.bridge.store;
    wait_for("the second reaction handled", WAIT, || async {
        let outcomes = store.inbox_outcomes(&p.room, "m.reaction").await.unwrap();
        (outcomes.len() == 2).then_some(outcomes)
    })
    .await;
    p.send(&sim, "Danke").await;
    let texts: Vec<String> = sim
        .inbox(&p.driver)
        .into_iter()
        .map(|m| format!("{:?}", m.message))
        .collect();
    assert_eq!(
        texts.len(),
        3,
        "resent once, then the next message: {texts:?}"
    );
    assert!(texts[2].contains("Danke"), "{texts:?}");
    let status = p.ask(&dm, &format!("status {failed}")).await;
    assert!(status.contains("): sent 20"), "{status}");
    assert!(status.contains("after 1 earlier try(s)"), "{status}");
    h.stop().await;
}

#[tokio::test]
async fn in_aggregate_mode_reads_are_counted_but_not_shown_per_message() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.bridge_extra = "  read_receipts: aggregate".into();
    })
    .await;
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    let (one, one_id) = p.send(&sim, "Eins").await;
    let (two, two_id) = p.send(&sim, "Zwei").await;

    // One receipt for both messages: both show as received.
    p.receipt(&sim, RECEIVED, &[&one_id, &two_id]).await;
    p.wait_reactions(&one, &["✓"]).await;
    p.wait_reactions(&two, &["✓"]).await;
    // Read: kept for the status, not shown in the portal.
    let read = sim
        .send_from_user(
            &p.driver,
            UserMessage::DeliveryReceipt {
                status: READ,
                message_ids: vec![one_id, two_id],
            },
        )
        .await
        .unwrap();
    let outcome = p.handled(&h, &read).await;
    assert!(
        matches!(&outcome, Outcome::Bridged(what) if what.contains("2 message(s) updated")),
        "{outcome}"
    );
    p.wait_reactions(&one, &["✓"]).await;
    p.wait_reactions(&two, &["✓"]).await;
    let dm = p.management_room().await;
    let status = p.ask(&dm, &format!("status {two}")).await;
    assert!(status.contains(": read 20"), "{status}");

    // The desk's reading still reaches the driver: it names the company, not a person.
    let first = p.dispatcher.messages(&p.room).await[0]["event_id"].clone();
    p.dispatcher
        .read_up_to(&p.room, first.as_str().unwrap())
        .await;
    wait_for("the phone's read receipt", WAIT, || async {
        (read_receipts(&sim, &p.driver).len() == 1).then_some(())
    })
    .await;
    h.stop().await;
}

#[tokio::test]
async fn a_message_the_gateway_keeps_refusing_is_given_up_with_a_notice() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.bridge_extra = "  send_give_up_seconds: 2".into();
    })
    .await;
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    sim.inject_fault("send_e2e", Fault::status(500));
    let stuck = p
        .dispatcher
        .send_text(&p.room, "Wer übernimmt Tour 4?")
        .await;
    let notice = p
        .dispatcher
        .wait_message(&p.room, "the give-up notice", |m| {
            m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == stuck.as_str()
        })
        .await;
    let text = notice["content"]["body"].as_str().unwrap();
    assert!(text.contains("could not be sent for 1 minute(s)"), "{text}");
    assert!(sim.inbox(&p.driver).is_empty());

    sim.clear_faults();
    p.dispatcher.react(&p.room, &stuck, "🔁").await;
    let inbox = sim.wait_inbox(&p.driver, 1, WAIT).await;
    assert!(format!("{:?}", inbox[0].message).contains("Wer übernimmt Tour 4?"));
    h.stop().await;
}

/// The phone can confirm a message before the Gateway's answer to the send reaches the bridge:
/// the receipt waits for the send to be recorded instead of being dropped as unknown.
#[tokio::test]
async fn a_receipt_faster_than_the_gateways_answer_is_kept() {
    let desk = unique_localpart("desk");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk}:{DOMAIN}")]).await;
    let phone = Behaviour {
        auto_received: true,
        receipt_delay: Duration::ZERO,
        read_after: Some(Duration::ZERO),
        ..Behaviour::silent()
    };
    let p = portal(&h, &sim, &desk, phone).await;
    sim.inject_fault(
        "send_e2e",
        Fault::answer_after(Duration::from_secs(2)).times(1),
    );
    let (event, _) = p.send(&sim, "Rampe 5 ist frei").await;
    p.wait_reactions(&event, &["✓✓"]).await;
    let rows = h.bridge.store.outbox_by_event(&event).await.unwrap();
    assert!(rows[0].status.read_at.is_some(), "{rows:?}");
    h.stop().await;
}

/// A bridge killed while handling a read receipt (the ✓✓ sent and stored, the message not yet
/// marked read, the receipt not yet marked handled) handles it again on restart: the marker it
/// finds stored is the one it is about to send again, and it must stay up.
#[tokio::test]
async fn a_receipt_handled_again_after_a_crash_keeps_its_marker() {
    use sqlx::{Connection, Row};
    let desk = unique_localpart("desk");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk}:{DOMAIN}")]).await;
    // The callback's sealed box is dropped once handled; keep a copy to replay the crash.
    let mut db = sqlx::SqliteConnection::connect(h.db.url()).await.unwrap();
    for statement in [
        "CREATE TABLE kept_box (seq INTEGER, box TEXT)",
        "CREATE TRIGGER keep_box AFTER INSERT ON threema_inbox \
         BEGIN INSERT INTO kept_box VALUES (NEW.seq, NEW.box); END",
    ] {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    let (event, id) = p.send(&sim, "Tor 3 ist frei").await;
    p.receipt(&sim, RECEIVED, &[&id]).await;
    p.wait_reactions(&event, &["✓"]).await;
    let receipt = p.receipt(&sim, READ, &[&id]).await;
    p.wait_reactions(&event, &["✓✓"]).await;
    let handled =
        "SELECT processed_at IS NOT NULL FROM threema_inbox WHERE sender = $1 AND message_id = $2";
    let handled = async |db: &mut sqlx::SqliteConnection| -> bool {
        sqlx::query(handled)
            .bind(&p.driver)
            .bind(&receipt)
            .fetch_one(db)
            .await
            .unwrap()
            .get(0)
    };
    wait_for("the read receipt handled", WAIT, || async {
        let mut db = sqlx::SqliteConnection::connect(h.db.url()).await.unwrap();
        handled(&mut db).await.then_some(())
    })
    .await;

    // The crash: the receipt's last two writes undone, its box back.
    sqlx::query("UPDATE threema_outbox SET read_at = NULL WHERE event_id = $1")
        .bind(&event)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE threema_inbox SET processed_at = NULL, outcome = NULL, \
         box = (SELECT box FROM kept_box WHERE kept_box.seq = threema_inbox.seq) \
         WHERE sender = $1 AND message_id = $2",
    )
    .bind(&p.driver)
    .bind(&receipt)
    .execute(&mut db)
    .await
    .unwrap();
    wait_for("the read receipt handled again", WAIT, || async {
        let mut db = sqlx::SqliteConnection::connect(h.db.url()).await.unwrap();
        handled(&mut db).await.then_some(())
    })
    .await;
    // The driver's next message is handled after the receipt (one lane per driver): once the
    // desk sees it, it sees whatever the receipt did to the marker.
    sim.send_from_user(&p.driver, UserMessage::text("Fahre los"))
        .await
        .unwrap();
    p.dispatcher
        .wait_message(&p.room, "the driver's next message", |m| {
            m["content"]["body"] == "Fahre los"
        })
        .await;
    p.wait_reactions(&event, &["✓✓"]).await;
    let rows = h.bridge.store.outbox_by_event(&event).await.unwrap();
    assert!(rows[0].status.read_at.is_some(), "{rows:?}");
    h.stop().await;
}

/// The ✓✓ can already be there when the bridge sends it: the first try reached the homeserver
/// but its answer was lost, and a restarted homeserver no longer knows the transaction id. The
/// homeserver then refuses the same reaction twice; the bridge takes the one that is there.
#[tokio::test]
async fn a_marker_that_is_already_there_is_taken_as_sent() {
    let desk = unique_localpart("desk");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk}:{DOMAIN}")]).await;
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    let (event, id) = p.send(&sim, "Tor 4 ist frei").await;
    p.receipt(&sim, RECEIVED, &[&id]).await;
    p.wait_reactions(&event, &["✓"]).await;
    // The earlier try's ✓✓, under a transaction id the bridge will not use.
    let (as_token, _) = h.synapse.tokens();
    let response = reqwest::Client::new()
        .put(format!(
            "{}/_matrix/client/v3/rooms/{}/send/m.reaction/earlier-try?user_id={}",
            h.synapse.url,
            p.room,
            ghost(&p.driver)
        ))
        .bearer_auth(as_token)
        .json(&serde_json::json!({
            "m.relates_to": {"rel_type": "m.annotation", "event_id": event, "key": "✓✓"}
        }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    p.wait_reactions(&event, &["✓", "✓✓"]).await;

    p.receipt(&sim, READ, &[&id]).await;
    p.wait_reactions(&event, &["✓✓"]).await;
    wait_for("the message marked read", WAIT, || async {
        let rows = h.bridge.store.outbox_by_event(&event).await.unwrap();
        rows[0].status.read_at.is_some().then_some(())
    })
    .await;
    h.stop().await;
}

/// `privacy.receipt_detail: admins`: a dispatcher who is no admin sees counts only in
/// `status`, on a broadcast's board and in `!report` (no `!csv`), and the portal shows no
/// per-person read sign (the ✓ for received stays, the ghost's read receipt does not move);
/// an admin's `status` still names the driver with the read time.
#[tokio::test]
async fn without_the_receipt_detail_right_a_dispatcher_sees_counts_only() {
    use crate::broadcasts::{board_text, broadcast, open_broadcast};
    let desk = unique_localpart("desk");
    let boss = unique_localpart("boss");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}"), format!("@{boss}:{DOMAIN}")];
        c.bridge_extra = format!("  permissions:\n    \"@{boss}:{DOMAIN}\": admin");
        c.sections =
            "privacy:\n  receipt_detail: admins\nbroadcast:\n  board_interval_ms: 300\n".into();
    })
    .await;
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    let ghost = ghost(&p.driver);
    let (one, one_id) = p.send(&sim, "Eins").await;
    p.receipt(&sim, RECEIVED, &[&one_id]).await;
    p.wait_reactions(&one, &["✓"]).await;
    let read = p.receipt(&sim, READ, &[&one_id]).await;
    let outcome = p.handled(&h, &read).await;
    assert!(outcome.to_string().contains("1 message(s) updated"));
    // A later message's ✓ shows the portal is synced past the read receipt.
    let (two, two_id) = p.send(&sim, "Zwei").await;
    p.receipt(&sim, RECEIVED, &[&two_id]).await;
    p.wait_reactions(&two, &["✓"]).await;
    p.wait_reactions(&one, &["✓"]).await;
    assert!(!p.dispatcher.read_by(&p.room, &one).await.contains(&ghost));

    // `status`: counts for the dispatcher, the person for the admin.
    let dm = p.management_room().await;
    let status = p.ask(&dm, &format!("status {one}")).await;
    assert_eq!(
        status,
        "1 recipient(s): sent 1 · received 1 · read 1 · failed 0 · on the way 0 (not per \
         person: privacy.receipt_detail)"
    );
    let admin = Dispatcher::login(h.synapse, &boss, "Bea Boss").await;
    let admin_dm = admin.create_room(&[BOT]).await;
    admin
        .wait_message(&admin_dm, "the welcome", |m| m["sender"] == BOT)
        .await;
    let full = admin.ask(&admin_dm, &format!("status {one}")).await;
    assert!(
        full.starts_with(&format!("• Erika Muster ({}): read 20", p.driver)),
        "{full}"
    );

    // A broadcast: its board and `!report` count, naming nobody; `!csv` is refused.
    sim.set_behaviour(
        &p.driver,
        Behaviour {
            auto_received: true,
            receipt_delay: Duration::from_millis(100),
            ..Behaviour::silent()
        },
    )
    .unwrap();
    let (_, room) = open_broadcast(&p.dispatcher, &dm, "all").await;
    let (_, board, _) = broadcast(&p.dispatcher, &room, "Depot zu").await;
    let last = p
        .dispatcher
        .wait_until("the board counts the receipt", WAIT, || async {
            let text = board_text(&p.dispatcher, &room, &board).await;
            text.contains("received 1").then_some(text)
        })
        .await;
    assert!(last.contains("read 0"), "{last}");
    assert!(
        !last.contains("Erika") && !last.contains("Not read yet"),
        "{last}"
    );
    let report = p.ask(&room, "!report").await;
    assert!(
        report.contains("Per-person times are not shown"),
        "{report}"
    );
    assert!(!report.contains("Erika"), "{report}");
    let csv = p.ask(&room, "!csv").await;
    assert!(
        csv.contains("is not shown in a room the desk shares"),
        "{csv}"
    );
    h.stop().await;
}

/// The phone's agree / decline receipts so far: (status, message ids).
fn agreements(sim: &Simulator, driver: &str) -> Vec<(u8, Vec<String>)> {
    (sim.inbox(driver).into_iter())
        .filter_map(|m| match m.message {
            Decoded::DeliveryReceipt {
                status,
                message_ids,
            } if status == ACKNOWLEDGED || status == DECLINED => Some((status, message_ids)),
            _ => None,
        })
        .collect()
}

/// A dispatcher's 👍 / 👎 on a driver's message reaches the phone as Threema's agree / decline
/// on that message; other emoji, and thumbs on the desk's own messages, stay on the desk;
/// taking one back is explained in the portal once; `bridge.reactions_to_drivers: off` keeps
/// them all on the desk.
#[tokio::test]
async fn thumbs_on_a_drivers_message_reach_the_phone_as_agree_and_decline() {
    let desk = unique_localpart("desk");
    let (mut h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.bridge_extra = "  reactions_to_drivers: \"on\"".into();
    })
    .await;
    let p = portal(&h, &sim, &desk, Behaviour::silent()).await;
    let desk_client = &p.dispatcher;
    let from_phone = |text: &'static str| {
        let (sim, driver, room) = (&sim, &p.driver, &p.room);
        async move {
            let id = sim
                .send_from_user(driver, UserMessage::text(text))
                .await
                .unwrap();
            let event = desk_client
                .wait_message(room, "the driver's message", |m| {
                    m["content"]["body"] == text
                })
                .await;
            (id, event["event_id"].as_str().unwrap().to_owned())
        }
    };
    let (loaded_id, loaded) = from_phone("Ladung ist drin").await;
    let (late_id, late) = from_phone("Komme 30 min später").await;
    let (own, _) = p.send(&sim, "Danke").await;
    desk_client.react(&p.room, &loaded, "🎉").await;
    desk_client.react(&p.room, &own, "👎").await;
    let thumbs = desk_client.react(&p.room, &loaded, "👍🏽").await;
    desk_client.react(&p.room, &late, "👎").await;
    let got = wait_for("agree and decline on the phone", WAIT, || async {
        let got = agreements(&sim, &p.driver);
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(
        got,
        [
            (ACKNOWLEDGED, vec![loaded_id.clone()]),
            (DECLINED, vec![late_id.clone()])
        ]
    );

    // Taken back: said once in the portal; the phone keeps it.
    desk_client.redact(&p.room, &thumbs).await;
    let told = desk_client
        .wait_message(&p.room, "the notice", |m| {
            (m["content"]["body"].as_str()).is_some_and(|b| b.starts_with("A 👍 or 👎 taken back"))
        })
        .await;
    assert_eq!(told["sender"], BOT);
    let again = desk_client.react(&p.room, &late, "👍").await;
    wait_for("the second agree", WAIT, || async {
        (agreements(&sim, &p.driver).len() == 3).then_some(())
    })
    .await;
    desk_client.redact(&p.room, &again).await;
    // Off (the default): thumbs stay on the desk. What the phone gets next is the text written
    // after them.
    h.config.bridge_extra = String::new();
    h.restart(Some(&sim)).await;
    desk_client.react(&p.room, &loaded, "👍").await;
    p.send(&sim, "Bis morgen").await;
    assert_eq!(agreements(&sim, &p.driver).len(), 3);
    let notices = (desk_client.messages(&p.room).await.into_iter())
        .filter(|m| (m["content"]["body"].as_str()).is_some_and(|b| b.starts_with("A 👍 or 👎")))
        .count();
    assert_eq!(notices, 1, "told once");
    h.stop().await;
}
