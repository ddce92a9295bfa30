//! The audit trail from outside: `audit verify` on a chain the bridge's own commands wrote,
//! after tampering of every kind, with writers in separate processes, checkpoints from another
//! key and a database older than its newest checkpoint; erasure shreds without breaking the
//! chain. SQLite and PostgreSQL alike.

use crate::common;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use common::db::TestDb;
use sqlx::{Connection, Row};
use threema_bridge::{
    registration::Registration,
    store::{ErasureTarget, Store, UNREADABLE},
};

/// Runs each test once on SQLite and once on PostgreSQL.
macro_rules! on_both_databases {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let db = super::TestDb::sqlite();
                super::$test(db.url()).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let Some(db) = super::TestDb::postgres().await else { return };
                super::$test(db.url()).await;
                db.cleanup().await;
            })*
        }
    };
}

on_both_databases!(
    a_changed_byte_in_any_column_fails_verify_at_that_entry,
    a_deleted_entry_is_a_gap_and_a_cut_tail_is_caught,
    eight_processes_writing_at_once_leave_one_chain,
    checkpoints_catch_another_key_a_rewrite_and_an_older_database,
    an_erased_persons_entries_stay_in_the_chain_unreadable,
    entries_from_before_the_chain_are_moved_into_it_at_the_next_start,
    a_start_moved_by_hand_and_a_row_past_the_end_are_caught,
    pruning_records_the_new_start_and_the_rest_still_verifies,
);

/// A config for the store-only commands (no homeserver is contacted), with a checkpoint key.
struct Setup {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
}

impl Setup {
    fn new(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        let domain = ruma::ServerName::parse("dispatch.test").unwrap();
        Registration::generate("threema", "http://127.0.0.1:9", &domain)
            .write(&path.join("registration.yaml"))
            .unwrap();
        let config = Self::write_config(&path, "config.yaml", url, "audit.key");
        let setup = Setup {
            _dir: dir,
            dir: path,
            config,
        };
        let (code, out, err) = setup.run(&["audit", "keygen"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("public key"), "{out}");
        // Made and migrated by one process first: the writers below race for the chain, not
        // for the schema.
        setup.assert_ok(0);
        setup
    }

    fn write_config(dir: &Path, name: &str, url: &str, key: &str) -> PathBuf {
        let yaml = format!(
            "homeserver: {{url: 'http://127.0.0.1:9', domain: dispatch.test}}\n\
             appservice: {{registration: registration.yaml, url: 'http://127.0.0.1:9'}}\n\
             threema: {{gateway_id: '*DISPTCH', secret: s3cret, private_key: '{}'}}\n\
             database: {{url: '{url}'}}\n\
             audit: {{signing_key_file: {key}, checkpoint_dir: checkpoints}}\n",
            "ab".repeat(32)
        );
        let path = dir.join(name);
        std::fs::write(&path, yaml).unwrap();
        path
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        common::bridge::run_cli(&self.config, args, &[("USER", "auditor")])
    }

    /// `audit verify`: (exit code, its output).
    fn verify(&self) -> (i32, String) {
        let (code, out, err) = self.run(&["audit", "verify"]);
        (code, format!("{out}{err}"))
    }

    /// One entry per command (a legal hold set on a made-up driver).
    fn write(&self, n: usize, tag: &str) {
        for i in 0..n {
            let id = format!("{tag}{i:04}");
            let (code, out, err) = self.run(&["gdpr", "hold", "set", &id, "--reason", "Prüfung"]);
            assert_eq!(code, 0, "{out}{err}");
        }
    }

    fn assert_ok(&self, entries: usize) {
        let (code, out) = self.verify();
        assert_eq!(code, 0, "{out}");
        assert!(
            out.starts_with(&format!("OK {entries} entries, head ")),
            "{out}"
        );
    }

    fn assert_fails(&self, expected: &str, why: &str) {
        let (code, out) = self.verify();
        assert_eq!(code, 2, "{why}: {out}");
        assert!(out.contains(expected), "{why}: {out}");
    }
}

async fn connect(url: &str) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    sqlx::AnyConnection::connect(url).await.unwrap()
}

