//! The bridge's Gateway side against the simulator (an independent implementation of the
//! Gateway and of the drivers' phones, real NaCl crypto): every message type both ways, key
//! caching and key changes, credits, and every Gateway status as a typed error.

use crate::common::{self, recorded};
use threema_bridge::bridge::Outcome;

use std::time::Duration;

use common::{
    bridge::{GATEWAY_ID, GATEWAY_SECRET, Harness},
    gateway::GatewaySide,
    synapse::wait_for,
};
use serde_json::json;
use threema_bridge::threema::{
    Media, OutgoingFile, ThreemaClient, ThreemaError, ThreemaId,
    callback::Callback,
    client::parse_message_id,
    codec::{Location, Message, ReceiptStatus, Rendering},
    receive::Received,
};
use threema_gateway_sim::{Behaviour, Decoded, Fault, UserMessage, UserSpec};

const WAIT: Duration = Duration::from_secs(30);

fn id(s: &str) -> ThreemaId {
    ThreemaId::parse(s).unwrap()
}

#[tokio::test]
async fn what_the_bridge_sends_arrives_decrypted_on_the_phone() {
    let (h, sim) = Harness::with_simulator(|_| {}).await;
    let (sim, b) = (&sim, &h.bridge);
    sim.add_user(UserSpec::new("DRIVER01").behaviour(Behaviour::silent()));
    let driver = id("DRIVER01");
    let credits_before = sim.credits();

    let key = b.keys.trusted(&driver).await.unwrap();
    assert_eq!(b.keys.trusted(&driver).await.unwrap(), key);
    assert_eq!(
        sim.metrics().count("pubkeys", 200),
        1,
        "the key is looked up once, then cached"
    );

    let client = &b.threema;
    let text_id = client
        .send_text(&driver, &key, "Bitte Tour 7 übernehmen")
        .await
        .unwrap();
    let photo: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
    let file = OutgoingFile {
        data: photo.clone(),
        media_type: "image/jpeg".into(),
        file_name: Some("ladung.jpg".into()),
        caption: Some("Ladung gesichert?".into()),
        thumbnail: Some((vec![0xff, 0xd8, 1, 2, 3], "image/jpeg".into())),
        media: true,
        width_height: Some((640, 480)),
        duration_s: None,
    };
    client.send_file(&driver, &key, &file).await.unwrap();
    let depot = Location {
        latitude: 48.137,
        longitude: 11.575,
        accuracy_m: None,
        name: Some("Depot Süd".into()),
        address: Some("Lagerweg 1\n80331 München".into()),
    };
    client.send_location(&driver, &key, &depot).await.unwrap();
    client
        .send_receipt(
            &driver,
            &key,
            ReceiptStatus::Read,
            &["0102030405060708".into()],
        )
        .await
        .unwrap();
    client
        .send_edit(&driver, &key, &text_id, "Bitte Tour 8 übernehmen")
        .await
        .unwrap();
    client.send_delete(&driver, &key, &text_id).await.unwrap();

    let inbox = sim.wait_inbox("DRIVER01", 6, WAIT).await;
    assert_eq!(
        inbox[0].message,
        Decoded::Text("Bitte Tour 7 übernehmen".into())
    );
    assert_eq!(inbox[0].message_id, text_id);
    let Decoded::File {
        json,
        data,
        thumbnail,
    } = &inbox[1].message
    else {
        panic!("{:?}", inbox[1].message)
    };
    assert_eq!(data, &photo);
    assert_eq!(thumbnail.as_deref(), Some(&[0xff, 0xd8, 1, 2, 3][..]));
    assert_eq!(
        (json["m"].as_str(), json["n"].as_str(), json["d"].as_str()),
        (
            Some("image/jpeg"),
            Some("ladung.jpg"),
            Some("Ladung gesichert?")
        )
    );
    assert_eq!(
        (
            json["j"].as_i64(),
            json["x"]["w"].as_i64(),
            json["x"]["h"].as_i64()
        ),
        (Some(1), Some(640), Some(480))
    );
    assert_eq!(
        inbox[2].message,
        Decoded::Location {
            lat: 48.137,
            lon: 11.575,
            accuracy: None,
            name: Some("Depot Süd".into()),
            address: Some("Lagerweg 1\n80331 München".into())
        }
    );
    assert_eq!(
        inbox[3].message,
        Decoded::DeliveryReceipt {
            status: 2,
            message_ids: vec!["0102030405060708".into()]
        }
    );
    assert_eq!(
        inbox[4].message,
        Decoded::Edit {
            message_id: text_id.clone(),
            text: "Bitte Tour 8 übernehmen".into()
        }
    );
    assert_eq!(
        inbox[5].message,
        Decoded::Delete {
            message_id: text_id
        }
    );
    for m in &inbox {
        assert!(
            m.plaintext.len() - 1 + m.padding as usize >= 32,
            "padded to at least 32 bytes: {m:?}"
        );
        assert!(!m.no_delivery_receipts);
    }

    // Six messages and two blobs, one credit each; the bridge reads the same balance.
    assert_eq!(sim.credits(), credits_before - 8);
    assert_eq!(b.credits.refresh().await, Some(sim.credits()));
    assert_eq!(b.credits.balance(), Some(sim.credits()));
}

