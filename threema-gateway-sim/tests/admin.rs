//! The admin API under /_sim/ as a client in another language would use it.

use crate::common;

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{GATEWAY_SK, Receiver};
use serde_json::{Value, json};
use threema_gateway_sim::{Simulator, crypto, message};

struct Admin {
    base: String,
    http: reqwest::Client,
}

impl Admin {
    fn new(sim: &Simulator) -> Self {
        Admin {
            base: format!("{}/_sim", sim.base_url()),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PUT, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }
}

#[tokio::test]
async fn users_send_inbox_and_callbacks_over_http() {
    let receiver = Receiver::ok().await;
    let sim = common::start(common::config()).await;
    let admin = Admin::new(&sim);

    let (status, user) = admin
        .post(
            "/users",
            json!({"id": "DRIVER01", "nickname": "Dan", "phone": "41791234567",
            "behaviour": {"auto_received": false, "echo": true, "reply_delay_ms": 0}}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(
        user["public_key"],
        hex::encode(sim.user("DRIVER01").unwrap().public_key)
    );
    assert_eq!(admin.post("/users", json!({"id": "DRIVER01"})).await.0, 409);
    assert_eq!(admin.post("/users", json!({"id": "bad"})).await.0, 400);
    let (_, users) = admin.get("/users").await;
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(admin.get("/users/NOBODY00").await.0, 404);

    let (status, config) = admin
        .put("/config", json!({"callback_url": receiver.url}))
        .await;
    assert_eq!(
        (status, &config["callback_url"]),
        (200, &json!(receiver.url))
    );

    // A phone sends a text and a file; the callbacks carry them.
    let (status, sent) = admin
        .post(
            "/users/DRIVER01/send",
            json!({"type": "text", "text": "Hallo"}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let file = json!({"type": "file", "data": STANDARD.encode(b"abc"), "media_type": "text/plain",
        "file_name": "a.txt", "thumbnail": STANDARD.encode(b"t")});
    assert_eq!(admin.post("/users/DRIVER01/send", file).await.0, 200);
    assert_eq!(
        admin
            .post("/users/DRIVER01/send", json!({"type": "nonsense"}))
            .await
            .0,
        422
    );
    assert_eq!(
        admin
            .post(
                "/users/NOBODY00/send",
                json!({"type": "typing", "typing": true})
            )
            .await
            .0,
        404
    );
    let got = receiver.wait(2).await;
    assert_eq!(got[0].field("messageId"), sent["messageId"].as_str());
    let (_, outbox) = admin.get("/users/DRIVER01/outbox").await;
    assert_eq!(
        outbox[0]["message"],
        json!({"type": "text", "text": "Hallo"})
    );
    assert_eq!(outbox[1]["message"]["thumbnail_media_type"], "image/jpeg");
    let (_, callbacks) = admin.get("/callbacks?count=2").await;
    assert!(
        callbacks
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == 200)
    );

    // The Gateway sends to the phone; the inbox shows it decoded; the echo comes back.
    let user_pk = sim.user("DRIVER01").unwrap().public_key;
    let nonce = [3u8; 24];
    let container = message::build_container(1, "Grüezi".as_bytes(), 40);
    let sealed = crypto::box_seal(&container, &nonce, &user_pk, &GATEWAY_SK);
    let form = [
        ("from", common::GATEWAY_ID),
        ("to", "DRIVER01"),
        ("secret", common::SECRET),
        ("nonce", &hex::encode(nonce)),
        ("box", &hex::encode(sealed)),
    ];
    let response = admin
        .http
        .post(format!("{}/send_e2e", sim.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, inbox) = admin
        .get("/users/DRIVER01/inbox?count=1&timeout_ms=5000")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        inbox[0]["message"],
        json!({"type": "text", "content": "Grüezi"})
    );
    assert_eq!(inbox[0]["padding"], 40);
    assert_eq!(inbox[0]["via"], "send_e2e");
    assert_eq!(
        admin
            .get("/users/DRIVER01/inbox?count=2&timeout_ms=50")
            .await
            .0,
        408
    );
    receiver.wait(3).await;

    let (_, metrics) = admin.get("/metrics").await;
    assert_eq!(metrics["requests"]["send_e2e"]["200"], 1);
    assert_eq!(metrics["credits_used"], 1);
    assert_eq!(metrics["messages_from_users"], 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn credits_faults_clock_and_reset() {
    let sim = common::start(common::config()).await;
    let admin = Admin::new(&sim);
    assert_eq!(admin.get("/credits").await.1, json!({"credits": 1000}));
    assert_eq!(
        admin.put("/credits", json!({"credits": 5})).await.1,
        json!({"credits": 5})
    );
    assert_eq!(sim.credits(), 5);

    let (status, faults) = admin
        .put(
            "/faults",
            json!({"credits": {"status": 500, "times": 1}, "*": {"delay_ms": 1}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(faults["credits"]["status"], 500);
    assert_eq!(
        admin
            .put("/faults", json!({"send_e2ee": {"status": 500}}))
            .await
            .0,
        400
    );
    let credits_url = format!(
        "{}/credits?from=*TESTGW1&secret=test-secret",
        sim.base_url()
    );
    assert_eq!(
        admin.http.get(&credits_url).send().await.unwrap().status(),
        500
    );
    assert_eq!(
        admin.http.get(&credits_url).send().await.unwrap().status(),
        200
    );
    assert_eq!(admin.delete("/faults").await.1, json!({}));

    let (_, before) = admin.get("/clock").await;
    let (_, after) = admin.post("/clock/advance", json!({"seconds": 3600})).await;
    assert!(after["now"].as_u64().unwrap() >= before["now"].as_u64().unwrap() + 3600);

    admin.post("/users", json!({"id": "DRIVER02"})).await;
    assert_eq!(admin.post("/reset", json!({})).await.0, 200);
    assert_eq!((sim.credits(), sim.users().len()), (1000, 1));
    assert_eq!(admin.post("/reset", json!({"users": true})).await.0, 200);
    assert!(sim.users().is_empty());
    let (_, config) = admin.get("/config").await;
    assert_eq!(
        config["gateway_public_key"],
        hex::encode(common::gateway_pk())
    );
    assert_eq!(config["base_url"], sim.base_url());
    sim.shutdown().await;
}
