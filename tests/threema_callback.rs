//! The Gateway callback receiver of the running bridge: what it refuses (and then stores
//! nothing), what it stores once, and every message type decoded from a real encrypted box.

use crate::common::{self, recorded};
use threema_bridge::bridge::Outcome;

use std::time::Duration;

use common::{
    bridge::{GATEWAY_ID, GATEWAY_SECRET, Harness},
    db::TestDb,
    gateway::GatewaySide,
    synapse::wait_for,
    threema::{Driver, bridge_public_key, callback_body, random_message_id},
};
use threema_bridge::threema::codec::{Location, Message, PollChoice, PollSetup, ReceiptStatus};

const WAIT: Duration = Duration::from_secs(30);

async fn post(url: &str, body: String) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn refused_callbacks_store_nothing_and_a_retried_one_is_stored_once() {
    let bridge = Harness::start(TestDb::sqlite(), |_| {}).await;
    let store = &bridge.bridge.store;
    let bridge_key = bridge_public_key(&bridge.config.private_key);
    let driver = Driver::new("DRVR0001");
    let url = &bridge.callback_url;

    let (nonce, sealed) = driver.seal(&bridge_key, 0x01, b"hello");
    let (nonce, sealed) = (hex::encode(nonce), hex::encode(sealed));
    let body = |to: &str, secret: &str, sealed: &str| {
        callback_body(
            &driver.id,
            to,
            "0102030405060708",
            "1700000000",
            &nonce,
            sealed,
            secret,
        )
    };
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "wrong secret (bad MAC)",
            body(GATEWAY_ID, "not-the-secret", &sealed),
            401,
        ),
        (
            "tampered box",
            body(GATEWAY_ID, GATEWAY_SECRET, &sealed).replacen(&sealed[..8], "00000000", 1),
            401,
        ),
        (
            "missing field",
            body(GATEWAY_ID, GATEWAY_SECRET, &sealed).replace("date=", "dat="),
            400,
        ),
        ("not a form", "\u{0}\u{1}garbage".into(), 400),
        (
            "too many fields (not scanned before the MAC)",
            format!(
                "{}{}",
                body(GATEWAY_ID, GATEWAY_SECRET, &sealed),
                (0..10).map(|i| format!("&y{i}=1")).collect::<String>()
            ),
            400,
        ),
        (
            "over the size limit",
            format!(
                "{}&pad={}",
                body(GATEWAY_ID, GATEWAY_SECRET, &sealed),
                "x".repeat(70_000)
            ),
            413,
        ),
    ];
    for (name, body, status) in cases {
        assert_eq!(post(url, body).await, status, "{name}");
    }
    assert_eq!(
        store.threema_inbox_count().await.unwrap(),
        0,
        "refused callbacks store nothing"
    );

    // The Gateway retries a callback it did not see acknowledged: stored once.
    let good = body(GATEWAY_ID, GATEWAY_SECRET, &sealed);
    for _ in 0..3 {
        assert_eq!(post(url, good.clone()).await, 200);
    }
    assert_eq!(store.threema_inbox_count().await.unwrap(), 1);
    bridge.stop().await;
}

