//! Errors of the library API (the HTTP side answers with status codes instead).

use std::time::Duration;

/// Why a simulator operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("invalid Threema ID {0:?}: expected 8 characters [0-9A-Z]")]
    InvalidId(String),
    #[error("user {0:?} already exists")]
    DuplicateUser(String),
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    #[error("message too large: {size} bytes, at most {limit}")]
    MessageTooLarge { size: usize, limit: usize },
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout { what: String, timeout: Duration },
}

impl From<crate::message::CodecError> for SimError {
    fn from(error: crate::message::CodecError) -> Self {
        SimError::InvalidMessage(error.to_string())
    }
}
