//! `POST /threema/callback` on its own listener (it may face the internet): MAC first, then
//! persist, then 200. The Gateway retries a callback only three more times, so a 200 is never
//! given before the message is durably stored.
//!
//! Hostile clients: a body must arrive within `threema.callback_body_timeout_seconds` (slow
//! senders are cut off with 408), and an address that keeps sending refused requests (bad MAC,
//! malformed) is answered 429 without reading its body for a while. Only refusals count: the
//! real Gateway's valid callbacks are never throttled, as a throttled callback may be lost.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    http::StatusCode,
    routing::post,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
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
    pub guard: Arc<RefusalGuard>,
}

/// Addresses that sent too many refused requests, answered 429 until their block ends.
pub struct RefusalGuard {
    refusals: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    block_for: Duration,
}

impl RefusalGuard {
    /// `per_minute` refusals (and as many at once) are tolerated; beyond that the address is
    /// blocked for `block_for`.
    pub fn new(per_minute: u32, block_for: Duration) -> Self {
        let per_minute = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
        RefusalGuard {
            refusals: RateLimiter::keyed(Quota::per_minute(per_minute)),
            blocked: Mutex::default(),
            block_for,
        }
    }

    fn is_blocked(&self, ip: IpAddr) -> bool {
        let mut blocked = self.blocked.lock().expect("not poisoned");
        let now = Instant::now();
        blocked.retain(|_, until| *until > now);
        blocked.contains_key(&ip)
    }

    fn refused(&self, ip: IpAddr) {
        if self.refusals.check_key(&ip).is_err() {
            tracing::warn!(%ip, "too many refused callbacks; blocking the address for a while");
            let until = Instant::now() + self.block_for;
            self.blocked.lock().expect("not poisoned").insert(ip, until);
        }
        self.refusals.retain_recent();
    }
}

/// Largest callback body: boxes of up to ~8 KB arrive hex encoded (reference §6).
pub const MAX_CALLBACK_BYTES: usize = 64 * 1024;

pub fn router(state: CallbackState, body_timeout: Duration) -> Router {
    Router::new()
        .route("/threema/callback", post(callback))
        .layer(DefaultBodyLimit::max(MAX_CALLBACK_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            tracing::info_span!("callback", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(state)
}

async fn callback(
    State(state): State<CallbackState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> (StatusCode, &'static str) {
    let ip = peer.ip();
    if state.guard.is_blocked(ip) {
        return (StatusCode::TOO_MANY_REQUESTS, "too many refused requests\n");
    }
    let (status, text) = handle(&state, request.into_body()).await;
    if status.is_client_error() {
        state.guard.refused(ip);
    }
    (status, text)
}

async fn handle(state: &CallbackState, body: Body) -> (StatusCode, &'static str) {
    let body = match axum::body::to_bytes(body, MAX_CALLBACK_BYTES).await {
        Ok(body) => body,
        Err(e)
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) =>
        {
            return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
        }
        // The body timeout, or the client went away.
        Err(_) => return (StatusCode::REQUEST_TIMEOUT, "body not received in time\n"),
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
