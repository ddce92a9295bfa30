use super::*;

fn id(hex: &str) -> MessageId {
    MessageId::from_hex_le(hex).unwrap()
}

#[test]
fn padding_reaches_32_bytes_and_round_trips() {
    let mut rng = rand::rng();
    for len in [0, 1, 5, 31, 32, 100, 6000] {
        let data = vec![b'x'; len];
        for _ in 0..50 {
            let padded = pad(TEXT, &data, &mut rng);
            assert!(
                padded.len() > 32,
                "padded data of {len} bytes is {}",
                padded.len() - 1
            );
            let n = *padded.last().unwrap() as usize;
            assert!((1..=255).contains(&n));
            assert!(padded[padded.len() - n..].iter().all(|&b| b as usize == n));
            assert_eq!(unpad(&padded).unwrap(), (TEXT, &data[..]));
        }
    }
}

#[test]
fn bad_padding_is_refused() {
    assert_eq!(unpad(&[]), Err(DecodeError::Empty));
    assert_eq!(unpad(&[TEXT]), Err(DecodeError::Padding));
    assert_eq!(unpad(&[TEXT, b'a', 0]), Err(DecodeError::Padding));
    assert_eq!(unpad(&[TEXT, b'a', 3]), Err(DecodeError::Padding));
    assert_eq!(unpad(&[TEXT, b'a', 2, 2]), Ok((TEXT, &b"a"[..])));
}

#[test]
fn decodes_every_type() {
    let poll_setup = [
        7u64.to_le_bytes().to_vec(),
        br#"{"d":"Accept job 42?","s":0,"a":0,"t":0,"u":0,"o":0,"c":[{"i":2,"n":"No","o":1},{"i":1,"n":"Yes","o":0}]}"#.to_vec(),
    ]
    .concat();
    let poll_vote = [
        b"ECHO1234".to_vec(),
        7u64.to_le_bytes().to_vec(),
        b"[[1,1],[2,0]]".to_vec(),
    ]
    .concat();
    let receipt = [
        vec![2u8],
        hex::decode("0102030405060708").unwrap(),
        hex::decode("1112131415161718").unwrap(),
    ]
    .concat();
    let audio = [
        12u16.to_le_bytes().to_vec(),
        vec![0xaa; 16],
        1000u32.to_le_bytes().to_vec(),
        vec![0x55; 32],
    ]
    .concat();
    let cases: Vec<(u8, Vec<u8>, Message)> = vec![
        (
            TEXT,
            "Grüße *fett*".as_bytes().to_vec(),
            Message::Text("Grüße *fett*".into()),
        ),
        (
            LOCATION,
            b"47.3769,8.5417,12.5\nDepot Nord\nHauptstr. 1\\n8000 Zurich".to_vec(),
            Message::Location(Location {
                latitude: 47.3769,
                longitude: 8.5417,
                accuracy_m: Some(12.5),
                name: Some("Depot Nord".into()),
                address: Some("Hauptstr. 1\n8000 Zurich".into()),
            }),
        ),
        (
            LOCATION,
            b"-33.9,151.2\nHarbour".to_vec(),
            Message::Location(Location {
                latitude: -33.9,
                longitude: 151.2,
                accuracy_m: None,
                name: None,
                address: Some("Harbour".into()),
            }),
        ),
        (
            DELIVERY_RECEIPT,
            receipt,
            Message::DeliveryReceipt {
                status: ReceiptStatus::Read,
                message_ids: vec![id("0102030405060708"), id("1112131415161718")],
            },
        ),
        (
            DELIVERY_RECEIPT,
            [vec![3u8], vec![9; 8]].concat(),
            Message::DeliveryReceipt {
                status: ReceiptStatus::Acknowledged,
                message_ids: vec![id("0909090909090909")],
            },
        ),
        (TYPING, vec![1], Message::Typing(true)),
        (TYPING, vec![0], Message::Typing(false)),
        (
            EDIT,
            encode::edit(id("0102030405060708"), "neu"),
            Message::Edit {
                message_id: id("0102030405060708"),
                text: "neu".into(),
            },
        ),
        (
            DELETE,
            encode::delete(id("0102030405060708")),
            Message::Delete {
                message_id: id("0102030405060708"),
            },
        ),
        (
            POLL_SETUP,
            poll_setup,
            Message::PollSetup(PollSetup {
                poll_id: 7,
                description: "Accept job 42?".into(),
                closed: false,
                multiple_choice: false,
                choices: vec![
                    PollChoice {
                        id: 1,
                        name: "Yes".into(),
                    },
                    PollChoice {
                        id: 2,
                        name: "No".into(),
                    },
                ],
            }),
        ),
        (
            POLL_VOTE,
            poll_vote,
            Message::PollVote {
                creator: "ECHO1234".into(),
                poll_id: 7,
                choices: vec![(1, true), (2, false)],
            },
        ),
        (
            LEGACY_AUDIO,
            audio,
            Message::LegacyAudio {
                duration_s: 12,
                blob_id: BlobId([0xaa; 16]),
                size: 1000,
                key: [0x55; 32],
            },
        ),
        (
            0x41,
            b"group text".to_vec(),
            Message::Unsupported {
                message_type: 0x41,
                data: b"group text".to_vec(),
            },
        ),
        (
            0x82,
            vec![1, 2, 3],
            Message::Unsupported {
                message_type: 0x82,
                data: vec![1, 2, 3],
            },
        ),
    ];
    for (message_type, data, expected) in cases {
        assert_eq!(
            decode(message_type, &data),
            Ok(expected),
            "type 0x{message_type:02x}"
        );
    }
}

