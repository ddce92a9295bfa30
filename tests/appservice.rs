//! The appservice against a real Synapse: startup, ghosts, transactions, auth and bad input.

use crate::common::{self, recorded};
use threema_bridge::bridge::Outcome;

use std::time::Duration;

use common::{
    bridge::Harness,
    db::TestDb,
    synapse::{self, wait_for},
};
use serde_json::{Value, json};
use sqlx::{AnyConnection, Connection, Row};
use threema_bridge::threema::ThreemaId;

const WAIT: Duration = Duration::from_secs(30);

/// How many inbox rows the bridge stored, read from its database as an operator would.
async fn inbox_rows(db_url: &str, key: Option<&str>) -> i64 {
    let mut conn = AnyConnection::connect(db_url).await.unwrap();
    let row = match key {
        Some(key) => {
            sqlx::query("SELECT COUNT(*) AS n FROM matrix_inbox WHERE dedup_key = $1").bind(key)
        }
        None => sqlx::query("SELECT COUNT(*) AS n FROM matrix_inbox"),
    }
    .fetch_one(&mut conn)
    .await
    .unwrap();
    row.get("n")
}

#[tokio::test]
async fn user_message_reaches_the_inbox_once_and_is_handled_sqlite() {
    user_message_reaches_the_inbox_once_and_is_handled(TestDb::sqlite()).await;
}

#[tokio::test]
async fn user_message_reaches_the_inbox_once_and_is_handled_postgres() {
    if let Some(db) = TestDb::postgres().await {
        user_message_reaches_the_inbox_once_and_is_handled(db).await;
    }
}

