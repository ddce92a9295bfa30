//! A driver's poll, vote and close as Matrix poll events from their ghost, so that Element's
//! own poll view shows and counts them: the driver's poll becomes a poll the desk can vote in
//! (its choice ids as the answers' ids), a vote in any poll of the chat a poll response in the
//! poll's namespace, the close of their poll its end. What Matrix cannot hold (a poll of more
//! than 20 choices, a vote in a poll the bridge never saw) is shown as text.

use bridge_convert::poll::{self, Namespace, PollAnswer, PollEvent};
use ruma::OwnedEventId;
use serde_json::Value;

use super::{
    Incoming, ThreemaToMatrix,
    convert::{self},
    send::parse_event_id,
};
use crate::{
    bridge::BridgeError,
    store::{Poll, PollChoice},
    threema::codec::PollSetup,
};

/// An event's type and content.
pub(super) type Content = (&'static str, Value);

const MESSAGE: &str = "m.room.message";

impl ThreemaToMatrix {
    /// The driver's poll: a Matrix poll when it opens, the end of the poll it closes.
    pub(super) async fn poll_content(
        &self,
        incoming: &Incoming,
        setup: &PollSetup,
    ) -> Result<Content, BridgeError> {
        let from = incoming.from.as_str();
        if setup.closed
            && let Some(known) = self.store.poll_get(from, from, setup.poll_id).await?
        {
            let votes = self.store.poll_votes(&known).await?;
            let answers = answers_of(&known.choices);
            let chosen: Vec<Vec<String>> = (votes.iter())
                .map(|v| known_answers(&known.choices, &v.choices))
                .collect();
            let tally = poll::tally(&answers, chosen.iter().map(Vec::as_slice));
            let text = crate::tr!(self.texts, "poll-ended", results = poll::tally_line(&tally));
            let namespace = Namespace::parse(&known.namespace);
            let start = parse_event_id(&known.event_id)?;
            self.store.poll_close(&known).await?;
            return Ok((
                namespace.event_type(PollEvent::End),
                poll::end_content(namespace, start, &text),
            ));
        }
        let answers: Vec<PollAnswer> = (setup.choices.iter())
            .map(|c| PollAnswer {
                id: c.id.to_string(),
                text: c.name.clone(),
            })
            .collect();
        let namespace = Namespace::Unstable;
        match (!setup.closed)
            .then(|| {
                poll::start_content(
                    namespace,
                    &setup.description,
                    &answers,
                    setup.multiple_choice,
                )
            })
            .flatten()
        {
            Some(content) => Ok((namespace.event_type(PollEvent::Start), content)),
            None => Ok((MESSAGE, convert::poll_setup(&self.texts, setup))),
        }
    }

    /// The driver's vote in a poll of this chat (theirs or the desk's): a poll response from
    /// their ghost, kept for the close and the broadcast board.
    pub(super) async fn vote_content(
        &self,
        incoming: &Incoming,
        creator: &str,
        poll_id: u64,
        votes: &[(u64, bool)],
    ) -> Result<Content, BridgeError> {
        let from = incoming.from.as_str();
        let Some(known) = self.store.poll_get(from, creator, poll_id).await? else {
            return Ok((MESSAGE, convert::poll_vote(&self.texts, None, votes)));
        };
        let chosen: Vec<u64> = (votes.iter())
            .filter(|(_, on)| *on)
            .map(|(id, _)| *id)
            .collect();
        // After the poll ended, the results stay as they were.
        if known.closed_at.is_none() {
            self.store.poll_vote_set(&known, from, &chosen).await?;
            if known.broadcast_event.is_some() {
                self.board_wake.notify_one();
            }
        }
        let namespace = Namespace::parse(&known.namespace);
        let start: OwnedEventId = parse_event_id(&known.event_id)?;
        let answers = known_answers(&known.choices, &chosen);
        // A job card of the integration API answered in its poll (never holding up the vote).
        if known.closed_at.is_none() {
            let at = incoming.date.saturating_mul(1000);
            let texts: Vec<String> = (known.choices.iter())
                .filter(|c| chosen.contains(&c.id))
                .map(|c| c.name.clone())
                .collect();
            let voted = (self.api_events)
                .on_poll_vote(&known.event_id, from, &texts, at)
                .await;
            if let Err(e) = voted {
                tracing::warn!(error = %e, "the driver's vote on an API job card is not recorded");
            }
        }
        Ok((
            namespace.event_type(PollEvent::Response),
            poll::response_content(namespace, start, answers),
        ))
    }

    /// Keeps the driver's poll with its choices, so that votes can name them and its close
    /// can end it.
    pub(super) async fn record_poll(
        &self,
        incoming: &Incoming,
        setup: &PollSetup,
        event_id: &ruma::EventId,
    ) -> Result<(), BridgeError> {
        let from = incoming.from.to_string();
        self.store
            .poll_insert(&Poll {
                threema_peer: from.clone(),
                creator: from,
                poll_id: setup.poll_id,
                event_id: event_id.to_string(),
                choices: convert::poll_choices(setup),
                question: setup.description.clone(),
                multiple: setup.multiple_choice,
                namespace: Namespace::Unstable.as_str().into(),
                broadcast_event: None,
                closed_at: None,
            })
            .await?;
        Ok(())
    }
}

/// A stored poll's choices as the Matrix answers they are.
fn answers_of(choices: &[PollChoice]) -> Vec<PollAnswer> {
    (choices.iter())
        .map(|c| PollAnswer {
            id: c.answer_id(),
            text: c.name.clone(),
        })
        .collect()
}

/// The Matrix answer ids of the chosen choice ids (ids the poll does not have are dropped).
fn known_answers(choices: &[PollChoice], chosen: &[u64]) -> Vec<String> {
    (choices.iter())
        .filter(|c| chosen.contains(&c.id))
        .map(PollChoice::answer_id)
        .collect()
}
