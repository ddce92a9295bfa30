//! `GET /metrics` on `metrics.listen`: the Prometheus scrape, on a listener of its own so that
//! it can stay on the internal network whatever faces the homeserver or the Gateway.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::header,
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
    let text = bridge.metrics_text().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}
