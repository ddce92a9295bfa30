use super::*;
use crate::texts::Texts;
use crate::threema::codec::{self, FileMessage, PollChoice as ThreemaChoice};

fn file(json: Value) -> FileMessage {
    let mut object = json!({"b": "aa".repeat(16), "k": "44".repeat(32)});
    object
        .as_object_mut()
        .unwrap()
        .extend(json.as_object().unwrap().clone());
    let Message::File(file) = codec::decode(codec::FILE, object.to_string().as_bytes()).unwrap()
    else {
        panic!("not a file message")
    };
    file
}

fn media(data: &[u8], thumbnail: Option<&[u8]>) -> Media {
    Media {
        data: bytes::Bytes::copy_from_slice(data),
        thumbnail: thumbnail.map(bytes::Bytes::copy_from_slice),
    }
}

#[test]
fn text_with_and_without_html() {
    assert_eq!(
        text("m.text", "hi", None),
        json!({"msgtype": "m.text", "body": "hi"})
    );
    assert_eq!(
        text("m.text", "*hi*", Some("<strong>hi</strong>".into())),
        json!({"msgtype": "m.text", "body": "*hi*", "format": "org.matrix.custom.html", "formatted_body": "<strong>hi</strong>"})
    );
}

#[test]
fn replies_and_notes() {
    let mut content = text("m.text", "yes", None);
    reply_to(&mut content, "$quoted");
    assert_eq!(
        content["m.relates_to"],
        json!({"m.in_reply_to": {"event_id": "$quoted"}})
    );
    assert_eq!(
        with_note("(note <1>)", "yes", Some("<b>yes</b>".into())),
        (
            "(note <1>)\nyes".to_owned(),
            Some("<em>(note &lt;1&gt;)</em><br><b>yes</b>".to_owned())
        )
    );
    assert_eq!(with_note("n", "yes", None).1, None);
}

#[test]
fn edits_replace_the_original() {
    let content = edit(
        "$original",
        text("m.text", "*new*", Some("<strong>new</strong>".into())),
    );
    assert_eq!(
        content,
        json!({
            "msgtype": "m.text",
            "body": "* *new*",
            "format": "org.matrix.custom.html",
            "formatted_body": "* <strong>new</strong>",
            "m.new_content": {
                "msgtype": "m.text",
                "body": "*new*",
                "format": "org.matrix.custom.html",
                "formatted_body": "<strong>new</strong>",
            },
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$original"},
        })
    );
}

#[test]
fn a_new_caption_keeps_the_file() {
    let original = json!({"msgtype": "m.image", "body": "old", "filename": "a.png", "url": "mxc://x/y", "info": {"size": 3}});
    let new = recaption(&original, "new caption", None).unwrap();
    assert_eq!(new["body"], "new caption");
    assert_eq!(new["filename"], "a.png");
    assert_eq!(new["url"], "mxc://x/y");
    assert_eq!(recaption(&original, "", None).unwrap()["body"], "a.png");
    assert_eq!(recaption(&text("m.text", "hi", None), "x", None), None);
}

#[test]
fn media_types_follow_type_and_rendering() {
    let cases = [
        (json!({"m": "image/png", "j": 1}), "m.image"),
        (json!({"m": "image/png", "j": 0}), "m.file"),
        (json!({"m": "image/webp", "j": 2}), "m.image"),
        (json!({"m": "video/mp4", "j": 1}), "m.video"),
        (json!({"m": "audio/aac", "j": 1}), "m.audio"),
        (json!({"m": "audio/aac", "j": 0}), "m.file"),
        (json!({"m": "application/pdf", "j": 1}), "m.file"),
        (json!({"m": "application/pdf"}), "m.file"),
    ];
    for (json, msgtype) in cases {
        let plan = media_plan(&Message::File(file(json.clone())), &media(b"x", None)).unwrap();
        assert_eq!(plan.msgtype, msgtype, "{json}");
        assert_eq!(plan.voice, msgtype == "m.audio", "{json}");
    }
    assert_eq!(
        media_plan(&Message::Text("x".into()), &media(b"x", None)),
        None
    );
}

