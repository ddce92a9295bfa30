//! The config's checks: what is accepted, what is refused and by which key.

use ruma::{ServerName, UserId};
use secrecy::ExposeSecret;

use super::*;

#[test]
fn config_debug_hides_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    let domain = ServerName::parse("dispatch.test").unwrap();
    let registration = Registration::generate("threema", "http://127.0.0.1:29318", &domain);
    registration
        .write(&dir.path().join("registration.yaml"))
        .unwrap();
    let yaml = format!(
        "homeserver: {{url: 'http://127.0.0.1:8008', domain: dispatch.test}}\n\
         appservice: {{registration: registration.yaml, url: 'http://127.0.0.1:29318'}}\n\
         threema: {{gateway_id: '*DISPTCH', secret: gateway-secret-123, private_key: '{}'}}\n\
         database: {{url: 'postgres://bridge:db-password-456@db/bridge'}}\n",
        "cafe".repeat(16)
    );
    let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap();
    let config = Config::from_raw(raw, dir.path()).unwrap();
    let shown = format!("{config:?}");
    for secret in [
        registration.as_token.expose_secret(),
        registration.hs_token.expose_secret(),
        "gateway-secret-123",
        "cafecafe",
        "db-password-456",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("dispatch.test"), "the rest stays readable");
}

/// A minimal valid config with `directory` as its `directory:` section (flow YAML).
fn with_directory(directory: &str) -> Result<Config, ConfigError> {
    with_sections("{}", directory)
}

/// A minimal valid config with these `bridge:` and `directory:` sections (flow YAML).
fn with_sections(bridge: &str, directory: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    in_dir(
        dir.path(),
        &format!("bridge: {bridge}\ndirectory: {directory}\n"),
    )
}

/// A minimal valid config in `dir` (where its relative paths point) with `sections`
/// (top-level YAML) added.
pub(crate) fn in_dir(dir: &Path, sections: &str) -> Result<Config, ConfigError> {
    let domain = ServerName::parse("dispatch.test").unwrap();
    Registration::generate("threema", "http://127.0.0.1:29318", &domain)
        .write(&dir.join("registration.yaml"))
        .unwrap();
    let yaml = format!(
        "homeserver: {{url: 'http://127.0.0.1:8008', domain: dispatch.test}}\n\
         appservice: {{registration: registration.yaml, url: 'http://127.0.0.1:29318'}}\n\
         threema: {{gateway_id: '*DISPTCH', secret: s, private_key: '{}'}}\n\
         database: {{url: 'sqlite://b.db'}}\n\
         {sections}",
        "cafe".repeat(16)
    );
    let raw: RawConfig = serde_yaml::from_str(&yaml).unwrap();
    Config::from_raw(raw, dir)
}

#[test]
fn the_admin_token_comes_from_synapse_admin_from_its_old_key_with_a_warning_or_the_bot() {
    let dir = tempfile::tempdir().unwrap();
    let token_of = |c: &Config| {
        c.synapse_admin
            .as_ref()
            .map(|a| a.token.expose_secret().to_owned())
    };
    let none = in_dir(dir.path(), "").unwrap();
    assert_eq!(token_of(&none), None);
    assert!(!none.features_without_admin().is_empty());
    assert!(!none.directory.plan.deactivate_dispatchers);

    let new = in_dir(dir.path(), "synapse_admin: {token: t1}\n").unwrap();
    assert_eq!(token_of(&new).as_deref(), Some("t1"));
    assert!(new.warnings.is_empty(), "{:?}", new.warnings);
    assert!(new.features_without_admin().is_empty());
    assert!(new.directory.plan.deactivate_dispatchers);

    let old = in_dir(dir.path(), "directory: {synapse_admin_token: t2}\n").unwrap();
    assert_eq!(token_of(&old).as_deref(), Some("t2"));
    assert!(old.warnings[0].contains("directory.synapse_admin_token is deprecated"));
    assert!(old.directory.plan.deactivate_dispatchers);

    let bot = in_dir(dir.path(), "synapse_admin: {bot_is_admin: true}\n").unwrap();
    let as_token = bot
        .appservice
        .registration
        .as_token
        .expose_secret()
        .to_owned();
    assert_eq!(token_of(&bot), Some(as_token));

    for (yaml, key) in [
        (
            "synapse_admin: {token: a, bot_is_admin: true}\n",
            "synapse_admin.bot_is_admin",
        ),
        (
            "synapse_admin: {token: a}\ndirectory: {synapse_admin_token: b}\n",
            "directory.synapse_admin_token",
        ),
    ] {
        let keys: Vec<_> = problems(in_dir(dir.path(), yaml))
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(keys, [key], "{yaml}");
    }
}

