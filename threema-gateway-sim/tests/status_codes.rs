//! The status-code matrix of §2.1/§3 and the evaluation order of §9.2, over raw HTTP, plus
//! fault injection including "accept, then never answer".

use crate::common;

use std::time::Duration;

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{GATEWAY_ID, GATEWAY_SK, SECRET, WAIT};
use serde_json::{Value, json};
use threema_gateway_sim::{
    AccountMode, Behaviour, Decoded, Fault, RateLimit, SimConfig, Simulator, UserSpec, crypto,
    message,
};

const USER: &str = "DRIVER01";
const AUTH: &str = "from=*TESTGW1&secret=test-secret";

struct Http {
    base: String,
    client: reqwest::Client,
}

impl Http {
    fn new(sim: &Simulator) -> Self {
        Http {
            base: sim.base_url(),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    async fn answer(response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    async fn form(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        Self::answer(response).await
    }

    async fn get(&self, path: &str) -> (u16, String) {
        Self::answer(
            self.client
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn json(&self, path: &str, body: &Value) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        Self::answer(response).await
    }

    async fn raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        Self::answer(response).await
    }

    /// `upload_blob` with a multipart body; `blob: None` sends only an unrelated part.
    async fn upload(&self, query: &str, blob: Option<&[u8]>) -> (u16, String) {
        let boundary = "----simtestboundary";
        let (name, data) = match blob {
            Some(data) => ("blob", data),
            None => ("other", &b"x"[..]),
        };
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"blob.file\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.raw(
            &format!("/upload_blob?{query}"),
            &format!("multipart/form-data; boundary={boundary}"),
            body,
        )
        .await
    }
}

/// A box for the user, encrypted by the Gateway side (gateway sk, user pk).
fn sealed_text(sim: &Simulator, text: &str) -> (String, String) {
    let user_pk = sim.user(USER).unwrap().public_key;
    let nonce = [7u8; 24];
    let container =
        message::build_container(1, text.as_bytes(), message::padding_length(text.len(), 1));
    let sealed = crypto::box_seal(&container, &nonce, &user_pk, &GATEWAY_SK);
    (hex::encode(nonce), hex::encode(sealed))
}

async fn setup(config: SimConfig) -> (Simulator, Http) {
    let sim = common::start(config).await;
    sim.add_user(
        UserSpec::new(USER)
            .phone("41791234567")
            .email("driver@example.org")
            .behaviour(Behaviour::silent()),
    );
    let http = Http::new(&sim);
    (sim, http)
}

fn send_fields<'a>(nonce: &'a str, box_hex: &'a str, secret: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("from", GATEWAY_ID),
        ("to", USER),
        ("nonce", nonce),
        ("box", box_hex),
        ("secret", secret),
    ]
}

