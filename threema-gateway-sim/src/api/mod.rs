//! The Gateway API (§3) at the root of the listener. Every request goes through one pipeline in
//! the order of §9.2: route (404/405) → injected fault → auth (401) → endpoint validation
//! (400/404/413) → credits (402, before any side effect) → effect and debit → body.

mod blobs;
mod lookup;
mod send;

use std::{sync::Arc, time::Duration};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use tracing::debug;

use crate::{crypto::constant_time_eq, state::Shared};

/// The API endpoints; `name()` is what faults and metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    SendSimple,
    SendE2e,
    SendE2eBulk,
    LookupPhone,
    LookupPhoneHash,
    LookupEmail,
    LookupEmailHash,
    LookupBulk,
    Pubkeys,
    PubkeysBulk,
    Capabilities,
    Credits,
    UploadBlob,
    Blobs,
}

impl Endpoint {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::SendSimple => "send_simple",
            Endpoint::SendE2e => "send_e2e",
            Endpoint::SendE2eBulk => "send_e2e_bulk",
            Endpoint::LookupPhone => "lookup_phone",
            Endpoint::LookupPhoneHash => "lookup_phone_hash",
            Endpoint::LookupEmail => "lookup_email",
            Endpoint::LookupEmailHash => "lookup_email_hash",
            Endpoint::LookupBulk => "lookup_bulk",
            Endpoint::Pubkeys => "pubkeys",
            Endpoint::PubkeysBulk => "pubkeys_bulk",
            Endpoint::Capabilities => "capabilities",
            Endpoint::Credits => "credits",
            Endpoint::UploadBlob => "upload_blob",
            Endpoint::Blobs => "blobs",
        }
    }
}

/// Endpoint names accepted by fault injection (besides `*`).
pub const ENDPOINT_NAMES: &[&str] = &[
    "send_simple",
    "send_e2e",
    "send_e2e_bulk",
    "lookup_phone",
    "lookup_phone_hash",
    "lookup_email",
    "lookup_email_hash",
    "lookup_bulk",
    "pubkeys",
    "pubkeys_bulk",
    "capabilities",
    "credits",
    "upload_blob",
    "blobs",
];

/// Maps method and path to an endpoint and its path argument (percent-decoded).
fn route(method: &Method, path: &str) -> Result<(Endpoint, Option<String>), StatusCode> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let (endpoint, arg, expected) = match segments.as_slice() {
        ["send_simple"] => (Endpoint::SendSimple, None, Method::POST),
        ["send_e2e"] => (Endpoint::SendE2e, None, Method::POST),
        ["send_e2e_bulk"] => (Endpoint::SendE2eBulk, None, Method::POST),
        ["lookup", "bulk"] => (Endpoint::LookupBulk, None, Method::POST),
        ["lookup", kind, value] if !value.is_empty() => {
            let endpoint = match *kind {
                "phone" => Endpoint::LookupPhone,
                "phone_hash" => Endpoint::LookupPhoneHash,
                "email" => Endpoint::LookupEmail,
                "email_hash" => Endpoint::LookupEmailHash,
                _ => return Err(StatusCode::NOT_FOUND),
            };
            (endpoint, Some(*value), Method::GET)
        }
        ["pubkeys", "bulk"] => (Endpoint::PubkeysBulk, None, Method::POST),
        ["pubkeys", id] if !id.is_empty() => (Endpoint::Pubkeys, Some(*id), Method::GET),
        ["capabilities", id] if !id.is_empty() => (Endpoint::Capabilities, Some(*id), Method::GET),
        ["credits"] => (Endpoint::Credits, None, Method::GET),
        ["upload_blob"] => (Endpoint::UploadBlob, None, Method::POST),
        ["blobs", id] if !id.is_empty() => (Endpoint::Blobs, Some(*id), Method::GET),
        _ => return Err(StatusCode::NOT_FOUND),
    };
    if *method != expected {
        return Err(StatusCode::METHOD_NOT_ALLOWED);
    }
    let arg = arg.map(|raw| {
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned()
    });
    Ok((endpoint, arg))
}

/// An error answer: the status is the result (§2); the short text only helps humans.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    reason: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reason: reason.into(),
        }
    }

    pub(crate) fn bad_request(reason: impl Into<String>) -> Self {
        ApiError::new(400, reason)
    }

    pub(crate) fn not_found(reason: impl Into<String>) -> Self {
        ApiError::new(404, reason)
    }

    pub(crate) fn too_large(reason: impl Into<String>) -> Self {
        ApiError::new(413, reason)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.reason,
        )
            .into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The parameters of a request: form body first, then query string (SDKs put auth in either).
#[derive(Debug, Default)]
pub(crate) struct Params {
    form: Vec<(String, String)>,
    query: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .chain(&self.query)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A boolean flag given as `1` or `true` (§3.2, §3.10).
    pub(crate) fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("1" | "true"))
    }

    pub(crate) fn add_form(&mut self, key: String, value: String) {
        self.form.push((key, value));
    }
}

/// A request read into memory, as the endpoints see it.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    pub(crate) params: Params,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) arg: Option<String>,
}

impl Ctx {
    /// `from` must be the Gateway ID and `secret` its secret, else 401 (§1).
    pub(crate) fn auth(&self) -> Result<(), ApiError> {
        let config = &self.shared.config;
        let from_ok = self.params.get("from") == Some(config.gateway_id.as_str());
        let secret_ok = self
            .params
            .get("secret")
            .is_some_and(|secret| constant_time_eq(secret.as_bytes(), config.secret.as_bytes()));
        if from_ok && secret_ok {
            Ok(())
        } else {
            Err(ApiError::new(401, "API identity or secret incorrect"))
        }
    }

