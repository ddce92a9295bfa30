//! Encrypted rooms against the real Synapse: with the bridge set up without encryption
//! (`bridge.encryption: off`, the default), what a dispatcher sees instead of silence; with
//! end-to-bridge encryption, conversations both ways in encrypted portals with a client as
//! strict as Element X excluding insecure devices.

use crate::common;

use std::time::Duration;

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    encrypting_client::EncryptingClient,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use serde_json::{Value, json};
use threema_gateway_sim::{Behaviour, Decoded, UserMessage};

const WAIT: Duration = Duration::from_secs(60);
const BOT: &str = "@threemabot:dispatch.test";
const ENCRYPTED: &str = "This room is encrypted and the bridge is set up without encryption";

fn body(message: &Value) -> &str {
    message["content"]["body"].as_str().unwrap_or_default()
}

/// The bot's notices in a room that say it is encrypted.
async fn encryption_notices(desk: &Dispatcher, room: &str) -> Vec<Value> {
    let mut messages = desk.messages(room).await;
    messages.retain(|m| m["sender"] == BOT && body(m).starts_with(ENCRYPTED));
    messages
}

/// For a bridge run as its own process (restarted by the test, so with a fixed callback
/// port): the dispatcher `@lp` with their account, and the simulator.
async fn own_process(
    hs: &common::synapse::Synapse,
    lp: &str,
    name: &str,
    db_url: &str,
) -> (common::bridge::TestConfig, threema_gateway_sim::Simulator) {
    hs.create_user(lp, name).await;
    let mut config = common::bridge::TestConfig::new(db_url);
    config.dispatchers = vec![format!("@{lp}:{DOMAIN}")];
    config.callback_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sim = config.start_simulator(|_| {}).await;
    (config, sim)
}

/// The driver's portal room, once the bridge has recorded it.
async fn portal_of(store: &threema_bridge::store::Store, driver: &str) -> String {
    wait_for("the driver's portal", WAIT, || async {
        store.portal_by_threema_id(driver).await.unwrap()
    })
    .await
    .room_id
    .to_string()
}

