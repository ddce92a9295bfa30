//! Everything a driver's app sends shows in their portal as the dispatch desk expects it in
//! Element: formatted text, files with their bytes on the homeserver, voice messages,
//! locations, replies, edits, deletions, polls and votes, typing.

use crate::common::{self, recorded};
use threema_bridge::bridge::Outcome;

use std::time::Duration;

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    http_proxy::HttpProxy,
    synapse::{DOMAIN, unique_localpart, wait_for},
};
use serde_json::{Value, json};
use threema_bridge::{store::Direction, threema::quote};
use threema_gateway_sim::{Behaviour, Fault, Simulator, UserMessage};

const WAIT: Duration = Duration::from_secs(30);

/// A 4×3 red PNG and a 2×2 blue one (as its thumbnail).
const PNG: &str = "89504e470d0a1a0a0000000d49484452000000040000000308020000003b9639910000001049444154789c6338212707470c383900f5c70c3107ebad990000000049454e44ae426082";
const THUMBNAIL_PNG: &str = "89504e470d0a1a0a0000000d4948445200000002000000020802000000fdd49a730000001049444154789c6390933b01440c100a0019d604114a10521c0000000049454e44ae426082";

/// A driver ID no earlier run used (the homeserver outlives test runs).
fn new_driver(sim: &Simulator, nickname: &str) -> String {
    common::threema::add_phone(sim, 'T', nickname, Behaviour::silent())
}

/// What the desk's client sees of the event a driver's message became.
struct Bridged<'a> {
    h: &'a Harness,
    sim: &'a Simulator,
    desk: &'a Dispatcher,
    driver: &'a str,
}

impl Bridged<'_> {
    /// Sends `message` from the driver; returns its Threema message id and its event.
    async fn send(&self, room: &str, message: UserMessage) -> (String, Value) {
        let message_id = self.sim.send_from_user(self.driver, message).await.unwrap();
        let event_id = self.event_id_of(&message_id).await;
        let event = self.desk.event(room, &event_id).await;
        let date = self
            .sim
            .outbox(self.driver)
            .into_iter()
            .find(|m| m.message_id == message_id)
            .unwrap()
            .date;
        // Redactions have no timestamp to set; everything else is dated by the driver's app.
        if event["type"] == "m.room.message" {
            assert_eq!(
                event["origin_server_ts"].as_u64(),
                Some(date * 1000),
                "the time the driver's app sent it: {event}"
            );
        }
        assert_eq!(event["sender"], ghost(self.driver));
        (message_id, event)
    }

    async fn event_id_of(&self, message_id: &str) -> String {
        let store = &self.h.bridge.store;
        wait_for("the message bridged", WAIT, || async {
            store
                .message_by_threema_id(self.driver, message_id, Direction::In)
                .await
                .unwrap()
                .map(|m| m.event_id.to_string())
        })
        .await
    }
}

fn ghost(driver: &str) -> String {
    format!("@threema_{}:{DOMAIN}", driver.to_lowercase())
}

