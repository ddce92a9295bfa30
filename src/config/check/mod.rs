//! Validation: [`Config::from_raw`] turns a [`RawConfig`] into a [`Config`], one function per
//! section. A [`Checker`] collects every problem by its key instead of stopping at the first,
//! so `check-config` lists all that is wrong at once; a check that fails returns `None` after
//! recording why, and the config is only assembled when nothing was recorded.

use std::{
    net::SocketAddr,
    num::NonZeroUsize,
    path::{Path, PathBuf},
};

use ruma::{OwnedServerName, ServerName};
use secrecy::SecretString;
use url::Url;

use super::{
    AppserviceConfig, AuditConfig, Config, ConfigError, ConfigProblem, DatabaseConfig, GdprConfig,
    HaConfig, HomeserverConfig, LoggingConfig, MetricsConfig, PrivacyConfig, RawAppservice,
    RawAudit, RawConfig, RawDatabase, RawGdpr, RawHa, RawLogging, RawPrivacy, RawRetention,
    ReceiptDetail, RetentionConfig, directory, permissions,
};
use crate::{cpus::Cpus, registration::Registration};
use figment::value::Value;

mod api;
mod bridge;
mod broadcast;
mod inbox;
mod synapse_admin;
mod threema;

/// Collects problems while validating; each check returns `None` on failure.
pub(in crate::config) struct Checker {
    base_dir: PathBuf,
    problems: Vec<ConfigProblem>,
    warnings: Vec<String>,
}

impl Checker {
    /// Accepted, but the operator should change it.
    pub(in crate::config) fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    pub(in crate::config) fn fail<T>(&mut self, key: &str, reason: impl Into<String>) -> Option<T> {
        self.problems.push(ConfigProblem {
            key: key.into(),
            reason: reason.into(),
        });
        None
    }

    pub(in crate::config) fn required<T: Clone>(
        &mut self,
        key: &str,
        value: &Option<T>,
    ) -> Option<T> {
        match value {
            Some(v) => Some(v.clone()),
            None => self.fail(key, "is required"),
        }
    }

    pub(in crate::config) fn http_url(&mut self, key: &str, value: &Option<String>) -> Option<Url> {
        let raw = self.required(key, value)?;
        match Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            Ok(_) => self.fail(key, format!("{raw:?} is not an http(s) URL")),
            Err(e) => self.fail(key, format!("{raw:?} is not a URL: {e}")),
        }
    }

    pub(in crate::config) fn socket_addr(
        &mut self,
        key: &str,
        value: &Option<String>,
        default: &str,
    ) -> Option<SocketAddr> {
        let raw = value.clone().unwrap_or_else(|| default.to_owned());
        match raw.parse() {
            Ok(addr) => Some(addr),
            Err(_) => self.fail(
                key,
                format!("{raw:?} is not an address like 127.0.0.1:29318"),
            ),
        }
    }

    /// Resolves a path relative to the config file's directory.
    pub(in crate::config) fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    /// A secret given inline (`key`) or in a file (`key_file`), exactly one of them.
    pub(in crate::config) fn secret(
        &mut self,
        key: &str,
        value: &Option<SecretString>,
        file: &Option<PathBuf>,
    ) -> Option<SecretString> {
        match (value, file) {
            (Some(_), Some(_)) => {
                self.fail(key, format!("set either {key} or {key}_file, not both"))
            }
            (Some(v), None) => Some(v.clone()),
            (None, Some(path)) => match std::fs::read_to_string(self.path(path)) {
                Ok(s) => Some(SecretString::from(s.trim().to_owned())),
                Err(e) => self.fail(
                    &format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                ),
            },
            (None, None) => self.fail(key, format!("is required (or {key}_file)")),
        }
    }
}

