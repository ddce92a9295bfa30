//! SCIM 2.0 Users (RFC 7643/7644), the pure part: SCIM user JSON ⇄ [`Record`](super::Record),
//! PATCH, the one filter identity providers use to find a user, and the protocol's error and
//! list bodies. The HTTP handlers do the IO and call these.

mod error;
mod list;
mod patch;
mod user;

use serde_json::{Value, json};

pub use error::ScimError;
pub use list::{Filter, list_response, parse_filter};
pub use patch::apply_patch;
pub use user::{Meta, record_from_user, user_from_record};

pub const CORE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Ours: what the bridge needs beyond the core schema.
pub const BRIDGE_SCHEMA: &str = "urn:threema-bridge:params:scim:schemas:extension:2.0:User";
const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// The most resources one list response holds (advertised in the service provider config).
pub const MAX_RESULTS: usize = 200;

/// What this server supports, for providers that ask (`/ServiceProviderConfig`).
pub fn service_provider_config() -> Value {
    let unsupported = json!({ "supported": false });
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "patch": { "supported": true },
        "bulk": { "supported": false, "maxOperations": 0, "maxPayloadSize": 0 },
        "filter": { "supported": true, "maxResults": MAX_RESULTS },
        "changePassword": unsupported,
        "sort": unsupported,
        "etag": unsupported,
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token in the Authorization header",
            "primary": true,
        }],
        "meta": { "resourceType": "ServiceProviderConfig" },
    })
}

/// Whether a `schemas` array names `urn` (URNs compare case-insensitively).
fn lists(schemas: &Value, urn: &str) -> bool {
    schemas.as_array().is_some_and(|schemas| {
        schemas
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn)))
    })
}

/// Attribute names and URNs compare case-insensitively (RFC 7643 §2.1).
fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests;
