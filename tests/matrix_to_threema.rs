//! A dispatcher writes in a driver's portal: the simulated phone decrypts each message signed
//! with the dispatcher's name, formatted in Threema markup, with replies as quotes, edits and
//! deletes as Threema edits and deletes. Failures reach the dispatcher as notices; a send whose
//! outcome is unknown is never repeated.

use crate::common::{self, recorded};
use threema_bridge::bridge::Outcome;

use std::time::Duration;

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::{add_phone, unique_threema_id},
};
use serde_json::json;
use threema_bridge::store::OutboxState;
use threema_gateway_sim::{Behaviour, Decoded, Fault, Simulator, UserMessage, UserSpec};

const WAIT: Duration = Duration::from_secs(30);

/// A driver who wrote first, and the dispatcher joined to their portal.
async fn portal_with_driver(
    h: &Harness,
    sim: &Simulator,
    desk: &str,
    display_name: &str,
) -> (Dispatcher, String, String, String) {
    let dispatcher = Dispatcher::login(h.synapse, desk, display_name).await;
    let driver = add_phone(sim, 'M', "Erik Express", Behaviour::silent());
    let first = sim
        .send_from_user(&driver, UserMessage::text("Wo soll ich hin?"))
        .await
        .unwrap();
    let room = dispatcher.wait_invite(WAIT).await;
    dispatcher.join(&room).await;
    (dispatcher, driver, room, first)
}