impl Config {
    /// Validates `raw`; relative paths are resolved against `base_dir` (the config's folder).
    pub fn from_raw(raw: RawConfig, base_dir: &Path) -> Result<Self, ConfigError> {
        let mut c = Checker {
            base_dir: base_dir.to_owned(),
            problems: Vec::new(),
            warnings: Vec::new(),
        };
        // Problems are listed in the order of these checks. Some sections need another's
        // result: the domain (registration, permissions, directory) and the dispatchers.
        let hs_url = c.http_url("homeserver.url", &raw.homeserver.url);
        let domain = server_name(&mut c, &raw.homeserver.domain);
        // Whether the registration must carry the encryption extensions (the mode itself is
        // checked with `bridge:`).
        let encryption = raw.bridge.encryption_on();
        let appservice = appservice(&mut c, &raw.appservice, domain.as_deref(), encryption);
        let threema = threema::check(&mut c, &raw.threema);
        let database = database(&mut c, &raw.database, base_dir);
        let dispatchers = bridge::dispatchers(&mut c, &raw.bridge);
        let permissions = permissions::check(
            &mut c,
            &raw.bridge,
            domain.as_deref(),
            dispatchers.as_deref(),
            raw.directory.enabled(),
        );
        let unknown_senders = bridge::unknown_senders(&mut c, &raw.bridge);
        let broadcast = broadcast::check(&mut c, &raw.broadcast);
        let bridge = bridge::check(
            &mut c,
            &raw.bridge,
            dispatchers.clone(),
            permissions,
            unknown_senders,
        );
        let as_token = appservice.as_ref().map(|a| &a.registration.as_token);
        let synapse_admin = synapse_admin::check(&mut c, &raw, as_token);
        let has_admin = matches!(synapse_admin, Some(Some(_)));
        let directory = directory::check(&mut c, &raw.directory, domain.as_deref(), has_admin);
        let retention = retention(&mut c, &raw.retention, has_admin);
        let gdpr = gdpr(&mut c, &raw.gdpr, has_admin);
        let audit = audit(&mut c, &raw.audit);
        let privacy = privacy(&mut c, &raw.privacy);
        let logging = logging(&mut c, &raw.logging);
        // Off unless given: the figures are for the internal network only.
        let ha = ha(&mut c, &raw.ha);
        let cpus = cpus(&mut c, raw.runtime.cpus.as_ref());
        let inbox = inbox::check(&mut c, &raw.inbox);
        let mut directory = directory;
        if let (Some(directory), Some(inbox)) = (&mut directory, &inbox) {
            directory.inbox_attributes = inbox::attributes(&mut c, inbox, &directory.attributes);
        }
        let templates = inbox::templates(&mut c, &raw.templates, &mut directory);
        let quick_codes = inbox::quick_codes(&mut c, &raw.quick_codes);
        if let (Some(bridge), Some(inbox)) = (&bridge, &inbox)
            && bridge.reactions_to_drivers
            && inbox.enabled
            && (inbox.handled_reactions.iter())
                .any(|k| crate::bridge::matrix_to_threema::agreement(k).is_some())
        {
            c.warn(
                "a 👍 or 👎 in inbox.handled_reactions also reaches the driver as the company's \
                 agree / decline (bridge.reactions_to_drivers): mark handled with ✅ where that \
                 is not meant",
            );
        }
        let metrics_listen = match &raw.metrics.listen {
            None => Some(None),
            some => c.socket_addr("metrics.listen", some, "").map(Some),
        };

        let api = api::check(&mut c, &raw.api);

        if !c.problems.is_empty() {
            return Err(ConfigError::Invalid(c.problems));
        }
        // Every `None` above pushed a problem, so these all hold values now.
        let missing = || ConfigError::Invalid(Vec::new());
        Ok(Config {
            homeserver: HomeserverConfig {
                url: hs_url.ok_or_else(missing)?,
                domain: domain.ok_or_else(missing)?,
            },
            appservice: appservice.ok_or_else(missing)?,
            threema: threema.ok_or_else(missing)?,
            database: database.ok_or_else(missing)?,
            bridge: bridge.ok_or_else(missing)?,
            directory: directory.ok_or_else(missing)?,
            broadcast: broadcast.ok_or_else(missing)?,
            retention: retention.ok_or_else(missing)?,
            gdpr: gdpr.ok_or_else(missing)?,
            synapse_admin: synapse_admin.ok_or_else(missing)?,
            audit: audit.ok_or_else(missing)?,
            privacy: privacy.ok_or_else(missing)?,
            logging: logging.ok_or_else(missing)?,
            metrics: MetricsConfig {
                listen: metrics_listen.ok_or_else(missing)?,
            },
            api: api.ok_or_else(missing)?,
            ha: ha.ok_or_else(missing)?,
            cpus: cpus.ok_or_else(missing)?,
            inbox: inbox.ok_or_else(missing)?,
            templates: templates.ok_or_else(missing)?,
            quick_codes: quick_codes.ok_or_else(missing)?,
            fingerprint: String::new(),
            warnings: c.warnings,
        })
    }
}