#[tokio::test]
async fn every_kind_of_driver_message_reaches_the_desk() {
    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| c.dispatchers = vec![desk_id.clone()]).await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let driver = new_driver(&sim, "Tina Transport");
    let bridged = Bridged {
        h: &h,
        sim: &sim,
        desk: &desk,
        driver: &driver,
    };

    // Text with markup: the first message opens the portal.
    let text = "Ladung *komplett*, _Rampe 3_";
    let first = sim
        .send_from_user(&driver, UserMessage::text(text))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    let text_event = desk.event(&room, &bridged.event_id_of(&first).await).await;
    assert_eq!(text_event["content"]["msgtype"], "m.text");
    assert_eq!(text_event["content"]["body"], text);
    assert_eq!(
        text_event["content"]["format"], "org.matrix.custom.html",
        "{text_event}"
    );
    let html = text_event["content"]["formatted_body"].as_str().unwrap();
    assert!(html.contains("<strong>komplett</strong>"), "{html}");
    let text_event_id = text_event["event_id"].as_str().unwrap().to_owned();

    // An image with a thumbnail and its size: on the homeserver, byte for byte.
    let png = hex::decode(PNG).unwrap();
    let thumbnail = hex::decode(THUMBNAIL_PNG).unwrap();
    let (_, image) = bridged
        .send(
            &room,
            UserMessage::File {
                data: png.clone(),
                media_type: "image/png".into(),
                file_name: Some("rampe.png".into()),
                caption: Some("Rampe 3 *frei*".into()),
                thumbnail: Some((thumbnail.clone(), "image/png".into())),
                rendering: 1,
                metadata: Some(json!({"w": 4, "h": 3})),
            },
        )
        .await;
    let content = &image["content"];
    assert_eq!(content["msgtype"], "m.image", "{image}");
    assert_eq!(content["body"], "Rampe 3 *frei*", "the caption");
    assert_eq!(content["filename"], "rampe.png");
    assert_eq!(content["info"]["mimetype"], "image/png");
    assert_eq!(content["info"]["size"], png.len());
    assert_eq!(
        (content["info"]["w"].as_u64(), content["info"]["h"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(content["info"]["thumbnail_info"]["mimetype"], "image/png");
    assert_eq!(desk.download(content["url"].as_str().unwrap()).await, png);
    assert_eq!(
        desk.download(content["info"]["thumbnail_url"].as_str().unwrap())
            .await,
        thumbnail
    );

    // A voice message: audio shown as media, with its duration.
    let voice = vec![0x21; 700];
    let (_, voice_event) = bridged
        .send(
            &room,
            UserMessage::File {
                data: voice.clone(),
                media_type: "audio/aac".into(),
                file_name: None,
                caption: None,
                thumbnail: None,
                rendering: 1,
                metadata: Some(json!({"d": 4.2})),
            },
        )
        .await;
    let content = &voice_event["content"];
    assert_eq!(content["msgtype"], "m.audio", "{voice_event}");
    assert_eq!(content["info"]["duration"], 4200);
    assert_eq!(content["org.matrix.msc3245.voice"], json!({}));
    assert_eq!(content["org.matrix.msc1767.audio"]["duration"], 4200);
    assert_eq!(desk.download(content["url"].as_str().unwrap()).await, voice);

    // A location.
    let (location_id, location) = bridged
        .send(
            &room,
            UserMessage::Location {
                lat: 47.3769,
                lon: 8.5417,
                accuracy: Some(15.0),
                name: Some("Depot Nord".into()),
                address: Some("Hauptstr. 1\n8000 Zürich".into()),
            },
        )
        .await;
    assert_eq!(location["content"]["msgtype"], "m.location");
    assert_eq!(location["content"]["geo_uri"], "geo:47.3769,8.5417;u=15");
    let body = location["content"]["body"].as_str().unwrap();
    assert!(
        body.contains("Depot Nord") && body.contains("8000 Zürich") && body.contains("47.3769"),
        "{body}"
    );

    // An edit of the first text replaces its event.
    let (_, edit) = bridged
        .send(
            &room,
            UserMessage::Edit {
                message_id: first.clone(),
                text: "Ladung *komplett*, Rampe 4".into(),
            },
        )
        .await;
    assert_eq!(
        edit["content"]["m.relates_to"],
        json!({"rel_type": "m.replace", "event_id": text_event_id})
    );
    assert_eq!(
        edit["content"]["m.new_content"]["body"],
        "Ladung *komplett*, Rampe 4"
    );
    assert_eq!(edit["content"]["body"], "* Ladung *komplett*, Rampe 4");

    // Deleting the location redacts its event, as the driver's ghost.
    let location_event_id = location["event_id"].as_str().unwrap();
    let (_, redaction) = bridged
        .send(
            &room,
            UserMessage::Delete {
                message_id: location_id,
            },
        )
        .await;
    assert_eq!(redaction["type"], "m.room.redaction");
    assert_eq!(
        redaction["redacts"]
            .as_str()
            .or(redaction["content"]["redacts"].as_str()),
        Some(location_event_id)
    );
    let redacted = desk.event(&room, location_event_id).await;
    assert_eq!(redacted["content"], json!({}), "{redacted}");
    assert!(redacted["unsigned"]["redacted_because"].is_object());

    // A quote of the first message is a reply to its event, without the quote header.
    let (_, reply) = bridged
        .send(
            &room,
            UserMessage::text(quote::encode(&first, "Bin schon unterwegs")),
        )
        .await;
    assert_eq!(reply["content"]["body"], "Bin schon unterwegs");
    assert_eq!(
        reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        text_event_id
    );
    // A quote of something never bridged keeps the reply text, with a note.
    let (_, orphan) = bridged
        .send(
            &room,
            UserMessage::text(quote::encode("00000000000000ff", "Ja")),
        )
        .await;
    assert!(orphan["content"]["m.relates_to"].is_null());
    assert!(
        orphan["content"]["body"]
            .as_str()
            .unwrap()
            .ends_with("\nJa")
    );

    // A poll becomes a Matrix poll from the ghost (Element shows and counts it), its choice
    // ids the answers' ids; a vote a poll response; the close the poll's end.
    let setup = |closed| UserMessage::PollSetup {
        poll_id: 42,
        description: "Zusatzfahrt heute?".into(),
        choices: vec!["Ja".into(), "Nein".into()],
        multiple: false,
        closed,
    };
    let (_, poll) = bridged.send(&room, setup(false)).await;
    assert_eq!(poll["type"], "org.matrix.msc3381.poll.start", "{poll}");
    let start = &poll["content"]["org.matrix.msc3381.poll.start"];
    assert_eq!(
        start["question"]["org.matrix.msc1767.text"], "Zusatzfahrt heute?",
        "{poll}"
    );
    assert_eq!(start["kind"], "org.matrix.msc3381.poll.disclosed");
    assert_eq!(start["answers"][1]["id"], "1");
    assert_eq!(start["answers"][1]["org.matrix.msc1767.text"], "Nein");
    assert!(
        (poll["content"]["org.matrix.msc1767.text"].as_str().unwrap()).contains("2. Nein"),
        "a text for clients without polls: {poll}"
    );
    let (_, vote) = bridged
        .send(
            &room,
            UserMessage::PollVote {
                creator: driver.clone(),
                poll_id: 42,
                choices: vec![(0, false), (1, true)],
            },
        )
        .await;
    assert_eq!(vote["type"], "org.matrix.msc3381.poll.response", "{vote}");
    assert_eq!(
        vote["content"]["org.matrix.msc3381.poll.response"]["answers"],
        json!(["1"])
    );
    assert_eq!(vote["content"]["m.relates_to"]["rel_type"], "m.reference");
    assert_eq!(
        vote["content"]["m.relates_to"]["event_id"],
        poll["event_id"]
    );
    let (_, end) = bridged.send(&room, setup(true)).await;
    assert_eq!(end["type"], "org.matrix.msc3381.poll.end", "{end}");
    assert_eq!(end["content"]["m.relates_to"]["event_id"], poll["event_id"]);
    let results = end["content"]["org.matrix.msc1767.text"].as_str().unwrap();
    assert!(results.contains("Ja 0 · Nein 1"), "{results}");

    // Typing shows the ghost typing in the portal.
    let mut typing = desk.watch_typing(&room).await;
    sim.send_from_user(&driver, UserMessage::Typing(true))
        .await
        .unwrap();
    typing.wait_for(&ghost(&driver), WAIT).await;

    // Each once: no message was bridged twice.
    let messages = desk.messages(&room).await;
    let mut ids: Vec<_> = messages.iter().map(|m| m["event_id"].clone()).collect();
    ids.sort_by_key(|v| v.to_string());
    ids.dedup();
    assert_eq!(ids.len(), messages.len());
    assert_eq!(
        messages.len(),
        7,
        "text, image, voice, (redacted) location, edit, two replies (the poll's events are not \
         messages)"
    );
    h.stop().await;
}

#[tokio::test]
async fn typing_alone_opens_no_portal_and_deleting_the_unknown_redacts_nothing() {
    let (h, sim) = Harness::with_simulator(|_| {}).await;
    let driver = new_driver(&sim, "Quiet Quentin");
    let driver = driver.as_str();
    let store = &h.bridge.store;
    let outcome = |message_id: String| async move {
        wait_for("an outcome", WAIT, || async {
            store
                .threema_inbox_outcome(driver, &message_id)
                .await
                .unwrap()
                .flatten()
        })
        .await
    };

    let typing = sim
        .send_from_user(driver, UserMessage::Typing(true))
        .await
        .unwrap();
    assert_eq!(
        recorded(outcome(typing).await),
        Outcome::skipped("typing started: no portal yet")
    );
    let delete = sim
        .send_from_user(
            driver,
            UserMessage::Delete {
                message_id: "0102030405060708".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        recorded(outcome(delete).await),
        Outcome::skipped("delete of 0102030405060708: never bridged, nothing to redact")
    );
    assert!(store.portal_by_threema_id(driver).await.unwrap().is_none());
    h.stop().await;
}

/// A desk in the portal of a new driver whose first text is bridged, on a bridge that tries a
/// file's download three times (through `homeserver_url`, a proxy, when given).
struct FileDesk {
    h: Harness,
    sim: Simulator,
    desk: Dispatcher,
    driver: String,
    room: String,
    /// In front of the homeserver, if asked for.
    proxy: Option<HttpProxy>,
}

impl FileDesk {
    async fn open(proxied: bool) -> FileDesk {
        let desk_localpart = unique_localpart("desk");
        let desk_id = format!("@{desk_localpart}:{DOMAIN}");
        let mut proxy = None;
        let (h, sim) = Harness::with_simulator(|c| {
            c.dispatchers = vec![desk_id.clone()];
            if proxied {
                let through = HttpProxy::listen(0, &c.synapse().url);
                c.homeserver_url = Some(through.url.clone());
                proxy = Some(through);
            }
            c.threema_extra = "  download_attempts: 3".into();
        })
        .await;
        let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
        let driver = new_driver(&sim, "Fritz Fracht");
        let first = sim
            .send_from_user(&driver, UserMessage::text("Lieferschein kommt"))
            .await
            .unwrap();
        let room = desk.wait_invite(WAIT).await;
        desk.join(&room).await;
        let bridged = Bridged {
            h: &h,
            sim: &sim,
            desk: &desk,
            driver: &driver,
        };
        bridged.event_id_of(&first).await;
        FileDesk {
            h,
            sim,
            desk,
            driver,
            room,
            proxy,
        }
    }
}

/// A file the homeserver would not take, or that cannot be fetched, shows in its place as a
/// notice from the driver's ghost; nothing too large is downloaded (or kept downloading), and
/// the driver's next message is not held up behind it.
#[tokio::test]
async fn a_file_that_cannot_be_bridged_shows_as_a_notice_in_its_place() {
    let FileDesk {
        h,
        sim,
        desk,
        driver,
        room,
        ..
    } = FileDesk::open(false).await;
    let bridged = Bridged {
        h: &h,
        sim: &sim,
        desk: &desk,
        driver: &driver,
    };

    // One byte over the homeserver's limit: not downloaded, named with its size.
    let config: Value = reqwest::Client::new()
        .get(format!("{}/_matrix/client/v1/media/config", h.synapse.url))
        .bearer_auth(&h.synapse.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let limit = config["m.upload.size"].as_u64().unwrap();
    let downloads = sim.metrics().count("blobs", 200);
    let big = UserMessage::file(vec![0; limit as usize + 1], "video/mp4", Some("tour.mp4"));
    let (_, notice) = bridged.send(&room, big).await;
    assert_eq!(notice["content"]["msgtype"], "m.notice", "{notice}");
    let body = notice["content"]["body"].as_str().unwrap();
    let megabytes = |bytes: u64| format!("{:.1} MB", bytes as f64 / 1048576.0);
    assert_eq!(
        body,
        format!(
            "📎 tour.mp4 ({}) was not bridged: the homeserver takes files up to {}.",
            megabytes(limit + 1),
            megabytes(limit)
        )
    );
    assert_eq!(
        sim.metrics().count("blobs", 200),
        downloads,
        "nothing downloaded"
    );

    // A small file whose blob turns out far larger: the download is cut off at the limit.
    sim.inject_fault("blobs", Fault::body_bytes(limit + 1024).times(1));
    let (_, cut) = bridged
        .send(
            &room,
            UserMessage::file(b"%PDF-1.4".to_vec(), "application/pdf", Some("klein.pdf")),
        )
        .await;
    assert_eq!(cut["content"]["msgtype"], "m.notice", "{cut}");
    assert_eq!(
        cut["content"]["body"],
        format!(
            "📎 klein.pdf (over {}) was not bridged: the homeserver takes files up to {}.",
            megabytes(limit),
            megabytes(limit)
        )
    );

    // The Gateway fails every download: after the attempts allowed, a notice, and the
    // driver's next message follows it.
    sim.inject_fault("blobs", Fault::status(500).times(3));
    let (_, gave_up) = bridged
        .send(
            &room,
            UserMessage::file(b"%PDF-1.4".to_vec(), "application/pdf", Some("ls.pdf")),
        )
        .await;
    assert_eq!(gave_up["content"]["msgtype"], "m.notice", "{gave_up}");
    assert_eq!(
        gave_up["content"]["body"],
        "📎 A file could not be fetched from Threema (3 attempts) and was not bridged. Please ask for it again."
    );
    let (_, after) = bridged.send(&room, UserMessage::text("Noch da?")).await;
    assert_eq!(after["content"]["body"], "Noch da?");
    let timeline = desk.timeline(&room).await;
    let position = |id: &Value| timeline.iter().position(|e| e["event_id"] == *id).unwrap();
    assert!(position(&gave_up["event_id"]) < position(&after["event_id"]));
    h.stop().await;
}

/// Only failed downloads count toward `threema.download_attempts`: a file whose bridging failed
/// for a while because the homeserver was away is still fetched after one more Gateway hiccup.
#[tokio::test]
async fn a_homeserver_away_uses_up_none_of_a_files_download_attempts() {
    let FileDesk {
        h,
        sim,
        desk,
        driver,
        room,
        proxy,
    } = FileDesk::open(true).await;
    let proxy = proxy.unwrap();
    let bridged = Bridged {
        h: &h,
        sim: &sim,
        desk: &desk,
        driver: &driver,
    };

    // The file is fetched, but the homeserver is away when it is to be posted, for as many
    // attempts as downloads are allowed.
    proxy.lose_next_answer("/upload");
    let file = sim
        .send_from_user(
            &driver,
            UserMessage::file(b"%PDF-1.4".to_vec(), "application/pdf", Some("ls.pdf")),
        )
        .await
        .unwrap();
    tokio::time::timeout(WAIT, proxy.answer_lost())
        .await
        .expect("the upload went out");
    let store = &h.bridge.store;
    wait_for("three failed attempts", 2 * WAIT, || async {
        let pending = store.threema_inbox_pending(0, 10).await.unwrap();
        pending
            .iter()
            .any(|item| item.message_id == file && item.attempts >= 3)
            .then_some(())
    })
    .await;
    // Back, and the Gateway fails the next download once: the file still comes.
    let failed = sim.metrics().count("blobs", 500);
    sim.inject_fault("blobs", Fault::status(500).times(1));
    proxy.pass();
    let event = desk.event(&room, &bridged.event_id_of(&file).await).await;
    assert_eq!(event["content"]["msgtype"], "m.file", "{event}");
    assert_eq!(event["content"]["body"], "ls.pdf");
    assert_eq!(
        sim.metrics().count("blobs", 500),
        failed + 1,
        "one download failed"
    );
    h.stop().await;
}
