//! The official Rust SDK `threema-gateway` 0.21 as an independent client of the simulator:
//! what it encrypts arrives decoded on the phone, and what a phone sends passes the SDK's MAC
//! check and decryption with the same content.

use crate::common;

use std::time::Duration;

use common::{GATEWAY_ID, GATEWAY_SK, Receiver, SECRET, WAIT};
use threema_gateway::{
    ApiBuilder, BulkE2eMessage, BulkE2eMessageSendStatus, E2eApi, E2eMessage, EncryptedFileData,
    FileData, LookupCriterion, RecipientKey, ThreemaId, decrypt_file_data, encrypt_file_data,
    errors::ApiError,
    protocol::{
        MessageId,
        e2e::{
            delivery_receipt::{DeliveryReceipt, DeliveryReceiptMessage},
            edit_delete::{DeleteMessage, EditMessage},
            file::{FileMessage, RenderingType},
            location::LocationMessage,
            typing_indicator::{TypingIndicatorMessage, TypingStatus},
        },
    },
};
use threema_gateway_sim::{
    Behaviour, Decoded, SimConfig, Simulator, UserMessage, UserSpec, crypto,
};

fn id(s: &str) -> ThreemaId {
    ThreemaId::try_from(s).unwrap()
}

fn api(sim: &Simulator) -> E2eApi {
    ApiBuilder::new(id(GATEWAY_ID), SECRET)
        .with_custom_endpoint(sim.base_url())
        .with_private_key_bytes(&GATEWAY_SK)
        .unwrap()
        .into_e2e()
        .unwrap()
}

async fn setup(config: SimConfig) -> (Simulator, E2eApi) {
    let sim = common::start(config).await;
    let api = api(&sim);
    (sim, api)
}

