//! `POST /threema/callback` on its own listener (it may face the internet): MAC first, then
//! persist, then 200. The Gateway retries a callback only three more times, so a 200 is never
//! given before the message is durably stored.

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::StatusCode,
    routing::post,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Notify;
use tower_http::trace::TraceLayer;

use crate::{
    bridge::Bridge,
    store::NewThreemaItem,
    threema::callback::{self, CallbackError},
};

#[derive(Clone)]
pub struct CallbackState {
    pub bridge: Arc<Bridge>,
    pub secret: SecretString,
    pub wake: Arc<Notify>,
}

/// Largest callback body: boxes of up to ~8 KB arrive hex encoded (reference §6).
pub const MAX_CALLBACK_BYTES: usize = 64 * 1024;

pub fn router(state: CallbackState) -> Router {
    Router::new()
        .route("/threema/callback", post(callback))
        .layer(DefaultBodyLimit::max(MAX_CALLBACK_BYTES))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::info_span!("callback", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

async fn callback(
    State(state): State<CallbackState>,
    body: Result<Bytes, BytesRejection>,
) -> (StatusCode, &'static str) {
    let body = match body {
        Ok(body) => body,
        Err(BytesRejection::FailedToBufferBody(_)) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
        }
        Err(_) => return (StatusCode::BAD_REQUEST, "unreadable body\n"),
    };
    let gateway_id = state.bridge.threema.gateway_id().as_str();
    let verified = match callback::verify(&body, state.secret.expose_secret(), gateway_id) {
        Ok(verified) => verified,
        Err(e) => {
            tracing::warn!(error = %e, "callback refused");
            let status = match e {
                CallbackError::BadMac => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            return (status, reason(&e));
        }
    };
    let item = NewThreemaItem {
        sender: verified.from.as_str().to_owned(),
        message_id: verified.message_id,
        date: verified.date,
        nonce: hex::encode(verified.nonce),
        ciphertext: hex::encode(&verified.ciphertext),
        nickname: verified.nickname,
    };
    match state.bridge.store.threema_inbox_push(&item).await {
        Ok(new) => {
            tracing::debug!(from = %item.sender, message_id = %item.message_id, new, "callback stored");
            if new {
                state.wake.notify_one();
            }
            (StatusCode::OK, "")
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot store a callback; the Gateway will retry");
            (StatusCode::INTERNAL_SERVER_ERROR, "try again later\n")
        }
    }
}

fn reason(e: &CallbackError) -> &'static str {
    match e {
        CallbackError::BadMac => "bad MAC\n",
        CallbackError::WrongRecipient(_) => "wrong recipient\n",
        CallbackError::Missing(_) => "missing field\n",
        CallbackError::Repeated(_) => "repeated field\n",
        CallbackError::Malformed { .. } => "malformed field\n",
    }
}
