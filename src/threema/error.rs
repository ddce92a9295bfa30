//! Errors of the Gateway boundary, each saying whether a retry can help.

use threema_gateway::errors::ApiError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ThreemaError {
    #[error("the Gateway rejects our ID or API secret (401)")]
    BadCredentials,
    #[error("the Gateway account has no credits left (402)")]
    NoCredits,
    #[error("the Gateway does not accept this recipient (400)")]
    BadRecipient,
    #[error("not found at the Gateway (404)")]
    NotFound,
    #[error("too large for the Gateway (413)")]
    TooLarge,
    /// A blob larger than we take (the limit in bytes): the download was cut off.
    #[error("the blob is larger than {0} bytes")]
    BlobTooLarge(u64),
    #[error("the Gateway rate-limits us (429)")]
    RateLimited,
    #[error("the Gateway failed (5xx)")]
    Server,
    /// The request never reached the Gateway: a retry is safe.
    #[error("cannot reach the Gateway: {0}")]
    Unreachable(String),
    /// The request went out but no answer came: a send may have been delivered.
    #[error("no answer from the Gateway: {0}")]
    NoAnswer(String),
    #[error("unexpected answer from the Gateway: {0}")]
    BadResponse(String),
    #[error("cannot encrypt or decrypt: {0}")]
    Crypto(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Not sent: this process is standby (`ha`); the active one sends it.
    #[error(transparent)]
    NotActive(#[from] crate::ha::NotActive),
}

impl ThreemaError {
    /// Retrying later can succeed (for a send: only if the request certainly did not arrive,
    /// see [`ThreemaError::outcome_unknown`]).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::Server
                | Self::Unreachable(_)
                | Self::NoAnswer(_)
                | Self::NotActive(_)
        )
    }

    /// How a request ended, as a metric's label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::BadCredentials => "401",
            Self::NoCredits => "402",
            Self::BadRecipient => "400",
            Self::NotFound => "404",
            Self::TooLarge | Self::BlobTooLarge(_) => "413",
            Self::RateLimited => "429",
            Self::Server => "5xx",
            Self::Unreachable(_) => "unreachable",
            Self::NotActive(_) => "not_active",
            Self::NoAnswer(_) => "no_answer",
            Self::BadResponse(_) | Self::Crypto(_) | Self::Invalid(_) => "other",
        }
    }

    /// The Gateway may have carried out the request although we saw no answer: a send must
    /// not be repeated blindly.
    pub fn outcome_unknown(&self) -> bool {
        matches!(self, Self::NoAnswer(_))
    }
}

impl From<ApiError> for ThreemaError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadCredentials => Self::BadCredentials,
            ApiError::NoCredits => Self::NoCredits,
            ApiError::BadSenderOrRecipient => Self::BadRecipient,
            ApiError::IdNotFound => Self::NotFound,
            ApiError::MessageTooLong => Self::TooLarge,
            ApiError::RateLimitReached => Self::RateLimited,
            ApiError::ServerError => Self::Server,
            // The URL carries `secret=` in its query on several endpoints: never show it.
            ApiError::RequestError(e) => {
                let connect = e.is_connect();
                let e = e.without_url();
                let text = crate::error_chain::chain(&e);
                if connect {
                    Self::Unreachable(text)
                } else {
                    Self::NoAnswer(text)
                }
            }
            ApiError::Other(text) if text.contains("status code: 5") => Self::Server,
            other => Self::BadResponse(other.to_string()),
        }
    }
}