/// What the Gateway sent (the MAC is right) is never refused, even when a field does not parse:
/// the Gateway would not send it again. It is stored as it came, recorded as failed with the
/// field named, and the admins are told.
#[tokio::test]
async fn authentic_callbacks_that_do_not_parse_are_kept_and_reported() {
    let admin = common::synapse::unique_localpart("admin");
    let admin_id = format!("@{admin}:{}", common::synapse::DOMAIN);
    let bridge = Harness::start(TestDb::sqlite(), |c| {
        c.bridge_extra = format!("  permissions:\n    \"{admin_id}\": admin");
    })
    .await;
    let store = &bridge.bridge.store;
    let admin = common::dispatcher::Dispatcher::login(bridge.synapse, &admin, "Ada Admin").await;
    let bot = bridge.synapse.appservice_bot().user_id;
    let dm = admin.create_room(&[&bot]).await;
    admin
        .wait_message(&dm, "the welcome", |m| m["sender"] == bot.as_str())
        .await;

    let bridge_key = bridge_public_key(&bridge.config.private_key);
    let driver = Driver::new("DRVR0003");
    let (nonce, sealed) = driver.seal(&bridge_key, 0x01, b"hello");
    let (nonce, sealed) = (hex::encode(nonce), hex::encode(sealed));
    let authentic = |from: &str, message_id: &str, sealed: &str| {
        callback_body(
            from,
            GATEWAY_ID,
            message_id,
            "1700000000",
            &nonce,
            sealed,
            GATEWAY_SECRET,
        )
    };
    let odd_box = random_message_id();
    let bad_sender = random_message_id();
    for body in [
        authentic(&driver.id, &odd_box, &sealed[..sealed.len() - 1]),
        authentic("not-an-id", &bad_sender, &sealed),
    ] {
        assert_eq!(
            post(&bridge.callback_url, body).await,
            200,
            "taken, not refused"
        );
    }
    let outcome = |sender: &'static str, id: String| async move {
        let outcome = wait_for("the outcome", WAIT, || async {
            store
                .threema_inbox_outcome(sender, &id)
                .await
                .unwrap()
                .flatten()
        })
        .await;
        recorded(outcome)
    };
    let driver_id: &'static str = "DRVR0003";
    assert_eq!(
        outcome(driver_id, odd_box).await,
        Outcome::failed("malformed callback: box")
    );
    assert_eq!(
        outcome("not-an-id", bad_sender).await,
        Outcome::failed("malformed callback: sender")
    );
    let reports = admin
        .wait_messages(&dm, 3, WAIT)
        .await
        .iter()
        .filter_map(|m| m["content"]["body"].as_str().map(str::to_owned))
        .filter(|body| body.contains("cannot be read"))
        .count();
    assert_eq!(reports, 2, "each reported to the admin once");
    bridge.stop().await;
}

/// A client that sends from `ip` (any 127.x address is this machine).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_flood_of_refused_callbacks_is_blocked_and_the_gateway_still_served() {
    let bridge = Harness::start(TestDb::sqlite(), |c| {
        c.threema_extra = "  callback_refusals_per_minute: 5\n  callback_block_seconds: 600".into();
    })
    .await;
    let bridge_key = bridge_public_key(&bridge.config.private_key);
    let driver = Driver::new("DRVR0002");
    let forged = || {
        let (nonce, sealed) = driver.seal(&bridge_key, 0x01, b"x");
        let (nonce, sealed) = (hex::encode(nonce), hex::encode(sealed));
        let id = random_message_id();
        callback_body(
            &driver.id,
            GATEWAY_ID,
            &id,
            "1700000000",
            &nonce,
            &sealed,
            "guessed",
        )
    };
    let attacker = client_from([127, 0, 0, 2]);
    let mut answers = Vec::new();
    for _ in 0..20 {
        let response = attacker
            .post(&bridge.callback_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(forged())
            .send()
            .await
            .unwrap();
        answers.push(response.status().as_u16());
    }
    assert!(answers[..5].iter().all(|s| *s == 401), "{answers:?}");
    assert!(answers[10..].iter().all(|s| *s == 429), "{answers:?}");
    // Valid callbacks are taken from the Gateway's address and from the blocked one alike
    // (behind a reverse proxy both are the proxy's).
    let mut valid_ids = Vec::new();
    for client in [reqwest::Client::new(), attacker] {
        let message_id = random_message_id();
        let valid = driver.callback(&bridge_key, &message_id, 0x01, b"still here");
        let status = client
            .post(&bridge.callback_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(valid)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        valid_ids.push(message_id);
    }
    let stored = bridge
        .bridge
        .store
        .threema_inbox_pending(0, 100)
        .await
        .unwrap();
    let stored: Vec<_> = stored.iter().map(|item| item.message_id.clone()).collect();
    assert_eq!(stored, valid_ids, "only the valid callbacks are stored");
    bridge.stop().await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bridge = Harness::start(TestDb::sqlite(), |c| {
        c.threema_extra = "  callback_body_timeout_seconds: 1".into();
    })
    .await;
    let address = bridge
        .callback_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        format!(
            "POST /threema/callback HTTP/1.1\r\nHost: {address}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nfrom=ECHO",
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // The rest never comes; the bridge answers and closes instead of waiting forever.
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_string(&mut answer))
        .await
        .expect("the bridge gives up on the body")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // Meanwhile and afterwards others are served.
    let bridge_key = bridge_public_key(&bridge.config.private_key);
    let driver = Driver::new("DRVR0003");
    let valid = driver.callback(&bridge_key, &random_message_id(), 0x01, b"hi");
    assert_eq!(post(&bridge.callback_url, valid).await, 200);
    bridge.stop().await;
}

/// The listener that may face the internet serves the callback and nothing else.
#[tokio::test]
async fn the_callback_listener_exposes_nothing_else() {
    let bridge = Harness::start(TestDb::sqlite(), |_| {}).await;
    let base = bridge
        .callback_url
        .trim_end_matches("/threema/callback")
        .to_owned();
    let http = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/health"),
        ("GET", "/ready"),
        ("PUT", "/_matrix/app/v1/transactions/1"),
        ("GET", "/scim/v2/Users"),
        ("GET", "/threema/callback"),
    ] {
        let response = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(response.status().as_u16(), 404 | 405),
            "{method} {path}: {}",
            response.status()
        );
    }
    bridge.stop().await;
}