/// A lease shorter than a few seconds would be lost to a slow database answer; one over a few
/// minutes leaves the desk without a bridge that long after a crash.
fn ha(c: &mut Checker, raw: &RawHa) -> Option<HaConfig> {
    let seconds = raw.lease_seconds.unwrap_or(15.0);
    if !(3.0..=600.0).contains(&seconds) {
        return c.fail(
            "ha.lease_seconds",
            format!("{seconds} is not a number of seconds from 3 to 600"),
        );
    }
    Some(HaConfig {
        lease: std::time::Duration::from_secs_f64(seconds),
    })
}

/// `runtime.cpus`: a number of cores from 1 (also as a string, as the environment gives it),
/// or `all`.
fn cpus(c: &mut Checker, raw: Option<&Value>) -> Option<Cpus> {
    let Some(value) = raw else {
        return Some(Cpus::default());
    };
    if value.as_str() == Some("all") {
        return Some(Cpus::All);
    }
    let count = (value.to_num_lossy())
        .and_then(|n| n.to_u128_lossy())
        .and_then(|n| usize::try_from(n).ok())
        .and_then(NonZeroUsize::new);
    match count {
        Some(count) => Some(Cpus::Count(count)),
        None => c.fail(
            "runtime.cpus",
            "is neither a number of cores from 1 nor \"all\"",
        ),
    }
}

/// Replays come within minutes (Synapse retries a transaction, the Gateway a callback), so a
/// day is the least that still recognises them; two weeks leave time to look at a failure.
fn retention(c: &mut Checker, raw: &RawRetention, has_admin: bool) -> Option<RetentionConfig> {
    let days = raw.inbox_days.unwrap_or(14.0);
    if !(1.0..=3650.0).contains(&days) {
        return c.fail(
            "retention.inbox_days",
            format!("{days} is not a number of days from 1 to 3650"),
        );
    }
    let period = |c: &mut Checker, key: &str, value: Option<f64>| match value {
        None => Some(None),
        Some(days) if (1.0..=36_500.0).contains(&days) => {
            Some(Some(std::time::Duration::from_secs_f64(days * 86_400.0)))
        }
        Some(days) => c.fail(
            key,
            format!("{days} is not a number of days from 1 to 36500"),
        ),
    };
    let history = period(c, "retention.history_days", raw.history_days)?;
    let media = period(c, "retention.media_days", raw.media_days)?;
    for (key, set) in [
        ("retention.history_days", history.is_some()),
        ("retention.media_days", media.is_some()),
    ] {
        if set && !has_admin {
            return c.fail(
                key,
                "deleting on the homeserver needs admin rights there: set synapse_admin",
            );
        }
    }
    let outbox = period(c, "retention.outbox_days", raw.outbox_days)?;
    let delivery_times = period(c, "retention.delivery_times_days", raw.delivery_times_days)?;
    let audit = period(c, "retention.audit_days", raw.audit_days)?;
    Some(RetentionConfig {
        inbox: std::time::Duration::from_secs_f64(days * 86_400.0),
        history,
        media,
        outbox,
        delivery_times,
        audit,
        room_state: raw.room_state.unwrap_or(false),
    })
}

