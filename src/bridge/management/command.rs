//! The management room's commands: the words a message to the bot is parsed into, and the
//! help text that lists them. Pure: `Management` carries them out.

use super::holds;
use crate::threema::ThreemaId;

/// A command, parsed from a message to the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// Open (or show) the portal of a driver, by Threema ID or name.
    Start(String),
    Find(String),
    /// The bridge's state, or one message's delivery state (an event id or a message link).
    Status(Option<String>),
    /// Read the directory sources now and bring the rooms in line (admins).
    Sync,
    /// The newest audit entries, optionally about one subject (admins).
    Audit(Option<String>),
    /// Open a broadcast room for a selection of drivers (`live` first: evaluated per message).
    Broadcast(String),
    /// Preview a selection without opening anything.
    Select(String),
    /// Save a named selection: `<name> <selection>`.
    SaveList(String),
    /// Trust a driver's changed public key and replay their held messages (admins).
    AcceptKey(String),
    /// Set, release or list legal holds (admins).
    Hold(holds::HoldRequest),
    /// Erase a driver, or say what would go (admins).
    Erase(String),
    /// Export what is held about a person as a ZIP posted here, or say what it would hold
    /// (admins).
    Export(String),
    /// The open export and erasure requests (admins).
    Requests,
    /// Apply the retention periods now, or say what would go (admins).
    Retention(String),
    /// Give all of one's open conversations to a colleague (the shared inbox).
    Handover(String),
    /// What the next shift takes over (the shared inbox).
    Summary,
    /// `on-shift` (`true`) / `off-shift`: whether the desk rooms' alerts mention me.
    OnShift(bool),
    /// The quick replies `!t <name>` sends (`templates:`).
    Templates,
    /// Each driver's last shared location, of the drivers one may see.
    LastPositions,
    Unknown(String),
}

/// The first argument that is not an option: what a command is about, a Threema ID in
/// capitals as everything else records it (so an erasure finds the command too).
fn about(args: &str) -> String {
    let first = (args.split_whitespace())
        .find(|a| !a.starts_with("--"))
        .unwrap_or("bridge");
    match ThreemaId::parse(first) {
        Some(id) => id.to_string(),
        None => first.to_owned(),
    }
}

impl Command {
    /// An admin-only command's word and the identifier it is about (`bridge` when none), for
    /// the audit trail; `None` for the others.
    pub(super) fn admin(&self) -> Option<(&'static str, String)> {
        Some(match self {
            Command::Sync => ("sync", about("")),
            Command::Audit(subject) => ("audit", about(subject.as_deref().unwrap_or(""))),
            Command::AcceptKey(who) => ("accept-key", about(who)),
            Command::Hold(holds::HoldRequest::Set { target, .. })
            | Command::Hold(holds::HoldRequest::Release(target)) => ("hold", about(target)),
            Command::Hold(_) => ("hold", about("")),
            Command::Erase(args) => ("erase", about(args)),
            Command::Export(args) => ("export", about(args)),
            Command::Requests => ("requests", about("")),
            Command::Retention(_) => ("retention", about("")),
            _ => return None,
        })
    }
}

/// Parses a message body; `None` when it is not addressed to the bot (empty).
pub fn parse_command(body: &str) -> Option<Command> {
    let body = body.trim().trim_start_matches('!');
    let (word, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    let rest = rest.trim().to_owned();
    Some(match word.to_lowercase().as_str() {
        "" => return None,
        "help" => Command::Help,
        "start" | "open" if !rest.is_empty() => Command::Start(rest),
        "find" | "search" if !rest.is_empty() => Command::Find(rest),
        "status" => Command::Status((!rest.is_empty()).then_some(rest)),
        "sync" => Command::Sync,
        "audit" => Command::Audit((!rest.is_empty()).then_some(rest)),
        "broadcast" if !rest.is_empty() => Command::Broadcast(rest),
        "select" | "preview" if !rest.is_empty() => Command::Select(rest),
        "save-list" | "savelist" if !rest.is_empty() => Command::SaveList(rest),
        "accept-key" | "acceptkey" if !rest.is_empty() => Command::AcceptKey(rest),
        "hold" | "holds" => Command::Hold(holds::HoldRequest::parse(&rest)),
        "erase" => Command::Erase(rest),
        "export" => Command::Export(rest),
        "requests" => Command::Requests,
        "retention" => Command::Retention(rest),
        "handover" if !rest.is_empty() => Command::Handover(rest),
        "summary" => Command::Summary,
        "on-shift" | "onshift" => Command::OnShift(true),
        "off-shift" | "offshift" => Command::OnShift(false),
        "templates" | "template" => Command::Templates,
        "last-positions" | "positions" => Command::LastPositions,
        _ => Command::Unknown(word.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_or_without_a_bang() {
        assert_eq!(parse_command("help"), Some(Command::Help));
        assert_eq!(parse_command("!summary"), Some(Command::Summary));
        assert_eq!(parse_command("Off-Shift"), Some(Command::OnShift(false)));
        assert_eq!(
            parse_command("  !Start  ABCD1234 "),
            Some(Command::Start("ABCD1234".into()))
        );
        assert_eq!(
            parse_command("start Erika Muster"),
            Some(Command::Start("Erika Muster".into()))
        );
        assert_eq!(parse_command("find 17"), Some(Command::Find("17".into())));
        assert_eq!(parse_command("status"), Some(Command::Status(None)));
        assert_eq!(
            parse_command("status $abc"),
            Some(Command::Status(Some("$abc".into())))
        );
        assert_eq!(
            parse_command("start"),
            Some(Command::Unknown("start".into()))
        );
        assert_eq!(
            parse_command("hallo"),
            Some(Command::Unknown("hallo".into()))
        );
        assert_eq!(
            parse_command("!accept-key abcd1234"),
            Some(Command::AcceptKey("abcd1234".into()))
        );
        assert_eq!(
            parse_command("accept-key"),
            Some(Command::Unknown("accept-key".into()))
        );
        assert_eq!(parse_command("   "), None);
    }
}
