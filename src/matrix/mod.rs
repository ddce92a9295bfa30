//! Outbound client-server API: ruma request types sent with reqwest, as the bot or
//! masquerading as a ghost. Knows nothing of Threema.

mod admin;
pub mod crypto;
mod error;
mod intent;
mod rooms;

pub use intent::{EventOrigin, MediaRef};
pub use rooms::{BOT_LEVEL, closed_power_levels, initial_state};

use std::{borrow::Cow, sync::Arc, time::Duration};

use crate::ha::Fence;

use ruma::{
    UserId,
    api::AppserviceUserIdentity,
    api::{
        IncomingResponseExt, OutgoingRequest, OutgoingRequestAppserviceExt, SupportedVersions,
        auth_scheme::{AuthScheme, SendAccessToken},
        path_builder::{PathBuilder, SinglePath, VersionHistory},
    },
};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

pub use error::MatrixError;

/// How `send` retries transient failures before giving up.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// How long to wait after `error` before the next try: what a 429 asks for, else `delay`,
    /// which doubles (up to `max_delay`) for the try after.
    pub fn wait_after(&self, error: &MatrixError, delay: &mut Duration) -> Duration {
        let wait = match error {
            MatrixError::Api {
                retry_after: Some(after),
                ..
            } => *after,
            _ => *delay,
        };
        *delay = (*delay * 2).min(self.max_delay);
        wait
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 6,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

tokio::task_local! {
    static REQUESTS: std::cell::Cell<u64>;
}

/// Runs `work` and counts the homeserver requests it sends, on its own task only: a directory
/// sync reports what it cost, not what the bridge sent meanwhile for someone else.
pub async fn counting_requests<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    REQUESTS
        .scope(std::cell::Cell::new(0), async {
            let out = work.await;
            (out, REQUESTS.with(std::cell::Cell::get))
        })
        .await
}

fn count_request() {
    let _ = REQUESTS.try_with(|n| n.set(n.get() + 1));
}

#[derive(Clone)]
pub struct MatrixClient {
    http: reqwest::Client,
    base_url: String,
    as_token: SecretString,
    versions: SupportedVersions,
    retry: RetryPolicy,
    /// Counts each request by endpoint and status for `/metrics` (the bridge's own counter
    /// once it hands one over, see [`MatrixClient::with_metrics`]).
    requests: crate::metrics::Requests,
    /// Asked before each request that changes something (`ha`): a standby writes nothing.
    fence: Arc<Fence>,
    /// End-to-bridge encryption (`bridge.encryption`): what goes into encrypted rooms is
    /// encrypted by its sender's device.
    crypto: Option<Arc<crypto::RoomCrypto>>,
}

impl std::fmt::Debug for MatrixClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// What each ruma path builder needs to pick an endpoint's URL.
pub trait PathInput: PathBuilder {
    fn input(versions: &SupportedVersions) -> Self::Input<'_>;
}

impl PathInput for VersionHistory {
    fn input(versions: &SupportedVersions) -> Cow<'_, SupportedVersions> {
        Cow::Borrowed(versions)
    }
}

impl PathInput for SinglePath {
    fn input(_: &SupportedVersions) {}
}

impl MatrixClient {
    pub fn new(homeserver: &Url, as_token: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .expect("reqwest client builds with static settings");
        MatrixClient {
            http,
            base_url: homeserver.as_str().trim_end_matches('/').to_owned(),
            as_token,
            versions: default_versions(),
            retry: RetryPolicy::default(),
            requests: Default::default(),
            fence: Arc::new(Fence::open()),
            crypto: None,
        }
    }

    /// Encrypts what it sends into encrypted rooms with `crypto`'s devices.
    pub fn with_crypto(mut self, crypto: Arc<crypto::RoomCrypto>) -> Self {
        self.crypto = Some(crypto);
        self
    }

    /// The rooms' encryption and the bridge's devices, unless `bridge.encryption` is off.
    pub fn crypto(&self) -> Option<&Arc<crypto::RoomCrypto>> {
        self.crypto.as_ref()
    }

    /// Writes only while `fence` allows it (a `serve` process sharing its database).
    pub fn with_fence(mut self, fence: Arc<Fence>) -> Self {
        self.fence = fence;
        self
    }

