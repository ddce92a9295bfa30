//! Personal values in the audit trail: identifiers as keyed hashes (what lookups use), values
//! encrypted under a key of the person's own. Erasing a person deletes their key: the entries
//! and the chain stay, nothing in them can be read any more (crypto-shredding).

use chacha20poly1305::{
    XChaCha20Poly1305,
    aead::{Aead, AeadCore, KeyInit, OsRng},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The bridge's key for the audit trail's keyed hashes, derived from its configuration: without
/// it a stored reference cannot be matched to a guessed ID (Threema IDs are few enough to try
/// them all against a plain hash).
#[derive(Clone)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(..)")
    }
}

impl AuditKey {
    pub fn new(key: [u8; 32]) -> Self {
        AuditKey(key)
    }

    fn mac(&self, purpose: &[u8], text: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose);
        mac.update(text.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The reference an identifier (employee ID, Threema ID, Matrix user or room, a word like
    /// `bridge`) is stored and looked up under.
    pub fn reference(&self, identifier: &str) -> String {
        self.mac(b"audit reference\0", identifier)
    }

    /// What authenticates the start a pruning recorded: without the bridge's key nobody can
    /// write a pruning entry that `audit verify` accepts.
    pub fn start_mac(&self, record: &str) -> String {
        self.mac(b"audit start\0", record)
    }

    /// A keyed hash of a message body: whoever holds a body can show it was the one sent, the
    /// audit trail does not hold it.
    pub fn body_hash(&self, body: &str) -> String {
        self.mac(b"audit body\0", body)
    }
}

/// One person's (one identifier's) key; stored in the database until the person is erased.
#[derive(Clone)]
pub struct PersonKey([u8; 32]);

impl std::fmt::Debug for PersonKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonKey(..)")
    }
}

impl PersonKey {
    pub fn generate() -> Self {
        PersonKey(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn parse(hex_text: &str) -> Option<Self> {
        let mut out = [0; 32];
        hex::decode_to_slice(hex_text, &mut out).ok()?;
        Some(PersonKey(out))
    }

    /// `nonce ‖ ciphertext` in hex; a fresh random nonce each time (XChaCha20's 24 bytes make
    /// collisions negligible).
    pub fn seal(&self, plaintext: &str) -> String {
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("encrypting into a Vec does not fail");
        let mut out = nonce.to_vec();
        out.extend(sealed);
        hex::encode(out)
    }

    /// The plaintext, or `None` when `sealed` was not sealed under this key (or was changed).
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let plain = cipher.decrypt(nonce.into(), ciphertext).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_key_only() {
        let key = PersonKey::generate();
        let sealed = key.seal("@alice:dispatch.test");
        assert!(!sealed.contains("alice"));
        assert_eq!(key.open(&sealed).as_deref(), Some("@alice:dispatch.test"));
        assert_eq!(PersonKey::generate().open(&sealed), None);
        let mut changed = sealed.clone();
        changed.replace_range(60..61, if &sealed[60..61] == "0" { "1" } else { "0" });
        assert_eq!(key.open(&changed), None);
        // Same value, different nonce: equal values do not show as equal.
        assert_ne!(key.seal("x"), key.seal("x"));
        assert_eq!(
            PersonKey::parse(&key.hex()).unwrap().open(&sealed).unwrap(),
            "@alice:dispatch.test"
        );
    }

    #[test]
    fn references_depend_on_the_key_and_differ_from_body_hashes() {
        let a = AuditKey::new([1; 32]);
        let b = AuditKey::new([2; 32]);
        assert_eq!(a.reference("ECHO1234"), a.reference("ECHO1234"));
        assert_ne!(a.reference("ECHO1234"), b.reference("ECHO1234"));
        assert_ne!(a.reference("ECHO1234"), a.body_hash("ECHO1234"));
        assert_eq!(format!("{a:?}"), "AuditKey(..)");
    }
}
