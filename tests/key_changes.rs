//! A driver's public key changes at the Gateway (a new phone): their messages are held, not
//! shown, until an admin accepts the new key in the management room or on the command line;
//! then the held messages appear in the driver's portal, once each, in their order, dated by
//! the driver's app.

use crate::common;

use std::{path::Path, time::Duration};

use common::{
    bridge::Harness,
    db::TestDb,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use serde_json::Value;
use threema_bridge::store::Direction;
use threema_gateway_sim::{Behaviour, Simulator, UserMessage, UserSpec};

const WAIT: Duration = Duration::from_secs(30);

fn ghost(driver: &str) -> String {
    format!("@threema_{}:{DOMAIN}", driver.to_lowercase())
}

/// The driver gets a new phone under the same ID: the Gateway now returns another key.
fn new_phone(sim: &Simulator, driver: &str) {
    let nickname = sim.user(driver).unwrap().nickname;
    assert!(sim.remove_user(driver));
    let mut spec = UserSpec::new(driver).behaviour(Behaviour::silent());
    if let Some(nickname) = nickname {
        spec = spec.nickname(&nickname);
    }
    sim.add_user(spec);
}

/// Sends texts from the driver and waits until the bridge holds all of them.
async fn send_held(h: &Harness, sim: &Simulator, driver: &str, texts: &[&str]) -> Vec<String> {
    let mut sent = Vec::new();
    for text in texts {
        sent.push(
            sim.send_from_user(driver, UserMessage::text(*text))
                .await
                .unwrap(),
        );
    }
    let store = &h.bridge.store;
    wait_for("the messages held", WAIT, || async {
        let held = store.threema_inbox_held(driver).await.unwrap();
        (held == sent).then_some(())
    })
    .await;
    sent
}

/// The driver's first message opens the portal; the desk joins it. Returns the room.
async fn open_portal(h: &Harness, sim: &Simulator, desk: &Dispatcher, driver: &str) -> String {
    let first = sim
        .send_from_user(driver, UserMessage::text("vor dem Wechsel"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    let store = &h.bridge.store;
    wait_for("the first message bridged", WAIT, || async {
        store
            .message_by_threema_id(driver, &first, Direction::In)
            .await
            .unwrap()
    })
    .await;
    room
}

/// What the desk sees in the portal: (body, sender, timestamp) of each message, oldest first.
fn seen(messages: &[Value]) -> Vec<(String, String, u64)> {
    messages
        .iter()
        .map(|m| {
            (
                m["content"]["body"].as_str().unwrap_or_default().to_owned(),
                m["sender"].as_str().unwrap().to_owned(),
                m["origin_server_ts"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The (body, ghost, time the driver's app set) the desk should see for each sent message.
fn expected(sim: &Simulator, driver: &str, sent: &[(&str, &str)]) -> Vec<(String, String, u64)> {
    let outbox = sim.outbox(driver);
    sent.iter()
        .map(|(body, message_id)| {
            let date = outbox
                .iter()
                .find(|m| m.message_id == *message_id)
                .unwrap()
                .date;
            ((*body).to_owned(), ghost(driver), date * 1000)
        })
        .collect()
}

#[tokio::test]
async fn an_admin_accepts_a_changed_key_and_the_held_messages_appear_once_in_order() {
    let desk_localpart = unique_localpart("desk");
    let admin_localpart = unique_localpart("admin");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let admin_id = format!("@{admin_localpart}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![desk_id.clone()];
        c.bridge_extra = format!("  permissions: {{ \"{admin_id}\": admin }}");
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let admin = Dispatcher::login(h.synapse, &admin_localpart, "Admin").await;
    let driver = add_phone(&sim, 'K', "Kai Keywechsel", Behaviour::silent());
    let room = open_portal(&h, &sim, &desk, &driver).await;

    new_phone(&sim, &driver);
    let held = send_held(&h, &sim, &driver, &["neues Handy", "bin auf Tour 7"]).await;
    let before = desk.messages(&room).await;
    assert_eq!(before.len(), 1, "held messages are not shown: {before:?}");

    // A dispatcher who is not an admin cannot accept it.
    let desk_dm = desk.management_room().await;
    let refusal = desk.ask(&desk_dm, &format!("accept-key {driver}")).await;
    assert_eq!(refusal, "Only bridge admins may do that.");
    assert_eq!(
        h.bridge.store.threema_inbox_held(&driver).await.unwrap(),
        held
    );

    let admin_dm = admin.management_room().await;
    let help = admin.ask(&admin_dm, "help").await;
    assert!(help.contains("accept-key <Threema ID>"), "{help}");
    let malformed = admin.ask(&admin_dm, "accept-key K-123").await;
    assert!(malformed.contains("not a Threema ID"), "{malformed}");
    assert_eq!(
        h.bridge.store.threema_inbox_held(&driver).await.unwrap(),
        held
    );

    let accepted = admin
        .ask(&admin_dm, &format!("accept-key {}", driver.to_lowercase()))
        .await;
    assert!(
        accepted.contains("trusted now") && accepted.contains("2 held message(s)"),
        "{accepted}"
    );
    let messages = desk.wait_messages(&room, 3, WAIT).await;
    let mut want = seen(&before);
    want.extend(expected(
        &sim,
        &driver,
        &[("neues Handy", &held[0]), ("bin auf Tour 7", &held[1])],
    ));
    assert_eq!(seen(&messages), want);

    // Nothing is pending any more: a second accept changes nothing.
    let again = admin.ask(&admin_dm, &format!("accept-key {driver}")).await;
    assert!(again.contains("No changed key"), "{again}");

    // The driver's next message opens with the accepted key, after the replayed ones.
    let next = sim
        .send_from_user(&driver, UserMessage::text("danach"))
        .await
        .unwrap();
    let messages = desk.wait_messages(&room, 4, WAIT).await;
    want.extend(expected(&sim, &driver, &[("danach", &next)]));
    assert_eq!(seen(&messages), want, "each once, in order");
    h.stop().await;
}

/// `threema-bridge -c CONFIG accept-key ID`: (exit success, stdout, stderr).
fn accept_key(config: &Path, id: &str) -> (bool, String, String) {
    let (code, out, err) = common::bridge::run_cli(config, &["accept-key", id], &[]);
    (code == 0, out, err)
}

/// The command line accepts while `serve` runs (here in the test process): the running bridge
/// finds the queued messages by itself.
async fn the_command_line_accepts_a_key_while_the_bridge_serves(db: TestDb) {
    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator_on(db, |c| c.dispatchers = vec![desk_id.clone()]).await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let driver = add_phone(&sim, 'K', "Karla Kommandozeile", Behaviour::silent());
    let room = open_portal(&h, &sim, &desk, &driver).await;
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);

    new_phone(&sim, &driver);
    let held = send_held(&h, &sim, &driver, &["Reifenpanne", "brauche Hilfe"]).await;

    let (ok, _, err) = accept_key(&config, "not-an-id");
    assert!(!ok && err.contains("not a Threema ID"), "{err}");
    assert_eq!(
        h.bridge.store.threema_inbox_held(&driver).await.unwrap(),
        held
    );

    let (ok, out, err) = accept_key(&config, &driver);
    assert!(ok, "{err}");
    assert!(out.contains("2 held message(s) queued"), "{out}");
    let messages = desk.wait_messages(&room, 3, WAIT).await;
    assert_eq!(
        seen(&messages[1..]),
        expected(
            &sim,
            &driver,
            &[("Reifenpanne", &held[0]), ("brauche Hilfe", &held[1])]
        )
    );

    let (ok, _, err) = accept_key(&config, &driver);
    assert!(!ok && err.contains("no changed key"), "{err}");
    // Still three, each once, after the bridge had every chance to replay anything again.
    let next = sim
        .send_from_user(&driver, UserMessage::text("geht wieder"))
        .await
        .unwrap();
    let messages = desk.wait_messages(&room, 4, WAIT).await;
    assert_eq!(messages.len(), 4);
    assert_eq!(
        seen(&messages[3..]),
        expected(&sim, &driver, &[("geht wieder", &next)])
    );
    h.stop().await;
}

#[tokio::test]
async fn the_command_line_accepts_a_key_while_the_bridge_serves_on_sqlite() {
    the_command_line_accepts_a_key_while_the_bridge_serves(TestDb::sqlite()).await;
}

#[tokio::test]
async fn the_command_line_accepts_a_key_while_the_bridge_serves_on_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    the_command_line_accepts_a_key_while_the_bridge_serves(db).await;
}
