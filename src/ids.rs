//! Our names on the homeserver, fixed by the operator contract: the bot, the ghosts and the
//! aliases of the rooms the bridge runs. The one place that maps Threema IDs to ghost user IDs
//! and back, and that tells our own users from everybody else.
//!
//! A leaf: config, registration, directory and bridge all depend on it; it depends on no module
//! of the bridge.

use ruma::{OwnedRoomAliasId, OwnedUserId, RoomAliasId, ServerName, UserId};

use threema_protocol::ThreemaId;

/// Localpart of the bridge bot.
pub const BOT_LOCALPART: &str = "threemabot";
/// Prefix of ghost localparts (`@threema_<threema id in lowercase>:<domain>`) and of the
/// aliases of the bridge's rooms; the registration claims both namespaces exclusively.
pub const GHOST_PREFIX: &str = "threema_";

/// `@threemabot:<domain>`.
pub fn bot_user_id(domain: &ServerName) -> OwnedUserId {
    UserId::parse(format!("@{BOT_LOCALPART}:{domain}"))
        .expect("bot localpart and server name are valid")
}

/// `@threema_<id in lowercase>:<domain>`. Only drivers get ghosts, never Gateway (`*`) IDs.
pub fn ghost_user_id(id: &ThreemaId, domain: &ServerName) -> OwnedUserId {
    UserId::parse(format!(
        "@{GHOST_PREFIX}{}:{domain}",
        id.as_str().to_ascii_lowercase()
    ))
    .expect("a Threema ID makes a valid localpart")
}

/// The Threema ID behind a ghost user ID on our domain, if it is one.
pub fn parse_ghost_user_id(user_id: &UserId, domain: &ServerName) -> Option<ThreemaId> {
    if user_id.server_name() != domain {
        return None;
    }
    ThreemaId::parse(user_id.localpart().strip_prefix(GHOST_PREFIX)?)
        .filter(|id| !id.is_gateway_id())
}

/// Events from the bot or a ghost are our own echoes and must never be bridged back.
pub fn is_own_user(user_id: &UserId, domain: &ServerName) -> bool {
    user_id.server_name() == domain
        && (user_id.localpart() == BOT_LOCALPART || user_id.localpart().starts_with(GHOST_PREFIX))
}

/// A driver's portal: `#threema_<id in lowercase>:<domain>`.
pub fn portal_alias(driver: &ThreemaId, domain: &ServerName) -> OwnedRoomAliasId {
    room_alias(&driver.as_str().to_ascii_lowercase(), domain)
}

/// Another room the bridge runs (`quarantine`, `broadcast_<hash>`, `space_<slug>_<hash>`),
/// under the same prefix. `name` must be letters, digits and `_`.
pub fn room_alias(name: &str, domain: &ServerName) -> OwnedRoomAliasId {
    RoomAliasId::parse(format!("#{GHOST_PREFIX}{name}:{domain}"))
        .expect("letters, digits and _ make a valid alias")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> &'static ServerName {
        <&ServerName>::try_from("dispatch.test").unwrap()
    }

    #[test]
    fn ghost_ids_round_trip() {
        let id = ThreemaId::parse("ecHo1234").unwrap();
        assert_eq!(id.as_str(), "ECHO1234");
        let user = ghost_user_id(&id, domain());
        assert_eq!(user.as_str(), "@threema_echo1234:dispatch.test");
        assert_eq!(parse_ghost_user_id(&user, domain()), Some(id));
    }

    #[test]
    fn foreign_and_malformed_ids_are_not_ghosts() {
        let parse = |s: &str| parse_ghost_user_id(<&UserId>::try_from(s).unwrap(), domain());
        assert_eq!(parse("@threema_echo1234:other.test"), None);
        assert_eq!(parse("@threema_echo12:dispatch.test"), None);
        assert_eq!(parse("@alice:dispatch.test"), None);
    }

    #[test]
    fn own_users() {
        let own = |s: &str| is_own_user(<&UserId>::try_from(s).unwrap(), domain());
        assert!(own("@threemabot:dispatch.test"));
        assert!(own("@threema_echo1234:dispatch.test"));
        assert!(!own("@alice:dispatch.test"));
        assert!(!own("@threemabot:other.test"));
    }

    #[test]
    fn aliases() {
        let id = ThreemaId::parse("ECHO1234").unwrap();
        assert_eq!(
            portal_alias(&id, domain()).as_str(),
            "#threema_echo1234:dispatch.test"
        );
        assert_eq!(
            room_alias("quarantine", domain()).as_str(),
            "#threema_quarantine:dispatch.test"
        );
        assert_eq!(bot_user_id(domain()).as_str(), "@threemabot:dispatch.test");
    }
}
