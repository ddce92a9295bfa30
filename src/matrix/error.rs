//! Errors of the outbound client-server API, classified as "retry" or "give up".

use std::time::Duration;

use http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The homeserver answered with a Matrix error (`errcode` + `error`).
    #[error("homeserver answered {status} {errcode}: {message}")]
    Api {
        status: StatusCode,
        errcode: String,
        message: String,
        retry_after: Option<Duration>,
    },
    /// No usable answer: connection refused, reset, timed out.
    #[error("cannot reach the homeserver: {0}")]
    Transport(String),
    /// The request could not be built (a bug or an invalid argument).
    #[error("cannot build the request: {0}")]
    Request(String),
    /// A success status with a body we cannot read.
    #[error("unexpected response from the homeserver: {0}")]
    Response(String),
    /// Not sent: this process is standby (`ha`); the active one does it.
    #[error(transparent)]
    NotActive(#[from] crate::ha::NotActive),
    /// Encrypting for an encrypted room failed (its crypto store, or a homeserver request on
    /// the way: keys of the members' devices, the room key sent to them). Tried again.
    #[error("cannot encrypt: {0}")]
    Encryption(String),
}

impl MatrixError {
    /// Worth retrying: rate limited, server-side failure, or the homeserver is unreachable.
    pub fn is_transient(&self) -> bool {
        match self {
            MatrixError::Api { status, .. } => {
                *status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            }
            MatrixError::Transport(_) | MatrixError::NotActive(_) | MatrixError::Encryption(_) => {
                true
            }
            MatrixError::Request(_) | MatrixError::Response(_) => false,
        }
    }

    /// The homeserver will not take a body this large: `M_TOO_LARGE`, or a bare 413 from a
    /// reverse proxy in front of it (nginx's `client_max_body_size`), which has no Matrix
    /// error code.
    pub fn is_too_large(&self) -> bool {
        match self {
            MatrixError::Api {
                status, errcode, ..
            } => errcode == "M_TOO_LARGE" || *status == StatusCode::PAYLOAD_TOO_LARGE,
            _ => false,
        }
    }

    pub fn errcode(&self) -> Option<&str> {
        match self {
            MatrixError::Api { errcode, .. } => Some(errcode),
            _ => None,
        }
    }

    pub(super) fn transport(err: reqwest::Error) -> Self {
        // reqwest's message carries the URL; ours never have a token in it (it travels in the
        // Authorization header), but strip the query anyway: user ids are personal data.
        let err = err.without_url();
        MatrixError::Transport(crate::error_chain::chain(&err))
    }

    /// Reads a Matrix error body; anything else keeps the status and a short excerpt.
    pub(super) fn from_response(
        status: StatusCode,
        retry_header: Option<Duration>,
        body: &[u8],
    ) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            errcode: Option<String>,
            error: Option<String>,
            retry_after_ms: Option<u64>,
        }
        let parsed: Option<Body> = serde_json::from_slice(body).ok();
        let (errcode, message, retry_ms) = match parsed {
            Some(b) => (b.errcode, b.error, b.retry_after_ms),
            None => (None, None, None),
        };
        MatrixError::Api {
            status,
            errcode: errcode.unwrap_or_else(|| "M_UNKNOWN".into()),
            message: message.unwrap_or_else(|| {
                String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
            }),
            retry_after: retry_ms.map(Duration::from_millis).or(retry_header),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_too_large_is_recognised_with_or_without_a_matrix_error() {
        let synapse = br#"{"errcode":"M_TOO_LARGE","error":"Upload request body is too large"}"#;
        let proxy = b"<html><head><title>413 Request Entity Too Large</title></head></html>";
        for body in [&synapse[..], &proxy[..]] {
            let e = MatrixError::from_response(StatusCode::PAYLOAD_TOO_LARGE, None, body);
            assert!(e.is_too_large(), "{e}");
            assert!(!e.is_transient());
        }
        let forbidden = br#"{"errcode":"M_FORBIDDEN","error":"no"}"#;
        let e = MatrixError::from_response(StatusCode::FORBIDDEN, None, forbidden);
        assert!(!e.is_too_large());
    }
}
