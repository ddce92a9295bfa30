use super::*;
use serde_json::json;

const RELAY: Relay<'static> = Relay {
    template: "{displayname}: {body}",
    emote_template: "* {displayname} {body}",
    display_name: "Anna Dispo",
};

fn content(value: serde_json::Value) -> RoomMessageEventContent {
    serde_json::from_value(value).unwrap()
}

fn plan(value: serde_json::Value) -> Plan {
    plan_message(&content(value), RELAY, |_| EditTarget::Unknown)
}

fn texts(plan: &Plan) -> Vec<String> {
    match plan {
        Plan::Send(items) => items
            .iter()
            .map(|o| match o {
                Outgoing::Text { text, .. } => text.clone(),
                other => panic!("not text: {other:?}"),
            })
            .collect(),
        Plan::Refuse(r) => panic!("refused: {r:?}"),
    }
}

#[test]
fn text_notice_and_emote_carry_the_dispatchers_name() {
    assert_eq!(
        texts(&plan(
            json!({"msgtype": "m.text", "body": "Tour 7 fällt aus"})
        )),
        ["Anna Dispo: Tour 7 fällt aus"]
    );
    assert_eq!(
        texts(&plan(json!({"msgtype": "m.notice", "body": "Hinweis"}))),
        ["Anna Dispo: Hinweis"]
    );
    assert_eq!(
        texts(&plan(json!({"msgtype": "m.emote", "body": "winkt"}))),
        ["* Anna Dispo winkt"]
    );
}

#[test]
fn a_reply_names_its_target_once_and_drops_the_fallback() {
    let plan = plan(json!({
        "msgtype": "m.text",
        "body": "> <@threema_abcd1234:d.test> Wo?\n\nAm Tor 3",
        "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}}
    }));
    assert_eq!(
        plan,
        Plan::Send(vec![Outgoing::Text {
            text: "Anna Dispo: Am Tor 3".into(),
            reply_to: Some("$orig".into())
        }])
    );
}

#[test]
fn long_text_is_split_into_signed_parts_within_the_limit() {
    let body = "Wort ".repeat(1500);
    let parts = texts(&plan(json!({"msgtype": "m.text", "body": body})));
    assert!(parts.len() >= 2, "{} parts", parts.len());
    for part in &parts {
        assert!(
            part.len() + QUOTE_HEADER_BYTES <= MAX_TEXT_BYTES,
            "{}",
            part.len()
        );
        assert!(part.starts_with("Anna Dispo: "));
    }
    let words: usize = parts
        .iter()
        .map(|p| {
            p.trim_start_matches("Anna Dispo: ")
                .split_whitespace()
                .count()
        })
        .sum();
    assert_eq!(words, 1500, "nothing lost");
}

#[test]
fn an_image_keeps_its_caption_dimensions_and_thumbnail() {
    let plan = plan(json!({
        "msgtype": "m.image", "body": "Schaden hinten links", "filename": "IMG_1.jpg",
        "url": "mxc://d.test/abc",
        "info": {"mimetype": "image/jpeg", "size": 1234, "w": 640, "h": 480,
                 "thumbnail_url": "mxc://d.test/thumb", "thumbnail_info": {"mimetype": "image/png"}}
    }));
    assert_eq!(
        plan,
        Plan::Send(vec![Outgoing::File(FileToSend {
            mxc: "mxc://d.test/abc".into(),
            encrypted: None,
            mimetype: "image/jpeg".into(),
            file_name: Some("IMG_1.jpg".into()),
            caption: Some("Anna Dispo: Schaden hinten links".into()),
            thumbnail_mxc: Some("mxc://d.test/thumb".into()),
            thumbnail_encrypted: None,
            thumbnail_mimetype: Some("image/png".into()),
            media: true,
            width_height: Some((640, 480)),
            duration_s: None,
            shared: false,
        })])
    );
}

#[test]
fn a_file_without_caption_is_signed_by_name() {
    let Plan::Send(items) = plan(json!({
        "msgtype": "m.file", "body": "Lieferschein.pdf", "url": "mxc://d.test/pdf",
        "info": {"mimetype": "application/pdf"}
    })) else {
        panic!()
    };
    let Outgoing::File(file) = &items[0] else {
        panic!()
    };
    assert_eq!(file.file_name.as_deref(), Some("Lieferschein.pdf"));
    assert_eq!(file.caption.as_deref(), Some("Anna Dispo"));
    assert!(!file.media);
}

