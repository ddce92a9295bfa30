//! The application service API (spec: client-server's sibling, `/_matrix/app/v1`).
//! <https://spec.matrix.org/latest/application-service-api/>

use axum::{
    Json,
    body::Bytes,
    extract::{Path, Request, State, rejection::BytesRejection},
    http::{HeaderMap, Method, Uri, header::AUTHORIZATION},
    middleware::Next,
    response::Response,
};
use ruma::{
    UserId,
    api::{IncomingRequestExt, appservice::event::push_events},
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::{
    bridge::matrix_to_threema::{catch_up, pushed},
    ids::parse_ghost_user_id,
    matrix::crypto::RoomCrypto,
};

/// Checks the hs_token, from `Authorization: Bearer` or the legacy `access_token` query
/// parameter, in constant time.
pub async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer_token(request.headers())
        .or_else(|| query_token(request.uri()))
        .ok_or(ApiError::MissingToken)?;
    let expected = state.hs_token.expose_secret().as_bytes();
    if !bool::from(token.as_bytes().ct_eq(expected)) {
        tracing::warn!(path = %request.uri().path(), "request with a wrong hs_token refused");
        return Err(ApiError::BadToken);
    }
    Ok(next.run(request).await)
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|t| t.trim().to_owned())
}

fn query_token(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(key, _)| key == "access_token")
        .map(|(_, value)| value.into_owned())
}

/// `PUT /_matrix/app/v1/transactions/{txnId}`: persist, then acknowledge. The transaction id
/// is not a key (Synapse restarts its counter); events dedup on their event id. Held while a
/// catch-up runs, so that what it recovers is stored before anything newer.
pub async fn push_events(
    State(state): State<AppState>,
    Path(txn_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::TooLarge(state.max_body_bytes),
        other => ApiError::BadJson(other.body_text()),
    })?;
    // Before the catch-up hold: a transaction refused after it would lose its to-device part
    // (the homeserver never sends that again), and the keys need no order with the timeline.
    if let Some(crypto) = state.bridge.matrix.crypto() {
        take_in_keys(&state, crypto, &body, &txn_id).await?;
    }
    if !state.bridge.catch_up.wait(catch_up::HOLD).await {
        return Err(ApiError::CatchingUp);
    }
    let transaction = parse_transaction(&txn_id, &body)?;
    if let Some(crypto) = state.bridge.matrix.crypto() {
        for raw in &transaction.events {
            if raw.get_field::<String>("type").ok().flatten().as_deref()
                == Some("m.room.encryption")
                && let Ok(Some(room)) = raw.get_field::<ruma::OwnedRoomId>("room_id")
            {
                crypto.mark_encrypted(&room);
            }
        }
    }
    let items = pushed::inbox_items(&transaction, |sender| {
        state.bridge.ghosts.sent_by_bridge(sender)
    });
    let stored = state.bridge.store.inbox_push_rows(&items).await.map_err(|e| {
        tracing::error!(error = %e, txn_id, "cannot persist transaction; the homeserver will retry");
        ApiError::Internal
    })?;
    tracing::debug!(
        txn_id,
        received = items.len(),
        stored = stored.len(),
        "transaction persisted"
    );
    state.bridge.wakes.matrix.hand(stored);
    Ok(Json(json!({})))
}

/// A transaction's encryption part (room keys, device changes, key counts) into the bridge's
/// devices, stored before the transaction is acknowledged. A standby (`ha`) keeps it for the
/// active process, which first takes in what standbys kept. Only a store that cannot keep it
/// refuses the transaction (its events come again; its to-device part would not).
async fn take_in_keys(
    state: &AppState,
    crypto: &RoomCrypto,
    body: &[u8],
    txn_id: &str,
) -> Result<(), ApiError> {
    let store = &state.bridge.store;
    let part = RoomCrypto::transaction_part(body).map_err(|e| ApiError::BadJson(e.to_string()))?;
    if store.fence().check().is_err() {
        if let Some(part) = part {
            store.crypto_inbox_push(&part.to_json()).await.map_err(|e| {
                tracing::error!(error = %e, txn_id, "standby: cannot keep the transaction's keys");
                ApiError::Internal
            })?;
        }
        return Ok(());
    }
    let kept = store.crypto_inbox_pending(100).await.map_err(|e| {
        tracing::error!(error = %e, txn_id, "cannot read the keys standbys kept");
        ApiError::Internal
    })?;
    for (seq, kept) in kept {
        match RoomCrypto::transaction_part(kept.as_bytes()) {
            Ok(Some(part)) => crypto.take_in(part).await,
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, seq, "keys kept by a standby unreadable; dropped")
            }
        }
        if let Err(e) = store.crypto_inbox_done(seq).await {
            tracing::warn!(error = %e, seq, "keys taken in stay kept; taken in again later");
        }
    }
    if let Some(part) = part {
        crypto.take_in(part).await;
    }
    Ok(())
}

fn parse_transaction(txn_id: &str, body: &[u8]) -> Result<push_events::v1::Request, ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(body).map_err(|_| ApiError::NotJson)?;
    let request = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(format!("/_matrix/app/v1/transactions/{txn_id}"))
        .body(body)
        .map_err(|e| ApiError::BadJson(e.to_string()))?;
    push_events::v1::Request::try_from_http_request(request, &[txn_id])
        .map_err(|e| ApiError::BadJson(e.to_string()))
}

/// `GET /_matrix/app/v1/users/{userId}`: the homeserver asks whether a user in our namespace
/// exists. Known drivers' ghosts are created on the spot.
pub async fn query_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let bridge = &state.bridge;
    let user_id =
        <&UserId>::try_from(user_id.as_str()).map_err(|_| ApiError::NotFound("not a user ID"))?;
    let threema_id = parse_ghost_user_id(user_id, &bridge.config.homeserver.domain)
        .ok_or(ApiError::NotFound("not a Threema user of this bridge"))?;
    let known = bridge
        .store
        .ghost_by_threema_id(threema_id.as_str())
        .await
        .map_err(|_| ApiError::Internal)?;
    if known.is_none() {
        return Err(ApiError::NotFound("unknown Threema ID"));
    }
    bridge.ghosts.ensure(&threema_id).await.map_err(|e| {
        tracing::warn!(error = %e, %user_id, "cannot register ghost");
        ApiError::Internal
    })?;
    Ok(Json(json!({})))
}

/// `GET /_matrix/app/v1/rooms/{roomAlias}`: portals are not reachable by alias (yet).
pub async fn query_room_alias(Path(_alias): Path<String>) -> ApiError {
    ApiError::NotFound("no room under this alias")
}

/// `POST /_matrix/app/v1/ping`: the homeserver checks that it can reach us.
pub async fn ping(body: Bytes) -> Result<Json<Value>, ApiError> {
    let body: Value = serde_json::from_slice(&body).map_err(|_| ApiError::NotJson)?;
    tracing::info!(transaction_id = ?body.get("transaction_id"), "ping from the homeserver");
    Ok(Json(json!({})))
}
