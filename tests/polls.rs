//! Polls both ways, end to end: a dispatcher (matrix-sdk) starts Matrix polls as Element does
//! (MSC3381), the simulator's phones get Threema polls and vote; the votes come back as poll
//! responses from the drivers' ghosts, the broadcast board counts them, ending the poll closes
//! it on the phones with the results. A driver's own poll is voted in from the desk.

use crate::common;

use std::time::Duration;

use common::{
    bridge::{GATEWAY_ID, Harness},
    dispatcher::Dispatcher,
    synapse::{unique_localpart, wait_for},
    threema::add_phone,
};
use serde_json::{Value, json};
use threema_gateway_sim::{Behaviour, Decoded, Simulator, UserMessage};

use crate::broadcasts::{board_text, open_broadcast};

const WAIT: Duration = Duration::from_secs(120);
const BOT: &str = "@threemabot:dispatch.test";
const START: &str = "org.matrix.msc3381.poll.start";
const RESPONSE: &str = "org.matrix.msc3381.poll.response";
const END: &str = "org.matrix.msc3381.poll.end";

/// A poll as Element Web sends it.
fn element_poll(question: &str, answers: &[(&str, &str)]) -> Value {
    let answers: Vec<Value> = (answers.iter())
        .map(|(id, text)| json!({"id": id, "org.matrix.msc1767.text": text}))
        .collect();
    json!({
        START: {
            "kind": "org.matrix.msc3381.poll.disclosed",
            "max_selections": 1,
            "question": {"org.matrix.msc1767.text": question, "body": question, "msgtype": "m.text"},
            "answers": answers,
        },
        "org.matrix.msc1767.text": question,
    })
}

/// The poll setups the phone received: poll id and JSON, oldest first.
fn poll_setups(sim: &Simulator, phone: &str) -> Vec<(u64, Value)> {
    (sim.inbox(phone).into_iter())
        .filter_map(|m| match m.message {
            Decoded::PollSetup { poll_id, json } => Some((poll_id, json)),
            _ => None,
        })
        .collect()
}

async fn wait_setups(sim: &Simulator, phone: &str, n: usize) -> Vec<(u64, Value)> {
    wait_for(&format!("{n} poll setup(s) on {phone}"), WAIT, || async {
        let setups = poll_setups(sim, phone);
        (setups.len() >= n).then_some(setups)
    })
    .await
}

/// The first event in `room` that `matches`, waiting for it.
async fn wait_event(
    desk: &Dispatcher,
    room: &str,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    desk.wait_until(what, WAIT, || async {
        desk.timeline(room).await.into_iter().find(|e| matches(e))
    })
    .await
}

fn relates_to(event: &Value, target: &str) -> bool {
    event["content"]["m.relates_to"]["event_id"] == target
}

