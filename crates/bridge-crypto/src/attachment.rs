//! Media in encrypted rooms: a message carries `file` (the media's URL with its AES key, IV and
//! SHA-256) instead of `url`, and the media repository holds only ciphertext. What the bridge
//! downloads is decrypted (and its hash checked), what it uploads is encrypted first.

use std::io::{Cursor, Read};

use matrix_sdk_crypto::{AttachmentDecryptor, AttachmentEncryptor, MediaEncryptionInfo};
use ruma::events::room::EncryptedFile;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("not an encrypted file description: {0}")]
    Description(String),
    /// The key does not open it, or its hash does not match (changed in transit or storage).
    #[error("the attachment cannot be decrypted: {0}")]
    Decrypt(String),
}

/// `file` (an `EncryptedFile` as a message carries it: `url`, `key`, `iv`, `hashes`, `v`)
/// decrypts `ciphertext`.
pub fn decrypt(ciphertext: &[u8], file: &Value) -> Result<Vec<u8>, AttachmentError> {
    let file: EncryptedFile = serde_json::from_value(file.clone())
        .map_err(|e| AttachmentError::Description(e.to_string()))?;
    let mut input = Cursor::new(ciphertext);
    let mut decryptor = AttachmentDecryptor::new(&mut input, MediaEncryptionInfo::from(file))
        .map_err(|e| AttachmentError::Decrypt(e.to_string()))?;
    let mut plain = Vec::with_capacity(ciphertext.len());
    decryptor
        .read_to_end(&mut plain)
        .map_err(|e| AttachmentError::Decrypt(e.to_string()))?;
    Ok(plain)
}

/// `plain` encrypted with a fresh key: the ciphertext to upload, and the `file` description
/// without its `url` (added once the ciphertext has one).
pub fn encrypt(plain: &[u8]) -> (Vec<u8>, Value) {
    let mut input = Cursor::new(plain);
    let mut encryptor = AttachmentEncryptor::new(&mut input);
    let mut ciphertext = Vec::with_capacity(plain.len());
    encryptor
        .read_to_end(&mut ciphertext)
        .expect("reading from memory does not fail");
    let info = encryptor.finish();
    let file = serde_json::to_value(&info).expect("encryption info serialises");
    (ciphertext, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_encrypted_decrypts_and_a_changed_byte_is_caught() {
        let plain = b"Lieferschein Tor 4".repeat(100);
        let (mut ciphertext, mut file) = encrypt(&plain);
        assert_ne!(ciphertext, plain);
        file["url"] = "mxc://dispatch.test/abc".into();
        assert_eq!(file["v"], "v2", "{file}");
        assert!(file["hashes"]["sha256"].is_string(), "{file}");
        assert_eq!(decrypt(&ciphertext, &file).unwrap(), plain);
        ciphertext[7] ^= 1;
        assert!(matches!(
            decrypt(&ciphertext, &file),
            Err(AttachmentError::Decrypt(_))
        ));
        assert!(matches!(
            decrypt(&ciphertext, &serde_json::json!({"url": "mxc://x/y"})),
            Err(AttachmentError::Description(_))
        ));
    }
}
