//! The integration API on `api.listen` (`/api/v1/…`): bearer tokens per client, compared in
//! constant time; each request bounded in size and rate; errors as problem details (RFC 9457,
//! `application/problem+json`). Thin: authenticate, parse, call `bridge::integration`, answer.
//! The routes are described by `openapi.json`, served as it is.

mod problem;

use std::{num::NonZeroU32, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

pub use problem::Problem;

use crate::{
    bridge::{
        Bridge,
        integration::{
            Accepted, DeliveryState, RecipientStatus, SendRefused, SendRequest, job::JobRequest,
        },
    },
    config::ApiClient,
    zone::rfc3339,
};

/// The OpenAPI 3.1 description of every route, as served.
pub const OPENAPI: &str = include_str!("openapi.json");
/// A message with a long text and its JSON is a few kilobytes.
const MAX_BODY: usize = 64 * 1024;
/// A message may carry a file (10 MiB, base64 in the JSON).
const MAX_MESSAGE_BODY: usize = 16 * 1024 * 1024;
/// Requests per second and client, and the burst above it: an ERP's batch, not a flood.
const PER_SECOND: u32 = 20;
const BURST: u32 = 100;

#[derive(Clone)]
struct ApiState {
    bridge: Arc<Bridge>,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
}

pub fn router(bridge: Arc<Bridge>) -> Router {
    let quota = Quota::per_second(NonZeroU32::new(PER_SECOND).expect("not zero"))
        .allow_burst(NonZeroU32::new(BURST).expect("not zero"));
    let state = ApiState {
        bridge,
        limiter: Arc::new(RateLimiter::keyed(quota)),
    };
    let authenticated = Router::new()
        .route(
            "/api/v1/messages",
            post(send).layer(DefaultBodyLimit::max(MAX_MESSAGE_BODY)),
        )
        .route("/api/v1/messages/{id}", get(message))
        .route("/api/v1/jobs", post(job))
        .route("/api/v1/jobs/{id}", get(job_state))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate));
    Router::new()
        .merge(authenticated)
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(|| async { Problem::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The client whose token the request carries (constant-time against every client's), rate
/// limited per client.
async fn authenticate(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let given = (request.headers().get(header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .unwrap_or_default();
    let clients = &state.bridge.config.api.clients;
    // Every token is compared, so the time taken does not tell which one came close.
    let found = clients.iter().fold(None, |found, client| {
        let equal = given
            .as_bytes()
            .ct_eq(client.token.expose_secret().as_bytes());
        if bool::from(equal) {
            Some(client)
        } else {
            found
        }
    });
    let Some(client) = found.filter(|_| !given.is_empty()) else {
        tracing::warn!(path = %request.uri().path(), "integration API: a request with a wrong token refused");
        return Err(Problem::unauthorized());
    };
    if state.limiter.check_key(&client.name).is_err() {
        return Err(Problem::too_many_requests());
    }
    request.extensions_mut().insert(client.clone());
    Ok(next.run(request).await)
}

async fn openapi() -> Response {
    let mut response = OPENAPI.into_response();
    (response.headers_mut()).insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// `POST /api/v1/messages`: 202 with the message's id once it is stored.
async fn send(
    State(state): State<ApiState>,
    axum::Extension(client): axum::Extension<ApiClient>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    let request: SendRequest = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("the body is not a message request: {e}")))?;
    let integration = &state.bridge.integration;
    let accepted = (integration.send(&client, key, &request).await)
        .map_err(|e| Problem::internal(&e))?
        .map_err(refused)?;
    Ok(accepted_response(&accepted, "messages"))
}

/// `POST /api/v1/jobs`: 202 with the job's id once it is stored.
async fn job(
    State(state): State<ApiState>,
    axum::Extension(client): axum::Extension<ApiClient>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    let request: JobRequest = serde_json::from_slice(&body)
        .map_err(|e| Problem::bad_request(format!("the body is not a job request: {e}")))?;
    let integration = &state.bridge.integration;
    let accepted = (integration.job(&client, key, &request).await)
        .map_err(|e| Problem::internal(&e))?
        .map_err(refused)?;
    Ok(accepted_response(&accepted, "jobs"))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, Problem> {
    match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(key)) => Ok(Some(key.trim())),
        Some(Err(_)) => Err(Problem::invalid("the Idempotency-Key header is not text")),
    }
}

fn accepted_response(accepted: &Accepted, collection: &str) -> Response {
    let location = format!("/api/v1/{collection}/{}", accepted.id);
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({
            "id": accepted.id,
            "replayed": accepted.replayed,
            "status_url": location,
        })),
    )
        .into_response();
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `GET /api/v1/messages/{id}`: each recipient's state and times (a job card's too).
async fn message(
    State(state): State<ApiState>,
    axum::Extension(client): axum::Extension<ApiClient>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let integration = &state.bridge.integration;
    let Some((message, recipients)) =
        (integration.status(&client, &id).await).map_err(|e| Problem::internal(&e))?
    else {
        return Err(Problem::not_found("no message of this client has this id"));
    };
    let mut out = json!({
        "id": message.id,
        "reference": message.reference,
        "ack_requested": message.ack_requested,
        "created_at": rfc3339(message.created_at),
        "recipients": recipients.iter().map(recipient).collect::<Vec<_>>(),
    });
    if let Some(job) = message
        .job
        .as_deref()
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
    {
        out["job"] = job;
        out["state"] = json!(message.job_state);
        out["state_at"] = json!(message.job_state_at.map(rfc3339));
    }
    Ok(Json(out))
}

/// `GET /api/v1/jobs/{id}`: the job card, its state and its delivery.
async fn job_state(
    state: State<ApiState>,
    client: axum::Extension<ApiClient>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let found = message(state, client, Path(id)).await?;
    match found.0.get("job") {
        Some(_) => Ok(found),
        None => Err(Problem::not_found("no job of this client has this id")),
    }
}

fn recipient(r: &RecipientStatus) -> Value {
    let time = |ms: Option<i64>| ms.map(rfc3339);
    json!({
        "threema_id": r.threema_id,
        "name": r.name,
        "state": r.state.as_str(),
        "sent_at": time(r.sent_at),
        "delivered_at": time(r.delivered_at),
        "read_at": time(r.read_at),
        "reaction": r.reaction.map(|(word, _)| word),
        "reaction_at": time(r.reaction.map(|(_, at)| at)),
        "final": matches!(r.state, DeliveryState::Read | DeliveryState::Failed),
    })
}

fn refused(refused: SendRefused) -> Problem {
    match refused {
        SendRefused::OutOfScope => Problem::forbidden(refused.to_string()),
        SendRefused::KeyReused => Problem::conflict(refused.to_string()),
        SendRefused::Invalid(_) | SendRefused::NotReachable(_) | SendRefused::NobodySelected => {
            Problem::invalid(refused.to_string())
        }
    }
}
