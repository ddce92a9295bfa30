//! The cryptography of the Gateway wire protocol (§3.4, §4.2, §5.1, §5.5 of the reference):
//! NaCl `crypto_box` for messages, `crypto_secretbox` with fixed nonces for blobs, HMAC-SHA256
//! for the callback MAC and the lookup hashes. Pure functions only, so the conformance tests can
//! check them against the published vectors without a running simulator.

use crypto_box::{
    SalsaBox,
    aead::{Aead, KeyInit},
};
use crypto_secretbox::XSalsa20Poly1305;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC key for `/lookup/phone_hash` (§3.4).
pub const PHONE_HASH_KEY: [u8; 32] = [
    0x85, 0xad, 0xf8, 0x22, 0x69, 0x53, 0xf3, 0xd9, 0x6c, 0xfd, 0x5d, 0x09, 0xbf, 0x29, 0x55, 0x5e,
    0xb9, 0x55, 0xfc, 0xd8, 0xaa, 0x5e, 0xc4, 0xf9, 0xfc, 0xd8, 0x69, 0xe2, 0x58, 0x37, 0x07, 0x23,
];

/// HMAC key for `/lookup/email_hash` (§3.4).
pub const EMAIL_HASH_KEY: [u8; 32] = [
    0x30, 0xa5, 0x50, 0x0f, 0xed, 0x97, 0x01, 0xfa, 0x6d, 0xef, 0xdb, 0x61, 0x08, 0x41, 0x90, 0x0f,
    0xeb, 0xb8, 0xe4, 0x30, 0x88, 0x1f, 0x7a, 0xd8, 0x16, 0x82, 0x62, 0x64, 0xec, 0x09, 0xba, 0xd7,
];

/// Blob nonce of a file (and of a legacy video): 23 zero bytes, then 1 (§5.5).
pub const FILE_NONCE: [u8; 24] = nonce_ending_in(1);
/// Blob nonce of a thumbnail: 23 zero bytes, then 2 (§5.5).
pub const THUMBNAIL_NONCE: [u8; 24] = nonce_ending_in(2);

const fn nonce_ending_in(last: u8) -> [u8; 24] {
    let mut nonce = [0u8; 24];
    nonce[23] = last;
    nonce
}

/// A box or secretbox did not open: wrong key, wrong nonce or tampered data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decryption failed")]
pub struct DecryptError;

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `HMAC-SHA256(PHONE_HASH_KEY, digits)` as lowercase hex; `phone` is E.164 without `+`.
pub fn phone_hash(phone: &str) -> String {
    hex::encode(hmac_sha256(&PHONE_HASH_KEY, &[phone.as_bytes()]))
}

/// `HMAC-SHA256(EMAIL_HASH_KEY, lowercase(trim(email)))` as lowercase hex.
pub fn email_hash(email: &str) -> String {
    let normalised = normalise_email(email);
    hex::encode(hmac_sha256(&EMAIL_HASH_KEY, &[normalised.as_bytes()]))
}

/// The form of an e-mail address that is hashed and compared (§3.4).
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The callback MAC of §4.2: HMAC-SHA256 keyed with the API secret over the form values exactly
/// as posted (hex and all), concatenated in the order from, to, messageId, date, nonce, box.
pub fn callback_mac(
    secret: &str,
    from: &str,
    to: &str,
    message_id: &str,
    date: &str,
    nonce: &str,
    box_hex: &str,
) -> String {
    let parts: [&[u8]; 6] = [
        from.as_bytes(),
        to.as_bytes(),
        message_id.as_bytes(),
        date.as_bytes(),
        nonce.as_bytes(),
        box_hex.as_bytes(),
    ];
    hex::encode(hmac_sha256(secret.as_bytes(), &parts))
}

/// The Curve25519 public key that belongs to a secret key.
pub fn public_key(secret_key: &[u8; 32]) -> [u8; 32] {
    crypto_box::SecretKey::from_bytes(*secret_key)
        .public_key()
        .to_bytes()
}

fn salsa_box(their_public: &[u8; 32], our_secret: &[u8; 32]) -> SalsaBox {
    SalsaBox::new(
        &crypto_box::PublicKey::from_bytes(*their_public),
        &crypto_box::SecretKey::from_bytes(*our_secret),
    )
}

/// `crypto_box(plaintext, nonce, recipient_pk, sender_sk)`; the 16-byte tag comes first, as in
/// libsodium's "easy" layout that the Gateway uses.
pub fn box_seal(
    plaintext: &[u8],
    nonce: &[u8; 24],
    recipient_public: &[u8; 32],
    sender_secret: &[u8; 32],
) -> Vec<u8> {
    salsa_box(recipient_public, sender_secret)
        .encrypt(nonce.into(), plaintext)
        .expect("XSalsa20-Poly1305 encryption of an in-memory buffer cannot fail")
}

/// `crypto_box_open(ciphertext, nonce, sender_pk, recipient_sk)`.
pub fn box_open(
    ciphertext: &[u8],
    nonce: &[u8; 24],
    sender_public: &[u8; 32],
    recipient_secret: &[u8; 32],
) -> Result<Vec<u8>, DecryptError> {
    salsa_box(sender_public, recipient_secret)
        .decrypt(nonce.into(), ciphertext)
        .map_err(|_| DecryptError)
}

/// Secretbox encryption of a blob with the per-message key `k` (§5.5).
pub fn secretbox_seal(key: &[u8; 32], nonce: &[u8; 24], data: &[u8]) -> Vec<u8> {
    XSalsa20Poly1305::new(key.into())
        .encrypt(nonce.into(), data)
        .expect("XSalsa20-Poly1305 encryption of an in-memory buffer cannot fail")
}

/// Opens a blob encrypted with [`secretbox_seal`].
pub fn secretbox_open(
    key: &[u8; 32],
    nonce: &[u8; 24],
    data: &[u8],
) -> Result<Vec<u8>, DecryptError> {
    XSalsa20Poly1305::new(key.into())
        .decrypt(nonce.into(), data)
        .map_err(|_| DecryptError)
}

/// Constant-time comparison, so the simulator does not model a timing oracle on the secret.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_round_trip_and_wrong_key() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let nonce = [9u8; 24];
        let sealed = box_seal(b"hi", &nonce, &public_key(&b), &a);
        assert_eq!(sealed.len(), 2 + 16);
        assert_eq!(
            box_open(&sealed, &nonce, &public_key(&a), &b).unwrap(),
            b"hi"
        );
        assert_eq!(
            box_open(&sealed, &nonce, &public_key(&[3u8; 32]), &b),
            Err(DecryptError)
        );
    }

    #[test]
    fn email_is_normalised_before_hashing() {
        assert_eq!(
            email_hash(" Test@Threema.CH "),
            email_hash("test@threema.ch")
        );
    }
}
