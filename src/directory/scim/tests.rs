use super::*;
use crate::directory::{Record, Role};

fn record(pairs: &[(&str, &str)]) -> Record {
    let fields = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Record::from_fields(&fields).unwrap()
}

fn driver() -> Record {
    record(&[
        ("employee_id", "D17"),
        ("display_name", "Erika Muster"),
        ("role", "driver"),
        ("active", "true"),
        ("threema_id", "ABCD1234"),
        ("phone", "+41 79 123 45 67"),
        ("email", "erika@example.com"),
        ("leave_date", "2027-03-31"),
        ("depot", "North"),
        ("vehicle", "17"),
    ])
}

fn dispatcher() -> Record {
    record(&[
        ("employee_id", "P4"),
        ("display_name", "Paul Dispo"),
        ("role", "dispatcher"),
        ("active", "false"),
        ("matrix_id", "@paul:dispatch.test"),
    ])
}

fn meta() -> Meta {
    Meta {
        created: "2026-01-02T03:04:05Z".into(),
        last_modified: "2026-01-03T03:04:05Z".into(),
        location: "https://bridge.test/scim/v2/Users/u1".into(),
    }
}

#[test]
fn a_resource_names_every_field() {
    let user = user_from_record("u1", "paul@corp.test", &dispatcher(), &meta());
    assert_eq!(
        user,
        json!({
            "schemas": [CORE_SCHEMA, BRIDGE_SCHEMA],
            "id": "u1",
            "externalId": "P4",
            "userName": "paul@corp.test",
            "displayName": "Paul Dispo",
            "active": false,
            BRIDGE_SCHEMA: {
                "role": "dispatcher",
                "matrixId": "@paul:dispatch.test",
                "attributes": {},
            },
            "meta": {
                "resourceType": "User",
                "created": "2026-01-02T03:04:05Z",
                "lastModified": "2026-01-03T03:04:05Z",
                "location": "https://bridge.test/scim/v2/Users/u1",
            },
        })
    );
    let driver = user_from_record("u2", "erika", &driver(), &meta());
    assert_eq!(driver[BRIDGE_SCHEMA]["leaveDate"], "2027-03-31");
    assert_eq!(driver[BRIDGE_SCHEMA]["threemaId"], "ABCD1234");
    assert_eq!(driver[BRIDGE_SCHEMA]["attributes"]["depot"], "North");
}

#[test]
fn round_trip() {
    for record in [driver(), dispatcher()] {
        let user = user_from_record("u1", "someone", &record, &meta());
        assert_eq!(
            record_from_user(&user).unwrap(),
            ("someone".to_owned(), record)
        );
    }
}

