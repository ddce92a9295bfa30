//! The outbound client's retry policy, against a tiny local server that answers what a
//! homeserver answers when it is overloaded or failing (no real homeserver fails on cue).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Json, Router, http::StatusCode, routing::get};
use serde_json::{Value, json};
use threema_bridge::matrix::{MatrixClient, MatrixError, RetryPolicy};

/// Serves `whoami`, answering the n-th request with `script[n]` (the last one repeats).
async fn scripted(script: Vec<(StatusCode, Value)>) -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().route(
        "/_matrix/client/v3/account/whoami",
        get(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let (status, body) = script[n.min(script.len() - 1)].clone();
            async move { (status, Json(body)) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, calls)
}

fn client(addr: SocketAddr) -> MatrixClient {
    let url = url::Url::parse(&format!("http://{addr}")).unwrap();
    MatrixClient::new(&url, "as-token".to_owned().into()).with_retry(RetryPolicy {
        attempts: 4,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    })
}

fn whoami_ok() -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({"user_id": "@threemabot:dispatch.test"}),
    )
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_honouring_retry_after() {
    let (addr, calls) = scripted(vec![
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"errcode": "M_LIMIT_EXCEEDED", "error": "slow down", "retry_after_ms": 300}),
        ),
        (StatusCode::BAD_GATEWAY, json!({})),
        whoami_ok(),
    ])
    .await;
    let started = Instant::now();
    let me = client(addr).whoami(None).await.unwrap();
    assert_eq!(me.as_str(), "@threemabot:dispatch.test");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited as the homeserver asked"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (addr, calls) = scripted(vec![(
        StatusCode::UNAUTHORIZED,
        json!({"errcode": "M_UNKNOWN_TOKEN", "error": "Invalid access token"}),
    )])
    .await;
    let err = client(addr).whoami(None).await.unwrap_err();
    assert_eq!(err.errcode(), Some("M_UNKNOWN_TOKEN"));
    assert!(!err.is_transient());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn retries_stop_after_the_last_attempt() {
    let (addr, calls) = scripted(vec![(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"errcode": "M_UNKNOWN"}),
    )])
    .await;
    let err = client(addr).whoami(None).await.unwrap_err();
    assert!(
        matches!(err, MatrixError::Api { status, .. } if status == StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn an_unreachable_homeserver_is_a_transient_transport_error() {
    // Bind and drop: nothing listens on this port any more.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = client(addr).whoami(None).await.unwrap_err();
    assert!(matches!(err, MatrixError::Transport(_)), "{err}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains("as-token"));
}

/// A directory sync reports the requests it sent; a request another task sends meanwhile (the
/// bridge answering a dispatcher) is not one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counted_requests_are_the_counting_tasks_own() {
    let (addr, calls) = scripted(vec![whoami_ok()]).await;
    let matrix = client(addr);
    let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
    let (sent_tx, sent_rx) = tokio::sync::oneshot::channel::<()>();
    let other = matrix.clone();
    let elsewhere = tokio::spawn(async move {
        gate_rx.await.unwrap();
        for _ in 0..3 {
            other.whoami(None).await.unwrap();
        }
        sent_tx.send(()).unwrap();
    });
    let ((), counted) = threema_bridge::matrix::counting_requests(async {
        matrix.whoami(None).await.unwrap();
        gate_tx.send(()).unwrap();
        sent_rx.await.unwrap();
        matrix.whoami(None).await.unwrap();
    })
    .await;
    elsewhere.await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(counted, 2);
}
