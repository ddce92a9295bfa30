//! `GET /health` (the process answers) and `GET /ready` (database and homeserver reachable).

use axum::{Json, extract::State, http::StatusCode};
use serde_json::{Value, json};

use super::AppState;

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (database, homeserver) = tokio::join!(state.bridge.store.ping(), state.probe.versions());
    let show = |ok: bool, err: String| if ok { "ok".to_owned() } else { err };
    let ready = database.is_ok() && homeserver.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "database": show(database.is_ok(), database.err().map(|e| e.to_string()).unwrap_or_default()),
        "homeserver": show(homeserver.is_ok(), homeserver.err().map(|e| e.to_string()).unwrap_or_default()),
        // Information, not a condition: a bridge out of credits still receives messages.
        "threema_credits": state.bridge.credits(),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