#[test]
fn file_messages_are_read_tolerantly() {
    let key = "44".repeat(32);
    let blob = "aa".repeat(16);
    // No `j` and no `i`, an unknown key, no thumbnail type: still a file.
    let json = format!(
        r#"{{"b":"{blob}","k":"{key}","m":"application/pdf","n":"Lieferschein.pdf","s":1234,"zz":1}}"#
    );
    let Message::File(file) = decode(FILE, json.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(file.rendering(), Rendering::File);
    assert_eq!(file.file_name.as_deref(), Some("Lieferschein.pdf"));
    assert_eq!(file.size, 1234);
    assert_eq!(file.key, [0x44; 32]);
    // `i` only (old apps) means media; `j` wins over `i`; metadata is read.
    let json = format!(
        r#"{{"b":"{blob}","k":"{key}","m":"image/jpeg","s":1,"i":1,"t":"{blob}","x":{{"w":640,"h":480}}}}"#
    );
    let Message::File(file) = decode(FILE, json.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(file.rendering(), Rendering::Media);
    assert_eq!(file.thumbnail_media_type(), "image/jpeg");
    assert_eq!(
        (file.metadata.width, file.metadata.height),
        (Some(640), Some(480))
    );
    let json = format!(r#"{{"b":"{blob}","k":"{key}","m":"image/webp","s":1,"i":1,"j":2}}"#);
    let Message::File(file) = decode(FILE, json.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(file.rendering(), Rendering::Sticker);
}

#[test]
fn malformed_messages_are_errors_not_panics() {
    let cases: Vec<(u8, &[u8])> = vec![
        (TEXT, &[0xff, 0xfe]),
        (FILE, b"{}"),
        (FILE, br#"{"b":"zz","k":"00"}"#),
        (LOCATION, b"north,south"),
        (LOCATION, b"95.0,10.0"),
        (DELIVERY_RECEIPT, &[1, 2, 3]),
        (TYPING, &[7]),
        (POLL_SETUP, &[1, 2]),
        (POLL_VOTE, b"ECHO1234\x07\0\0\0\0\0\0\0not json"),
        (LEGACY_IMAGE, &[0; 10]),
        (LEGACY_VIDEO, &[0; 73]),
    ];
    for (message_type, data) in cases {
        assert!(
            decode(message_type, data).is_err(),
            "type 0x{message_type:02x} {data:?}"
        );
    }
}

#[test]
fn encoders_round_trip_through_the_decoder() {
    let receipt =
        encode::delivery_receipt(ReceiptStatus::Received, &[id("0102030405060708")]).unwrap();
    assert_eq!(hex::encode(&receipt), "010102030405060708");
    assert_eq!(encode::delivery_receipt(ReceiptStatus::Read, &[]), None);
    let location = Location {
        latitude: 47.5,
        longitude: 8.25,
        accuracy_m: Some(10.0),
        name: Some("Depot".into()),
        address: Some("Street 1\nTown".into()),
    };
    assert_eq!(
        decode(LOCATION, &encode::location(&location)),
        Ok(Message::Location(location))
    );
}

/// Vectors written from the protocol description (poll-setup 0x15, poll-vote 0x16): the poll
/// id little-endian, then the JSON with the keys it names.
#[test]
fn polls_are_encoded_as_the_protocol_describes() {
    let poll = PollSetup {
        poll_id: 0x0102_0304_0506_0708,
        description: "Take tour 17?".into(),
        closed: false,
        multiple_choice: false,
        choices: vec![
            PollChoice {
                id: 0,
                name: "Yes".into(),
            },
            PollChoice {
                id: 1,
                name: "No".into(),
            },
        ],
    };
    let open = encode::poll_setup(&poll, None);
    let mut expected = vec![8, 7, 6, 5, 4, 3, 2, 1];
    expected.extend_from_slice(
        br#"{"d":"Take tour 17?","s":0,"a":0,"t":0,"u":0,"o":0,"c":[{"i":0,"n":"Yes","o":0},{"i":1,"n":"No","o":1}]}"#,
    );
    assert_eq!(open, expected);
    assert_eq!(
        decode(POLL_SETUP, &open).unwrap(),
        Message::PollSetup(poll.clone())
    );

    let closed = PollSetup {
        closed: true,
        ..poll.clone()
    };
    let results = encode::PollResults {
        votes: vec![("ECHOECHO".into(), vec![0]), ("DRIVER02".into(), vec![])],
    };
    let mut expected = vec![8, 7, 6, 5, 4, 3, 2, 1];
    expected.extend_from_slice(
        br#"{"d":"Take tour 17?","s":1,"a":0,"t":0,"u":0,"o":0,"c":[{"i":0,"n":"Yes","o":0,"r":[1,0],"t":1},{"i":1,"n":"No","o":1,"r":[0,0],"t":0}],"p":["ECHOECHO","DRIVER02"]}"#,
    );
    let encoded = encode::poll_setup(&closed, Some(&results));
    assert_eq!(encoded, expected);
    assert_eq!(
        decode(POLL_SETUP, &encoded).unwrap(),
        Message::PollSetup(closed)
    );

    let vote = encode::poll_vote("ECHOECHO", 0x0102_0304_0506_0708, &[(0, true), (1, false)]);
    let mut expected = b"ECHOECHO".to_vec();
    expected.extend_from_slice(&[8, 7, 6, 5, 4, 3, 2, 1]);
    expected.extend_from_slice(b"[[0,1],[1,0]]");
    assert_eq!(vote, expected);
    assert_eq!(
        decode(POLL_VOTE, &vote).unwrap(),
        Message::PollVote {
            creator: "ECHOECHO".into(),
            poll_id: 0x0102_0304_0506_0708,
            choices: vec![(0, true), (1, false)],
        }
    );
}
