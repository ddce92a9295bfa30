use std::collections::BTreeMap;

use super::*;
use crate::directory::Role;

fn record(n: &str, attrs: &[(&str, &str)]) -> Record {
    Record {
        employee_id: format!("E{n}"),
        display_name: format!("Driver {n}"),
        role: Role::Driver,
        active: true,
        threema_id: None,
        phone: None,
        email: None,
        matrix_id: None,
        leave_date: None,
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn settings() -> Settings {
    Settings {
        domain: "dispatch.test".try_into().unwrap(),
        space_attributes: vec!["depot".into()],
        scope_attributes: Vec::new(),
        ghost_name_template: "{display_name}".into(),
        former_name_template: "{name} (former)".into(),
        root_space_name: "Dispatch".into(),
        former_space_name: "Former".into(),
        deactivate_dispatchers: false,
    }
}

fn ids(selected: &Selected) -> Vec<&str> {
    let mut ids: Vec<&str> = selected
        .recipients
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    ids.sort();
    ids
}

#[test]
fn parses_precedence_and_shorthands() {
    let expr = parse("depot=North shift=late OR NOT team=B, DRIVER01").unwrap();
    assert_eq!(
        expr,
        Expr::Or(vec![
            Expr::And(vec![
                Expr::Attribute("depot".into(), vec!["North".into()]),
                Expr::Attribute("shift".into(), vec!["late".into()]),
            ]),
            Expr::Not(Box::new(Expr::Attribute("team".into(), vec!["B".into()]))),
            Expr::Id(ThreemaId::parse("DRIVER01").unwrap()),
        ])
    );
    assert_eq!(
        parse("depot!=North -shift=late").unwrap(),
        Expr::And(vec![
            Expr::Not(Box::new(Expr::Attribute(
                "depot".into(),
                vec!["North".into()]
            ))),
            Expr::Not(Box::new(Expr::Attribute(
                "shift".into(),
                vec!["late".into()]
            ))),
        ])
    );
    assert_eq!(
        parse("depot=\"North 2\" AND (vehicle=12|17 or \"Erika Muster\")").unwrap(),
        Expr::And(vec![
            Expr::Attribute("depot".into(), vec!["North 2".into()]),
            Expr::Or(vec![
                Expr::Attribute("vehicle".into(), vec!["12".into(), "17".into()]),
                Expr::Name("Erika Muster".into()),
            ]),
        ])
    );
}

#[test]
fn bad_selections_say_what_is_wrong() {
    for (text, says) in [
        ("", "empty"),
        ("(depot=North", "not closed"),
        ("depot=North)", "without its ("),
        ("depot=", "needs an attribute and a value"),
        ("hello", "is not a term"),
        ("depot=North AND", "ends too early"),
        (", depot=North", "without a term"),
    ] {
        let error = parse(text).unwrap_err();
        assert!(error.contains(says), "{text:?}: {error}");
    }
}

#[test]
fn selects_by_attribute_name_id_and_space_and_says_who_is_left_out() {
    let records: Vec<Record> = vec![
        record("1", &[("depot", "North"), ("shift", "late")]),
        record("2", &[("depot", "north"), ("shift", "early")]),
        record("3", &[("depot", "South"), ("shift", "late")]),
        record("4", &[("depot", "North"), ("shift", "late")]),
        record("5", &[("depot", "North"), ("shift", "late")]),
        record("6", &[("depot", "North"), ("shift", "late")]),
        record("7", &[("depot", "North"), ("shift", "late")]),
    ];
    let id = |s: &str| ThreemaId::parse(s);
    let candidates = vec![
        Candidate {
            id: id("AAAA0001"),
            name: "Driver 1".into(),
            record: Some(&records[0]),
            active: true,
            visible: true,
        },
        Candidate {
            id: id("AAAA0002"),
            name: "Driver 2".into(),
            record: Some(&records[1]),
            active: true,
            visible: true,
        },
        Candidate {
            id: id("AAAA0003"),
            name: "Driver 3".into(),
            record: Some(&records[2]),
            active: true,
            visible: true,
        },
        Candidate {
            id: id("AAAA0004"),
            name: "Driver 4".into(),
            record: Some(&records[3]),
            active: false,
            visible: true,
        },
        Candidate {
            id: None,
            name: "Driver 5".into(),
            record: Some(&records[4]),
            active: true,
            visible: true,
        },
        Candidate {
            id: id("AAAA0006"),
            name: "Driver 6".into(),
            record: Some(&records[5]),
            active: true,
            visible: false,
        },
        Candidate {
            id: id("AAAA0007"),
            name: "Driver 7".into(),
            record: Some(&records[6]),
            active: false,
            visible: false,
        },
        Candidate {
            id: id("PORTAL01"),
            name: "Kim".into(),
            record: None,
            active: true,
            visible: true,
        },
    ];
    let s = settings();
    let run = |text: &str| select(&parse(text).unwrap(), &candidates, &s);

    let late_north = run("depot=NORTH shift=late");
    assert_eq!(ids(&late_north), ["AAAA0001"]);
    assert_eq!(
        late_north.excluded,
        vec![
            ("Driver 4 (AAAA0004)".to_owned(), Exclusion::Left),
            ("Driver 5 (employee E5)".to_owned(), Exclusion::NoThreemaId),
            ("Driver 6 (AAAA0006)".to_owned(), Exclusion::OutOfScope),
            ("Driver 7 (AAAA0007)".to_owned(), Exclusion::OutOfScope),
        ]
    );
    assert_eq!(ids(&run("space:north NOT shift=late")), ["AAAA0002"]);
    assert_eq!(
        ids(&run("shift=early|late AND NOT depot=North")),
        ["AAAA0003"]
    );
    assert_eq!(
        ids(&run("\"kim\", AAAA0002, \"driver 3\"")),
        ["AAAA0002", "AAAA0003", "PORTAL01"]
    );
    let unknown = run("AAAA0001 OR ZZZZ9999");
    assert_eq!(ids(&unknown), ["AAAA0001"]);
    assert_eq!(
        unknown.excluded,
        vec![("ZZZZ9999".to_owned(), Exclusion::Unknown)]
    );
    assert_eq!(run("all").recipients.len(), 4);
    assert_eq!(
        ids(&run("name=\"Driver 1\" OR employee=E3")),
        ["AAAA0001", "AAAA0003"]
    );
}

#[test]
fn saved_lists_are_resolved_and_may_not_name_themselves() {
    let lists = HashMap::from([
        ("late".to_owned(), "shift=late".to_owned()),
        ("late-north".to_owned(), "list:late depot=North".to_owned()),
        ("loop".to_owned(), "list:loop".to_owned()),
    ]);
    assert_eq!(
        resolve(parse("list:late-north").unwrap(), &lists).unwrap(),
        Expr::And(vec![
            Expr::Attribute("shift".into(), vec!["late".into()]),
            Expr::Attribute("depot".into(), vec!["North".into()]),
        ])
    );
    assert!(
        resolve(parse("list:loop").unwrap(), &lists)
            .unwrap_err()
            .contains("names itself")
    );
    assert!(
        resolve(parse("list:nope").unwrap(), &lists)
            .unwrap_err()
            .contains("no saved list")
    );
}

/// A driver is judged by their directory record: their portal (no attributes) does not let a
/// negation select them, nor a scope that excludes them see them.
#[test]
fn a_drivers_portal_never_matches_where_their_record_does_not() {
    let south = record("1", &[("depot", "South")]);
    let id = ThreemaId::parse("SOUTH001").unwrap();
    let candidate = |record: Option<&'static Record>| Candidate {
        id: Some(id.clone()),
        name: "Driver 1".into(),
        record,
        active: true,
        visible: true,
    };
    let south: &'static Record = Box::leak(Box::new(south));
    let candidates = [candidate(Some(south)), candidate(None)];
    let not_south = parse("NOT depot=South").unwrap();
    let selected = select(&not_south, &candidates, &settings());
    assert!(selected.recipients.is_empty(), "{selected:?}");
    assert!(
        selected.excluded.is_empty(),
        "not matched, not unknown: {selected:?}"
    );
    let named = parse("SOUTH001 AND depot=North").unwrap();
    assert!(select(&named, &candidates, &settings()).excluded.is_empty());
}
