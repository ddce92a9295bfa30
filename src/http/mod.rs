//! Inbound HTTP: the appservice API and health probes on `appservice.listen`. Handlers stay
//! thin: authenticate, parse, persist or call the core, map errors.

pub mod api;
mod appservice;
mod error;
mod health;
pub mod metrics;
mod scim;
pub mod threema;

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{get, post, put},
};
use secrecy::SecretString;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

use crate::{bridge::Bridge, matrix::MatrixClient};

#[derive(Clone)]
pub struct AppState {
    pub bridge: Arc<Bridge>,
    pub hs_token: SecretString,
    /// A client without retries, for readiness probes.
    pub probe: MatrixClient,
    pub max_body_bytes: usize,
}

pub fn router(state: AppState) -> Router {
    let limit = state.max_body_bytes;
    // Current paths, and the legacy unprefixed ones that older homeservers still use.
    let appservice = Router::new()
        .route(
            "/_matrix/app/v1/transactions/{txn_id}",
            put(appservice::push_events),
        )
        .route(
            "/_matrix/app/v1/users/{user_id}",
            get(appservice::query_user),
        )
        .route(
            "/_matrix/app/v1/rooms/{alias}",
            get(appservice::query_room_alias),
        )
        .route("/_matrix/app/v1/ping", post(appservice::ping))
        .route("/transactions/{txn_id}", put(appservice::push_events))
        .route("/users/{user_id}", get(appservice::query_user))
        .route("/rooms/{alias}", get(appservice::query_room_alias))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            appservice::authenticate,
        ));
    let scim = match state.bridge.config.directory.scim_token {
        Some(_) => scim::router(state.clone()),
        None => Router::new(),
    };
    Router::new()
        .merge(appservice)
        .merge(scim)
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(|| async { ApiError::Unrecognized })
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                // The path only: a legacy homeserver may put the hs_token in the query string.
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            }),
        )
        .with_state(state)
}