#[tokio::test]
async fn every_message_type_is_decoded_from_a_real_box() {
    let bridge = Harness::start(TestDb::sqlite(), |_| {}).await;
    let store = &bridge.bridge.store;
    let bridge_key = bridge_public_key(&bridge.config.private_key);
    let driver = Driver::new("DRVR0002");
    // The key cache holds the driver's key, as after a first lookup at the Gateway.
    store
        .public_key_insert(&driver.id, &driver.public_key_hex())
        .await
        .unwrap();
    let gateway = GatewaySide::start(&bridge.config).await;

    let ids = |hex_ids: &[&str]| -> Vec<_> {
        hex_ids
            .iter()
            .map(|h| threema_bridge::threema::client::parse_message_id(h).unwrap())
            .collect()
    };
    let poll_setup = [
        99u64.to_le_bytes().to_vec(),
        br#"{"d":"Tour 7 annehmen?","s":0,"a":0,"t":0,"u":0,"o":0,"c":[{"i":1,"n":"Ja","o":0},{"i":2,"n":"Nein","o":1}]}"#.to_vec(),
    ]
    .concat();
    let poll_vote = [
        b"*DISPTCH".to_vec(),
        99u64.to_le_bytes().to_vec(),
        b"[[1,1],[2,0]]".to_vec(),
    ]
    .concat();
    let long_text = "Ü".repeat(3000); // 6000 bytes: more than fits a box the Gateway lets us send
    let cases: Vec<(u8, Vec<u8>, Message)> = vec![
        (
            0x01,
            long_text.clone().into_bytes(),
            Message::Text(long_text),
        ),
        (
            0x10,
            b"52.52,13.405,8\nLager\nAm Hafen 3\\n10115 Berlin".to_vec(),
            Message::Location(Location {
                latitude: 52.52,
                longitude: 13.405,
                accuracy_m: Some(8.0),
                name: Some("Lager".into()),
                address: Some("Am Hafen 3\n10115 Berlin".into()),
            }),
        ),
        (
            0x80,
            hex::decode("02a1a2a3a4a5a6a7a8b1b2b3b4b5b6b7b8").unwrap(),
            Message::DeliveryReceipt {
                status: ReceiptStatus::Read,
                message_ids: ids(&["a1a2a3a4a5a6a7a8", "b1b2b3b4b5b6b7b8"]),
            },
        ),
        (0x90, vec![1], Message::Typing(true)),
        // Protobuf: field 1 fixed64 (tag 0x09), field 2 string (tag 0x12).
        (
            0x91,
            [
                vec![0x09],
                hex::decode("a1a2a3a4a5a6a7a8").unwrap(),
                vec![0x12, 4],
                b"neu!".to_vec(),
            ]
            .concat(),
            Message::Edit {
                message_id: ids(&["a1a2a3a4a5a6a7a8"])[0],
                text: "neu!".into(),
            },
        ),
        (
            0x92,
            [vec![0x09], hex::decode("a1a2a3a4a5a6a7a8").unwrap()].concat(),
            Message::Delete {
                message_id: ids(&["a1a2a3a4a5a6a7a8"])[0],
            },
        ),
        (
            0x15,
            poll_setup,
            Message::PollSetup(PollSetup {
                poll_id: 99,
                description: "Tour 7 annehmen?".into(),
                closed: false,
                multiple_choice: false,
                choices: vec![
                    PollChoice {
                        id: 1,
                        name: "Ja".into(),
                    },
                    PollChoice {
                        id: 2,
                        name: "Nein".into(),
                    },
                ],
            }),
        ),
        (
            0x16,
            poll_vote,
            Message::PollVote {
                creator: "*DISPTCH".into(),
                poll_id: 99,
                choices: vec![(1, true), (2, false)],
            },
        ),
        (
            0x41,
            b"group stuff".to_vec(),
            Message::Unsupported {
                message_type: 0x41,
                data: b"group stuff".to_vec(),
            },
        ),
    ];
    let driver_key = *driver.secret_key.public_key().as_bytes();
    let mut sent = Vec::new();
    for (message_type, data, expected) in &cases {
        let message_id = random_message_id();
        let body = driver.callback(&bridge_key, &message_id, *message_type, data);
        // What the bridge's Gateway side decodes from this very body...
        let (got, received) = gateway.receive_body(&body, &driver_key).await;
        assert_eq!(got.message_id, message_id);
        assert_eq!(&received.message, expected);
        assert_eq!(got.from.as_str(), driver.id);
        assert_eq!(got.date, 1_700_000_000);
        assert_eq!(got.nickname.as_deref(), Some("Driver Dan"));
        // ...and the running bridge takes it.
        assert_eq!(post(&bridge.callback_url, body).await, 200);
        sent.push((message_id, expected.clone()));
    }
    // Outcomes are recorded; the unsupported one is kept, not dropped.
    let sender = driver.id.as_str();
    let outcome = |id: String| async move {
        wait_for("an outcome", WAIT, || async {
            store
                .threema_inbox_outcome(sender, &id)
                .await
                .unwrap()
                .flatten()
        })
        .await
    };
    // Text goes on into the driver's portal; the outcome names the Matrix event.
    let Outcome::Bridged(text) = recorded(outcome(sent[0].0.clone()).await) else {
        panic!("the text is bridged")
    };
    let event = text.strip_prefix("text, 6000 bytes → ").expect(&text);
    let mapped = store
        .message_by_threema_id(sender, &sent[0].0, threema_bridge::store::Direction::In)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mapped.event_id, event);
    assert_eq!(
        recorded(outcome(sent[2].0.clone()).await),
        Outcome::bridged("receipt read for 2 message(s): 0 message(s) updated, 2 unknown"),
        "a receipt for messages the bridge never sent changes nothing"
    );
    assert_eq!(
        recorded(outcome(sent[8].0.clone()).await),
        Outcome::failed("unsupported type 0x41")
    );

    bridge.stop().await;
}
