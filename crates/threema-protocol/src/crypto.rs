//! NaCl `crypto_box` for message containers. The official crate's `encrypt` adds its own
//! padding without the 32-byte minimum, so the bridge pads (`codec::pad`) and seals here with the
//! same primitive (`crypto_box`'s SalsaBox) the crate uses. Blob encryption is the crate's.

pub use crypto_box::{PublicKey, SecretKey};
use crypto_box::{SalsaBox, aead::Aead};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the box does not open with this key pair")]
pub struct OpenError;

/// The key a peer and we share, computed once (an X25519 and an HSalsa20) and used for every box
/// between us: what `seal` and `open` compute each time.
pub type SharedKey = SalsaBox;

/// The key `peer` and we share.
pub fn shared_key(peer: &PublicKey, ours: &SecretKey) -> SharedKey {
    SalsaBox::new(peer, ours)
}

/// Encrypts `plaintext` from us to `recipient` under a fresh random nonce.
pub fn seal(plaintext: &[u8], recipient: &PublicKey, ours: &SecretKey) -> ([u8; 24], Vec<u8>) {
    seal_shared(plaintext, &shared_key(recipient, ours))
}

/// [`seal`] with the key shared with the recipient.
pub fn seal_shared(plaintext: &[u8], shared: &SharedKey) -> ([u8; 24], Vec<u8>) {
    let nonce: [u8; 24] = rand::random();
    let ciphertext = shared
        .encrypt(&nonce.into(), plaintext)
        .expect("XSalsa20-Poly1305 encryption of an in-memory buffer cannot fail");
    (nonce, ciphertext)
}

pub fn open(
    nonce: &[u8; 24],
    ciphertext: &[u8],
    sender: &PublicKey,
    ours: &SecretKey,
) -> Result<Vec<u8>, OpenError> {
    open_shared(nonce, ciphertext, &shared_key(sender, ours))
}

/// [`open`] with the key shared with the sender.
pub fn open_shared(
    nonce: &[u8; 24],
    ciphertext: &[u8],
    shared: &SharedKey,
) -> Result<Vec<u8>, OpenError> {
    shared
        .decrypt(nonce.into(), ciphertext)
        .map_err(|_| OpenError)
}

/// Parses a 32-byte key given as 64 hex digits (with an optional `private:`/`public:` prefix).
pub fn key_bytes(hex_key: &str) -> Option<[u8; 32]> {
    let hex_part = hex_key.trim();
    let hex_part = hex_part
        .strip_prefix("private:")
        .or_else(|| hex_part.strip_prefix("public:"))
        .unwrap_or(hex_part);
    hex::decode(hex_part).ok()?.try_into().ok()
}

/// HMAC keys of the Gateway's hashed lookups (Gateway API reference, "ID lookup").
pub const PHONE_HASH_KEY: [u8; 32] =
    hex_literal("85adf8226953f3d96cfd5d09bf29555eb955fcd8aa5ec4f9fcd869e258370723");
pub const EMAIL_HASH_KEY: [u8; 32] =
    hex_literal("30a5500fed9701fa6defdb610841900febb8e430881f7ad816826264ec09bad7");

/// `HMAC-SHA256(key, value)` in lowercase hex. By hand: the crate hashes only for its bulk
/// lookup (privately), and its single lookups would put the number itself in the URL.
pub fn lookup_hash(key: [u8; 32], value: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length works");
    mac.update(value);
    hex::encode(mac.finalize().into_bytes())
}

const fn hex_literal(s: &str) -> [u8; 32] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not lowercase hex"),
        }
    }
    let bytes = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(bytes[2 * i]) << 4 | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vector B of the reference (§4.2): gateway sk = 0x11×32, user sk = 0x22×32.
    #[test]
    fn opens_reference_vector_b() {
        let gateway = SecretKey::from([0x11; 32]);
        let user = SecretKey::from([0x22; 32]);
        assert_eq!(
            hex::encode(gateway.public_key().as_bytes()),
            "7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13"
        );
        let nonce = [0x33; 24];
        let ciphertext = hex::decode(
            "d98c81f56e96bb69cdc83322495ac1653754abf5d286f647bba9003882efdd5ee60c2ac1ea1dcabe73da95cc8408e74cf1",
        )
        .unwrap();
        let plaintext = open(&nonce, &ciphertext, &user.public_key(), &gateway).unwrap();
        assert_eq!(
            hex::encode(&plaintext),
            format!("0148656c6c6f{}", "1b".repeat(27))
        );
        assert_eq!(
            open(&nonce, &ciphertext, &gateway.public_key(), &gateway),
            Err(OpenError)
        );
    }

    #[test]
    fn seal_then_open() {
        let (a, b) = (SecretKey::from([1; 32]), SecretKey::from([2; 32]));
        let (nonce, boxed) = seal(b"hello", &b.public_key(), &a);
        assert_eq!(open(&nonce, &boxed, &a.public_key(), &b).unwrap(), b"hello");
        let (nonce2, _) = seal(b"hello", &b.public_key(), &a);
        assert_ne!(nonce, nonce2, "fresh nonce each time");
    }

    #[test]
    fn key_parsing() {
        assert_eq!(key_bytes(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(
            key_bytes(&format!("private:{}", "ab".repeat(32))),
            Some([0xab; 32])
        );
        assert_eq!(key_bytes("abcd"), None);
    }

    #[test]
    fn lookup_hashes_match_the_documented_vectors() {
        assert_eq!(
            lookup_hash(PHONE_HASH_KEY, b"41791234567"),
            "ad398f4d7ebe63c6550a486cc6e07f9baa09bd9d8b3d8cb9d9be106d35a7fdbc"
        );
        assert_eq!(
            lookup_hash(EMAIL_HASH_KEY, b"test@threema.ch"),
            "1ea093239cc5f0e1b6ec81b866265b921f26dc4033025410063309f4d1a8ee2c"
        );
    }
}
