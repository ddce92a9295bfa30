//! The integration API end to end: an ERP client sends to drivers over HTTP, the simulator's
//! phones get the messages once (also when a request is repeated with its Idempotency-Key,
//! before and after a restart), the driver's portal shows what the ERP told them, read and 👍
//! on the phone show in the message's state; a client scoped to depot North cannot reach a
//! South driver; wrong tokens get 401; the OpenAPI document validates and lists every route.

use crate::common;

use std::time::Duration;

use common::{
    bridge::{Harness, Process},
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::{add_phone, unique_threema_id},
};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use threema_bridge::bridge::directory::SyncOptions;
use threema_gateway_sim::{Behaviour, Decoded, UserMessage, UserSpec};

const WAIT: Duration = Duration::from_secs(120);
/// A 4×3 PNG.
const PNG: &str = "89504e470d0a1a0a0000000d49484452000000040000000308020000003b9639910000001049444154789c6338212707470c383900f5c70c3107ebad990000000049454e44ae426082";
const HOOK_SECRET: &str = "hook-secret-0123456789abcdef";

/// What the test's webhook receiver saw: each delivery it accepted (verified, while up), and
/// how many it turned away while down.
#[derive(Default)]
struct Received {
    up: bool,
    accepted: Vec<(String, Value)>,
    turned_away: usize,
    bad_signatures: usize,
}