/// A poll in a broadcast room reaches three phones as a Threema poll; two votes come back as
/// poll responses from the ghosts in the portals, the board counts them, and ending the poll
/// closes it on every phone with the results and ends each portal's copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broadcast_poll_is_voted_on_three_phones_counted_and_closed() {
    let desk_name = unique_localpart("polls");
    let (h, sim) = Harness::with_simulator(|c| {
        c.sections = "broadcast:\n  board_interval_ms: 300\n".into();
        c.dispatchers = vec![format!("@{desk_name}:dispatch.test")];
    })
    .await;
    let drivers: Vec<String> = (0..3)
        .map(|n| add_phone(&sim, 'V', &format!("Voter {n}"), Behaviour::silent()))
        .collect();
    for d in &drivers {
        sim.send_from_user(d, UserMessage::text("hallo"))
            .await
            .unwrap();
    }
    let store = &h.bridge.store;
    wait_for("the portals", WAIT, || async {
        (store.portals().await.unwrap().len() >= 3).then_some(())
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_name, "Anna Dispo").await;
    let dm = desk.management_room().await;
    let (_, room) = open_broadcast(&desk, &dm, &drivers.join(", ")).await;

    let poll = desk
        .send_event(
            &room,
            START,
            element_poll("Extra tour Saturday?", &[("yes", "Yes"), ("no", "No")]),
        )
        .await;
    let preview = desk
        .wait_message(&room, "the preview", |m| {
            m["sender"] == BOT && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == poll
        })
        .await;
    let preview_text = preview["content"]["body"].as_str().unwrap();
    assert!(preview_text.contains("3 recipient(s)"), "{preview_text}");
    let board = preview["event_id"].as_str().unwrap().to_owned();
    desk.react(&room, &board, "👍").await;

    // On each phone: one open poll, signed, with the two choices in order.
    let mut poll_ids = Vec::new();
    for d in &drivers {
        let setups = wait_setups(&sim, d, 1).await;
        let (poll_id, json) = &setups[0];
        assert_eq!(json["d"], "Anna Dispo: Extra tour Saturday?", "{json}");
        assert_eq!(json["s"], 0);
        assert_eq!(json["a"], 0, "single choice");
        assert_eq!(json["c"][0]["n"], "Yes");
        assert_eq!(json["c"][1]["n"], "No");
        poll_ids.push(*poll_id);
    }
    // Two vote (the third does not); the first changes their mind.
    let vote = |driver: &String, poll_id: u64, choices: Vec<(u32, bool)>| {
        let sim = &sim;
        let driver = driver.clone();
        async move {
            sim.send_from_user(
                &driver,
                UserMessage::PollVote {
                    creator: GATEWAY_ID.into(),
                    poll_id,
                    choices,
                },
            )
            .await
            .unwrap();
        }
    };
    vote(&drivers[0], poll_ids[0], vec![(0, false), (1, true)]).await;
    vote(&drivers[0], poll_ids[0], vec![(0, true), (1, false)]).await;
    vote(&drivers[1], poll_ids[1], vec![(0, false), (1, true)]).await;

    let text = desk
        .wait_until("the board's tally", WAIT, || async {
            let text = board_text(&desk, &room, &board).await;
            text.contains("🗳️ Yes 1 · No 1 · not voted 1")
                .then_some(text)
        })
        .await;
    assert!(!text.contains("(ended)"), "{text}");

    // In the first driver's portal: the bot's copy is a poll, the driver's votes answer it
    // from their ghost (Element counts the latest: Yes).
    let portal = store
        .portal_by_threema_id(&drivers[0])
        .await
        .unwrap()
        .unwrap()
        .room_id
        .to_string();
    desk.wait_invited_to(&portal, WAIT).await;
    desk.join(&portal).await;
    let copy = wait_event(&desk, &portal, "the poll's copy", |e| e["type"] == START).await;
    assert_eq!(copy["sender"], BOT);
    let copy_start = &copy["content"][START];
    assert_eq!(
        copy_start["question"]["org.matrix.msc1767.text"],
        "📢 Broadcast from Anna Dispo: Extra tour Saturday?"
    );
    assert_eq!(
        copy_start["answers"][0]["id"], "yes",
        "the desk's answer ids"
    );
    let copy_id = copy["event_id"].as_str().unwrap();
    let responses = desk
        .wait_until("both votes in the portal", WAIT, || async {
            let votes: Vec<Value> = (desk.timeline(&portal).await.into_iter())
                .filter(|e| e["type"] == RESPONSE && relates_to(e, copy_id))
                .collect();
            (votes.len() == 2).then_some(votes)
        })
        .await;
    let ghost = format!("@threema_{}:dispatch.test", drivers[0].to_lowercase());
    for response in &responses {
        assert_eq!(response["sender"], ghost);
    }
    let answers: Vec<&Value> = (responses.iter())
        .map(|r| &r["content"][RESPONSE]["answers"])
        .collect();
    assert!(
        answers.contains(&&json!(["no"])) && answers.contains(&&json!(["yes"])),
        "{answers:?}"
    );

    // Ended in the broadcast room: closed on every phone with its results.
    desk.send_event(
        &room,
        END,
        json!({
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
            "org.matrix.msc3381.poll.end": {},
            "org.matrix.msc1767.text": "Ended the poll",
        }),
    )
    .await;
    for (n, d) in drivers.iter().enumerate() {
        let setups = wait_setups(&sim, d, 2).await;
        let (poll_id, closed) = &setups[1];
        assert_eq!(*poll_id, poll_ids[n], "the same poll");
        assert_eq!(closed["s"], 1, "closed: {closed}");
        let expected_votes = match n {
            0 => (json!([d]), json!([1]), json!([0])),
            1 => (json!([d]), json!([0]), json!([1])),
            _ => (json!([]), json!([]), json!([])),
        };
        assert_eq!(closed["p"], expected_votes.0, "participants: {closed}");
        assert_eq!(closed["c"][0]["r"], expected_votes.1, "yes: {closed}");
        assert_eq!(closed["c"][1]["r"], expected_votes.2, "no: {closed}");
    }
    let end = wait_event(&desk, &portal, "the copy's end", |e| {
        e["type"] == END && relates_to(e, copy_id)
    })
    .await;
    assert_eq!(end["sender"], BOT, "ended by who started it");
    assert!(
        (end["content"]["org.matrix.msc1767.text"].as_str().unwrap()).contains("Yes 1 · No 1"),
        "{end}"
    );
    desk.wait_until("the board ended", WAIT, || async {
        let text = board_text(&desk, &room, &board).await;
        text.contains("(ended)").then_some(())
    })
    .await;
    h.stop().await;
}

