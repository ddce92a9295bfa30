//! The protocol's error responses (RFC 7644 §3.12).

use serde_json::{Value, json};

use super::ERROR_SCHEMA;

/// A SCIM error response (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCIM {status} {}: {detail}", .scim_type.unwrap_or("error"))]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    /// 400 with one of RFC 7644's `scimType`s (`invalidFilter`, `invalidPath`, …).
    pub fn bad_request(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }

    pub fn conflict_uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some("uniqueness"), detail)
    }

    pub fn unauthorized() -> Self {
        Self::new(401, None, "a valid bearer token is required")
    }

    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            // A string, not a number (RFC 7644 §3.12).
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = scim_type.into();
        }
        body
    }
}

pub(super) fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidValue", detail)
}

pub(super) fn invalid_syntax(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request("invalidSyntax", detail)
}
