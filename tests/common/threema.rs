//! A driver's phone as tests need it: a key pair, encryption to the bridge's Gateway ID, and
//! callback bodies with the Gateway's MAC. Written from the reference, apart from the bridge.

use crypto_box::{PublicKey, SalsaBox, SecretKey, aead::Aead};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use threema_gateway_sim::{Behaviour, Simulator, UserSpec};

use super::bridge::{GATEWAY_ID, GATEWAY_SECRET};

pub struct Driver {
    pub id: String,
    pub secret_key: SecretKey,
}

impl Driver {
    pub fn new(id: &str) -> Self {
        Driver {
            id: id.to_owned(),
            secret_key: SecretKey::from(rand::random::<[u8; 32]>()),
        }
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.secret_key.public_key().as_bytes())
    }

    /// `type ‖ data ‖ padding` (at least 32 padded bytes) sealed for `to`: nonce and box.
    pub fn seal(&self, to: &PublicKey, message_type: u8, data: &[u8]) -> ([u8; 24], Vec<u8>) {
        let pad = (32usize.saturating_sub(data.len())).max(1 + rand::random::<u8>() as usize % 16);
        let mut plaintext = vec![message_type];
        plaintext.extend_from_slice(data);
        plaintext.extend(std::iter::repeat_n(pad as u8, pad));
        let nonce: [u8; 24] = rand::random();
        let sealed = SalsaBox::new(to, &self.secret_key)
            .encrypt(&nonce.into(), &plaintext[..])
            .unwrap();
        (nonce, sealed)
    }

    /// A complete callback body for a message to the bridge's Gateway ID.
    pub fn callback(
        &self,
        bridge_key: &PublicKey,
        message_id: &str,
        message_type: u8,
        data: &[u8],
    ) -> String {
        let (nonce, sealed) = self.seal(bridge_key, message_type, data);
        callback_body(
            &self.id,
            GATEWAY_ID,
            message_id,
            "1700000000",
            &hex::encode(nonce),
            &hex::encode(sealed),
            GATEWAY_SECRET,
        )
    }
}

/// The form body the Gateway posts, MAC over `from‖to‖messageId‖date‖nonce‖box` (§4.2).
pub fn callback_body(
    from: &str,
    to: &str,
    message_id: &str,
    date: &str,
    nonce: &str,
    sealed: &str,
    secret: &str,
) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for field in [from, to, message_id, date, nonce, sealed] {
        mac.update(field.as_bytes());
    }
    let mac = hex::encode(mac.finalize().into_bytes());
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("from", from)
        .append_pair("to", to)
        .append_pair("messageId", message_id)
        .append_pair("date", date)
        .append_pair("nonce", nonce)
        .append_pair("box", sealed)
        .append_pair("mac", &mac)
        .append_pair("nickname", "Driver Dan")
        .finish()
}

/// The bridge's public key from the private key in its test config.
pub fn bridge_public_key(private_key_hex: &str) -> PublicKey {
    let bytes: [u8; 32] = hex::decode(private_key_hex).unwrap().try_into().unwrap();
    SecretKey::from(bytes).public_key()
}

pub fn random_message_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// A Threema ID no earlier run used (the test homeserver outlives test runs, and with it the
/// ghosts and portal aliases of earlier runs). `prefix` tells the test files' IDs apart.
pub fn unique_threema_id(prefix: char) -> String {
    format!(
        "{prefix}{}",
        &hex::encode_upper(rand::random::<[u8; 4]>())[..7]
    )
}

/// A simulated phone under a new ID (see [`unique_threema_id`]) with this nickname; returns
/// the ID.
pub fn add_phone(sim: &Simulator, prefix: char, nickname: &str, behaviour: Behaviour) -> String {
    let id = unique_threema_id(prefix);
    sim.add_user(UserSpec::new(&id).nickname(nickname).behaviour(behaviour));
    id
}
