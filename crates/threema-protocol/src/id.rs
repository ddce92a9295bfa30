//! Threema identities.

/// A Threema ID: 8 characters, capitals and digits (`*` first for Gateway IDs).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct ThreemaId(String);

impl TryFrom<String> for ThreemaId {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        ThreemaId::parse(&s).ok_or_else(|| format!("{s:?} is not a Threema ID"))
    }
}

impl From<ThreemaId> for String {
    fn from(id: ThreemaId) -> String {
        id.0
    }
}

impl ThreemaId {
    /// Accepts either case, as people type IDs in lowercase too; keeps capitals.
    pub fn parse(s: &str) -> Option<Self> {
        let id = s.to_ascii_uppercase();
        let valid = id.len() == 8
            && id.bytes().enumerate().all(|(i, b)| {
                b.is_ascii_uppercase() || b.is_ascii_digit() || (i == 0 && b == b'*')
            });
        valid.then_some(ThreemaId(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_gateway_id(&self) -> bool {
        self.0.starts_with('*')
    }
}

impl std::fmt::Display for ThreemaId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(ThreemaId::parse("ecHo1234").unwrap().as_str(), "ECHO1234");
        assert!(ThreemaId::parse("*DISPTCH").unwrap().is_gateway_id());
        for bad in ["ECHO-234", "ECHO123", "ECHO12345", "E*HO1234", ""] {
            assert_eq!(ThreemaId::parse(bad), None, "{bad}");
        }
    }
}
