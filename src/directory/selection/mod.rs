//! Broadcast selections: which drivers a dispatcher means by `depot=North AND shift=late`,
//! `vehicle=12|17|40`, `DRIVER01, "Erika Muster"`, `space:North` or `list:late-north`. Pure:
//! parsing, and matching against the directory's drivers; the bridge gathers the candidates.
//!
//! Grammar (keywords in any case): `OR` (also `,`) binds weakest, then `AND` (also two terms
//! side by side), then `NOT` (also a leading `-`); parentheses group. A term is `key=value`
//! (`|` between alternatives; `key!=value` negates), a Threema ID, a `"quoted name"`,
//! `space:<value>`, `list:<name>` or `all`. Written by hand: it is thirty lines of recursive
//! descent, smaller than any parser crate's setup.

use std::collections::{BTreeSet, HashMap};

use super::{Record, plan::Settings};
use threema_protocol::ThreemaId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    All,
    /// An attribute (or `name`, `id`, `employee`) equal to one of the values, any case.
    Attribute(String, Vec<String>),
    Id(ThreemaId),
    Name(String),
    /// Drivers in the space of this value (any of `space_attributes`).
    Space(String),
    /// A saved selection, resolved before matching.
    List(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Comma,
    Word(String),
    Quoted(String),
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    _ => Token::Comma,
                });
            }
            '"' | '“' | '”' => {
                chars.next();
                let quoted: String = chars
                    .by_ref()
                    .take_while(|&c| !matches!(c, '"' | '“' | '”'))
                    .collect();
                tokens.push(Token::Quoted(quoted));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | ',') {
                        break;
                    }
                    chars.next();
                    // `depot="North 2"`: a quoted value belongs to its word.
                    if c == '"' {
                        word.extend(chars.by_ref().take_while(|&c| c != '"'));
                    } else {
                        word.push(c);
                    }
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    tokens
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut terms = vec![self.and()?];
        while self.peek_keyword("or") || self.tokens.get(self.at) == Some(&Token::Comma) {
            self.at += 1;
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut terms = vec![self.not()?];
        loop {
            if self.peek_keyword("and") {
                self.at += 1;
            } else if self.at >= self.tokens.len()
                || self.peek_keyword("or")
                || matches!(self.tokens[self.at], Token::Comma | Token::Close)
            {
                break;
            }
            terms.push(self.not()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Expr::And(terms)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek_keyword("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        match token {
            None => Err("the selection ends too early".into()),
            Some(Token::Open) => {
                let inner = self.or()?;
                if self.tokens.get(self.at) != Some(&Token::Close) {
                    return Err("a ( is not closed".into());
                }
                self.at += 1;
                Ok(inner)
            }
            Some(Token::Close) => Err("a ) without its (".into()),
            Some(Token::Comma) => Err("a , without a term before it".into()),
            Some(Token::Quoted(name)) if name.trim().is_empty() => Err("an empty name".into()),
            Some(Token::Quoted(name)) => Ok(Expr::Name(name.trim().to_owned())),
            Some(Token::Word(word)) => term(&word),
        }
    }
}

fn term(word: &str) -> Result<Expr, String> {
    if let Some(rest) = word.strip_prefix('-').filter(|r| !r.is_empty()) {
        return Ok(Expr::Not(Box::new(term(rest)?)));
    }
    if let Some((key, value)) = word.split_once("!=") {
        return Ok(Expr::Not(Box::new(term(&format!("{key}={value}"))?)));
    }
    if let Some((key, value)) = word.split_once('=') {
        let values: Vec<String> = value
            .split('|')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect();
        if key.trim().is_empty() || values.is_empty() {
            return Err(format!(
                "{word:?} needs an attribute and a value, e.g. depot=North"
            ));
        }
        return Ok(Expr::Attribute(key.trim().to_lowercase(), values));
    }
    let lower = word.to_lowercase();
    if let Some(value) = lower.strip_prefix("space:") {
        let value = &word[word.len() - value.len()..];
        return Ok(Expr::Space(value.to_owned()));
    }
    if let Some(name) = lower.strip_prefix("list:") {
        return Ok(Expr::List(name.to_owned()));
    }
    if lower == "all" || lower == "*" {
        return Ok(Expr::All);
    }
    if let Some(id) = ThreemaId::parse(word) {
        return Ok(Expr::Id(id));
    }
    Err(format!(
        "{word:?} is not a term: write key=value, a Threema ID, a \"quoted name\", space:<value>, \
         list:<name> or all"
    ))
}

pub fn parse(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text);
    if tokens.is_empty() {
        return Err("the selection is empty".into());
    }
    let mut parser = Parser { tokens, at: 0 };
    let expr = parser.or()?;
    if parser.at < parser.tokens.len() {
        return Err("a ) without its (".into());
    }
    Ok(expr)
}

