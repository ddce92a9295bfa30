//! The real binary against a real Synapse: killed between acknowledging a transaction and
//! handling it, it handles every event exactly once after a restart. Its logs hold no secret.

use crate::common;

use std::time::Duration;

use common::{
    bridge::{GATEWAY_ID, GATEWAY_SECRET, Process, TestConfig},
    db::TestDb,
    synapse::{self, wait_for},
    threema::bridge_public_key,
};
use sqlx::{Connection, Row, SqliteConnection};
use threema_gateway_sim::{SimConfig, Simulator};

const WAIT: Duration = Duration::from_secs(60);

/// (stored, handled) counts of the inbox rows with these keys, read from the bridge's database.
async fn inbox_state(db_url: &str, keys: &[String]) -> (usize, usize) {
    let mut conn = SqliteConnection::connect(db_url).await.unwrap();
    let (mut stored, mut handled) = (0, 0);
    for key in keys {
        let rows = sqlx::query("SELECT processed_at FROM matrix_inbox WHERE dedup_key = $1")
            .bind(key)
            .fetch_all(&mut conn)
            .await
            .unwrap();
        assert!(rows.len() <= 1, "{key} stored {} times", rows.len());
        stored += rows.len();
        handled += rows
            .iter()
            .filter(|r| r.get::<Option<i64>, _>("processed_at").is_some())
            .count();
    }
    (stored, handled)
}

async fn invites_stored(db_url: &str, room_id: &str) -> i64 {
    let mut conn = SqliteConnection::connect(db_url).await.unwrap();
    sqlx::query("SELECT COUNT(*) AS n FROM matrix_inbox WHERE room_id = $1 AND event_type = 'm.room.member'")
        .bind(room_id)
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get("n")
}

fn handled_lines(log: &str, key: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("handled inbox item") && l.contains(key))
        .count()
}

#[tokio::test]
async fn sigkill_after_ack_handles_each_event_exactly_once_after_restart() {
    let guard = synapse::acquire().await;
    let hs = guard.synapse;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();

    // The Gateway (simulator) sees the bridge's credit checks: requests that carry the API
    // secret in their query string, so the logs below are checked with Gateway traffic in them.
    let mut config = TestConfig::new(db.url());
    let bridge_key = bridge_public_key(&config.private_key);
    let sim_config = SimConfig::new(GATEWAY_ID, GATEWAY_SECRET, *bridge_key.as_bytes());
    let sim = Simulator::start(
        sim_config,
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let gateway_calls = |n: u64| {
        let sim = sim.clone();
        async move {
            wait_for("the bridge to read its credits", WAIT, || async {
                (sim.metrics().count("credits", 200) >= n).then_some(())
            })
            .await
        }
    };

    // First run: transactions are acknowledged and stored, but no worker handles them.
    config.gateway_url = sim.base_url();
    config.inbox_workers = 0;
    let config_path = config.write(dir.path(), hs);
    let first = Process::start(&config_path, dir.path().join("first.log")).await;
    gateway_calls(1).await;

    // Synapse pushes a room's messages once one of our users is in it: the bot joins `room` as
    // setup. The invite to `other_room` stays pending with the messages.
    let alice = hs.new_user("alice").await;
    let bot = format!("@threemabot:{}", synapse::DOMAIN);
    let room = alice.create_room(&[]).await;
    alice.invite(&room, &bot).await;
    hs.appservice_join(&room, &bot).await;
    let other_room = alice.create_room(&[&bot]).await;
    let mut keys = Vec::new();
    for n in 0..3 {
        keys.push(alice.send_text(&room, &format!("message {n}")).await);
    }
    // Synapse has had its 200 for every event once they are all in the bridge's database.
    wait_for("the events to be stored", WAIT, || async {
        let invite_stored = invites_stored(db.url(), &other_room).await == 1;
        (invite_stored && inbox_state(db.url(), &keys).await == (3, 0)).then_some(())
    })
    .await;
    assert!(
        !alice.joined_members(&other_room).await.contains(&bot),
        "no worker ran, so the bot has not joined"
    );
    first.kill();

    // Second run with workers: everything stored is handled, once.
    config.inbox_workers = 4;
    let config_path = config.write(dir.path(), hs);
    let second = Process::start(&config_path, dir.path().join("second.log")).await;
    gateway_calls(2).await;
    wait_for("the stored events to be handled", WAIT, || async {
        (inbox_state(db.url(), &keys).await == (3, 3)).then_some(())
    })
    .await;
    wait_for("the bot to join (the invite was handled)", WAIT, || async {
        alice
            .joined_members(&other_room)
            .await
            .contains(&bot)
            .then_some(())
    })
    .await;
    // Ordering within the room: messages in sending order (the lines come just after the
    // rows are marked).
    let log = wait_for("the handled events' log lines", WAIT, || async {
        let log = second.log_text();
        keys.iter()
            .all(|key| handled_lines(&log, key) >= 1)
            .then_some(log)
    })
    .await;
    for key in &keys {
        assert_eq!(handled_lines(&log, key), 1, "{key} handled once in:\n{log}");
    }
    let positions: Vec<usize> = keys
        .iter()
        .map(|k| log.find(&format!("key={k}")).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "handled in order"
    );

    // A message while running is handled too; then a clean stop.
    keys.push(alice.send_text(&room, "after restart").await);
    wait_for("the new message to be handled", WAIT, || async {
        (inbox_state(db.url(), &keys).await == (4, 4)).then_some(())
    })
    .await;
    assert!(
        second.terminate().success(),
        "SIGTERM stops the bridge cleanly"
    );

    // Third run: nothing is handled again.
    let third = Process::start(&config_path, dir.path().join("third.log")).await;
    gateway_calls(3).await;
    // One full round trip through Synapse proves the bridge is up and draining.
    let marker = alice.send_text(&room, "marker").await;
    let marker_keys = vec![marker.clone()];
    wait_for("the marker to be handled", WAIT, || async {
        (inbox_state(db.url(), &marker_keys).await == (1, 1)).then_some(())
    })
    .await;
    // The row is marked before the line is logged: wait for the line too.
    let log = wait_for("the marker's log line", WAIT, || async {
        let log = third.log_text();
        (handled_lines(&log, &marker) == 1).then_some(log)
    })
    .await;
    for key in &keys {
        assert_eq!(
            handled_lines(&log, key),
            0,
            "{key} handled again after restart:\n{log}"
        );
    }

    // No secret in any of the logs (debug level everywhere).
    let (as_token, hs_token) = hs.tokens();
    for name in ["first.log", "second.log", "third.log"] {
        let text = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(
            text.contains("homeserver reaches the bridge"),
            "{name} is a real log:\n{text}"
        );
        for (what, secret) in [
            ("as_token", &as_token),
            ("hs_token", &hs_token),
            ("gateway secret", &GATEWAY_SECRET.to_owned()),
            ("private key", &config.private_key),
        ] {
            assert!(!text.contains(secret.as_str()), "{what} in {name}");
        }
    }
    third.terminate();
}