#[tokio::test]
async fn everything_a_phone_sends_reaches_the_bridge_decoded() {
    let (h, sim) = Harness::with_simulator(|_| {}).await;
    let (sim, b) = (&sim, &h.bridge);
    sim.add_user(
        UserSpec::new("DRIVER02")
            .nickname("Dana")
            .behaviour(Behaviour::silent()),
    );
    // The callbacks go to the bridge's Gateway side on its own, which shows what each became.
    let gateway = GatewaySide::start(&h.config).await;
    sim.set_callback_url(&gateway.callback_url);

    let long_text = "Stau auf der A9 bei Kilometer 312. ".repeat(170); // ~6000 bytes
    let picture: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let messages = vec![
        UserMessage::text(long_text.clone()),
        UserMessage::File {
            data: picture.clone(),
            media_type: "image/png".into(),
            file_name: Some("schaden.png".into()),
            caption: Some("Delle hinten links".into()),
            thumbnail: Some((vec![9, 8, 7], "image/png".into())),
            rendering: 1,
            metadata: Some(json!({"w": 800, "h": 600})),
        },
        UserMessage::Location {
            lat: 50.11,
            lon: 8.68,
            accuracy: Some(15.0),
            name: None,
            address: Some("Rastplatz Taunusblick".into()),
        },
        UserMessage::DeliveryReceipt {
            status: 3,
            message_ids: vec!["1112131415161718".into()],
        },
        UserMessage::Typing(true),
        UserMessage::Edit {
            message_id: "2122232425262728".into(),
            text: "korrigiert".into(),
        },
        UserMessage::Delete {
            message_id: "2122232425262728".into(),
        },
        UserMessage::PollSetup {
            poll_id: 5,
            description: "Pause jetzt?".into(),
            choices: vec!["Ja".into(), "Nein".into()],
            multiple: false,
            closed: false,
        },
        UserMessage::PollVote {
            creator: GATEWAY_ID.into(),
            poll_id: 5,
            choices: vec![(0, true), (1, false)],
        },
        UserMessage::LegacyImage {
            data: vec![1, 2, 3, 4, 5],
        },
        UserMessage::LegacyAudio {
            data: vec![6; 300],
            duration_s: 4,
        },
        UserMessage::LegacyVideo {
            data: vec![7; 400],
            thumbnail: vec![8; 40],
            duration_s: 9,
        },
        UserMessage::Raw {
            message_type: 0x41,
            data: b"group message".to_vec(),
        },
    ];
    let mut ids = Vec::new();
    for m in messages {
        ids.push(sim.send_from_user("DRIVER02", m).await.unwrap());
    }
    let mut got = Vec::new();
    for _ in 0..ids.len() {
        let callback = gateway.next_callback(WAIT).await;
        let key = gateway
            .client
            .lookup_public_key(&callback.from)
            .await
            .unwrap();
        let received = gateway.receive(&callback, &key).await.unwrap();
        got.push(Got { callback, received });
    }
    // In the order the phone sent them, each once, with the phone's ids and nickname.
    assert_eq!(
        got.iter()
            .map(|g| g.callback.message_id.clone())
            .collect::<Vec<_>>(),
        ids
    );
    assert!(got.iter().all(|g| g.callback.from.as_str() == "DRIVER02"
        && g.callback.nickname.as_deref() == Some("Dana")));

    assert_eq!(got[0].message, Message::Text(long_text));
    let Message::File(file) = &got[1].message else {
        panic!("{:?}", got[1].message)
    };
    assert_eq!(
        (
            file.media_type.as_str(),
            file.file_name.as_deref(),
            file.caption.as_deref()
        ),
        ("image/png", Some("schaden.png"), Some("Delle hinten links"))
    );
    assert_eq!(file.rendering(), Rendering::Media);
    assert_eq!(
        (file.metadata.width, file.metadata.height),
        (Some(800), Some(600))
    );
    assert_eq!(
        got[1].media,
        Some(Media {
            data: picture.into(),
            thumbnail: Some(vec![9, 8, 7].into())
        })
    );
    assert_eq!(
        got[2].message,
        Message::Location(Location {
            latitude: 50.11,
            longitude: 8.68,
            accuracy_m: Some(15.0),
            name: None,
            address: Some("Rastplatz Taunusblick".into())
        })
    );
    assert_eq!(
        got[3].message,
        Message::DeliveryReceipt {
            status: ReceiptStatus::Acknowledged,
            message_ids: vec![parse_message_id("1112131415161718").unwrap()]
        }
    );
    assert_eq!(got[4].message, Message::Typing(true));
    let edited = parse_message_id("2122232425262728").unwrap();
    assert_eq!(
        got[5].message,
        Message::Edit {
            message_id: edited,
            text: "korrigiert".into()
        }
    );
    assert_eq!(got[6].message, Message::Delete { message_id: edited });
    let Message::PollSetup(poll) = &got[7].message else {
        panic!("{:?}", got[7].message)
    };
    assert_eq!(
        (poll.poll_id, poll.description.as_str(), poll.choices.len()),
        (5, "Pause jetzt?", 2)
    );
    assert_eq!(
        poll.choices
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["Ja", "Nein"]
    );
    assert_eq!(
        got[8].message,
        Message::PollVote {
            creator: GATEWAY_ID.into(),
            poll_id: 5,
            choices: vec![(0, true), (1, false)]
        }
    );
    assert_eq!(got[9].media.as_ref().unwrap().data, vec![1, 2, 3, 4, 5]);
    assert!(matches!(
        got[10].message,
        Message::LegacyAudio { duration_s: 4, .. }
    ));
    assert_eq!(got[10].media.as_ref().unwrap().data, vec![6; 300]);
    assert_eq!(
        got[11].media,
        Some(Media {
            data: vec![7; 400].into(),
            thumbnail: Some(vec![8; 40].into())
        })
    );
    assert_eq!(
        got[12].message,
        Message::Unsupported {
            message_type: 0x41,
            data: b"group message".to_vec()
        }
    );

    // Every callback was answered 200 on the first attempt.
    for message_id in &ids {
        let outcome = sim.wait_callback_outcome(message_id, WAIT).await;
        assert!(format!("{outcome:?}").contains("Delivered"), "{outcome:?}");
    }

    // The running bridge keeps what it cannot bridge, saying what it was.
    sim.set_callback_url(&h.callback_url);
    let group_message = sim
        .send_from_user(
            "DRIVER02",
            UserMessage::Raw {
                message_type: 0x41,
                data: b"group message".to_vec(),
            },
        )
        .await
        .unwrap();
    let store = &b.store;
    let unsupported = wait_for("the kept outcome", WAIT, || async {
        store
            .threema_inbox_outcome("DRIVER02", &group_message)
            .await
            .unwrap()
            .flatten()
    })
    .await;
    assert_eq!(
        recorded(unsupported),
        Outcome::failed("unsupported type 0x41")
    );
}