/// How often the bridge asked the homeserver for a piece of room state (a sender's name), as
/// `/metrics` counts it.
fn member_lookups(h: &Harness) -> u64 {
    let counter =
        r#"threema_bridge_homeserver_requests_total{endpoint="state::get_state_event_for_key""#;
    let metrics = h.bridge.metrics.render(&Default::default());
    (metrics.lines())
        .filter(|line| line.starts_with(counter))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn text_of(decoded: &Decoded) -> &str {
    match decoded {
        Decoded::Text(text) => text,
        other => panic!("not a text: {other:?}"),
    }
}

#[tokio::test]
async fn every_reply_type_reaches_the_phone_signed_with_the_dispatchers_name() {
    let desk = unique_localpart("desk");
    let dispatcher_id = format!("@{desk}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| c.dispatchers = vec![dispatcher_id.clone()]).await;
    let (dispatcher, driver, room, first) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;
    let driver_event = dispatcher
        .wait_message(&room, "the driver's message", |m| {
            m["content"]["body"] == "Wo soll ich hin?"
        })
        .await["event_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let asked_before = member_lookups(&h);
    let plain = dispatcher.send_text(&room, "Tour 7 fällt aus").await;
    dispatcher
        .send_content(
            &room,
            json!({"msgtype": "m.text", "body": "**Achtung** heute",
                   "format": "org.matrix.custom.html",
                   "formatted_body": "<strong>Achtung</strong> <em>heute</em> <del>morgen</del>"}),
        )
        .await;
    dispatcher
        .send_content(&room, json!({"msgtype": "m.emote", "body": "winkt"}))
        .await;
    dispatcher
        .send_content(
            &room,
            json!({"msgtype": "m.text",
                   "body": "> <@x:d> Wo soll ich hin?\n\nAn Tor 3",
                   "m.relates_to": {"m.in_reply_to": {"event_id": driver_event}}}),
        )
        .await;
    let long: String = (0..500).map(|i| format!("Zeile{i:04} ")).collect();
    dispatcher.send_text(&room, &long).await;
    dispatcher
        .send_content(
            &room,
            json!({"msgtype": "m.location", "body": "Rampe 4", "geo_uri": "geo:52.52,13.405;u=15"}),
        )
        .await;
    let image: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mxc = dispatcher.upload(&image, "image/png").await;
    dispatcher
        .send_content(
            &room,
            json!({"msgtype": "m.image", "body": "Schaden.png", "url": mxc,
                   "info": {"mimetype": "image/png", "size": image.len(), "w": 40, "h": 30}}),
        )
        .await;
    dispatcher
        .send_content(
            &room,
            json!({"msgtype": "m.text", "body": "* Tour 8 fällt aus",
                   "m.new_content": {"msgtype": "m.text", "body": "Tour 8 fällt aus"},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": plain}}),
        )
        .await;
    dispatcher.redact(&room, &plain).await;

    // text, html, emote, reply, long text in 2 parts, location, image, edit, delete
    let inbox = sim.wait_inbox(&driver, 10, WAIT).await;
    let texts: Vec<&Decoded> = inbox.iter().map(|m| &m.message).collect();
    assert_eq!(text_of(texts[0]), "Anna Dispo: Tour 7 fällt aus");
    assert_eq!(text_of(texts[1]), "Anna Dispo: *Achtung* _heute_ ~morgen~");
    assert_eq!(text_of(texts[2]), "* Anna Dispo winkt");
    assert_eq!(
        text_of(texts[3]),
        format!("> quote #{first}\n\nAnna Dispo: An Tor 3"),
        "a reply quotes the driver's message"
    );
    let (part1, part2) = (text_of(texts[4]), text_of(texts[5]));
    assert!(part1.len() <= 3500 && part2.len() <= 3500);
    assert!(part1.starts_with("Anna Dispo: Zeile0000") && part2.starts_with("Anna Dispo: "));
    let rejoined = format!(
        "{} {}",
        part1.trim_start_matches("Anna Dispo: "),
        part2.trim_start_matches("Anna Dispo: ")
    );
    assert_eq!(rejoined.trim(), long.trim(), "split, nothing lost");
    match texts[6] {
        Decoded::Location {
            lat,
            lon,
            accuracy,
            address,
            ..
        } => {
            assert_eq!((*lat, *lon, *accuracy), (52.52, 13.405, Some(15.0)));
            assert_eq!(address.as_deref(), Some("Anna Dispo: Rampe 4"));
        }
        other => panic!("not a location: {other:?}"),
    }
    match texts[7] {
        Decoded::File { json, data, .. } => {
            assert_eq!(data, &image, "the phone decrypts the same bytes");
            assert_eq!(json["m"], "image/png");
            assert_eq!(json["n"], "Schaden.png");
            assert_eq!(json["d"], "Anna Dispo");
        }
        other => panic!("not a file: {other:?}"),
    }
    assert_eq!(
        texts[8],
        &Decoded::Edit {
            message_id: inbox[0].message_id.clone(),
            text: "Anna Dispo: Tour 8 fällt aus".into()
        }
    );
    assert_eq!(
        texts[9],
        &Decoded::Delete {
            message_id: inbox[0].message_id.clone()
        }
    );
    // Nothing more arrives: each once. The outbox is empty and all rows are sent.
    let store = &h.bridge.store;
    wait_for("the outbox drained", WAIT, || async {
        let counts = store.outbox_counts().await.unwrap();
        (counts == [("sent".to_owned(), 10)]).then_some(())
    })
    .await;
    assert_eq!(sim.inbox(&driver).len(), 10);
    assert_eq!(
        member_lookups(&h) - asked_before,
        1,
        "the dispatcher's name asked for once, not for each message"
    );

    // A new name in the room signs what comes after it: its member event makes the bridge ask
    // again (as the redaction above did for the first of these two, which is on the phone
    // before the rename: the name is asked when a message is handled).
    dispatcher.send_text(&room, "Tour 10 wie geplant").await;
    sim.wait_inbox(&driver, 11, WAIT).await;
    dispatcher
        .set_state_for(
            &room,
            "m.room.member",
            &dispatcher_id,
            json!({"membership": "join", "displayname": "Anna Müller"}),
        )
        .await;
    dispatcher.send_text(&room, "Tour 9 um 10").await;
    let inbox = sim.wait_inbox(&driver, 12, WAIT).await;
    assert_eq!(
        text_of(&inbox[10].message),
        "Anna Dispo: Tour 10 wie geplant"
    );
    assert_eq!(text_of(&inbox[11].message), "Anna Müller: Tour 9 um 10");
}

#[tokio::test]
async fn a_send_without_answer_is_reported_and_not_repeated() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.gateway_timeout_s = 1;
    })
    .await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;

    sim.inject_fault("send_e2e", Fault::accept_then_timeout().times(1));
    let lost = dispatcher.send_text(&room, "Bitte Rückruf").await;
    let notice = dispatcher
        .wait_message(&room, "the outcome-unknown notice", |m| {
            m["content"]["msgtype"] == "m.notice"
                && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == lost.as_str()
        })
        .await;
    assert!(
        notice["content"]["body"]
            .as_str()
            .unwrap()
            .contains("unknown whether"),
        "{notice}"
    );
    // The Gateway accepted it: the phone has it once, and a later message is not preceded by
    // a second copy.
    dispatcher.send_text(&room, "Danke").await;
    let inbox = sim.wait_inbox(&driver, 2, WAIT).await;
    let texts: Vec<&str> = inbox.iter().map(|m| text_of(&m.message)).collect();
    assert_eq!(texts, ["Anna Dispo: Bitte Rückruf", "Anna Dispo: Danke"]);
    let rows = h.bridge.store.outbox_by_event(&lost).await.unwrap();
    assert_eq!(rows[0].state, OutboxState::Unknown);
    assert_eq!(rows[0].attempts, 1);
}

/// 🔁 resends a message of its own room only: a reaction in one portal that names a failed
/// message of another (a homeserver relays whatever its users send) changes nothing.
#[tokio::test]
async fn a_resend_is_only_for_a_message_of_its_own_room() {
    let desk = unique_localpart("desk");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk}:{DOMAIN}")]).await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;
    let other_driver = add_phone(&sim, 'M', "Olga Other", Behaviour::silent());
    sim.send_from_user(&other_driver, UserMessage::text("Hallo"))
        .await
        .unwrap();
    let other_room = dispatcher.wait_invite(WAIT).await;
    dispatcher.join(&other_room).await;

    // A message the Gateway refused: failed for good.
    sim.inject_fault("send_e2e", Fault::status(400).times(1));
    let failed = dispatcher.send_text(&room, "Tour 5 ab Tor 2").await;
    let store = &h.bridge.store;
    wait_for("the failure", WAIT, || async {
        let rows = store.outbox_by_event(&failed).await.unwrap();
        rows.iter()
            .any(|r| r.state == OutboxState::Failed)
            .then_some(())
    })
    .await;

    // A 🔁 on it, sent in the other portal.
    let stray = format!("$stray-{}", unique_localpart("r"));
    h.push_events(vec![json!({
        "event_id": stray, "room_id": other_room, "sender": dispatcher.user_id,
        "type": "m.reaction", "origin_server_ts": 1,
        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": failed, "key": "🔁"}}
    })])
    .await;
    let outcome = wait_for("the stray reaction handled", WAIT, || async {
        store.inbox_outcome(&stray).await.unwrap().flatten()
    })
    .await;
    let outcome = recorded(outcome);
    assert!(matches!(outcome, Outcome::Refused(_)), "{outcome}");

    // In its own room the same reaction resends it, once.
    dispatcher.react(&room, &failed, "🔁").await;
    let inbox = sim.wait_inbox(&driver, 1, WAIT).await;
    assert_eq!(text_of(&inbox[0].message), "Anna Dispo: Tour 5 ab Tor 2");
    dispatcher.send_text(&room, "Danke").await;
    let inbox = sim.wait_inbox(&driver, 2, WAIT).await;
    assert_eq!(inbox.len(), 2, "resent once: {inbox:?}");
}

#[tokio::test]
async fn without_credits_the_dispatcher_is_told_and_the_gateway_outage_is_waited_out() {
    let desk = unique_localpart("desk");
    let (h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk}:{DOMAIN}")]).await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;

    sim.set_credits(0);
    let refused = dispatcher.send_text(&room, "Kostet nichts?").await;
    let notice = dispatcher
        .wait_message(&room, "the no-credits notice", |m| {
            m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == refused.as_str()
        })
        .await;
    assert!(
        notice["content"]["body"]
            .as_str()
            .unwrap()
            .contains("no credits"),
        "{notice}"
    );
    assert!(sim.inbox(&driver).is_empty());

    // A Gateway that fails for a while (500, then 429) delays the message; it arrives once.
    sim.set_credits(1000);
    sim.inject_fault("send_e2e", Fault::status(500).times(2));
    sim.inject_fault("send_e2e", Fault::status(429).times(1));
    let delayed = dispatcher.send_text(&room, "Jetzt aber").await;
    let inbox = sim.wait_inbox(&driver, 1, WAIT).await;
    assert_eq!(text_of(&inbox[0].message), "Anna Dispo: Jetzt aber");
    let rows = h.bridge.store.outbox_by_event(&delayed).await.unwrap();
    wait_for("sent recorded", WAIT, || async {
        let rows = h.bridge.store.outbox_by_event(&delayed).await.unwrap();
        (rows[0].state == OutboxState::Sent).then_some(())
    })
    .await;
    assert!(rows[0].attempts >= 1);
    assert_eq!(sim.inbox(&driver).len(), 1);
}

#[tokio::test]
async fn only_permitted_users_write_to_drivers() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.bridge_extra = "  permissions: { \"*\": none }".into();
    })
    .await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;
    let visitor = Dispatcher::fresh(h.synapse, "visitor").await;
    // Only the bot invites to a portal ...
    let refused = dispatcher.try_invite(&room, &visitor.user_id).await;
    assert!(
        refused.is_err(),
        "the homeserver refuses a dispatcher's invite"
    );
    // ... so the visitor's message reaches the bridge only as a homeserver would relay it from
    // a room it got into otherwise.
    let refused = format!("$visitor-{}", unique_localpart("m"));
    h.push_events(vec![json!({
        "event_id": refused, "room_id": room, "sender": visitor.user_id,
        "type": "m.room.message", "origin_server_ts": 1,
        "content": {"msgtype": "m.text", "body": "Hallo?"}
    })])
    .await;
    dispatcher
        .wait_message(&room, "the refusal", |m| {
            m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == refused.as_str()
        })
        .await;
    dispatcher.send_text(&room, "Von der Dispo").await;
    let inbox = sim.wait_inbox(&driver, 1, WAIT).await;
    assert_eq!(text_of(&inbox[0].message), "Anna Dispo: Von der Dispo");
    assert_eq!(
        sim.inbox(&driver).len(),
        1,
        "the visitor's message never left"
    );
}

