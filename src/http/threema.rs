//! `POST /threema/callback` on its own listener (it may face the internet): MAC first, then
//! persist, then 200. The Gateway retries a callback only three more times, so a 200 is never
//! given before the message is durably stored.
//!
//! Hostile clients: a body must arrive within `threema.callback_body_timeout_seconds` (slow
//! senders are cut off with 408), and an address that keeps guessing at the MAC is answered 429
//! for a while. Every body is still read (up to 64 KB) and its MAC checked, so what the Gateway
//! sent is taken whatever address it came through: behind a reverse proxy every request has the
//! proxy's address, unless it is named in `threema.trusted_proxies` (then `X-Forwarded-For`
//! names the client). An authentic callback whose fields do not parse is stored as it came, not
//! refused: the Gateway does not send it again, and the Threema inbox reports it.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use tower_http::trace::TraceLayer;

use crate::{
    bridge::Bridge,
    config::ThreemaConfig,
    store::{NewThreemaItem, ThreemaIntake},
    threema::{
        ThreemaId,
        callback::{self, Authentic, CallbackError},
    },
};

#[derive(Clone)]
pub struct CallbackState {
    pub bridge: Arc<Bridge>,
    pub secret: SecretString,
    pub guard: Arc<RefusalGuard>,
    pub proxies: Arc<TrustedProxies>,
    /// Stores callbacks, sharing commits between those that arrive together.
    pub intake: ThreemaIntake,
}

impl CallbackState {
    /// The callback listener's state as `threema:` configures it; starts the callbacks' writer.
    pub fn new(bridge: Arc<Bridge>, config: &ThreemaConfig) -> Self {
        let guard = RefusalGuard::new(config.callback_refusals_per_minute, config.callback_block);
        CallbackState {
            intake: ThreemaIntake::start(bridge.store.clone()),
            bridge,
            secret: config.secret.clone(),
            guard: Arc::new(guard),
            proxies: Arc::new(TrustedProxies::new(config.trusted_proxies.clone())),
        }
    }
}

/// `threema.trusted_proxies`: reverse proxies whose `X-Forwarded-For` names the client.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    pub fn new(proxies: Vec<IpAddr>) -> Self {
        TrustedProxies(proxies)
    }

    /// The client a request came from: `peer`, or, when `peer` is a trusted proxy, the last
    /// address in `X-Forwarded-For` that is not one (each proxy appends the address it was
    /// connected from, so only the entries our proxies added can be believed).
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.0.contains(&peer) {
            return peer;
        }
        let forwarded: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for entry in forwarded.iter().rev() {
            match entry.parse::<IpAddr>() {
                Ok(ip) if self.0.contains(&ip) => continue,
                Ok(ip) => return ip,
                Err(_) => break,
            }
        }
        peer
    }
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
    let ip = state.proxies.client_of(peer.ip(), request.headers());
    let refused = |reason| state.bridge.metrics.callback_refused(reason);
    let body = match axum::body::to_bytes(request.into_body(), MAX_CALLBACK_BYTES).await {
        Ok(body) => body,
        Err(e)
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) =>
        {
            refused("too_large");
            return (StatusCode::PAYLOAD_TOO_LARGE, "body too large\n");
        }
        // The body timeout, or the client went away.
        Err(_) => {
            refused("timeout");
            return (StatusCode::REQUEST_TIMEOUT, "body not received in time\n");
        }
    };
    // Every body is read and its MAC checked, from a blocked address too: what the Gateway sent
    // is taken whatever address it came through (behind a proxy, every request has the same).
    let blocked = state.guard.is_blocked(ip);
    let authentic = match callback::authenticate(&body, state.secret.expose_secret()) {
        Ok(authentic) => authentic,
        Err(e) => {
            // Only guessing at the MAC counts toward a block; a blocked address hears 429.
            if e == CallbackError::BadMac {
                state.guard.refused(ip);
            }
            if blocked {
                refused("blocked");
                return (StatusCode::TOO_MANY_REQUESTS, "too many refused requests\n");
            }
            refused(match e {
                CallbackError::BadMac => "bad_mac",
                CallbackError::WrongRecipient(_) => "wrong_recipient",
                _ => "malformed",
            });
            tracing::warn!(error = %e, "callback refused");
            let status = match e {
                CallbackError::BadMac => StatusCode::UNAUTHORIZED,
                _ => StatusCode::BAD_REQUEST,
            };
            return (status, reason(&e));
        }
    };
    store(
        &state,
        item_of(&authentic, state.bridge.threema.gateway_id()),
    )
    .await
}

