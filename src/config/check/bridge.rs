//! `bridge:`: dispatchers, what happens to unknown senders, read tracking, relay templates
//! and known drivers. `bridge.permissions` is checked in [`crate::config::permissions`].

use crate::zone::Zone;
use std::time::Duration;

use ruma::{OwnedUserId, UserId};

use super::Checker;
use secrecy::ExposeSecret;

use crate::config::{
    BridgeConfig, Encryption, EncryptionKey, KnownDriver, Permissions, RawBridge, ReadReceipts,
    UnknownSenders,
};

/// `bridge.dispatchers`, needed apart from the rest: permissions and the directory build on it.
pub(super) fn dispatchers(c: &mut Checker, raw: &RawBridge) -> Option<Vec<OwnedUserId>> {
    raw.dispatchers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|d| match UserId::parse(&d) {
            Ok(id) => Some(id),
            Err(e) => c.fail(
                "bridge.dispatchers",
                format!("{d:?} is not a Matrix user ID: {e}"),
            ),
        })
        .collect()
}

/// `bridge.unknown_senders`, matched by hand so a bad word is a problem named by its key
/// among the others, not a parse error that stops the check.
pub(super) fn unknown_senders(c: &mut Checker, raw: &RawBridge) -> Option<UnknownSenders> {
    match raw.unknown_senders.as_deref() {
        None | Some("quarantine") => Some(UnknownSenders::Quarantine),
        Some("reject") => Some(UnknownSenders::Reject),
        Some("open") => Some(UnknownSenders::Open),
        Some(other) => c.fail(
            "bridge.unknown_senders",
            format!("{other:?} is none of \"quarantine\", \"reject\", \"open\""),
        ),
    }
}

/// The rest of `bridge:`, with the parts checked before (and in between, by other sections).
pub(super) fn check(
    c: &mut Checker,
    raw: &RawBridge,
    dispatchers: Option<Vec<OwnedUserId>>,
    permissions: Option<Permissions>,
    unknown_senders: Option<UnknownSenders>,
) -> Option<BridgeConfig> {
    let read_receipts = read_receipts(c, &raw.read_receipts);
    // Off unless asked for: it speaks to drivers in the company's name and costs credits.
    let reactions_to_drivers = match raw.reactions_to_drivers.as_deref() {
        Some("on") => Some(true),
        None | Some("off") => Some(false),
        Some(other) => c.fail(
            "bridge.reactions_to_drivers",
            format!("{other:?} is neither \"on\" nor \"off\""),
        ),
    };
    let location_request = match raw.location_request.as_deref().map(str::trim) {
        None => Some(None),
        Some("") => c.fail("bridge.location_request", "the text is empty"),
        Some(text) => Some(Some(text.to_owned())),
    };
    let encryption = encryption(c, raw);
    let relay_template = template(
        c,
        "bridge.relay_template",
        &raw.relay_template,
        "{displayname}: {body}",
    );
    let emote_template = template(
        c,
        "bridge.emote_template",
        &raw.emote_template,
        "* {displayname} {body}",
    );
    let drivers = drivers(c, raw);
    let timezone = match raw.timezone.as_deref() {
        None => Some(Zone::default()),
        Some(name) => Zone::named(name.trim()).or_else(|| {
            c.fail(
                "bridge.timezone",
                format!("{name:?} is not a time zone name (IANA, e.g. \"Europe/Berlin\")"),
            )
        }),
    };
    let language = match raw.language.as_deref().map(str::trim) {
        None => Some(crate::texts::Language::default()),
        Some(code) => crate::texts::Language::parse(code).or_else(|| {
            c.fail(
                "bridge.language",
                format!("{code:?} is not a language of the bridge (de, en)"),
            )
        }),
    };
    Some(BridgeConfig {
        encryption: encryption?,
        timezone: timezone?,
        language: language?,
        inbox_workers: raw.inbox_workers.unwrap_or(16),
        dispatchers: dispatchers?,
        permissions: permissions?,
        relay_template: relay_template?,
        emote_template: emote_template?,
        unknown_senders: unknown_senders?,
        drivers: drivers?,
        read_receipts: read_receipts?,
        reactions_to_drivers: reactions_to_drivers?,
        location_request: location_request?,
        send_give_up: Duration::from_secs(raw.send_give_up_seconds.unwrap_or(900)),
        received_marker: raw.received_marker.clone().unwrap_or_else(|| "✓".into()),
        read_marker: raw.read_marker.clone().unwrap_or_else(|| "✓✓".into()),
    })
}