/// An edit or a delete on the phone is always its author's: a colleague's edit or redaction of
/// a dispatcher's message stays in Matrix, with a notice saying so (Element hides an edit by
/// another sender, so the desk would not see it either).
#[tokio::test]
async fn only_its_author_edits_or_deletes_a_message_on_the_phone() {
    let (desk, other) = (unique_localpart("desk"), unique_localpart("colleague"));
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}"), format!("@{other}:{DOMAIN}")]
    })
    .await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;
    let colleague = Dispatcher::login(h.synapse, &other, "Ben Dispo").await;
    assert_eq!(colleague.wait_invite(WAIT).await, room);
    colleague.join(&room).await;
    let sent = dispatcher.send_text(&room, "Tour 7 fällt aus").await;
    sim.wait_inbox(&driver, 1, WAIT).await;
    let edit = |text: &str| {
        json!({"msgtype": "m.text", "body": format!("* {text}"),
               "m.new_content": {"msgtype": "m.text", "body": text},
               "m.relates_to": {"rel_type": "m.replace", "event_id": sent}})
    };

    let colleagues_edit = colleague
        .send_content(&room, edit("Tour 8 fällt aus"))
        .await;
    let refused = dispatcher.answer_to(&room, &colleagues_edit).await;
    assert!(refused.contains("only its author"), "{refused}");
    dispatcher
        .send_content(&room, edit("Tour 9 fällt aus"))
        .await;
    // In the portal only the bot may redact others' events; a redaction by someone with the
    // power to (a room admin, another server) reaches the bridge as the homeserver relays it.
    let colleagues_redaction = format!("$redaction-{}", unique_localpart("r"));
    h.push_events(vec![json!({
        "event_id": colleagues_redaction, "room_id": room, "sender": colleague.user_id,
        "type": "m.room.redaction", "redacts": sent, "origin_server_ts": 1,
        "content": {"redacts": sent}
    })])
    .await;
    let refused = dispatcher.answer_to(&room, &colleagues_redaction).await;
    assert!(refused.contains("only its author"), "{refused}");

    // The phone has the message and its author's edit, nothing of the colleague's.
    let inbox = sim.wait_inbox(&driver, 2, WAIT).await;
    assert_eq!(text_of(&inbox[0].message), "Anna Dispo: Tour 7 fällt aus");
    match &inbox[1].message {
        Decoded::Edit { text, .. } => assert_eq!(text, "Anna Dispo: Tour 9 fällt aus"),
        other => panic!("not the author's edit: {other:?}"),
    }
    dispatcher.send_text(&room, "Danke").await;
    let inbox = sim.wait_inbox(&driver, 3, WAIT).await;
    assert_eq!(inbox.len(), 3, "the colleague's edit and delete never left");
    assert_eq!(text_of(&inbox[2].message), "Anna Dispo: Danke");
}

