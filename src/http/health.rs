//! `GET /health` (the process answers) and `GET /ready` (started, caught up with the
//! homeserver's timeline, database and homeserver reachable; with the process's role, active
//! or standby).

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::AppState;

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (database, homeserver) = tokio::join!(state.bridge.store.ping(), state.probe.versions());
    let show = |ok: bool, err: String| if ok { "ok".to_owned() } else { err };
    let started = state
        .bridge
        .started
        .load(std::sync::atomic::Ordering::Relaxed);
    // Transactions are refused until a due catch-up with the homeserver's timeline is done.
    let caught_up = state.bridge.catch_up.accepts_pushes();
    let ready = started && caught_up && database.is_ok() && homeserver.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "started": started,
        "caught_up": caught_up,
        "database": show(database.is_ok(), database.err().map(|e| e.to_string()).unwrap_or_default()),
        "homeserver": show(homeserver.is_ok(), homeserver.err().map(|e| e.to_string()).unwrap_or_default()),
        // A standby is ready too: it stores what is pushed to it for the active one.
        "role": state.bridge.store.fence().role().as_str(),
        // Information, not a condition: a bridge out of credits still receives messages.
        "threema_credits": state.bridge.credits.balance(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
