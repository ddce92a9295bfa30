//! Broadcast fan-out: the time from the dispatcher's 👍 to the last phone holding the message,
//! and the bridge's CPU time per recipient (its portal copy, its Threema message, the phone's
//! delivery receipt). Against the stand-in homeserver (250 to 5,000 portals are beyond what one
//! Synapse here creates in a bench run) and the simulator with its rate limit off. The Matrix
//! side is driven as the homeserver would: appservice transactions pushed to the bridge.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{Connection, Row, SqliteConnection};
use threema_bridge::store::Store;
use threema_gateway_sim::{Decoded, Simulator};
use tokio::time::Instant;

use super::{
    DOMAIN, Fleet, PATIENCE, Process, StandIn, Table, bench_config, common::synapse::Synapse,
    directory_sync, log_filter, measure::Cpu, simulator, sqlite_in, work_dir,
};

/// Pushes `events` to the bridge as one appservice transaction.
async fn push(bridge: &Process, hs_token: &str, txn: &str, events: Vec<Value>) {
    let response = reqwest::Client::new()
        .put(format!(
            "{}/_matrix/app/v1/transactions/{txn}",
            bridge.base_url
        ))
        .bearer_auth(hs_token)
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "transaction {txn}: {}",
        response.status()
    );
}

fn event(kind: &str, id: &str, room: &str, sender: &str, content: Value) -> Value {
    json!({
        "type": kind,
        "event_id": id,
        "room_id": room,
        "sender": sender,
        "origin_server_ts": 0,
        "content": content,
    })
}

fn has_text(sim: &Simulator, phone: &str, text: &str) -> bool {
    sim.inbox(phone)
        .iter()
        .any(|m| matches!(&m.message, Decoded::Text(t) if t.contains(text)))
}

async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE * 10;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: gave up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One row per size in `sizes`.
pub async fn fanout_rows(hs: &Synapse, sizes: &[usize], table: &mut Table) {
    let registration: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&hs.registration).unwrap()).unwrap();
    let bot_localpart = registration["sender_localpart"].as_str().unwrap();
    let bot = format!("@{bot_localpart}:{DOMAIN}");
    let hs_token = registration["hs_token"].as_str().unwrap().to_owned();
    for &n in sizes {
        eprintln!("== broadcast fan-out to {n} drivers, stand-in homeserver, SQLite");
        let stand_in = StandIn::start(DOMAIN, bot_localpart).await;
        let dir = work_dir();
        let db = sqlite_in(&dir);
        let desk = format!("@bench-desk:{DOMAIN}");
        let mut config = bench_config(&db, &desk);
        config.sections.push_str("broadcast:\n  concurrency: 16\n");
        let sim = simulator(&mut config).await;
        let fleet = Fleet::new(&sim, n, dir.path(), &desk);
        config.directory = fleet.directory_config(0);
        let config_path = config.write_for(dir.path(), &stand_in.url, hs);
        directory_sync(&config_path);
        let bridge =
            Process::start_logging(&config_path, dir.path().join("bridge.log"), &log_filter())
                .await;
        let store = Store::connect(&db, 2).await.unwrap();

        // The desk's DM with the bot, `broadcast all`, then a message in the new room.
        let dm = format!("!bench-dm:{DOMAIN}");
        push(
            &bridge,
            &hs_token,
            "1",
            vec![json!({
                "type": "m.room.member", "event_id": "$invite", "room_id": dm, "sender": desk,
                "state_key": bot, "origin_server_ts": 0, "content": {"membership": "invite"},
            })],
        )
        .await;
        push(
            &bridge,
            &hs_token,
            "2",
            vec![event(
                "m.room.message",
                "$command",
                &dm,
                &desk,
                json!({"msgtype": "m.text", "body": "broadcast all"}),
            )],
        )
        .await;
        let room = until("the broadcast room", async || broadcast_room(&db).await).await;
        let text = format!("Bench broadcast to {n}");
        push(
            &bridge,
            &hs_token,
            "3",
            vec![event(
                "m.room.message",
                "$broadcast",
                &room,
                &desk,
                json!({"msgtype": "m.text", "body": text}),
            )],
        )
        .await;
        until("the preview", async || {
            store
                .broadcast_get("$broadcast")
                .await
                .unwrap()?
                .board_event
        })
        .await;

        let cpu_before = Cpu::now(bridge.pid());
        let started = Instant::now();
        push(&bridge, &hs_token, "4", vec![event(
            "m.reaction", "$confirm", &room, &desk,
            json!({"m.relates_to": {"rel_type": "m.annotation", "event_id": "$broadcast", "key": "👍"}}),
        )]).await;
        until("every phone", async || {
            fleet
                .drivers
                .iter()
                .all(|p| has_text(&sim, p, &text))
                .then_some(())
        })
        .await;
        let fanned_out = started.elapsed();
        until("every receipt", async || {
            let rows = store.broadcast_report("$broadcast").await.unwrap();
            let received = rows
                .iter()
                .filter(|r| r.send.as_ref().is_some_and(|s| s.received_at.is_some()))
                .count();
            (received == n).then_some(())
        })
        .await;
        let with_receipts = started.elapsed();
        let cpu = Cpu::now(bridge.pid()).per_message_since(cpu_before, n);
        table.row(
            &format!("broadcast fan-out, {n} recipients, SQLite (stand-in homeserver)"),
            format!(
                "{:.1} s to the last phone ({:.0} recipients/s); {:.1} s until every receipt is in",
                fanned_out.as_secs_f64(),
                n as f64 / fanned_out.as_secs_f64(),
                with_receipts.as_secs_f64()
            ),
            "from the 👍 (simulator rate limit off, broadcast.concurrency 16)",
        );
        table.row(
            &format!("bridge CPU per broadcast recipient, {n} recipients"),
            cpu,
            "portal copy + Threema message + its delivery receipt",
        );
        bridge.terminate();
    }
}

async fn broadcast_room(db: &str) -> Option<String> {
    let mut conn = SqliteConnection::connect(db).await.ok()?;
    sqlx::query("SELECT room_id FROM broadcast_room")
        .fetch_optional(&mut conn)
        .await
        .ok()?
        .map(|row| row.get("room_id"))
}