#[tokio::test]
async fn the_management_room_opens_portals_finds_drivers_and_refuses_strangers() {
    let desk = unique_localpart("desk");
    let driver = unique_threema_id('M');
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.unknown_senders = "quarantine".into();
        c.bridge_extra = format!(
            "  permissions: {{ \"*\": none }}\n  drivers: [{{ id: {driver}, name: Erika Muster }}]"
        );
    })
    .await;
    sim.add_user(UserSpec::new(&driver).behaviour(Behaviour::silent()));
    let dispatcher = Dispatcher::login(h.synapse, &desk, "Anna Dispo").await;
    let bot = format!("@threemabot:{DOMAIN}");
    let dm = dispatcher.create_room(&[&bot]).await;
    dispatcher
        .wait_message(&dm, "the welcome", |m| {
            m["sender"] == bot.as_str() && m["content"]["body"].as_str().unwrap().contains("start")
        })
        .await;

    let asked = dispatcher.send_text(&dm, "find erika").await;
    let found = dispatcher.answer_to(&dm, &asked).await;
    assert!(
        found.contains(&driver) && found.contains("Erika Muster"),
        "{found}"
    );

    let asked = dispatcher.send_text(&dm, "start Erika").await;
    let started = dispatcher.answer_to(&dm, &asked).await;
    assert!(started.contains("https://matrix.to/#/!"), "{started}");
    let portal = dispatcher.wait_invite(WAIT).await;
    dispatcher.join(&portal).await;
    assert_eq!(
        dispatcher.state(&portal, "m.room.name", "").await["name"],
        "Erika Muster"
    );
    let morning = dispatcher.send_text(&portal, "Guten Morgen").await;
    let inbox = sim.wait_inbox(&driver, 1, WAIT).await;
    assert_eq!(text_of(&inbox[0].message), "Anna Dispo: Guten Morgen");
    // The phone can have it before the bridge has recorded the Gateway's answer.
    let store = &h.bridge.store;
    wait_for("the send recorded", WAIT, || async {
        let rows = store.outbox_by_event(&morning).await.unwrap();
        rows.iter()
            .all(|r| r.state == OutboxState::Sent)
            .then_some(())
    })
    .await;

    let asked = dispatcher.send_text(&dm, "status").await;
    let status = dispatcher.answer_to(&dm, &asked).await;
    assert!(
        status.contains("*DISPTCH") && status.contains("1 sent"),
        "{status}"
    );

    let asked = dispatcher.send_text(&dm, "start ZZZZZZZZ").await;
    assert!(
        dispatcher
            .answer_to(&dm, &asked)
            .await
            .contains("does not exist")
    );

    // Someone without permission gets a polite refusal, and the bot leaves.
    let stranger = Dispatcher::fresh(h.synapse, "stranger").await;
    let their_dm = stranger.create_room(&[&bot]).await;
    let refusal = stranger
        .wait_message(&their_dm, "the refusal", |m| m["sender"] == bot.as_str())
        .await;
    assert!(
        refusal["content"]["body"]
            .as_str()
            .unwrap()
            .contains("not permitted")
    );
    stranger
        .wait_until("the bot left", WAIT, || async {
            (!stranger.joined_members(&their_dm).await.contains(&bot)).then_some(())
        })
        .await;
}

