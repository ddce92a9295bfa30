//! The shared inbox as two dispatchers see it in their Matrix client (matrix-sdk against the
//! real Synapse): a driver's message waits, with its owner, in the portal's topic until it is
//! answered or marked handled; claims, assignments and a handover move it between dispatchers;
//! none of the desk's words reach the phone.

use crate::common;

use std::time::Duration;

use common::{
    bridge::Harness,
    dispatcher::Dispatcher,
    synapse::{DOMAIN, unique_localpart},
    threema::add_phone,
};
use threema_bridge::store::{Closed, ConversationState};
use threema_gateway_sim::{Behaviour, Decoded, UserMessage};

const WAIT: Duration = Duration::from_secs(60);

/// The portal's topic as `dispatcher` sees it ("" before there is one).
async fn topic(dispatcher: &Dispatcher, room: &str) -> String {
    (dispatcher.all_state(room).await.into_iter())
        .find(|e| e["type"] == "m.room.topic")
        .and_then(|e| e["content"]["topic"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn wait_topic(dispatcher: &Dispatcher, room: &str, wanted: impl Fn(&str) -> bool) -> String {
    dispatcher
        .wait_until("the portal's topic", WAIT, || async {
            let topic = topic(dispatcher, room).await;
            wanted(&topic).then_some(topic)
        })
        .await
}

#[tokio::test]
async fn a_drivers_message_waits_with_its_owner_until_the_desk_answers_or_marks_it_handled() {
    let (anna_lp, ben_lp) = (unique_localpart("anna"), unique_localpart("ben"));
    let (anna_id, ben_id) = (
        format!("@{anna_lp}:{DOMAIN}"),
        format!("@{ben_lp}:{DOMAIN}"),
    );
    let desk = vec![anna_id.clone(), ben_id.clone()];
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = desk.clone();
        c.sections.push_str("inbox:\n  enabled: true\n");
    })
    .await;
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    let ben = Dispatcher::login(h.synapse, &ben_lp, "Ben Dispo").await;
    let driver = add_phone(&sim, 'I', "Erika Muster", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Panne auf der A7"))
        .await
        .unwrap();
    let room = anna.wait_invite(WAIT).await;
    anna.join(&room).await;
    ben.wait_invited_to(&room, WAIT).await;
    ben.join(&room).await;

    // Waiting, and nobody has it: both see it.
    // After the portal's own topic, which stays (the directory's, where it sets one).
    let waiting = wait_topic(&ben, &room, |t| t.contains("⏳")).await;
    assert!(
        waiting.ends_with("nobody has it yet (!claim or 🙋)"),
        "{waiting}"
    );
    assert!(waiting.contains(&driver), "{waiting}");

    // Anna takes it; Ben sees who has it. Then she gives it to Ben.
    anna.send_text(&room, "!claim").await;
    wait_topic(&ben, &room, |t| t.ends_with("Anna Dispo has it")).await;
    // As Element sends a pill: the name in the body, the user in the mentions.
    let pill = serde_json::json!({
        "msgtype": "m.text",
        "body": "!assign Ben Dispo",
        "m.mentions": {"user_ids": [ben_id]},
    });
    anna.send_content(&room, pill).await;
    wait_topic(&anna, &room, |t| t.ends_with("Ben Dispo has it")).await;
    // Nobody outside the desk: refused, said in the portal, nothing changes.
    let stranger = "@someone:elsewhere.test";
    let asked = anna.send_text(&room, &format!("!assign {stranger}")).await;
    let refusal = anna.answer_to(&room, &asked).await;
    assert!(refusal.contains("may not see this driver"), "{refusal}");
    assert!(topic(&ben, &room).await.ends_with("Ben Dispo has it"));

    // Ben answers: it is closed, and the phone has the answer, none of the desk's words.
    ben.send_text(&room, "Abschleppdienst kommt").await;
    wait_topic(&anna, &room, |t| t.ends_with(" · ✓ Answered by Ben Dispo")).await;
    let phone = sim.wait_inbox(&driver, 1, WAIT).await;
    let texts: Vec<String> = (phone.into_iter())
        .filter_map(|m| match m.message {
            Decoded::Text(text) => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["Ben Dispo: Abschleppdienst kommt"]);

    // The driver writes again: open again. 🙋 on it takes it; a handover moves it to Ben;
    // Ben's ✅ marks it handled.
    sim.send_from_user(&driver, UserMessage::text("Danke, warte an der Ausfahrt"))
        .await
        .unwrap();
    wait_topic(&anna, &room, |t| t.contains("⏳")).await;
    let message = anna
        .wait_message(&room, "the driver's second message", |m| {
            m["content"]["body"] == "Danke, warte an der Ausfahrt"
        })
        .await;
    let message = message["event_id"].as_str().unwrap().to_owned();
    anna.react(&room, &message, "🙋").await;
    wait_topic(&ben, &room, |t| t.ends_with("Anna Dispo has it")).await;
    let management = anna.management_room().await;
    let answer = anna.ask(&management, &format!("handover {ben_id}")).await;
    assert_eq!(
        answer,
        format!("1 open conversation(s) handed over to {ben_id}.")
    );
    wait_topic(&anna, &room, |t| t.ends_with("Ben Dispo has it")).await;
    ben.react(&room, &message, "✅").await;
    wait_topic(&anna, &room, |t| t.ends_with(" · ✓ Handled by Ben Dispo")).await;

    let stored = (h.bridge.store.conversation(&driver).await.unwrap()).expect("recorded");
    assert_eq!(
        (stored.state, stored.closed_how, stored.closed_by.as_deref()),
        (
            ConversationState::Closed,
            Some(Closed::Reaction),
            Some(ben_id.as_str())
        )
    );
    // Still only the one answer on the phone.
    assert_eq!(sim.inbox(&driver).len(), 1);
    let audited = h
        .bridge
        .store
        .audit_recent(Some(&driver), 50)
        .await
        .unwrap();
    let actions: Vec<&str> = audited.iter().map(|e| e.action.as_str()).collect();
    for action in ["inbox.claim", "inbox.assign", "inbox.handled"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    h.stop().await;
}
