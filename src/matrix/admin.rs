//! The Synapse admin API (`/_synapse/admin`), as far as offboarding, erasure and retention need
//! it. It is Synapse's own, so plain HTTP with JSON (ruma has no types for it), sent with an
//! admin token.

use reqwest::Method;
use ruma::{RoomId, UserId};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{MatrixClient, MatrixError};

/// A path segment: room and user IDs carry `!`, `@` and `:`.
fn segment(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}

impl MatrixClient {
    /// One admin request (retried like any other); its JSON answer (`null` when empty).
    async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &SecretString,
    ) -> Result<Value, MatrixError> {
        let url = format!("{}/_synapse/admin/{path}", self.base_url);
        self.retrying(|| async {
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose_secret());
            if let Some(body) = &body {
                request = request.json(body);
            }
            let request = request
                .build()
                .map_err(|e| MatrixError::Request(e.without_url().to_string()))?;
            let (_, body) = self.exchange("synapse_admin", request).await?;
            if body.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(&body).map_err(|e| MatrixError::Response(e.to_string()))
        })
        .await
    }

    /// Logs the user out everywhere and removes them from every room; with `erase`, Synapse
    /// also forgets their display name and avatar and hides their messages from new members.
    pub async fn deactivate_account(
        &self,
        user_id: &UserId,
        token: &SecretString,
        erase: bool,
    ) -> Result<(), MatrixError> {
        let path = format!("v1/deactivate/{}", segment(user_id.as_str()));
        self.admin(Method::POST, &path, Some(json!({"erase": erase})), token)
            .await?;
        Ok(())
    }

    /// Whether the homeserver still has the room (its admin API answers 404 once it is purged).
    pub async fn room_exists(
        &self,
        room_id: &RoomId,
        token: &SecretString,
    ) -> Result<bool, MatrixError> {
        let path = format!("v1/rooms/{}", segment(room_id.as_str()));
        match self.admin(Method::GET, &path, None, token).await {
            Ok(_) => Ok(true),
            Err(MatrixError::Api { status, .. }) if status == http::StatusCode::NOT_FOUND => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Starts deleting the room with everything in it from the database (v2: asynchronous);
    /// its local members are removed first. Returns the task's id for
    /// [`MatrixClient::room_delete_status`].
    pub async fn delete_room(
        &self,
        room_id: &RoomId,
        token: &SecretString,
    ) -> Result<String, MatrixError> {
        let path = format!("v2/rooms/{}", segment(room_id.as_str()));
        let body = json!({"purge": true, "force_purge": true, "block": false});
        let answer = self.admin(Method::DELETE, &path, Some(body), token).await?;
        answer["delete_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MatrixError::Response("no delete_id in the answer".into()))
    }

    /// `shutting_down`, `purging`, `complete` or `failed`.
    pub async fn room_delete_status(
        &self,
        delete_id: &str,
        token: &SecretString,
    ) -> Result<String, MatrixError> {
        let path = format!("v2/rooms/delete_status/{}", segment(delete_id));
        let answer = self.admin(Method::GET, &path, None, token).await?;
        answer["status"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MatrixError::Response("no status in the answer".into()))
    }

    /// Starts deleting the room's events before `up_to` (which stays, with its state and the
    /// room's whole state); local users' events too. Returns the purge's id for
    /// [`MatrixClient::purge_status`].
    pub async fn purge_history(
        &self,
        room_id: &RoomId,
        up_to: &ruma::EventId,
        token: &SecretString,
    ) -> Result<String, MatrixError> {
        let path = format!("v1/purge_history/{}", segment(room_id.as_str()));
        let body = json!({"delete_local_events": true, "purge_up_to_event_id": up_to});
        let answer = self.admin(Method::POST, &path, Some(body), token).await?;
        answer["purge_id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MatrixError::Response("no purge_id in the answer".into()))
    }

    /// `active`, `complete` or `failed`.
    pub async fn purge_status(
        &self,
        purge_id: &str,
        token: &SecretString,
    ) -> Result<String, MatrixError> {
        let path = format!("v1/purge_history_status/{}", segment(purge_id));
        let answer = self.admin(Method::GET, &path, None, token).await?;
        answer["status"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| MatrixError::Response("no status in the answer".into()))
    }

    /// The `mxc://` URIs of the media this server holds that the room's events refer to.
    pub async fn room_media(
        &self,
        room_id: &RoomId,
        token: &SecretString,
    ) -> Result<Vec<String>, MatrixError> {
        let path = format!("v1/room/{}/media", segment(room_id.as_str()));
        let answer = self.admin(Method::GET, &path, None, token).await?;
        Ok(answer["local"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|uri| uri.as_str().map(str::to_owned))
            .collect())
    }

    /// The ids of the reports users made about events of the room (they quote the events).
    pub async fn event_reports(
        &self,
        room_id: &RoomId,
        token: &SecretString,
    ) -> Result<Vec<i64>, MatrixError> {
        let path = format!(
            "v1/event_reports?limit=1000&room_id={}",
            segment(room_id.as_str())
        );
        let answer = self.admin(Method::GET, &path, None, token).await?;
        Ok(answer["event_reports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|report| report["id"].as_i64())
            .collect())
    }

    /// Deletes one event report; `false` if it was gone already.
    pub async fn delete_event_report(
        &self,
        id: i64,
        token: &SecretString,
    ) -> Result<bool, MatrixError> {
        let path = format!("v1/event_reports/{id}");
        match self.admin(Method::DELETE, &path, None, token).await {
            Ok(_) => Ok(true),
            Err(MatrixError::Api { status, .. }) if status == http::StatusCode::NOT_FOUND => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes one medium of this server (`mxc://server/id`); `false` if it was gone already.
    pub async fn delete_media(&self, uri: &str, token: &SecretString) -> Result<bool, MatrixError> {
        let Some((server, id)) = uri.strip_prefix("mxc://").and_then(|r| r.split_once('/')) else {
            return Err(MatrixError::Request(format!("{uri:?} is not an mxc URI")));
        };
        let path = format!("v1/media/{}/{}", segment(server), segment(id));
        match self.admin(Method::DELETE, &path, None, token).await {
            Ok(_) => Ok(true),
            Err(MatrixError::Api { status, .. }) if status == http::StatusCode::NOT_FOUND => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Deletes every medium the user uploaded; how many.
    pub async fn delete_user_media(
        &self,
        user_id: &UserId,
        token: &SecretString,
    ) -> Result<u64, MatrixError> {
        let path = format!("v1/users/{}/media", segment(user_id.as_str()));
        let answer = self.admin(Method::DELETE, &path, None, token).await?;
        Ok(answer["total"].as_u64().unwrap_or(0))
    }
}