#[tokio::test]
async fn unknown_senders_wait_in_quarantine_until_a_dispatcher_starts_them() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.unknown_senders = "quarantine".into();
    })
    .await;
    let dispatcher = Dispatcher::login(h.synapse, &desk, "Anna Dispo").await;
    let stranger = add_phone(&sim, 'M', "Fremder", Behaviour::silent());
    let sent = sim
        .send_from_user(&stranger, UserMessage::text("@room Ist da wer?"))
        .await
        .unwrap();
    let store = &h.bridge.store;
    let outcome = wait_for("the message handled", WAIT, || async {
        store
            .threema_inbox_outcome(&stranger, &sent)
            .await
            .unwrap()
            .flatten()
    })
    .await;
    let outcome = recorded(outcome);
    assert!(
        matches!(&outcome, Outcome::Refused(why) if why.contains("quarantined")),
        "{outcome}"
    );
    let quarantine = store.state_get("quarantine_room").await.unwrap().unwrap();
    let room = dispatcher.wait_invite(WAIT).await;
    assert_eq!(room, quarantine);
    dispatcher.join(&room).await;
    let held = dispatcher
        .wait_message(&room, "the held message", |m| {
            // The quarantine room is the homeserver's, shared with other tests: some of its
            // posts are redacted (their drivers erased) and have no body.
            m["content"]["body"]
                .as_str()
                .is_some_and(|b| b.contains(&stranger))
        })
        .await;
    assert!(
        held["content"]["body"]
            .as_str()
            .unwrap()
            .contains("Ist da wer?")
    );
    // The stranger's "@room" pings nobody: the notice mentions no one.
    assert_eq!(held["content"]["m.mentions"], json!({}), "{held}");
    // A stranger's file is not downloaded: only known senders make the bridge fetch blobs.
    let file = sim
        .send_from_user(
            &stranger,
            UserMessage::File {
                data: vec![7; 4096],
                media_type: "application/pdf".into(),
                file_name: Some("rechnung.pdf".into()),
                caption: None,
                thumbnail: None,
                rendering: 0,
                metadata: None,
            },
        )
        .await
        .unwrap();
    let outcome = wait_for("the file handled", WAIT, || async {
        store
            .threema_inbox_outcome(&stranger, &file)
            .await
            .unwrap()
            .flatten()
    })
    .await;
    assert!(matches!(recorded(outcome), Outcome::Refused(_)));
    assert_eq!(sim.metrics().count("blobs", 200), 0, "no blob fetched");
    assert!(
        h.bridge
            .store
            .portal_by_threema_id(&stranger)
            .await
            .unwrap()
            .is_none()
    );

    let asked = dispatcher
        .send_text(&room, &format!("start {stranger}"))
        .await;
    assert!(
        dispatcher
            .answer_to(&room, &asked)
            .await
            .contains("matrix.to")
    );
    assert!(
        h.bridge
            .store
            .portal_by_threema_id(&stranger)
            .await
            .unwrap()
            .is_some()
    );
    // From now on the sender's messages go to their portal.
    let next = sim
        .send_from_user(&stranger, UserMessage::text("Hallo Portal"))
        .await
        .unwrap();
    sim.wait_callback_outcome(&next, WAIT).await;
    wait_for("bridged into the portal", WAIT, || async {
        h.bridge
            .store
            .message_by_threema_id(&stranger, &next, threema_bridge::store::Direction::In)
            .await
            .unwrap()
    })
    .await;
}