    /// Checks the balance and debits; 402 without side effects when it does not suffice.
    pub(crate) fn debit(&self, cost: i64) -> Result<(), ApiError> {
        if cost <= 0 {
            return Ok(());
        }
        let mut inner = self.shared.lock();
        if inner.credits < cost {
            return Err(ApiError::new(402, "no credits remain"));
        }
        inner.credits -= cost;
        inner.metrics.credits_used += cost;
        Ok(())
    }

    pub(crate) fn is_form(&self) -> bool {
        content_type(&self.headers).starts_with("application/x-www-form-urlencoded")
    }
}

pub(crate) fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The fallback handler of the simulator's router: every Gateway API request lands here.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (endpoint, arg) = match route(request.method(), request.uri().path()) {
        Ok(found) => found,
        Err(status) => {
            shared.lock().metrics.record("unknown", status.as_u16());
            return ApiError::new(status.as_u16(), "no such endpoint").into_response();
        }
    };
    let name = endpoint.name();
    let fault = shared.take_fault(name);
    if let Some(delay) = fault.as_ref().and_then(|f| f.delay) {
        tokio::select! {
            () = shared.shutdown.cancelled() => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            () = tokio::time::sleep(delay) => {}
        }
    }
    let hang = fault.as_ref().is_some_and(|f| f.accept_then_timeout);
    let status = fault.as_ref().and_then(|f| f.status).filter(|_| !hang);
    let body_bytes = fault.as_ref().and_then(|f| f.body_bytes);
    let response = match (status, body_bytes) {
        (Some(status), _) => ApiError::new(status, "injected fault").into_response(),
        (None, Some(n)) => (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            vec![0u8; n as usize],
        )
            .into_response(),
        (None, None) => match read(&shared, request, arg).await {
            Ok(ctx) => dispatch(endpoint, ctx)
                .await
                .unwrap_or_else(IntoResponse::into_response),
            Err(error) => error.into_response(),
        },
    };
    let status = response.status().as_u16();
    shared.lock().metrics.record(name, status);
    debug!(endpoint = name, status, hang, "api request");
    if hang {
        // The effect happened; the client never gets the answer and runs into its timeout.
        tokio::select! {
            () = shared.shutdown.cancelled() => {}
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Some(delay) = fault.as_ref().and_then(|f| f.answer_delay) {
        tokio::select! {
            () = shared.shutdown.cancelled() => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
            () = tokio::time::sleep(delay) => {}
        }
    }
    response
}

/// The largest request body read: a maximal blob plus multipart overhead, or a maximal bulk
/// request. Anything larger is answered 413 unread.
fn body_limit(shared: &Shared) -> usize {
    let limits = &shared.config.limits;
    (limits.blob_bytes + 1024 * 1024).max(32 * 1024 * 1024)
}

async fn read(
    shared: &Arc<Shared>,
    request: Request,
    arg: Option<String>,
) -> Result<Ctx, ApiError> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, body_limit(shared))
        .await
        .map_err(|_| ApiError::too_large("request body too large"))?;
    let mut params = Params::default();
    if let Some(query) = parts.uri.query() {
        params.query = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
    }
    let mut ctx = Ctx {
        shared: Arc::clone(shared),
        params,
        headers: parts.headers,
        body,
        arg,
    };
    if ctx.is_form() {
        ctx.params.form = form_urlencoded::parse(&ctx.body).into_owned().collect();
    }
    Ok(ctx)
}

async fn dispatch(endpoint: Endpoint, ctx: Ctx) -> ApiResult {
    match endpoint {
        Endpoint::SendSimple => send::send_simple(ctx),
        Endpoint::SendE2e => send::send_e2e(ctx),
        Endpoint::SendE2eBulk => send::send_e2e_bulk(ctx),
        Endpoint::LookupPhone
        | Endpoint::LookupPhoneHash
        | Endpoint::LookupEmail
        | Endpoint::LookupEmailHash => lookup::lookup(endpoint, ctx),
        Endpoint::LookupBulk => lookup::lookup_bulk(ctx),
        Endpoint::Pubkeys => lookup::pubkey(ctx),
        Endpoint::PubkeysBulk => lookup::pubkeys_bulk(ctx),
        Endpoint::Capabilities => lookup::capabilities(ctx),
        Endpoint::Credits => lookup::credits(ctx),
        Endpoint::UploadBlob => blobs::upload(ctx).await,
        Endpoint::Blobs => blobs::download(ctx),
    }
}

/// Raw bytes with a content type (blob downloads).
pub(crate) fn bytes(content_type: &'static str, data: Bytes) -> Response {
    ([(header::CONTENT_TYPE, content_type)], Body::from(data)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(route(&post, "/send_e2e").unwrap().0, Endpoint::SendE2e);
        assert_eq!(
            route(&post, "/pubkeys/bulk").unwrap().0,
            Endpoint::PubkeysBulk
        );
        assert_eq!(
            route(&get, "/lookup/email/a%2Bb%40x.ch").unwrap(),
            (Endpoint::LookupEmail, Some("a+b@x.ch".into()))
        );
        assert_eq!(
            route(&get, "/send_e2e"),
            Err(StatusCode::METHOD_NOT_ALLOWED)
        );
        assert_eq!(route(&post, "/prefix/send_e2e"), Err(StatusCode::NOT_FOUND));
        assert_eq!(route(&get, "/pubkeys/"), Err(StatusCode::NOT_FOUND));
    }
}
