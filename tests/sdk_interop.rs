//! Our Threema crypto against an independent implementation, the official Python SDK
//! (`threema.gateway`, libsodium underneath): each side reads what the other writes.

use crate::common;

use common::{
    bridge::{GATEWAY_ID, GATEWAY_SECRET, Harness},
    db::TestDb,
    gateway::GatewaySide,
    python::sdk,
    threema::bridge_public_key,
};
use serde_json::json;
use threema_bridge::threema::{
    client::parse_message_id,
    codec::{self, Message, ReceiptStatus},
};

const TEXT: &str = "Grüezi 🚚 *Tour 7* _heute_ ~nicht~ morgen";

#[tokio::test]
async fn messages_the_python_sdk_encrypts_are_decoded_by_the_bridge() {
    let bridge = Harness::start(TestDb::sqlite(), |_| {}).await;
    let driver_key: [u8; 32] = rand::random();
    let driver_public = hex::encode(
        crypto_box::SecretKey::from(driver_key)
            .public_key()
            .as_bytes(),
    );
    bridge
        .bridge
        .store
        .public_key_insert("PYDRIVER", &driver_public)
        .await
        .unwrap();
    let gateway = GatewaySide::start(&bridge.config).await;

    let answer = sdk(&json!({
        "op": "encrypt",
        "driver_key": hex::encode(driver_key),
        "bridge_public_key": hex::encode(bridge_public_key(&bridge.config.private_key).as_bytes()),
        "driver_id": "PYDRIVER",
        "gateway_id": GATEWAY_ID,
        "secret": GATEWAY_SECRET,
        "messages": [
            {"kind": "text", "text": TEXT},
            {"kind": "receipt", "status": 2, "ids": ["0102030405060708", "a1a2a3a4a5a6a7a8"]},
        ],
    }))
    .await;
    let callbacks = answer["callbacks"].as_array().unwrap();
    let mut decoded = Vec::new();
    for body in callbacks {
        let (_, received) = gateway
            .receive_body(body.as_str().unwrap(), &public_key_bytes(&driver_public))
            .await;
        decoded.push(received.message);
        let status = reqwest::Client::new()
            .post(&bridge.callback_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.as_str().unwrap().to_owned())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the SDK's MAC is accepted");
    }
    let mut decoded = decoded.into_iter();
    assert_eq!(decoded.next().unwrap(), Message::Text(TEXT.into()));
    assert_eq!(
        decoded.next().unwrap(),
        Message::DeliveryReceipt {
            status: ReceiptStatus::Read,
            message_ids: vec![
                parse_message_id("0102030405060708").unwrap(),
                parse_message_id("a1a2a3a4a5a6a7a8").unwrap()
            ],
        }
    );
    bridge.stop().await;
}

#[tokio::test]
async fn the_python_sdk_decrypts_what_the_bridge_encrypts() {
    let bridge = Harness::start(TestDb::sqlite(), |_| {}).await;
    let client = &bridge.bridge.threema;
    let driver_key: [u8; 32] = rand::random();
    let driver_public = *crypto_box::SecretKey::from(driver_key)
        .public_key()
        .as_bytes();

    let ids = [parse_message_id("0102030405060708").unwrap()];
    let receipt = codec::encode::delivery_receipt(ReceiptStatus::Received, &ids).unwrap();
    let sealed = [
        client.seal(&driver_public, codec::TEXT, TEXT.as_bytes()),
        client.seal(&driver_public, codec::DELIVERY_RECEIPT, &receipt),
    ];
    let answer = sdk(&json!({
        "op": "decrypt",
        "driver_key": hex::encode(driver_key),
        "bridge_public_key": hex::encode(client.public_key().as_bytes()),
        "gateway_id": GATEWAY_ID,
        "secret": GATEWAY_SECRET,
        "messages": sealed.iter().map(|(n, b)| json!({"nonce": hex::encode(n), "box": hex::encode(b)})).collect::<Vec<_>>(),
    }))
    .await;
    assert_eq!(
        answer["messages"],
        json!([
            {"kind": "text", "text": TEXT},
            {"kind": "receipt", "status": 1, "ids": ["0102030405060708"]},
        ])
    );
    bridge.stop().await;
}

#[tokio::test]
async fn the_python_sdk_reads_a_file_the_bridge_uploaded() {
    let (bridge, sim) = Harness::with_simulator(|_| {}).await;
    let client = &bridge.bridge.threema;
    let driver_key: [u8; 32] = rand::random();
    let driver_public = *crypto_box::SecretKey::from(driver_key)
        .public_key()
        .as_bytes();

    let content: Vec<u8> = (0..30_000u32).map(|i| (i * 13 % 256) as u8).collect();
    let file = threema_bridge::threema::OutgoingFile {
        data: content.clone(),
        media_type: "application/pdf".into(),
        file_name: Some("lieferschein.pdf".into()),
        caption: Some("Bitte unterschreiben".into()),
        thumbnail: Some((vec![1, 2, 3, 4], "image/jpeg".into())),
        ..Default::default()
    };
    // The blobs go to the Gateway exactly as for a real send; the SDK fetches them from there.
    let message = client.upload_file(&file).await.unwrap();
    let (nonce, sealed) = client.seal(&driver_public, codec::FILE, &message);
    let answer = sdk(&json!({
        "op": "decrypt",
        "driver_key": hex::encode(driver_key),
        "bridge_public_key": hex::encode(client.public_key().as_bytes()),
        "gateway_url": sim.base_url(),
        "gateway_id": GATEWAY_ID,
        "secret": GATEWAY_SECRET,
        "messages": [{"nonce": hex::encode(nonce), "box": hex::encode(sealed)}],
    }))
    .await;
    assert_eq!(
        answer["messages"],
        json!([{
            "kind": "file",
            "mime": "application/pdf",
            "name": "lieferschein.pdf",
            "caption": "Bitte unterschreiben",
            "content": hex::encode(&content),
            "thumbnail": "01020304",
        }])
    );
    bridge.stop().await;
    sim.shutdown().await;
}

fn public_key_bytes(hex_key: &str) -> [u8; 32] {
    hex::decode(hex_key).unwrap().try_into().unwrap()
}