/// A callback and what the bridge's Gateway side made of it.
struct Got {
    callback: Callback,
    received: Received,
}

impl std::ops::Deref for Got {
    type Target = Received;

    fn deref(&self) -> &Received {
        &self.received
    }
}

#[tokio::test]
async fn undecryptable_messages_and_changed_keys_are_kept_not_bridged() {
    let (h, sim) = Harness::with_simulator(|_| {}).await;
    let (sim, b) = (&sim, &h.bridge);
    let store = &b.store;
    sim.add_user(UserSpec::new("DRIVER03").behaviour(Behaviour::silent()));
    let real_key = hex::encode(sim.user("DRIVER03").unwrap().public_key);
    let outcome = |message_id: String| async move {
        wait_for("an outcome", WAIT, || async {
            store
                .threema_inbox_outcome("DRIVER03", &message_id)
                .await
                .unwrap()
                .flatten()
        })
        .await
    };

    // A box that does not open with the (unchanged) key: kept as undecryptable.
    let undecryptable = sim
        .send_from_user("DRIVER03", UserMessage::Undecryptable)
        .await
        .unwrap();
    let kept = recorded(outcome(undecryptable).await);
    assert!(
        matches!(&kept, Outcome::Failed(why) if why.starts_with("cannot decrypt")),
        "{kept}"
    );
    assert_eq!(
        store
            .public_key("DRIVER03")
            .await
            .unwrap()
            .unwrap()
            .public_key,
        real_key
    );

    // The cache holds another key than the Gateway now has (a changed key): the message is held
    // and the new key recorded, not trusted.
    sim.add_user(UserSpec::new("DRIVER04").behaviour(Behaviour::silent()));
    let new_key = hex::encode(sim.user("DRIVER04").unwrap().public_key);
    store
        .public_key_insert("DRIVER04", &"ab".repeat(32))
        .await
        .unwrap();
    let held = sim
        .send_from_user("DRIVER04", UserMessage::text("neues Handy"))
        .await
        .unwrap();
    let store = &b.store;
    let kept = wait_for("the held outcome", WAIT, || async {
        store
            .threema_inbox_outcome("DRIVER04", &held)
            .await
            .unwrap()
            .flatten()
    })
    .await;
    assert_eq!(
        recorded(kept),
        Outcome::held("the sender's public key changed")
    );
    let cached = store.public_key("DRIVER04").await.unwrap().unwrap();
    assert_eq!(
        (cached.public_key, cached.pending_key),
        ("ab".repeat(32), Some(new_key))
    );

    // Once an operator accepts the new key, the held message is opened, then the next ones:
    // the driver's portal shows both, in that order.
    assert_eq!(
        b.keys.accept(&id("DRIVER04"), "test").await.unwrap(),
        threema_bridge::store::KeyAcceptance::Accepted { requeued: 1 }
    );
    sim.send_from_user("DRIVER04", UserMessage::text("jetzt?"))
        .await
        .unwrap();
    let bot = h.synapse.appservice_bot();
    let texts = wait_for("both messages in the portal", WAIT, || async {
        let portal = store.portal_by_threema_id("DRIVER04").await.unwrap()?;
        let texts: Vec<String> = bot
            .messages(portal.room_id.as_str())
            .await
            .iter()
            .map(|m| m["content"]["body"].as_str().unwrap_or_default().to_owned())
            .collect();
        (texts.len() >= 2).then_some(texts)
    })
    .await;
    assert_eq!(texts, ["neues Handy", "jetzt?"]);
}