#[test]
fn an_admin_token_file_others_may_read_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin-token");
    std::fs::write(&file, "secret-admin-token\n").unwrap();
    let yaml = "synapse_admin: {token_file: admin-token}\n";
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let found = problems(in_dir(dir.path(), yaml));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "synapse_admin.token_file");
    assert!(found[0].reason.contains("mode 644"), "{}", found[0].reason);
    assert!(!found[0].reason.contains("secret-admin-token"));

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = in_dir(dir.path(), yaml).unwrap();
    let token = config.synapse_admin.unwrap().token;
    assert_eq!(token.expose_secret(), "secret-admin-token");
}

fn problems(result: Result<Config, ConfigError>) -> Vec<ConfigProblem> {
    match result {
        Err(ConfigError::Invalid(problems)) => problems,
        other => panic!("accepted: {:?}", other.map(|_| ())),
    }
}

#[test]
fn with_a_directory_only_its_dispatchers_and_users_named_may_use_the_bridge() {
    let user = |id: &str| UserId::parse(id).unwrap();
    let (intern, desk, it) = (
        user("@intern:dispatch.test"),
        user("@desk:dispatch.test"),
        user("@it:dispatch.test"),
    );
    let bridge = "{dispatchers: ['@desk:dispatch.test'], \
                  permissions: {'@it:dispatch.test': admin, 'dispatch.test': admin}}";
    // Without a directory the config decides: the server entry makes everyone an admin.
    let open = with_sections(bridge, "{}").unwrap().bridge.permissions;
    assert_eq!(open.level(&intern, None), Level::Admin);
    let open = with_sections("{}", "{}").unwrap().bridge.permissions;
    assert_eq!(open.level(&intern, None), Level::Dispatcher, "the default");
    assert_eq!(open.level(&user("@x:other.test"), None), Level::None);

    let scim = format!("{{scim_token: '{}'}}", "x".repeat(32));
    let closed = with_sections(bridge, &scim).unwrap().bridge.permissions;
    assert_eq!(
        closed.level(&intern, None),
        Level::None,
        "not in the directory"
    );
    assert_eq!(
        closed.level(&desk, None),
        Level::None,
        "bridge.dispatchers too"
    );
    assert_eq!(closed.level(&it, None), Level::Admin, "named by ID");
    assert_eq!(
        closed.level(&intern, Some(true)),
        Level::Dispatcher,
        "a server entry does not raise a dispatcher"
    );
    assert_eq!(closed.level(&it, Some(false)), Level::None, "left");
    let lowered = with_sections("{permissions: {'*': none}}", &scim).unwrap();
    let lowered = lowered.bridge.permissions;
    assert_eq!(lowered.level(&intern, Some(true)), Level::None, "lowered");
    let default = with_sections("{}", &scim).unwrap().bridge.permissions;
    assert_eq!(default.level(&intern, None), Level::None, "the default");
    assert_eq!(default.level(&intern, Some(true)), Level::Dispatcher);
}

#[test]
fn the_time_zone_is_an_iana_name() {
    let config = with_sections("{timezone: Europe/Berlin}", "{}").unwrap();
    assert_eq!(config.bridge.timezone.clock(0), "01:00 CET");
    assert_eq!(
        with_sections("{}", "{}").unwrap().bridge.timezone.clock(0),
        "00:00 UTC"
    );
    let refused = problems(with_sections("{timezone: Europe/Berln}", "{}"));
    assert_eq!(refused[0].key, "bridge.timezone");
    assert!(
        refused[0].reason.contains("not a time zone name"),
        "{refused:?}"
    );
}

