//! A stand-in homeserver for the 10,000-driver rows, answering every client-server call the
//! bridge makes at once and remembering nothing but what it must hand out (room ids, event ids)
//! and when each message arrived.
//!
//! Why not Synapse: one Synapse on this machine creates about 5 rooms a second, so 10,000
//! portals would take over half an hour before anything is measured. What these rows measure
//! is the bridge's own cost with a large store (memory, startup, re-sync, CPU per message);
//! the end-to-end figures against the real homeserver are the 250-driver rows. Not used by
//! any test: the tests speak to Synapse.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::measure::Arrivals;

pub struct StandIn {
    pub url: String,
    pub arrivals: Arc<Arrivals>,
    shared: Arc<Shared>,
}

struct Shared {
    domain: String,
    bot: String,
    arrivals: Arc<Arrivals>,
    next: AtomicU64,
    requests: AtomicU64,
}

impl StandIn {
    pub async fn start(domain: &str, bot_localpart: &str) -> StandIn {
        let arrivals = Arc::new(Arrivals::default());
        let shared = Arc::new(Shared {
            domain: domain.to_owned(),
            bot: format!("@{bot_localpart}:{domain}"),
            arrivals: arrivals.clone(),
            next: AtomicU64::new(1),
            requests: AtomicU64::new(0),
        });
        // Files are uploaded whole: no body limit.
        let app = Router::new()
            .fallback(answer)
            .layer(axum::extract::DefaultBodyLimit::disable())
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        StandIn {
            url,
            arrivals,
            shared,
        }
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path();
    let last = path.rsplit('/').next().unwrap_or_default();
    let id = || shared.next.fetch_add(1, Ordering::Relaxed);
    let not_found = || {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"errcode": "M_NOT_FOUND", "error": "stand-in"})),
        )
            .into_response()
    };
    let ok = |value: Value| Json(value).into_response();
    match method {
        Method::GET if path.ends_with("/versions") => ok(json!({"versions": ["v1.11"]})),
        Method::GET if path.ends_with("/account/whoami") => ok(json!({"user_id": shared.bot})),
        // Nothing exists before the bridge makes it: no aliases, no profiles, no state.
        Method::GET if path.contains("/directory/room/") => not_found(),
        Method::GET if path.contains("/profile/") => not_found(),
        Method::GET if path.contains("/state/") => not_found(),
        Method::GET if path.ends_with("/messages") => ok(json!({"chunk": [], "start": "s"})),
        Method::GET if path.ends_with("/media/config") => ok(json!({"m.upload.size": 1u64 << 30})),
        Method::POST if path.contains("/appservice/") && last == "ping" => {
            ok(json!({"duration_ms": 1}))
        }
        Method::POST if last == "register" => {
            let localpart = body["username"].as_str().unwrap_or("user");
            ok(json!({"user_id": format!("@{localpart}:{}", shared.domain)}))
        }
        Method::POST if last == "createRoom" => {
            ok(json!({"room_id": format!("!standin{}:{}", id(), shared.domain)}))
        }
        // `/join/{room}` or `/rooms/{room}/join`: the room asked for.
        Method::POST if path.contains("/join") => {
            let segments: Vec<&str> = path.split('/').collect();
            let room = match last {
                "join" => segments[segments.len() - 2],
                room => room,
            };
            let room = url::form_urlencoded::parse(room.as_bytes())
                .next()
                .map_or_else(String::new, |(room, _)| room.into_owned());
            ok(json!({"room_id": room}))
        }
        Method::POST if path.ends_with("/media/v3/upload") => {
            ok(json!({"content_uri": format!("mxc://{}/{}", shared.domain, id())}))
        }
        Method::PUT if path.contains("/send/") => {
            if let Some(text) = body["body"].as_str() {
                shared.arrivals.record(text);
            }
            ok(json!({"event_id": format!("$standin{}", id())}))
        }
        Method::PUT if path.contains("/state/") => {
            ok(json!({"event_id": format!("$standin{}", id())}))
        }
        // Invites, kicks, leaves, profiles, receipts, typing: accepted.
        _ => ok(json!({})),
    }
}
