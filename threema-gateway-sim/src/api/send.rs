//! `send_simple` (§3.1), `send_e2e` (§3.2) and `send_e2e_bulk` (§3.3).

use axum::response::IntoResponse;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use super::{ApiError, ApiResult, Ctx, text};
use crate::{
    config::AccountMode,
    message::is_threema_id,
    users::receive::{self, Incoming},
};

/// `send_simple`: basic mode only; the server encrypts, so the phone gets the text as is.
pub(super) fn send_simple(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    if ctx.shared.config.mode != AccountMode::Basic {
        return Err(ApiError::bad_request("account not set up for basic mode"));
    }
    let recipients = ["to", "phone", "email"].map(|name| ctx.params.get(name));
    let to = match recipients {
        [Some(to), None, None] => {
            if !recipient_exists(&ctx, to) {
                return Err(ApiError::bad_request("invalid recipient"));
            }
            to.to_owned()
        }
        [None, Some(phone), None] => {
            find_user(&ctx, |user| user.phone.as_deref() == Some(phone))
                .ok_or_else(|| ApiError::not_found("no ID for this phone number"))?
        }
        [None, None, Some(email)] => {
            let email = crate::crypto::normalise_email(email);
            find_user(&ctx, |user| {
                user.email.as_deref().map(crate::crypto::normalise_email) == Some(email.clone())
            })
            .ok_or_else(|| ApiError::not_found("no ID for this e-mail address"))?
        }
        _ => {
            return Err(ApiError::bad_request(
                "exactly one of to, phone, email is required",
            ));
        }
    };
    let message = ctx
        .params
        .get("text")
        .ok_or_else(|| ApiError::bad_request("missing text"))?;
    if message.len() > ctx.shared.config.limits.text_bytes {
        return Err(ApiError::too_large("message too long"));
    }
    ctx.debit(ctx.shared.config.costs.send_simple)?;
    let message_id = ctx.shared.new_message_id();
    receive::deliver_plaintext(&ctx.shared, &to, message_id.clone(), message.to_owned());
    Ok(text(message_id))
}

/// `send_e2e`: one box for one phone.
pub(super) fn send_e2e(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    require_e2e(&ctx)?;
    let to = ctx.params.get("to").unwrap_or_default();
    if !recipient_exists(&ctx, to) {
        return Err(ApiError::bad_request("invalid recipient"));
    }
    let nonce = ctx
        .params
        .get("nonce")
        .and_then(decode_fixed_hex::<24>)
        .ok_or_else(|| ApiError::bad_request("nonce must be 24 bytes, hex"))?;
    let box_data = ctx
        .params
        .get("box")
        .and_then(|b| hex::decode(b).ok())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::bad_request("box must be hex"))?;
    if box_data.len() > ctx.shared.config.limits.box_bytes {
        return Err(ApiError::too_large("box too long"));
    }
    let incoming = Incoming {
        to: to.to_owned(),
        message_id: String::new(),
        nonce,
        box_data,
        no_delivery_receipts: ctx.params.flag("noDeliveryReceipts"),
        no_push: ctx.params.flag("noPush"),
        group: ctx.params.get("group").map(|_| ctx.params.flag("group")),
        via: "send_e2e",
    };
    ctx.debit(ctx.shared.config.costs.send_e2e)?;
    let message_id = ctx.shared.new_message_id();
    receive::deliver(
        &ctx.shared,
        Incoming {
            message_id: message_id.clone(),
            ..incoming
        },
    );
    Ok(text(message_id))
}

/// `send_e2e_bulk`: JSON array, base64 nonce/box, one result per element; per-element failures
/// are `{"errorCode":N}` and do not fail the request.
pub(super) fn send_e2e_bulk(ctx: Ctx) -> ApiResult {
    ctx.auth()?;
    if !ctx.shared.take_rate_token("send_e2e_bulk") {
        return Err(ApiError::new(429, "rate limit reached"));
    }
    require_e2e(&ctx)?;
    let elements: Vec<Value> = serde_json::from_slice(&ctx.body)
        .map_err(|e| ApiError::bad_request(format!("body must be a JSON array: {e}")))?;
    if elements.len() > ctx.shared.config.limits.bulk_messages {
        return Err(ApiError::bad_request("too many messages"));
    }
    let checked: Vec<Result<Incoming, u16>> = elements
        .iter()
        .map(|element| check_bulk_element(&ctx, element))
        .collect();
    let accepted = checked.iter().filter(|c| c.is_ok()).count() as i64;
    // One decision for the whole request, before anything is delivered.
    ctx.debit(accepted * ctx.shared.config.costs.bulk_message)?;

    let same_id = ctx
        .params
        .flag("sameMessageId")
        .then(|| ctx.shared.new_message_id());
    let results: Vec<Value> = checked
        .into_iter()
        .map(|checked| match checked {
            Ok(incoming) => {
                let message_id = same_id
                    .clone()
                    .unwrap_or_else(|| ctx.shared.new_message_id());
                receive::deliver(
                    &ctx.shared,
                    Incoming {
                        message_id: message_id.clone(),
                        ..incoming
                    },
                );
                json!({ "messageId": message_id })
            }
            Err(code) => json!({ "errorCode": code }),
        })
        .collect();
    Ok(axum::Json(results).into_response())
}

fn check_bulk_element(ctx: &Ctx, element: &Value) -> Result<Incoming, u16> {
    let obj = element.as_object().ok_or(400u16)?;
    let to = obj.get("to").and_then(Value::as_str).ok_or(400u16)?;
    if !recipient_exists(ctx, to) {
        return Err(400);
    }
    let base64 = |key| {
        obj.get(key)
            .and_then(Value::as_str)
            .and_then(|s| STANDARD.decode(s).ok())
    };
    let nonce: [u8; 24] = base64("nonce")
        .and_then(|n| n.try_into().ok())
        .ok_or(400u16)?;
    let box_data = base64("box").filter(|b| !b.is_empty()).ok_or(400u16)?;
    if box_data.len() > ctx.shared.config.limits.box_bytes {
        return Err(413);
    }
    // Flags are booleans; `null` or absent mean false (the crate sends `"group": null`).
    let flag = |key| match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(400u16),
    };
    Ok(Incoming {
        to: to.to_owned(),
        message_id: String::new(),
        nonce,
        box_data,
        no_delivery_receipts: flag("noDeliveryReceipts")?.unwrap_or(false),
        no_push: flag("noPush")?.unwrap_or(false),
        group: flag("group")?,
        via: "send_e2e_bulk",
    })
}

fn require_e2e(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.shared.config.mode == AccountMode::EndToEnd {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "account not set up for end-to-end mode",
        ))
    }
}

/// In E2E mode an unknown or malformed recipient is a 400, not a 404 (§3.2).
fn recipient_exists(ctx: &Ctx, to: &str) -> bool {
    is_threema_id(to) && ctx.shared.lock().users.contains_key(to)
}

fn find_user(ctx: &Ctx, matches: impl Fn(&crate::UserInfo) -> bool) -> Option<String> {
    ctx.shared
        .lock()
        .users
        .values()
        .find(|user| matches(&user.info))
        .map(|user| user.info.id.clone())
}

pub(super) fn decode_fixed_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    (text.len() == 2 * N && hex::decode_to_slice(text, &mut out).is_ok()).then_some(out)
}
