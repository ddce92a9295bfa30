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

/// The driver's portal, once the bridge made it, with `dispatcher` invited (the desk room
/// may invite them at about the same time).
async fn portal_of(h: &Harness, dispatcher: &Dispatcher, driver: &str) -> String {
    let store = &h.bridge.store;
    let portal = common::synapse::wait_for("the portal", WAIT, || async {
        (store.portal_by_threema_id(driver).await.unwrap()).map(|p| p.room_id.to_string())
    })
    .await;
    dispatcher.wait_invited_to(&portal, WAIT).await;
    portal
}

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
    let room = portal_of(&h, &anna, &driver).await;
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
    // And the bot's ⏳ on the message that waits.
    let first = anna
        .wait_message(&room, "the driver's message", |m| {
            m["content"]["body"] == "Panne auf der A7"
        })
        .await;
    let first = first["event_id"].as_str().unwrap().to_owned();
    let bot = format!("@threemabot:{DOMAIN}");
    let marked = |want: bool| {
        let (anna, room, first, bot) = (&anna, &room, &first, &bot);
        async move {
            let what = if want {
                "the ⏳ marker"
            } else {
                "the ⏳ marker gone"
            };
            anna.wait_until(what, WAIT, || async {
                let reactions = anna.reactions(room, first).await;
                let there = reactions.iter().any(|(who, key)| who == bot && key == "⏳");
                (there == want).then_some(())
            })
            .await
        }
    };
    marked(true).await;

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
    marked(false).await;
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

/// The desk room's messages about Erika Muster whose body starts with `mark`.
async fn alerts(dispatcher: &Dispatcher, room: &str, mark: &str) -> Vec<serde_json::Value> {
    (dispatcher.messages(room).await.into_iter())
        .filter(|m| {
            (m["content"]["body"].as_str())
                .is_some_and(|b| b.starts_with(mark) && b.contains("Erika Muster"))
        })
        .collect()
}

/// The desk board as the room shows it now (its latest edit), once there is one that `wanted`.
pub(crate) async fn wait_board(
    dispatcher: &Dispatcher,
    room: &str,
    wanted: impl Fn(&str) -> bool,
) -> String {
    dispatcher
        .wait_until("the desk board", WAIT, || async {
            let messages = dispatcher.messages(room).await;
            let latest = (messages.iter().rev())
                .find(|m| m["content"]["org.threema_bridge.desk_board"].is_string())?;
            let content = &latest["content"];
            let text = (content["m.new_content"]["body"].as_str())
                .or(content["body"].as_str())?
                .to_owned();
            wanted(&text).then_some(text)
        })
        .await
}