/// `!t <name>` in a portal sends the template filled in for the driver and the dispatcher,
/// signed as any message, and shows the desk what went; `templates` lists them; an unknown
/// name sends nothing.
#[tokio::test]
async fn a_template_goes_to_the_phone_filled_in_for_the_driver() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.sections.push_str(
            "templates:\n  gruss: \"Guten Morgen {driver}, hier {dispatcher}.\"\n  \
             pause: \"Bitte Pause machen.\"\n",
        );
    })
    .await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;
    let unknown = dispatcher.send_text(&room, "!t tschuess").await;
    let refused = dispatcher.answer_to(&room, &unknown).await;
    assert!(refused.contains("no template \"tschuess\""), "{refused}");
    let asked = dispatcher.send_text(&room, "!t Gruss").await;
    let shown = dispatcher.answer_to(&room, &asked).await;
    assert_eq!(
        shown,
        "To the driver: Guten Morgen Erik Express, hier Anna Dispo."
    );
    let phone = sim.wait_inbox(&driver, 1, WAIT).await;
    match &phone[0].message {
        Decoded::Text(text) => {
            assert_eq!(
                text,
                "Anna Dispo: Guten Morgen Erik Express, hier Anna Dispo."
            )
        }
        other => panic!("not a text: {other:?}"),
    }
    // An edit of it into another template: refused, the phone keeps what it has.
    let edit = json!({
        "msgtype": "m.text",
        "body": "* !t pause",
        "m.new_content": {"msgtype": "m.text", "body": "!t pause"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": asked},
    });
    let edited = dispatcher.send_content(&room, edit).await;
    let refused = dispatcher.answer_to(&room, &edited).await;
    assert!(refused.contains("cannot be edited"), "{refused}");
    let dm = dispatcher.management_room().await;
    let listed = dispatcher.ask(&dm, "templates").await;
    assert!(
        listed.starts_with("Templates (2):") && listed.contains("• !t pause — Bitte Pause machen."),
        "{listed}"
    );
    // Nothing else reached the phone (the unknown one was before the one that went).
    assert_eq!(sim.inbox(&driver).len(), 1);
    h.stop().await;
}