/// In a portal: the desk's poll goes to the phone, the driver's vote comes back from their
/// ghost, the end closes it on the phone. The driver's own poll becomes a Matrix poll the desk
/// votes in: the phone gets the company's vote and a line saying who voted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polls_in_a_portal_go_both_ways() {
    let desk_name = unique_localpart("pollport");
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk_name}:dispatch.test")];
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_name, "Anna Dispo").await;
    let driver = add_phone(&sim, 'W', "Erika Muster", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Bin da"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    desk.wait_messages(&room, 1, WAIT).await;

    // The desk's poll.
    let poll = desk
        .send_event(
            &room,
            START,
            element_poll("Pause jetzt?", &[("a1", "Ja"), ("a2", "Nein")]),
        )
        .await;
    let setups = wait_setups(&sim, &driver, 1).await;
    let (poll_id, json) = &setups[0];
    assert_eq!(json["d"], "Anna Dispo: Pause jetzt?");
    sim.send_from_user(
        &driver,
        UserMessage::PollVote {
            creator: GATEWAY_ID.into(),
            poll_id: *poll_id,
            choices: vec![(0, true), (1, false)],
        },
    )
    .await
    .unwrap();
    let response = wait_event(&desk, &room, "the driver's vote", |e| {
        e["type"] == RESPONSE && relates_to(e, &poll)
    })
    .await;
    assert_eq!(response["content"][RESPONSE]["answers"], json!(["a1"]));
    desk.send_event(
        &room,
        END,
        json!({
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll},
            "org.matrix.msc3381.poll.end": {},
            "org.matrix.msc1767.text": "Ended the poll",
        }),
    )
    .await;
    let setups = wait_setups(&sim, &driver, 2).await;
    let closed = &setups[1].1;
    assert_eq!(closed["s"], 1);
    assert_eq!(closed["p"], json!([driver]));
    assert_eq!(closed["c"][0]["t"], 1, "{closed}");

    // The driver's poll, voted in from Element.
    sim.send_from_user(
        &driver,
        UserMessage::PollSetup {
            poll_id: 77,
            description: "Wo laden?".into(),
            choices: vec!["Rampe 1".into(), "Rampe 2".into()],
            multiple: false,
            closed: false,
        },
    )
    .await
    .unwrap();
    let theirs = wait_event(&desk, &room, "the driver's poll", |e| {
        e["type"] == START && e["sender"] != desk.user_id.as_str()
    })
    .await;
    let theirs_id = theirs["event_id"].as_str().unwrap();
    let before = sim.inbox(&driver).len();
    desk.send_event(
        &room,
        RESPONSE,
        json!({
            "m.relates_to": {"rel_type": "m.reference", "event_id": theirs_id},
            // Two answers in a single-choice poll: the first counts (MSC3381).
            RESPONSE: {"answers": ["1", "0"]},
        }),
    )
    .await;
    let inbox = sim.wait_inbox(&driver, before + 2, WAIT).await;
    let vote = inbox[before..]
        .iter()
        .find_map(|m| match &m.message {
            Decoded::PollVote {
                creator,
                poll_id,
                choices,
            } => Some((creator.clone(), *poll_id, choices.clone())),
            _ => None,
        })
        .expect("the company's vote");
    assert_eq!(vote, (driver.clone(), 77, vec![(0, false), (1, true)]));
    let said = inbox[before..].iter().find_map(|m| match &m.message {
        Decoded::Text(text) => Some(text.clone()),
        _ => None,
    });
    assert_eq!(said.as_deref(), Some("Anna Dispo: 🗳️ voted Rampe 2"));

    // Closed by the driver: the Matrix poll ends, with the company's vote counted.
    sim.send_from_user(
        &driver,
        UserMessage::PollSetup {
            poll_id: 77,
            description: "Wo laden?".into(),
            choices: vec!["Rampe 1".into(), "Rampe 2".into()],
            multiple: false,
            closed: true,
        },
    )
    .await
    .unwrap();
    let end = wait_event(&desk, &room, "the driver's poll ended", |e| {
        e["type"] == END && relates_to(e, theirs_id)
    })
    .await;
    assert_ne!(end["sender"], desk.user_id.as_str());
    assert!(
        (end["content"]["org.matrix.msc1767.text"].as_str().unwrap())
            .contains("Rampe 1 0 · Rampe 2 1"),
        "{end}"
    );
    h.stop().await;
}
