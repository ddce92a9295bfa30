//! The simulated phones (§9.3): what they decode, when they answer, what they send, and the
//! simulator's deterministic mode and reset.

use crate::common;

use std::time::Duration;

use common::{GATEWAY_ID, GATEWAY_SK, Receiver, SECRET, WAIT};
use threema_gateway::{
    ApiBuilder, E2eApi, E2eMessage, ThreemaId,
    protocol::e2e::{
        MessageType,
        typing_indicator::{TypingIndicatorMessage, TypingStatus},
    },
};
use threema_gateway_sim::{
    Behaviour, Decoded, SimConfig, SimError, Simulator, UserMessage, UserSpec, crypto, message,
};

fn api(sim: &Simulator) -> E2eApi {
    ApiBuilder::new(ThreemaId::try_from(GATEWAY_ID).unwrap(), SECRET)
        .with_custom_endpoint(sim.base_url())
        .with_private_key_bytes(&GATEWAY_SK)
        .unwrap()
        .into_e2e()
        .unwrap()
}

async fn send_text(api: &E2eApi, to: &str, text: &str, receipts: bool) -> String {
    let to = ThreemaId::try_from(to).unwrap();
    let key = api.lookup_pubkey(&to).await.unwrap();
    let message = api
        .encode_and_encrypt(&E2eMessage::Text(text.into()), &key)
        .unwrap();
    api.send(&to, &message, receipts).await.unwrap().to_hex_le()
}