fn privacy(c: &mut Checker, raw: &RawPrivacy) -> Option<PrivacyConfig> {
    let receipt_detail = match raw.receipt_detail.as_deref() {
        None | Some("dispatchers") => ReceiptDetail::Dispatchers,
        Some("admins") => ReceiptDetail::Admins,
        Some("nobody") => ReceiptDetail::Nobody,
        Some(other) => c.fail(
            "privacy.receipt_detail",
            format!("{other:?} is none of \"admins\", \"dispatchers\", \"nobody\""),
        )?,
    };
    Some(PrivacyConfig {
        receipt_detail,
        minimum_group: raw.minimum_group.unwrap_or(0),
    })
}

/// The key file may not exist yet (`audit keygen` reads this config to know where to write
/// it); `serve` and `audit verify` say so when it is missing. Checkpoints are signed, so a
/// folder without a key would stay empty.
fn audit(c: &mut Checker, raw: &RawAudit) -> Option<AuditConfig> {
    let minutes = raw.checkpoint_minutes.unwrap_or(60.0);
    if !(1.0..=10_080.0).contains(&minutes) {
        return c.fail(
            "audit.checkpoint_minutes",
            format!("{minutes} is not a number of minutes from 1 to 10080"),
        );
    }
    let signing_key_file = raw.signing_key_file.as_deref().map(|p| c.path(p));
    if let Some(path) = &signing_key_file {
        synapse_admin::private_file(c, "audit.signing_key_file", path)?;
    }
    let checkpoint_dir = raw.checkpoint_dir.as_deref().map(|p| c.path(p));
    if checkpoint_dir.is_some() && signing_key_file.is_none() {
        return c.fail(
            "audit.checkpoint_dir",
            "checkpoints are signed: set audit.signing_key_file too",
        );
    }
    if signing_key_file.is_some() && checkpoint_dir.is_none() {
        return c.fail(
            "audit.signing_key_file",
            "set audit.checkpoint_dir too: where the signed checkpoints go (another disk or a backed-up folder)",
        );
    }
    Some(AuditConfig {
        signing_key_file,
        checkpoint_dir,
        checkpoint_every: std::time::Duration::from_secs_f64(minutes * 60.0),
    })
}

/// Erasing goes through the homeserver's admin API, so erasing by itself needs admin rights.
fn gdpr(c: &mut Checker, raw: &RawGdpr, has_admin: bool) -> Option<GdprConfig> {
    let driver_notice = match raw.driver_notice.as_deref().map(str::trim) {
        Some("") => c.fail(
            "gdpr.driver_notice",
            "is empty: remove the key to send no notice",
        )?,
        notice => notice.map(str::to_owned),
    };
    let pseudonymise_colleagues = raw.pseudonymise_colleagues.unwrap_or(true);
    let Some(days) = raw.erase_after_days else {
        return Some(GdprConfig {
            erase_after: None,
            driver_notice,
            pseudonymise_colleagues,
        });
    };
    if !(0.0..=3650.0).contains(&days) {
        return c.fail(
            "gdpr.erase_after_days",
            format!("{days} is not a number of days from 0 to 3650"),
        );
    }
    if !has_admin {
        return c.fail(
            "gdpr.erase_after_days",
            "erasing needs admin rights on the homeserver: set synapse_admin",
        );
    }
    Some(GdprConfig {
        erase_after: Some(std::time::Duration::from_secs_f64(days * 86_400.0)),
        driver_notice,
        pseudonymise_colleagues,
    })
}

fn server_name(c: &mut Checker, value: &Option<String>) -> Option<OwnedServerName> {
    let raw = c.required("homeserver.domain", value)?;
    match ServerName::parse(&raw) {
        Ok(name) => Some(name),
        Err(e) => c.fail(
            "homeserver.domain",
            format!("{raw:?} is not a server name: {e}"),
        ),
    }
}