#[test]
fn an_image_with_thumbnail_and_caption() {
    let message = Message::File(file(json!({
        "m": "image/png", "j": 1, "n": "scan.png", "d": "Delivery *note*", "s": 999,
        "t": "bb".repeat(16), "p": "image/png", "x": {"w": 64, "h": 48}
    })));
    let plan = media_plan(&message, &media(b"png bytes", Some(b"thumb"))).unwrap();
    let content = super::media(
        &plan,
        &Uploaded {
            file: MediaRef::Plain("mxc://hs/file".into()),
            thumbnail: Some((MediaRef::Plain("mxc://hs/thumb".into()), 5)),
        },
        Some("Delivery <strong>note</strong>".into()),
    );
    assert_eq!(
        content,
        json!({
            "msgtype": "m.image",
            "body": "Delivery *note*",
            "format": "org.matrix.custom.html",
            "formatted_body": "Delivery <strong>note</strong>",
            "filename": "scan.png",
            "url": "mxc://hs/file",
            "info": {
                "mimetype": "image/png",
                // The bytes that arrived, not what the message claims.
                "size": 9,
                "w": 64,
                "h": 48,
                "thumbnail_url": "mxc://hs/thumb",
                "thumbnail_info": {"mimetype": "image/png", "size": 5},
            },
        })
    );
}

#[test]
fn in_an_encrypted_room_a_file_and_its_thumbnail_are_referred_to_by_their_keys() {
    let message = Message::File(file(json!({
        "m": "image/png", "j": 1, "n": "scan.png", "s": 9,
        "t": "bb".repeat(16), "p": "image/png"
    })));
    let plan = media_plan(&message, &media(b"png bytes", Some(b"thumb"))).unwrap();
    let file = json!({"url": "mxc://hs/file", "v": "v2", "iv": "iv", "key": {"k": "k"},
                      "hashes": {"sha256": "h"}});
    let thumb = json!({"url": "mxc://hs/thumb", "v": "v2"});
    let content = super::media(
        &plan,
        &Uploaded {
            file: MediaRef::Encrypted(file.clone()),
            thumbnail: Some((MediaRef::Encrypted(thumb.clone()), 5)),
        },
        None,
    );
    assert_eq!(content["file"], file);
    assert!(content.get("url").is_none(), "{content}");
    assert_eq!(content["info"]["thumbnail_file"], thumb);
    assert!(content["info"].get("thumbnail_url").is_none(), "{content}");
    // An edit of its caption keeps the encrypted file.
    let recaptioned = recaption(&content, "Neu", None).expect("still a file message");
    assert_eq!(recaptioned["file"], file);
}

#[test]
fn a_file_without_name_or_caption() {
    let message = Message::File(file(json!({"m": "application/pdf"})));
    let plan = media_plan(&message, &media(b"%PDF", None)).unwrap();
    let uploaded = Uploaded {
        file: MediaRef::Plain("mxc://hs/f".into()),
        thumbnail: None,
    };
    let content = super::media(&plan, &uploaded, Some("<b>ignored</b>".into()));
    assert_eq!(
        content,
        json!({
            "msgtype": "m.file", "body": "file.pdf", "filename": "file.pdf",
            "url": "mxc://hs/f", "info": {"mimetype": "application/pdf", "size": 4},
        })
    );
}

#[test]
fn voice_messages() {
    let message = Message::File(file(json!({"m": "audio/aac", "j": 1, "x": {"d": 3.4}})));
    let plan = media_plan(&message, &media(b"aac", None)).unwrap();
    let uploaded = Uploaded {
        file: MediaRef::Plain("mxc://hs/v".into()),
        thumbnail: None,
    };
    let content = super::media(&plan, &uploaded, None);
    assert_eq!(content["msgtype"], "m.audio");
    assert_eq!(content["body"], "audio.aac");
    assert_eq!(content["info"]["duration"], 3400);
    assert_eq!(
        content["org.matrix.msc1767.audio"],
        json!({"duration": 3400})
    );
    assert_eq!(content["org.matrix.msc3245.voice"], json!({}));

    let legacy = Message::LegacyAudio {
        duration_s: 7,
        blob_id: crate::threema::BlobId([0; 16]),
        size: 3,
        key: [0; 32],
    };
    let content = super::media(
        &media_plan(&legacy, &media(b"aac", None)).unwrap(),
        &uploaded,
        None,
    );
    assert_eq!(content["info"]["duration"], 7000);
    assert_eq!(content["org.matrix.msc3245.voice"], json!({}));
}

#[test]
fn legacy_video_has_a_jpeg_thumbnail() {
    let video = Message::LegacyVideo {
        duration_s: 2,
        blob_id: crate::threema::BlobId([0; 16]),
        size: 3,
        thumbnail_blob_id: crate::threema::BlobId([1; 16]),
        thumbnail_size: 1,
        key: [0; 32],
    };
    let plan = media_plan(&video, &media(b"mp4", Some(b"j"))).unwrap();
    assert_eq!(
        (plan.msgtype, plan.file_name.as_str(), plan.duration_ms),
        ("m.video", "video.mp4", Some(2000))
    );
    assert_eq!(plan.thumbnail_mimetype.as_deref(), Some("image/jpeg"));
}