fn mentioned(alert: &serde_json::Value) -> Vec<String> {
    let mut users: Vec<String> = (alert["content"]["m.mentions"]["user_ids"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect();
    users.sort();
    users
}

/// What waits too long is said in the desk room: after the (shortened) period, mentioning
/// every dispatcher on shift who may see the driver since nobody has it; after the second, the
/// admins.
/// An urgent word is said at once, mentioning only who has the conversation. Each once, a
/// restart in between too; an answer ends it.
#[tokio::test]
async fn the_desk_room_hears_what_waits_too_long_and_what_is_urgent_once() {
    let (anna_lp, ben_lp, carl_lp) = (
        unique_localpart("anna"),
        unique_localpart("ben"),
        unique_localpart("carl"),
    );
    let [anna_id, ben_id, carl_id] =
        [&anna_lp, &ben_lp, &carl_lp].map(|lp| format!("@{lp}:{DOMAIN}"));
    let desk = vec![anna_id.clone(), ben_id.clone()];
    let (mut h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = desk.clone();
        c.bridge_extra = format!(
            "  timezone: Europe/Berlin\n  permissions:\n    \"{DOMAIN}\": dispatcher\n    \"{carl_id}\": admin"
        );
        c.sections.push_str(
            "inbox:\n  enabled: true\n  answer_within_minutes: 0.05\n  \
             escalate_after_minutes: 0.05\n  urgent_keywords: [Panne, Unfall]\n",
        );
    })
    .await;
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    let ben = Dispatcher::login(h.synapse, &ben_lp, "Ben Dispo").await;
    let carl = Dispatcher::login(h.synapse, &carl_lp, "Carl Admin").await;
    // Ben is off shift: the alerts mention the others.
    let ben_management = ben.management_room().await;
    let answer = ben.ask(&ben_management, "off-shift").await;
    assert!(answer.starts_with("Off shift"), "{answer}");
    let driver = add_phone(&sim, 'J', "Erika Muster", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Bin am Lager"))
        .await
        .unwrap();
    let portal = portal_of(&h, &anna, &driver).await;
    anna.join(&portal).await;
    ben.wait_invited_to(&portal, WAIT).await;
    ben.join(&portal).await;

    // Nobody answers: the desk room, made now, hears of it, with both dispatchers mentioned.
    let room = common::synapse::wait_for("the desk room", WAIT, || async {
        h.bridge.store.state_get("desk_room").await.unwrap()
    })
    .await;
    ben.wait_invited_to(&room, WAIT).await;
    ben.join(&room).await;
    anna.wait_invited_to(&room, WAIT).await;
    anna.join(&room).await;
    let late = ben
        .wait_until("the late alert", WAIT, || async {
            alerts(&ben, &room, "⏰").await.into_iter().next()
        })
        .await;
    let body = late["content"]["body"].as_str().unwrap();
    assert!(body.contains("Erika Muster has waited"), "{body}");
    assert!(
        body.contains(&format!("https://matrix.to/#/{portal}/$")),
        "{body}"
    );
    let mentions = mentioned(&late);
    assert!(mentions.contains(&anna_id), "{mentions:?}");
    assert!(!mentions.contains(&ben_id), "off shift: {mentions:?}");
    // The board lists it, with what the driver wrote.
    wait_board(&ben, &room, |b| {
        b.contains("• Erika Muster — since ")
            && b.contains(", nobody has it — “Bin am Lager” — https://")
    })
    .await;
    // Still nobody: the admins.
    carl.wait_invited_to(&room, WAIT).await;
    carl.join(&room).await;
    let escalated = carl
        .wait_until("the admins' alert", WAIT, || async {
            alerts(&carl, &room, "⚠️").await.into_iter().next()
        })
        .await;
    assert_eq!(mentioned(&escalated), [carl_id.as_str()]);
    assert!(
        (escalated["content"]["body"].as_str().unwrap())
            .contains("Erika Muster still has no answer")
    );

    // Anna has it: an urgent word is said at once, to her alone.
    anna.send_text(&portal, "!claim").await;
    wait_topic(&ben, &portal, |t| t.ends_with("Anna Dispo has it")).await;
    wait_board(&ben, &room, |b| {
        b.contains(", Anna Dispo has it — “Bin am Lager”")
    })
    .await;
    sim.send_from_user(&driver, UserMessage::text("Panne auf der A7"))
        .await
        .unwrap();
    let urgent = ben
        .wait_until("the urgent alert", WAIT, || async {
            alerts(&ben, &room, "🆘").await.into_iter().next()
        })
        .await;
    assert_eq!(mentioned(&urgent), [anna_id.as_str()]);
    let body = urgent["content"]["body"].as_str().unwrap();
    assert!(
        body.contains("Urgent from Erika Muster: “Panne auf der A7”"),
        "{body}"
    );
    // Not urgent: a keyword inside a word.
    sim.send_from_user(&driver, UserMessage::text("Pannenhilfe ist da"))
        .await
        .unwrap();
    anna.wait_message(&portal, "the driver's next message", |m| {
        m["content"]["body"] == "Pannenhilfe ist da"
    })
    .await;

    // A second driver, answered: the shift summary lists exactly what is open.
    let max = add_phone(&sim, 'K', "Max Fahrer", Behaviour::silent());
    sim.send_from_user(&max, UserMessage::text("Bin da"))
        .await
        .unwrap();
    let max_portal = portal_of(&h, &anna, &max).await;
    ben.wait_invited_to(&max_portal, WAIT).await;
    ben.join(&max_portal).await;
    wait_topic(&ben, &max_portal, |t| t.contains("⏳")).await;
    ben.send_text(&max_portal, "Gut").await;
    wait_topic(&ben, &max_portal, |t| t.ends_with("Answered by Ben Dispo")).await;
    let management = anna.management_room().await;
    let summary = anna.ask(&management, "summary").await;
    let waiting: Vec<&str> = (summary.lines())
        .filter(|l| l.starts_with("• ") && l.contains(" has it"))
        .collect();
    assert_eq!(waiting.len(), 1, "{summary}");
    assert!(
        waiting[0].starts_with("• Erika Muster — since ")
            && waiting[0].contains("Anna Dispo has it — https://matrix.to/#/"),
        "{summary}"
    );
    assert!(summary.contains("Waiting for an answer (1):"), "{summary}");
    // In bridge.timezone.
    assert!(
        waiting[0].contains(" CET (") || waiting[0].contains(" CEST ("),
        "{summary}"
    );
    assert!(!summary.contains("Max Fahrer"), "{summary}");

    // A restart says nothing again; the next urgent message is said (and shows the rest came).
    // Ben may no longer use the bridge after it: the desk room loses him with that alert.
    h.config.dispatchers.retain(|d| *d != ben_id);
    h.config
        .bridge_extra
        .push_str(&format!("\n    \"{ben_id}\": none"));
    h.restart(Some(&sim)).await;
    sim.send_from_user(&driver, UserMessage::text("🆘 bitte anrufen"))
        .await
        .unwrap();
    carl.wait_until("the second urgent alert", WAIT, || async {
        (alerts(&carl, &room, "🆘").await.len() == 2).then_some(())
    })
    .await;
    assert_eq!(alerts(&carl, &room, "⏰").await.len(), 1);
    assert_eq!(alerts(&carl, &room, "⚠️").await.len(), 1);
    assert_eq!(alerts(&carl, &room, "🆘").await.len(), 2);
    let ben_there = (carl.all_state(&room).await.into_iter())
        .find(|e| e["type"] == "m.room.member" && e["state_key"] == ben_id.as_str())
        .map(|e| e["content"]["membership"].clone());
    assert_eq!(
        ben_there,
        Some(serde_json::json!("leave")),
        "Ben is out of the desk room"
    );

    // An answer ends it: nothing is due any more.
    anna.send_text(&portal, "Ich rufe an").await;
    wait_topic(&anna, &portal, |t| {
        t.ends_with(" · ✓ Answered by Anna Dispo")
    })
    .await;
    wait_board(&anna, &room, |b| {
        b.ends_with("no driver waits for an answer.")
    })
    .await;
    let stored = (h.bridge.store.conversation(&driver).await.unwrap()).expect("recorded");
    assert_eq!((stored.late_at, stored.escalated_at), (None, None));
    let audited = (h.bridge.store.audit_recent(Some(&driver), 50).await).unwrap();
    let actions: Vec<&str> = audited.iter().map(|e| e.action.as_str()).collect();
    for (action, times) in [
        ("inbox.late", 1),
        ("inbox.escalated", 1),
        ("inbox.urgent", 2),
    ] {
        let n = actions.iter().filter(|a| **a == action).count();
        assert_eq!(n, times, "{action} in {actions:?}");
    }
    h.stop().await;
}

/// At a shift change (`inbox.shift_changes`, in `bridge.timezone`) the desk room gets the
/// summary by itself: exactly the conversation still open, not the one answered.
#[tokio::test]
async fn at_the_shift_change_the_desk_room_gets_the_summary_of_what_is_open() {
    let (anna_lp, anna_id) = {
        let lp = unique_localpart("anna");
        (lp.clone(), format!("@{lp}:{DOMAIN}"))
    };
    let (mut h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![anna_id.clone()];
        c.bridge_extra = "  timezone: Europe/Berlin".into();
        c.sections.push_str("inbox:\n  enabled: true\n");
    })
    .await;
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    let (erika, max) = (
        add_phone(&sim, 'L', "Erika Muster", Behaviour::silent()),
        add_phone(&sim, 'M', "Max Fahrer", Behaviour::silent()),
    );
    for (driver, text) in [(&erika, "Wo ist Tor 3?"), (&max, "Bin da")] {
        sim.send_from_user(driver, UserMessage::text(text))
            .await
            .unwrap();
    }
    let max_portal = portal_of(&h, &anna, &max).await;
    anna.join(&max_portal).await;
    wait_topic(&anna, &max_portal, |t| t.contains("⏳")).await;
    anna.send_text(&max_portal, "Gut").await;
    wait_topic(&anna, &max_portal, |t| {
        t.ends_with("Answered by Anna Dispo")
    })
    .await;
    let room = common::synapse::wait_for("the desk room", WAIT, || async {
        h.bridge.store.state_get("desk_room").await.unwrap()
    })
    .await;
    anna.wait_invited_to(&room, WAIT).await;
    anna.join(&room).await;

    // The shift ends a few seconds from now on the Berlin wall clock (set now, so that the
    // time does not pass while the desk is at work above).
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let at = (jiff::Timestamp::now() + jiff::SignedDuration::from_secs(8))
        .to_zoned_datetime(berlin)
        .strftime("%H:%M:%S")
        .to_string();
    h.config.sections = format!("inbox:\n  enabled: true\n  shift_changes: [\"{at}\"]\n");
    // Counted from now, not from when the restarted bridge gets to it (a slow start says it
    // late rather than tomorrow).
    let now = (jiff::Timestamp::now().as_millisecond()).to_string();
    (h.bridge.store)
        .state_set("inbox_shift_summary_at", &now)
        .await
        .unwrap();
    h.restart(Some(&sim)).await;
    let summary = anna
        .wait_message(&room, "the shift summary", |m| {
            (m["content"]["body"].as_str()).is_some_and(|b| b.starts_with("Shift summary, "))
        })
        .await;
    let body = summary["content"]["body"].as_str().unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].ends_with(" CET:") || lines[0].ends_with(" CEST:"),
        "{body}"
    );
    assert_eq!(lines[1], "Waiting for an answer (1):", "{body}");
    assert!(lines[2].starts_with("• Erika Muster — since "), "{body}");
    assert!(!body.contains("Max Fahrer"), "{body}");
    h.stop().await;
}

