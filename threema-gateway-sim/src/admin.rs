//! The admin API under `/_sim/` (§9.5): the library's controls as JSON over HTTP, for the demo,
//! for curl, and for tests written in other languages. Documented in the README.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::ENDPOINT_NAMES,
    config::AccountMode,
    error::SimError,
    faults::Fault,
    sim::Simulator,
    users::{Behaviour, UserMessage, UserSpec},
};

pub(crate) fn router<S>(sim: Simulator) -> Router<S> {
    Router::new()
        .route("/reset", post(reset))
        .route("/users", get(list_users).post(add_user))
        .route("/users/{id}", get(get_user).delete(remove_user))
        .route("/users/{id}/behaviour", put(set_behaviour))
        .route("/users/{id}/send", post(send))
        .route("/users/{id}/inbox", get(inbox))
        .route("/users/{id}/outbox", get(outbox))
        .route("/credits", get(get_credits).put(set_credits))
        .route(
            "/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/callbacks", get(callbacks))
        .route("/metrics", get(metrics))
        .route("/config", get(get_config).put(put_config))
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance_clock))
        .with_state(sim)
}

struct AdminError(StatusCode, String);

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<SimError> for AdminError {
    fn from(error: SimError) -> Self {
        let status = match error {
            SimError::UnknownUser(_) => StatusCode::NOT_FOUND,
            SimError::DuplicateUser(_) => StatusCode::CONFLICT,
            SimError::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        };
        AdminError(status, error.to_string())
    }
}

type AdminResult = Result<Response, AdminError>;

fn ok(value: impl serde::Serialize) -> AdminResult {
    Ok(Json(value).into_response())
}

fn unknown_user(id: &str) -> AdminError {
    SimError::UnknownUser(id.to_owned()).into()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    users: bool,
}

async fn reset(State(sim): State<Simulator>, body: Option<Json<ResetBody>>) -> AdminResult {
    let body = body.map(|Json(body)| body).unwrap_or_default();
    sim.reset(body.users);
    ok(json!({ "reset": true, "users_removed": body.users }))
}

async fn list_users(State(sim): State<Simulator>) -> AdminResult {
    ok(sim.users())
}

async fn add_user(State(sim): State<Simulator>, Json(spec): Json<UserSpec>) -> AdminResult {
    let info = sim.try_add_user(spec)?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

async fn get_user(State(sim): State<Simulator>, Path(id): Path<String>) -> AdminResult {
    let info = sim.user(&id).ok_or_else(|| unknown_user(&id))?;
    let behaviour = sim
        .shared()
        .lock()
        .users
        .get(&id)
        .map(|u| u.behaviour.clone());
    ok(json!({ "user": info, "behaviour": behaviour }))
}

async fn remove_user(State(sim): State<Simulator>, Path(id): Path<String>) -> AdminResult {
    if sim.remove_user(&id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(unknown_user(&id))
    }
}

async fn set_behaviour(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    Json(behaviour): Json<Behaviour>,
) -> AdminResult {
    sim.set_behaviour(&id, behaviour.clone())?;
    ok(behaviour)
}

async fn send(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    Json(message): Json<UserMessage>,
) -> AdminResult {
    let message_id = sim.send_from_user(&id, message).await?;
    ok(json!({ "messageId": message_id }))
}

/// `?count=N&timeout_ms=T` turns the read into a wait for at least N entries (long poll).
#[derive(Deserialize)]
struct WaitQuery {
    count: Option<usize>,
    timeout_ms: Option<u64>,
}

impl WaitQuery {
    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(10_000))
    }
}

async fn inbox(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    Query(wait): Query<WaitQuery>,
) -> AdminResult {
    sim.user(&id).ok_or_else(|| unknown_user(&id))?;
    match wait.count {
        Some(count) => ok(sim.try_wait_inbox(&id, count, wait.timeout()).await?),
        None => ok(sim.inbox(&id)),
    }
}