#[test]
fn inbox_periods_are_minutes_above_zero_by_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = in_dir(
        dir.path(),
        "inbox: {answer_within_minutes: 0.05, answer_within_minutes_by: {depot: {Nord: 5}}, \
         urgent_keywords: [' Panne ']}",
    )
    .unwrap();
    let inbox = config.inbox;
    assert_eq!(inbox.answer_within, std::time::Duration::from_secs(3));
    assert_eq!(
        inbox.escalate_after,
        std::time::Duration::from_secs(1800),
        "the default"
    );
    let by = (
        "depot".to_owned(),
        "Nord".to_owned(),
        std::time::Duration::from_secs(300),
    );
    assert_eq!(inbox.answer_within_by, [by]);
    assert_eq!(inbox.urgent_keywords, ["Panne"]);
    let refused = problems(in_dir(
        dir.path(),
        "inbox: {answer_within_minutes: 0, escalate_after_minutes: 2000, \
         answer_within_minutes_by: {team: {A: -1}}, urgent_keywords: [''], \
         shift_changes: ['6', '14:00']}",
    ));
    let keys: Vec<&str> = refused.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "inbox.answer_within_minutes",
            "inbox.escalate_after_minutes",
            "inbox.answer_within_minutes_by.team.A",
            "inbox.urgent_keywords",
            "inbox.shift_changes"
        ]
    );
}

#[test]
fn shifts_and_off_duty_are_stretches_of_the_day_and_their_attribute_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let scim = format!("scim_token: '{}'", "x".repeat(32));
    let config = in_dir(
        dir.path(),
        &format!(
            "inbox: {{shifts: {{early: '06:00-14:00', night: '22:00-06:00'}}, \
             shift_attribute: shift, off_duty: '20:00-05:30', \
             answer_within_minutes_by: {{depot: {{Nord: 5}}}}}}\n\
             directory: {{{scim}, space_attributes: [depot]}}\n"
        ),
    )
    .unwrap();
    let duty = &config.inbox.duty;
    assert_eq!(duty.shifts.len(), 2);
    assert_eq!(duty.shift_attribute.as_deref(), Some("shift"));
    assert_eq!(
        duty.off_duty.unwrap().until,
        crate::zone::WallTime(5, 30, 0)
    );
    // The HTTP source keeps what the inbox reads, not only what spaces use.
    assert_eq!(config.directory.http_attributes(), ["depot", "shift"]);
    let refused = problems(in_dir(
        dir.path(),
        &format!(
            "inbox: {{shifts: {{early: '06:00', late: '14:00-14:00', Früh: '06:00-14:00', \
             FRÜH: '06:00-14:00'}}, off_duty: 'nachts'}}\n\
             directory: {{{scim}, attributes: [depot]}}\n"
        ),
    ));
    let keys: Vec<&str> = refused.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "inbox.shifts.Früh",
            "inbox.shifts.early",
            "inbox.shifts.late",
            "inbox.off_duty"
        ]
    );
    // An attribute without shifts to name, and one the directory drops.
    let refused = problems(in_dir(dir.path(), "inbox: {shift_attribute: shift}\n"));
    assert_eq!(refused[0].key, "inbox.shift_attribute");
    let refused = problems(in_dir(
        dir.path(),
        &format!(
            "inbox: {{shifts: {{early: '06:00-14:00'}}, shift_attribute: shift}}\n\
             directory: {{{scim}, attributes: [depot]}}\n"
        ),
    ));
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].key, "inbox.shift_attribute");
    assert!(refused[0].reason.contains("directory.attributes"));
}