#[test]
fn default_file_names() {
    assert_eq!(default_file_name("m.image", "image/jpeg"), "image.jpg");
    assert_eq!(default_file_name("m.audio", "audio/mpeg"), "audio.mp3");
    assert_eq!(
        default_file_name("m.file", "application/octet-stream"),
        "file"
    );
    assert_eq!(
        default_file_name("m.file", "application/vnd.openxmlformats-officedocument"),
        "file"
    );
    assert_eq!(
        default_file_name("m.file", "text/plain; charset=utf-8"),
        "file.txt"
    );
}

#[test]
fn locations() {
    let content = location(
        &Texts::default(),
        &Location {
            latitude: 47.3769,
            longitude: 8.5417,
            accuracy_m: Some(12.5),
            name: Some("Depot Nord".into()),
            address: Some("Hauptstr. 1\n8000 Zurich".into()),
        },
    );
    assert_eq!(content["msgtype"], "m.location");
    assert_eq!(content["geo_uri"], "geo:47.3769,8.5417;u=12.5");
    assert_eq!(
        content["body"],
        "📍 Depot Nord, Hauptstr. 1, 8000 Zurich (47.3769, 8.5417)"
    );
    assert_eq!(content["org.matrix.msc3488.asset"]["type"], "m.pin");
    let bare = location(
        &Texts::default(),
        &Location {
            latitude: -33.9,
            longitude: 151.2,
            accuracy_m: None,
            name: None,
            address: None,
        },
    );
    assert_eq!(bare["geo_uri"], "geo:-33.9,151.2");
    assert_eq!(bare["body"], "📍 Location: -33.9, 151.2");
    assert_eq!(bare["org.matrix.msc3488.asset"]["type"], "m.self");
}

#[test]
fn polls_and_votes() {
    let poll = PollSetup {
        poll_id: 7,
        description: "Accept job <42>?".into(),
        closed: false,
        multiple_choice: false,
        choices: vec![
            ThreemaChoice {
                id: 1,
                name: "Yes".into(),
            },
            ThreemaChoice {
                id: 2,
                name: "No".into(),
            },
        ],
    };
    let content = poll_setup(&Texts::default(), &poll);
    assert_eq!(
        content["body"],
        "📊 Poll: Accept job <42>?\n1. Yes\n2. No\n(single choice)"
    );
    assert_eq!(
        content["formatted_body"],
        "<p>📊 <strong>Poll:</strong> Accept job &lt;42&gt;?</p><ol><li>Yes</li><li>No</li></ol><p><em>(single choice)</em></p>"
    );
    let choices = poll_choices(&poll);
    assert_eq!(
        poll_vote(
            &Texts::default(),
            Some(&choices[..]),
            &[(1, false), (2, true)]
        ),
        json!({"msgtype": "m.notice", "body": "🗳️ Voted: No"})
    );
    assert_eq!(
        poll_vote(
            &Texts::default(),
            Some(&choices[..]),
            &[(1, true), (2, true), (9, true)]
        )["body"],
        "🗳️ Voted: Yes, No, choice #9"
    );
    assert_eq!(
        poll_vote(&Texts::default(), Some(&choices[..]), &[(1, false)])["body"],
        "🗳️ Withdrew the vote"
    );
    assert_eq!(
        poll_vote(&Texts::default(), None, &[(0, true), (3, true)])["body"],
        "🗳️ Voted in a poll not in this room: choice #0, #3"
    );
}

#[test]
fn stale_typing_is_dropped() {
    assert!(typing_is_current(1000, 1000));
    assert!(typing_is_current(1000, 1029));
    assert!(!typing_is_current(1000, 1030));
    // A phone clock a little ahead is still current.
    assert!(typing_is_current(1010, 1000));
}

#[test]
fn mentions_are_collected_once() {
    assert_eq!(
        mentioned_ids("@[ECHO1234] and @[*DISPTCH], again @[ECHO1234]; @[bad] @[ABCDEFG] @["),
        ["ECHO1234", "*DISPTCH"]
    );
    assert!(mentioned_ids("no mentions, just an @ sign").is_empty());
    assert_eq!(mentioned_ids("ü@[ÄBCDEFGH]@[ABCDEFGH]"), ["ABCDEFGH"]);
}
