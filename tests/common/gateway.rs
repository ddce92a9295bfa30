//! The bridge's Gateway side on its own, without a bridge or a homeserver: its Gateway client
//! and a callback listener that verifies what arrives the way the bridge's endpoint does. Tests
//! of decoding use it to see what a phone's message becomes, where a running bridge would only
//! show its effect in a room.

use std::time::Duration;

use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use secrecy::SecretString;
use threema_bridge::{
    config::ThreemaConfig,
    threema::{
        ThreemaClient,
        callback::{self, Callback},
        receive::{ReceiveError, Received},
    },
};
use tokio::sync::{Mutex, mpsc};

use super::bridge::{GATEWAY_ID, GATEWAY_SECRET, TestConfig};

pub struct GatewaySide {
    pub client: ThreemaClient,
    /// Where the Gateway (the simulator, or a test) posts callbacks.
    pub callback_url: String,
    callbacks: Mutex<mpsc::UnboundedReceiver<Callback>>,
}

impl GatewaySide {
    /// The Gateway side of a bridge configured as `config` (its key, its Gateway URL), with a
    /// callback listener on a free port.
    pub async fn start(config: &TestConfig) -> GatewaySide {
        let (tx, rx) = mpsc::unbounded_channel();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback_url = format!("http://{}/threema/callback", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/threema/callback", post(receive_callback))
            .with_state(tx);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        GatewaySide {
            client: ThreemaClient::new(&threema_config(config)).unwrap(),
            callback_url,
            callbacks: Mutex::new(rx),
        }
    }

    /// The next callback that passed verification.
    pub async fn next_callback(&self, timeout: Duration) -> Callback {
        tokio::time::timeout(timeout, self.callbacks.lock().await.recv())
            .await
            .expect("a callback in time")
            .expect("the listener runs")
    }

    /// What the bridge makes of a callback body from a sender with `sender_key`: verified as
    /// its endpoint does, opened as its Threema worker does.
    pub async fn receive_body(&self, body: &str, sender_key: &[u8; 32]) -> (Callback, Received) {
        let callback = callback::verify(body.as_bytes(), GATEWAY_SECRET, GATEWAY_ID).unwrap();
        let received = self.receive(&callback, sender_key).await.unwrap();
        (callback, received)
    }

    /// What the bridge's Threema worker makes of a callback from a sender with `sender_key`.
    pub async fn receive(
        &self,
        callback: &Callback,
        sender_key: &[u8; 32],
    ) -> Result<Received, ReceiveError> {
        self.client
            .receive(&callback.nonce, &callback.ciphertext, sender_key, u64::MAX)
            .await
    }
}

async fn receive_callback(
    State(callbacks): State<mpsc::UnboundedSender<Callback>>,
    body: Bytes,
) -> StatusCode {
    match callback::verify(&body, GATEWAY_SECRET, GATEWAY_ID) {
        Ok(verified) => {
            let _ = callbacks.send(verified);
            StatusCode::OK
        }
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

fn threema_config(config: &TestConfig) -> ThreemaConfig {
    ThreemaConfig {
        api_url: config.gateway_url.parse().unwrap(),
        gateway_id: GATEWAY_ID.into(),
        secret: SecretString::from(GATEWAY_SECRET),
        private_key: SecretString::from(config.private_key.clone()),
        callback_listen: "127.0.0.1:0".parse().unwrap(),
        credits_warning: 0,
        timeout: Duration::from_secs(config.gateway_timeout_s),
        callback_body_timeout: Duration::from_secs(10),
        callback_refusals_per_minute: 60,
        callback_block: Duration::from_secs(60),
        trusted_proxies: Vec::new(),
        download_attempts: 10,
        file_memory_mib: 256,
    }
}
