//! The employee directory's keys (`directory:`): its sources (CSV, HTTP, SCIM), the secrets
//! they need, and the planner's settings and offboarding safety limit, built here as
//! [`crate::directory::plan::Settings`] and [`crate::directory::snapshot::Safety`] so the
//! directory code gets them ready to use.

use std::{path::PathBuf, time::Duration};

use ruma::ServerName;
use secrecy::{ExposeSecret, SecretString};

use super::{DirectoryConfig, HttpSourceConfig, RawDirectory, RawHttpSource, check::Checker};
use crate::directory::{
    plan::{Settings, template_attributes},
    snapshot::Safety,
};

/// The shortest SCIM bearer token accepted. It is all that stands between the network and the
/// directory (whoever holds it can make themselves a dispatcher or offboard anyone), and an
/// identity provider generates long random tokens anyway.
const MIN_SCIM_TOKEN_CHARS: usize = 32;

/// Checks `directory:`; the planner needs the homeserver's domain, so it fails (having listed
/// its own problems) when that did.
pub(super) fn check(
    c: &mut Checker,
    raw: &RawDirectory,
    domain: Option<&ServerName>,
    deactivate_dispatchers: bool,
) -> Option<DirectoryConfig> {
    let http = match &raw.http {
        None => Some(None),
        Some(http) => http_source(c, http).map(Some),
    };
    let scim_token = scim_token(c, raw);
    let share = raw.max_offboard_share.unwrap_or(0.1);
    if !(0.0..=1.0).contains(&share) {
        c.fail::<()>(
            "directory.max_offboard_share",
            format!("{share} is not a share between 0 and 1"),
        );
    }
    let attributes = kept_attributes(c, raw);
    Some(DirectoryConfig {
        attributes,
        inbox_attributes: Vec::new(),
        csv: raw.csv.as_ref().map(|p| c.path(p)),
        http: http?,
        scim_token: scim_token?,
        check_interval: Duration::from_secs(raw.check_seconds.unwrap_or(5).max(1)),
        sync_interval: match raw.sync_interval_seconds.unwrap_or(300) {
            0 => None,
            seconds => Some(Duration::from_secs(seconds)),
        },
        plan: plan(raw, domain?, deactivate_dispatchers),
        safety: Safety {
            max_share: share,
            always_allowed: raw.max_offboard_always.unwrap_or(2),
        },
    })
}

/// `directory.scim_token`: long enough that guessing it is hopeless (it makes dispatchers
/// and offboards people).
fn scim_token(c: &mut Checker, raw: &RawDirectory) -> Option<Option<SecretString>> {
    optional_secret(
        c,
        "directory.scim_token",
        &raw.scim_token,
        &raw.scim_token_file,
    )
    .and_then(|token| match token {
        Some(token) if token.expose_secret().trim().chars().count() < MIN_SCIM_TOKEN_CHARS => c
            .fail(
                "directory.scim_token",
                format!(
                    "is shorter than {MIN_SCIM_TOKEN_CHARS} characters; use a long random token \
                     (e.g. `openssl rand -hex 32`), or leave SCIM off"
                ),
            ),
        token => Some(token),
    })
}

/// `directory.attributes`: the attributes kept from every source; each one spaces, scopes or
/// name templates use must be among them.
fn kept_attributes(c: &mut Checker, raw: &RawDirectory) -> Option<Vec<String>> {
    let attributes = raw
        .attributes
        .as_ref()
        .map(|_| attribute_names(&raw.attributes));
    if let Some(kept) = &attributes {
        let templates = |t: &Option<String>| t.as_deref().map(template_attributes);
        for (key, used) in [
            (
                "directory.space_attributes",
                Some(attribute_names(&raw.space_attributes)),
            ),
            (
                "directory.scope_attributes",
                Some(attribute_names(&raw.scope_attributes)),
            ),
            (
                "directory.ghost_name_template",
                templates(&raw.ghost_name_template),
            ),
            (
                "directory.former_name_template",
                templates(&raw.former_name_template),
            ),
        ] {
            for name in used.into_iter().flatten() {
                if !kept.contains(&name) {
                    c.fail::<()>(
                        key,
                        format!("{name:?} is not in directory.attributes, so it would be dropped"),
                    );
                }
            }
        }
    }
    attributes
}

fn http_source(c: &mut Checker, http: &RawHttpSource) -> Option<HttpSourceConfig> {
    let key = "directory.http.url";
    c.http_url(key, &http.url)
        .and_then(|url| match url.scheme() == "https" || is_loopback(&url) {
            true => Some(url),
            // The answer is the whole staff's personal data, and the request carries a token.
            false => c.fail(key, "must be https:// (plain http only to this machine)"),
        })
        .map(|url| HttpSourceConfig {
            url,
            authorization: http.authorization.clone(),
            items_path: http.items_path.clone().unwrap_or_default(),
            fields: http.fields.clone().unwrap_or_default(),
            interval: Duration::from_secs(http.interval_seconds.unwrap_or(300).max(1)),
        })
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A secret that may be left out; given, it is checked like a required one.
fn optional_secret(
    c: &mut Checker,
    key: &str,
    value: &Option<SecretString>,
    file: &Option<PathBuf>,
) -> Option<Option<SecretString>> {
    match (value, file) {
        (None, None) => Some(None),
        _ => c.secret(key, value, file).map(Some),
    }
}

/// The planner's settings: names and templates with their defaults.
fn plan(raw: &RawDirectory, domain: &ServerName, deactivate_dispatchers: bool) -> Settings {
    Settings {
        domain: domain.to_owned(),
        space_attributes: attribute_names(&raw.space_attributes),
        scope_attributes: attribute_names(&raw.scope_attributes),
        ghost_name_template: raw
            .ghost_name_template
            .clone()
            .unwrap_or_else(|| "{display_name}".into()),
        former_name_template: raw
            .former_name_template
            .clone()
            .unwrap_or_else(|| "{name} (former)".into()),
        root_space_name: raw.space_name.clone().unwrap_or_else(|| "Dispatch".into()),
        former_space_name: raw
            .former_space_name
            .clone()
            .unwrap_or_else(|| "Former employees".into()),
        deactivate_dispatchers,
    }
}

/// Attribute names as the planner compares them: trimmed, lower case, empty ones dropped.
fn attribute_names(list: &Option<Vec<String>>) -> Vec<String> {
    list.iter()
        .flatten()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect()
}
