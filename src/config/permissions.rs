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
/// most specific entry wins. With a directory configured, the directory is authoritative.
#[derive(Debug, Clone, Default)]
pub struct Permissions {
    users: BTreeMap<OwnedUserId, Level>,
    servers: BTreeMap<String, Level>,
    /// A directory is configured: it says who is a dispatcher.
    directory: bool,
}

impl Permissions {
    /// The users named by their ID with at least `level`.
    pub fn named(&self, level: Level) -> impl Iterator<Item = &OwnedUserId> {
        (self.users.iter())
            .filter(move |(_, named)| **named >= level)
            .map(|(user, _)| user)
    }

    /// The users named admins by their ID.
    pub fn admins(&self) -> impl Iterator<Item = &OwnedUserId> {
        (self.users.iter())
            .filter(|(_, level)| **level == Level::Admin)
            .map(|(user, _)| user)
    }

    /// What `user` may do, given whether the directory lists them as a dispatcher
    /// (`Some(true)` current, `Some(false)` left). Whoever left has nothing. With a directory,
    /// a user named by ID here has that level, a current dispatcher is one unless a server or
    /// `*` entry lowers it, and everyone else has nothing: an account the directory does not
    /// know cannot use the bridge. Without one, the most specific entry wins.
    pub fn level(&self, user: &UserId, listed: Option<bool>) -> Level {
        if listed == Some(false) {
            return Level::None;
        }
        let named = self.users.get(user).copied();
        let by_server = self
            .servers
            .get(user.server_name().as_str())
            .or_else(|| self.servers.get("*"))
            .copied();
        let current = listed == Some(true);
        if self.directory {
            return match (named, current) {
                (Some(level), _) => level,
                (None, true) => by_server.map_or(Level::Dispatcher, |l| l.min(Level::Dispatcher)),
                (None, false) => Level::None,
            };
        }
        let configured = named.or(by_server).unwrap_or(Level::None);
        if current {
            configured.max(Level::Dispatcher)
        } else {
            configured
        }
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

/// `bridge.permissions`, by default `dispatcher` for everyone on our own server, and listed
/// `bridge.dispatchers` at least dispatchers; with a `directory`, no default and no
/// `bridge.dispatchers` (the directory says who is one).
pub(super) fn check(
    c: &mut Checker,
    raw: &RawBridge,
    domain: Option<&ServerName>,
    dispatchers: Option<&[OwnedUserId]>,
    directory: bool,
) -> Option<Permissions> {
    let mut permissions = Permissions {
        directory,
        ..Permissions::default()
    };
    let entries = match &raw.permissions {
        Some(entries) => entries.clone(),
        None if directory => Default::default(),
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
    if !directory {
        for d in dispatchers.unwrap_or_default() {
            let level = permissions.level(d, None).max(Level::Dispatcher);
            permissions.users.insert(d.clone(), level);
        }
    }
    ok.then_some(permissions)
}