/// The phone's texts, in the order they arrived.
fn texts(phone: &[threema_gateway_sim::ReceivedMessage]) -> Vec<String> {
    (phone.iter())
        .filter_map(|m| match &m.message {
            Decoded::Text(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A dispatcher's message to a driver off duty (`inbox.off_duty`, here until a few seconds
/// from now on the Berlin wall clock) reaches the phone when the driver's duty starts, and
/// not before, a restart in between; the dispatcher is told until when. `!urgent` sends a
/// message at once, `!urgent` answering a held message sends that one, and a held message
/// deleted never goes.
#[tokio::test]
async fn a_message_to_a_driver_off_duty_reaches_the_phone_when_the_duty_starts() {
    let (anna_lp, anna_id) = {
        let lp = unique_localpart("anna");
        (lp.clone(), format!("@{lp}:{DOMAIN}"))
    };
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let wall = |at: jiff::Timestamp, format: &str| {
        at.to_zoned_datetime(berlin.clone())
            .strftime(format)
            .to_string()
    };
    // Off duty since an hour ago until 50 s from now (whole seconds, as the config says it).
    let now = jiff::Timestamp::now();
    let until = jiff::Timestamp::from_second(now.as_second() + 50).unwrap();
    let off_duty = format!(
        "{}-{}",
        wall(now - jiff::SignedDuration::from_hours(1), "%H:%M:%S"),
        wall(until, "%H:%M:%S")
    );
    let (mut h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![anna_id.clone()];
        c.bridge_extra = "  timezone: Europe/Berlin".into();
        c.sections.push_str(&format!(
            "inbox:\n  enabled: true\n  off_duty: \"{off_duty}\"\n\
             gdpr:\n  driver_notice: \"Datenschutz: siehe Intranet\"\n"
        ));
    })
    .await;
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    // The desk writes first: the privacy notice waits with the first message.
    let driver = add_phone(&sim, 'U', "Erika Muster", Behaviour::silent());
    let management = anna.management_room().await;
    anna.ask(&management, &format!("start {driver}")).await;
    let room = portal_of(&h, &anna, &driver).await;
    anna.join(&room).await;

    let held = anna.send_text(&room, "Morgen Tour 5 ab Tor 3").await;
    let told = anna.answer_to(&room, &held).await;
    // Today's time, or with the day when the duty starts after midnight.
    let same_day = wall(until, "%F") == wall(jiff::Timestamp::now(), "%F");
    let shown = wall(until, if same_day { "%H:%M %Z" } else { "%a %H:%M %Z" });
    assert!(
        // Named as the ghost is (by its Threema ID: the driver has not written yet).
        told.starts_with(&format!("⏸ Held until {shown}: {driver} is off duty")),
        "{told}"
    );
    // Deleted while held: it never goes.
    let wrong = anna.send_text(&room, "Tour 6 fällt aus").await;
    anna.answer_to(&room, &wrong).await;
    anna.redact(&room, &wrong).await;
    let store = &h.bridge.store;
    common::synapse::wait_for("the held message withdrawn", WAIT, || async {
        store
            .outbox_by_event(&wrong)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;

    // `!urgent …` goes now, without the word, after the privacy notice (held with the first
    // message, it goes first).
    let notice = "Datenschutz: siehe Intranet".to_owned();
    anna.send_text(&room, "!urgent Bitte sofort anrufen").await;
    let phone = sim.wait_inbox(&driver, 2, WAIT).await;
    assert_eq!(
        texts(&phone),
        [notice.clone(), "Anna Dispo: Bitte sofort anrufen".into()]
    );
    // `!urgent` answering the bot's "held until" sends that message, though a later one went
    // meanwhile; edited right after, the edit follows it. The first stays held.
    let closed = anna.send_text(&room, "Tor 3 ist gesperrt").await;
    let held_notice = anna
        .wait_message(&room, "the held notice", |m| {
            m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == closed.as_str()
        })
        .await;
    anna.send_text(&room, "!urgent Komme später").await;
    sim.wait_inbox(&driver, 3, WAIT).await;
    let release = serde_json::json!({
        "msgtype": "m.text",
        "body": "!urgent",
        "m.relates_to": {"m.in_reply_to": {"event_id": held_notice["event_id"]}},
    });
    let asked = anna.send_content(&room, release).await;
    let edit = serde_json::json!({
        "msgtype": "m.text",
        "body": "* Tor 3 ist wieder offen",
        "m.new_content": {"msgtype": "m.text", "body": "Tor 3 ist wieder offen"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": closed},
    });
    anna.send_content(&room, edit).await;
    let answer = anna.answer_to(&room, &asked).await;
    assert!(answer.starts_with("Sending now what was held"), "{answer}");
    let phone = sim.wait_inbox(&driver, 5, WAIT).await;
    assert_eq!(
        texts(&phone),
        [
            notice.clone(),
            "Anna Dispo: Bitte sofort anrufen".into(),
            "Anna Dispo: Komme später".into(),
            "Anna Dispo: Tor 3 ist gesperrt".into()
        ]
    );
    match &phone[4].message {
        Decoded::Edit { message_id, text } => {
            assert_eq!(message_id, &phone[3].message_id, "the edit of that message");
            assert!(text.ends_with("Tor 3 ist wieder offen"), "{text}");
        }
        other => panic!("not the edit: {other:?}"),
    }

    // A restart while it is held changes nothing; at the end of the off-duty time it goes,
    // once, and the desk's words never.
    h.restart(Some(&sim)).await;
    assert!(
        jiff::Timestamp::now() < until,
        "restarted only after the hold ended: the test's 50 s were too short"
    );
    let phone = sim.wait_inbox(&driver, 6, Duration::from_secs(120)).await;
    assert_eq!(
        texts(&phone)[4..],
        ["Anna Dispo: Morgen Tour 5 ab Tor 3".to_owned()]
    );
    assert!(
        phone[5].date as i64 >= until.as_second(),
        "sent at {} before the duty began at {}",
        phone[5].date,
        until.as_second()
    );
    assert_eq!(sim.inbox(&driver).len(), 6);
    let audited = (h.bridge.store.audit_recent(Some(&driver), 50).await).unwrap();
    assert!(
        audited.iter().any(|e| e.action == "outbox.release_held"),
        "{:?}",
        audited.iter().map(|e| &e.action).collect::<Vec<_>>()
    );
    h.stop().await;
}

/// `retention.history_days` cuts a desk room's history as a portal's: an alert the bot wrote a
/// year ago goes with what came before it (the board too), and the board is posted anew at the
/// next update.
#[tokio::test]
async fn retention_cuts_a_desk_rooms_old_history_and_the_board_is_posted_anew() {
    use ruma::{
        MilliSecondsSinceUnixEpoch, TransactionId, UInt, api::client::message::send_message_event,
        events::MessageLikeEventType, serde::Raw,
    };
    let (anna_lp, anna_id) = {
        let lp = unique_localpart("anna");
        (lp.clone(), format!("@{lp}:{DOMAIN}"))
    };
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![anna_id.clone()];
        c.bridge_extra = format!("  permissions:\n    \"{anna_id}\": admin");
        c.with_synapse_admin();
        c.sections
            .push_str("inbox:\n  enabled: true\nretention:\n  history_days: 30\n");
    })
    .await;
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    let driver = add_phone(&sim, 'Q', "Erika Muster", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text("Wo ist Tor 3?"))
        .await
        .unwrap();
    let portal = portal_of(&h, &anna, &driver).await;
    anna.join(&portal).await;
    let store = &h.bridge.store;
    let room = common::synapse::wait_for("the desk room", WAIT, || async {
        store.state_get("desk_room").await.unwrap()
    })
    .await;
    anna.wait_invited_to(&room, WAIT).await;
    anna.join(&room).await;
    wait_board(&anna, &room, |b| b.contains("Erika Muster")).await;
    let first_board = store
        .state_get("desk_board:desk_room")
        .await
        .unwrap()
        .unwrap();

    // An alert the bot wrote a year ago (as the homeserver dates it), and a word of today.
    let year_ago = jiff::Timestamp::now().as_millisecond() - 365 * 86_400_000;
    let content = serde_json::json!({
        "msgtype": "m.text",
        "body": "⏰ Max Fahrer has waited 15 min for an answer",
    });
    let mut old = send_message_event::v3::Request::new_raw(
        room.as_str().try_into().unwrap(),
        TransactionId::new(),
        MessageLikeEventType::RoomMessage,
        Raw::from_json(serde_json::value::to_raw_value(&content).unwrap()),
    );
    old.timestamp = UInt::new(year_ago as u64).map(MilliSecondsSinceUnixEpoch);
    h.bridge.matrix.send(old, None).await.unwrap();
    anna.send_text(&room, "Guten Morgen").await;

    let management = anna.management_room().await;
    let answer = anna.ask(&management, "retention run").await;
    assert!(
        answer.contains(" in 0 portal(s) and 1 desk room(s) gone"),
        "{answer}"
    );
    let left = anna.messages(&room).await;
    let bodies: Vec<&str> = (left.iter())
        .filter_map(|m| m["content"]["body"].as_str())
        .collect();
    assert!(
        !bodies.iter().any(|b| b.contains("Max Fahrer")),
        "{bodies:?}"
    );
    assert!(
        bodies.contains(&"Guten Morgen"),
        "the newest stays: {bodies:?}"
    );
    assert!(
        !left.iter().any(|m| m["event_id"] == first_board.as_str()),
        "the board went with what came before the cut"
    );

    // The next change posts the board anew.
    anna.send_text(&portal, "!claim").await;
    wait_board(&anna, &room, |b| b.contains("Anna Dispo has it")).await;
    let board = store
        .state_get("desk_board:desk_room")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(board, first_board);
    h.stop().await;
}

/// A driver's message that is exactly a quick code shows its meaning in the portal and counts
/// as their status on the desk board; it does not wait for an answer. Anything else still does.
#[tokio::test]
async fn a_quick_code_is_shown_with_its_meaning_and_counted_as_a_status() {
    let (anna_lp, anna_id) = {
        let lp = unique_localpart("anna");
        (lp.clone(), format!("@{lp}:{DOMAIN}"))
    };
    let (h, sim) = Harness::with_simulator(|c| {
        c.dispatchers = vec![anna_id.clone()];
        c.sections
            .push_str("inbox:\n  enabled: true\nquick_codes:\n  \"1\": arrived\n  \"2\": loaded\n");
    })
    .await;
    let anna = Dispatcher::login(h.synapse, &anna_lp, "Anna Dispo").await;
    let driver = add_phone(&sim, 'K', "Erika Muster", Behaviour::silent());
    sim.send_from_user(&driver, UserMessage::text(" 2 "))
        .await
        .unwrap();
    let portal = portal_of(&h, &anna, &driver).await;
    anna.join(&portal).await;
    let shown = anna
        .wait_message(&portal, "the status", |m| {
            m["content"]["org.threema_bridge.quick_code"].is_object()
        })
        .await;
    assert_eq!(shown["content"]["body"], "🏷️ loaded (2)");
    let store = &h.bridge.store;
    let room = common::synapse::wait_for("the desk room", WAIT, || async {
        store.state_get("desk_room").await.unwrap()
    })
    .await;
    anna.wait_invited_to(&room, WAIT).await;
    anna.join(&room).await;
    let board = wait_board(&anna, &room, |b| b.contains("🏷️ Status")).await;
    assert!(
        board.starts_with("📋 Desk board: no driver waits for an answer."),
        "a status waits for nothing: {board}"
    );
    assert!(board.contains("• Erika Muster — loaded (2) at "), "{board}");
    // The next code replaces it; a question waits as before.
    sim.send_from_user(&driver, UserMessage::text("1"))
        .await
        .unwrap();
    sim.send_from_user(&driver, UserMessage::text("1 Palette fehlt"))
        .await
        .unwrap();
    let board = wait_board(&anna, &room, |b| {
        b.contains("— arrived (1) at ") && b.contains("waiting for an answer (1)")
    })
    .await;
    assert!(!board.contains("loaded"), "{board}");
    h.stop().await;
}