#[test]
fn encrypted_media_goes_with_what_opens_it_and_unknown_types_are_refused_with_a_reason() {
    let encrypted = plan(json!({
        "msgtype": "m.image", "body": "x.jpg",
        "file": {
            "url": "mxc://d.test/e", "v": "v2", "iv": "X85+XgHN+HEAAAAAAAAAAA",
            "key": {"kty": "oct", "key_ops": ["encrypt", "decrypt"], "alg": "A256CTR",
                    "k": "qcHVMSgYg-71CauWBezXI5qkaRb0LuIy-Wx5kIaHMIA", "ext": true},
            "hashes": {"sha256": "5qG4fFnbbVdlAB1Q72JDKwCagV6Dbkx9qpn4lLHuz84"}
        }
    }));
    let Plan::Send(out) = encrypted else {
        panic!("{encrypted:?}")
    };
    let Outgoing::File(file) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(file.mxc, "mxc://d.test/e");
    let opens = file
        .encrypted
        .as_ref()
        .expect("the file's key goes with it");
    assert_eq!(
        opens["key"]["k"],
        "qcHVMSgYg-71CauWBezXI5qkaRb0LuIy-Wx5kIaHMIA"
    );
    assert_eq!(
        opens["hashes"]["sha256"],
        "5qG4fFnbbVdlAB1Q72JDKwCagV6Dbkx9qpn4lLHuz84"
    );
    assert_eq!(file.thumbnail_encrypted, None);
    let custom = plan(json!({"msgtype": "org.example.custom", "body": "?"}));
    assert_eq!(
        custom,
        Plan::Refuse(Refusal::UnsupportedType("org.example.custom".into()))
    );
}

#[test]
fn location_goes_with_accuracy_and_a_signed_name() {
    let plan = plan(
        json!({"msgtype": "m.location", "body": "Rampe 4", "geo_uri": "geo:52.52,13.405;u=20"}),
    );
    assert_eq!(
        plan,
        Plan::Send(vec![Outgoing::Location {
            latitude: 52.52,
            longitude: 13.405,
            accuracy_m: Some(20.0),
            name: Some("Anna Dispo: Rampe 4".into())
        }])
    );
    assert_eq!(parse_geo_uri("geo:91,0"), None);
    assert_eq!(parse_geo_uri("http://x"), None);
    assert_eq!(parse_geo_uri("geo:1.5,-2.25,30"), Some((1.5, -2.25, None)));
}

#[test]
fn edits_go_only_to_our_single_part_messages() {
    let edit = json!({
        "msgtype": "m.text", "body": "* Tor 4",
        "m.new_content": {"msgtype": "m.text", "body": "Tor 4"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}
    });
    let ours = plan_message(&content(edit.clone()), RELAY, |t| {
        assert_eq!(t, "$orig");
        EditTarget::Ours { parts: 1 }
    });
    assert_eq!(
        ours,
        Plan::Send(vec![Outgoing::Edit {
            target: "$orig".into(),
            text: "Anna Dispo: Tor 4".into()
        }])
    );
    let split = plan_message(&content(edit.clone()), RELAY, |_| EditTarget::Ours {
        parts: 2,
    });
    assert!(matches!(split, Plan::Refuse(_)));
    let theirs = plan_message(&content(edit.clone()), RELAY, |_| EditTarget::Theirs);
    assert!(matches!(theirs, Plan::Refuse(_)));
    let colleagues = plan_message(&content(edit.clone()), RELAY, |_| EditTarget::Colleagues);
    assert!(matches!(colleagues, Plan::Refuse(_)));
    let unknown = plan_message(&content(edit), RELAY, |_| EditTarget::Unknown);
    assert_eq!(unknown, Plan::Send(vec![]));
}

#[test]
fn redactions_delete_every_part_of_our_messages_only() {
    assert_eq!(
        plan_redaction("$e", EditTarget::Ours { parts: 2 }),
        Plan::Send(vec![
            Outgoing::Delete {
                target: "$e".into(),
                part: 0
            },
            Outgoing::Delete {
                target: "$e".into(),
                part: 1
            }
        ])
    );
    assert!(matches!(
        plan_redaction("$e", EditTarget::Theirs),
        Plan::Refuse(_)
    ));
    assert!(matches!(
        plan_redaction("$e", EditTarget::Colleagues),
        Plan::Refuse(_)
    ));
    assert_eq!(
        plan_redaction("$e", EditTarget::Unknown),
        Plan::Send(vec![])
    );
}

#[test]
fn the_payload_round_trips_through_json() {
    let item = Outgoing::Text {
        text: "a".into(),
        reply_to: None,
    };
    let json = serde_json::to_string(&item).unwrap();
    assert_eq!(json, r#"{"kind":"text","text":"a"}"#);
    assert_eq!(serde_json::from_str::<Outgoing>(&json).unwrap(), item);
}