/// The inbox row of an authentic callback. One whose fields do not parse is the Gateway's
/// anomaly: it is stored as it came (the Gateway would not send it again) and the Threema inbox
/// records why it cannot be read and tells the admins.
fn item_of(authentic: &Authentic, gateway_id: &ThreemaId) -> NewThreemaItem {
    match authentic.callback(gateway_id.as_str()) {
        Ok(verified) => NewThreemaItem {
            sender: verified.from.as_str().to_owned(),
            message_id: verified.message_id,
            date: verified.date,
            nonce: hex::encode(verified.nonce),
            ciphertext: hex::encode(&verified.ciphertext),
            nickname: verified.nickname,
        },
        Err(e) => {
            tracing::warn!(error = %e, "an authentic callback with a malformed field is kept");
            let field = |name| authentic.field(name).unwrap_or_default();
            // The short fields as they came, cut where they cannot be what the protocol says.
            let cut = |value: &str| value.chars().take(64).collect::<String>();
            NewThreemaItem {
                sender: cut(field("from")),
                message_id: cut(field("messageId")),
                date: field("date").parse().unwrap_or_default(),
                nonce: cut(field("nonce")),
                ciphertext: field("box").to_owned(),
                nickname: authentic.field("nickname").map(cut),
            }
        }
    }
}

async fn store(state: &CallbackState, item: NewThreemaItem) -> (StatusCode, &'static str) {
    let (from, message_id) = (item.sender.clone(), item.message_id.clone());
    match state.intake.push(item).await {
        Ok(stored) => {
            tracing::debug!(%from, %message_id, new = stored.is_some(), "callback stored");
            state.bridge.wakes.threema.hand(stored);
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
        CallbackError::TooManyFields => "too many fields\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_trusted_proxies_name_the_client() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxies = TrustedProxies::new(vec![ip("10.0.0.1"), ip("10.0.0.2")]);
        let forwarded = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-forwarded-for", value.parse().unwrap());
            headers
        };
        // Behind our proxies: the last address they did not add themselves.
        let chain = forwarded("203.0.113.5, 198.51.100.9, 10.0.0.2");
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), &chain),
            ip("198.51.100.9")
        );
        // Anyone else cannot choose their address by sending the header.
        let claimed = forwarded("203.0.113.5");
        assert_eq!(
            proxies.client_of(ip("192.0.2.7"), &claimed),
            ip("192.0.2.7")
        );
        // No header, or junk in it: the proxy's own address.
        assert_eq!(
            proxies.client_of(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let junk = forwarded("not an address");
        assert_eq!(proxies.client_of(ip("10.0.0.1"), &junk), ip("10.0.0.1"));
    }

    proptest::proptest! {
        /// Whatever a client puts in the header, the answer is the peer or an address the
        /// header names that is not one of our proxies; a peer that is not a proxy is never
        /// overruled.
        #[test]
        fn the_header_names_only_a_client_behind_our_proxies(
            value in "[0-9a-f.:, ]{0,80}",
            peer_is_proxy in proptest::bool::ANY,
        ) {
            let proxy: IpAddr = "10.0.0.1".parse().unwrap();
            let proxies = TrustedProxies::new(vec![proxy]);
            let peer = if peer_is_proxy { proxy } else { "192.0.2.7".parse().unwrap() };
            let mut headers = HeaderMap::new();
            if let Ok(header) = value.parse() {
                headers.insert("x-forwarded-for", header);
            }
            let client = proxies.client_of(peer, &headers);
            if !peer_is_proxy {
                proptest::prop_assert_eq!(client, peer);
            } else if client != peer {
                proptest::prop_assert!(client != proxy);
                let named = value.split(',').any(|entry| entry.trim().parse() == Ok(client));
                proptest::prop_assert!(named);
            }
        }
    }
}
