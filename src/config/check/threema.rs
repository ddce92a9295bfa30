//! `threema:`: the Gateway's URL, ID, secret and private key, the callback listener and the
//! limits on both. The private key is checked without ever quoting it.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::Checker;
use crate::config::{RawThreema, ThreemaConfig};

pub(super) fn check(c: &mut Checker, raw: &RawThreema) -> Option<ThreemaConfig> {
    let api_url = c.http_url(
        "threema.api_url",
        &Some(
            raw.api_url
                .clone()
                .unwrap_or_else(|| "https://msgapi.threema.ch".into()),
        ),
    );
    let gateway_id = gateway_id(c, &raw.gateway_id);
    let secret = c.secret("threema.secret", &raw.secret, &raw.secret_file);
    let private_key = c
        .secret(
            "threema.private_key",
            &raw.private_key,
            &raw.private_key_file,
        )
        .and_then(|key| match check_private_key(key.expose_secret()) {
            Ok(()) => Some(key),
            // The reason never quotes the value: it is a secret.
            Err(reason) => c.fail("threema.private_key", reason),
        });
    let callback_listen = c.socket_addr(
        "threema.callback_listen",
        &raw.callback_listen,
        "0.0.0.0:29319",
    );
    let trusted_proxies = trusted_proxies(c, &raw.trusted_proxies);
    Some(ThreemaConfig {
        api_url: api_url?,
        gateway_id: gateway_id?,
        secret: secret?,
        private_key: private_key?,
        callback_listen: callback_listen?,
        credits_warning: raw.credits_warning.unwrap_or(100),
        timeout: Duration::from_secs(raw.timeout_seconds.unwrap_or(30).max(1)),
        callback_body_timeout: Duration::from_secs(
            raw.callback_body_timeout_seconds.unwrap_or(10).max(1),
        ),
        callback_refusals_per_minute: raw.callback_refusals_per_minute.unwrap_or(60),
        callback_block: Duration::from_secs(raw.callback_block_seconds.unwrap_or(300)),
        trusted_proxies: trusted_proxies?,
        download_attempts: raw.download_attempts.unwrap_or(10).max(1),
        file_memory_mib: raw.file_memory_mb.unwrap_or(256).max(16),
    })
}

/// `threema.trusted_proxies`: IP addresses, each one a problem of its own if it is not one.
fn trusted_proxies(c: &mut Checker, raw: &[String]) -> Option<Vec<std::net::IpAddr>> {
    let parsed: Vec<Option<std::net::IpAddr>> = raw
        .iter()
        .enumerate()
        .map(|(i, value)| match value.trim().parse() {
            Ok(ip) => Some(ip),
            Err(_) => c.fail(
                &format!("threema.trusted_proxies[{i}]"),
                format!("{value:?} is not an IP address"),
            ),
        })
        .collect();
    parsed.into_iter().collect()
}

fn gateway_id(c: &mut Checker, value: &Option<String>) -> Option<String> {
    match c.required("threema.gateway_id", value) {
        Some(id) if is_gateway_id(&id) => Some(id),
        Some(id) => c.fail(
            "threema.gateway_id",
            format!("{id:?} is not a Gateway ID (\"*\" and 7 capitals or digits)"),
        ),
        None => None,
    }
}

fn is_gateway_id(id: &str) -> bool {
    id.len() == 8
        && id.starts_with('*')
        && id[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A Curve25519 private key as 64 hex digits (the Gateway's `private:` prefix is accepted).
fn check_private_key(key: &str) -> Result<(), String> {
    let hex_part = key.strip_prefix("private:").unwrap_or(key);
    match hex::decode(hex_part) {
        Ok(bytes) if bytes.len() == 32 => Ok(()),
        Ok(bytes) => Err(format!(
            "must be 32 bytes (64 hex digits), got {} bytes",
            bytes.len()
        )),
        Err(_) => Err("is not hexadecimal (expected 64 hex digits)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_ids() {
        assert!(is_gateway_id("*DISPTCH"));
        assert!(is_gateway_id("*ABC1234"));
        assert!(!is_gateway_id("DISPTCH1"));
        assert!(!is_gateway_id("*disptch"));
        assert!(!is_gateway_id("*DISPTC"));
    }

    #[test]
    fn private_keys() {
        assert!(check_private_key(&"ab".repeat(32)).is_ok());
        assert!(check_private_key(&format!("private:{}", "ab".repeat(32))).is_ok());
        assert!(
            check_private_key(&"ab".repeat(31))
                .unwrap_err()
                .contains("31 bytes")
        );
        assert!(
            check_private_key(&"zz".repeat(32))
                .unwrap_err()
                .contains("hexadecimal")
        );
    }
}