/// `bridge.read_receipts`, matched by hand so a bad word is a problem named by its key among
/// the others, not a parse error that stops the check.
fn read_receipts(c: &mut Checker, value: &Option<String>) -> Option<ReadReceipts> {
    match value.as_deref() {
        None | Some("on") => Some(ReadReceipts::On),
        Some("off") => Some(ReadReceipts::Off),
        Some("aggregate") => Some(ReadReceipts::Aggregate),
        Some("track_only") => Some(ReadReceipts::TrackOnly),
        Some(other) => c.fail(
            "bridge.read_receipts",
            format!("{other:?} is none of \"on\", \"off\", \"aggregate\", \"track_only\""),
        ),
    }
}

/// `bridge.encryption` and, unless it is `off`, `bridge.encryption_key` (or `_file`): 64 hex
/// characters, never quoted back.
fn encryption(c: &mut Checker, raw: &RawBridge) -> Option<Encryption> {
    let mode = match raw.encryption.as_deref() {
        None | Some("off") => {
            if raw.encryption_key.is_some() || raw.encryption_key_file.is_some() {
                c.warn("bridge.encryption_key is set but bridge.encryption is off: nothing is encrypted");
            }
            return Some(Encryption::Off);
        }
        Some(mode @ ("allow" | "default" | "require")) => mode,
        Some(other) => {
            return c.fail(
                "bridge.encryption",
                format!("{other:?} is none of \"off\", \"allow\", \"default\", \"require\""),
            );
        }
    };
    let key = c.secret(
        "bridge.encryption_key",
        &raw.encryption_key,
        &raw.encryption_key_file,
    )?;
    let key = match hex::decode(key.expose_secret())
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
    {
        Some(key) => EncryptionKey(key),
        // The reason never quotes the value: it is a secret.
        None => {
            return c.fail(
                "bridge.encryption_key",
                "is not 64 hex characters (32 bytes; `openssl rand -hex 32` makes one)",
            );
        }
    };
    Some(match mode {
        "allow" => Encryption::Allow(key),
        "default" => Encryption::Default(key),
        _ => Encryption::Require(key),
    })
}

/// A relay template: must show the message (`{body}`).
fn template(c: &mut Checker, key: &str, value: &Option<String>, default: &str) -> Option<String> {
    let template = value.clone().unwrap_or_else(|| default.to_owned());
    if template.contains("{body}") {
        Some(template)
    } else {
        c.fail(key, "must contain {body}")
    }
}

/// `bridge.drivers`: Threema IDs known to be drivers, with their names.
fn drivers(c: &mut Checker, raw: &RawBridge) -> Option<Vec<KnownDriver>> {
    raw.drivers
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|d| match threema_protocol::ThreemaId::parse(&d.id) {
            Some(id) => Some(KnownDriver { id, name: d.name }),
            None => c.fail("bridge.drivers", format!("{:?} is not a Threema ID", d.id)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn encryption_takes_its_modes_and_a_key_and_never_quotes_the_key() {
        let check = |mode: Option<&str>, key: Option<&str>| {
            let mut c = Checker {
                base_dir: PathBuf::new(),
                problems: Vec::new(),
                warnings: Vec::new(),
            };
            let raw = RawBridge {
                encryption: mode.map(str::to_owned),
                encryption_key: key.map(|k| secrecy::SecretString::from(k.to_owned())),
                ..RawBridge::default()
            };
            let taken = encryption(&mut c, &raw);
            let reasons: Vec<String> = c.problems.into_iter().map(|p| p.reason).collect();
            (taken, reasons, c.warnings)
        };
        let hex_key = "ab".repeat(32);
        assert_eq!(check(None, None).0, Some(Encryption::Off));
        assert_eq!(check(Some("off"), None).0, Some(Encryption::Off));
        let (taken, _, warnings) = check(Some("off"), Some(&hex_key));
        assert_eq!(taken, Some(Encryption::Off));
        assert!(
            warnings[0].contains("bridge.encryption is off"),
            "{warnings:?}"
        );
        assert_eq!(
            check(Some("allow"), Some(&hex_key)).0,
            Some(Encryption::Allow(EncryptionKey([0xab; 32])))
        );
        assert_eq!(
            check(Some("default"), Some(&hex_key)).0,
            Some(Encryption::Default(EncryptionKey([0xab; 32])))
        );
        let (taken, reasons, _) = check(Some("allow"), None);
        assert_eq!(taken, None);
        assert!(reasons[0].contains("is required"), "{reasons:?}");
        let secret = "not-a-key-but-a-secret";
        let (taken, reasons, _) = check(Some("default"), Some(secret));
        assert_eq!(taken, None);
        assert!(reasons[0].contains("64 hex characters"), "{reasons:?}");
        assert!(!reasons[0].contains(secret));
        assert_eq!(
            check(Some("require"), Some(&hex_key)).0,
            Some(Encryption::Require(EncryptionKey([0xab; 32])))
        );
        let (taken, reasons, _) = check(Some("on"), None);
        assert_eq!(taken, None);
        assert!(reasons[0].contains("none of"), "{reasons:?}");
        assert!(!format!("{:?}", EncryptionKey([0xab; 32])).contains("ab"));
    }
}
