//! Who may do what with the bridge: `bridge.permissions` maps user IDs, server names or `*`
//! to a [`Level`]; the most specific entry wins. Kept apart from the rest of the config
//! because the bridge asks it on every command, while the other settings are only read.

use std::collections::BTreeMap;

use ruma::{OwnedUserId, ServerName, UserId};

use super::{RawBridge, check::Checker};

/// What a Matrix user may do with the bridge, from `bridge.permissions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    None,
    Dispatcher,
    Admin,
}

/// `bridge.permissions`: levels by exact user ID or by server name (`*` for everyone); the
/// most specific entry wins.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    users: BTreeMap<OwnedUserId, Level>,
    servers: BTreeMap<String, Level>,
}

impl Permissions {
    pub fn level(&self, user: &UserId) -> Level {
        self.users
            .get(user)
            .or_else(|| self.servers.get(user.server_name().as_str()))
            .or_else(|| self.servers.get("*"))
            .copied()
            .unwrap_or(Level::None)
    }
}

/// A level as written in `bridge.permissions`. Matched by hand, not by serde: a bad word is
/// then one problem among the others, naming the entry and the words allowed.
fn level_named(word: &str) -> Option<Level> {
    match word {
        "admin" => Some(Level::Admin),
        "dispatcher" => Some(Level::Dispatcher),
        "none" => Some(Level::None),
        _ => None,
    }
}

/// `bridge.permissions`, by default `dispatcher` for everyone on our own server. Listed
/// `bridge.dispatchers` are at least dispatchers.
pub(super) fn check(
    c: &mut Checker,
    raw: &RawBridge,
    domain: Option<&ServerName>,
    dispatchers: Option<&[OwnedUserId]>,
) -> Option<Permissions> {
    let mut permissions = Permissions::default();
    let entries = match &raw.permissions {
        Some(entries) => entries.clone(),
        None => domain
            .map(|d| [(d.to_string(), "dispatcher".to_owned())].into())
            .unwrap_or_default(),
    };
    let mut ok = true;
    for (who, level) in entries {
        let Some(level) = level_named(&level) else {
            ok = c
                .fail::<()>(
                    "bridge.permissions",
                    format!("{who}: {level:?} is none of \"admin\", \"dispatcher\", \"none\""),
                )
                .is_some();
            continue;
        };
        if who.starts_with('@') {
            match UserId::parse(&who) {
                Ok(user) => {
                    permissions.users.insert(user, level);
                }
                Err(e) => {
                    ok = c
                        .fail::<()>(
                            "bridge.permissions",
                            format!("{who:?} is not a Matrix user ID: {e}"),
                        )
                        .is_some();
                }
            }
        } else if who == "*" || ServerName::parse(&who).is_ok() {
            permissions.servers.insert(who, level);
        } else {
            ok = c
                .fail::<()>(
                    "bridge.permissions",
                    format!("{who:?} is neither a user ID, a server name nor \"*\""),
                )
                .is_some();
        }
    }
    for d in dispatchers.unwrap_or_default() {
        let level = permissions.level(d).max(Level::Dispatcher);
        permissions.users.insert(d.clone(), level);
    }
    ok.then_some(permissions)
}