#[tokio::test]
async fn crate_messages_arrive_decoded_on_the_phone() {
    let (sim, api) = setup(common::config()).await;
    let user = sim.add_user(UserSpec::new("DRIVER01").behaviour(Behaviour::silent()));
    let to = id("DRIVER01");
    let key = api.lookup_pubkey(&to).await.unwrap();
    assert_eq!(key.as_bytes(), user.public_key);

    // Text, with delivery receipts forbidden.
    let text = api
        .encode_and_encrypt(&E2eMessage::Text("Grüezi 🚚".into()), &key)
        .unwrap();
    let text_id = api.send(&to, &text, false).await.unwrap();

    // File with thumbnail: two uploads, then the message.
    let (encrypted, blob_key) = encrypt_file_data(&FileData {
        file: b"%PDF-1.7 delivery note".to_vec(),
        thumbnail: Some(b"\xff\xd8jpeg".to_vec()),
    })
    .unwrap();
    let file_blob = api.blob_upload_raw(&encrypted.file, false).await.unwrap();
    let thumb_blob = api
        .blob_upload_raw(encrypted.thumbnail.as_ref().unwrap(), false)
        .await
        .unwrap();
    let file = FileMessage::builder(file_blob.clone(), blob_key, "application/pdf", 22)
        .thumbnail(thumb_blob, "image/jpeg")
        .file_name("note.pdf")
        .description("Delivery note")
        .rendering_type(RenderingType::File)
        .build()
        .unwrap();
    let file_id = api
        .send(
            &to,
            &api.encode_and_encrypt(&E2eMessage::File(file), &key)
                .unwrap(),
            true,
        )
        .await
        .unwrap();

    let location = LocationMessage::builder(47.3769, 8.5417)
        .accuracy(12.5)
        .name("Depot")
        .address("Bahnhofstrasse 1, Zürich")
        .build()
        .unwrap();
    let location_msg = api
        .encode_and_encrypt(&E2eMessage::Location(location), &key)
        .unwrap();
    api.send(&to, &location_msg, true).await.unwrap();

    let receipt = DeliveryReceiptMessage::new(
        DeliveryReceipt::Read,
        MessageId::from_hex_le("0102030405060708").unwrap(),
    );
    let receipt_msg = api
        .encode_and_encrypt(&E2eMessage::DeliveryReceipt(receipt), &key)
        .unwrap();
    api.send(&to, &receipt_msg, true).await.unwrap();

    let edit = EditMessage::new(text_id, "Grüezi!".into());
    api.send(
        &to,
        &api.encode_and_encrypt(&E2eMessage::Edit(edit), &key)
            .unwrap(),
        true,
    )
    .await
    .unwrap();
    let delete = DeleteMessage::new(text_id);
    api.send(
        &to,
        &api.encode_and_encrypt(&E2eMessage::Delete(delete), &key)
            .unwrap(),
        true,
    )
    .await
    .unwrap();
    let typing = TypingIndicatorMessage::new(TypingStatus::Typing);
    api.send(
        &to,
        &api.encode_and_encrypt(&E2eMessage::TypingIndicator(typing), &key)
            .unwrap(),
        true,
    )
    .await
    .unwrap();

    let inbox = sim.wait_inbox("DRIVER01", 7, WAIT).await;
    assert_eq!(inbox[0].message_id, text_id.to_hex_le());
    assert_eq!(inbox[0].message, Decoded::Text("Grüezi 🚚".into()));
    assert!(inbox[0].no_delivery_receipts);
    assert!(!inbox[1].no_delivery_receipts);
    assert_eq!(inbox[1].message_id, file_id.to_hex_le());
    match &inbox[1].message {
        Decoded::File {
            json,
            data,
            thumbnail,
        } => {
            assert_eq!(data, b"%PDF-1.7 delivery note");
            assert_eq!(thumbnail.as_deref(), Some(&b"\xff\xd8jpeg"[..]));
            assert_eq!(json["n"], "note.pdf");
            assert_eq!(json["d"], "Delivery note");
            assert_eq!(json["m"], "application/pdf");
        }
        other => panic!("expected a file, got {other:?}"),
    }
    assert_eq!(
        inbox[2].message,
        Decoded::Location {
            lat: 47.3769,
            lon: 8.5417,
            accuracy: Some(12.5),
            name: Some("Depot".into()),
            address: Some("Bahnhofstrasse 1, Zürich".into()),
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
            message_id: text_id.to_hex_le(),
            text: "Grüezi!".into()
        }
    );
    assert_eq!(
        inbox[5].message,
        Decoded::Delete {
            message_id: text_id.to_hex_le()
        }
    );
    assert_eq!(inbox[6].message, Decoded::Typing(true));

    // The phone marked the non-persistent blobs done: they are gone from the server.
    assert!(matches!(
        api.blob_download(&file_blob).await,
        Err(ApiError::IdNotFound)
    ));
    // 7 messages + 2 uploads.
    assert_eq!(api.lookup_credits().await.unwrap(), 1000 - 9);
    assert_eq!(sim.metrics().credits_used, 9);
    sim.shutdown().await;
}

/// Decodes one callback body with the SDK, as a bridge would: MAC check, then decryption with
/// the sender's public key from the simulator's directory.
async fn crate_decode(api: &E2eApi, body: &[u8]) -> (threema_gateway::IncomingMessage, E2eMessage) {
    let incoming = api
        .decode_incoming_message(body)
        .expect("the SDK accepts the MAC");
    let sender_key = api.lookup_pubkey(&incoming.from).await.unwrap();
    let message = api
        .decrypt_and_decode_incoming_message(&incoming, &sender_key)
        .expect("the SDK decrypts and decodes");
    (incoming, message)
}

