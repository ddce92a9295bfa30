//! SCIM 2.0 `/Users` (RFC 7644) on the appservice listener, for identity providers that push
//! changes (Entra, Okta, Keycloak). Thin: authenticate, parse with `directory::scim`, store the
//! change like any directory change, ring the reconciler, answer. Errors are SCIM error JSON.

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Query, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::{
    bridge::directory::ScimUsersError,
    directory::{
        Record,
        scim::{self, Meta, ScimError},
    },
    store::StoredEmployee,
    zone::rfc3339,
};

/// A SCIM user is a few hundred bytes; nothing an identity provider sends comes near this.
const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/scim/v2/ServiceProviderConfig",
            get(service_provider_config),
        )
        .route("/scim/v2/Users", get(list).post(create))
        .route(
            "/scim/v2/Users/{id}",
            get(read).put(replace).patch(patch).delete(delete),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .route_layer(middleware::from_fn_with_state(state, authenticate))
}

/// The SCIM boundary's one error type.
struct Error(ScimError);

impl From<ScimError> for Error {
    fn from(e: ScimError) -> Self {
        Error(e)
    }
}

impl From<ScimUsersError> for Error {
    fn from(e: ScimUsersError) -> Self {
        Error(match e {
            ScimUsersError::Conflict(detail) => ScimError::conflict_uniqueness(detail),
            ScimUsersError::NotFound(detail) => ScimError::not_found(detail),
            ScimUsersError::KeyChanged => ScimError::bad_request("mutability", e.to_string()),
            ScimUsersError::Store(e) => {
                tracing::error!(error = %crate::error_chain::chain(&e), "SCIM request failed");
                ScimError {
                    status: 500,
                    scim_type: None,
                    detail: "internal error, try again".into(),
                }
            }
        })
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        scim_json(status, &self.0.body())
    }
}

fn scim_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/scim+json"),
    );
    response
}

async fn authenticate(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, Error> {
    let expected = state
        .bridge
        .config
        .directory
        .scim_token
        .as_ref()
        .ok_or_else(|| Error(ScimError::not_found("SCIM is not enabled")))?;
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !bool::from(
        given
            .trim()
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes()),
    ) {
        tracing::warn!(path = %request.uri().path(), "SCIM request with a wrong token refused");
        return Err(Error(ScimError::unauthorized()));
    }
    Ok(next.run(request).await)
}

async fn service_provider_config() -> Response {
    scim_json(StatusCode::OK, &scim::service_provider_config())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    filter: Option<String>,
    start_index: Option<usize>,
    count: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Error> {
    let filter = query
        .filter
        .as_deref()
        .map(scim::parse_filter)
        .transpose()?;
    let all = state.bridge.scim_users.list(filter.as_ref()).await?;
    let start = query.start_index.unwrap_or(1).max(1);
    let count = query
        .count
        .unwrap_or(scim::MAX_RESULTS)
        .min(scim::MAX_RESULTS);
    let page: Vec<Value> = all
        .iter()
        .skip(start - 1)
        .take(count)
        .map(|e| resource(&state, e))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        &scim::list_response(page, all.len(), start),
    ))
}

async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, Error> {
    let (user_name, record) = scim::record_from_user(&json_body(&body)?)?;
    let stored = state.bridge.scim_users.create(&user_name, record).await?;
    let mut response = scim_json(StatusCode::CREATED, &resource(&state, &stored));
    let scim_id = stored.scim_id.as_deref().unwrap_or_default();
    if let Ok(location) = HeaderValue::from_str(&location(&state, scim_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let employee = state.bridge.scim_users.find(&id).await?;
    Ok(scim_json(StatusCode::OK, &resource(&state, &employee)))
}

async fn replace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let current = state.bridge.scim_users.find(&id).await?;
    let (user_name, record) = scim::record_from_user(&json_body(&body)?)?;
    update(&state, current, user_name, record).await
}

async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let current = state.bridge.scim_users.find(&id).await?;
    let patched = scim::apply_patch(&resource(&state, &current), &json_body(&body)?)?;
    let (user_name, record) = scim::record_from_user(&patched)?;
    update(&state, current, user_name, record).await
}

async fn update(
    state: &AppState,
    current: StoredEmployee,
    user_name: String,
    record: Record,
) -> Result<Response, Error> {
    let users = &state.bridge.scim_users;
    let stored = users.update(current, &user_name, record).await?;
    Ok(scim_json(StatusCode::OK, &resource(state, &stored)))
}

/// Deprovisioning: the employee is offboarded (kept, like a row gone from the CSV).
async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let users = &state.bridge.scim_users;
    users.deprovision(users.find(&id).await?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn json_body(body: &Bytes) -> Result<Value, ScimError> {
    serde_json::from_slice(body)
        .map_err(|e| ScimError::bad_request("invalidSyntax", format!("the body is not JSON: {e}")))
}

fn resource(state: &AppState, employee: &StoredEmployee) -> Value {
    let id = employee.scim_id.clone().unwrap_or_default();
    let meta = Meta {
        created: rfc3339(employee.created_at),
        last_modified: rfc3339(employee.updated_at),
        location: location(state, &id),
    };
    let user_name = employee
        .scim_user_name
        .clone()
        .unwrap_or_else(|| employee.employee.record.employee_id.clone());
    scim::user_from_record(&id, &user_name, &employee.employee.record, &meta)
}

fn location(state: &AppState, id: &str) -> String {
    let base = state
        .bridge
        .config
        .appservice
        .url
        .as_str()
        .trim_end_matches('/');
    format!("{base}/scim/v2/Users/{id}")
}
