//! The one error type of the appservice API boundary, answered as Matrix error JSON.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no access token was given")]
    MissingToken,
    #[error("the access token is not the hs_token of this appservice")]
    BadToken,
    #[error("the body is not JSON")]
    NotJson,
    #[error("the body does not fit the endpoint: {0}")]
    BadJson(String),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("unknown endpoint")]
    Unrecognized,
    /// A catch-up with the homeserver's timeline runs first: the homeserver should retry.
    #[error("catching up with the homeserver's timeline, try again")]
    CatchingUp,
    /// Our failure (the database is down): the homeserver should retry.
    #[error("internal error, try again")]
    Internal,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::MissingToken => (StatusCode::UNAUTHORIZED, "M_UNAUTHORIZED"),
            ApiError::BadToken => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
            ApiError::NotJson => (StatusCode::BAD_REQUEST, "M_NOT_JSON"),
            ApiError::BadJson(_) => (StatusCode::BAD_REQUEST, "M_BAD_JSON"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "M_TOO_LARGE"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
            ApiError::Unrecognized => (StatusCode::NOT_FOUND, "M_UNRECOGNIZED"),
            ApiError::CatchingUp => (StatusCode::SERVICE_UNAVAILABLE, "M_UNKNOWN"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "M_UNKNOWN"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, errcode) = self.status_and_code();
        (
            status,
            Json(json!({ "errcode": errcode, "error": self.to_string() })),
        )
            .into_response()
    }
}
