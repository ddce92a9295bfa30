use std::collections::{BTreeMap, BTreeSet};

use fluent_bundle::FluentResource;
use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

use super::*;

/// Each message's variables (`$name`), by key.
fn variables(language: Language) -> BTreeMap<String, BTreeSet<String>> {
    let resource = FluentResource::try_new(language.catalogue().to_owned())
        .unwrap_or_else(|(_, e)| panic!("{}: {e:?}", language.code()));
    let mut out = BTreeMap::new();
    for entry in resource.entries() {
        if let Entry::Message(message) = entry {
            let mut names = BTreeSet::new();
            if let Some(pattern) = &message.value {
                pattern_variables(pattern, &mut names);
            }
            out.insert(message.id.name.to_owned(), names);
        }
    }
    out
}

fn pattern_variables(pattern: &Pattern<&str>, names: &mut BTreeSet<String>) {
    for element in &pattern.elements {
        if let PatternElement::Placeable { expression } = element {
            expression_variables(expression, names);
        }
    }
}

fn expression_variables(expression: &Expression<&str>, names: &mut BTreeSet<String>) {
    match expression {
        Expression::Inline(inline) => inline_variables(inline, names),
        Expression::Select { selector, variants } => {
            inline_variables(selector, names);
            for variant in variants {
                pattern_variables(&variant.value, names);
            }
        }
    }
}

fn inline_variables(inline: &InlineExpression<&str>, names: &mut BTreeSet<String>) {
    match inline {
        InlineExpression::VariableReference { id } => {
            names.insert(id.name.to_owned());
        }
        InlineExpression::Placeable { expression } => expression_variables(expression, names),
        InlineExpression::FunctionReference { arguments, .. } => {
            for arg in &arguments.positional {
                inline_variables(arg, names);
            }
        }
        _ => {}
    }
}

/// Every key the code names in `tr!(texts, "key", …)`.
fn keys_in_code() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let code = std::fs::read_to_string(&path).unwrap();
                let mut rest = code.as_str();
                while let Some(at) = rest.find("tr!(") {
                    rest = &rest[at + 4..];
                    // The key is the first string literal after the catalogue expression.
                    let Some(comma) = rest.find(',') else { break };
                    let after = rest[comma + 1..].trim_start();
                    if let Some(key) = after.strip_prefix('"').and_then(|k| k.split('"').next()) {
                        out.insert(key.to_owned());
                    }
                }
            }
        }
    }
    let mut keys = BTreeSet::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut keys,
    );
    // The macro's own documentation.
    keys.remove("key");
    keys
}

#[test]
fn both_catalogues_have_every_text_with_the_same_variables() {
    let en = variables(Language::En);
    let de = variables(Language::De);
    let missing_de: Vec<&String> = en.keys().filter(|k| !de.contains_key(*k)).collect();
    let missing_en: Vec<&String> = de.keys().filter(|k| !en.contains_key(*k)).collect();
    assert!(missing_de.is_empty(), "missing in de.ftl: {missing_de:?}");
    assert!(missing_en.is_empty(), "missing in en.ftl: {missing_en:?}");
    for (key, names) in &en {
        assert_eq!(&de[key], names, "the variables of {key}");
    }
}

#[test]
fn every_key_the_code_uses_is_in_the_catalogues_and_every_text_is_used() {
    let en = variables(Language::En);
    let used = keys_in_code();
    let unknown: Vec<&String> = used.iter().filter(|k| !en.contains_key(*k)).collect();
    assert!(
        unknown.is_empty(),
        "keys not in the catalogues: {unknown:?}"
    );
    let unused: Vec<&String> = en.keys().filter(|k| !used.contains(*k)).collect();
    assert!(unused.is_empty(), "texts no code uses: {unused:?}");
}

#[test]
fn every_text_formats_in_both_languages() {
    for language in [Language::En, Language::De] {
        let texts = Texts::new(language);
        for (key, names) in variables(language) {
            let mut args = FluentArgs::new();
            for name in &names {
                args.set(name.as_str(), 2);
            }
            let text = texts.format(&key, Some(&args));
            assert!(!text.trim().is_empty(), "{key} in {}", language.code());
            assert!(!text.contains("{$"), "{key}: {text}");
        }
    }
}

