//! The appservice registration (`registration.yaml`): generated from the config, read back at
//! start. ruma's `Registration` does the (de)serialisation; ours keeps the tokens in secrets so
//! that no `Debug` of it leaks them.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use rand::{Rng, distr::Alphanumeric};
use ruma::{
    ServerName,
    api::appservice::{Namespace, Namespaces, Registration as RumaRegistration, RegistrationInit},
};
use secrecy::{ExposeSecret, SecretString};

use crate::ids::{BOT_LOCALPART, GHOST_PREFIX};

/// The registration's `id` unless `appservice.id` says otherwise.
pub const DEFAULT_ID: &str = "threema";

#[derive(Clone)]
pub struct Registration {
    pub id: String,
    pub url: Option<String>,
    pub as_token: SecretString,
    pub hs_token: SecretString,
    pub sender_localpart: String,
    pub namespaces: Namespaces,
    pub receive_ephemeral: bool,
    /// The appservice extensions end-to-bridge encryption needs: to-device events, device
    /// lists and one-time key counts in transactions (MSC2409, MSC3202), devices created by the
    /// appservice (MSC4190).
    pub encryption: bool,
}

/// The registration flags of [`Registration::encryption`]: the extensions the devices need, and
/// the older name of `receive_ephemeral` (to-device events travel with ephemeral ones).
const DEVICE_FLAGS: [&str; 2] = ["org.matrix.msc3202", "io.element.msc4190"];
const ENCRYPTION_FLAGS: [&str; 3] = [
    DEVICE_FLAGS[0],
    DEVICE_FLAGS[1],
    "de.sorunome.msc2409.push_ephemeral",
];

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("as_token", &"[REDACTED]")
            .field("hs_token", &"[REDACTED]")
            .field("sender_localpart", &self.sender_localpart)
            .field("namespaces", &self.namespaces)
            .field("receive_ephemeral", &self.receive_ephemeral)
            .field("encryption", &self.encryption)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid registration: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Registration {
    /// A fresh registration with new random tokens for the bridge at `url` on `domain`.
    pub fn generate(id: &str, url: &str, domain: &ServerName) -> Self {
        let domain_re = regex::escape(domain.as_str());
        let exclusive = |regex: String| Namespace::new(true, regex);
        let mut namespaces = Namespaces::new();
        namespaces.users = vec![
            exclusive(format!("@{BOT_LOCALPART}:{domain_re}")),
            exclusive(format!("@{GHOST_PREFIX}.*:{domain_re}")),
        ];
        namespaces.aliases = vec![exclusive(format!("#{GHOST_PREFIX}.*:{domain_re}"))];
        Registration {
            id: id.to_owned(),
            url: Some(url.to_owned()),
            as_token: random_token(),
            hs_token: random_token(),
            sender_localpart: BOT_LOCALPART.to_owned(),
            namespaces,
            receive_ephemeral: true,
            encryption: false,
        }
    }

    /// With the flags end-to-bridge encryption needs (`bridge.encryption` not `off`).
    pub fn with_encryption(mut self, encryption: bool) -> Self {
        self.encryption = encryption;
        self
    }

    pub fn load(path: &Path) -> Result<Self, RegistrationError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistrationError::Read {
            path: path.to_owned(),
            source,
        })?;
        // serde_yaml's message names the field and position, never a value.
        let parse_error = |e: serde_yaml::Error| RegistrationError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let parsed: RumaRegistration = serde_yaml::from_str(&text).map_err(parse_error)?;
        let flags: serde_yaml::Value = serde_yaml::from_str(&text).map_err(parse_error)?;
        let encryption = DEVICE_FLAGS
            .iter()
            .all(|flag| flags.get(flag).and_then(serde_yaml::Value::as_bool) == Some(true));
        Ok(Registration {
            id: parsed.id,
            url: parsed.url,
            as_token: parsed.as_token.into(),
            hs_token: parsed.hs_token.into(),
            sender_localpart: parsed.sender_localpart,
            namespaces: parsed.namespaces,
            receive_ephemeral: parsed.receive_ephemeral,
            encryption,
        })
    }

    /// Writes the registration readable only by its owner: it holds both tokens.
    pub fn write(&self, path: &Path) -> Result<(), RegistrationError> {
        let write_err = |source| RegistrationError::Write {
            path: path.to_owned(),
            source,
        };
        let yaml = self.to_yaml();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(write_err)?;
        std::io::Write::write_all(&mut file, yaml.as_bytes()).map_err(write_err)
    }

    pub fn to_yaml(&self) -> String {
        let mut reg: RumaRegistration = RegistrationInit {
            id: self.id.clone(),
            url: self.url.clone(),
            as_token: self.as_token.expose_secret().to_owned(),
            hs_token: self.hs_token.expose_secret().to_owned(),
            sender_localpart: self.sender_localpart.clone(),
            namespaces: self.namespaces.clone(),
            // The bot and the ghosts send on behalf of many people: never throttle them.
            rate_limited: Some(false),
            protocols: None,
        }
        .into();
        reg.receive_ephemeral = self.receive_ephemeral;
        let mut body = serde_yaml::to_string(&reg).expect("a registration serialises to YAML");
        if self.encryption {
            body.push_str("# End-to-bridge encryption (bridge.encryption): the appservice extensions it needs.\n");
            for flag in ENCRYPTION_FLAGS {
                body.push_str(&format!("{flag}: true\n"));
            }
        }
        format!(
            "# Appservice registration for threema-bridge. Give this file to the homeserver\n\
             # (Synapse: app_service_config_files) and restart it. It holds secrets: keep it private.\n{body}"
        )
    }

    /// What in this registration does not fit the bridge's config (empty when all is well).
    pub fn check_against(&self, id: &str, domain: &ServerName, encryption: bool) -> Vec<String> {
        let mut problems = Vec::new();
        if encryption && !(self.encryption && self.receive_ephemeral) {
            problems.push(
                "bridge.encryption needs org.matrix.msc3202, io.element.msc4190 and \
                 receive_ephemeral set to true (generate-registration writes them when \
                 encryption is on)"
                    .into(),
            );
        }
        if self.id != id {
            problems.push(format!("id is {:?}, the config expects {id:?}", self.id));
        }
        if self.sender_localpart != BOT_LOCALPART {
            problems.push(format!("sender_localpart must be {BOT_LOCALPART:?}"));
        }
        if self.url.is_none() {
            problems.push("url is null: the homeserver would never send us events".into());
        }
        for (name, token) in [("as_token", &self.as_token), ("hs_token", &self.hs_token)] {
            if token.expose_secret().len() < 16 {
                problems.push(format!("{name} is shorter than 16 characters"));
            }
        }
        let ghost = format!("@{GHOST_PREFIX}abcd1234:{domain}");
        // Homeservers match namespaces against the whole user ID.
        let covers_ghosts = self.namespaces.users.iter().any(|ns| {
            ns.exclusive
                && regex::Regex::new(&format!("^(?:{})$", ns.regex))
                    .is_ok_and(|re| re.is_match(&ghost))
        });
        if !covers_ghosts {
            problems.push(format!(
                "no exclusive user namespace matches ghosts like {ghost}"
            ));
        }
        problems
    }
}