#[tokio::test]
async fn gateway_statuses_become_typed_errors_without_the_secret() {
    let (h, sim) = Harness::with_simulator(|c| c.gateway_timeout_s = 1).await;
    let (sim, b) = (&sim, &h.bridge);
    sim.add_user(UserSpec::new("DRIVER05").behaviour(Behaviour::silent()));
    let driver = id("DRIVER05");
    let key = b.keys.trusted(&driver).await.unwrap();
    let client = &b.threema;
    let mut errors = Vec::new();
    let mut check = |e: ThreemaError, what: &str| {
        assert!(!e.to_string().contains(GATEWAY_SECRET), "{what}: {e}");
        errors.push(e.to_string());
        e
    };

    // 400: no such recipient. 404: no such ID to look up.
    let e = check(
        client
            .send_text(&id("NOSUCH01"), &key, "x")
            .await
            .unwrap_err(),
        "400",
    );
    assert!(matches!(e, ThreemaError::BadRecipient) && !e.is_transient());
    let e = check(
        client.lookup_public_key(&id("NOSUCH01")).await.unwrap_err(),
        "404",
    );
    assert!(matches!(e, ThreemaError::NotFound));
    // 413: a text too long for a 4000-byte box.
    let e = check(
        client
            .send_text(&driver, &key, &"x".repeat(4100))
            .await
            .unwrap_err(),
        "413",
    );
    assert!(matches!(e, ThreemaError::TooLarge));
    // 429 and 500: worth a retry.
    sim.inject_fault("send_e2e", Fault::status(429).times(1));
    let e = check(
        client.send_text(&driver, &key, "x").await.unwrap_err(),
        "429",
    );
    assert!(matches!(e, ThreemaError::RateLimited) && e.is_transient());
    sim.inject_fault("send_e2e", Fault::status(500).times(1));
    let e = check(
        client.send_text(&driver, &key, "x").await.unwrap_err(),
        "500",
    );
    assert!(matches!(e, ThreemaError::Server) && e.is_transient());
    // 402: nothing is sent without credits.
    let before = sim.inbox("DRIVER05").len();
    let credits = sim.credits();
    sim.set_credits(0);
    let e = check(
        client.send_text(&driver, &key, "x").await.unwrap_err(),
        "402",
    );
    assert!(matches!(e, ThreemaError::NoCredits) && !e.is_transient());
    assert_eq!(sim.inbox("DRIVER05").len(), before);
    sim.set_credits(credits);
    // Accepted, then no answer: the message did arrive, so the outcome is unknown, not "failed".
    sim.inject_fault("send_e2e", Fault::accept_then_timeout().times(1));
    let e = check(
        client
            .send_text(&driver, &key, "vielleicht")
            .await
            .unwrap_err(),
        "timeout",
    );
    assert!(e.outcome_unknown(), "{e}");
    let inbox = sim.wait_inbox("DRIVER05", before + 1, WAIT).await;
    assert_eq!(
        inbox.last().unwrap().message,
        Decoded::Text("vielleicht".into())
    );

    // 401: wrong secret. Unreachable: nothing listens.
    let mut config = b.config.threema.clone();
    config.secret = "wrong-secret-value".to_owned().into();
    let wrong = ThreemaClient::new(&config).unwrap();
    let e = check(wrong.credits().await.unwrap_err(), "401");
    assert!(matches!(e, ThreemaError::BadCredentials));
    assert!(!e.to_string().contains("wrong-secret-value"));
    let mut config = b.config.threema.clone();
    config.api_url = url::Url::parse("http://127.0.0.1:9").unwrap();
    let e = check(
        ThreemaClient::new(&config)
            .unwrap()
            .credits()
            .await
            .unwrap_err(),
        "unreachable",
    );
    assert!(matches!(e, ThreemaError::Unreachable(_)) && e.is_transient() && !e.outcome_unknown());
    assert!(!format!("{:?}", ThreemaClient::new(&config).unwrap()).contains(GATEWAY_SECRET));
}