#[test]
fn plurals_and_variables_are_filled_in() {
    let en = Texts::new(Language::En);
    let de = Texts::new(Language::De);
    assert_eq!(
        crate::tr!(en, "schedule-cancelled", id = 3),
        "⏰ #3 cancelled."
    );
    assert_eq!(
        crate::tr!(de, "schedule-cancelled", id = 3),
        "⏰ #3 gelöscht."
    );
    assert_eq!(
        crate::tr!(en, "outbox-privacy-notice", text = "Hallo"),
        "Privacy notice for the driver:\n\nHallo"
    );
    assert_eq!(Language::parse("DE"), Some(Language::De));
    assert_eq!(Language::parse("fr"), None);
}

/// The admins' data-protection answers and the directory sync's report follow the desk's
/// language; English (the command line's `Display`) says the same as before the catalogue.
#[test]
fn the_data_protection_answers_and_the_sync_report_speak_the_desks_language() {
    use crate::{
        bridge::{
            directory::{SourceRefused, SourceReport, SyncReport},
            lifecycle::{Refused, retention},
        },
        directory::{Record, Role, plan::Action, snapshot},
        store::HoldTarget,
    };
    let de = Texts::new(Language::De);
    let report = retention::Report {
        dry_run: true,
        rooms: 2,
        events: 10,
        held: 1,
        polls: 3,
        ..Default::default()
    };
    let said = report.said(&de);
    assert!(
        said.contains(
            "  Homeserver: 10 Ereignis(se) und 0 Medien in 2 Fahrer-Chat(s) würden gelöscht"
        ),
        "{said}"
    );
    assert!(said.contains("durch Löschsperre erhalten: 1"), "{said}");
    assert!(
        report
            .to_string()
            .contains("  homeserver: 10 event(s) and 0 medi(a) in 2 portal(s) would go"),
        "{report}"
    );

    let driver = threema_protocol::ThreemaId::parse("ABCD1234").unwrap();
    let refused = Refused::NoHoldOn(HoldTarget::Driver(driver.clone()));
    assert_eq!(
        de.lifecycle_refused(&refused),
        "für Fahrer ABCD1234 gilt keine Löschsperre; nichts geändert"
    );
    assert_eq!(
        refused.to_string(),
        "no hold is in force on driver ABCD1234; nothing changed"
    );

    let record = Record {
        employee_id: "E-17".into(),
        display_name: "Tom Fahrer".into(),
        role: Role::Driver,
        active: false,
        threema_id: Some(driver.clone()),
        phone: None,
        email: None,
        matrix_id: None,
        leave_date: None,
        attributes: Default::default(),
    };
    let sync = SyncReport {
        sources: vec![
            SourceReport {
                source: "hr.csv".into(),
                changes: vec![snapshot::Change::Added(record)],
                ..Default::default()
            },
            SourceReport {
                source: "scim".into(),
                refused: Some(SourceRefused::Stopped(snapshot::Refused::Empty {
                    origin: "scim".into(),
                })),
                ..Default::default()
            },
        ],
        planned: vec![Action::EnsureGhost {
            driver,
            name: "Tom Fahrer".into(),
        }],
        applied: 1,
        ..Default::default()
    };
    assert_eq!(
        sync.said(&de),
        "hr.csv: 1 Änderung\n  hinzugefügt: Fahrer Tom Fahrer (E-17), inaktiv\n\
         scim: ABGELEHNT: der Stand aus scim ist leer; ein leerer Export wird nie übernommen\n\
         1 Aktion geplant\n  Ghost von ABCD1234: Name „Tom Fahrer“\n\
         ausgeführt 1, fehlgeschlagen 0, Anfragen an den Homeserver 0\n"
    );
    // A name from the directory cannot break the report's (or the audit log's) lines.
    let rename = Action::SetName {
        room: "!r:x".into(),
        name: "Tom\nFahrer \"T\"".into(),
    };
    assert_eq!(
        Texts::english().directory_action(&rename),
        r#"rename !r:x to "Tom\nFahrer \"T\"""#
    );
    assert_eq!(
        sync.to_string(),
        "hr.csv: 1 change(s)\n  added driver Tom Fahrer (E-17), inactive\n\
         scim: REFUSED: the scim snapshot is empty; an empty export is never applied\n\
         planned 1 action(s)\n  ghost of ABCD1234: name \"Tom Fahrer\"\n\
         applied 1, failed 0, homeserver calls 0\n"
    );
}