#[test]
fn templates_have_one_word_names_and_their_attributes_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let scim = format!("scim_token: '{}'", "x".repeat(32));
    let config = in_dir(
        dir.path(),
        &format!(
            "templates: {{gruss: 'Hallo {{driver}} ({{vehicle}})'}}\n\
             directory: {{{scim}, space_attributes: [depot]}}\n"
        ),
    )
    .unwrap();
    assert_eq!(config.templates.len(), 1);
    assert_eq!(config.directory.http_attributes(), ["depot", "vehicle"]);
    let refused = problems(in_dir(
        dir.path(),
        &format!(
            "templates: {{'zwei worte': x, Gruss: a, gruss: b, leer: ' ', tour: '{{vehicle}}'}}\n\
             directory: {{{scim}, attributes: [depot]}}\n"
        ),
    ));
    let keys: Vec<&str> = refused.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "templates.gruss",
            "templates.leer",
            "templates.tour",
            "templates.zwei worte"
        ]
    );
}

#[test]
fn quick_codes_are_short_words_unique_in_any_case_with_a_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let config = in_dir(dir.path(), "quick_codes: {'1': arrived, OK: 'all fine'}\n").unwrap();
    assert_eq!(config.quick_codes.status("ok").unwrap().meaning, "all fine");
    let refused = problems(in_dir(
        dir.path(),
        "quick_codes: {'a b': x, ok: y, OK: z, leer: ' ', '12345678901234567': w}\n",
    ));
    let keys: Vec<&str> = refused.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "quick_codes.12345678901234567",
            "quick_codes.a b",
            "quick_codes.leer",
            "quick_codes.ok"
        ]
    );
}

#[test]
fn directory_attributes_keep_what_spaces_and_scopes_use() {
    let scim = format!("scim_token: '{}'", "x".repeat(32));
    let problems = problems(with_directory(&format!(
        "{{{scim}, attributes: [Vehicle], scope_attributes: [depot]}}"
    )));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].key, "directory.scope_attributes");
    let config = with_directory(&format!(
        "{{{scim}, attributes: [Vehicle, depot], space_attributes: [depot]}}"
    ))
    .unwrap();
    let kept = Some(vec!["vehicle".to_owned(), "depot".to_owned()]);
    assert_eq!(config.directory.attributes, kept);
    let config = with_directory(&format!(
        "{{{scim}, space_attributes: [team, depot], \
          ghost_name_template: '{{display_name}} ({{Vehicle}})'}}"
    ))
    .unwrap();
    assert_eq!(config.directory.attributes, None, "CSV and SCIM keep all");
    assert_eq!(
        config.directory.http_attributes(),
        ["depot", "team", "vehicle"],
        "what spaces and names use"
    );
    let refused = super::tests::problems(with_directory(&format!(
        "{{{scim}, attributes: [depot], \
          ghost_name_template: '{{display_name}} ({{vehicle}})'}}"
    )));
    assert_eq!(refused[0].key, "directory.ghost_name_template");
}

#[test]
fn a_short_or_empty_scim_token_is_refused() {
    for token in ["", "   ", "secret", &"x".repeat(31)] {
        let problems = problems(with_directory(&format!("{{scim_token: '{token}'}}")));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "directory.scim_token");
        let shown = &problems[0].reason;
        assert!(
            token.trim().is_empty() || !shown.contains(token.trim()),
            "{shown}"
        );
    }
    let token = "x".repeat(32);
    let config = with_directory(&format!("{{scim_token: '{token}'}}")).unwrap();
    assert!(config.directory.scim_token.is_some());
}

#[test]
fn the_http_source_is_https_unless_it_is_this_machine() {
    let source = |url: &str| with_directory(&format!("{{http: {{url: '{url}'}}}}"));
    let refused = problems(source("http://hr.example.com/api"));
    assert_eq!(refused[0].key, "directory.http.url", "{refused:?}");
    for url in [
        "https://hr.example.com/api",
        "http://127.0.0.1:8080/hr",
        "http://localhost/hr",
        "http://[::1]/hr",
    ] {
        assert!(source(url).is_ok(), "{url}");
    }
}