#[tokio::test]
async fn phone_messages_pass_the_crates_mac_check_and_decryption() {
    let receiver = Receiver::ok().await;
    let mut config = common::config();
    config.callback_url = Some(receiver.url.clone());
    let (sim, api) = setup(config).await;
    sim.add_user(UserSpec::new("DRIVER02").nickname("Driver Dana"));

    let long_text = "Ä".repeat(3000); // 6000 bytes: a box larger than the 4000 bytes of send_e2e
    let messages = vec![
        UserMessage::text("Unterwegs, 10 Minuten"),
        UserMessage::Text(long_text.clone()),
        UserMessage::File {
            data: b"PNGDATA".to_vec(),
            media_type: "image/png".into(),
            file_name: Some("photo.png".into()),
            caption: Some("Schaden".into()),
            thumbnail: Some((b"thumb".to_vec(), "image/jpeg".into())),
            rendering: 1,
            metadata: Some(serde_json::json!({"w": 640, "h": 480})),
        },
        UserMessage::Location {
            lat: 46.948,
            lon: 7.4474,
            accuracy: None,
            name: None,
            address: Some("Bundesplatz, Bern".into()),
        },
        UserMessage::DeliveryReceipt {
            status: 3,
            message_ids: vec!["1112131415161718".into()],
        },
        UserMessage::Edit {
            message_id: "2122232425262728".into(),
            text: "korrigiert".into(),
        },
        UserMessage::Delete {
            message_id: "2122232425262728".into(),
        },
        UserMessage::Typing(false),
        UserMessage::PollVote {
            creator: "*TESTGW1".into(),
            poll_id: 9,
            choices: vec![(0, false), (1, true)],
        },
    ];
    let mut ids = Vec::new();
    for message in messages {
        ids.push(sim.send_from_user("DRIVER02", message).await.unwrap());
    }
    let undecryptable = sim
        .send_from_user("DRIVER02", UserMessage::Undecryptable)
        .await
        .unwrap();

    let received = receiver.wait(10).await;
    let mut decoded = Vec::new();
    for (got, expected_id) in received.iter().zip(&ids) {
        let (incoming, message) = crate_decode(&api, &got.body).await;
        assert_eq!(incoming.message_id.to_hex_le(), *expected_id);
        assert_eq!(incoming.from.as_str(), "DRIVER02");
        assert_eq!(incoming.to.as_str(), GATEWAY_ID);
        assert_eq!(incoming.nickname.as_deref(), Some("Driver Dana"));
        assert!(u64::from(incoming.created_at).abs_diff(sim.now()) <= 5);
        decoded.push(message);
    }
    assert_eq!(decoded[0], E2eMessage::Text("Unterwegs, 10 Minuten".into()));
    assert_eq!(decoded[1], E2eMessage::Text(long_text));
    assert!(received[1].field("box").unwrap().len() / 2 > 4000);
    let E2eMessage::File(file) = &decoded[2] else {
        panic!("{:?}", decoded[2])
    };
    assert_eq!(file.file_name.as_deref(), Some("photo.png"));
    assert_eq!(file.description.as_deref(), Some("Schaden"));
    assert_eq!(file.rendering_type, RenderingType::Media);
    assert_eq!(file.metadata.as_ref().unwrap().width, Some(640));
    // The Gateway client downloads the phone's blobs and decrypts them with the message key.
    let blob = api.blob_download(&file.file_blob_id).await.unwrap();
    let thumb = api
        .blob_download(file.thumbnail_blob_id.as_ref().unwrap())
        .await
        .unwrap();
    let plain = decrypt_file_data(
        &EncryptedFileData {
            file: blob,
            thumbnail: Some(thumb),
        },
        &file.blob_encryption_key,
    )
    .unwrap();
    assert_eq!(plain.file, b"PNGDATA");
    assert_eq!(plain.thumbnail.as_deref(), Some(&b"thumb"[..]));
    let E2eMessage::Location(location) = &decoded[3] else {
        panic!("{:?}", decoded[3])
    };
    assert_eq!(
        (
            location.coordinates.latitude(),
            location.coordinates.longitude()
        ),
        (46.948, 7.4474)
    );
    assert_eq!(
        location.address.as_ref().unwrap().address,
        "Bundesplatz, Bern"
    );
    let E2eMessage::DeliveryReceipt(receipt) = &decoded[4] else {
        panic!("{:?}", decoded[4])
    };
    assert_eq!(receipt.receipt, DeliveryReceipt::Acknowledged);
    assert_eq!(
        receipt.message_ids.as_slice()[0].to_hex_le(),
        "1112131415161718"
    );
    let E2eMessage::Edit(edit) = &decoded[5] else {
        panic!("{:?}", decoded[5])
    };
    assert_eq!(
        (edit.message_id.to_hex_le().as_str(), edit.text.as_str()),
        ("2122232425262728", "korrigiert")
    );
    let E2eMessage::Delete(delete) = &decoded[6] else {
        panic!("{:?}", decoded[6])
    };
    assert_eq!(delete.message_id.to_hex_le(), "2122232425262728");
    assert_eq!(
        decoded[7],
        E2eMessage::TypingIndicator(TypingIndicatorMessage::new(TypingStatus::NotTyping))
    );
    // Polls are not decoded by the SDK; it hands over type and unpadded bytes.
    let E2eMessage::Other {
        message_type,
        message_bytes,
    } = &decoded[8]
    else {
        panic!("{:?}", decoded[8])
    };
    assert_eq!(u8::from(*message_type), 0x16);
    assert_eq!(&message_bytes[..8], b"*TESTGW1");
    assert_eq!(&message_bytes[16..], b"[[0,0],[1,1]]");

    // The undecryptable box: valid MAC, decryption fails.
    let incoming = api.decode_incoming_message(&received[9].body).unwrap();
    assert_eq!(incoming.message_id.to_hex_le(), undecryptable);
    let key = api.lookup_pubkey(&incoming.from).await.unwrap();
    assert!(api.decrypt_incoming_message(&incoming, &key).is_err());
    sim.shutdown().await;
}

