//! Shared fixtures: a simulator with fast simulated time, and a callback receiver that records
//! what it got and answers with scripted statuses.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use threema_gateway_sim::{SimConfig, Simulator, crypto};
use tokio::sync::watch;

pub const GATEWAY_ID: &str = "*TESTGW1";
pub const SECRET: &str = "test-secret";
/// The Gateway ID's private key: the client side's secret, never given to the simulator.
pub const GATEWAY_SK: [u8; 32] = [0x11; 32];
pub const WAIT: Duration = Duration::from_secs(10);

pub fn gateway_pk() -> [u8; 32] {
    crypto::public_key(&GATEWAY_SK)
}

/// Simulated delays a thousand times faster: a 300 s retry interval takes 300 ms.
pub fn config() -> SimConfig {
    let mut config = SimConfig::new(GATEWAY_ID, SECRET, gateway_pk());
    config.time_scale = 0.001;
    config
}

pub async fn start(config: SimConfig) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

/// One request the callback receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Bytes,
    pub fields: Vec<(String, String)>,
    pub content_type: String,
    pub answered: u16,
}

impl Received {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Clone)]
struct ReceiverState {
    script: Arc<Mutex<VecDeque<u16>>>,
    fallback: u16,
    received: Arc<Mutex<Vec<Received>>>,
    changed: watch::Sender<usize>,
}

/// An HTTP server standing in for the client's callback endpoint.
pub struct Receiver {
    pub url: String,
    state: ReceiverState,
}

impl Receiver {
    /// Answers with `script` in order, then with `fallback` for ever.
    pub async fn start(script: &[u16], fallback: u16) -> Receiver {
        let state = ReceiverState {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            fallback,
            received: Arc::default(),
            changed: watch::channel(0).0,
        };
        let app = Router::new()
            .route("/callback", post(record))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/callback", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, state }
    }

    pub async fn ok() -> Receiver {
        Receiver::start(&[], 200).await
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived.
    pub async fn wait(&self, count: usize) -> Vec<Received> {
        let mut changes = self.state.changed.subscribe();
        let wait = async {
            loop {
                let received = self.received();
                if received.len() >= count {
                    return received;
                }
                changes.changed().await.unwrap();
            }
        };
        match tokio::time::timeout(WAIT, wait).await {
            Ok(received) => received,
            Err(_) => panic!(
                "callback receiver: waited for {count}, got {:#?}",
                self.received()
            ),
        }
    }
}

async fn record(
    State(state): State<ReceiverState>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(state.fallback);
    let received = Received {
        fields: form_urlencoded::parse(&body).into_owned().collect(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body,
        answered: status,
    };
    let count = {
        let mut all = state.received.lock().unwrap();
        all.push(received);
        all.len()
    };
    state.changed.send_replace(count);
    StatusCode::from_u16(status).unwrap()
}
