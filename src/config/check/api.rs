//! `api:`: the integration API's listener and clients.

use std::collections::{BTreeSet, HashMap};

use secrecy::ExposeSecret;

use super::Checker;
use crate::{
    config::{ApiClient, ApiConfig, RawApi, Webhook, WebhookEvent},
    directory::selection,
};

/// A webhook's secret signs what the receiver acts on.
const MIN_SECRET_CHARS: usize = 16;

/// A client's token opens sending to drivers: long enough that guessing it is hopeless.
const MIN_TOKEN_CHARS: usize = 32;

pub(super) fn check(c: &mut Checker, raw: &RawApi) -> Option<ApiConfig> {
    let listen = match &raw.listen {
        None => None,
        some => Some(c.socket_addr("api.listen", some, "")?),
    };
    if listen.is_none() && !raw.clients.is_empty() {
        return c.fail("api.listen", "is required when api.clients are set");
    }
    if listen.is_some() && raw.clients.is_empty() {
        c.warn("api.listen is set but no api.clients: every request will be refused");
    }
    let mut names = BTreeSet::new();
    let mut tokens = BTreeSet::new();
    let mut clients = Vec::new();
    let mut failed = false;
    for (i, client) in raw.clients.iter().enumerate() {
        let key = format!("api.clients[{i}]");
        let name = client.name.as_deref().map(str::trim).unwrap_or_default();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            failed = true;
            c.fail::<()>(
                &format!("{key}.name"),
                "is required: a name of up to 64 characters",
            );
            continue;
        }
        if !names.insert(name.to_lowercase()) {
            failed = true;
            c.fail::<()>(&format!("{key}.name"), format!("{name:?} is used twice"));
            continue;
        }
        let Some(token) = c.secret(&format!("{key}.token"), &client.token, &client.token_file)
        else {
            failed = true;
            continue;
        };
        if token.expose_secret().chars().count() < MIN_TOKEN_CHARS {
            failed = true;
            c.fail::<()>(
                &format!("{key}.token"),
                format!(
                    "is shorter than {MIN_TOKEN_CHARS} characters; use a long random token \
                     (e.g. `openssl rand -hex 32`)"
                ),
            );
            continue;
        }
        if !tokens.insert(token.expose_secret().to_owned()) {
            failed = true;
            c.fail::<()>(&format!("{key}.token"), "is another client's token too");
            continue;
        }
        // Saved lists change at the desk's will; a client's reach is fixed in the config.
        let scope_text = client
            .scope
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let scope = match scope_text
            .map(|s| selection::parse(s).and_then(|e| selection::resolve(e, &HashMap::new())))
        {
            None => None,
            Some(Ok(expr)) => Some(expr),
            Some(Err(e)) => {
                failed = true;
                c.fail::<()>(&format!("{key}.scope"), format!("is not a selection: {e}"));
                continue;
            }
        };
        clients.push(ApiClient {
            name: name.to_owned(),
            token,
            scope,
            scope_text: scope_text.map(str::to_owned),
        });
    }
    let webhooks = webhooks(c, raw, &names);
    match (failed, webhooks) {
        (false, Some(webhooks)) => Some(ApiConfig {
            listen,
            clients,
            webhooks,
        }),
        _ => None,
    }
}

/// The receivers: an http(s) URL each, a secret long enough to sign with, known events and
/// clients. Their URLs key the delivery queue, so each is named once.
fn webhooks(c: &mut Checker, raw: &RawApi, clients: &BTreeSet<String>) -> Option<Vec<Webhook>> {
    let mut out = Vec::new();
    let mut urls = BTreeSet::new();
    let mut failed = false;
    for (i, hook) in raw.webhooks.iter().enumerate() {
        let key = format!("api.webhooks[{i}]");
        let Some(url) = c.http_url(&format!("{key}.url"), &hook.url) else {
            failed = true;
            continue;
        };
        if !urls.insert(url.to_string()) {
            failed = true;
            c.fail::<()>(&format!("{key}.url"), "is another webhook's URL too");
            continue;
        }
        let Some(secret) = c.secret(&format!("{key}.secret"), &hook.secret, &hook.secret_file)
        else {
            failed = true;
            continue;
        };
        if secret.expose_secret().chars().count() < MIN_SECRET_CHARS {
            failed = true;
            c.fail::<()>(
                &format!("{key}.secret"),
                format!("is shorter than {MIN_SECRET_CHARS} characters"),
            );
            continue;
        }
        let events = match &hook.events {
            None => WebhookEvent::ALL.to_vec(),
            Some(names) => {
                let parsed: Option<Vec<WebhookEvent>> = (names.iter())
                    .map(|n| WebhookEvent::ALL.into_iter().find(|e| e.name() == n.trim()))
                    .collect();
                let Some(events) = parsed.filter(|e| !e.is_empty()) else {
                    failed = true;
                    let known: Vec<&str> = WebhookEvent::ALL.iter().map(|e| e.name()).collect();
                    c.fail::<()>(
                        &format!("{key}.events"),
                        format!("names an event that is not one of {}", known.join(", ")),
                    );
                    continue;
                };
                events
            }
        };
        if let Some(unknown) = (hook.clients.iter().flatten())
            .find(|name| !clients.contains(&name.trim().to_lowercase()))
        {
            failed = true;
            c.fail::<()>(
                &format!("{key}.clients"),
                format!("{unknown:?} is not a name in api.clients"),
            );
            continue;
        }
        out.push(Webhook {
            url,
            secret,
            events,
            clients: (hook.clients.as_ref())
                .map(|names| names.iter().map(|n| n.trim().to_owned()).collect()),
        });
    }
    (!failed).then_some(out)
}
