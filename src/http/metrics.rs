//! `GET /metrics` on `metrics.listen`: the Prometheus scrape, on a listener of its own so that
//! it can stay on the internal network whatever faces the homeserver or the Gateway.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{bridge::Bridge, metrics::CONTENT_TYPE};

pub fn router(bridge: Arc<Bridge>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(bridge)
}

async fn metrics(State(bridge): State<Arc<Bridge>>) -> Response {
    match bridge.metrics_text().await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        // The database is away: no figures rather than stale ones (the scrape fails, and
        // `up` in Prometheus says so).
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the figures for /metrics");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
    }
}