async fn outbox(
    State(sim): State<Simulator>,
    Path(id): Path<String>,
    Query(wait): Query<WaitQuery>,
) -> AdminResult {
    sim.user(&id).ok_or_else(|| unknown_user(&id))?;
    match wait.count {
        Some(count) => ok(sim.try_wait_outbox(&id, count, wait.timeout()).await?),
        None => ok(sim.outbox(&id)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditsBody {
    credits: i64,
}

async fn get_credits(State(sim): State<Simulator>) -> AdminResult {
    ok(json!({ "credits": sim.credits() }))
}

async fn set_credits(State(sim): State<Simulator>, Json(body): Json<CreditsBody>) -> AdminResult {
    sim.set_credits(body.credits);
    ok(json!({ "credits": sim.credits() }))
}

fn faults_json(sim: &Simulator) -> BTreeMap<String, Fault> {
    sim.faults().into_iter().collect()
}

async fn get_faults(State(sim): State<Simulator>) -> AdminResult {
    ok(faults_json(&sim))
}

/// `{"send_e2e": {"status": 500, "times": 2}, "*": {"delay_ms": 100}}` — adds or replaces.
async fn put_faults(
    State(sim): State<Simulator>,
    Json(faults): Json<BTreeMap<String, Fault>>,
) -> AdminResult {
    if let Some(name) = faults
        .keys()
        .find(|name| *name != "*" && !ENDPOINT_NAMES.contains(&name.as_str()))
    {
        return Err(AdminError(
            StatusCode::BAD_REQUEST,
            format!("unknown endpoint {name:?}; expected one of {ENDPOINT_NAMES:?} or \"*\""),
        ));
    }
    for (name, fault) in faults {
        sim.inject_fault(&name, fault);
    }
    ok(faults_json(&sim))
}

async fn clear_faults(State(sim): State<Simulator>) -> AdminResult {
    sim.clear_faults();
    ok(faults_json(&sim))
}

async fn callbacks(State(sim): State<Simulator>, Query(wait): Query<WaitQuery>) -> AdminResult {
    match wait.count {
        Some(count) => ok(sim.try_wait_callbacks(count, wait.timeout()).await?),
        None => ok(sim.callbacks()),
    }
}

async fn metrics(State(sim): State<Simulator>) -> AdminResult {
    ok(sim.metrics())
}

fn config_json(sim: &Simulator) -> Value {
    let config = sim.config();
    json!({
        "base_url": sim.base_url(),
        "gateway_id": config.gateway_id,
        "gateway_public_key": hex::encode(config.gateway_public_key),
        "mode": match config.mode { AccountMode::EndToEnd => "e2e", AccountMode::Basic => "basic" },
        "callback_url": sim.callback_url(),
        "starting_credits": config.credits,
        "seed": config.seed,
        "time_scale": config.time_scale,
        "callback_attempts": config.callback_attempts,
        "callback_retry_interval_ms": config.callback_retry_interval.as_millis() as u64,
        "callback_timeout_ms": config.callback_timeout.as_millis() as u64,
        "callback_concurrency": config.callback_concurrency,
        "limits": {
            "text_bytes": config.limits.text_bytes,
            "box_bytes": config.limits.box_bytes,
            "blob_bytes": config.limits.blob_bytes,
            "bulk_messages": config.limits.bulk_messages,
        },
        "endpoints": ENDPOINT_NAMES,
    })
}

async fn get_config(State(sim): State<Simulator>) -> AdminResult {
    ok(config_json(&sim))
}

/// Only the callback URL can change at runtime (`null` removes it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigBody {
    callback_url: Option<String>,
}

async fn put_config(State(sim): State<Simulator>, Json(body): Json<ConfigBody>) -> AdminResult {
    match body.callback_url {
        Some(url) => sim.set_callback_url(&url),
        None => sim.clear_callback_url(),
    }
    ok(config_json(&sim))
}

async fn clock(State(sim): State<Simulator>) -> AdminResult {
    ok(json!({ "now": sim.now() }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    seconds: u64,
}

async fn advance_clock(State(sim): State<Simulator>, Json(body): Json<AdvanceBody>) -> AdminResult {
    sim.advance_clock(Duration::from_secs(body.seconds));
    ok(json!({ "now": sim.now() }))
}
