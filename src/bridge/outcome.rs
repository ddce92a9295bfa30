//! What became of an item of a durable queue (a Matrix event, a driver's message, a broadcast
//! copy): recorded in its row as `kind: detail` and logged. The kind is for code and tests, the
//! detail for the operator reading the row.

use std::{fmt, str::FromStr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Carried out: what it became (the event in the portal, the message queued for a phone).
    Bridged(String),
    /// Nothing to do by design (an echo, a receipt for messages the bridge never sent).
    Skipped(String),
    /// Not bridged on purpose: the sender may not (a former driver, an unknown sender, a user
    /// without permission).
    Refused(String),
    /// Waiting for an operator (a driver's changed key); replayed once they act.
    Held(String),
    /// Could not be bridged: malformed, undecryptable, or failed for good.
    Failed(String),
}

impl Outcome {
    pub fn bridged(what: impl Into<String>) -> Self {
        Outcome::Bridged(what.into())
    }

    pub fn skipped(why: impl Into<String>) -> Self {
        Outcome::Skipped(why.into())
    }

    pub fn refused(why: impl Into<String>) -> Self {
        Outcome::Refused(why.into())
    }

    pub fn held(why: impl Into<String>) -> Self {
        Outcome::Held(why.into())
    }

    pub fn failed(why: impl Into<String>) -> Self {
        Outcome::Failed(why.into())
    }

    /// Whether the raw payload stays in the row for an operator (whatever did not go through).
    pub fn keeps_payload(&self) -> bool {
        matches!(
            self,
            Outcome::Refused(_) | Outcome::Held(_) | Outcome::Failed(_)
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Bridged(_) => "bridged",
            Outcome::Skipped(_) => "skipped",
            Outcome::Refused(_) => "refused",
            Outcome::Held(_) => "held",
            Outcome::Failed(_) => "failed",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Outcome::Bridged(d)
            | Outcome::Skipped(d)
            | Outcome::Refused(d)
            | Outcome::Held(d)
            | Outcome::Failed(d) => d,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind(), self.detail())
    }
}

/// A recorded outcome that does not start with a kind (rows from before kinds were recorded).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a recorded outcome")]
pub struct NotAnOutcome;

impl FromStr for Outcome {
    type Err = NotAnOutcome;

    fn from_str(recorded: &str) -> Result<Self, NotAnOutcome> {
        let (kind, detail) = recorded.split_once(": ").ok_or(NotAnOutcome)?;
        let detail = detail.to_owned();
        Ok(match kind {
            "bridged" => Outcome::Bridged(detail),
            "skipped" => Outcome::Skipped(detail),
            "refused" => Outcome::Refused(detail),
            "held" => Outcome::Held(detail),
            "failed" => Outcome::Failed(detail),
            _ => return Err(NotAnOutcome),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_outcomes_read_back_as_written() {
        for outcome in [
            Outcome::bridged("text, 4 bytes → $e"),
            Outcome::skipped("echo"),
            Outcome::refused("from a former driver"),
            Outcome::held("the sender's public key changed"),
            Outcome::failed("malformed: bad: colon"),
        ] {
            assert_eq!(outcome.to_string().parse(), Ok(outcome));
        }
        assert_eq!("text, 4 bytes".parse::<Outcome>(), Err(NotAnOutcome));
        assert_eq!("kept: x".parse::<Outcome>(), Err(NotAnOutcome));
    }

    #[test]
    fn only_what_did_not_go_through_keeps_its_payload() {
        assert!(!Outcome::bridged("x").keeps_payload());
        assert!(!Outcome::skipped("x").keeps_payload());
        assert!(Outcome::refused("x").keeps_payload());
        assert!(Outcome::held("x").keeps_payload());
        assert!(Outcome::failed("x").keeps_payload());
    }
}