    /// Counts this client's (and its clones') requests into `requests`.
    pub fn with_metrics(mut self, requests: crate::metrics::Requests) -> Self {
        self.requests = requests;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// A client that tries each request once: for asking whether the homeserver is there, and
    /// for callers that retry themselves.
    pub fn once(&self) -> Self {
        self.clone().with_retry(RetryPolicy {
            attempts: 1,
            ..Default::default()
        })
    }

    /// Uses the versions the homeserver advertises to pick endpoint paths.
    pub fn set_versions(&mut self, versions: SupportedVersions) {
        self.versions = versions;
    }

    /// Sends `request` with the appservice token, as `as_user` if given (identity assertion),
    /// retrying rate limits, 5xx and connection errors with backoff.
    ///
    /// A retry after a timeout may repeat a request the homeserver already carried out, so only
    /// idempotent requests go through here: PUTs with a transaction id, joins, registrations.
    /// Creating a room is not one of them.
    pub async fn send<R>(
        &self,
        request: R,
        as_user: Option<&UserId>,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        self.send_with(
            request,
            as_user,
            SendAccessToken::Appservice(self.as_token.expose_secret()),
        )
        .await
    }

    /// `send` without a token, for endpoints that must work even when ours is wrong
    /// (`/versions`: "is the homeserver there?" is a different question from "does it know us?").
    pub async fn send_unauthenticated<R>(
        &self,
        request: R,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        self.send_with(request, None, SendAccessToken::None).await
    }

    async fn send_with<R>(
        &self,
        request: R,
        as_user: Option<&UserId>,
        token: SendAccessToken<'_>,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        self.retrying(|| self.send_once(request.clone(), as_user, token))
            .await
    }

    /// Runs `try_once` until it succeeds, fails for good, or the policy's tries are used up:
    /// rate limits, 5xx and connection errors are tried again with backoff.
    async fn retrying<T, F, Fut>(&self, mut try_once: F) -> Result<T, MatrixError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, MatrixError>>,
    {
        let mut delay = self.retry.first_delay;
        let mut attempt = 1;
        loop {
            match try_once().await {
                Err(MatrixError::NotActive(e)) => return Err(e.into()),
                Err(e) if e.is_transient() && attempt < self.retry.attempts => {
                    let wait = self.retry.wait_after(&e, &mut delay);
                    tracing::warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, "homeserver request failed, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn send_once<R>(
        &self,
        request: R,
        as_user: Option<&UserId>,
        token: SendAccessToken<'_>,
    ) -> Result<R::IncomingResponse, MatrixError>
    where
        R: OutgoingRequest,
        R::PathBuilder: PathInput,
        for<'a> R::Authentication: AuthScheme<Input<'a> = SendAccessToken<'a>>,
    {
        let identity = as_user.map(AppserviceUserIdentity::new).unwrap_or_default();
        let http_request = request
            .try_into_http_request_with_identity::<Vec<u8>>(
                &self.base_url,
                token,
                identity,
                R::PathBuilder::input(&self.versions),
            )
            .map_err(|e| MatrixError::Request(e.to_string()))?;
        let request = reqwest::Request::try_from(http_request)
            .map_err(|e| MatrixError::Request(e.without_url().to_string()))?;
        let (status, body) = self.exchange(endpoint::<R>(), request).await?;
        let http_response = http::Response::builder()
            .status(status)
            .body(body.as_ref())
            .map_err(|e| MatrixError::Response(e.to_string()))?;
        R::IncomingResponse::try_from_http_response(http_response)
            .map_err(|e| MatrixError::Response(e.to_string()))
    }
}

impl MatrixClient {
    /// Sends one request and reads its answer, counted: on this task (see
    /// [`counting_requests`]) and by endpoint and status for `/metrics`.
    async fn exchange(
        &self,
        endpoint: &'static str,
        request: reqwest::Request,
    ) -> Result<(http::StatusCode, bytes::Bytes), MatrixError> {
        // Registering a user changes nothing anyone sees and may be repeated: a standby does
        // it for the homeserver's user queries.
        if request.method() != reqwest::Method::GET && endpoint != "account::register" {
            self.fence.check()?;
        }
        count_request();
        let answered = match self.http.execute(request).await {
            Ok(response) => answer(response).await,
            Err(e) => Err(MatrixError::transport(e)),
        };
        let status = match &answered {
            Ok((status, _)) => crate::metrics::status_label(*status),
            Err(MatrixError::Api { status, .. }) => crate::metrics::status_label(*status),
            Err(_) => "unreachable",
        };
        self.requests.count(endpoint, status);
        answered
    }
}

/// A ruma request type's endpoint, for a metric's label: `membership::join_room_by_id` of
/// `ruma_client_api::membership::join_room_by_id::v3::Request`. A closed set (the types
/// the bridge uses), never a path with an ID in it.
fn endpoint<R>() -> &'static str {
    let name = std::any::type_name::<R>();
    let name = name.split_once("::").map_or(name, |(_, rest)| rest);
    let name = name.strip_suffix("::Request").unwrap_or(name);
    match name.rsplit_once("::") {
        Some((endpoint, version)) if version.starts_with('v') => endpoint,
        _ => name,
    }
}

/// A successful answer's status and body; anything else as the error it says.
async fn answer(
    response: reqwest::Response,
) -> Result<(http::StatusCode, bytes::Bytes), MatrixError> {
    let status = response.status();
    let retry_header = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.map_err(MatrixError::transport)?;
    if !status.is_success() {
        return Err(MatrixError::from_response(status, retry_header, &body));
    }
    Ok((status, body))
}

/// Used until `/versions` has answered: the versions every current homeserver speaks.
fn default_versions() -> SupportedVersions {
    use ruma::api::MatrixVersion;
    SupportedVersions {
        versions: [MatrixVersion::V1_11].into(),
        features: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_type_names_its_endpoint_without_crate_or_version() {
        use ruma::api::client::{membership::join_room_by_id, message::send_message_event};
        assert_eq!(
            endpoint::<join_room_by_id::v3::Request>(),
            "membership::join_room_by_id"
        );
        assert_eq!(
            endpoint::<send_message_event::v3::Request>(),
            "message::send_message_event"
        );
    }
}