async fn a_changed_byte_in_any_column_fails_verify_at_that_entry(url: &str) {
    let setup = Setup::new(url);
    setup.write(5, "TAMP");
    setup.assert_ok(5);
    let mut conn = connect(url).await;
    // Each text column of entry 3, one character changed, then put back.
    for (column, expected) in [
        ("action", "entry 3 does not match its hash"),
        ("actor_ref", "entry 3 does not match its hash"),
        ("actor", "entry 3 does not match its hash"),
        ("subject_ref", "entry 3 does not match its hash"),
        ("subject", "entry 3 does not match its hash"),
        ("details", "entry 3 does not match its hash"),
        ("leaf", "entry 3 does not match its hash"),
        ("head", "entry 3 does not follow from the entry before it"),
    ] {
        let original: String =
            sqlx::query_scalar(&format!("SELECT {column} FROM audit WHERE seq = 3"))
                .fetch_one(&mut conn)
                .await
                .unwrap();
        let mut flipped = original.clone().into_bytes();
        flipped[1] = if flipped[1] == b'a' { b'b' } else { b'a' };
        let flipped = String::from_utf8(flipped).unwrap();
        let set = format!("UPDATE audit SET {column} = $1 WHERE seq = 3");
        sqlx::query(&set)
            .bind(&flipped)
            .execute(&mut conn)
            .await
            .unwrap();
        setup.assert_fails(expected, column);
        sqlx::query(&set)
            .bind(&original)
            .execute(&mut conn)
            .await
            .unwrap();
        setup.assert_ok(5);
    }
    // The time, one millisecond off, then back.
    let shift = "UPDATE audit SET at = at + $1 WHERE seq = 3";
    sqlx::query(shift)
        .bind(1_i64)
        .execute(&mut conn)
        .await
        .unwrap();
    setup.assert_fails("entry 3 does not match its hash", "at");
    sqlx::query(shift)
        .bind(-1_i64)
        .execute(&mut conn)
        .await
        .unwrap();
    setup.assert_ok(5);
}