/// Opens a callback form as the Gateway client would, with the simulator's own codec.
fn open_callback(sim: &Simulator, got: &common::Received) -> (u8, Vec<u8>) {
    let sender = sim.user(got.field("from").unwrap()).unwrap().public_key;
    let nonce: [u8; 24] = hex::decode(got.field("nonce").unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let plain = crypto::box_open(
        &hex::decode(got.field("box").unwrap()).unwrap(),
        &nonce,
        &sender,
        &GATEWAY_SK,
    )
    .unwrap();
    let container = message::open_container(&plain).unwrap();
    assert!(
        container.data.len() + usize::from(container.padding) >= 32,
        "§5.2 minimum"
    );
    (container.message_type, container.data.to_vec())
}

#[tokio::test]
async fn automatic_receipts_follow_the_rules() {
    let sim = common::start(common::config()).await;
    sim.add_user(UserSpec::new("DRIVER01").behaviour(Behaviour {
        read_after: Some(Duration::from_secs(5)),
        ..Behaviour::default()
    }));
    let api = api(&sim);
    let with_receipts = send_text(&api, "DRIVER01", "please confirm", true).await;
    let outbox = sim.wait_outbox("DRIVER01", 2, WAIT).await;
    let receipts: Vec<_> = outbox.iter().map(|sent| sent.message.clone()).collect();
    assert_eq!(
        receipts,
        vec![
            UserMessage::DeliveryReceipt {
                status: 1,
                message_ids: vec![with_receipts.clone()]
            },
            UserMessage::DeliveryReceipt {
                status: 2,
                message_ids: vec![with_receipts.clone()]
            },
        ]
    );

    // noDeliveryReceipts, typing indicators and undecryptable boxes get no receipts. The
    // text afterwards proves the phone is still answering.
    send_text(&api, "DRIVER01", "quiet", false).await;
    let to = ThreemaId::try_from("DRIVER01").unwrap();
    let key = api.lookup_pubkey(&to).await.unwrap();
    let typing = E2eMessage::TypingIndicator(TypingIndicatorMessage::new(TypingStatus::Typing));
    api.send(&to, &api.encode_and_encrypt(&typing, &key).unwrap(), true)
        .await
        .unwrap();
    let wrong_key = threema_gateway::RecipientKey::from(crypto::public_key(&[5; 32]));
    let lost = api
        .encode_and_encrypt(&E2eMessage::Text("lost".into()), &wrong_key)
        .unwrap();
    api.send(&to, &lost, true).await.unwrap();
    let last = send_text(&api, "DRIVER01", "last", true).await;

    let inbox = sim.wait_inbox("DRIVER01", 5, WAIT).await;
    assert!(inbox[1].no_delivery_receipts);
    assert_eq!(inbox[3].message, Decoded::Undecryptable);
    let outbox = sim.wait_outbox("DRIVER01", 4, WAIT).await;
    let acknowledged: Vec<_> = outbox
        .iter()
        .map(|sent| match &sent.message {
            UserMessage::DeliveryReceipt {
                status,
                message_ids,
            } => (*status, message_ids[0].clone()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        acknowledged,
        vec![
            (1, with_receipts.clone()),
            (2, with_receipts),
            (1, last.clone()),
            (2, last),
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn echo_phone_sends_texts_back() {
    let receiver = Receiver::ok().await;
    let mut config = common::config();
    config.callback_url = Some(receiver.url.clone());
    let sim = common::start(config).await;
    sim.add_user(UserSpec::new("ECHOECHO").behaviour(Behaviour {
        auto_received: false,
        echo: true,
        ..Behaviour::default()
    }));
    send_text(&api(&sim), "ECHOECHO", "ping", true).await;
    let got = receiver.wait(1).await.remove(0);
    assert_eq!(open_callback(&sim, &got), (0x01, b"ping".to_vec()));
    sim.shutdown().await;
}

#[tokio::test]
async fn phone_decodes_legacy_image_poll_setup_and_unknown_types() {
    let sim = common::start(common::config()).await;
    sim.add_user(UserSpec::new("DRIVER02").behaviour(Behaviour::silent()));
    let api = api(&sim);
    let to = ThreemaId::try_from("DRIVER02").unwrap();
    let key = api.lookup_pubkey(&to).await.unwrap();

    // Deprecated image: crypto_box'd blob, nonce in the message (the SDK's own helpers).
    #[allow(deprecated)]
    {
        let image = api.encrypt_raw(b"\x89PNG image", &key).unwrap();
        let blob = api.blob_upload(&image, false).await.unwrap();
        let message = api
            .encrypt_image_msg(&blob, 10, &image.nonce, &key)
            .unwrap();
        api.send(&to, &message, true).await.unwrap();
    }
    let mut poll = 77u64.to_le_bytes().to_vec();
    poll.extend_from_slice(
        br#"{"d":"Schicht morgen?","s":0,"a":0,"t":0,"c":[{"i":0,"n":"Ja","o":0}]}"#,
    );
    api.send(
        &to,
        &api.encrypt(&poll, MessageType::Other(0x15), &key).unwrap(),
        true,
    )
    .await
    .unwrap();
    api.send(
        &to,
        &api.encrypt(b"\x01\x02", MessageType::Other(0x4b), &key)
            .unwrap(),
        true,
    )
    .await
    .unwrap();
    // A file message whose blob does not exist.
    let broken = br#"{"j":0,"i":0,"k":"4444444444444444444444444444444444444444444444444444444444444444","b":"00112233445566778899aabbccddeeff","m":"text/plain","s":3}"#;
    api.send(
        &to,
        &api.encrypt(broken, MessageType::File, &key).unwrap(),
        true,
    )
    .await
    .unwrap();

    let inbox = sim.wait_inbox("DRIVER02", 4, WAIT).await;
    assert_eq!(
        inbox[0].message,
        Decoded::Image {
            data: b"\x89PNG image".to_vec()
        }
    );
    match &inbox[1].message {
        Decoded::PollSetup { poll_id, json } => {
            assert_eq!(*poll_id, 77);
            assert_eq!(json["d"], "Schicht morgen?");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        inbox[2].message,
        Decoded::Other {
            message_type: 0x4b,
            data: vec![1, 2]
        }
    );
    assert_eq!(inbox[2].plaintext, vec![0x4b, 1, 2]);
    assert!(
        matches!(&inbox[3].message, Decoded::Invalid { message_type: Some(0x17), reason } if reason.contains("not found"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn phone_sends_legacy_media_and_polls_like_an_app() {
    let receiver = Receiver::ok().await;
    let mut config = common::config();
    config.callback_url = Some(receiver.url.clone());
    let sim = common::start(config).await;
    sim.add_user(UserSpec::new("DRIVER03"));
    let messages = [
        UserMessage::LegacyImage {
            data: b"jpeg".to_vec(),
        },
        UserMessage::LegacyAudio {
            data: b"opus".to_vec(),
            duration_s: 7,
        },
        UserMessage::LegacyVideo {
            data: b"mp4".to_vec(),
            thumbnail: b"thumb".to_vec(),
            duration_s: 12,
        },
        UserMessage::PollSetup {
            poll_id: 5,
            description: "Pause?".into(),
            choices: vec!["Ja".into(), "Nein".into()],
            multiple: false,
            closed: false,
        },
        UserMessage::Raw {
            message_type: 0x82,
            data: vec![9, 9],
        },
    ];
    for message in messages {
        sim.send_from_user("DRIVER03", message).await.unwrap();
    }
    let received = receiver.wait(5).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let blob = |id: String| {
        let http = http.clone();
        let url = format!(
            "{}/blobs/{id}?from=*TESTGW1&secret={SECRET}",
            sim.base_url()
        );
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec()
        }
    };
    let sender = sim.user("DRIVER03").unwrap().public_key;

    let parsed: Vec<message::Parsed> = received
        .iter()
        .map(|got| {
            let (kind, data) = open_callback(&sim, got);
            message::parse(kind, &data).unwrap()
        })
        .collect();
    let message::Parsed::LegacyImage {
        blob_id,
        size,
        nonce,
    } = &parsed[0]
    else {
        panic!("{:?}", parsed[0])
    };
    let image =
        crypto::box_open(&blob(blob_id.clone()).await, nonce, &sender, &GATEWAY_SK).unwrap();
    assert_eq!((image.as_slice(), *size), (&b"jpeg"[..], 4));
    let message::Parsed::LegacyAudio {
        duration_s,
        blob_id,
        key,
        ..
    } = &parsed[1]
    else {
        panic!("{:?}", parsed[1])
    };
    let audio =
        crypto::secretbox_open(key, &crypto::FILE_NONCE, &blob(blob_id.clone()).await).unwrap();
    assert_eq!((audio.as_slice(), *duration_s), (&b"opus"[..], 7));
    let message::Parsed::LegacyVideo {
        blob_id,
        thumbnail_blob_id,
        key,
        duration_s,
        ..
    } = &parsed[2]
    else {
        panic!("{:?}", parsed[2])
    };
    let video =
        crypto::secretbox_open(key, &crypto::FILE_NONCE, &blob(blob_id.clone()).await).unwrap();
    let thumb = crypto::secretbox_open(
        key,
        &crypto::THUMBNAIL_NONCE,
        &blob(thumbnail_blob_id.clone()).await,
    )
    .unwrap();
    assert_eq!(
        (video.as_slice(), thumb.as_slice(), *duration_s),
        (&b"mp4"[..], &b"thumb"[..], 12)
    );
    let message::Parsed::PollSetup { poll_id, json } = &parsed[3] else {
        panic!("{:?}", parsed[3])
    };
    assert_eq!(*poll_id, 5);
    assert_eq!(json["c"][1]["n"], "Nein");
    assert_eq!(json["a"], 0);
    assert_eq!(
        parsed[4],
        message::Parsed::Other {
            message_type: 0x82,
            data: vec![9, 9]
        }
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_phone_messages_are_refused() {
    let sim = common::start(common::config()).await;
    sim.add_user(UserSpec::new("DRIVER04"));
    // Longer than the limit whatever the random padding (1..=255 bytes) adds.
    let too_long = UserMessage::Text("x".repeat(7812));
    assert!(matches!(
        sim.send_from_user("DRIVER04", too_long).await,
        Err(SimError::MessageTooLarge { .. })
    ));
    // 6000 bytes (the apps' text limit) always fits.
    sim.send_from_user("DRIVER04", UserMessage::Text("x".repeat(6000)))
        .await
        .unwrap();
    let bad_receipt = UserMessage::DeliveryReceipt {
        status: 1,
        message_ids: vec!["xyz".into()],
    };
    assert!(matches!(
        sim.send_from_user("DRIVER04", bad_receipt).await,
        Err(SimError::InvalidMessage(_))
    ));
    assert_eq!(
        sim.send_from_user("NOBODY00", UserMessage::text("hi"))
            .await,
        Err(SimError::UnknownUser("NOBODY00".into()))
    );
    assert!(matches!(
        sim.try_add_user(UserSpec::new("lower")),
        Err(SimError::InvalidId(_))
    ));
    assert!(matches!(
        sim.try_add_user(UserSpec::new("DRIVER04")),
        Err(SimError::DuplicateUser(_))
    ));
    assert!(matches!(
        sim.try_wait_inbox("DRIVER04", 1, Duration::from_millis(50))
            .await,
        Err(SimError::Timeout { .. })
    ));
    sim.shutdown().await;
}

/// Same seed, same clock: identical keys, message IDs and callback bodies.
#[tokio::test]
async fn deterministic_mode_repeats_itself() {
    async fn run() -> (String, [u8; 32], String, Vec<u8>) {
        let receiver = Receiver::ok().await;
        let mut config: SimConfig = common::config();
        config.seed = Some(42);
        config.start_time = Some(1_750_000_000);
        config.callback_url = Some(receiver.url.clone());
        let sim = common::start(config).await;
        let user = sim.add_user(UserSpec::new("DRIVER05").nickname("Seeded"));
        sim.advance_clock(Duration::from_secs(60));
        let id = sim
            .send_from_user("DRIVER05", UserMessage::text("same"))
            .await
            .unwrap();
        let got = receiver.wait(1).await.remove(0);
        assert_eq!(got.field("date"), Some("1750000060"));
        sim.shutdown().await;
        (
            id,
            user.public_key,
            got.field("mac").unwrap().to_owned(),
            got.body.to_vec(),
        )
    }
    let first = run().await;
    assert_eq!(first, run().await);
}

#[tokio::test]
async fn non_persistent_blobs_expire_after_their_first_download() {
    let mut config = common::config();
    config.blob_retention_after_download = Duration::from_secs(100); // 100 ms at 0.001
    let sim = common::start(config).await;
    let api = api(&sim);
    let blob = api.blob_upload_raw(b"once", false).await.unwrap();
    let kept = api.blob_upload_raw(b"kept", true).await.unwrap();
    assert_eq!(api.blob_download(&blob).await.unwrap(), b"once");
    assert_eq!(api.blob_download(&kept).await.unwrap(), b"kept");
    // Only the passing of (scaled) time can be awaited here.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(api.blob_download(&blob).await.is_err());
    assert_eq!(api.blob_download(&kept).await.unwrap(), b"kept");
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_restores_the_start() {
    let sim = common::start(common::config()).await;
    let user = sim.add_user(UserSpec::new("DRIVER06"));
    let api = api(&sim);
    send_text(&api, "DRIVER06", "before", true).await;
    sim.wait_outbox("DRIVER06", 1, WAIT).await;
    sim.inject_fault("credits", threema_gateway_sim::Fault::status(500));
    sim.reset(false);
    assert!(sim.inbox("DRIVER06").is_empty() && sim.outbox("DRIVER06").is_empty());
    assert!(sim.callbacks().is_empty() && sim.faults().is_empty());
    assert_eq!((sim.credits(), sim.metrics().credits_used), (1000, 0));
    assert_eq!(sim.user("DRIVER06").unwrap().public_key, user.public_key);
    assert_eq!(api.lookup_credits().await.unwrap(), 1000);
    sim.reset(true);
    assert!(sim.users().is_empty());
    sim.shutdown().await;
}
