//! Scheduled messages end to end, against the real binary on a test clock
//! (`THREEMA_BRIDGE_CLOCK_OFFSET_MS`: the bridge's "now" for schedules is set to a Friday just
//! before 05:55, then to the Monday after): a recurring message goes once at its time across a
//! SIGKILL at that very moment, skips the weekend, and a one-off in a live broadcast room goes
//! to the selection as it is when it goes.

use crate::common;

use std::time::Duration;

use common::{
    bridge::{Process, TestConfig},
    db::TestDb,
    dispatcher::Dispatcher,
    http_proxy::HttpProxy,
    synapse::{self, DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use threema_gateway_sim::{Behaviour, Decoded, Simulator, UserMessage};

use crate::broadcasts::open_broadcast;

const WAIT: Duration = Duration::from_secs(120);

/// The offset that makes the bridge's clock read `at` (Unix ms, UTC) now.
fn clock_at(at: i64) -> Vec<(&'static str, String)> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    vec![("THREEMA_BRIDGE_CLOCK_OFFSET_MS", (at - now).to_string())]
}

/// 2027-01-08 (a Friday) or 2027-01-11 (the Monday after) at `h:m:s` UTC.
fn friday(h: i64, m: i64, s: i64) -> i64 {
    1_799_366_400_000 + ((h * 60 + m) * 60 + s) * 1000
}
fn monday(h: i64, m: i64, s: i64) -> i64 {
    friday(h, m, s) + 3 * 86_400_000
}

fn texts(sim: &Simulator, phone: &str, needle: &str) -> usize {
    (sim.inbox(phone).iter())
        .filter(|m| matches!(&m.message, Decoded::Text(t) if t.contains(needle)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scheduled_message_goes_once_across_a_kill_at_its_time_and_on_the_right_days() {
    let guard = synapse::acquire().await;
    let hs = guard.synapse;
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::sqlite();
    let desk_lp = unique_localpart("sched");
    let mut config = TestConfig::new(db.url());
    config.callback_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    config.dispatchers = vec![format!("@{desk_lp}:{DOMAIN}")];
    let sim = config.start_simulator(|_| {}).await;
    let direct = config.write(dir.path(), hs);
    let proxy = HttpProxy::start(&hs.url).await;
    let mut through_proxy = config.clone();
    through_proxy.homeserver_url = Some(proxy.url.clone());
    let proxy_dir = tempfile::tempdir().unwrap();
    let via_proxy = through_proxy.write(proxy_dir.path(), hs);
    let log = |n: u32| dir.path().join(format!("bridge-{n}.log"));

    // Friday, 05:40: the desk schedules the shift start for weekdays at 05:55, and a one-off
    // in a live broadcast room to everyone at 05:55:40.
    let bridge = Process::start_with_env(&direct, log(1), &clock_at(friday(5, 40, 0))).await;
    let desk = Dispatcher::login(hs, &desk_lp, "Anna Dispo").await;
    let driver = add_phone(&sim, 'S', "Erika Muster", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Bin da"))
        .await
        .unwrap();
    let portal = desk.wait_invite(WAIT).await;
    desk.join(&portal).await;
    desk.wait_messages(&portal, 1, WAIT).await;
    let answer = desk
        .ask(&portal, "!every mon-fri 05:55 Schichtbeginn um 6")
        .await;
    assert!(
        answer.starts_with("⏰ Scheduled #")
            && answer.contains("every Mon–Fri at 05:55, next Fri 2027-01-08 05:55 UTC"),
        "{answer}"
    );
    let wrong = desk.ask(&portal, "!at 2027-01-07 05:55 gestern").await;
    assert!(wrong.contains("has passed"), "{wrong}");
    let dm = desk.management_room().await;
    let (_, room) = open_broadcast(&desk, &dm, "live all").await;
    let answer = desk
        .ask(&room, "!at 2027-01-08 05:55:40 Tor 3 heute gesperrt")
        .await;
    assert!(
        answer.contains("once, Fri 2027-01-08 05:55 UTC"),
        "{answer}"
    );
    // A driver who writes after it was scheduled is in the live selection when it goes.
    let newcomer = add_phone(&sim, 'N', "Nina Neu", Behaviour::silent());
    sim.send_from_user(&newcomer, UserMessage::text("Neu hier"))
        .await
        .unwrap();
    desk.wait_invite(WAIT).await;
    assert!(bridge.terminate().success());

    // 05:54:55: the bot's message for 05:55 reaches the homeserver, the bridge is killed
    // before it hears back.
    proxy.hold_answer("/send/m.room.message/schedule-");
    let bridge = Process::start_with_env(&via_proxy, log(2), &clock_at(friday(5, 54, 55))).await;
    proxy.held(1).await;
    bridge.kill();
    proxy.pass();
    assert_eq!(texts(&sim, &driver, "Schichtbeginn"), 0);

    // Back at 05:55:30: the occurrence goes once (its post found, not repeated), and the
    // broadcast at 05:55:40 to both drivers.
    let bridge = Process::start_with_env(&direct, log(3), &clock_at(friday(5, 55, 30))).await;
    let shift = "Anna Dispo: Schichtbeginn um 6";
    wait_for("the scheduled message on the phone", WAIT, || async {
        (texts(&sim, &driver, shift) > 0).then_some(())
    })
    .await;
    for phone in [&driver, &newcomer] {
        wait_for("the scheduled broadcast", WAIT, || async {
            (texts(&sim, phone, "Anna Dispo: Tor 3 heute gesperrt") == 1).then_some(())
        })
        .await;
    }
    let copies = (desk.messages(&portal).await.iter())
        .filter(|m| {
            (m["content"]["body"].as_str())
                .is_some_and(|b| b == "⏰ Anna Dispo (scheduled): Schichtbeginn um 6")
        })
        .count();
    assert_eq!(copies, 1, "one message in the portal");
    let listed = desk.ask(&portal, "!scheduled").await;
    assert!(
        listed.contains("every Mon–Fri at 05:55, next Mon 2027-01-11 05:55 UTC"),
        "the weekend is skipped: {listed}"
    );
    let listed = desk.ask(&room, "!scheduled").await;
    assert_eq!(listed, "Nothing is scheduled here.", "a one-off is done");
    assert!(bridge.terminate().success());

    // Monday 05:54:58: it goes again, once.
    let bridge = Process::start_with_env(&direct, log(4), &clock_at(monday(5, 54, 58))).await;
    wait_for("Monday's message", WAIT, || async {
        (texts(&sim, &driver, shift) == 2).then_some(())
    })
    .await;
    // Cancelled, it is gone.
    let listed = desk.ask(&portal, "!scheduled").await;
    let id: String = listed
        .split('#')
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let cancelled = desk.ask(&portal, &format!("!cancel {id}")).await;
    assert_eq!(cancelled, format!("⏰ #{id} cancelled."));
    assert_eq!(
        desk.ask(&portal, "!scheduled").await,
        "Nothing is scheduled here."
    );
    assert_eq!(texts(&sim, &driver, shift), 2, "never twice");
    assert!(bridge.terminate().success());
}
