//! A dispatcher's words to the bridge inside a portal, beside the desk's `!claim` & co.:
//! `!urgent` (answering a held message, or alone) sends what waits for the driver's shift now,
//! `!t <name>` sends a quick reply filled in for the driver, `!where` asks the driver for their
//! location (the next one they share answers it).

use ruma::{
    OwnedEventId, RoomId,
    events::room::message::{MessageType, Relation, RoomMessageEventContent},
};

use bridge_convert::plan::{Plan, signed_text};

use super::{EventHead, MatrixToThreema};
use crate::{
    bridge::{BridgeError, Outcome, quick_replies},
    threema::ThreemaId,
};

/// What `!t` in a message asks for.
pub(super) enum Template {
    /// Not a template: the message goes as written.
    None,
    /// Not sent, and why.
    Refused(String),
    /// This text goes instead.
    Filled(String),
}

/// `!where`: a location request.
pub(super) fn is_location_request(body: &str) -> bool {
    body.trim().eq_ignore_ascii_case("!where")
}

impl MatrixToThreema {
    /// `!where` in `driver`'s portal: `bridge.location_request` goes to the driver, signed by
    /// the dispatcher; the next location the driver shares answers it (a reply to this event).
    pub(super) async fn location_request(
        &self,
        event: &EventHead,
        driver: &ThreemaId,
    ) -> Result<Outcome, BridgeError> {
        let display_name = self.sender_name(event).await?;
        let relay = self.relay.by(&display_name);
        let plan = Plan::Send(signed_text(&self.location_request_text, relay));
        let outcome = (self.outbox)
            .enqueue(
                plan,
                driver,
                &event.room_id,
                &event.event_id,
                &event.sender,
                event.origin_server_ts,
                false,
            )
            .await?;
        if matches!(outcome, Outcome::Bridged(_)) {
            (self.store)
                .location_requested(
                    driver.as_str(),
                    event.event_id.as_str(),
                    event.origin_server_ts,
                )
                .await?;
            let event_id = &event.event_id;
            (self.notices)
                .notice(
                    &event.room_id,
                    Some(event_id),
                    &crate::tr!(self.texts, "location-requested"),
                    &format!("where-{event_id}"),
                )
                .await?;
        }
        Ok(outcome)
    }

    /// `!t <name>` in `content`: the template filled in for `driver`, written by
    /// `dispatcher` (their display name).
    pub(super) async fn template(
        &self,
        content: &RoomMessageEventContent,
        driver: &ThreemaId,
        dispatcher: &str,
    ) -> Result<Template, BridgeError> {
        // An edit of a `!t` message would send the words `!t …` as the edit: refused.
        if let Some(Relation::Replacement(replacement)) = &content.relates_to {
            let body = replacement.new_content.msgtype.body();
            return Ok(match quick_replies::requested(body) {
                Some(_) => Template::Refused(crate::tr!(self.texts, "template-no-edit")),
                None => Template::None,
            });
        }
        let MessageType::Text(text) = &content.msgtype else {
            return Ok(Template::None);
        };
        let body = bridge_convert::format::strip_reply_fallback(&text.body);
        let name = match quick_replies::requested(body) {
            None => return Ok(Template::None),
            Some(Err(asked)) => return Ok(Template::Refused(asked.say(&self.texts))),
            Some(Ok(name)) => name,
        };
        let Some(template) = quick_replies::find(&self.templates, name) else {
            return Ok(Template::Refused(quick_replies::unknown(&self.texts, name)));
        };
        let driver_name = self.ghosts.driver_name(driver).await?;
        let view = self.access.view();
        Ok(Template::Filled(quick_replies::fill(
            template,
            &driver_name,
            dispatcher,
            |attribute| view.driver_attribute(driver, attribute).to_owned(),
        )))
    }

    /// `!urgent` alone in a portal: what waits for the driver's shift goes now, the message it
    /// answers or everything held for them. Told in answer; never sent to the driver.
    pub(super) async fn release_held(
        &self,
        event: &EventHead,
        driver: &ThreemaId,
        answered: Option<&OwnedEventId>,
    ) -> Result<Outcome, BridgeError> {
        let answered = answered.map(|e| e.as_str());
        let released = (self.outbox)
            .release_held(driver, &event.room_id, answered)
            .await?;
        if released > 0 {
            let details = format!("{released} message part(s)");
            (self.store)
                .audit(
                    event.sender.as_str(),
                    "outbox.release_held",
                    driver.as_str(),
                    &details,
                )
                .await?;
        }
        let text = match (released, answered) {
            (0, Some(_)) => crate::tr!(self.texts, "urgent-not-held"),
            (0, None) => crate::tr!(self.texts, "urgent-nothing-held"),
            (n, _) => crate::tr!(self.texts, "urgent-released", count = n),
        };
        let event_id = &event.event_id;
        (self.notices)
            .notice(
                &event.room_id,
                Some(event_id),
                &text,
                &format!("released-{event_id}"),
            )
            .await?;
        Ok(Outcome::bridged(format!(
            "{released} held part(s) released"
        )))
    }

    /// The message `answered` stands for: the bot's "held until" notice stands for the message
    /// it answers (a dispatcher answers the notice that told them to).
    pub(super) async fn held_message_of(
        &self,
        room: &RoomId,
        answered: OwnedEventId,
    ) -> OwnedEventId {
        let Ok(read) = self.matrix.event(room, &answered).await else {
            return answered;
        };
        let of = read["content"]["m.relates_to"]["m.in_reply_to"]["event_id"].as_str();
        match (
            read["sender"] == self.bot.as_str(),
            of.map(OwnedEventId::try_from),
        ) {
            (true, Some(Ok(message))) => message,
            _ => answered,
        }
    }
}

/// The message a `!urgent` answers: the one replied to, or in a thread the one answered there
/// (else the thread's first).
pub(super) fn answered_event(content: &RoomMessageEventContent) -> Option<OwnedEventId> {
    match &content.relates_to {
        Some(Relation::Reply(reply)) => Some(reply.in_reply_to.event_id.clone()),
        Some(Relation::Thread(thread)) => Some(match &thread.in_reply_to {
            Some(reply) if !thread.is_falling_back => reply.event_id.clone(),
            _ => thread.event_id.clone(),
        }),
        _ => None,
    }
}
