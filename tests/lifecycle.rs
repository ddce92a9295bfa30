//! The data lifecycle's commands: legal holds set, listed and released by admins in the
//! management room and by the operator on the command line, each audited.

use crate::common;

use std::{path::Path, process::Command};

use common::{
    bridge::Harness,
    db::TestDb,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart},
};

const BOT: &str = "@threemabot:dispatch.test";

/// `threema-bridge -c CONFIG gdpr hold ARGS`: (exit success, stdout, stderr).
fn hold(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_threema-bridge"))
        .arg("-c")
        .arg(config)
        .args(["gdpr", "hold"])
        .args(args)
        .env("USER", "dpo")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The bot's answer to `text` sent in `room`.
async fn ask(user: &Dispatcher, room: &str, text: &str) -> String {
    let asked = user.send_text(room, text).await;
    let answer = user
        .wait_message(room, "the bot's answer", |m| {
            m["sender"] == BOT && m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
        })
        .await;
    answer["content"]["body"].as_str().unwrap().to_owned()
}

async fn management_room(user: &Dispatcher) -> String {
    let dm = user.create_room(&[BOT]).await;
    user.wait_message(&dm, "the welcome", |m| m["sender"] == BOT)
        .await;
    dm
}

#[tokio::test]
async fn legal_holds_are_set_listed_and_released_in_the_management_room_and_on_the_command_line() {
    let desk_localpart = unique_localpart("desk");
    let admin_localpart = unique_localpart("admin");
    let desk_id = format!("@{desk_localpart}:{DOMAIN}");
    let admin_id = format!("@{admin_localpart}:{DOMAIN}");
    let h = Harness::start(TestDb::sqlite(), |c| {
        c.dispatchers = vec![desk_id.clone()];
        c.bridge_extra = format!("  permissions: {{ \"{admin_id}\": admin }}");
    })
    .await;
    let desk = Dispatcher::login(h.synapse, &desk_localpart, "Desk").await;
    let admin = Dispatcher::login(h.synapse, &admin_localpart, "Admin").await;
    let dir = tempfile::tempdir().unwrap();
    let config = h.config.write(dir.path(), h.synapse);

    let admin_dm = management_room(&admin).await;
    let set = ask(
        &admin,
        &admin_dm,
        "hold set abcd1234 --reason dispute over a delivery --case C-17",
    )
    .await;
    assert!(set.ends_with("set on driver ABCD1234"), "{set}");
    // A dispatcher who is not an admin may not even look.
    let desk_dm = management_room(&desk).await;
    let refused = ask(&desk, &desk_dm, "hold list").await;
    assert_eq!(refused, "Only bridge admins may do that.");
    // The driver's ghost names the same person: one hold in force per person.
    let again = ask(
        &admin,
        &admin_dm,
        &format!("hold set @threema_abcd1234:{DOMAIN} --reason again"),
    )
    .await;
    assert_eq!(
        again,
        "driver ABCD1234 is under a hold already; nothing changed"
    );
    let usage = ask(&admin, &admin_dm, "hold set ABCD1234").await;
    assert!(usage.starts_with("Usage: hold set"), "{usage}");

    // The command line sees the same holds and adds its own.
    let (ok, out, err) = hold(&config, &["list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("on driver ABCD1234")
            && out.contains(&format!(
                "by {admin_id}; case C-17; dispute over a delivery"
            )),
        "{out}"
    );
    let room = format!("!disputed:{DOMAIN}");
    let (ok, out, err) = hold(&config, &["set", &room, "--reason", "works council"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("set on room {room}")), "{out}");
    for (args, why) in [
        (
            vec!["set", "nobody-known", "--reason", "x"],
            "is neither an employee ID of the directory, a Threema ID nor a Matrix user ID",
        ),
        (vec!["set", "ABCD1234", "--reason", " "], "needs a reason"),
        (
            vec!["set", "#threema_abcd1234:dispatch.test", "--reason", "x"],
            "ABCD1234 has no portal",
        ),
        (
            vec!["set", "#lobby:dispatch.test", "--reason", "x"],
            "is not a portal's alias",
        ),
    ] {
        let (ok, _, err) = hold(&config, &args);
        assert!(!ok && err.contains(why), "{args:?}: {err}");
    }
    assert_eq!(h.bridge.store.holds(false).await.unwrap().len(), 2);

    let released = ask(&admin, &admin_dm, "hold release ABCD1234").await;
    assert_eq!(released, "hold on driver ABCD1234 released");
    let (ok, _, err) = hold(&config, &["release", "ABCD1234"]);
    assert!(
        !ok && err.contains("no hold is in force on driver ABCD1234"),
        "{err}"
    );
    let (ok, out, _) = hold(&config, &["list"]);
    assert!(
        ok && !out.contains("ABCD1234") && out.contains(&room),
        "{out}"
    );
    let (ok, out, _) = hold(&config, &["list", "--all"]);
    assert!(
        ok && out.contains("ABCD1234") && out.contains(&format!("by {admin_id})")),
        "{out}"
    );
    let list = ask(&admin, &admin_dm, "hold list").await;
    assert!(
        list.contains(&room) && list.contains("by cli:dpo"),
        "{list}"
    );

    // Each change is in the audit log, with who made it.
    let audit = h
        .bridge
        .store
        .audit_recent(Some("ABCD1234"), 10)
        .await
        .unwrap();
    let entries: Vec<_> = audit
        .iter()
        .rev()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        entries,
        [
            ("hold.set", admin_id.as_str()),
            ("hold.released", admin_id.as_str())
        ]
    );
    let audit = h.bridge.store.audit_recent(Some(&room), 10).await.unwrap();
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("hold.set", "cli:dpo")
    );
    h.stop().await;
}
