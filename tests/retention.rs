//! `retention run`: history cut by the events' own dates on the real Synapse (bridged events
//! carry the Threema date), the bridge's rows past their periods, legal holds respected, and a
//! dry run that changes nothing.

use crate::common;

use std::{path::Path, time::Duration};

use common::{
    bridge::Harness,
    db::TestDb,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart},
    threema::add_phone,
};
use serde_json::Value;
use sqlx::Connection;
use threema_gateway_sim::{Behaviour, UserMessage};

const WAIT: Duration = Duration::from_secs(60);
const DAY_MS: i64 = 86_400_000;

fn cli(config: &Path, args: &[&str]) -> (i32, String, String) {
    common::bridge::run_cli(config, args, &[("USER", "dpo")])
}

/// The bodies of the room's messages as the homeserver has them (the bot reads).
async fn bodies(h: &Harness, room: &str) -> Vec<String> {
    h.synapse
        .appservice_bot()
        .timeline(room)
        .await
        .iter()
        .filter_map(|e: &Value| e["content"]["body"].as_str().map(str::to_owned))
        .collect()
}

/// Numbers a dry run must leave as they are, and a real run changes.
async fn counts(url: &str, driver: &str) -> (i64, i64, i64) {
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let payloads: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM threema_outbox WHERE recipient = $1 AND payload <> ''",
    )
    .bind(driver)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let inbox: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM threema_inbox WHERE sender = $1")
        .bind(driver)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let audit: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (payloads, inbox, audit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_run_cuts_old_history_by_its_own_dates_and_keeps_what_is_held_sqlite() {
    old_history_goes_and_held_history_stays(TestDb::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_run_cuts_old_history_by_its_own_dates_and_keeps_what_is_held_postgres() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    old_history_goes_and_held_history_stays(db).await;
}

async fn old_history_goes_and_held_history_stays(db: TestDb) {
    sqlx::any::install_default_drivers();
    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let url = db.url().to_owned();
    let (h, sim) = Harness::with_simulator_on(db, |c| {
        c.dispatchers = vec![desk_id.clone()];
        c.bridge_extra = format!("  permissions:\n    \"{desk_id}\": admin");
        c.with_synapse_admin();
        c.sections.push_str(
            "retention:\n  history_days: 30\n  media_days: 10\n  outbox_days: 90\n  \
             delivery_times_days: 30\n  audit_days: 30\n  room_state: true\n",
        );
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let alice = add_phone(&sim, 'R', "Rita Retention", Behaviour::silent());
    let held = add_phone(&sim, 'H', "Hanna Hold", Behaviour::silent());

    // A year ago (by the phones' dates): texts and a photo.
    sim.set_clock_behind(Duration::from_secs(400 * 86_400));
    sim.send_from_user(&alice, UserMessage::text("alt eins"))
        .await
        .unwrap();
    let room = desk.wait_invite(WAIT).await;
    desk.join(&room).await;
    sim.send_from_user(
        &alice,
        UserMessage::file(vec![7u8; 4_000], "image/jpeg", Some("alt.jpg")),
    )
    .await
    .unwrap();
    sim.send_from_user(&alice, UserMessage::text("alt zwei"))
        .await
        .unwrap();
    sim.send_from_user(&held, UserMessage::text("alt gehalten"))
        .await
        .unwrap();
    let held_room = desk.wait_invite(WAIT).await;
    desk.join(&held_room).await;
    // Three weeks ago: a photo whose message stays (history_days) but whose file goes
    // (media_days).
    sim.set_clock_behind(Duration::from_secs(20 * 86_400));
    sim.send_from_user(
        &alice,
        UserMessage::file(vec![9u8; 3_000], "image/jpeg", Some("mittel.jpg")),
    )
    .await
    .unwrap();
    // Today.
    sim.set_clock_behind(Duration::ZERO);
    sim.send_from_user(&alice, UserMessage::text("neu"))
        .await
        .unwrap();
    let messages = desk.wait_messages(&room, 5, WAIT).await;
    let url_of = |n: usize| {
        messages[n]["content"]["url"]
            .as_str()
            .expect("a photo")
            .to_owned()
    };
    let (photo, recent_photo) = (url_of(1), url_of(3));
    desk.send_text(&room, "Antwort").await;
    sim.wait_inbox(&alice, 1, WAIT).await;
    desk.wait_messages(&held_room, 1, WAIT).await;
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);
    // A hold on her, since released: its two audit entries are past audit_days below, and
    // go.
    for args in [
        &["gdpr", "hold", "set", &alice, "--reason", "Prüfung"][..],
        &["gdpr", "hold", "release", &alice][..],
    ] {
        let (code, _, err) = cli(&config, args);
        assert_eq!(code, 0, "{err}");
    }
    // The hold in force comes last: pruning takes only a prefix of the chain, up to the first
    // entry about what is held.
    let (code, _, err) = cli(
        &config,
        &["gdpr", "hold", "set", &held, "--reason", "Streitfall"],
    );
    assert_eq!(code, 0, "{err}");

    // The bridge's rows past their periods: the send 100 days ago, the callbacks 20, the audit
    // (the hold's entry included) 40.
    {
        let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
        sqlx::query("UPDATE threema_outbox SET processed_at = processed_at - $1")
            .bind(100 * DAY_MS)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE threema_inbox SET processed_at = processed_at - $1")
            .bind(20 * DAY_MS)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    common::audit::backdate(&url, 40 * DAY_MS).await;
    // Everything before the held driver's entry goes.
    let all = h.bridge.store.audit_recent(None, 100).await.unwrap();
    let held_entry = all.iter().find(|e| e.subject == held).unwrap().seq;
    let prunable = all.iter().filter(|e| e.seq < held_entry).count();
    assert!(prunable >= 3, "{all:?}");
    let before = bodies(&h, &room).await;
    for text in ["alt eins", "alt zwei", "neu", "Antwort"] {
        assert!(before.iter().any(|b| b == text), "{text}: {before:?}");
    }
    let media_status = |uri: &str| {
        let path = uri.strip_prefix("mxc://").unwrap().to_owned();
        let request = reqwest::Client::new()
            .get(format!(
                "{}/_matrix/client/v1/media/download/{path}",
                h.synapse.url
            ))
            .bearer_auth(&h.synapse.admin_token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let both_files = || async {
        (
            media_status(&photo).await,
            media_status(&recent_photo).await,
        )
    };
    assert_eq!(both_files().await, (200, 200));
    let counted = counts(&url, &alice).await;
    assert_eq!(counted.0, 1, "the answer's text is kept with its send");
    let held_before = counts(&url, &held).await.1;

    // A dry run says what would go and changes nothing.
    let (code, out, err) = cli(&config, &["retention", "run", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("3 event(s) and 1 medi(a) in 1 portal(s) would go"),
        "{out}"
    );
    assert!(out.contains("kept by a legal hold: 1 portal(s)"), "{out}");
    assert!(
        out.contains("the delivery times of 1 send(s) would go"),
        "{out}"
    );
    assert!(out.contains("1 file(s) past media_days would go"), "{out}");
    assert!(
        out.contains(&format!("{prunable} audit entr(ies) would go")),
        "the released hold's and those before, not the one in force: {out}"
    );
    // The same for an admin in the management room.
    let dm = desk.management_room().await;
    let answer = desk.ask(&dm, "retention run --dry-run").await;
    assert!(
        answer.contains("3 event(s) and 1 medi(a) in 1 portal(s) would go"),
        "{answer}"
    );
    assert_eq!(bodies(&h, &room).await, before);
    let (payloads, inbox, audit) = counts(&url, &alice).await;
    assert_eq!((payloads, inbox), (counted.0, counted.1));
    assert_eq!(audit, counted.2 + 1, "only the admin's command is recorded");
    assert_eq!(both_files().await, (200, 200));

    let (code, out, err) = cli(&config, &["retention", "run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("3 event(s) and 1 medi(a) in 1 portal(s) gone"),
        "{out}"
    );
    let after = bodies(&h, &room).await;
    assert!(
        !after.iter().any(|b| b.starts_with("alt")),
        "old history stays: {after:?}"
    );
    for text in ["neu", "Antwort"] {
        assert!(after.iter().any(|b| b == text), "{text} gone: {after:?}");
    }
    assert_eq!(
        both_files().await,
        (404, 404),
        "the old photo's file with its message, the three-week-old one's past media_days"
    );
    assert!(
        after.iter().any(|b| b == "mittel.jpg"),
        "the three-week-old photo's message stays: {after:?}"
    );
    assert!(
        bodies(&h, &held_room)
            .await
            .iter()
            .any(|b| b == "alt gehalten"),
        "the held portal keeps everything"
    );
    let (payloads, inbox, audit) = counts(&url, &alice).await;
    assert_eq!(payloads, 0, "the answer's text past outbox_days");
    // When it was sent is forgotten, that it was sent is not.
    let sends = h.bridge.store.outbox_of(Some(&alice), None).await.unwrap();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].status.sent_at, Some(0), "{:?}", sends[0].status);
    assert_eq!(sends[0].state.as_str(), "sent");
    assert!(inbox < counted.1, "callbacks past inbox_days: {inbox}");
    assert_eq!(
        counts(&url, &held).await.1,
        held_before,
        "the held driver's"
    );
    // The period shown on the portal, not on the held one.
    let shown = desk.state(&room, "m.room.retention", "").await;
    assert_eq!(shown["max_lifetime"], 30 * DAY_MS, "{shown}");
    let held_state = desk.all_state(&held_room).await;
    assert!(
        !held_state.iter().any(|e| e["type"] == "m.room.retention"),
        "the held portal is left as it is"
    );
    // The audit past audit_days is gone from its start to the hold's entry; the rest of the
    // chain still verifies from the recorded start; the run is audited.
    let old_audit: Vec<String> = (h.bridge.store.audit_recent(None, 100).await.unwrap())
        .into_iter()
        .filter(|e| e.at < threema_bridge::store::now_ms() - 30 * DAY_MS)
        .map(|e| e.subject)
        .collect();
    assert_eq!(
        old_audit,
        vec![held.clone()],
        "{old_audit:?} ({audit} in all)"
    );
    let (code, out, err) = cli(&config, &["audit", "verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("the chain starts at entry {held_entry}")),
        "{out}"
    );
    let recent = h.bridge.store.audit_recent(None, 5).await.unwrap();
    assert!(recent.iter().any(|e| e.action == "retention.run"));

    // A second run finds nothing more; the newest event stays whatever its age.
    let (code, out, _) = cli(&config, &["retention", "run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 event(s) and 0 medi(a) in 0 portal(s) gone"),
        "{out}"
    );
    h.stop().await;
}