/// `!where` sends the driver the configured request, signed; the next location they share is
/// the answer (a reply to it), the one after is not; `last-positions` lists the newest, and
/// looking is audited.
#[tokio::test]
async fn where_asks_the_driver_and_their_next_location_answers_it() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.bridge_extra = "  location_request: \"Wo bist du gerade? Bitte Standort teilen.\"".into();
    })
    .await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;
    let asked = dispatcher.send_text(&room, "!where").await;
    let told = dispatcher.answer_to(&room, &asked).await;
    assert!(told.starts_with("📍 Location requested"), "{told}");
    let phone = sim.wait_inbox(&driver, 1, WAIT).await;
    assert_eq!(
        text_of(&phone[0].message),
        "Anna Dispo: Wo bist du gerade? Bitte Standort teilen."
    );
    let share = |lat: f64| UserMessage::Location {
        lat,
        lon: 9.99,
        accuracy: Some(12.0),
        name: None,
        address: None,
    };
    sim.send_from_user(&driver, share(53.55)).await.unwrap();
    let answer = dispatcher
        .wait_message(&room, "the shared location", |m| {
            m["content"]["msgtype"] == "m.location"
        })
        .await;
    assert_eq!(
        answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        asked.as_str(),
        "the answer to !where: {answer}"
    );
    sim.send_from_user(&driver, share(53.6)).await.unwrap();
    let later = dispatcher
        .wait_message(&room, "the second location", |m| {
            m["content"]["msgtype"] == "m.location" && m["event_id"] != answer["event_id"]
        })
        .await;
    assert!(later["content"]["m.relates_to"].is_null(), "{later}");
    let dm = dispatcher.management_room().await;
    let listed = dispatcher.ask(&dm, "last-positions").await;
    assert!(
        listed.starts_with("📍 Last shared locations (1)")
            && listed.contains("• Erik Express — 53.60000, 9.99000 (±12 m) at ")
            && listed.contains(&format!(
                "https://matrix.to/#/{room}/{}",
                later["event_id"].as_str().unwrap()
            )),
        "{listed}"
    );
    let audited = h.bridge.store.audit_recent(None, 20).await.unwrap();
    assert!(
        audited.iter().any(|e| e.action == "positions.viewed"),
        "{audited:?}"
    );
    h.stop().await;
}

