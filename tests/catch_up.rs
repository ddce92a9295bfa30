//! Synapse keeps the events waiting for the next appservice transaction in memory and forgets
//! them when it stops (synapse#11637). A dispatcher's message caught that way still reaches the
//! driver, once and in order, because the bridge reads the timeline back after the homeserver
//! was away.

use crate::common;

use std::time::Duration;

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    http_proxy::HttpProxy,
    synapse::{DOMAIN, unique_localpart, wait_for},
    threema::add_phone,
};
use threema_bridge::store::OutboxState;
use threema_gateway_sim::{Behaviour, Decoded, UserMessage};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_message_the_homeserver_forgot_in_a_restart_still_reaches_the_driver() {
    let desk = unique_localpart("desk");
    let dispatcher_id = format!("@{desk}:{DOMAIN}");
    // The homeserver reaches the bridge through a proxy that can hold its transactions, as a
    // bridge slow to answer would.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut proxy = None;
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![dispatcher_id.clone()];
        c.appservice_listen = Some(listen);
        let target = format!("http://127.0.0.1:{listen}");
        proxy = Some(HttpProxy::listen(c.synapse().appservice_port, &target));
    })
    .await;
    let proxy = proxy.unwrap();
    let dispatcher = Dispatcher::login(h.synapse, &desk, "Anna Dispo").await;
    let driver = add_phone(&sim, 'C', "Erik Express", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Bin am Depot"))
        .await
        .unwrap();
    let room = dispatcher.wait_invite(WAIT).await;
    dispatcher.join(&room).await;
    dispatcher.send_text(&room, "eins").await;
    sim.wait_inbox(&driver, 1, WAIT).await;

    // "zwei" goes out in a transaction the bridge is slow to answer; "drei" waits behind it in
    // Synapse's memory when Synapse stops.
    proxy.hold("/transactions/");
    dispatcher.send_text(&room, "zwei").await;
    proxy.held(1).await;
    dispatcher.send_text(&room, "drei").await;
    h.synapse.stop().await;
    proxy.pass();
    h.synapse.restart().await;
    let vier = dispatcher.send_text(&room, "vier").await;

    sim.wait_inbox(&driver, 4, WAIT).await;
    // Everything the room holds is handled once "vier" is sent: nothing more comes.
    wait_for("the last message sent", WAIT, || async {
        let rows = h.bridge.store.outbox_by_event(&vier).await.unwrap();
        rows.iter()
            .any(|r| r.state == OutboxState::Sent)
            .then_some(())
    })
    .await;
    let inbox = sim.inbox(&driver);
    let texts: Vec<&str> = inbox
        .iter()
        .map(|m| match &m.message {
            Decoded::Text(text) => text.as_str(),
            other => panic!("not a text: {other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        [
            "Anna Dispo: eins",
            "Anna Dispo: zwei",
            "Anna Dispo: drei",
            "Anna Dispo: vier"
        ]
    );
    h.stop().await;
}
