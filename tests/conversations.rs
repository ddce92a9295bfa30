//! Conversations end to end, as the dispatch desk and the drivers see them: dispatchers speak
//! the client-server API to the real Synapse, drivers are simulated phones behind the Gateway
//! simulator.

use crate::common;

use std::{collections::HashMap, time::Duration};

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use serde_json::json;
use threema_gateway_sim::{Behaviour, Decoded, Simulator, UserMessage};

const WAIT: Duration = Duration::from_secs(60);

fn add_driver(sim: &Simulator, nickname: &str) -> String {
    add_phone(sim, 'C', nickname, Behaviour::silent())
}

fn texts(sim: &Simulator, driver: &str) -> Vec<String> {
    sim.inbox(driver)
        .into_iter()
        .map(|m| match m.message {
            Decoded::Text(text) => text,
            other => format!("{other:?}"),
        })
        .collect()
}

/// A tiny real PNG (1×1), so media bytes can be compared after the round trip.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn two_dispatchers_talk_with_a_driver_who_wrote_first() {
    let (anna_lp, ben_lp) = (unique_localpart("anna"), unique_localpart("ben"));
    let desk = vec![
        format!("@{anna_lp}:{DOMAIN}"),
        format!("@{ben_lp}:{DOMAIN}"),
    ];
    let (h, sim) = Harness::with_simulator(|c| c.dispatchers = desk.clone()).await;
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    let ben = Dispatcher::login(h.synapse, &ben_lp, "Ben Dispo").await;
    let driver = add_driver(&sim, "Erik Express");

    // The driver writes first, with Threema markup and a photo.
    let first = sim
        .send_from_user(&driver, UserMessage::text("*Stau* auf der A1"))
        .await
        .unwrap();
    let room = anna.wait_invite(WAIT).await;
    anna.join(&room).await;
    assert_eq!(
        ben.wait_invite(WAIT).await,
        room,
        "both dispatchers are invited"
    );
    ben.join(&room).await;
    sim.send_from_user(
        &driver,
        UserMessage::File {
            data: PNG.to_vec(),
            media_type: "image/png".into(),
            file_name: Some("stau.png".into()),
            caption: None,
            thumbnail: None,
            rendering: 1,
            metadata: Some(serde_json::json!({"w": 1, "h": 1})),
        },
    )
    .await
    .unwrap();

    // Both see both, the text formatted, the photo's bytes as sent, at the app's time.
    for dispatcher in [&anna, &ben] {
        let messages = dispatcher.wait_messages(&room, 2, WAIT).await;
        let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
        assert!(messages.iter().all(|m| m["sender"] == ghost.as_str()));
        assert_eq!(messages[0]["content"]["body"], "*Stau* auf der A1");
        assert_eq!(
            messages[0]["content"]["formatted_body"],
            "<strong>Stau</strong> auf der A1"
        );
        assert_eq!(
            messages[0]["origin_server_ts"].as_u64(),
            Some(sim.outbox(&driver)[0].date * 1000)
        );
        assert_eq!(messages[1]["content"]["msgtype"], "m.image");
        let mxc = messages[1]["content"]["url"].as_str().unwrap();
        assert_eq!(dispatcher.download(mxc).await, PNG);
    }

    // Each dispatcher answers; the driver sees who wrote what, in order.
    let driver_event = anna.messages(&room).await[0]["event_id"].clone();
    anna.send_content(
        &room,
        json!({"msgtype": "m.text", "body": "Danke, nimm die B3",
               "m.relates_to": {"m.in_reply_to": {"event_id": driver_event}}}),
    )
    .await;
    ben.send_content(
        &room,
        json!({"msgtype": "m.text", "body": "Bitte **melden**",
               "format": "org.matrix.custom.html", "formatted_body": "Bitte <b>melden</b>"}),
    )
    .await;
    let mxc = ben.upload(PNG, "image/png").await;
    let photo = ben
        .send_content(
            &room,
            json!({"msgtype": "m.image", "body": "umleitung.png", "url": mxc,
                   "info": {"mimetype": "image/png", "size": PNG.len(), "w": 1, "h": 1}}),
        )
        .await;
    let inbox = sim.wait_inbox(&driver, 3, WAIT).await;
    assert_eq!(
        texts(&sim, &driver)[..2],
        [
            format!("> quote #{first}\n\nAnna Dispo: Danke, nimm die B3"),
            "Ben Dispo: Bitte *melden*".to_owned()
        ]
    );
    match &inbox[2].message {
        Decoded::File { data, json, .. } => {
            assert_eq!(data, PNG);
            assert_eq!(json["d"], "Ben Dispo");
        }
        other => panic!("not a file: {other:?}"),
    }
    // Both dispatchers see each other's messages too; nothing is echoed back as the ghost.
    let seen = anna.messages(&room).await;
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[4]["event_id"], photo.as_str());

    // A colleague who opens the chat later reads the whole history.
    let cara_lp = unique_localpart("cara");
    let cara = Dispatcher::login(h.synapse, &cara_lp, "Cara Dispo").await;
    assert_eq!(cara.start_chat(&driver).await, room);
    let history: Vec<_> = cara
        .messages(&room)
        .await
        .iter()
        .map(|m| m["sender"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history.len(), 5);
    assert_eq!(history[2], format!("@{anna_lp}:{DOMAIN}"));
}

#[tokio::test]
async fn twenty_drivers_writing_at_once_each_get_a_complete_ordered_history() {
    const DRIVERS: usize = 20;
    const MESSAGES: usize = 20;
    let desk_lp = unique_localpart("desk");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk_lp}:{DOMAIN}")]).await;
    let desk = Dispatcher::login(h.synapse, &desk_lp, "Desk").await;
    let drivers: Vec<String> = (0..DRIVERS)
        .map(|i| add_driver(&sim, &format!("Fahrer {i}")))
        .collect();

    // Every driver sends its messages one after the other, all drivers at the same time.
    let sends = drivers.iter().map(|driver| {
        let sim = &sim;
        async move {
            for n in 0..MESSAGES {
                sim.send_from_user(driver, UserMessage::text(format!("{driver} #{n:02}")))
                    .await
                    .unwrap();
            }
        }
    });
    futures::future::join_all(sends).await;

    // One portal per driver, found through the bridge's store.
    let store = &h.bridge.store;
    let rooms: HashMap<String, String> = wait_for("all portals", WAIT, || async {
        let mut rooms = HashMap::new();
        for driver in &drivers {
            let portal = store.portal_by_threema_id(driver).await.unwrap()?;
            rooms.insert(driver.clone(), portal.room_id.to_string());
        }
        Some(rooms)
    })
    .await;
    for (driver, room) in &rooms {
        // The desk was invited when the portal was created.
        desk.join(room).await;
        let bodies: Vec<String> = desk
            .wait_messages(room, MESSAGES, WAIT)
            .await
            .iter()
            .map(|m| m["content"]["body"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..MESSAGES).map(|n| format!("{driver} #{n:02}")).collect();
        assert_eq!(bodies, expected, "complete, in order, once");
    }

    // And the other way: the desk writes to all of them at once, each phone gets its messages
    // in order.
    for (driver, room) in &rooms {
        for n in 0..3 {
            desk.send_text(room, &format!("an {driver} #{n}")).await;
        }
    }
    for driver in &drivers {
        sim.wait_inbox(driver, 3, WAIT).await;
        let expected: Vec<String> = (0..3).map(|n| format!("Desk: an {driver} #{n}")).collect();
        assert_eq!(texts(&sim, driver), expected);
    }
}