/// Gateway text → phone receipt (received), read receipt and reply → callbacks the SDK decodes,
/// referencing the SDK's own message ID.
#[tokio::test]
async fn phone_answers_with_receipts_and_a_reply() {
    let receiver = Receiver::ok().await;
    let mut config = common::config();
    config.callback_url = Some(receiver.url.clone());
    let (sim, api) = setup(config).await;
    sim.add_user(UserSpec::new("DRIVER03").behaviour(Behaviour {
        auto_received: true,
        receipt_delay: Duration::from_millis(100),
        read_after: Some(Duration::from_secs(2)),
        reply: Some(UserMessage::text("Verstanden")),
        echo: false,
        reply_delay: Duration::from_secs(1),
    }));
    let to = id("DRIVER03");
    let key = api.lookup_pubkey(&to).await.unwrap();
    let sent = api
        .send(
            &to,
            &api.encode_and_encrypt(&E2eMessage::Text("Neuer Auftrag".into()), &key)
                .unwrap(),
            true,
        )
        .await
        .unwrap();

    let received = receiver.wait(3).await;
    let mut decoded = Vec::new();
    for got in &received {
        decoded.push(crate_decode(&api, &got.body).await.1);
    }
    let receipt = |status| E2eMessage::DeliveryReceipt(DeliveryReceiptMessage::new(status, sent));
    // Ordered by their delays: received (0.1 s), reply (1 s), read (2 s), all simulated.
    assert_eq!(
        decoded,
        vec![
            receipt(DeliveryReceipt::Received),
            E2eMessage::Text("Verstanden".into()),
            receipt(DeliveryReceipt::Read),
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn directory_credits_and_blobs() {
    let (sim, api) = setup(common::config()).await;
    let user = sim.add_user(
        UserSpec::new("DRIVER04")
            .phone("41791234567")
            .email("Driver@Example.org")
            .capabilities(&["text", "file", "ballot"]),
    );
    let to = id("DRIVER04");
    assert_eq!(
        api.lookup_pubkey(&to).await.unwrap(),
        RecipientKey::from(user.public_key)
    );
    for criterion in [
        LookupCriterion::Phone("41791234567".into()),
        LookupCriterion::PhoneHash(crypto::phone_hash("41791234567")),
        LookupCriterion::Email("driver@example.org".into()),
        LookupCriterion::EmailHash(crypto::email_hash("driver@example.org")),
    ] {
        assert_eq!(
            api.lookup_id(&criterion).await.unwrap(),
            to,
            "{criterion:?}"
        );
    }
    assert!(matches!(
        api.lookup_id(&LookupCriterion::Phone("41790000000".into()))
            .await,
        Err(ApiError::IdNotFound)
    ));
    let capabilities = api.lookup_capabilities(&to).await.unwrap();
    assert!(capabilities.text && capabilities.file && !capabilities.image);
    assert_eq!(capabilities.other, vec!["ballot".to_string()]);
    assert_eq!(api.lookup_credits().await.unwrap(), 1000);

    let blob = api
        .blob_upload_raw(b"persistent bytes", true)
        .await
        .unwrap();
    assert_eq!(api.blob_download(&blob).await.unwrap(), b"persistent bytes");
    assert_eq!(api.blob_download(&blob).await.unwrap(), b"persistent bytes");
    assert_eq!(api.lookup_credits().await.unwrap(), 999);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_send_with_group_null_and_same_message_id() {
    let (sim, api) = setup(common::config()).await;
    for user in ["DRIVER05", "DRIVER06"] {
        sim.add_user(UserSpec::new(user).behaviour(Behaviour::silent()));
    }
    let mut bulk = Vec::new();
    for user in ["DRIVER05", "DRIVER06", "NOBODY00"] {
        let key = match api.lookup_pubkey(&id(user)).await {
            Ok(key) => key,
            Err(_) => RecipientKey::from([9u8; 32]),
        };
        bulk.push(BulkE2eMessage {
            to: id(user),
            message: api
                .encode_and_encrypt(&E2eMessage::Text(format!("Hallo {user}")), &key)
                .unwrap(),
            delivery_receipts: true,
            push: false,
            is_group_message: false, // serialised as "group": null by 0.21
        });
    }
    let refs: Vec<&BulkE2eMessage> = bulk.iter().collect();
    let results = api.send_bulk(&refs, true).await.unwrap();
    let ids: Vec<String> = results[..2]
        .iter()
        .map(|status| match status {
            BulkE2eMessageSendStatus::Success { message_id } => message_id.to_hex_le(),
            BulkE2eMessageSendStatus::Error { error } => panic!("{error:?}"),
        })
        .collect();
    assert_eq!(ids[0], ids[1], "sameMessageId");
    // An unknown recipient fails only its own element, with errorCode 400.
    match &results[2] {
        BulkE2eMessageSendStatus::Error {
            error: ApiError::Other(text),
        } => {
            assert_eq!(text, "Bad request (HTTP 400)");
        }
        BulkE2eMessageSendStatus::Error { error } => panic!("{error:?}"),
        BulkE2eMessageSendStatus::Success { .. } => panic!("unknown recipient accepted"),
    }
    for (user, id) in ["DRIVER05", "DRIVER06"].iter().zip(&ids) {
        let inbox = sim.wait_inbox(user, 1, WAIT).await;
        assert_eq!(inbox[0].message, Decoded::Text(format!("Hallo {user}")));
        assert_eq!(&inbox[0].message_id, id);
        assert_eq!(
            (inbox[0].group, inbox[0].no_push, inbox[0].via.as_str()),
            (None, true, "send_e2e_bulk")
        );
    }
    // Only the two accepted messages were charged.
    assert_eq!(sim.credits(), 998);
    sim.shutdown().await;
}

/// 0.21 sends `pubkeys/bulk` identities as byte arrays (§3.7): refused unless in compat mode.
#[tokio::test]
async fn pubkeys_bulk_byte_array_form_needs_compat() {
    let ids = [id("DRIVER07"), id("NOBODY00")];
    let (sim, api) = setup(common::config()).await;
    sim.add_user(UserSpec::new("DRIVER07"));
    assert!(api.lookup_pubkeys_bulk(&ids).await.is_err());
    assert_eq!(sim.metrics().count("pubkeys_bulk", 400), 1);
    sim.shutdown().await;

    let mut config = common::config();
    config.compat.crate021_pubkeys_bulk = true;
    let (sim, api) = setup(config).await;
    let user = sim.add_user(UserSpec::new("DRIVER07"));
    let found = api.lookup_pubkeys_bulk(&ids).await.unwrap();
    assert_eq!(found.len(), 1, "unknown IDs are left out");
    assert_eq!(
        found.get(&ids[0]),
        Some(&RecipientKey::from(user.public_key))
    );
    sim.shutdown().await;
}
