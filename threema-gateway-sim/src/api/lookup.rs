//! Directory endpoints: ID lookups (§3.4, §3.5), public keys (§3.6, §3.7), capabilities (§3.8)
//! and the credit balance (§3.9).

use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, Endpoint, text};
use crate::crypto::{email_hash, normalise_email, phone_hash};

pub(super) fn lookup(endpoint: Endpoint, ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    let value = ctx.arg.clone().unwrap_or_default();
    if matches!(
        endpoint,
        Endpoint::LookupPhoneHash | Endpoint::LookupEmailHash
    ) {
        check_hash(&ctx, &value)?;
    }
    ctx.debit(ctx.shared.config.costs.lookup)?;
    let hash = value.to_ascii_lowercase();
    let found = ctx.shared.lock().users.values().find_map(|user| {
        let info = &user.info;
        let matches = match endpoint {
            Endpoint::LookupPhone => info.phone.as_deref() == Some(value.as_str()),
            Endpoint::LookupPhoneHash => {
                info.phone.as_deref().map(phone_hash) == Some(hash.clone())
            }
            Endpoint::LookupEmail => {
                info.email.as_deref().map(normalise_email) == Some(normalise_email(&value))
            }
            Endpoint::LookupEmailHash => {
                info.email.as_deref().map(email_hash) == Some(hash.clone())
            }
            _ => false,
        };
        matches.then(|| info.id.clone())
    });
    found
        .map(text)
        .ok_or_else(|| ApiError::not_found("no matching ID"))
}

/// A hash is 64 hex characters, else 400 (§3.4); optionally the Python mock's 500 for odd
/// lengths.
fn check_hash(ctx: &Ctx, hash: &str) -> Result<(), ApiError> {
    if ctx.shared.config.compat.python_mock_odd_hash && !hash.len().is_multiple_of(2) {
        return Err(ApiError::new(500, "odd-length hash"));
    }
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request("hash must be 64 hex characters"));
    }
    Ok(())
}

pub(super) fn lookup_bulk(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    if !ctx.shared.take_rate_token("lookup_bulk") {
        return Err(ApiError::new(429, "rate limit reached"));
    }
    let config = &ctx.shared.config;
    if !config.bulk_lookup_allowed {
        return Err(ApiError::new(
            config.bulk_lookup_denied_status,
            "bulk lookups not approved for this account",
        ));
    }
    let body: Value =
        serde_json::from_slice(&ctx.body).map_err(|_| ApiError::bad_request("invalid JSON"))?;
    let list = |key| -> Result<Vec<String>, ApiError> {
        match body.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_ascii_lowercase))
                .collect::<Option<_>>()
                .ok_or_else(|| ApiError::bad_request("hashes must be strings")),
            Some(_) => Err(ApiError::bad_request("hashes must be an array")),
        }
    };
    let (phone_hashes, email_hashes) = (list("phoneHashes")?, list("emailHashes")?);
    if phone_hashes.len() + email_hashes.len() > config.limits.bulk_lookup_hashes {
        return Err(ApiError::bad_request("too many hashes"));
    }
    for hash in phone_hashes.iter().chain(&email_hashes) {
        check_hash(&ctx, hash)?;
    }
    ctx.debit(config.costs.lookup)?;
    let mut results = Vec::new();
    for user in ctx.shared.lock().users.values() {
        let info = &user.info;
        let entry = |key: &str, hash: &str| json!({"identity": info.id, "publicKey": hex::encode(info.public_key), key: hash});
        if let Some(hash) = info.phone.as_deref().map(phone_hash)
            && phone_hashes.contains(&hash)
        {
            results.push(entry("phoneHash", &hash));
        }
        if let Some(hash) = info.email.as_deref().map(email_hash)
            && email_hashes.contains(&hash)
        {
            results.push(entry("emailHash", &hash));
        }
    }
    Ok(axum::Json(results).into_response())
}

/// The public key of a phone or of the Gateway ID itself.
fn public_key_of(ctx: &Ctx, id: &str) -> Option<[u8; 32]> {
    if id == ctx.shared.config.gateway_id {
        return Some(ctx.shared.config.gateway_public_key);
    }
    ctx.shared
        .lock()
        .users
        .get(id)
        .map(|user| user.info.public_key)
}

pub(super) fn pubkey(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    let id = ctx.arg.clone().unwrap_or_default();
    let key = public_key_of(&ctx, &id).ok_or_else(|| ApiError::not_found("no such ID"))?;
    ctx.debit(ctx.shared.config.costs.lookup)?;
    Ok(text(hex::encode(key)))
}

/// `{"identities":["ECHOECHO",…]}` → known IDs only. threema-gateway 0.21 sends each ID as an
/// array of byte values; that is a client bug (§3.7), accepted only in compat mode.
pub(super) fn pubkeys_bulk(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    if !ctx.shared.take_rate_token("pubkeys_bulk") {
        return Err(ApiError::new(429, "rate limit reached"));
    }
    let body: Value =
        serde_json::from_slice(&ctx.body).map_err(|_| ApiError::bad_request("invalid JSON"))?;
    let items = body
        .get("identities")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("identities must be an array"))?;
    if items.len() > ctx.shared.config.limits.bulk_messages {
        return Err(ApiError::bad_request("too many identities"));
    }
    let compat = ctx.shared.config.compat.crate021_pubkeys_bulk;
    let ids = items
        .iter()
        .map(|item| match item {
            Value::String(id) => Some(id.clone()),
            Value::Array(bytes) if compat => bytes
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
                .and_then(|bytes| String::from_utf8(bytes).ok()),
            _ => None,
        })
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| ApiError::bad_request("identities must be strings"))?;
    ctx.debit(ctx.shared.config.costs.lookup)?;
    let results: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            public_key_of(&ctx, id)
                .map(|key| json!({"identity": id, "publicKey": hex::encode(key)}))
        })
        .collect();
    Ok(axum::Json(results).into_response())
}

pub(super) fn capabilities(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    let id = ctx.arg.clone().unwrap_or_default();
    let capabilities = ctx
        .shared
        .lock()
        .users
        .get(&id)
        .map(|user| user.info.capabilities.join(","))
        .ok_or_else(|| ApiError::not_found("no such ID"))?;
    ctx.debit(ctx.shared.config.costs.lookup)?;
    Ok(text(capabilities))
}

pub(super) fn credits(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    let credits = ctx.shared.lock().credits;
    Ok(text(credits.to_string()))
}