#[tokio::test]
async fn a_message_waits_out_a_gateway_outage_and_arrives_once() {
    let (h, sim) = Harness::with_simulator(|_| {}).await;
    let driver = common::threema::unique_threema_id('D');
    sim.add_user(UserSpec::new(&driver).behaviour(Behaviour::silent()));
    // The callback arrives, but the Gateway fails the sender's key lookup three times.
    sim.inject_fault("pubkeys", Fault::status(500).times(3));
    let message_id = sim
        .send_from_user(&driver, UserMessage::text("trotz Ausfall"))
        .await
        .unwrap();
    let store = &h.bridge.store;
    let outcome = wait_for(
        "the message to be bridged after the outage",
        WAIT,
        || async {
            store
                .threema_inbox_outcome(&driver, &message_id)
                .await
                .unwrap()
                .flatten()
        },
    )
    .await;
    let outcome = recorded(outcome);
    assert!(
        matches!(&outcome, Outcome::Bridged(what) if what.starts_with("text, 13 bytes → $")),
        "{outcome}"
    );
    assert_eq!(
        sim.metrics().count("pubkeys", 500),
        3,
        "retried through the outage"
    );
    assert_eq!(sim.metrics().count("pubkeys", 200), 1);
    // Stored once, retried in place, bridged once.
    assert_eq!(store.threema_inbox_count().await.unwrap(), 1);
    let mapped = store
        .message_by_threema_id(&driver, &message_id, threema_bridge::store::Direction::In)
        .await
        .unwrap();
    assert!(mapped.is_some());
}