async fn user_message_reaches_the_inbox_once_and_is_handled(db: TestDb) {
    let bridge = Harness::start(db, |_| {}).await;
    let hs = bridge.synapse;
    let store = &bridge.bridge.store;

    // A dispatcher opens a DM with the bot: the bot joins through the inbox worker.
    let alice = hs.new_user("alice").await;
    let bot = format!("@threemabot:{}", synapse::DOMAIN);
    let room = alice.create_room(&[&bot]).await;
    wait_for("the bot to join", WAIT, || async {
        alice
            .joined_members(&room)
            .await
            .contains(&bot)
            .then_some(())
    })
    .await;

    let event_id = alice.send_text(&room, "hello bridge").await;
    let outcome = wait_for("the message to be handled", WAIT, || async {
        store.inbox_outcome(&event_id).await.unwrap().flatten()
    })
    .await;
    // The DM is the dispatcher's management room: the message is read as a command.
    assert_eq!(
        recorded(outcome.clone()),
        Outcome::bridged(r#"command Unknown("hello") answered"#)
    );
    assert_eq!(inbox_rows(bridge.db.url(), Some(&event_id)).await, 1);

    // Synapse replays a transaction (e.g. after a restart, under a new txn id): nothing new.
    let (_, hs_token) = hs.tokens();
    let event = json!({
        "event_id": event_id, "room_id": room, "sender": alice.user_id, "type": "m.room.message",
        "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": "hello bridge"}
    });
    for txn in ["replay-1", "replay-1", "replay-2"] {
        let response = reqwest::Client::new()
            .put(format!(
                "{}/_matrix/app/v1/transactions/{txn}",
                bridge.base_url
            ))
            .bearer_auth(&hs_token)
            .json(&json!({"events": [event]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    assert_eq!(inbox_rows(bridge.db.url(), Some(&event_id)).await, 1);
    assert_eq!(
        store.inbox_outcome(&event_id).await.unwrap(),
        Some(Some(outcome))
    );
    assert_eq!(store.inbox_backlog().await.unwrap(), 0);

    // The bot's own events (its join, its answer) come back from the homeserver as echoes and
    // are not stored: once the next message is handled, everything before it has arrived.
    let next = alice.send_text(&room, "help").await;
    wait_for("the next message to be handled", WAIT, || async {
        store.inbox_outcome(&next).await.unwrap().flatten()
    })
    .await;
    let mut conn = AnyConnection::connect(bridge.db.url()).await.unwrap();
    let from_bot: i64 = sqlx::query("SELECT COUNT(*) AS n FROM matrix_inbox WHERE sender = $1")
        .bind(&bot)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("n");
    assert_eq!(from_bot, 0, "echoes are not stored");
    assert!(
        alice
            .messages(&room)
            .await
            .iter()
            .any(|m| m["sender"] == bot.as_str()),
        "the bot did answer"
    );
    bridge.stop().await;
}

#[tokio::test]
async fn ghosts_are_registered_once_without_a_device() {
    let bridge = Harness::start(TestDb::sqlite(), |_| {}).await;
    let hs = bridge.synapse;
    let b = &bridge.bridge;

    let id = ThreemaId::parse(&common::threema::unique_threema_id('G')).unwrap();
    let ghost = b.ghosts.ensure(&id).await.unwrap();
    assert_eq!(
        ghost.as_str(),
        format!(
            "@threema_{}:{}",
            id.as_str().to_lowercase(),
            synapse::DOMAIN
        )
    );
    // The homeserver knows the user: the appservice may act as it.
    assert_eq!(b.matrix.whoami(Some(&ghost)).await.unwrap(), ghost);
    assert!(
        b.store
            .ghost_by_threema_id(id.as_str())
            .await
            .unwrap()
            .unwrap()
            .registered_at
            .is_some()
    );
    // Again, and with the homeserver saying "in use": still fine, nothing changes.
    assert_eq!(b.ghosts.ensure(&id).await.unwrap(), ghost);
    b.matrix.register(ghost.localpart()).await.unwrap();

    // A ghost speaks with a timestamp of our choosing (the Threema message's date): a dispatcher
    // sees the message from the ghost at that time.
    let alice = hs.new_user("alice").await;
    let room = alice.create_room(&[ghost.as_str()]).await;
    let room_id = ruma::RoomId::parse(&room).unwrap();
    b.matrix.join(&room_id, &ghost).await.unwrap();
    let ts = ruma::MilliSecondsSinceUnixEpoch(ruma::UInt::new(1_700_000_000_000).unwrap());
    let content =
        ruma::events::room::message::RoomMessageEventContent::text_plain("Stau auf der A7");
    let mut request = ruma::api::client::message::send_message_event::v3::Request::new(
        room_id.clone(),
        ruma::TransactionId::new(),
        &content,
    )
    .unwrap();
    request.timestamp = Some(ts);
    let sent = b.matrix.send(request, Some(&ghost)).await.unwrap();
    let event = alice.event(&room, sent.event_id.as_str()).await;
    assert_eq!(event["sender"], ghost.as_str());
    assert_eq!(event["origin_server_ts"], 1_700_000_000_000u64);
    assert_eq!(event["content"]["body"], "Stau auf der A7");

    // The homeserver's user query answers for known ghosts only.
    let (_, hs_token) = hs.tokens();
    let query = |user: String| {
        let url = format!("{}/_matrix/app/v1/users/{user}", bridge.base_url);
        let token = hs_token.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(query(ghost.to_string()).await, 200);
    assert_eq!(
        query(format!("@threema_zzzz9999:{}", synapse::DOMAIN)).await,
        404
    );
    assert_eq!(query(format!("@alice:{}", synapse::DOMAIN)).await, 404);
    bridge.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused_and_store_nothing() {
    let bridge = Harness::start(TestDb::sqlite(), |c| c.max_body_bytes = 64 * 1024).await;
    let hs = bridge.synapse;
    let (as_token, hs_token) = hs.tokens();
    let before = inbox_rows(bridge.db.url(), None).await;

    let event = json!({"event_id": "$bad-request-test", "room_id": "!r", "sender": "@a:dispatch.test",
        "type": "m.room.message", "origin_server_ts": 1, "content": {"body": "x", "msgtype": "m.text"}});
    let good_body = json!({"events": [event]}).to_string();
    let http = reqwest::Client::new();
    let put = |auth: Option<String>, query: &str, body: String| {
        let mut request = http
            .put(format!(
                "{}/_matrix/app/v1/transactions/t1{query}",
                bridge.base_url
            ))
            .header("content-type", "application/json")
            .body(body);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, body["errcode"].as_str().unwrap_or("").to_owned())
        }
    };
    let bearer = |t: &str| Some(format!("Bearer {t}"));

    let cases = [
        (
            "no token",
            put(None, "", good_body.clone()).await,
            (401, "M_UNAUTHORIZED"),
        ),
        (
            "wrong token",
            put(bearer("not-the-token"), "", good_body.clone()).await,
            (403, "M_FORBIDDEN"),
        ),
        (
            "the as_token instead",
            put(bearer(&as_token), "", good_body.clone()).await,
            (403, "M_FORBIDDEN"),
        ),
        (
            "wrong legacy token",
            put(None, "?access_token=nope", good_body.clone()).await,
            (403, "M_FORBIDDEN"),
        ),
        (
            "not JSON",
            put(bearer(&hs_token), "", "{not json".into()).await,
            (400, "M_NOT_JSON"),
        ),
        (
            "wrong shape",
            put(bearer(&hs_token), "", r#"{"events": {"a": 1}}"#.into()).await,
            (400, "M_BAD_JSON"),
        ),
        (
            "too large",
            put(
                bearer(&hs_token),
                "",
                format!(r#"{{"events": [], "pad": "{}"}}"#, "x".repeat(70 * 1024)),
            )
            .await,
            (413, "M_TOO_LARGE"),
        ),
    ];
    for (name, (status, errcode), (want_status, want_code)) in cases {
        assert_eq!(
            (status, errcode.as_str()),
            (want_status, want_code),
            "{name}"
        );
    }
    assert_eq!(
        inbox_rows(bridge.db.url(), None).await,
        before,
        "refused requests store nothing"
    );

    // The legacy query-string token is still accepted, and the event is stored.
    let legacy = put(None, &format!("?access_token={hs_token}"), good_body).await;
    assert_eq!(legacy.0, 200);
    assert_eq!(
        inbox_rows(bridge.db.url(), Some("$bad-request-test")).await,
        1
    );

    // Other endpoints.
    let get = |path: &str, token: &str| {
        let request = http
            .get(format!("{}{path}", bridge.base_url))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        get(
            "/_matrix/app/v1/rooms/%23threema_x:dispatch.test",
            &hs_token
        )
        .await,
        404
    );
    assert_eq!(
        get("/_matrix/app/v1/users/@alice:dispatch.test", "wrong").await,
        403
    );
    assert_eq!(get("/_matrix/app/v1/nonsense", &hs_token).await, 404);
    assert_eq!(get("/health", "").await, 200);
    let ping = http
        .post(format!("{}/_matrix/app/v1/ping", bridge.base_url))
        .bearer_auth(&hs_token)
        .json(&json!({"transaction_id": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);
    bridge.stop().await;
}

/// PostgreSQL hands out sequence numbers before commit: an item that commits after a later one
/// was handled must still be handled (by the rescan), and only once, also while traffic goes on.
#[tokio::test]
async fn an_item_committed_out_of_order_is_handled_under_steady_traffic() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let bridge = Harness::start(db, |_| {}).await;
    let store = &bridge.bridge.store;
    let insert = "INSERT INTO matrix_inbox (dedup_key, room_id, kind, event_type, sender, payload, received_at) \
                  VALUES ($1, '!late:dispatch.test', 'event', 'm.room.message', '@a:dispatch.test', $2, 0)";
    let payload = |id: &str| {
        json!({"event_id": id, "room_id": "!late:dispatch.test", "sender": "@a:dispatch.test",
               "type": "m.room.message", "content": {"msgtype": "m.text", "body": "x"}})
        .to_string()
    };

    // The early item takes its sequence number, but its transaction stays open.
    let mut slow = AnyConnection::connect(bridge.db.url()).await.unwrap();
    let mut slow_tx = slow.begin().await.unwrap();
    sqlx::query(insert)
        .bind("$early")
        .bind(payload("$early"))
        .execute(&mut *slow_tx)
        .await
        .unwrap();
    // The later item commits first, through the bridge's own API, and is handled.
    let (_, hs_token) = bridge.synapse.tokens();
    let response = reqwest::Client::new()
        .put(format!(
            "{}/_matrix/app/v1/transactions/late-1",
            bridge.base_url
        ))
        .bearer_auth(&hs_token)
        .body(
            json!({"events": [serde_json::from_str::<Value>(&payload("$later")).unwrap()]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    wait_for("the later item", WAIT, || async {
        store.inbox_outcome("$later").await.unwrap().flatten()
    })
    .await;

    // It commits while new items keep arriving (each one a wake-up): the rescan must still come,
    // within its interval (5 s), not only after a lull.
    slow_tx.commit().await.unwrap();
    let steady = {
        let (url, hs_token) = (bridge.base_url.clone(), hs_token.clone());
        tokio::spawn(async move {
            for n in 0.. {
                let id = format!("$steady-{n}");
                let event: Value = serde_json::from_str(&payload(&id)).unwrap();
                reqwest::Client::new()
                    .put(format!("{url}/_matrix/app/v1/transactions/steady-{n}"))
                    .bearer_auth(&hs_token)
                    .json(&json!({"events": [event]}))
                    .send()
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let outcome = wait_for("the early item", Duration::from_secs(8), || async {
        store.inbox_outcome("$early").await.unwrap().flatten()
    })
    .await;
    steady.abort();
    assert_eq!(
        recorded(outcome),
        Outcome::skipped("message outside a portal")
    );
    assert_eq!(inbox_rows(bridge.db.url(), Some("$early")).await, 1);
    bridge.stop().await;
}
