//! Colleagues in an export (Art. 15(4): the subject's copy must not harm others' rights): every
//! Matrix ID and display name of someone other than the subject becomes a stable pseudonym,
//! the same in every export, so a data protection officer can still follow who wrote what.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::bridge::lifecycle::erase::IdHasher;

/// Display names shorter than this are left alone: they would match inside ordinary words.
const MIN_NAME_CHARS: usize = 3;

/// Who is replaced by what. Built from the people the exported events name.
pub struct Pseudonyms {
    hasher: Option<IdHasher>,
    /// User ID → pseudonym.
    users: BTreeMap<String, String>,
    /// Display name → pseudonym, longest first when applied (a name inside another).
    names: BTreeMap<String, String>,
    /// The subject's own IDs and names: never replaced.
    own: Vec<String>,
}

impl Pseudonyms {
    /// `hasher: None` keeps everyone's names (`gdpr.pseudonymise_colleagues: false`).
    pub fn new(hasher: Option<IdHasher>, own: Vec<String>) -> Self {
        Pseudonyms {
            hasher,
            users: BTreeMap::new(),
            names: BTreeMap::new(),
            own,
        }
    }

    /// A colleague, with the display names they are known by.
    pub fn add(&mut self, user_id: &str, names: impl IntoIterator<Item = String>) {
        let Some(hasher) = &self.hasher else { return };
        if self.own.iter().any(|o| o == user_id) {
            return;
        }
        let pseudonym = format!("colleague-{}", &hasher.hash_text(user_id)[..8]);
        for name in names {
            let name = name.trim().to_owned();
            if name.chars().count() >= MIN_NAME_CHARS && !self.own.contains(&name) {
                self.names.insert(name, pseudonym.clone());
            }
        }
        self.users.insert(user_id.to_owned(), pseudonym);
    }

    /// How many colleagues are replaced.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// The pseudonym of `user_id`, or the ID itself (the subject, the bridge, or no hasher).
    pub fn user(&self, user_id: &str) -> String {
        self.users
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| user_id.to_owned())
    }

    /// Replaces every colleague's ID and name in every string of `value` (keys included: a
    /// receipt or mention map is keyed by user ID).
    pub fn apply(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.apply(&mut v);
                    map.insert(self.text(&key), v);
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// `text` with every colleague's ID and name replaced.
    pub fn text(&self, text: &str) -> String {
        if self.users.is_empty() {
            return text.to_owned();
        }
        let mut out = text.to_owned();
        for (user, pseudonym) in &self.users {
            if out.contains(user.as_str()) {
                out = out.replace(user.as_str(), pseudonym);
            }
        }
        let mut names: Vec<(&String, &String)> = self.names.iter().collect();
        names.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
        for (name, pseudonym) in names {
            if out.contains(name.as_str()) {
                out = out.replace(name.as_str(), pseudonym);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hasher() -> IdHasher {
        IdHasher::from_key([7; 32])
    }

    #[test]
    fn colleagues_become_the_same_pseudonym_everywhere_and_the_subject_stays() {
        let own = vec!["@threema_abcd1234:x".to_owned(), "Erika Muster".to_owned()];
        let mut p = Pseudonyms::new(Some(hasher()), own.clone());
        p.add("@anna:x", ["Anna Dispo".to_owned(), "Al".to_owned()]);
        p.add("@threema_abcd1234:x", ["Erika Muster".to_owned()]);
        assert_eq!(p.len(), 1);
        let anna = p.user("@anna:x");
        assert!(anna.starts_with("colleague-") && anna.len() == "colleague-".len() + 8);
        let mut event = json!({
            "sender": "@anna:x",
            "content": {"body": "Anna Dispo an Erika Muster: Alles klar?", "m.mentions": {"user_ids": ["@anna:x"]}},
            "receipts": {"@anna:x": 1},
        });
        p.apply(&mut event);
        let text = event.to_string();
        assert!(
            !text.contains("@anna:x") && !text.contains("Anna Dispo"),
            "{text}"
        );
        assert!(
            text.contains("Erika Muster") && text.contains("Alles klar"),
            "{text}"
        );
        assert_eq!(event["sender"], anna.as_str());
        assert_eq!(event["receipts"][&anna], 1);
        // Stable: another export gives the same pseudonym.
        let mut again = Pseudonyms::new(Some(hasher()), own);
        again.add("@anna:x", []);
        assert_eq!(again.user("@anna:x"), anna);
    }

    #[test]
    fn without_a_hasher_names_stay() {
        let mut p = Pseudonyms::new(None, vec![]);
        p.add("@anna:x", ["Anna Dispo".to_owned()]);
        assert_eq!(p.text("@anna:x Anna Dispo"), "@anna:x Anna Dispo");
    }
}
