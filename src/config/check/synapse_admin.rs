//! `synapse_admin:`: one admin token for every feature that needs admin rights on the
//! homeserver. `directory.synapse_admin_token(_file)`, its older name, still works with a
//! warning.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::Checker;
use crate::config::{RawConfig, SynapseAdmin};

/// The admin token, if any: from `synapse_admin`, else from the deprecated directory keys;
/// `as_token` serves when `synapse_admin.bot_is_admin` says the bot is a server admin.
pub(super) fn check(
    c: &mut Checker,
    raw: &RawConfig,
    as_token: Option<&SecretString>,
) -> Option<Option<SynapseAdmin>> {
    let section = &raw.synapse_admin;
    let has_token = section.token.is_some() || section.token_file.is_some();
    let bot = section.bot_is_admin.unwrap_or(false);
    let old = &raw.directory;
    let has_old = old.synapse_admin_token.is_some() || old.synapse_admin_token_file.is_some();
    if has_token && bot {
        return c.fail(
            "synapse_admin.bot_is_admin",
            "set either a token (token or token_file) or bot_is_admin, not both",
        );
    }
    if has_old && (has_token || bot) {
        return c.fail(
            "directory.synapse_admin_token",
            "replaced by synapse_admin (which is set): remove it",
        );
    }
    if bot {
        // Without a registration the appservice check has said why already.
        return as_token.map(|token| {
            Some(SynapseAdmin {
                token: token.clone(),
            })
        });
    }
    let (key, value, file) = if has_token {
        ("synapse_admin.token", &section.token, &section.token_file)
    } else if has_old {
        c.warn(
            "directory.synapse_admin_token is deprecated: use synapse_admin.token (or \
             synapse_admin.token_file)",
        );
        (
            "directory.synapse_admin_token",
            &old.synapse_admin_token,
            &old.synapse_admin_token_file,
        )
    } else {
        return Some(None);
    };
    if let Some(path) = file {
        let path = c.path(path);
        private_file(c, &format!("{key}_file"), &path)?;
    }
    let token = c.secret(key, value, file)?;
    Some(Some(SynapseAdmin { token }))
}

/// An admin token gives power over every account and room: its file must not be readable by
/// anyone but its owner (Art. 32 GDPR).
pub(super) fn private_file(c: &mut Checker, key: &str, path: &Path) -> Option<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o777,
        // `secret` names the unreadable file.
        Err(_) => return Some(()),
    };
    if mode & 0o077 != 0 {
        return c.fail(
            key,
            format!(
                "{} may be read by other users (mode {mode:o}): chmod 600 it",
                PathBuf::from(path).display()
            ),
        );
    }
    Some(())
}