async fn a_deleted_entry_is_a_gap_and_a_cut_tail_is_caught(url: &str) {
    let setup = Setup::new(url);
    setup.write(5, "GAPS");
    let mut conn = connect(url).await;
    let row = sqlx::query("SELECT * FROM audit WHERE seq = 2")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let columns = [
        "seq",
        "at",
        "action",
        "actor_ref",
        "actor",
        "subject_ref",
        "subject",
        "details",
        "leaf",
        "head",
    ];
    sqlx::query("DELETE FROM audit WHERE seq = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    setup.assert_fails("entry 2 is missing", "a row deleted");
    // Put back as it was: whole again.
    let mut insert = sqlx::query(
        "INSERT INTO audit (seq, at, action, actor_ref, actor, subject_ref, subject, details, \
         leaf, head) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    );
    for column in columns {
        insert = match column {
            "seq" | "at" => insert.bind(row.get::<i64, _>(column)),
            _ => insert.bind(row.get::<String, _>(column)),
        };
    }
    insert.execute(&mut conn).await.unwrap();
    setup.assert_ok(5);
    // The newest entry deleted: the head row still counts it.
    sqlx::query("DELETE FROM audit WHERE seq = 5")
        .execute(&mut conn)
        .await
        .unwrap();
    setup.assert_fails("the chain ends at entry 4", "the last row deleted");
}

async fn eight_processes_writing_at_once_leave_one_chain(url: &str) {
    let setup = Setup::new(url);
    let bin = env!("CARGO_BIN_EXE_threema-bridge");
    let writers: Vec<_> = (0..8)
        .map(|p| {
            let script = format!(
                "for i in 1 2 3 4; do \"$0\" -c \"$1\" gdpr hold set P{p}00000$i --reason r \
                 >/dev/null || exit 1; done"
            );
            Command::new("sh")
                .args(["-c", &script, bin])
                .arg(&setup.config)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut writer in writers {
        assert!(writer.wait().unwrap().success());
    }
    setup.assert_ok(32);
    let mut conn = connect(url).await;
    let seqs: Vec<i64> = sqlx::query_scalar("SELECT seq FROM audit ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(seqs, (1..=32).collect::<Vec<i64>>());
}

async fn checkpoints_catch_another_key_a_rewrite_and_an_older_database(url: &str) {
    let setup = Setup::new(url);
    setup.write(3, "CKPT");
    let (code, out, err) = setup.run(&["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("checkpoint at entry 3"), "{out}");
    let (_, out) = setup.verify();
    assert!(!out.contains("last checkpoint none"), "{out}");
    let files = std::fs::read_dir(setup.dir.join("checkpoints"))
        .unwrap()
        .count();
    assert_eq!(files, 1);

    // A database as a backup from before the newest checkpoint would have it: the newest
    // entries gone, the head row back where it was.
    let mut conn = connect(url).await;
    let (seq, head): (i64, String) = sqlx::query_as("SELECT seq, head FROM audit_head")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    setup.write(2, "NEWR");
    setup.run(&["audit", "checkpoint"]);
    setup.assert_ok(5);
    sqlx::query("DELETE FROM audit WHERE seq > $1")
        .bind(seq)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_head SET seq = $1, head = $2")
        .bind(seq)
        .bind(&head)
        .execute(&mut conn)
        .await
        .unwrap();
    setup.assert_fails(
        "the checkpoint covers entry 5, the database ends at entry 3",
        "restored from an older backup",
    );
    // The bridge signs nothing over it: the newer checkpoint would be buried.
    let (code, _, err) = setup.run(&["audit", "checkpoint"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("before the newest checkpoint's entry 5"),
        "{err}"
    );
    for file in std::fs::read_dir(setup.dir.join("checkpoints")).unwrap() {
        let path = file.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("checkpoint-000000000005-")
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    setup.assert_ok(3);

    // The chain rewritten consistently (every hash recomputed): only the checkpoint sees it.
    common::audit::backdate(url, 1).await;
    setup.assert_fails("the chain was rewritten", "rewritten with its hashes");
    common::audit::backdate(url, -1).await;
    setup.assert_ok(3);

    // A checkpoint signed by another key, in the same folder.
    let other = Setup::write_config(&setup.dir, "other.yaml", url, "other.key");
    let run_other = |args: &[&str]| common::bridge::run_cli(&other, args, &[]);
    assert_eq!(run_other(&["audit", "keygen"]).0, 0);
    setup.write(1, "MORE");
    let (code, out, err) = run_other(&["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    setup.assert_fails("is signed by another key", "another key");
}

async fn an_erased_persons_entries_stay_in_the_chain_unreadable(url: &str) {
    let store = Store::connect(url, 2).await.unwrap();
    let driver = "ERAS1234";
    let other = "KEEP1234";
    for (subject, details) in [
        (driver, "Hold gesetzt: Streitfall Müller"),
        (other, "directory: added"),
        (driver, "key accepted"),
    ] {
        store
            .audit("@desk:dispatch.test", "test.entry", subject, details)
            .await
            .unwrap();
    }
    let target = ErasureTarget {
        threema_id: driver.into(),
        ghost: format!("@threema_{}:dispatch.test", driver.to_lowercase()),
        room: None,
        employee_id: None,
        names: Vec::new(),
    };
    let rows = store.erase_driver(&target, false).await.unwrap();
    assert_eq!(rows.get("audit_key"), Some(&1), "{rows:?}");

    // Her ID leads to nothing any more; her entries are still there, unreadable.
    assert!(
        store
            .audit_recent(Some(driver), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.audit_recent(None, 10).await.unwrap();
    let unreadable: Vec<_> = all.iter().filter(|e| e.subject == UNREADABLE).collect();
    assert_eq!(unreadable.len(), 2, "{all:?}");
    for entry in unreadable {
        assert_eq!(entry.details, UNREADABLE);
        // The actor is someone else, still readable.
        assert_eq!(entry.actor, "@desk:dispatch.test");
    }
    let kept = store.audit_recent(Some(other), 10).await.unwrap();
    assert_eq!(kept[0].details, "directory: added");
    // Nothing of the erased person is left in the rows in the clear.
    let mut conn = connect(url).await;
    let rows = sqlx::query("SELECT subject, details FROM audit")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for row in rows {
        for column in ["subject", "details"] {
            let value: String = row.get(column);
            assert!(!value.contains(driver) && !value.contains("Müller"));
        }
    }
    let walked = store.audit_walk(&Default::default()).await.unwrap();
    assert_eq!(walked.result.unwrap().entries, 3);

    // An entry about her after the erasure gets a key of its own and is readable; so does one
    // whose actor is its subject, both new to the trail.
    let me = "@self:dispatch.test";
    for (actor, subject, details) in [("@desk:dispatch.test", driver, "after"), (me, me, "own")] {
        store
            .audit(actor, "test.entry", subject, details)
            .await
            .unwrap();
    }
    let after = store.audit_recent(Some(driver), 10).await.unwrap();
    let after: Vec<_> = after.iter().map(|e| e.details.as_str()).collect();
    assert_eq!(after, ["after"]);
    let own = &store.audit_recent(Some(me), 10).await.unwrap()[0];
    assert_eq!((own.actor.as_str(), own.subject.as_str()), (me, me));
    assert_eq!(own.details, "own");
    let walked = store.audit_walk(&Default::default()).await.unwrap();
    assert_eq!(walked.result.unwrap().entries, 5);
    store.close().await;
}

/// End to end: a dispatcher's message, a broadcast, a `status` look and a directory change
/// each appear once in the trail with the right actor; a broadcast's copies add no entry of
/// their own; `audit show` prints them and the chain verifies.
// The command-line calls below block the test's thread: the bridge runs on the workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_a_broadcast_a_status_look_and_a_directory_change_are_audited_once() {
    use crate::broadcasts::{broadcast, open_broadcast, reader};
    use common::{
        bridge::Harness,
        dispatcher::Dispatcher,
        synapse::{DOMAIN, unique_localpart, wait_for},
        threema::add_phone,
    };
    use threema_bridge::bridge::directory::SyncOptions;
    use threema_gateway_sim::UserMessage;
    const WAIT: std::time::Duration = std::time::Duration::from_secs(60);

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("directory.csv");
    let desk_localpart = unique_localpart("desk");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let employee = format!("E{}", hex::encode(rand::random::<[u8; 3]>()));
    let write_csv = |driver: &str, name: &str| {
        let text = format!(
            "employee_id,display_name,role,active,threema_id,matrix_id\n\
             {employee},{name},driver,true,{driver},\n\
             D{employee},Anna Audit,dispatcher,true,,{desk_id}\n"
        );
        std::fs::write(&csv, text).unwrap();
    };
    let mut driver = String::new();
    let key_file = dir.path().join("audit.key");
    let checkpoints = dir.path().join("checkpoints");
    threema_bridge::audit::SigningKey::generate()
        .write_new(&key_file)
        .unwrap();
    let (h, sim) = Harness::with_simulator(|c| {
        c.sections = format!(
            "broadcast:\n  board_interval_ms: 300\naudit:\n  signing_key_file: {}\n  \
             checkpoint_dir: {}\n",
            key_file.display(),
            checkpoints.display()
        );
        c.bridge_extra = format!("  permissions:\n    \"{desk_id}\": admin");
        c.directory = format!(
            "  csv: {}\n  check_seconds: 3600\n  sync_interval_seconds: 0\n",
            csv.display()
        );
    })
    .await;
    driver.push_str(&add_phone(&sim, 'A', "Anton Audit", reader()));
    write_csv(&driver, "Anton Audit");
    let sync = async || {
        (h.bridge.directory)
            .sync(SyncOptions::default())
            .await
            .expect("sync runs");
    };
    sync().await;
    let store = &h.bridge.store;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Anna Audit").await;

    sim.send_from_user(&driver, UserMessage::text("Bin da"))
        .await
        .unwrap();
    // The directory invites to its space too: the portal is the driver's.
    let room = wait_for("the portal", WAIT, || async {
        store.portal_by_threema_id(&driver).await.unwrap()
    })
    .await
    .room_id
    .to_string();
    desk.join(&room).await;
    desk.wait_messages(&room, 1, WAIT).await;
    let answer = desk.send_text(&room, "Danke, fahr los").await;
    let dm = desk.management_room().await;
    let (_, broadcast_room) = open_broadcast(&desk, &dm, "all").await;
    let (broadcast_event, _, _) = broadcast(&desk, &broadcast_room, "Depot zu ab 18 Uhr").await;
    wait_for("both sent", WAIT, || async {
        let sent = (store.outbox_of(Some(&driver), None).await.unwrap())
            .iter()
            .filter(|r| r.threema_message_id.is_some())
            .count();
        (sent >= 2).then_some(())
    })
    .await;
    let link = format!("https://matrix.to/#/{room}/{answer}?via={DOMAIN}");
    let status = desk.ask(&dm, &format!("status {link}")).await;
    assert!(status.contains("Anton Audit"), "{status}");
    write_csv(&driver, "Anton Audit-Neu");
    sync().await;

    let entries = store.audit_show(None, 0, 1000).await.unwrap();
    let once = |action: &str, subject: &str| {
        let found: Vec<_> = (entries.iter())
            .filter(|e| e.action == action && e.subject == subject)
            .collect();
        assert_eq!(found.len(), 1, "{action} {subject}: {entries:#?}");
        found[0].clone()
    };
    let sent = once("message.sent", &driver);
    assert_eq!(sent.actor, desk_id);
    assert!(sent.details.contains(&answer), "{}", sent.details);
    assert!(!sent.details.contains("fahr los"), "never the text itself");
    let started = once("broadcast.started", &broadcast_room);
    assert_eq!(started.actor, desk_id);
    assert!(
        started.details.contains("1 recipient(s)"),
        "{}",
        started.details
    );
    assert!(started.details.contains(&broadcast_event));
    let looked = once("status.viewed", &answer);
    assert_eq!(looked.actor, desk_id);
    let changed = once("directory.changed", &employee);
    assert!(changed.actor.starts_with("directory"), "{changed:?}");
    assert_eq!(
        (entries.iter())
            .filter(|e| e.action == "message.sent")
            .count(),
        1,
        "the broadcast's copy adds no entry: {entries:#?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.action == "bridge.started" && e.details.contains("configuration sha256"))
    );

    let config_dir = tempfile::tempdir().unwrap();
    let config = h.config.write(config_dir.path(), h.synapse);
    let (code, out, err) = common::bridge::run_cli(&config, &["audit", "show", &driver], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("{desk_id} message.sent {driver}")),
        "{out}"
    );
    // The checkpoint taken at start: in the folder, and posted in the admins' audit room.
    let (code, out, err) = common::bridge::run_cli(&config, &["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("last checkpoint none"), "{out}");
    let audit_room = wait_for("the audit room", WAIT, || async {
        store.state_get("audit_room").await.unwrap()
    })
    .await;
    desk.join(&audit_room).await;
    let file = std::fs::read_dir(&checkpoints)
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let written = std::fs::read_to_string(file.path()).unwrap();
    // This checkpoint's message (a homeserver used before keeps the bot's room, and the
    // checkpoints posted there then).
    let posted = desk
        .wait_message(&audit_room, "the checkpoint posted", |m| {
            m["content"]["body"]
                .as_str()
                .is_some_and(|b| b.ends_with(&written))
        })
        .await;
    let body = posted["content"]["body"].as_str().unwrap();
    assert!(body.starts_with("Audit checkpoint: entry "), "{body}");
    h.stop().await;
}

async fn entries_from_before_the_chain_are_moved_into_it_at_the_next_start(url: &str) {
    // A database as the migration leaves one whose audit had entries: they wait in
    // `audit_legacy` for the bridge, which has the key.
    let store = Store::connect(url, 2).await.unwrap();
    store
        .audit("bridge", "first", "ECHO1234", "a")
        .await
        .unwrap();
    store.close().await;
    let mut conn = connect(url).await;
    for (at, subject) in [(1_000_i64, "OLD00001"), (2_000, "OLD00002")] {
        sqlx::query(
            "INSERT INTO audit_legacy (at, actor, action, subject, details) \
             VALUES ($1, 'directory:csv', 'directory.added', $2, 'added')",
        )
        .bind(at)
        .bind(subject)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let store = Store::connect(url, 2).await.unwrap();
    let entries = store.audit_recent(None, 10).await.unwrap();
    let seen: Vec<(i64, &str)> = entries
        .iter()
        .map(|e| (e.seq, e.subject.as_str()))
        .collect();
    assert_eq!(seen, [(3, "OLD00002"), (2, "OLD00001"), (1, "ECHO1234")]);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_legacy")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(
        store
            .audit_walk(&Default::default())
            .await
            .unwrap()
            .result
            .unwrap()
            .entries,
        3
    );
    store.close().await;
}

async fn a_start_moved_by_hand_and_a_row_past_the_end_are_caught(url: &str) {
    let setup = Setup::new(url);
    setup.write(4, "ENDS");
    let mut conn = connect(url).await;
    // A row added after the recorded end (a copy of entry 4 as entry 9).
    sqlx::query(
        "INSERT INTO audit (seq, at, action, actor_ref, actor, subject_ref, subject, details, \
         leaf, head) SELECT 9, at, action, actor_ref, actor, subject_ref, subject, details, \
         leaf, head FROM audit WHERE seq = 4",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    setup.assert_fails("entry 9 lies beyond the recorded end", "a row past the end");
    sqlx::query("DELETE FROM audit WHERE seq = 9")
        .execute(&mut conn)
        .await
        .unwrap();
    setup.assert_ok(4);
    // The first two deleted and the start moved to match, as retention would, unrecorded.
    sqlx::query(
        "UPDATE audit_head SET first_seq = 3, start_head = (SELECT head FROM audit WHERE seq = 2)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("DELETE FROM audit WHERE seq < 3")
        .execute(&mut conn)
        .await
        .unwrap();
    setup.assert_fails(
        "the chain starts at entry 3, but no retention run recorded that start",
        "a start moved by hand",
    );
}

async fn pruning_records_the_new_start_and_the_rest_still_verifies(url: &str) {
    let store = Store::connect(url, 2).await.unwrap();
    for subject in ["OLD00001", "OLD00002", "HELD0001", "NEW00001"] {
        store
            .audit("bridge", "test.entry", subject, "x")
            .await
            .unwrap();
    }
    // Everything is old; what is about the held driver stops the prefix.
    let later = threema_bridge::store::now_ms() + 60_000;
    assert_eq!(
        store
            .audit_prune(later, &["HELD0001".into()], true)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.audit_recent(None, 10).await.unwrap().len(),
        4,
        "a dry run"
    );
    assert_eq!(
        store
            .audit_prune(later, &["HELD0001".into()], false)
            .await
            .unwrap(),
        2
    );
    let walked = store.audit_walk(&Default::default()).await.unwrap();
    assert_eq!(walked.start.first_seq, 3);
    assert_eq!(
        walked.result.unwrap().entries,
        3,
        "held, new and the pruning's own entry"
    );
    let newest = &store.audit_recent(None, 1).await.unwrap()[0];
    assert_eq!(newest.action, "audit.pruned");
    assert!(
        newest
            .details
            .starts_with("entries 1 to 2 deleted; the chain now starts at entry 3")
    );
    store.close().await;
}