/// Sends `text` to each of `drivers` at the same moment through `client`.
async fn send_at_once(
    client: &ThreemaClient,
    drivers: &[(ThreemaId, [u8; 32])],
    text: &str,
) -> Vec<Result<String, ThreemaError>> {
    let sends = drivers
        .iter()
        .map(|(driver, key)| client.send_text(driver, key, text));
    futures::future::join_all(sends).await
}

#[tokio::test]
async fn messages_sent_at_once_leave_together_and_each_sender_hears_its_own_answer() {
    let (h, sim) = Harness::with_simulator(|_| {}).await;
    let (sim, b) = (&sim, &h.bridge);
    let mut drivers = Vec::new();
    for _ in 0..40 {
        let driver = common::threema::unique_threema_id('B');
        sim.add_user(UserSpec::new(&driver).behaviour(Behaviour::silent()));
        let driver = id(&driver);
        let key = b.keys.trusted(&driver).await.unwrap();
        drivers.push((driver, key));
    }
    let phone = |driver: &ThreemaId, n: usize| {
        let inbox = sim.inbox(driver.as_str());
        assert_eq!(inbox.len(), n, "{driver}: {inbox:?}");
        inbox.last().cloned().unwrap()
    };

    // Forty at once: fewer requests than messages, through the bulk endpoint, and each sender
    // is answered with the id its own driver's phone shows.
    let client = ThreemaClient::new(&b.config.threema).unwrap();
    let ids = send_at_once(&client, &drivers, "Tour 9 fällt aus").await;
    for ((driver, _), sent) in drivers.iter().zip(ids) {
        let got = phone(driver, 1);
        assert_eq!(got.message, Decoded::Text("Tour 9 fällt aus".into()));
        assert_eq!(got.message_id, sent.unwrap());
    }
    // (The test's runtime has one thread: all forty are queued before the request leaves.)
    let metrics = sim.metrics();
    assert_eq!(
        (
            metrics.count("send_e2e_bulk", 200),
            metrics.count("send_e2e", 200)
        ),
        (1, 0)
    );
    assert!(
        drivers
            .iter()
            .all(|(d, _)| phone(d, 1).via == "send_e2e_bulk")
    );

    // One recipient the Gateway refuses: only its sender hears so.
    let mut with_unknown = drivers.clone();
    with_unknown.insert(7, (id("NOSUCH07"), drivers[7].1));
    let mut answers = send_at_once(&client, &with_unknown, "zwei").await;
    let refused = answers.remove(7);
    assert!(
        matches!(refused, Err(ThreemaError::BadRecipient)),
        "{refused:?}"
    );
    for ((driver, _), answer) in drivers.iter().zip(answers) {
        assert_eq!(phone(driver, 2).message_id, answer.unwrap());
    }

    // A bulk request refused as a whole (the Gateway's rate limit) goes one by one.
    sim.inject_fault("send_e2e_bulk", Fault::status(429));
    let answers = send_at_once(&client, &drivers, "drei").await;
    for ((driver, _), answer) in drivers.iter().zip(answers) {
        let got = phone(driver, 3);
        assert_eq!(
            (got.message, got.via, got.message_id),
            (
                Decoded::Text("drei".into()),
                "send_e2e".into(),
                answer.unwrap()
            )
        );
    }
    sim.clear_faults();

    // No answer to a bulk request: every sender hears that the outcome is unknown, and
    // nothing is sent again (each phone has it once).
    sim.inject_fault("send_e2e_bulk", Fault::accept_then_timeout().times(1));
    let mut config = b.config.threema.clone();
    config.timeout = Duration::from_secs(2);
    let impatient = ThreemaClient::new(&config).unwrap();
    let answers = send_at_once(&impatient, &drivers, "vier").await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(e) if e.outcome_unknown())),
        "{answers:?}"
    );
    for (driver, _) in &drivers {
        let inbox = sim.wait_inbox(driver.as_str(), 4, WAIT).await;
        assert_eq!(inbox.len(), 4, "{driver}: once, not again");
        assert_eq!(inbox[3].message, Decoded::Text("vier".into()));
    }
    sim.clear_faults();

    // The Gateway failing a bulk request (part of it may have gone out): every sender hears
    // so, as after a single send's 5xx, and the lanes retry later; nothing goes out meanwhile.
    sim.inject_fault("send_e2e_bulk", Fault::status(500).times(1));
    let answers = send_at_once(&client, &drivers, "fünf").await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(ThreemaError::Server))),
        "{answers:?}"
    );
    assert!(
        drivers
            .iter()
            .all(|(d, _)| sim.inbox(d.as_str()).len() == 4)
    );

    // Credits for five of forty: the request is refused as a whole, one by one five go.
    let credits = sim.credits();
    sim.set_credits(5);
    let answers = send_at_once(&client, &drivers, "fünf").await;
    let (went, refused): (Vec<_>, Vec<_>) = answers.iter().partition(|a| a.is_ok());
    assert_eq!(went.len(), 5);
    assert!(
        refused
            .iter()
            .all(|a| matches!(a, Err(ThreemaError::NoCredits)))
    );
    let got: usize = drivers
        .iter()
        .map(|(d, _)| sim.inbox(d.as_str()).len() - 4)
        .sum();
    assert_eq!(got, 5, "each sent one arrived");
    sim.set_credits(credits);

    // A Gateway without the endpoint: one by one from then on, asked once.
    sim.inject_fault("send_e2e_bulk", Fault::status(404));
    for _ in 0..2 {
        let answers = send_at_once(&client, &drivers, "sechs").await;
        for ((driver, _), answer) in drivers.iter().zip(answers) {
            let last = sim.inbox(driver.as_str()).pop().unwrap();
            assert_eq!(
                (last.message_id, last.via),
                (answer.unwrap(), "send_e2e".into())
            );
        }
    }
    assert_eq!(sim.metrics().count("send_e2e_bulk", 404), 1);
}
