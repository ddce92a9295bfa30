//! A driver writes first: the dispatch desk gets the driver's portal room, the ghost speaks
//! with the driver's name at the time the app sent the message, each message once, and a
//! dispatcher who joins later reads the history.

use crate::common;

use std::time::Duration;

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    http_proxy::HttpProxy,
    synapse::{DOMAIN, unique_localpart},
};
use sqlx::Connection;
use threema_gateway_sim::{Behaviour, UserMessage};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_drivers_first_message_opens_a_portal_for_the_desk() {
    let desk = unique_localpart("desk");
    let dispatcher_id = format!("@{desk}:{DOMAIN}");
    // The bridge reaches the homeserver through a proxy that can lose an answer.
    let mut proxy = None;
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![dispatcher_id.clone()];
        let through = HttpProxy::listen(0, &c.synapse().url);
        c.homeserver_url = Some(through.url.clone());
        proxy = Some(through);
    })
    .await;
    let proxy = proxy.unwrap();
    let dispatcher = h.synapse.new_user_named(&desk, "Desk").await;
    // The homeserver outlives a test run: a driver ID of its own keeps this test's portal new.
    let driver = common::threema::add_phone(&sim, 'D', "Erik Express", Behaviour::silent());

    let first = sim
        .send_from_user(&driver, UserMessage::text("Bin am Depot"))
        .await
        .unwrap();
    let room = dispatcher.wait_invite(WAIT).await;
    dispatcher.join(&room).await;

    // The worst case for a retry: the second message reaches the room but the answer is lost,
    // and the homeserver restarts before the bridge tries again (Synapse forgets transaction
    // ids on restart, so only looking in the room first keeps it from showing twice).
    proxy.lose_next_answer("/send/m.room.message/threema-");
    let second = sim
        .send_from_user(&driver, UserMessage::text("Fahre jetzt los"))
        .await
        .unwrap();
    sim.wait_callback_outcome(&second, WAIT).await;
    tokio::time::timeout(WAIT, proxy.answer_lost())
        .await
        .expect("the send went out");
    h.synapse.stop().await;
    h.synapse.restart().await;
    proxy.pass();

    let ghost = format!("@threema_{}:{DOMAIN}", driver.to_lowercase());
    let store = &h.bridge.store;
    common::synapse::wait_for("both messages bridged", 2 * WAIT, || async {
        let done = store
            .message_by_threema_id(&driver, &second, threema_bridge::store::Direction::In)
            .await
            .unwrap();
        done.map(|_| ())
    })
    .await;
    let messages = dispatcher.messages(&room).await;
    let bodies: Vec<_> = messages
        .iter()
        .map(|m| {
            (
                m["sender"].as_str().unwrap(),
                m["content"]["body"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        bodies,
        [
            (ghost.as_str(), "Bin am Depot"),
            (ghost.as_str(), "Fahre jetzt los")
        ],
        "each once, in order"
    );
    // The event carries the time the driver's app sent it (whole seconds on the Threema side).
    let sent = sim.outbox(&driver);
    assert_eq!(
        messages[0]["origin_server_ts"].as_u64(),
        Some(sent[0].date * 1000)
    );
    assert_eq!(sent[0].message_id, first);

    // What Element shows: the room and the ghost named after the driver, the bridge state.
    assert_eq!(
        dispatcher.state(&room, "m.room.name", "").await["name"],
        "Erik Express"
    );
    assert_eq!(
        dispatcher.display_name_of(&ghost).await.as_deref(),
        Some("Erik Express")
    );
    let bridge_state = dispatcher
        .state(&room, "m.bridge", &format!("threema://threema/{driver}"))
        .await;
    assert_eq!(bridge_state["channel"]["id"], driver.as_str());
    assert_eq!(bridge_state["protocol"]["id"], "threema");
    assert_eq!(
        dispatcher
            .state(&room, "m.room.history_visibility", "")
            .await["history_visibility"],
        "shared"
    );

    // A colleague who opens the chat later reads the whole history.
    let colleague = Dispatcher::fresh(h.synapse, "colleague").await;
    assert_eq!(colleague.start_chat(&driver).await, room);
    let history: Vec<_> = colleague
        .messages(&room)
        .await
        .iter()
        .map(|m| m["content"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history, ["Bin am Depot", "Fahre jetzt los"]);
    assert_eq!(
        store
            .portal_by_threema_id(&driver)
            .await
            .unwrap()
            .unwrap()
            .room_id,
        room
    );
}

/// A portal whose creation was cut off after the room existed but before the homeserver sent
/// its invites (the bridge killed mid-request): the next attempt finds the room by its alias,
/// invites the ghost and the desk itself, and the message arrives.
#[tokio::test]
async fn a_portal_left_without_its_invites_is_completed() {
    let desk = unique_localpart("desk");
    let dispatcher_id = format!("@{desk}:{DOMAIN}");
    let (h, sim) = Harness::with_simulator(|c| c.dispatchers = vec![dispatcher_id.clone()]).await;
    let dispatcher = h.synapse.new_user_named(&desk, "Desk").await;
    let driver = common::threema::add_phone(&sim, 'D', "Cut Off", Behaviour::silent());

    // The room as the cut-off attempt left it: made by the bot under the portal's alias,
    // nobody invited.
    let room = h
        .synapse
        .appservice_bot()
        .create_room_with(serde_json::json!({
            "preset": "private_chat",
            "room_alias_name": format!("threema_{}", driver.to_lowercase()),
            "power_level_content_override": {"invite": 0},
        }))
        .await;

    let sent = sim
        .send_from_user(&driver, UserMessage::text("Noch jemand da?"))
        .await
        .unwrap();
    sim.wait_callback_outcome(&sent, WAIT).await;
    common::synapse::wait_for("the message bridged", WAIT, || async {
        h.bridge
            .store
            .message_by_threema_id(&driver, &sent, threema_bridge::store::Direction::In)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(dispatcher.wait_invite(WAIT).await, room);
    dispatcher.join(&room).await;
    let messages = dispatcher.messages(&room).await;
    assert_eq!(
        messages.last().unwrap()["content"]["body"],
        "Noch jemand da?"
    );
    // The room was made with anyone allowed to invite (as before closed rooms, or by a store
    // since reset, which the startup closing never sees): found by its alias, it is closed.
    let levels = dispatcher.state(&room, "m.room.power_levels", "").await;
    assert_eq!(levels["invite"], 100, "{levels}");
    h.stop().await;
}

/// The desk is invited the moment the portal's room is made, but the bridge records the portal
/// only once the ghost is in: a dispatcher who writes in between is not lost.
#[tokio::test]
async fn a_dispatcher_who_writes_before_the_portal_is_recorded_reaches_the_driver() {
    let desk = unique_localpart("desk");
    let dispatcher_id = format!("@{desk}:{DOMAIN}");
    // The bridge reaches the homeserver through a proxy that holds the ghost's join.
    let mut proxy = None;
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![dispatcher_id.clone()];
        let through = HttpProxy::listen(0, &c.synapse().url);
        c.homeserver_url = Some(through.url.clone());
        proxy = Some(through);
    })
    .await;
    let proxy = proxy.unwrap();
    let dispatcher = h.synapse.new_user_named(&desk, "Desk").await;
    let driver = common::threema::add_phone(&sim, 'Q', "Quick Desk", Behaviour::silent());

    proxy.hold("/join");
    sim.send_from_user(&driver, UserMessage::text("Hallo"))
        .await
        .unwrap();
    let room = dispatcher.wait_invite(WAIT).await;
    proxy.held(1).await;
    dispatcher.join(&room).await;
    let quick = dispatcher.send_text(&room, "Schon da!").await;
    let store = &h.bridge.store;
    // Handled once at least while the portal was being opened: it waits, it is not skipped.
    let url = h.config.db_url.clone();
    common::synapse::wait_for("the quick message tried", WAIT, || {
        let (quick, url) = (quick.clone(), url.clone());
        async move {
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            let row: Option<(i64, Option<String>)> =
                sqlx::query_as("SELECT attempts, outcome FROM matrix_inbox WHERE dedup_key = $1")
                    .bind(&quick)
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap();
            row.filter(|(attempts, outcome)| *attempts > 0 || outcome.is_some())
        }
    })
    .await;
    assert_eq!(store.inbox_outcome(&quick).await.unwrap(), Some(None));

    proxy.pass();
    sim.wait_inbox(&driver, 1, WAIT).await;
    let texts: Vec<String> = sim
        .inbox(&driver)
        .iter()
        .map(|m| format!("{:?}", m.message))
        .collect();
    assert!(texts[0].contains("Schon da!"), "{texts:?}");
    h.stop().await;
}

/// A portal is closed: only the bot invites. A portal from before that (anyone could invite)
/// is closed at the upgrade's first start, and whoever a member invited meanwhile is removed
/// at once and audited.
#[tokio::test]
async fn a_portal_stays_closed_to_anyone_the_bridge_did_not_invite() {
    let desk = unique_localpart("desk");
    let (mut h, sim) =
        Harness::with_simulator(|c| c.dispatchers = vec![format!("@{desk}:{DOMAIN}")]).await;
    let dispatcher = Dispatcher::login(h.synapse, &desk, "Desk").await;
    let driver = common::threema::add_phone(&sim, 'K', "Karl Kurier", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Moin"))
        .await
        .unwrap();
    let room = dispatcher.wait_invite(WAIT).await;
    dispatcher.join(&room).await;
    let invite_level =
        || async { dispatcher.state(&room, "m.room.power_levels", "").await["invite"].as_i64() };
    assert_eq!(invite_level().await, Some(100));
    let stranger = Dispatcher::fresh(h.synapse, "stranger").await;
    assert!(
        dispatcher
            .try_invite(&room, &stranger.user_id)
            .await
            .is_err()
    );

    // A portal from before: anyone in it could invite.
    set_invite_level(&h, &room, 0).await;
    dispatcher.invite(&room, &stranger.user_id).await;
    let membership = || async {
        let member = dispatcher
            .state(&room, "m.room.member", &stranger.user_id)
            .await;
        member["membership"].as_str().map(str::to_owned)
    };
    dispatcher
        .wait_until("the stranger removed", WAIT, || async {
            (membership().await.as_deref() == Some("leave")).then_some(())
        })
        .await;
    let audit = h
        .bridge
        .store
        .audit_recent(Some(&stranger.user_id), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].action, "access.removed");
    assert!(audit[0].details.contains(&dispatcher.user_id), "{audit:?}");

    // The store of the version before knows nothing of closed rooms: the first start closes
    // them.
    let mut db = sqlx::SqliteConnection::connect(h.db.url()).await.unwrap();
    sqlx::query("DELETE FROM bridge_state WHERE key = 'rooms_closed'")
        .execute(&mut db)
        .await
        .unwrap();
    h.restart(Some(&sim)).await;
    dispatcher
        .wait_until("the portal closed again", WAIT, || async {
            (invite_level().await == Some(100)).then_some(())
        })
        .await;
    h.stop().await;
}

/// Sets the level needed to invite in `room` as the bot (the room's admin), as it was before.
async fn set_invite_level(h: &Harness, room: &str, level: i64) {
    let room = ruma::RoomId::parse(room).unwrap();
    let matrix = &h.bridge.matrix;
    let mut levels = matrix
        .state(&room, "m.room.power_levels", "")
        .await
        .unwrap()
        .expect("power levels");
    levels["invite"] = level.into();
    matrix
        .set_state(&room, "m.room.power_levels", "", &levels)
        .await
        .unwrap();
}