/// Replaces `list:<name>` by the saved selections (`lists`: name → its text), which may name
/// other lists, but not themselves.
pub fn resolve(expr: Expr, lists: &HashMap<String, String>) -> Result<Expr, String> {
    fn go(expr: Expr, lists: &HashMap<String, String>, depth: usize) -> Result<Expr, String> {
        Ok(match expr {
            Expr::List(name) => {
                let text = lists
                    .get(&name)
                    .ok_or_else(|| format!("there is no saved list {name:?}"))?;
                if depth > 8 {
                    return Err(format!("the list {name:?} names itself"));
                }
                go(parse(text)?, lists, depth + 1)?
            }
            Expr::Not(inner) => Expr::Not(Box::new(go(*inner, lists, depth)?)),
            Expr::And(terms) => Expr::And(
                terms
                    .into_iter()
                    .map(|t| go(t, lists, depth))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Or(terms) => Expr::Or(
                terms
                    .into_iter()
                    .map(|t| go(t, lists, depth))
                    .collect::<Result<_, _>>()?,
            ),
            other => other,
        })
    }
    go(expr, lists, 0)
}

/// Someone a selection may name: a driver of the directory (with or without a Threema ID) or
/// one the bridge knows from a portal.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub id: Option<ThreemaId>,
    /// As the desk sees them (the ghost's name).
    pub name: String,
    pub record: Option<&'a Record>,
    pub active: bool,
    /// The dispatcher may see this driver (`scope_attributes`).
    pub visible: bool,
}

/// Why a driver the selection matches gets nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exclusion {
    Left,
    NoThreemaId,
    OutOfScope,
    /// Named by Threema ID, but no driver the bridge knows.
    Unknown,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Selected {
    /// By Threema ID, with their names.
    pub recipients: Vec<(ThreemaId, String)>,
    /// Who matched but gets nothing: a label (name and ID or employee number) and why.
    pub excluded: Vec<(String, Exclusion)>,
}

impl Expr {
    /// Whether `c` is one of the drivers this expression means.
    pub fn matches(&self, c: &Candidate, settings: &Settings) -> bool {
        let attribute = |key: &str| -> Option<String> {
            let record = c.record;
            match key {
                "name" => Some(c.name.clone()),
                "id" | "threema_id" => c.id.as_ref().map(|id| id.to_string()),
                "employee" | "employee_id" => record.map(|r| r.employee_id.clone()),
                _ => record.and_then(|r| r.attribute(key)).map(str::to_owned),
            }
        };
        match self {
            Expr::All => true,
            Expr::Attribute(key, values) => attribute(key)
                .is_some_and(|have| values.iter().any(|v| v.eq_ignore_ascii_case(have.trim()))),
            Expr::Id(id) => c.id.as_ref() == Some(id),
            Expr::Name(name) => {
                c.name.eq_ignore_ascii_case(name)
                    || c.record
                        .is_some_and(|r| r.display_name.eq_ignore_ascii_case(name))
            }
            Expr::Space(value) => settings
                .space_attributes
                .iter()
                .any(|a| attribute(a).is_some_and(|have| have.trim().eq_ignore_ascii_case(value))),
            // Resolved before matching; an unresolved list matches nobody.
            Expr::List(_) => false,
            Expr::Not(inner) => !inner.matches(c, settings),
            Expr::And(terms) => terms.iter().all(|t| t.matches(c, settings)),
            Expr::Or(terms) => terms.iter().any(|t| t.matches(c, settings)),
        }
    }

    /// Threema IDs the selection names outright.
    fn named_ids(&self, out: &mut BTreeSet<ThreemaId>) {
        match self {
            Expr::Id(id) => {
                out.insert(id.clone());
            }
            Expr::And(terms) | Expr::Or(terms) => terms.iter().for_each(|t| t.named_ids(out)),
            _ => {}
        }
    }
}

/// The recipients of `expr` among `candidates`, and who is left out and why. Each Threema ID
/// is one driver, judged by their first candidate (the directory's, then the portals'): a
/// driver's portal, which knows no attributes, never matches for a record that does not.
pub fn select(expr: &Expr, candidates: &[Candidate], settings: &Settings) -> Selected {
    let mut selected = Selected::default();
    let mut seen = BTreeSet::new();
    let first = candidates.iter().filter(|c| match &c.id {
        Some(id) => seen.insert(id.clone()),
        None => true,
    });
    for c in first
        .collect::<Vec<_>>()
        .into_iter()
        .filter(|c| expr.matches(c, settings))
    {
        let label = match (&c.id, c.record) {
            (Some(id), _) => format!("{} ({id})", c.name),
            (None, Some(r)) => format!("{} (employee {})", c.name, r.employee_id),
            (None, None) => c.name.clone(),
        };
        // Scope first: whoever is outside it is counted, never named (whatever else applies).
        let exclusion = match &c.id {
            _ if !c.visible => Some(Exclusion::OutOfScope),
            None => Some(Exclusion::NoThreemaId),
            Some(_) if !c.active => Some(Exclusion::Left),
            Some(_) => None,
        };
        match (exclusion, &c.id) {
            (None, Some(id)) => selected.recipients.push((id.clone(), c.name.clone())),
            (Some(why), _) => selected.excluded.push((label, why)),
            (None, None) => unreachable!("no id is an exclusion"),
        }
    }
    let mut named = BTreeSet::new();
    expr.named_ids(&mut named);
    for id in named.into_iter().filter(|id| !seen.contains(id)) {
        selected.excluded.push((id.to_string(), Exclusion::Unknown));
    }
    selected
        .recipients
        .sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    selected
}

#[cfg(test)]
mod tests;
