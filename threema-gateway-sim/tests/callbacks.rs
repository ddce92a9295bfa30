//! The callback engine (§4.3, §9.4): retries after the (scaled) interval, success only on 200,
//! discard after the last attempt, order with concurrency 1, every attempt recorded.

use crate::common;

use std::time::{Duration, Instant};

use axum::{Router, routing::post};
use common::{Receiver, WAIT};
use threema_gateway_sim::{CallbackOutcome, SimConfig, Simulator, UserMessage, UserSpec};

async fn setup(config: SimConfig) -> Simulator {
    let sim = common::start(config).await;
    sim.add_user(UserSpec::new("DRIVER01"));
    sim
}

fn config_for(receiver: &Receiver) -> SimConfig {
    let mut config = common::config();
    config.callback_url = Some(receiver.url.clone());
    config
}

async fn send(sim: &Simulator, text: &str) -> String {
    sim.send_from_user("DRIVER01", UserMessage::text(text))
        .await
        .unwrap()
}

#[tokio::test]
async fn two_failures_then_delivered_on_attempt_three() {
    let receiver = Receiver::start(&[500, 503], 200).await;
    let sim = setup(config_for(&receiver)).await;
    let started = Instant::now();
    let id = send(&sim, "retry me").await;
    assert_eq!(
        sim.wait_callback_outcome(&id, WAIT).await,
        CallbackOutcome::Delivered
    );
    // Two retry intervals of 300 s × 0.001 lie between the attempts.
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );

    let attempts = sim.callbacks();
    let summary: Vec<_> = attempts
        .iter()
        .map(|a| (a.attempt, a.status, a.outcome))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Some(500), None),
            (2, Some(503), None),
            (3, Some(200), Some(CallbackOutcome::Delivered)),
        ]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.message_id == id && a.from == "DRIVER01")
    );
    // Every attempt posts the same form (same MAC).
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.body == received[0].body));
    let metrics = sim.metrics();
    assert_eq!(
        (
            metrics.callbacks_attempted,
            metrics.callbacks_delivered,
            metrics.callbacks_discarded
        ),
        (3, 1, 0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn always_failing_is_discarded_after_the_configured_attempts() {
    let receiver = Receiver::start(&[], 500).await;
    let sim = setup(config_for(&receiver)).await;
    assert_eq!(sim.config().callback_attempts, 4, "initial + 3 retries");
    let id = send(&sim, "lost").await;
    assert_eq!(
        sim.wait_callback_outcome(&id, WAIT).await,
        CallbackOutcome::Discarded
    );
    let attempts = sim.callbacks();
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[3].outcome, Some(CallbackOutcome::Discarded));
    assert!(attempts[..3].iter().all(|a| a.outcome.is_none()));
    assert_eq!(receiver.received().len(), 4);
    assert_eq!(sim.metrics().callbacks_discarded, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrency_one_keeps_the_order_through_retries() {
    let receiver = Receiver::start(&[500], 200).await;
    let sim = setup(config_for(&receiver)).await;
    let ids = [
        send(&sim, "one").await,
        send(&sim, "two").await,
        send(&sim, "three").await,
    ];
    let received = receiver.wait(4).await;
    let order: Vec<(&str, u16)> = received
        .iter()
        .map(|r| (r.field("messageId").unwrap(), r.answered))
        .collect();
    assert_eq!(
        order,
        vec![
            (ids[0].as_str(), 500),
            (ids[0].as_str(), 200),
            (ids[1].as_str(), 200),
            (ids[2].as_str(), 200),
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn higher_concurrency_lets_later_messages_overtake_a_retry() {
    let receiver = Receiver::start(&[500], 200).await;
    let mut config = config_for(&receiver);
    config.callback_concurrency = 4;
    let sim = setup(config).await;
    let first = send(&sim, "one").await;
    // The first message got its 500 and waits for its retry; the second is not held up.
    assert_eq!(sim.wait_callbacks(1, WAIT).await[0].status, Some(500));
    let second = send(&sim, "two").await;
    assert_eq!(
        sim.wait_callback_outcome(&first, WAIT).await,
        CallbackOutcome::Delivered
    );
    let delivered: Vec<String> = receiver
        .received()
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| r.field("messageId").unwrap().to_owned())
        .collect();
    assert_eq!(delivered, vec![second, first]);
    sim.shutdown().await;
}

#[tokio::test]
async fn only_200_counts_unless_any_2xx_is_configured() {
    let receiver = Receiver::start(&[], 204).await;
    let mut config = config_for(&receiver);
    config.callback_attempts = 2;
    let sim = setup(config.clone()).await;
    let id = send(&sim, "no content").await;
    assert_eq!(
        sim.wait_callback_outcome(&id, WAIT).await,
        CallbackOutcome::Discarded
    );
    sim.shutdown().await;

    config.callback_accept_any_2xx = true;
    let sim = setup(config).await;
    let id = send(&sim, "no content").await;
    assert_eq!(
        sim.wait_callback_outcome(&id, WAIT).await,
        CallbackOutcome::Delivered
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn connect_errors_and_timeouts_are_recorded() {
    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_url = format!("http://{}/callback", closed.local_addr().unwrap());
    drop(closed);
    // A receiver that answers too late.
    let slow = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let slow_url = format!("http://{}/callback", slow.local_addr().unwrap());
    let app = Router::new().route(
        "/callback",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    tokio::spawn(async move { axum::serve(slow, app).await.unwrap() });

    let mut config = common::config();
    config.callback_attempts = 1;
    config.callback_timeout = Duration::from_millis(200);
    config.callback_url = Some(closed_url);
    let sim = setup(config).await;
    let refused = send(&sim, "refused").await;
    assert_eq!(
        sim.wait_callback_outcome(&refused, WAIT).await,
        CallbackOutcome::Discarded
    );
    sim.set_callback_url(&slow_url);
    let late = send(&sim, "late").await;
    assert_eq!(
        sim.wait_callback_outcome(&late, WAIT).await,
        CallbackOutcome::Discarded
    );

    let attempts = sim.callbacks();
    assert_eq!(attempts[0].status, None);
    assert!(
        attempts[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("request failed"),
        "{attempts:?}"
    );
    assert_eq!(attempts[1].status, None);
    assert!(
        attempts[1].error.as_deref().unwrap().starts_with("timeout"),
        "{attempts:?}"
    );
    assert!(attempts[1].latency >= Duration::from_millis(200));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_callback_url_fails_until_one_is_set() {
    let receiver = Receiver::ok().await;
    let sim = setup(common::config()).await;
    let id = send(&sim, "early").await;
    let first = sim.wait_callbacks(1, WAIT).await.remove(0);
    assert_eq!(first.error.as_deref(), Some("no callback URL configured"));
    sim.set_callback_url(&receiver.url);
    assert_eq!(
        sim.wait_callback_outcome(&id, WAIT).await,
        CallbackOutcome::Delivered
    );
    assert_eq!(sim.callbacks().last().unwrap().attempt, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn nickname_is_only_sent_when_set() {
    let receiver = Receiver::ok().await;
    let sim = common::start(config_for(&receiver)).await;
    sim.add_user(UserSpec::new("NONAME01"));
    let id = sim
        .send_from_user("NONAME01", UserMessage::text("hi"))
        .await
        .unwrap();
    let got = receiver.wait(1).await.remove(0);
    assert_eq!(got.field("messageId"), Some(id.as_str()));
    assert_eq!(got.field("nickname"), None);
    sim.shutdown().await;
}
