//! Reading the snapshot sources (the CSV file, the HTTP endpoint) and looking up Threema IDs
//! of drivers known by phone or email.

use std::{collections::BTreeMap, path::Path, time::SystemTime};

use secrecy::ExposeSecret;
use serde_json::Value;

use super::Directory;
use crate::{
    config::HttpSourceConfig,
    directory::{Record, csv::Parsed},
    threema::{ThreemaError, ThreemaId},
};

/// When the CSV file last changed (and its size), to notice a new export without reading it.
pub fn csv_stamp(path: Option<&Path>) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path?).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Directory {
    /// Every configured snapshot source, read: its records, or why it could not be read.
    pub(super) async fn read_sources(&self) -> Vec<(String, Result<Parsed, String>)> {
        let config = &self.config;
        let mut out = Vec::new();
        if let Some(path) = &config.csv {
            let read = tokio::fs::read(path)
                .await
                .map(|bytes| crate::directory::csv::parse(&bytes))
                .map_err(|e| format!("cannot read {}: {e}", path.display()));
            out.push(("csv".to_owned(), keep(read, config.attributes.as_deref())));
        }
        if let Some(http) = &config.http {
            let kept = config.http_attributes();
            out.push(("http".to_owned(), keep(fetch(http).await, Some(&kept))));
        }
        out
    }

    /// The Threema ID behind a driver's phone number or email address, if the Gateway knows one.
    pub(super) async fn look_up_threema_id(
        &self,
        record: &Record,
    ) -> Result<Option<ThreemaId>, ThreemaError> {
        if let Some(phone) = &record.phone {
            match self.threema.lookup_by_phone(phone).await {
                Err(ThreemaError::NotFound) => {}
                other => return other.map(Some),
            }
        }
        if let Some(email) = &record.email {
            match self.threema.lookup_by_email(email).await {
                Err(ThreemaError::NotFound) => {}
                other => return other.map(Some),
            }
        }
        Ok(None)
    }
}

/// The largest answer read: some kilobytes an employee, for tens of thousands of them. A bigger
/// one is refused rather than held in memory.
const MAX_ANSWER_BYTES: usize = 32 << 20;

/// `GET` the endpoint and read its employees like CSV rows: each object's fields by name,
/// renamed through `directory.http.fields`.
async fn fetch(config: &HttpSourceConfig) -> Result<Parsed, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client.get(config.url.clone());
    if let Some(authorization) = &config.authorization {
        request = request.header(http::header::AUTHORIZATION, authorization.expose_secret());
    }
    // Without the URL: it may carry a token in its query.
    let mut response = request
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("the endpoint answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is larger than {} MB",
                MAX_ANSWER_BYTES >> 20
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let body: Value =
        serde_json::from_slice(&body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    parse_json(&body, &config.items_path, &config.fields)
}

/// The records with only the `kept` attributes (all, if `None`).
fn keep(read: Result<Parsed, String>, kept: Option<&[String]>) -> Result<Parsed, String> {
    let mut parsed = read?;
    if let Some(kept) = kept {
        parsed.records.iter_mut().for_each(|r| r.keep_only(kept));
    }
    Ok(parsed)
}

/// The employees in a JSON answer: the array at `items_path` (dot separated; empty: the answer
/// itself), each object turned into named fields.
pub fn parse_json(
    body: &Value,
    items_path: &str,
    fields: &BTreeMap<String, String>,
) -> Result<Parsed, String> {
    let mut items = body;
    for step in items_path.split('.').filter(|s| !s.is_empty()) {
        items = items
            .get(step)
            .ok_or_else(|| format!("the answer has no {items_path:?}"))?;
    }
    let items = items
        .as_array()
        .ok_or_else(|| format!("{:?} is not an array", items_path))?;
    // JSON key → our field name.
    let renamed: BTreeMap<&str, &str> = fields
        .iter()
        .map(|(ours, theirs)| (theirs.as_str(), ours.as_str()))
        .collect();
    let mut parsed = Parsed::default();
    for (index, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            parsed.problems.push(format!("item {index}: not an object"));
            continue;
        };
        let row: BTreeMap<String, String> = object
            .iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Bool(b) => b.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                let name = renamed.get(key.as_str()).copied().unwrap_or(key);
                Some((name.to_lowercase(), text))
            })
            .collect();
        match Record::from_fields(&row) {
            Ok(record) => parsed.records.push(record),
            Err(problems) => parsed
                .problems
                .push(format!("item {index}: {}", problems.join("; "))),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endpoint that answers `body` to every request, on a free loopback port.
    async fn endpoint(body: Vec<u8>) -> HttpSourceConfig {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hr", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/hr",
            axum::routing::get(move || {
                let body = body.clone();
                async move { body }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HttpSourceConfig {
            url: url.parse().unwrap(),
            authorization: None,
            items_path: String::new(),
            fields: BTreeMap::new(),
            interval: std::time::Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn an_answer_over_the_limit_is_refused_not_held() {
        let fits = endpoint(b"[]".to_vec()).await;
        assert!(fetch(&fits).await.is_ok());
        let mut huge = b"[".to_vec();
        huge.resize(MAX_ANSWER_BYTES + 1, b' ');
        let err = fetch(&endpoint(huge).await).await.unwrap_err();
        assert!(err.contains("larger than 32 MB"), "{err}");
    }

    #[test]
    fn json_items_with_renamed_fields() {
        let body = serde_json::json!({"data": {"people": [
            {"personnel_no": 17, "name": "Erika", "kind": "driver", "enabled": true,
             "threema": "ABCD1234", "depot": "North", "manager": {"id": 1}},
            {"personnel_no": 18, "name": "", "kind": "driver", "enabled": true},
            "junk"
        ]}});
        let fields = [
            ("employee_id", "personnel_no"),
            ("display_name", "name"),
            ("role", "kind"),
            ("active", "enabled"),
            ("threema_id", "threema"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let parsed = parse_json(&body, "data.people", &fields).unwrap();
        assert_eq!(parsed.records.len(), 1);
        let erika = &parsed.records[0];
        assert_eq!(erika.employee_id, "17");
        assert_eq!(erika.attribute("depot"), Some("North"));
        assert_eq!(erika.attribute("manager"), None);
        assert_eq!(parsed.problems.len(), 2, "{:?}", parsed.problems);
        assert!(parse_json(&body, "data.nobody", &fields).is_err());
    }
}