/// `appservice:`; the registration file is read and checked against our ID and the domain.
fn appservice(
    c: &mut Checker,
    raw: &RawAppservice,
    domain: Option<&ServerName>,
    encryption: bool,
) -> Option<AppserviceConfig> {
    let listen = c.socket_addr("appservice.listen", &raw.listen, "127.0.0.1:29318");
    let url = c.http_url("appservice.url", &raw.url);
    let registration_path = c.required("appservice.registration", &raw.registration);
    let registration = match (&registration_path, domain) {
        (Some(path), Some(domain)) => registration(c, raw, path, domain, encryption),
        _ => None,
    };
    Some(AppserviceConfig {
        registration_path: c.path(&registration_path?),
        registration: registration?,
        listen: listen?,
        url: url?,
        bot_displayname: raw
            .bot_displayname
            .clone()
            .unwrap_or_else(|| "Threema bridge".into()),
        max_body_bytes: raw.max_body_bytes.unwrap_or(32 * 1024 * 1024),
    })
}

/// The registration at `path`; each way it does not match the config is a problem, but the
/// registration is still returned (the problems already fail the config).
fn registration(
    c: &mut Checker,
    raw: &RawAppservice,
    path: &Path,
    domain: &ServerName,
    encryption: bool,
) -> Option<Registration> {
    match Registration::load(&c.path(path)) {
        Ok(reg) => {
            let id = raw.id.as_deref().unwrap_or(crate::registration::DEFAULT_ID);
            for problem in reg.check_against(id, domain, encryption) {
                c.fail::<()>(
                    "appservice.registration",
                    format!("{}: {problem}", path.display()),
                );
            }
            Some(reg)
        }
        Err(e) => c.fail("appservice.registration", e.to_string()),
    }
}

fn database(c: &mut Checker, raw: &RawDatabase, base_dir: &Path) -> Option<DatabaseConfig> {
    let url = raw
        .url
        .clone()
        .unwrap_or_else(|| "sqlite://data/bridge.db".into());
    let url = match crate::store::DbKind::of_url(&url) {
        Some(_) => url,
        None => return c.fail("database.url", "must start with sqlite:// or postgres://"),
    };
    Some(DatabaseConfig {
        url: SecretString::from(resolve_sqlite_path(&url, base_dir)),
        max_connections: raw.max_connections.unwrap_or(10),
    })
}

/// `sqlite://relative/path` is relative to the config file, so the bridge finds the same
/// database whatever its working directory.
fn resolve_sqlite_path(url: &str, base_dir: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(rest) if !rest.starts_with('/') && !rest.starts_with(":memory:") => {
            format!("sqlite://{}", base_dir.join(rest).display())
        }
        _ => url.to_owned(),
    }
}

fn logging(c: &mut Checker, raw: &RawLogging) -> Option<LoggingConfig> {
    Some(LoggingConfig {
        filter: raw.filter.clone().unwrap_or_else(|| "info".into()),
        json: json_format(c, &raw.format)?,
    })
}