/// Waits until the bot has left `room`.
async fn bot_left(desk: &Dispatcher, room: &str) {
    desk.wait_until("the bot leaving", WAIT, || async {
        (desk.state(room, "m.room.member", BOT).await["membership"] == "leave").then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_encrypted_dm_with_the_bot_gets_an_unencrypted_management_room_instead() {
    let lp = unique_localpart("erin");
    let user = format!("@{lp}:{DOMAIN}");
    let h = Harness::start(common::db::TestDb::sqlite(), |c| {
        c.dispatchers = vec![user.clone()]
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &lp, "Erin Dispo").await;

    // Element X's DM: encrypted from the start. The bot says why it cannot stay, in plain text
    // every client shows, invites to an unencrypted room and leaves.
    let encrypted = desk.create_encrypted_dm(BOT).await;
    let notice = desk
        .wait_message(&encrypted, "the bot's notice", |m| m["sender"] == BOT)
        .await;
    assert!(body(&notice).starts_with(ENCRYPTED), "{notice}");
    assert!(body(&notice).contains("“Threema bridge”"), "{notice}");
    let room = desk.wait_invite(WAIT).await;
    assert_ne!(room, encrypted);
    desk.join(&room).await;
    let welcome = desk
        .wait_message(&room, "the bot's welcome", |m| m["sender"] == BOT)
        .await;
    assert!(body(&welcome).starts_with("Hello!"), "{welcome}");
    let state = desk.all_state(&room).await;
    assert!(state.iter().all(|e| e["type"] != "m.room.encryption"));
    assert!(
        state
            .iter()
            .any(|e| e["type"] == "m.room.name" && e["content"]["name"] == "Threema bridge")
    );
    assert!(desk.ask(&room, "help").await.contains("Commands"));
    bot_left(&desk, &encrypted).await;
    let store = &h.bridge.store;
    let management_rooms = || async {
        let rooms = store.management_rooms().await.unwrap();
        let hers: Vec<String> = rooms
            .into_iter()
            .filter(|(_, owner)| *owner == user)
            .map(|(room, _)| room)
            .collect();
        (hers == [room.clone()]).then_some(())
    };
    wait_for("only the unencrypted room as hers", WAIT, management_rooms).await;

    // A management room she turns encryption on in later goes the same way, to the same room.
    let plain = desk.management_room().await;
    assert!(desk.ask(&plain, "help").await.contains("Commands"));
    desk.set_state(
        &plain,
        "m.room.encryption",
        json!({"algorithm": "m.megolm.v1.aes-sha2"}),
    )
    .await;
    desk.wait_message(&plain, "the bot's notice", |m| {
        m["sender"] == BOT && body(m).starts_with(ENCRYPTED)
    })
    .await;
    bot_left(&desk, &plain).await;
    wait_for("only the unencrypted room as hers", WAIT, management_rooms).await;

    // She left that room; her next encrypted DM brings her back to it.
    desk.room(&room).await.leave().await.expect("leave");
    let again = desk.create_encrypted_dm(BOT).await;
    desk.wait_message(&again, "the bot's notice", |m| {
        m["sender"] == BOT && body(m).starts_with(ENCRYPTED)
    })
    .await;
    desk.wait_invited_to(&room, WAIT).await;
    desk.join(&room).await;
    assert!(desk.ask(&room, "help").await.contains("Commands"));
    bot_left(&desk, &again).await;
}

#[tokio::test]
async fn an_encrypted_portal_says_once_that_the_driver_does_not_get_what_is_written() {
    let lp = unique_localpart("finn");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{lp}:{DOMAIN}")]).await;
    let desk = Dispatcher::login(h.synapse, &lp, "Finn Dispo").await;
    let driver = add_phone(&sim, 'C', "Ella Express", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Bin da"))
        .await
        .unwrap();
    let portal = desk.wait_invite(WAIT).await;
    desk.join(&portal).await;
    desk.wait_messages(&portal, 1, WAIT).await;

    // Ciphertext in a room that is not encrypted says nothing about the room (anyone can send
    // it): no notice.
    let ciphertext = json!({
        "algorithm": "m.megolm.v1.aes-sha2",
        "ciphertext": "AwgAEnAC0o2X...",
        "device_id": "ELEMENTX",
        "sender_key": "c2VuZGVyIGtleQ",
        "session_id": "c2Vzc2lvbg",
    });
    let forged = desk
        .send_event(&portal, "m.room.encrypted", ciphertext.clone())
        .await;
    let store = &h.bridge.store;
    let outcome = wait_for("the forged event handled", WAIT, || async {
        store.inbox_outcome(&forged).await.unwrap().flatten()
    })
    .await;
    assert!(outcome.starts_with("failed"), "{outcome}");

    // The homeserver encrypts the room (as with encryption by default); a client then sends
    // what the bridge has no key for. Twice.
    h.synapse
        .appservice_state(
            &portal,
            "m.room.encryption",
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
        )
        .await;
    let first = desk
        .send_event(&portal, "m.room.encrypted", ciphertext.clone())
        .await;
    desk.send_event(&portal, "m.room.encrypted", ciphertext)
        .await;
    // A plain message after them still goes out; handled in order, so both came before it.
    desk.send_text(&portal, "Danke").await;
    let inbox = sim.wait_inbox(&driver, 1, WAIT).await;
    assert!(
        matches!(&inbox[0].message, Decoded::Text(t) if t == "Finn Dispo: Danke"),
        "{:?}",
        inbox[0].message
    );

    let notices = encryption_notices(&desk, &portal).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(
        body(&notices[0]).contains("does not reach the driver"),
        "{}",
        notices[0]
    );
    assert_eq!(
        sim.inbox(&driver).len(),
        1,
        "nothing of the ciphertext left"
    );
    let outcome = store.inbox_outcome(&first).await.unwrap().flatten();
    assert!(
        outcome
            .as_deref()
            .is_some_and(|o| o.starts_with("failed") && o.contains("bridge.encryption: off")),
        "{outcome:?}"
    );
}

/// On a homeserver that encrypts every new room, with `bridge.encryption: allow`: the driver's
/// text, photo and location reach a strict client decryptable, from the ghost's own
/// cross-signed device (the client decrypts nothing else), and nothing of them is in the clear
/// on the homeserver; the dispatcher's encrypted text, edit, photo and 👍 reach the phone.
#[tokio::test]
async fn with_encryption_an_encrypted_portal_works_both_ways_for_a_strict_client() {
    let lp = unique_localpart("gina");
    let (h, sim) = Harness::with_simulator_encrypting(|c| {
        c.dispatchers = vec![format!("@{lp}:{DOMAIN}")];
        c.bridge_extra.push_str(&format!(
            "  encryption: allow\n  encryption_key: {}\n  reactions_to_drivers: \"on\"\n",
            hex::encode([9u8; 32])
        ));
    })
    .await;
    h.synapse.create_user(&lp, "Gina Dispo").await;
    let desk = EncryptingClient::login(h.synapse, &lp).await;
    let driver = add_phone(&sim, 'G', "Gustav Gut", Behaviour::silent());
    let first = sim
        .send_from_user(&driver, UserMessage::text("Rampe 4 ist frei"))
        .await
        .unwrap();
    let store = &h.bridge.store;
    let portal = portal_of(store, &driver).await;
    desk.join(&portal).await;

    let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
    let shown = desk
        .wait_for_event(&portal, "the driver's text, decrypted", WAIT, |e| {
            e["sender"] == ghost && e["type"] == "m.room.message"
        })
        .await;
    assert_eq!(shown["content"]["body"], "Rampe 4 ist frei");
    // What the homeserver holds of it: ciphertext only.
    assert_eq!(shown["wire"]["type"], "m.room.encrypted", "{shown}");
    assert!(!shown["wire"].to_string().contains("Rampe 4"), "{shown}");
    let timeline = desk.timeline(&portal).await;
    assert!(
        timeline.iter().any(|e| e["type"] == "m.room.encryption"),
        "encrypted by the homeserver from its creation"
    );

    let sent = desk.send_text(&portal, "Danke, Tor 2").await;
    desk.send(
        &portal,
        "m.room.message",
        json!({"msgtype": "m.text", "body": "* Danke, Tor 3",
               "m.new_content": {"msgtype": "m.text", "body": "Danke, Tor 3"},
               "m.relates_to": {"rel_type": "m.replace", "event_id": sent}}),
    )
    .await;
    // The dispatcher's photo, encrypted as Element X sends it.
    let photo: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 251) as u8).collect();
    desk.send_file(&portal, "m.image", "tor.jpg", "image/jpeg", &photo)
        .await;
    let inbox = sim.wait_inbox(&driver, 3, WAIT).await;
    assert!(
        matches!(&inbox[0].message, Decoded::Text(t) if t == "Gina Dispo: Danke, Tor 2"),
        "{:?}",
        inbox[0].message
    );
    assert_eq!(
        inbox[1].message,
        Decoded::Edit {
            message_id: inbox[0].message_id.clone(),
            text: "Gina Dispo: Danke, Tor 3".into()
        }
    );
    match &inbox[2].message {
        Decoded::File { data, json, .. } => {
            assert_eq!(data, &photo, "the phone gets the photo, not its ciphertext");
            assert_eq!(json["n"], "tor.jpg");
        }
        other => panic!("not a file: {other:?}"),
    }

    // The driver's photo and location: decryptable, the photo's bytes only encrypted on the
    // homeserver (`file`, never `url`).
    let picture: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 253) as u8).collect();
    sim.send_from_user(
        &driver,
        UserMessage::File {
            data: picture.clone(),
            media_type: "image/jpeg".into(),
            file_name: Some("rampe.jpg".into()),
            caption: Some("Rampe 4".into()),
            thumbnail: None,
            rendering: 1,
            metadata: Some(json!({"w": 4, "h": 3})),
        },
    )
    .await
    .unwrap();
    sim.send_from_user(
        &driver,
        UserMessage::Location {
            lat: 52.52,
            lon: 13.405,
            accuracy: None,
            name: Some("Tor 4".into()),
            address: Some("Hafenstr. 4".into()),
        },
    )
    .await
    .unwrap();
    let image = desk
        .wait_for_event(&portal, "the driver's photo, decrypted", WAIT, |e| {
            e["sender"] == ghost && e["content"]["msgtype"] == "m.image"
        })
        .await;
    assert_eq!(image["wire"]["type"], "m.room.encrypted", "{image}");
    assert!(image["content"]["url"].is_null(), "{image}");
    assert_eq!(
        desk.download_decrypted(&image["content"]["file"]).await,
        picture
    );
    let location = desk
        .wait_for_event(&portal, "the driver's location, decrypted", WAIT, |e| {
            e["sender"] == ghost && e["content"]["msgtype"] == "m.location"
        })
        .await;
    assert_eq!(
        location["content"]["geo_uri"], "geo:52.52,13.405",
        "{location}"
    );
    assert_eq!(location["wire"]["type"], "m.room.encrypted");

    // The dispatcher's 👍 on the driver's first message, encrypted: the phone's agree on it.
    desk.send(
        &portal,
        "m.reaction",
        json!({"m.relates_to": {"rel_type": "m.annotation",
                                "event_id": shown["event_id"], "key": "👍"}}),
    )
    .await;
    wait_for("the agree on the phone", WAIT, || async {
        sim.inbox(&driver)
            .into_iter()
            .find_map(|m| match m.message {
                Decoded::DeliveryReceipt {
                    status: 3,
                    message_ids,
                } if message_ids == [first.clone()] => Some(()),
                _ => None,
            })
    })
    .await;
}

/// With `bridge.encryption` on, the bot stays in a DM created as Element X creates them
/// (encrypted from the start, on a homeserver that encrypts every new room): its welcome and
/// its answers arrive encrypted from its own cross-signed device, and it reads the commands.
#[tokio::test]
async fn with_encryption_a_management_room_created_as_element_x_creates_dms_works() {
    let lp = unique_localpart("hanna");
    let user = format!("@{lp}:{DOMAIN}");
    let (h, _sim) = Harness::with_simulator_encrypting(|c| {
        c.dispatchers = vec![user.clone()];
        c.bridge_extra.push_str(&format!(
            "  encryption: allow\n  encryption_key: {}\n",
            hex::encode([5u8; 32])
        ));
    })
    .await;
    h.synapse.create_user(&lp, "Hanna Dispo").await;
    let desk = EncryptingClient::login(h.synapse, &lp).await;
    let room = desk.create_encrypted_dm(BOT).await;
    let from_bot = |timeline: &[Value]| {
        timeline
            .iter()
            .find(|e| e["sender"] == BOT && e["type"] == "m.room.message")
            .cloned()
    };
    let welcome = desk
        .wait_for(&room, "the bot's welcome", WAIT, from_bot)
        .await;
    assert!(body(&welcome).starts_with("Hello!"), "{welcome}");
    assert_eq!(welcome["wire"]["type"], "m.room.encrypted", "{welcome}");

    let asked = desk.send_text(&room, "help").await;
    let answer = desk
        .wait_for_event(&room, "the answer to help", WAIT, |e| {
            e["sender"] == BOT && e["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
        })
        .await;
    assert!(body(&answer).contains("Commands"), "{answer}");
    assert_eq!(answer["wire"]["type"], "m.room.encrypted", "{answer}");
    let rooms = h.bridge.store.management_rooms().await.unwrap();
    assert!(
        rooms.iter().any(|(r, owner)| *r == room && *owner == user),
        "the encrypted DM is her management room: {rooms:?}"
    );
}

/// A SIGKILL between the room key and the message it unlocks loses nothing: the key is stored
/// before the transaction that brought it is acknowledged, so after the restart the message is
/// decrypted and reaches the phone (the real binary; a first run with `bridge.inbox_workers: 0`
/// stores the transactions without handling them).
#[tokio::test]
async fn with_encryption_a_sigkill_after_the_room_key_loses_nothing() {
    let guard = common::synapse::acquire().await;
    let hs = guard.synapse;
    let dir = tempfile::tempdir().unwrap();
    let db = common::db::TestDb::sqlite();
    let lp = unique_localpart("ida");
    let (mut config, sim) = own_process(hs, &lp, "Ida Dispo", db.url()).await;
    config.bridge_extra.push_str(&format!(
        "  encryption: default\n  encryption_key: {}\n",
        hex::encode([3u8; 32])
    ));
    let start = |config: &common::bridge::TestConfig, log: &str| {
        let path = config.write(dir.path(), hs);
        let log = dir.path().join(log);
        async move { common::bridge::Process::start(&path, log).await }
    };
    let first = start(&config, "first.log").await;
    let desk = EncryptingClient::login(hs, &lp).await;
    let driver = add_phone(&sim, 'I', "Igor Ilg", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Bin an Tor 5"))
        .await
        .unwrap();
    let store = threema_bridge::store::Store::connect(db.url(), 1)
        .await
        .unwrap();
    let portal = portal_of(&store, &driver).await;
    desk.join(&portal).await;
    assert!(
        desk.is_encrypted(&portal).await,
        "default: portals created encrypted"
    );
    first.kill();

    // Transactions are stored and acknowledged, room keys with them; nothing is handled.
    config.inbox_workers = 0;
    let second = start(&config, "second.log").await;
    let sent = desk.send_text(&portal, "Bitte an Tor 6").await;
    wait_for("the encrypted message stored", WAIT, || async {
        store.inbox_received_at(&sent).await.unwrap()
    })
    .await;
    second.kill();

    config.inbox_workers = 4;
    let third = start(&config, "third.log").await;
    let inbox = sim.wait_inbox(&driver, 1, WAIT).await;
    assert!(
        matches!(&inbox[0].message, Decoded::Text(t) if t == "Ida Dispo: Bitte an Tor 6"),
        "{:?}",
        inbox[0].message
    );
    third.terminate();
}

/// `bridge.encryption: require`: a portal made before, unencrypted, is encrypted by the bot
/// before the bridge posts there again; nothing more of the driver's goes there in the clear.
#[tokio::test]
async fn with_encryption_required_the_bridge_turns_encryption_on_before_it_posts() {
    let guard = common::synapse::acquire().await;
    let hs = guard.synapse;
    let dir = tempfile::tempdir().unwrap();
    let db = common::db::TestDb::sqlite();
    let lp = unique_localpart("jona");
    let (mut config, sim) = own_process(hs, &lp, "Jona Dispo", db.url()).await;
    let key = hex::encode([4u8; 32]);
    config.bridge_extra = format!("  encryption: allow\n  encryption_key: {key}\n");
    let path = config.write(dir.path(), hs);
    let first = common::bridge::Process::start(&path, dir.path().join("first.log")).await;
    let desk = EncryptingClient::login(hs, &lp).await;
    let driver = add_phone(&sim, 'J', "Jan Jung", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("vorher"))
        .await
        .unwrap();
    let store = threema_bridge::store::Store::connect(db.url(), 1)
        .await
        .unwrap();
    let portal = portal_of(&store, &driver).await;
    desk.join(&portal).await;
    let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
    let before = desk
        .wait_for_event(&portal, "the first text", WAIT, |e| {
            e["sender"] == ghost && e["content"]["body"] == "vorher"
        })
        .await;
    assert!(
        before.get("wire").is_none(),
        "allow: not encrypted here {before}"
    );
    first.terminate();

    config.bridge_extra = format!("  encryption: require\n  encryption_key: {key}\n");
    let path = config.write(dir.path(), hs);
    let second = common::bridge::Process::start(&path, dir.path().join("second.log")).await;
    sim.send_from_user(&driver, UserMessage::text("nachher"))
        .await
        .unwrap();
    let after = desk
        .wait_for_event(&portal, "the second text, decrypted", WAIT, |e| {
            e["sender"] == ghost && e["content"]["body"] == "nachher"
        })
        .await;
    assert_eq!(after["wire"]["type"], "m.room.encrypted", "{after}");
    let timeline = desk.timeline(&portal).await;
    let turned_on = timeline
        .iter()
        .find(|e| e["type"] == "m.room.encryption")
        .expect("encryption turned on");
    assert_eq!(turned_on["sender"], BOT);
    second.terminate();
}

/// Without encryption, on a homeserver that encrypts every new room: the unencrypted room the
/// bot would open would be encrypted too, so it says so in the encrypted DM instead of moving.
#[tokio::test]
async fn without_encryption_where_the_homeserver_encrypts_every_room_the_bot_says_so() {
    let lp = unique_localpart("kira");
    let (h, _sim) = Harness::with_simulator_encrypting(|c| {
        c.dispatchers = vec![format!("@{lp}:{DOMAIN}")];
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &lp, "Kira Dispo").await;
    let dm = desk.create_encrypted_dm(BOT).await;
    let notice = desk
        .wait_message(&dm, "the bot's notice", |m| m["sender"] == BOT)
        .await;
    assert!(body(&notice).starts_with(ENCRYPTED), "{notice}");
    assert!(
        body(&notice).contains("encrypts every new room"),
        "{notice}"
    );
}