fn random_token() -> SecretString {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(64)
        .map(char::from)
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> &'static ServerName {
        <&ServerName>::try_from("dispatch.test").unwrap()
    }

    #[test]
    fn generated_registration_round_trips_and_fits() {
        let reg = Registration::generate("threema", "http://127.0.0.1:29318", domain());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registration.yaml");
        reg.write(&path).unwrap();
        let back = Registration::load(&path).unwrap();
        assert_eq!(back.as_token.expose_secret(), reg.as_token.expose_secret());
        assert_eq!(back.hs_token.expose_secret(), reg.hs_token.expose_secret());
        assert!(back.receive_ephemeral);
        assert_eq!(
            back.check_against("threema", domain(), false),
            Vec::<String>::new()
        );
        let yaml = std::fs::read_to_string(&path).unwrap();
        assert!(yaml.contains("rate_limited: false"), "{yaml}");
        assert!(yaml.contains(r"@threema_.*:dispatch\.test"), "{yaml}");
    }

    #[test]
    fn encryption_writes_the_appservice_extensions_and_a_registration_without_them_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registration.yaml");
        let plain = Registration::generate("threema", "http://127.0.0.1:29318", domain());
        plain.write(&path).unwrap();
        let back = Registration::load(&path).unwrap();
        assert!(!back.encryption);
        let problems = back.check_against("threema", domain(), true);
        assert!(problems[0].contains("org.matrix.msc3202"), "{problems:?}");

        plain.with_encryption(true).write(&path).unwrap();
        let yaml = std::fs::read_to_string(&path).unwrap();
        for flag in ENCRYPTION_FLAGS {
            assert!(yaml.contains(&format!("{flag}: true")), "{yaml}");
        }
        let back = Registration::load(&path).unwrap();
        assert!(back.encryption);
        assert_eq!(
            back.check_against("threema", domain(), true),
            Vec::<String>::new()
        );
    }

    #[test]
    fn debug_redacts_tokens() {
        let reg = Registration::generate("threema", "http://x", domain());
        let shown = format!("{reg:?}");
        assert!(!shown.contains(reg.as_token.expose_secret()));
        assert!(!shown.contains(reg.hs_token.expose_secret()));
    }

    #[test]
    fn mismatches_are_named() {
        let mut reg = Registration::generate("other", "http://x", domain());
        reg.namespaces.users.clear();
        let problems = reg.check_against("threema", domain(), false);
        assert!(problems.iter().any(|p| p.contains("id is")), "{problems:?}");
        assert!(
            problems.iter().any(|p| p.contains("namespace")),
            "{problems:?}"
        );
    }
}