#[test]
fn the_integration_api_needs_long_distinct_tokens_known_clients_and_readable_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let token = "t".repeat(32);
    let good = format!(
        "api:\n  listen: 127.0.0.1:29320\n  clients:\n    - {{name: ERP, token: {token}}}\n    \
         - {{name: North, token: n{token}, scope: 'depot=North'}}\n  webhooks:\n    \
         - {{url: 'https://erp.internal/hook', secret: {token}, events: [read, job], clients: [erp]}}\n"
    );
    let config = in_dir(dir.path(), &good).unwrap();
    assert_eq!(config.api.clients.len(), 2);
    assert!(config.api.clients[1].scope.is_some());
    assert_eq!(
        config.api.webhooks[0].events,
        [WebhookEvent::Read, WebhookEvent::Job]
    );
    // Debug output names clients and receivers, never their secrets.
    let debug = format!("{:?}", config.api);
    assert!(debug.contains("ERP") && !debug.contains(&token), "{debug}");

    let keys = |yaml: &str| -> Vec<String> {
        problems(in_dir(dir.path(), yaml))
            .into_iter()
            .map(|p| p.key)
            .collect()
    };
    assert_eq!(
        keys(&format!(
            "api:\n  clients:\n    - {{name: ERP, token: {token}}}\n"
        )),
        ["api.listen"]
    );
    assert_eq!(
        keys("api:\n  listen: 127.0.0.1:1\n  clients:\n    - {name: ERP, token: short}\n"),
        ["api.clients[0].token"]
    );
    assert_eq!(
        keys(&format!(
            "api:\n  listen: 127.0.0.1:1\n  clients:\n    - {{name: ERP, token: {token}}}\n    \
             - {{name: erp, token: x{token}}}\n"
        )),
        ["api.clients[1].name"]
    );
    assert_eq!(
        keys(&format!(
            "api:\n  listen: 127.0.0.1:1\n  clients:\n    - {{name: A, token: {token}}}\n    \
             - {{name: B, token: {token}}}\n"
        )),
        ["api.clients[1].token"]
    );
    assert_eq!(
        keys(&format!(
            "api:\n  listen: 127.0.0.1:1\n  clients:\n    \
             - {{name: A, token: {token}, scope: 'depot=(North'}}\n"
        )),
        ["api.clients[0].scope"]
    );
    assert_eq!(
        keys(&format!(
            "api:\n  listen: 127.0.0.1:1\n  clients:\n    - {{name: A, token: {token}}}\n  \
             webhooks:\n    - {{url: 'ftp://x', secret: {token}}}\n    \
             - {{url: 'https://x', secret: short}}\n    \
             - {{url: 'https://y', secret: {token}, events: [sent]}}\n    \
             - {{url: 'https://z', secret: {token}, clients: [nobody]}}\n"
        )),
        [
            "api.webhooks[0].url",
            "api.webhooks[1].secret",
            "api.webhooks[2].events",
            "api.webhooks[3].clients"
        ]
    );
}

#[test]
fn runtime_cpus_is_one_core_by_default_a_number_of_cores_or_all() {
    use crate::cpus::Cpus;
    use std::num::NonZeroUsize;
    let dir = tempfile::tempdir().unwrap();
    let cpus = |section: &str| in_dir(dir.path(), section).map(|c| c.cpus);
    let count = |n| Cpus::Count(NonZeroUsize::new(n).unwrap());
    assert_eq!(cpus("").unwrap(), count(1));
    assert_eq!(cpus("runtime:\n").unwrap(), count(1));
    assert_eq!(cpus("runtime: {cpus: 4}\n").unwrap(), count(4));
    assert_eq!(cpus("runtime: {cpus: '2'}\n").unwrap(), count(2));
    assert_eq!(cpus("runtime: {cpus: all}\n").unwrap(), Cpus::All);
    for wrong in ["0", "-1", "many", "1.5", "true", "[1]", "{a: 1}"] {
        let problems = problems(in_dir(dir.path(), &format!("runtime: {{cpus: {wrong}}}\n")));
        assert!(
            problems.iter().any(|p| p.key == "runtime.cpus"),
            "{wrong}: {problems:?}"
        );
    }
}