#[tokio::test]
async fn unauthorized_401() {
    let (sim, http) = setup(common::config()).await;
    let (nonce, box_hex) = sealed_text(&sim, "hi");
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, "wrong"))
            .await
            .0,
        401
    );
    let mut unknown_from = send_fields(&nonce, &box_hex, SECRET);
    unknown_from[0] = ("from", "*OTHERID");
    assert_eq!(http.form("/send_e2e", &unknown_from).await.0, 401);
    // 401 comes before validation: wrong secret and a broken nonce is still 401.
    assert_eq!(
        http.form("/send_e2e", &send_fields("zz", &box_hex, "wrong"))
            .await
            .0,
        401
    );
    assert_eq!(http.get("/credits?from=*TESTGW1").await.0, 401);
    assert_eq!(http.get("/credits?from=*TESTGW1&secret=nope").await.0, 401);
    assert_eq!(
        http.get(&format!("/pubkeys/{USER}?from=*TESTGW1&secret=nope"))
            .await
            .0,
        401
    );
    assert_eq!(
        http.json("/send_e2e_bulk?from=*TESTGW1&secret=nope", &json!([]))
            .await
            .0,
        401
    );
    assert_eq!(
        http.upload("from=*TESTGW1&secret=nope", Some(b"data"))
            .await
            .0,
        401
    );
    assert_eq!(
        http.get("/blobs/00000000000000000000000000000000?from=*TESTGW1&secret=nope")
            .await
            .0,
        401
    );
    assert!(sim.inbox(USER).is_empty());
    assert_eq!(sim.credits(), 1000);
    assert_eq!(sim.metrics().count("send_e2e", 401), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn no_credits_402_without_side_effects() {
    let mut config = common::config();
    config.credits = 0;
    let (sim, http) = setup(config).await;
    let (nonce, box_hex) = sealed_text(&sim, "hi");
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, SECRET))
            .await
            .0,
        402
    );
    assert_eq!(http.upload(AUTH, Some(b"data")).await.0, 402);
    let element = json!({"to": USER, "nonce": STANDARD.encode([7u8; 24]), "box": STANDARD.encode(hex::decode(&box_hex).unwrap())});
    assert_eq!(
        http.json(&format!("/send_e2e_bulk?{AUTH}"), &json!([element]))
            .await
            .0,
        402
    );
    // Validation comes before the credit check: a bad nonce is 400, an oversized box 413.
    assert_eq!(
        http.form("/send_e2e", &send_fields("abcd", &box_hex, SECRET))
            .await
            .0,
        400
    );
    let big = "00".repeat(4001);
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &big, SECRET))
            .await
            .0,
        413
    );
    // Free endpoints still work.
    assert_eq!(
        http.get(&format!("/credits?{AUTH}")).await,
        (200, "0".into())
    );
    assert_eq!(http.get(&format!("/pubkeys/{USER}?{AUTH}")).await.0, 200);
    // Nothing was delivered, nothing went negative.
    assert!(sim.inbox(USER).is_empty());
    assert_eq!(sim.credits(), 0);
    assert_eq!(sim.metrics().credits_used, 0);

    sim.set_credits(1);
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, SECRET))
            .await
            .0,
        200
    );
    assert_eq!(sim.inbox(USER).len(), 1);
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, SECRET))
            .await
            .0,
        402
    );
    assert_eq!(sim.inbox(USER).len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn not_found_404_and_405() {
    let (sim, http) = setup(common::config()).await;
    assert_eq!(http.get(&format!("/pubkeys/NOBODY00?{AUTH}")).await.0, 404);
    assert_eq!(
        http.get(&format!("/capabilities/NOBODY00?{AUTH}")).await.0,
        404
    );
    assert_eq!(
        http.get(&format!("/blobs/00112233445566778899aabbccddeeff?{AUTH}"))
            .await
            .0,
        404
    );
    assert_eq!(
        http.get(&format!("/lookup/phone/41790000000?{AUTH}"))
            .await
            .0,
        404
    );
    assert_eq!(
        http.get(&format!("/lookup/email/nobody%40example.org?{AUTH}"))
            .await
            .0,
        404
    );
    let other_hash = crypto::email_hash("nobody@example.org");
    assert_eq!(
        http.get(&format!("/lookup/email_hash/{other_hash}?{AUTH}"))
            .await
            .0,
        404
    );
    // The matching ones for contrast; the e-mail path segment is percent-decoded.
    assert_eq!(
        http.get(&format!("/lookup/email/Driver%40Example.org?{AUTH}"))
            .await,
        (200, USER.into())
    );
    assert_eq!(
        http.get(&format!("/lookup/phone/41791234567?{AUTH}")).await,
        (200, USER.into())
    );
    assert_eq!(
        http.get(&format!("/capabilities/{USER}?{AUTH}")).await,
        (200, "text,image,video,audio,file,ballot".into())
    );
    // The Gateway ID's own key is in the directory.
    assert_eq!(
        http.get(&format!("/pubkeys/%2ATESTGW1?{AUTH}")).await,
        (200, hex::encode(common::gateway_pk()))
    );
    assert_eq!(http.get(&format!("/no_such_endpoint?{AUTH}")).await.0, 404);
    assert_eq!(
        http.get(&format!("/api/send_e2e?{AUTH}")).await.0,
        404,
        "no path prefix"
    );
    assert_eq!(http.get(&format!("/send_e2e?{AUTH}")).await.0, 405);
    sim.shutdown().await;
}

#[tokio::test]
async fn too_large_413_at_the_exact_limits() {
    let mut config = common::config();
    config.limits.blob_bytes = 1024;
    let (sim, http) = setup(config).await;
    let nonce = hex::encode([1u8; 24]);
    // Exactly 4000 bytes is accepted (the phone cannot open random bytes, still 200)…
    let at_limit = "ab".repeat(4000);
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &at_limit, SECRET))
            .await
            .0,
        200
    );
    assert_eq!(sim.inbox(USER)[0].message, Decoded::Undecryptable);
    // …4001 bytes is not.
    let over = "ab".repeat(4001);
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &over, SECRET))
            .await
            .0,
        413
    );
    assert_eq!(http.upload(AUTH, Some(&[1u8; 1024])).await.0, 200);
    assert_eq!(http.upload(AUTH, Some(&[1u8; 1025])).await.0, 413);
    let element = json!({"to": USER, "nonce": STANDARD.encode([1u8; 24]), "box": STANDARD.encode([0u8; 4001])});
    let (status, body) = http
        .json(&format!("/send_e2e_bulk?{AUTH}"), &json!([element]))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!([{"errorCode": 413}])
    );
    assert_eq!(sim.inbox(USER).len(), 1);
    assert_eq!(sim.credits(), 1000 - 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_default_blob_limit_is_20_mib() {
    let sim = common::start(common::config()).await;
    assert_eq!(sim.config().limits.blob_bytes, 20 * 1024 * 1024);
    let http = Http::new(&sim);
    assert_eq!(
        http.upload(AUTH, Some(&vec![0u8; 20 * 1024 * 1024 + 1]))
            .await
            .0,
        413
    );
    assert_eq!(
        http.upload(AUTH, Some(&vec![0u8; 20 * 1024 * 1024]))
            .await
            .0,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_request_400() {
    let mut config = common::config();
    config.limits.bulk_messages = 2;
    let (sim, http) = setup(config).await;
    let (nonce, box_hex) = sealed_text(&sim, "hi");
    let mut cases: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    let mut with = |what: &'static str, key: &'static str, value: &'static str| {
        let mut fields = send_fields(&nonce, &box_hex, SECRET);
        match fields.iter_mut().find(|(k, _)| *k == key) {
            Some(field) => field.1 = value,
            None => fields.push((key, value)),
        }
        cases.push((what, fields));
    };
    with(
        "unknown recipient is 400 in E2E mode, not 404",
        "to",
        "NOBODY00",
    );
    with("lowercase recipient", "to", "driver01");
    with("short nonce", "nonce", "0011");
    with(
        "non-hex nonce",
        "nonce",
        "zz1122334455667788990011223344556677889900112233",
    );
    with("non-hex box", "box", "xyz");
    with("empty box", "box", "");
    for (what, fields) in &cases {
        assert_eq!(http.form("/send_e2e", fields).await.0, 400, "{what}");
    }
    let mut missing_to = send_fields(&nonce, &box_hex, SECRET);
    missing_to.remove(1);
    assert_eq!(http.form("/send_e2e", &missing_to).await.0, 400);
    // Basic-mode endpoint on an E2E account.
    let simple = [
        ("from", GATEWAY_ID),
        ("to", USER),
        ("text", "hi"),
        ("secret", SECRET),
    ];
    assert_eq!(http.form("/send_simple", &simple).await.0, 400);
    // Hash lookups need 64 hex characters.
    let short_hash = &crypto::phone_hash("41791234567")[..63];
    assert_eq!(
        http.get(&format!("/lookup/phone_hash/{short_hash}?{AUTH}"))
            .await
            .0,
        400
    );
    assert_eq!(
        http.get(&format!("/lookup/email_hash/{}?{AUTH}", "g".repeat(64)))
            .await
            .0,
        400
    );
    // Blobs: no `blob` part, empty blob, not multipart at all.
    assert_eq!(http.upload(AUTH, None).await.0, 400);
    assert_eq!(http.upload(AUTH, Some(b"")).await.0, 400);
    assert_eq!(
        http.raw(
            &format!("/upload_blob?{AUTH}"),
            "application/octet-stream",
            b"x".to_vec()
        )
        .await
        .0,
        400
    );
    // Bulk: not JSON, not an array, more than the limit.
    assert_eq!(
        http.raw(
            &format!("/send_e2e_bulk?{AUTH}"),
            "application/json",
            b"{".to_vec()
        )
        .await
        .0,
        400
    );
    assert_eq!(
        http.json(&format!("/send_e2e_bulk?{AUTH}"), &json!({"to": USER}))
            .await
            .0,
        400
    );
    let element = json!({"to": USER, "nonce": STANDARD.encode([7u8; 24]), "box": STANDARD.encode(hex::decode(&box_hex).unwrap())});
    assert_eq!(
        http.json(
            &format!("/send_e2e_bulk?{AUTH}"),
            &json!([element, element, element])
        )
        .await
        .0,
        400
    );
    assert_eq!(
        http.json(
            "/pubkeys/bulk?from=*TESTGW1&secret=test-secret",
            &json!({"identities": [[68, 82]]})
        )
        .await
        .0,
        400
    );
    assert!(sim.inbox(USER).is_empty());
    assert_eq!(sim.credits(), 1000);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_elements_fail_individually_and_flags_are_read() {
    let (sim, http) = setup(common::config()).await;
    let (_, box_hex) = sealed_text(&sim, "bulk");
    let nonce = STANDARD.encode([7u8; 24]);
    let sealed = STANDARD.encode(hex::decode(&box_hex).unwrap());
    let body = json!([
        {"to": USER, "nonce": nonce, "box": sealed, "group": true, "noDeliveryReceipts": true},
        {"to": USER, "nonce": nonce, "box": sealed},
        {"to": "NOBODY00", "nonce": nonce, "box": sealed},
        {"to": USER, "nonce": "AAAA", "box": sealed},
        {"to": USER, "nonce": hex::encode([7u8; 24]), "box": sealed},
        {"to": USER, "nonce": nonce, "box": sealed, "group": "yes"},
    ]);
    let (status, answer) = http.json(&format!("/send_e2e_bulk?{AUTH}"), &body).await;
    assert_eq!(status, 200);
    let answer: Vec<Value> = serde_json::from_str(&answer).unwrap();
    assert!(answer[0]["messageId"].as_str().unwrap().len() == 16);
    assert_ne!(
        answer[0]["messageId"], answer[1]["messageId"],
        "no sameMessageId"
    );
    assert_eq!(
        &answer[2..],
        &[
            json!({"errorCode": 400}),
            json!({"errorCode": 400}),
            json!({"errorCode": 400}),
            json!({"errorCode": 400})
        ]
    );
    let inbox = sim.inbox(USER);
    assert_eq!(inbox.len(), 2);
    assert_eq!(
        (inbox[0].group, inbox[0].no_delivery_receipts),
        (Some(true), true)
    );
    assert_eq!(
        (inbox[1].group, inbox[1].no_delivery_receipts),
        (None, false)
    );
    assert_eq!(inbox[1].message, Decoded::Text("bulk".into()));
    assert_eq!(sim.credits(), 998);
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limit_429_on_bulk_endpoints() {
    let mut config = common::config();
    config.bulk_rate_limit = Some(RateLimit {
        burst: 2,
        per_second: 0.0,
    });
    let (sim, http) = setup(config).await;
    let path = format!("/send_e2e_bulk?{AUTH}");
    assert_eq!(http.json(&path, &json!([])).await.0, 200);
    assert_eq!(http.json(&path, &json!([])).await.0, 200);
    assert_eq!(http.json(&path, &json!([])).await.0, 429);
    // Buckets are per endpoint; single sends are not rate-limited.
    let (nonce, box_hex) = sealed_text(&sim, "hi");
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, SECRET))
            .await
            .0,
        200
    );
    assert_eq!(
        http.json(
            &format!("/pubkeys/bulk?{AUTH}"),
            &json!({"identities": [USER]})
        )
        .await
        .0,
        200
    );
    assert_eq!(sim.metrics().count("send_e2e_bulk", 429), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn injected_500_replaces_the_answer_without_effect() {
    let (sim, http) = setup(common::config()).await;
    let (nonce, box_hex) = sealed_text(&sim, "hi");
    sim.inject_fault("send_e2e", Fault::status(500).times(1));
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, SECRET))
            .await
            .0,
        500
    );
    assert!(sim.inbox(USER).is_empty());
    assert_eq!(sim.credits(), 1000);
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, SECRET))
            .await
            .0,
        200
    );
    sim.inject_fault("*", Fault::status(503));
    assert_eq!(http.get(&format!("/credits?{AUTH}")).await.0, 503);
    sim.clear_faults();
    assert_eq!(
        http.get(&format!("/credits?{AUTH}")).await,
        (200, "999".into())
    );
    let metrics = sim.metrics();
    assert_eq!(
        (
            metrics.count("send_e2e", 500),
            metrics.count("send_e2e", 200)
        ),
        (1, 1)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn accept_then_timeout_delivers_and_debits_but_never_answers() {
    let (sim, _) = setup(common::config()).await;
    let (nonce, box_hex) = sealed_text(&sim, "did it arrive?");
    sim.inject_fault("send_e2e", Fault::accept_then_timeout().times(1));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(send_fields(&nonce, &box_hex, SECRET))
        .finish();
    let error = client
        .post(format!("{}/send_e2e", sim.base_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect_err("the client must time out");
    assert!(error.is_timeout(), "{error:?}");
    let inbox = sim.wait_inbox(USER, 1, WAIT).await;
    assert_eq!(inbox[0].message, Decoded::Text("did it arrive?".into()));
    assert_eq!(sim.credits(), 999);
    assert_eq!(sim.metrics().count("send_e2e", 200), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_lookup_needs_approval() {
    let (sim, http) = setup(common::config()).await;
    let body = json!({"phoneHashes": [crypto::phone_hash("41791234567")], "emailHashes": []});
    assert_eq!(
        http.json(&format!("/lookup/bulk?{AUTH}"), &body).await.0,
        401
    );
    sim.shutdown().await;

    let mut config = common::config();
    config.bulk_lookup_allowed = true;
    let (sim, http) = setup(config).await;
    let user = sim.user(USER).unwrap();
    let body = json!({"phoneHashes": [crypto::phone_hash("41791234567"), crypto::phone_hash("1")], "emailHashes": [crypto::email_hash("DRIVER@example.org")]});
    let (status, answer) = http.json(&format!("/lookup/bulk?{AUTH}"), &body).await;
    assert_eq!(status, 200);
    let key = hex::encode(user.public_key);
    assert_eq!(
        serde_json::from_str::<Value>(&answer).unwrap(),
        json!([
            {"identity": USER, "publicKey": key, "phoneHash": crypto::phone_hash("41791234567")},
            {"identity": USER, "publicKey": key, "emailHash": crypto::email_hash("driver@example.org")},
        ])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn python_mock_compat_answers_500_for_odd_hashes() {
    let mut config = common::config();
    config.compat.python_mock_odd_hash = true;
    let (sim, http) = setup(config).await;
    assert_eq!(
        http.get(&format!("/lookup/phone_hash/abc?{AUTH}")).await.0,
        500
    );
    assert_eq!(
        http.get(&format!("/lookup/phone_hash/abcd?{AUTH}")).await.0,
        400
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn basic_mode_send_simple() {
    let mut config = SimConfig::new(GATEWAY_ID, SECRET, common::gateway_pk());
    config.mode = AccountMode::Basic;
    let (sim, http) = setup(config).await;
    async fn send(http: &Http, recipient: (&str, &str), text: &str) -> (u16, String) {
        let fields = [
            ("from", GATEWAY_ID),
            recipient,
            ("text", text),
            ("secret", SECRET),
        ];
        http.form("/send_simple", &fields).await
    }
    let (status, id) = send(&http, ("to", USER), "Hallo").await;
    assert_eq!(status, 200);
    assert_eq!(
        send(&http, ("phone", "41791234567"), "per Telefon").await.0,
        200
    );
    assert_eq!(
        send(&http, ("email", "driver@example.org"), "per Mail")
            .await
            .0,
        200
    );
    assert_eq!(send(&http, ("phone", "41790000000"), "x").await.0, 404);
    assert_eq!(send(&http, ("to", "NOBODY00"), "x").await.0, 400);
    assert_eq!(send(&http, ("to", USER), &"x".repeat(3501)).await.0, 413);
    assert_eq!(send(&http, ("to", USER), &"x".repeat(3500)).await.0, 200);
    let inbox = sim.inbox(USER);
    assert_eq!(inbox[0].message_id, id);
    let texts: Vec<_> = inbox.iter().take(3).map(|m| m.message.clone()).collect();
    assert_eq!(
        texts,
        ["Hallo", "per Telefon", "per Mail"].map(|t| Decoded::Text(t.into()))
    );
    // E2E endpoint on a basic account.
    let (nonce, box_hex) = sealed_text(&sim, "hi");
    assert_eq!(
        http.form("/send_e2e", &send_fields(&nonce, &box_hex, SECRET))
            .await
            .0,
        400
    );
    assert_eq!(sim.credits(), 996);
    sim.shutdown().await;
}