#[test]
fn what_identity_providers_send() {
    let base = json!({
        "schemas": [CORE_SCHEMA, ENTERPRISE_SCHEMA, BRIDGE_SCHEMA],
        "userName": "erika@corp.test",
        "name": { "givenName": "Erika", "familyName": "Muster", "formatted": "E. Muster" },
        "emails": [
            { "value": "other@corp.test" },
            { "value": "Erika@Corp.test", "primary": true },
        ],
        "phoneNumbers": [{ "value": "+41 79 000 00 00", "type": "mobile" }],
        ENTERPRISE_SCHEMA: { "employeeNumber": "E9", "department": "Logistics" },
        BRIDGE_SCHEMA: { "role": "driver", "attributes": { "Depot": "North" } },
    });
    // Each case changes the base body and says what the record then holds.
    type Case = (&'static str, Value, fn(&mut Record));
    let cases: &[Case] = &[
        ("base", json!({}), |_| {}),
        ("externalId wins", json!({ "externalId": "X1" }), |r| {
            r.employee_id = "X1".into()
        }),
        (
            "userName without externalId or employeeNumber",
            json!({ ENTERPRISE_SCHEMA: { "department": "Logistics" } }),
            |r| r.employee_id = "erika@corp.test".into(),
        ),
        ("displayName wins", json!({ "displayName": "Eri" }), |r| {
            r.display_name = "Eri".into()
        }),
        (
            "given and family name",
            json!({ "name": { "givenName": "Erika", "familyName": "Muster" } }),
            |r| r.display_name = "Erika Muster".into(),
        ),
        ("string boolean", json!({ "active": "False" }), |r| {
            r.active = false
        }),
        (
            "the extension's contact wins",
            json!({ BRIDGE_SCHEMA: {
                "role": "driver", "phone": "+49 1", "email": "x@y.z", "threemaId": "abcd1234",
            } }),
            |r| {
                r.phone = Some("491".into());
                r.email = Some("x@y.z".into());
                r.threema_id = threema_protocol::ThreemaId::parse("ABCD1234");
                r.attributes.remove("depot");
            },
        ),
        (
            "dispatchers take no contact from the core attributes",
            json!({ BRIDGE_SCHEMA: { "role": "Dispatcher", "matrixId": "@e:d.test" } }),
            |r| {
                r.role = Role::Dispatcher;
                r.matrix_id = Some("@e:d.test".try_into().unwrap());
                r.phone = None;
                r.email = None;
                r.attributes.remove("depot");
            },
        ),
    ];
    let expected_base = Record {
        employee_id: "E9".into(),
        display_name: "E. Muster".into(),
        role: Role::Driver,
        active: true,
        threema_id: None,
        phone: Some("41790000000".into()),
        email: Some("erika@corp.test".into()),
        matrix_id: None,
        leave_date: None,
        attributes: [("depot", "North"), ("department", "Logistics")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into(),
    };
    for (name, change, expect) in cases {
        let mut user = base.clone();
        for (key, value) in change.as_object().unwrap() {
            user[key] = value.clone();
        }
        let mut expected = expected_base.clone();
        expect(&mut expected);
        let (user_name, record) = record_from_user(&user).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(user_name, "erika@corp.test");
        assert_eq!(record, expected, "{name}");
    }
}

#[test]
fn bad_users() {
    let ok = user_from_record("u1", "paul", &dispatcher(), &meta());
    let with = |key: &str, value: Value| {
        let mut user = ok.clone();
        match value {
            Value::Null => drop(user.as_object_mut().unwrap().remove(key)),
            value => user[key] = value,
        }
        user
    };
    let cases = [
        (json!([1]), "invalidSyntax"),
        (with("schemas", Value::Null), "invalidSyntax"),
        (with("schemas", json!([BRIDGE_SCHEMA])), "invalidSyntax"),
        (with("userName", Value::Null), "invalidValue"),
        (with("userName", json!(" ")), "invalidValue"),
        (with("displayName", json!(7)), "invalidValue"),
        (with("active", json!(0)), "invalidValue"),
        (with("active", json!("maybe")), "invalidValue"),
        (with("name", json!("Paul")), "invalidValue"),
        (
            with(BRIDGE_SCHEMA, json!({ "role": "boss" })),
            "invalidValue",
        ),
        (
            with(
                BRIDGE_SCHEMA,
                json!({ "role": "dispatcher", "matrixId": "paul" }),
            ),
            "invalidValue",
        ),
        (
            with(
                BRIDGE_SCHEMA,
                json!({
                    "role": "dispatcher",
                    "matrixId": "@p:d.test",
                    "attributes": { "Role": "x" },
                }),
            ),
            "invalidValue",
        ),
    ];
    for (user, scim_type) in cases {
        let error = record_from_user(&user).unwrap_err();
        assert_eq!(
            (error.status, error.scim_type),
            (400, Some(scim_type)),
            "{user}: {error}"
        );
    }
    let problems = record_from_user(&with(BRIDGE_SCHEMA, json!({ "role": "boss" }))).unwrap_err();
    assert!(problems.detail.contains("\"boss\""), "{problems}");
}

fn patch(operations: Value) -> Value {
    json!({ "schemas": [PATCH_SCHEMA], "Operations": operations })
}

#[test]
fn patches() {
    let ext = |attribute: &str| format!("{BRIDGE_SCHEMA}:{attribute}");
    let department = format!("{ENTERPRISE_SCHEMA}:department");
    type Case = (Value, fn(&mut Record));
    let cases: Vec<Case> = vec![
        (json!([]), |_| {}),
        (
            json!([{ "op": "Replace", "path": "active", "value": "False" }]),
            |r| r.active = false,
        ),
        (
            json!([{ "op": "replace", "path": "active", "value": false }]),
            |r| r.active = false,
        ),
        (
            json!([{
                "op": "replace",
                "value": { "active": "false", "DisplayName": "E. M." },
            }]),
            |r| {
                r.active = false;
                r.display_name = "E. M.".into();
            },
        ),
        (
            json!([{ "op": "add", "path": "externalId", "value": "D18" }]),
            |r| r.employee_id = "D18".into(),
        ),
        (
            json!([
                { "op": "remove", "path": "displayName" },
                { "op": "add", "path": "name.givenName", "value": "Eva" },
                { "op": "add", "path": "NAME.familyName", "value": "Beispiel" },
            ]),
            |r| r.display_name = "Eva Beispiel".into(),
        ),
        (
            json!([{ "op": "replace", "path": ext("threemaId"), "value": "efgh5678" }]),
            |r| r.threema_id = threema_protocol::ThreemaId::parse("EFGH5678"),
        ),
        (
            json!([{ "op": "replace", "path": BRIDGE_SCHEMA, "value": { "phone": "+49 2" } }]),
            |r| r.phone = Some("492".into()),
        ),
        (
            json!([{
                "op": "replace",
                "value": { BRIDGE_SCHEMA: { "leaveDate": "2026-12-31" } },
            }]),
            |r| r.leave_date = Some(time::macros::date!(2026 - 12 - 31)),
        ),
        (
            json!([{ "op": "replace", "value": {
                ext("email"): "New@Example.com",
                "name.givenName": "ignored while displayName is set",
            } }]),
            |r| r.email = Some("new@example.com".into()),
        ),
        (
            json!([{
                "op": "add",
                "path": ext("attributes"),
                "value": { "Vehicle": "18", "team": "B" },
            }]),
            |r| {
                r.attributes.insert("vehicle".into(), "18".into());
                r.attributes.insert("team".into(), "B".into());
            },
        ),
        (
            json!([{ "op": "remove", "path": ext("attributes.depot") }]),
            |r| drop(r.attributes.remove("depot")),
        ),
        (
            json!([{ "op": "remove", "path": ext("attributes") }]),
            |r| r.attributes.clear(),
        ),
        (
            json!([{ "op": "replace", "path": ext("attributes.depot"), "value": null }]),
            |r| drop(r.attributes.remove("depot")),
        ),
        (
            json!([{ "op": "add", "path": department, "value": "Ops" }]),
            |r| drop(r.attributes.insert("department".into(), "Ops".into())),
        ),
        (
            json!([{
                "op": "replace",
                "path": format!("{CORE_SCHEMA}:displayName"),
                "value": "Core",
            }]),
            |r| r.display_name = "Core".into(),
        ),
    ];
    let current = user_from_record("u1", "erika", &driver(), &meta());
    for (operations, expect) in cases {
        let patched = apply_patch(&current, &patch(operations.clone()))
            .unwrap_or_else(|e| panic!("{operations}: {e}"));
        let mut expected = driver();
        expect(&mut expected);
        let (user_name, record) =
            record_from_user(&patched).unwrap_or_else(|e| panic!("{operations}: {e}"));
        assert_eq!(
            (user_name.as_str(), record),
            ("erika", expected),
            "{operations}"
        );
    }
}

#[test]
fn a_patch_lists_the_extensions_it_adds() {
    let current = user_from_record("u1", "erika", &driver(), &meta());
    let patched = apply_patch(
        &current,
        &patch(json!([{
            "op": "add",
            "path": format!("{ENTERPRISE_SCHEMA}:department"),
            "value": "Ops",
        }])),
    )
    .unwrap();
    assert_eq!(
        patched["schemas"],
        json!([CORE_SCHEMA, ENTERPRISE_SCHEMA, BRIDGE_SCHEMA])
    );
    assert_eq!(patched["meta"], current["meta"]);
}

#[test]
fn bad_patches() {
    let current = user_from_record("u1", "erika", &driver(), &meta());
    let cases = [
        (json!({ "op": "move", "path": "active" }), "invalidSyntax"),
        (json!({ "path": "active", "value": true }), "invalidSyntax"),
        (json!({ "op": "add", "path": "active" }), "invalidSyntax"),
        (
            json!({ "op": "add", "path": 1, "value": true }),
            "invalidSyntax",
        ),
        (
            json!({
                "op": "add",
                "path": "emails[type eq \"work\"].value",
                "value": "a@b.c",
            }),
            "invalidPath",
        ),
        (
            json!({ "op": "add", "path": "nickName", "value": "E" }),
            "invalidPath",
        ),
        (
            json!({ "op": "add", "path": "name.", "value": "E" }),
            "invalidPath",
        ),
        (
            json!({ "op": "add", "path": CORE_SCHEMA, "value": {} }),
            "invalidPath",
        ),
        (
            json!({
                "op": "add",
                "path": format!("{BRIDGE_SCHEMA}:vehicle"),
                "value": "1",
            }),
            "invalidPath",
        ),
        (
            json!({ "op": "replace", "value": { "nickName": "E" } }),
            "invalidPath",
        ),
        (json!({ "op": "remove", "path": "userName" }), "mutability"),
        (
            json!({ "op": "replace", "path": "userName", "value": null }),
            "mutability",
        ),
        (json!({ "op": "remove" }), "noTarget"),
        (
            json!({ "op": "replace", "path": "active", "value": "maybe" }),
            "invalidValue",
        ),
        (
            json!({ "op": "replace", "path": "displayName", "value": 7 }),
            "invalidValue",
        ),
        (
            json!({ "op": "replace", "path": "name", "value": "E" }),
            "invalidValue",
        ),
        (json!({ "op": "replace", "value": "E" }), "invalidValue"),
    ];
    let malformed = [
        json!({ "schemas": [PATCH_SCHEMA] }),
        json!({ "Operations": [] }),
    ];
    let bodies = malformed.into_iter().map(|body| (body, "invalidSyntax"));
    let operations = cases.map(|(operation, scim_type)| (patch(json!([operation])), scim_type));
    for (body, scim_type) in bodies.chain(operations) {
        let error = apply_patch(&current, &body).unwrap_err();
        assert_eq!(
            (error.status, error.scim_type),
            (400, Some(scim_type)),
            "{body}: {error}"
        );
    }
}

#[test]
fn filters() {
    let good = [
        (
            r#"userName eq "erika@corp.test""#,
            Filter::UserName("erika@corp.test".into()),
        ),
        (
            r#"  USERNAME  EQ  "a\"b\u00e9" "#,
            Filter::UserName("a\"bé".into()),
        ),
        (r#"externalId eq "D17""#, Filter::ExternalId("D17".into())),
        (
            &format!(r#"{CORE_SCHEMA}:userName eq "x""#),
            Filter::UserName("x".into()),
        ),
    ];
    for (filter, expected) in good {
        assert_eq!(parse_filter(filter), Ok(expected), "{filter}");
    }
    let bad_filters = [
        "",
        "userName",
        "userName eq",
        r#"userName ne "x""#,
        r#"userName sw "x""#,
        r#"displayName eq "x""#,
        r#"userName eq x"#,
        r#"userName eq "x" and externalId eq "y""#,
        r#"userName eq "x"#,
        r#"emails[type eq "work"].value eq "x""#,
    ];
    for filter in bad_filters {
        let error = parse_filter(filter).unwrap_err();
        assert_eq!(
            (error.status, error.scim_type),
            (400, Some("invalidFilter")),
            "{filter}"
        );
    }
}

#[test]
fn errors() {
    let error = ScimError::bad_request("invalidFilter", "no");
    assert_eq!(
        error.body(),
        json!({
            "schemas": [ERROR_SCHEMA],
            "status": "400",
            "scimType": "invalidFilter",
            "detail": "no",
        })
    );
    assert_eq!(error.to_string(), "SCIM 400 invalidFilter: no");
    let cases = [
        (ScimError::not_found("u9"), "404", None),
        (
            ScimError::conflict_uniqueness("taken"),
            "409",
            Some("uniqueness"),
        ),
        (ScimError::unauthorized(), "401", None),
    ];
    for (error, status, scim_type) in cases {
        let body = error.body();
        assert_eq!(body["status"], status);
        assert_eq!(body.get("scimType").and_then(Value::as_str), scim_type);
    }
}

#[test]
fn lists_and_config() {
    let list = list_response(vec![json!({ "id": "a" })], 5, 0);
    assert_eq!(
        list,
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": 5,
            "startIndex": 1,
            "itemsPerPage": 1,
            "Resources": [{ "id": "a" }],
        })
    );
    let config = service_provider_config();
    assert_eq!(config["patch"]["supported"], true);
    assert_eq!(
        config["filter"],
        json!({ "supported": true, "maxResults": 200 })
    );
    for unsupported in ["bulk", "sort", "etag", "changePassword"] {
        assert_eq!(config[unsupported]["supported"], false, "{unsupported}");
    }
    assert_eq!(
        config["authenticationSchemes"][0]["type"],
        "oauthbearertoken"
    );
}