/// `logging.format`: whether logs are JSON. Matched by hand so a bad word is a problem named
/// by its key among the others, not a parse error that stops the check.
fn json_format(c: &mut Checker, value: &Option<String>) -> Option<bool> {
    match value.as_deref() {
        None | Some("pretty") => Some(false),
        Some("json") => Some(true),
        Some(other) => c.fail(
            "logging.format",
            format!("{other:?} is neither \"pretty\" nor \"json\""),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_sqlite_paths_follow_the_config_file() {
        let base = Path::new("/etc/bridge");
        assert_eq!(
            resolve_sqlite_path("sqlite://data/b.db", base),
            "sqlite:///etc/bridge/data/b.db"
        );
        assert_eq!(
            resolve_sqlite_path("sqlite:///var/b.db", base),
            "sqlite:///var/b.db"
        );
        assert_eq!(
            resolve_sqlite_path("postgres://u@h/db", base),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn inbox_retention_is_a_number_of_days() {
        let check = |days: Option<f64>| {
            let mut c = Checker {
                base_dir: PathBuf::new(),
                problems: Vec::new(),
                warnings: Vec::new(),
            };
            let raw = RawRetention {
                inbox_days: days,
                ..RawRetention::default()
            };
            let kept = retention(&mut c, &raw, false);
            (kept.map(|r| r.inbox.as_secs()), c.problems)
        };
        assert_eq!(check(None), (Some(14 * 86_400), vec![]));
        assert_eq!(check(Some(1.5)), (Some(129_600), vec![]));
        for days in [0.0, 0.5, -3.0, 4000.0, f64::NAN] {
            let (kept, problems) = check(Some(days));
            assert_eq!(kept, None);
            assert_eq!(problems[0].key, "retention.inbox_days", "{days}");
        }
    }

    #[test]
    fn history_retention_needs_admin_rights_and_periods_are_days() {
        let check = |raw: RawRetention, has_admin: bool| {
            let mut c = Checker {
                base_dir: PathBuf::new(),
                problems: Vec::new(),
                warnings: Vec::new(),
            };
            let kept = retention(&mut c, &raw, has_admin);
            let problems: Vec<String> = c.problems.into_iter().map(|p| p.key).collect();
            (kept.map(|r| (r.history, r.outbox)), problems)
        };
        let day = std::time::Duration::from_secs(86_400);
        let history = |days| RawRetention {
            history_days: Some(days),
            ..RawRetention::default()
        };
        assert_eq!(
            check(history(30.0), true),
            (Some((Some(day * 30), None)), vec![])
        );
        assert_eq!(
            check(history(30.0), false),
            (None, vec!["retention.history_days".to_owned()])
        );
        assert_eq!(
            check(history(0.5), true),
            (None, vec!["retention.history_days".to_owned()])
        );
        let outbox = RawRetention {
            outbox_days: Some(90.0),
            ..RawRetention::default()
        };
        assert_eq!(check(outbox, false), (Some((None, Some(day * 90))), vec![]));
    }

    #[test]
    fn erasing_after_offboarding_is_a_number_of_days_and_needs_admin_rights() {
        let check = |days: Option<f64>, has_admin: bool| {
            let mut c = Checker {
                base_dir: PathBuf::new(),
                problems: Vec::new(),
                warnings: Vec::new(),
            };
            let raw = RawGdpr {
                erase_after_days: days,
                ..RawGdpr::default()
            };
            let gdpr = gdpr(&mut c, &raw, has_admin);
            let problems: Vec<_> = c.problems.into_iter().map(|p| p.key).collect();
            (gdpr.map(|g| g.erase_after.map(|d| d.as_secs())), problems)
        };
        assert_eq!(check(None, false), (Some(None), vec![]));
        assert_eq!(check(Some(0.0), true), (Some(Some(0)), vec![]));
        assert_eq!(check(Some(30.0), true), (Some(Some(30 * 86_400)), vec![]));
        for days in [-1.0, 3651.0, f64::NAN] {
            assert_eq!(
                check(Some(days), true),
                (None, vec!["gdpr.erase_after_days".to_owned()]),
                "{days}"
            );
        }
        assert_eq!(
            check(Some(30.0), false),
            (None, vec!["gdpr.erase_after_days".to_owned()])
        );
    }

    #[test]
    fn a_driver_notice_is_some_text() {
        let check = |text: &str| {
            let mut c = Checker {
                base_dir: PathBuf::new(),
                problems: Vec::new(),
                warnings: Vec::new(),
            };
            let raw = RawGdpr {
                driver_notice: Some(text.into()),
                ..RawGdpr::default()
            };
            let notice = gdpr(&mut c, &raw, false).map(|g| g.driver_notice);
            let problems: Vec<_> = c.problems.into_iter().map(|p| p.key).collect();
            (notice, problems)
        };
        assert_eq!(
            check(" Hinweis \n"),
            (Some(Some("Hinweis".to_owned())), vec![])
        );
        assert_eq!(check(" \n"), (None, vec!["gdpr.driver_notice".to_owned()]));
    }
}