/// `bridge.language: de`: the bot answers in German, in the management room and in a driver's
/// chat, and what it sends the driver on its own (the location request) is German too; what
/// the dispatcher writes goes as written.
#[tokio::test]
async fn with_bridge_language_de_the_bot_speaks_german() {
    let desk = unique_localpart("desk");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        // An admin too: the data-protection answers speak the desk's language as well.
        c.bridge_extra =
            format!("  language: de\n  permissions: {{ \"@{desk}:{DOMAIN}\": admin }}");
    })
    .await;
    let (dispatcher, driver, room, _) = portal_with_driver(&h, &sim, &desk, "Anna Dispo").await;
    let dm = dispatcher.management_room().await;
    let help = dispatcher.ask(&dm, "help").await;
    assert!(
        help.starts_with("Befehle:\n• start <Threema-ID oder Name>"),
        "{help}"
    );
    let none = dispatcher.ask(&room, "!scheduled").await;
    assert_eq!(none, "Hier ist nichts geplant.");
    let unknown = dispatcher.ask(&room, "!t tschuess").await;
    assert!(
        unknown.contains("es gibt keinen Textbaustein „tschuess“"),
        "{unknown}"
    );
    let passed = dispatcher.ask(&room, "!at 2020-01-06 05:55 zu spät").await;
    assert_eq!(passed, "Nicht geplant: Mo 2020-01-06 05:55 UTC ist vorbei.");
    dispatcher.send_text(&room, "!where").await;
    let phone = sim.wait_inbox(&driver, 1, WAIT).await;
    assert_eq!(
        text_of(&phone[0].message),
        "Anna Dispo: Bitte aktuellen Standort teilen: 📎 (oder +) antippen, dann Standort."
    );

    let set = (dispatcher.ask(
        &dm,
        &format!("hold set {driver} --reason Streit --case C-1"),
    ))
    .await;
    assert!(
        set.starts_with("Löschsperre ") && set.ends_with(&format!(" für Fahrer {driver} gesetzt")),
        "{set}"
    );
    let list = dispatcher.ask(&dm, "hold list").await;
    assert!(
        list.contains(&format!("für Fahrer {driver}: gesetzt "))
            && list.ends_with("; Aktenzeichen C-1; Streit"),
        "{list}"
    );
    let nobody = dispatcher.ask(&dm, "hold release ?").await;
    assert_eq!(
        nobody,
        "„?“ ist weder eine Personalnummer aus dem Verzeichnis noch eine Threema-ID oder \
         Matrix-Benutzer-ID; nichts geändert"
    );
    let released = dispatcher.ask(&dm, &format!("hold release {driver}")).await;
    assert_eq!(
        released,
        format!("Löschsperre für Fahrer {driver} aufgehoben")
    );
    let retention = dispatcher.ask(&dm, "retention run --dry-run").await;
    assert!(
        retention.starts_with("Würde die Aufbewahrungsfristen anwenden:\n  Homeserver: ")
            && retention.contains(
                "Bridge: Eingangszeilen älter als retention.inbox_days werden nicht gezählt"
            ),
        "{retention}"
    );
    h.stop().await;
}
