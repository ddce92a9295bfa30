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
    directory::{
        Record,
        scim::{self, Filter, Meta, ScimError},
        snapshot::Change,
    },
    store::StoredEmployee,
};

const SOURCE: &str = "scim";
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

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %crate::error_chain::chain(&e), "SCIM request failed");
        Error(ScimError {
            status: 500,
            scim_type: None,
            detail: "internal error, try again".into(),
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
    let all: Vec<StoredEmployee> = state
        .bridge
        .store
        .employees()
        .await?
        .into_iter()
        .filter(|e| !e.employee.removed)
        .filter(|e| match &filter {
            None => true,
            Some(Filter::UserName(name)) => e.scim_user_name.as_deref() == Some(name.as_str()),
            Some(Filter::ExternalId(id)) => e.employee.record.employee_id == *id,
        })
        .collect();
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
    let store = &state.bridge.store;
    let existing = store.employee_by_id(&record.employee_id).await?;
    if existing
        .as_ref()
        .is_some_and(|e| e.scim_id.is_some() && !e.employee.removed)
    {
        return Err(ScimError::conflict_uniqueness(format!(
            "a user with externalId {:?} exists",
            record.employee_id
        ))
        .into());
    }
    let scim_id = existing
        .and_then(|e| e.scim_id)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let stored = store_change(&state, &scim_id, &user_name, record).await?;
    let mut response = scim_json(StatusCode::CREATED, &resource(&state, &stored));
    if let Ok(location) = HeaderValue::from_str(&location(&state, &scim_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let employee = find(&state, &id).await?;
    Ok(scim_json(StatusCode::OK, &resource(&state, &employee)))
}

async fn replace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let current = find(&state, &id).await?;
    let (user_name, record) = scim::record_from_user(&json_body(&body)?)?;
    update(&state, &id, current, user_name, record).await
}

async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, Error> {
    let current = find(&state, &id).await?;
    let patched = scim::apply_patch(&resource(&state, &current), &json_body(&body)?)?;
    let (user_name, record) = scim::record_from_user(&patched)?;
    update(&state, &id, current, user_name, record).await
}

/// Deprovisioning: the employee is offboarded (kept, like a row gone from the CSV).
async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, Error> {
    let current = find(&state, &id).await?;
    let change = Change::Removed(current.employee.record.clone());
    state
        .bridge
        .store
        .employees_apply(SOURCE, &[change], "scim")
        .await?;
    state.bridge.directory_wake.notify_one();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn update(
    state: &AppState,
    id: &str,
    current: StoredEmployee,
    user_name: String,
    record: Record,
) -> Result<Response, Error> {
    if record.employee_id != current.employee.record.employee_id {
        return Err(ScimError::bad_request(
            "mutability",
            "externalId is the employee's stable key and cannot change",
        )
        .into());
    }
    let stored = store_change(state, id, &user_name, record).await?;
    Ok(scim_json(StatusCode::OK, &resource(state, &stored)))
}

/// Stores the record (audited), gives it its SCIM identity, and rings the reconciler.
async fn store_change(
    state: &AppState,
    scim_id: &str,
    user_name: &str,
    record: Record,
) -> Result<StoredEmployee, Error> {
    let store = &state.bridge.store;
    let before = store.employee_by_id(&record.employee_id).await?;
    if store
        .scim_user_name_taken(user_name, &record.employee_id)
        .await?
    {
        return Err(
            ScimError::conflict_uniqueness(format!("userName {user_name:?} is taken")).into(),
        );
    }
    let change = match before {
        Some(b) if !b.employee.removed => (b.employee.record != record
            || b.employee.source != SOURCE)
            .then(|| Change::Changed(b.employee.record, record.clone())),
        _ => Some(Change::Added(record.clone())),
    };
    if let Some(change) = change {
        store.employees_apply(SOURCE, &[change], "scim").await?;
        state.bridge.directory_wake.notify_one();
    }
    store
        .employee_set_scim(&record.employee_id, scim_id, user_name)
        .await?;
    store
        .employee_by_id(&record.employee_id)
        .await?
        .ok_or_else(|| Error(ScimError::not_found("the user vanished")))
}

async fn find(state: &AppState, id: &str) -> Result<StoredEmployee, Error> {
    match state.bridge.store.employee_by_scim_id(id).await? {
        Some(e) if !e.employee.removed => Ok(e),
        _ => Err(ScimError::not_found(format!("no user {id:?}")).into()),
    }
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

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
