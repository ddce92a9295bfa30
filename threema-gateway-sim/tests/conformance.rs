//! The published test vectors of the reference (§3.4, §4.2, §5.5) against the simulator's
//! crypto and codec, and the simulator's callback form against vector B's MAC.

use crate::common;

use threema_gateway_sim::{
    SimConfig, UserMessage, UserSpec,
    crypto::{self, FILE_NONCE, THUMBNAIL_NONCE},
    message,
};

#[test]
fn mac_vector_a() {
    let mac = crypto::callback_mac(
        "nevergonnagiveyouup",
        "ECHOECHO",
        "*TESTTST",
        "0102030405060708",
        "1616950936",
        "ffffffffffffffffffffffffffffffffffffffffffffffff",
        "012345abcdef",
    );
    assert_eq!(
        mac,
        "622b362e8353658ee649a5548acecc9ce9b88384d6b7e08e212446d68455b14e"
    );
}

const B_BOX: &str = "d98c81f56e96bb69cdc83322495ac1653754abf5d286f647bba9003882efdd5ee60c2ac1ea1dcabe73da95cc8408e74cf1";
const B_PLAINTEXT: &str = "0148656c6c6f1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b";

#[test]
fn mac_vector_b() {
    let mac = crypto::callback_mac(
        "callbacksecret",
        "USER0001",
        "*TESTGW1",
        "0102030405060708",
        "1700000000",
        &"33".repeat(24),
        B_BOX,
    );
    assert_eq!(
        mac,
        "45b2f8d27549b96565c24e68d329691f00e75258f7921d41577f1d8b6402d3fa"
    );
}

#[test]
fn vector_b_keys_box_and_container() {
    let (gateway_sk, user_sk) = ([0x11u8; 32], [0x22u8; 32]);
    assert_eq!(
        hex::encode(crypto::public_key(&gateway_sk)),
        "7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13"
    );
    assert_eq!(
        hex::encode(crypto::public_key(&user_sk)),
        "0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20"
    );
    let nonce = [0x33u8; 24];
    let plaintext = hex::decode(B_PLAINTEXT).unwrap();
    // Encrypt as the phone (user sk, gateway pk) gives the vector's box…
    let sealed = crypto::box_seal(
        &plaintext,
        &nonce,
        &crypto::public_key(&gateway_sk),
        &user_sk,
    );
    assert_eq!(hex::encode(&sealed), B_BOX);
    // …which the Gateway side decrypts back, and the container yields "Hello" with 27 pad bytes.
    let opened = crypto::box_open(
        &hex::decode(B_BOX).unwrap(),
        &nonce,
        &crypto::public_key(&user_sk),
        &gateway_sk,
    )
    .unwrap();
    assert_eq!(opened, plaintext);
    let container = message::open_container(&opened).unwrap();
    assert_eq!(container.message_type, message::message_type::TEXT);
    assert_eq!(container.data, b"Hello");
    assert_eq!(container.padding, 27);
    // The simulator's padding rule produces exactly this container for a draw below 27.
    assert_eq!(
        message::build_container(1, b"Hello", message::padding_length(5, 3)),
        plaintext
    );
}

#[test]
fn hash_vectors() {
    assert_eq!(
        crypto::phone_hash("41791234567"),
        "ad398f4d7ebe63c6550a486cc6e07f9baa09bd9d8b3d8cb9d9be106d35a7fdbc"
    );
    assert_eq!(
        crypto::email_hash("test@threema.ch"),
        "1ea093239cc5f0e1b6ec81b866265b921f26dc4033025410063309f4d1a8ee2c"
    );
}

#[test]
fn blob_vector() {
    let key = [0x44u8; 32];
    assert_eq!(
        hex::encode(crypto::secretbox_seal(&key, &FILE_NONCE, b"file-bytes")),
        "b6ac4d6163d06e8a0b9837e119c6012a6e9601a77751345306fc"
    );
    assert_eq!(
        hex::encode(crypto::secretbox_seal(
            &key,
            &THUMBNAIL_NONCE,
            b"thumb-bytes"
        )),
        "b530f853fa0a622a1d532772640e8c24888dc26cf72d888b1905a1"
    );
    let sealed = hex::decode("b6ac4d6163d06e8a0b9837e119c6012a6e9601a77751345306fc").unwrap();
    assert_eq!(
        crypto::secretbox_open(&key, &FILE_NONCE, &sealed).unwrap(),
        b"file-bytes"
    );
    assert!(crypto::secretbox_open(&key, &THUMBNAIL_NONCE, &sealed).is_err());
}

/// The simulator's own callback for vector B's parties: the form's MAC verifies with the
/// vector's secret and the box opens with the gateway's secret key to "Hello".
#[tokio::test]
async fn callback_form_of_a_phone_verifies_like_vector_b() {
    let receiver = common::Receiver::ok().await;
    let mut config = SimConfig::new(
        "*TESTGW1",
        "callbacksecret",
        crypto::public_key(&[0x11; 32]),
    );
    config.callback_url = Some(receiver.url.clone());
    config.start_time = Some(1_700_000_000);
    let sim = common::start(config).await;
    sim.add_user(
        UserSpec::new("USER0001")
            .nickname("Driver Dan")
            .secret_key([0x22; 32]),
    );
    let id = sim
        .send_from_user("USER0001", UserMessage::text("Hello"))
        .await
        .unwrap();

    let got = receiver.wait(1).await.remove(0);
    assert_eq!(got.content_type, "application/x-www-form-urlencoded");
    let names: Vec<&str> = got.fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "from",
            "to",
            "messageId",
            "date",
            "nonce",
            "box",
            "mac",
            "nickname"
        ]
    );
    let f = |name| got.field(name).unwrap();
    assert_eq!(
        (f("from"), f("to"), f("messageId"), f("date")),
        ("USER0001", "*TESTGW1", id.as_str(), "1700000000")
    );
    assert_eq!(f("nickname"), "Driver Dan");
    let expected_mac = crypto::callback_mac(
        "callbacksecret",
        f("from"),
        f("to"),
        f("messageId"),
        f("date"),
        f("nonce"),
        f("box"),
    );
    assert_eq!(f("mac"), expected_mac);
    let nonce: [u8; 24] = hex::decode(f("nonce")).unwrap().try_into().unwrap();
    let opened = crypto::box_open(
        &hex::decode(f("box")).unwrap(),
        &nonce,
        &crypto::public_key(&[0x22; 32]),
        &[0x11; 32],
    )
    .unwrap();
    let container = message::open_container(&opened).unwrap();
    assert_eq!((container.message_type, container.data), (1, &b"Hello"[..]));
    assert!(
        container.data.len() + usize::from(container.padding) >= 32,
        "§5.2 minimum padding"
    );
    sim.shutdown().await;
}