/// A webhook receiver on a free port that checks each signature as a receiver would
/// (HMAC-SHA256 over `<t>.<body>`, the timestamp fresh); down (503) until `up` is set.
async fn receiver() -> (String, Arc<Mutex<Received>>) {
    let received = Arc::new(Mutex::new(Received::default()));
    let state = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let mut seen = state.lock().unwrap();
                    if !seen.up {
                        seen.turned_away += 1;
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let signature = header("threema-bridge-signature");
                    let (t, v1) = signature
                        .split_once(',')
                        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
                        .unwrap_or(("", ""));
                    let mut mac = Hmac::<Sha256>::new_from_slice(HOOK_SECRET.as_bytes()).unwrap();
                    mac.update(t.as_bytes());
                    mac.update(b".");
                    mac.update(&body);
                    let fresh = t.parse::<i64>().is_ok_and(|t| (now_secs() - t).abs() < 300);
                    let valid = hex::decode(v1).is_ok_and(|v| mac.verify_slice(&v).is_ok());
                    if !(valid && fresh) {
                        seen.bad_signatures += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    let event: Value = serde_json::from_slice(&body).unwrap();
                    assert_eq!(
                        header("threema-bridge-event-id"),
                        event["id"].as_str().unwrap()
                    );
                    seen.accepted
                        .push((event["id"].as_str().unwrap().to_owned(), event));
                    StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The events the receiver accepted of `kind` about `message`.
fn events(received: &Mutex<Received>, kind: &str, message: &str) -> Vec<Value> {
    (received.lock().unwrap().accepted.iter())
        .filter(|(_, e)| e["type"] == kind && e["data"]["message_id"] == message)
        .map(|(_, e)| e.clone())
        .collect()
}
const ERP_TOKEN: &str = "erp-token-0123456789abcdef0123456789abcdef";
const NORTH_TOKEN: &str = "north-token-0123456789abcdef0123456789abcdef";

async fn post(
    api: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{api}/api/v1/messages"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let kind = (response.headers().get("content-type")).map(|v| v.to_str().unwrap().to_owned());
    (status, kind, response.json().await.unwrap_or(Value::Null))
}

async fn get(api: &str, token: &str, path: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(format!("{api}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

fn texts(sim: &threema_gateway_sim::Simulator, phone: &str) -> Vec<(String, String)> {
    (sim.inbox(phone).into_iter())
        .filter_map(|m| match m.message {
            Decoded::Text(text) => Some((m.message_id, text)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erp_sends_to_drivers_once_per_key_within_its_scope_and_reads_their_states() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let (north1, north2, south) = (
        unique_threema_id('N'),
        unique_threema_id('N'),
        unique_threema_id('S'),
    );
    let (hook, received) = receiver().await;
    let desk = unique_localpart("apidesk");
    // The desk sees every depot (no depot of its own).
    std::fs::write(
        &csv,
        format!(
            "employee_id,display_name,role,active,threema_id,matrix_id,depot\n\
             N-1,Nina North,driver,true,{north1},,North\n\
             N-2,Nils North,driver,true,{north2},,North\n\
             S-1,Sven South,driver,true,{south},,South\n\
             X-1,Desk,dispatcher,true,,@{desk}:{DOMAIN},\n"
        ),
    )
    .unwrap();
    let (mut h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![format!("@{desk}:{DOMAIN}")];
        c.directory = format!(
            "  csv: {}\n  sync_interval_seconds: 0\n  scope_attributes: [depot]\n",
            csv.display()
        );
        c.sections = format!(
            "api:\n  listen: 127.0.0.1:0\n  clients:\n    - name: ERP\n      token: {ERP_TOKEN}\n    \
             - name: North ERP\n      token: {NORTH_TOKEN}\n      scope: depot=North\n  \
             webhooks:\n    - url: {hook}\n      secret: {HOOK_SECRET}\n\
             quick_codes: {{\"2\": loaded}}\nmetrics:\n  listen: 127.0.0.1:0\n"
        );
    })
    .await;
    for id in [&north1, &north2, &south] {
        sim.add_user(UserSpec::new(id).nickname("driver"));
    }
    let dispatcher = Dispatcher::login(h.synapse, &desk, "Desk").await;
    let synced = (h.bridge.directory.sync(SyncOptions::default()).await).unwrap();
    assert!(synced.failed.is_empty(), "{synced}");
    let api = h.api_url.clone().expect("api.listen is set");

    // Without the right token: 401, a problem document, nothing sent.
    let message = json!({"to": {"employee_id": "N-1"}, "text": "Tour 17: Lager Nord, 14:00"});
    for token in ["", "wrong-token-0123456789abcdef0123456789abcdef"] {
        let (status, kind, problem) = post(&api, token, None, &message).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        assert_eq!(kind.as_deref(), Some("application/problem+json"));
        assert_eq!(problem["status"], 401);
    }

    // The North client cannot reach the South driver, by employee ID or Threema ID.
    // Nor does it learn who exists outside its scope: an unknown ID is refused alike.
    for to in [
        json!({"employee_id": "S-1"}),
        json!({"threema_id": south}),
        json!({"threema_id": "ZZZZ9999"}),
    ] {
        let body = json!({"to": to, "text": "Hallo Sven"});
        let (status, _, problem) = post(&api, NORTH_TOKEN, None, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
        assert!(!problem.to_string().contains("Sven"), "{problem}");
    }

    // The ERP sends to Nina, asking for a 👍; the same key again sends nothing new.
    let sent = json!({
        "to": {"employee_id": "N-1"},
        "text": "Tour 17: Lager Nord, 14:00",
        "reference": "ORD-17",
        "ack_requested": true,
    });
    let (status, _, accepted) = post(&api, ERP_TOKEN, Some("order-17"), &sent).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["replayed"], false);
    let id = accepted["id"].as_str().unwrap().to_owned();
    let (_, _, again) = post(&api, ERP_TOKEN, Some("order-17"), &sent).await;
    assert_eq!(
        (again["id"].as_str(), &again["replayed"]),
        (Some(id.as_str()), &json!(true))
    );
    let other = json!({"to": {"employee_id": "N-1"}, "text": "Tour 18"});
    let (status, _, problem) = post(&api, ERP_TOKEN, Some("order-17"), &other).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");

    let on_phone = wait_for(
        "the ERP's message and the ack request on Nina's phone",
        WAIT,
        || async {
            let texts = texts(&sim, &north1);
            (texts.len() >= 2).then_some(texts)
        },
    )
    .await;
    assert_eq!(on_phone[0].1, "ERP: Tour 17: Lager Nord, 14:00");
    assert!(on_phone[1].1.contains("👍"), "{on_phone:?}");

    // The desk sees in Nina's portal what the ERP told her.
    let portal = (h.bridge.store.portal_by_threema_id(&north1).await.unwrap())
        .expect("Nina's portal")
        .room_id
        .to_string();
    dispatcher.wait_invited_to(&portal, WAIT).await;
    dispatcher.join(&portal).await;
    let copy = dispatcher
        .wait_until("the ERP's message in the portal", WAIT, || async {
            (dispatcher.messages(&portal).await.into_iter())
                .find(|m| m["content"]["body"] == "🔌 ERP: Tour 17: Lager Nord, 14:00")
        })
        .await;
    assert_eq!(copy["sender"], format!("@threemabot:{DOMAIN}"));

    // Nina reads it and gives a 👍: the message's state says so.
    for status in [2, 3] {
        let receipt = UserMessage::DeliveryReceipt {
            status,
            message_ids: vec![on_phone[0].0.clone()],
        };
        sim.send_from_user(&north1, receipt).await.unwrap();
    }
    let state = wait_for(
        "Nina's read and 👍 in the message's state",
        WAIT,
        || async {
            let (_, message) = get(&api, ERP_TOKEN, &format!("/api/v1/messages/{id}")).await;
            let nina = message["recipients"][0].clone();
            (nina["state"] == "read" && nina["reaction"] == "acknowledged").then_some(message)
        },
    )
    .await;
    assert_eq!(state["reference"], "ORD-17");
    assert_eq!(state["recipients"].as_array().unwrap().len(), 1);
    let nina = &state["recipients"][0];
    assert_eq!(nina["threema_id"], north1.as_str());
    assert!(
        nina["delivered_at"].is_string() && nina["read_at"].is_string(),
        "{nina}"
    );
    // The receiver was down meanwhile: turned away, the events wait and come once it is up,
    // each accepted once, signed.
    wait_for(
        "a webhook turned away while the receiver is down",
        WAIT,
        || async { (received.lock().unwrap().turned_away > 0).then_some(()) },
    )
    .await;
    // The waiting events show in `status` and in /metrics.
    let dm = dispatcher.management_room().await;
    let status = dispatcher.ask(&dm, "status").await;
    assert!(
        status.contains("Webhook events waiting: ") && !status.contains("waiting: 0,"),
        "{status}"
    );
    let metrics = reqwest::get(h.metrics_url.clone().unwrap()).await.unwrap();
    let metrics = metrics.text().await.unwrap();
    let depth = (metrics.lines())
        .find_map(|l| l.strip_prefix(r#"threema_bridge_queue_depth{queue="webhooks"} "#))
        .expect("the webhooks queue in /metrics");
    assert_ne!(depth, "0", "{metrics}");
    received.lock().unwrap().up = true;
    for kind in ["message.delivered", "message.read", "message.acknowledged"] {
        let event = wait_for(&format!("{kind} at the receiver"), WAIT, || async {
            events(&received, kind, &id).pop()
        })
        .await;
        assert_eq!(event["data"]["reference"], "ORD-17");
        assert_eq!(event["data"]["threema_id"], north1.as_str());
        assert_eq!(event["client"], "ERP");
    }
    // Another client does not see it.
    let (status, _) = get(&api, NORTH_TOKEN, &format!("/api/v1/messages/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The North client's selection of everyone reaches the North drivers only.
    let all = json!({"to": {"selection": "all"}, "text": "Hof Nord schließt um 18 Uhr"});
    let (status, _, accepted) = post(&api, NORTH_TOKEN, Some("close-1"), &all).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let north_id = accepted["id"].as_str().unwrap().to_owned();
    for phone in [&north1, &north2] {
        wait_for("the North message on each North phone", WAIT, || async {
            (texts(&sim, phone).iter())
                .any(|(_, t)| t == "North ERP: Hof Nord schließt um 18 Uhr")
                .then_some(())
        })
        .await;
    }
    let (_, message) = get(&api, NORTH_TOKEN, &format!("/api/v1/messages/{north_id}")).await;
    let reached: Vec<&str> = (message["recipients"].as_array().unwrap().iter())
        .map(|r| r["threema_id"].as_str().unwrap())
        .collect();
    assert_eq!(reached.len(), 2, "{message}");
    assert!(reached.contains(&north1.as_str()) && reached.contains(&north2.as_str()));

    // A delivery note with the text as its caption: an image on the phone, the file in the
    // portal.
    use base64::Engine;
    let png = hex::decode(PNG).unwrap();
    let note = json!({
        "to": {"employee_id": "N-2"},
        "text": "Lieferschein Tour 9",
        "file": {
            "name": "lieferschein.png",
            "mime_type": "image/png",
            "data_base64": base64::engine::general_purpose::STANDARD.encode(&png),
        },
    });
    let (status, _, accepted) = post(&api, ERP_TOKEN, Some("note-9"), &note).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let (data, json) = wait_for("the delivery note on Nils' phone", WAIT, || async {
        (sim.inbox(&north2).into_iter()).find_map(|m| match m.message {
            Decoded::File { data, json, .. } => Some((data, json)),
            _ => None,
        })
    })
    .await;
    assert_eq!(data, png);
    assert_eq!(json["d"], "ERP: Lieferschein Tour 9");
    let mut broken = note.clone();
    broken["file"]["data_base64"] = json!("not base64!");
    let (status, _, problem) = post(&api, ERP_TOKEN, None, &broken).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    // Nina answers with a quick code: the answer to the newest message the API sent her.
    sim.send_from_user(&north1, UserMessage::text("2"))
        .await
        .unwrap();
    let answer = wait_for("message.answered at the receiver", WAIT, || async {
        events(&received, "message.answered", &north_id).pop()
    })
    .await;
    assert_eq!(answer["data"]["quick_code"]["meaning"], "loaded");
    assert_eq!(answer["data"]["text"], "2");
    assert_eq!(answer["client"], "North ERP");

    // Across a restart the key still finds the message: nothing is sent again.
    h.restart(Some(&sim)).await;
    let api = h.api_url.clone().unwrap();
    let (status, _, again) = post(&api, ERP_TOKEN, Some("order-17"), &sent).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (again["id"].as_str(), &again["replayed"]),
        (Some(id.as_str()), &json!(true))
    );
    let (status, _, again) = post(&api, NORTH_TOKEN, Some("close-1"), &all).await;
    assert_eq!(
        (status, again["id"].as_str()),
        (StatusCode::ACCEPTED, Some(north_id.as_str()))
    );
    // A message sent after the restart arrives after the replays would have: none did.
    let probe = json!({"to": {"threema_id": north1}, "text": "probe"});
    let (status, _, _) = post(&api, ERP_TOKEN, None, &probe).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_for("the probe on Nina's phone", WAIT, || async {
        texts(&sim, &north1)
            .iter()
            .any(|(_, t)| t == "ERP: probe")
            .then_some(())
    })
    .await;
    let nina_texts: Vec<String> = texts(&sim, &north1).into_iter().map(|(_, t)| t).collect();
    let once = |needle: &str| nina_texts.iter().filter(|t| *t == needle).count();
    assert_eq!(once("ERP: Tour 17: Lager Nord, 14:00"), 1, "{nina_texts:?}");
    assert_eq!(
        once("North ERP: Hof Nord schließt um 18 Uhr"),
        1,
        "{nina_texts:?}"
    );
    assert!(
        texts(&sim, &south).is_empty(),
        "the South driver got nothing"
    );
    // Each event reached the receiver once (at least once, and nothing repeated it), every
    // signature held.
    {
        let seen = received.lock().unwrap();
        assert_eq!(seen.bad_signatures, 0);
        let ids: std::collections::BTreeSet<&String> =
            seen.accepted.iter().map(|(id, _)| id).collect();
        assert_eq!(ids.len(), seen.accepted.len(), "an event accepted twice");
    }

    // Nina's export holds what the programs sent her, with the job-less message's reference.
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);
    let zip = dir.path().join("nina.zip");
    let args = ["gdpr", "export", "N-1", "-o", zip.to_str().unwrap()];
    let (code, _, err) = common::bridge::run_cli(&config, &args, &[("USER", "dpo")]);
    assert_eq!(code, 0, "{err}");
    let files = crate::gdpr_export::unzip(&zip);
    let profile: Value = serde_json::from_slice(&files["profile.json"]).unwrap();
    let sent = profile["integration_api"]
        .as_array()
        .expect("the API's messages");
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(
        (sent[0]["sent_by"].as_str(), sent[0]["reference"].as_str()),
        (Some("ERP"), Some("ORD-17"))
    );
    assert_eq!(sent[1]["sent_by"], "North ERP");

    // Audited with the client's name.
    let audit = h
        .bridge
        .store
        .audit_recent(Some(&north1), 50)
        .await
        .unwrap();
    let by_erp = audit
        .iter()
        .filter(|e| e.actor == "api:ERP" && e.action == "api.message");
    assert_eq!(by_erp.count(), 2, "{audit:?}");
    h.stop().await;
}

/// The served OpenAPI document passes openapi-spec-validator and lists every route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_validates_and_lists_every_route() {
    let (h, _sim) = Harness::with_simulator(|c| {
        c.sections = format!(
            "api:\n  listen: 127.0.0.1:0\n  clients:\n    - name: ERP\n      token: {ERP_TOKEN}\n"
        );
    })
    .await;
    let api = h.api_url.clone().unwrap();
    let response = reqwest::get(format!("{api}/api/v1/openapi.json"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document = response.bytes().await.unwrap();
    let out = tokio::task::spawn_blocking(move || {
        common::python::script("validate_openapi.py", &document)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let routes: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        routes,
        [
            "POST /api/v1/jobs",
            "GET /api/v1/jobs/{id}",
            "POST /api/v1/messages",
            "GET /api/v1/messages/{id}",
            "GET /api/v1/openapi.json",
        ]
    );
    // The routes are served (a message that does not exist is the handler's 404, not the
    // fallback's for a route that does not).
    let (status, problem) = get(&api, ERP_TOKEN, "/api/v1/messages/msg_nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["detail"], "no message of this client has this id");
    let (_, problem) = get(&api, ERP_TOKEN, "/api/v1/nothing").await;
    assert_eq!(problem["detail"], "no such route");
    h.stop().await;
}

/// A job card reaches the phone readably; the driver's 👍 accepts it and a quick code sets
/// its state, seen in the API, in a webhook and on the shared inbox's desk board.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_card_answered_on_the_phone_changes_state_in_the_api_and_on_the_desk_board() {
    let (hook, received) = receiver().await;
    received.lock().unwrap().up = true;
    let (anna_lp, anna_id) = {
        let lp = unique_localpart("jobdesk");
        (lp.clone(), format!("@{lp}:{DOMAIN}"))
    };
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![anna_id.clone()];
        c.sections = format!(
            "inbox:\n  enabled: true\nquick_codes:\n  \"1\": arrived\n  \"2\": loaded\n\
             api:\n  listen: 127.0.0.1:0\n  clients:\n    - name: ERP\n      token: {ERP_TOKEN}\n  \
             webhooks:\n    - url: {hook}\n      secret: {HOOK_SECRET}\n      events: [job]\n"
        );
    })
    .await;
    let api = h.api_url.clone().unwrap();
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    let driver = add_phone(&sim, 'J', "Jana Fahrer", Behaviour::default());
    // The driver wrote once: the bridge knows her.
    sim.send_from_user(&driver, UserMessage::text("Hallo"))
        .await
        .unwrap();
    wait_for("the driver's portal", WAIT, || async {
        h.bridge.store.portal_by_threema_id(&driver).await.unwrap()
    })
    .await;

    let card = json!({
        "to": {"threema_id": driver},
        "title": "Tour 17",
        "fields": [
            {"name": "Address", "value": "Hafenstr. 1, Hamburg"},
            {"name": "Window", "value": "14:00–15:00"},
        ],
        "answers": {"kind": "accept_decline"},
        "reference": "ORD-17",
    });
    let jobs = |body: &Value| {
        let body = body.clone();
        let api = api.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{api}/api/v1/jobs"))
                .bearer_auth(ERP_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, accepted) = jobs(&card).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("job_"), "{id}");
    let on_phone = wait_for("the job card on the phone", WAIT, || async {
        (texts(&sim, &driver).into_iter()).find(|(_, t)| t.contains("Tour 17"))
    })
    .await;
    assert_eq!(
        on_phone.1,
        "ERP: 📋 Job: Tour 17\n• Address: Hafenstr. 1, Hamburg\n• Window: 14:00–15:00\n\
         Reply with 👍 to accept or 👎 to decline (tap and hold this message)."
    );
    let (_, job) = get(&api, ERP_TOKEN, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(
        (job["state"].as_str(), job["job"]["title"].as_str()),
        (Some("open"), Some("Tour 17"))
    );

    // Her 👍 accepts it.
    let receipt = UserMessage::DeliveryReceipt {
        status: 3,
        message_ids: vec![on_phone.0.clone()],
    };
    sim.send_from_user(&driver, receipt).await.unwrap();
    wait_for("the job accepted in the API", WAIT, || async {
        let (_, job) = get(&api, ERP_TOKEN, &format!("/api/v1/jobs/{id}")).await;
        (job["state"] == "accepted").then_some(())
    })
    .await;
    let event = wait_for("job.state_changed at the receiver", WAIT, || async {
        events(&received, "job.state_changed", &id).pop()
    })
    .await;
    assert_eq!(event["data"]["state"], "accepted");
    assert_eq!(event["data"]["reference"], "ORD-17");
    // She changes her mind, and back: the receiver hears each, the last one last.
    for (status, state) in [(4, "declined"), (3, "accepted")] {
        // A second apart: the phone's clock counts whole seconds.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let receipt = UserMessage::DeliveryReceipt {
            status,
            message_ids: vec![on_phone.0.clone()],
        };
        sim.send_from_user(&driver, receipt).await.unwrap();
        wait_for(&format!("the job {state} in the API"), WAIT, || async {
            let (_, job) = get(&api, ERP_TOKEN, &format!("/api/v1/jobs/{id}")).await;
            (job["state"] == state).then_some(())
        })
        .await;
    }
    let states = wait_for("three job.state_changed at the receiver", WAIT, || async {
        let events = events(&received, "job.state_changed", &id);
        let states: Vec<String> = (events.iter())
            .map(|e| e["data"]["state"].as_str().unwrap().to_owned())
            .collect();
        (states.len() >= 3).then_some(states)
    })
    .await;
    assert_eq!(states, ["accepted", "declined", "accepted"]);

    // A card answered with quick codes takes the code's meaning.
    let mut coded = card.clone();
    coded["title"] = json!("Tour 18");
    coded["answers"] = json!({"kind": "quick_codes", "codes": ["1", "2"]});
    let (_, accepted) = jobs(&coded).await;
    let coded_id = accepted["id"].as_str().unwrap().to_owned();
    let on_phone = wait_for("the coded card on the phone", WAIT, || async {
        (texts(&sim, &driver).into_iter()).find(|(_, t)| t.contains("Tour 18"))
    })
    .await;
    assert!(
        on_phone
            .1
            .ends_with("Answer with a code: 1 = arrived, 2 = loaded"),
        "{on_phone:?}"
    );
    sim.send_from_user(&driver, UserMessage::text("2"))
        .await
        .unwrap();
    wait_for("the coded job loaded in the API", WAIT, || async {
        let (_, job) = get(&api, ERP_TOKEN, &format!("/api/v1/jobs/{coded_id}")).await;
        (job["state"] == "loaded").then_some(())
    })
    .await;

    // A card answered in a poll: the choice is the state.
    let mut polled = card.clone();
    polled["title"] = json!("Tour 19");
    polled["answers"] = json!({"kind": "choices", "choices": ["Jetzt", "Später"]});
    let (_, accepted) = jobs(&polled).await;
    let polled_id = accepted["id"].as_str().unwrap().to_owned();
    let (poll_id, setup) = wait_for("the job's poll on the phone", WAIT, || async {
        (sim.inbox(&driver).into_iter()).find_map(|m| match m.message {
            Decoded::PollSetup { poll_id, json } => Some((poll_id, json)),
            _ => None,
        })
    })
    .await;
    assert_eq!(setup["d"], "ERP: Tour 19", "{setup}");
    assert_eq!(setup["c"][1]["n"], "Später");
    assert!(
        texts(&sim, &driver)
            .iter()
            .any(|(_, t)| t.starts_with("ERP: 📋 Job: Tour 19\n")
                && t.ends_with("Answer in the poll that follows.")),
        "the card before its poll"
    );
    let vote = UserMessage::PollVote {
        creator: common::bridge::GATEWAY_ID.into(),
        poll_id,
        choices: vec![(0, false), (1, true)],
    };
    sim.send_from_user(&driver, vote).await.unwrap();
    wait_for("the polled job's state in the API", WAIT, || async {
        let (_, job) = get(&api, ERP_TOKEN, &format!("/api/v1/jobs/{polled_id}")).await;
        (job["state"] == "Später").then_some(())
    })
    .await;

    // The desk sees both on its board.
    let room = wait_for("the desk room", WAIT, || async {
        h.bridge.store.state_get("desk_room").await.unwrap()
    })
    .await;
    anna.wait_invited_to(&room, WAIT).await;
    anna.join(&room).await;
    let board = crate::shared_inbox::wait_board(&anna, &room, |b| {
        b.contains("Tour 17 (ERP): ✅ accepted at ") && b.contains("Tour 18 (ERP): loaded at ")
    })
    .await;
    assert!(board.contains("📋 Jobs (last 24 h)"), "{board}");

    // What cannot be a card is refused, and nothing goes.
    let mut bad = card.clone();
    bad["answers"] = json!({"kind": "quick_codes", "codes": ["9"]});
    let (status, problem) = jobs(&bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut many = card.clone();
    many["to"] = json!({"selection": "all"});
    let (status, _) = jobs(&many).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    h.stop().await;
}

/// The real binary is SIGKILLed while the ERP's message is half given (its portal copy reached
/// the homeserver, the answer did not reach the bridge): the ERP repeats its request with the
/// same Idempotency-Key after the restart and the phone and the portal get it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_repeated_across_a_kill_sends_once() {
    let guard = common::synapse::acquire().await;
    let hs = guard.synapse;
    let dir = tempfile::tempdir().unwrap();
    let db = common::db::TestDb::sqlite();
    let desk_lp = unique_localpart("apikill");
    let free_port = || {
        (std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .local_addr()
            .unwrap()
            .port()
    };
    let api_port = free_port();
    let mut config = common::bridge::TestConfig::new(db.url());
    config.callback_port = free_port();
    config.dispatchers = vec![format!("@{desk_lp}:{DOMAIN}")];
    config.sections = format!(
        "api:\n  listen: 127.0.0.1:{api_port}\n  clients:\n    - name: ERP\n      token: {ERP_TOKEN}\n"
    );
    let sim = config.start_simulator(|_| {}).await;
    let direct = config.write(dir.path(), hs);
    let proxy = common::http_proxy::HttpProxy::start(&hs.url).await;
    let mut through_proxy = config.clone();
    through_proxy.homeserver_url = Some(proxy.url.clone());
    let proxy_dir = tempfile::tempdir().unwrap();
    let via_proxy = through_proxy.write(proxy_dir.path(), hs);
    let log = |n: u32| dir.path().join(format!("bridge-{n}.log"));
    let api = format!("http://127.0.0.1:{api_port}");

    let bridge = Process::start(&via_proxy, log(1)).await;
    let desk = Dispatcher::login(hs, &desk_lp, "Desk").await;
    let driver = add_phone(&sim, 'K', "Kai Kill", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Hallo"))
        .await
        .unwrap();
    let portal = desk.wait_invite(WAIT).await;
    desk.join(&portal).await;

    proxy.hold_answer("/send/m.room.message/api-");
    let sent = json!({"to": {"threema_id": driver}, "text": "Rampe 4 statt 2"});
    // The invite can reach the desk a moment before the portal is recorded: until then the
    // driver is unknown to the API (422, nothing stored), so the ERP asks again.
    let accepted = wait_for("the driver known to the API", WAIT, || async {
        let (status, _, accepted) = post(&api, ERP_TOKEN, Some("ramp-4"), &sent).await;
        match status {
            StatusCode::ACCEPTED => Some(accepted),
            StatusCode::UNPROCESSABLE_ENTITY => None,
            other => panic!("{other}: {accepted}"),
        }
    })
    .await;
    assert_eq!(accepted["replayed"], false, "{accepted}");
    proxy.held(1).await;
    bridge.kill();
    proxy.pass();

    let bridge = Process::start(&direct, log(2)).await;
    let (status, _, again) = post(&api, ERP_TOKEN, Some("ramp-4"), &sent).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (&again["id"], &again["replayed"]),
        (&accepted["id"], &json!(true))
    );
    let after = json!({"to": {"threema_id": driver}, "text": "danach"});
    post(&api, ERP_TOKEN, Some("after"), &after).await;
    wait_for("the later message on the phone", WAIT, || async {
        texts(&sim, &driver)
            .iter()
            .any(|(_, t)| t == "ERP: danach")
            .then_some(())
    })
    .await;
    let on_phone = (texts(&sim, &driver).into_iter())
        .filter(|(_, t)| t == "ERP: Rampe 4 statt 2")
        .count();
    assert_eq!(on_phone, 1, "once on the phone");
    let copies = (desk.messages(&portal).await.iter())
        .filter(|m| m["content"]["body"] == "🔌 ERP: Rampe 4 statt 2")
        .count();
    assert_eq!(copies, 1, "once in the portal");
    assert!(bridge.terminate().success());
}
