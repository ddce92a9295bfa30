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
