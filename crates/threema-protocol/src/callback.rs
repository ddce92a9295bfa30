//! The Gateway's callback for an incoming message: form fields, MAC first (constant time),
//! then the fields' formats. Nothing here decrypts; a verified callback is persisted as it is.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ThreemaId;

/// The fields the MAC covers, in MAC order (reference §4.2).
const MAC_FIELDS: [&str; 6] = ["from", "to", "messageId", "date", "nonce", "box"];

/// A callback whose MAC checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub from: ThreemaId,
    /// 16 lowercase hex digits (the sender's message id).
    pub message_id: String,
    /// Unix seconds, as the sender's app set it.
    pub date: i64,
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
    /// The sender's public nickname, if any (not covered by the MAC).
    pub nickname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {0} is given more than once")]
    Repeated(String),
    #[error("the MAC does not match")]
    BadMac,
    #[error("field {field} is malformed: {reason}")]
    Malformed {
        field: &'static str,
        reason: &'static str,
    },
    #[error("the message is for {0}, not for this Gateway ID")]
    WrongRecipient(String),
    #[error("more than {MAX_FIELDS} fields")]
    TooManyFields,
}

/// Most fields a body may have: the Gateway sends nine. Counted before the MAC is checked, so
/// that a body of thousands of tiny fields is not scanned.
const MAX_FIELDS: usize = 16;

/// A callback body whose MAC checked out: the Gateway sent it. Its fields are read by
/// [`Authentic::callback`]; one that does not parse is the Gateway's anomaly, to be kept and
/// reported, not an attacker's to be refused (the Gateway does not send it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentic {
    fields: Vec<(String, String)>,
}

/// Checks the MAC of an `application/x-www-form-urlencoded` callback body; nothing else of an
/// unauthenticated body is interpreted.
pub fn authenticate(body: &[u8], secret: &str) -> Result<Authentic, CallbackError> {
    let mut fields: Vec<(String, String)> = Vec::with_capacity(MAX_FIELDS);
    for (key, value) in form_urlencoded::parse(body) {
        if fields.len() == MAX_FIELDS {
            return Err(CallbackError::TooManyFields);
        }
        if fields.iter().any(|(k, _)| *k == key) {
            return Err(CallbackError::Repeated(key.into_owned()));
        }
        fields.push((key.into_owned(), value.into_owned()));
    }
    let authentic = Authentic { fields };
    let get = |name: &'static str| authentic.field(name).ok_or(CallbackError::Missing(name));
    let mac = hex::decode(get("mac")?).map_err(|_| CallbackError::BadMac)?;
    let mut expected =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    for name in MAC_FIELDS {
        expected.update(get(name)?.as_bytes());
    }
    expected
        .verify_slice(&mac)
        .map_err(|_| CallbackError::BadMac)?;
    Ok(authentic)
}

impl Authentic {
    /// A field as it arrived (every field the MAC covers is there).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The fields read as the protocol defines them, for `gateway_id`.
    pub fn callback(&self, gateway_id: &str) -> Result<Callback, CallbackError> {
        let get = |name: &'static str| self.field(name).ok_or(CallbackError::Missing(name));
        let to = get("to")?;
        if to != gateway_id {
            return Err(CallbackError::WrongRecipient(to.to_owned()));
        }
        let malformed = |field, reason| CallbackError::Malformed { field, reason };
        let from = ThreemaId::parse(get("from")?).ok_or(malformed("from", "not a Threema ID"))?;
        let message_id = get("messageId")?;
        if message_id.len() != 16 || hex::decode(message_id).is_err() {
            return Err(malformed("messageId", "not 16 hex digits"));
        }
        let date = get("date")?
            .parse::<i64>()
            .map_err(|_| malformed("date", "not an integer"))?;
        let nonce = hex::decode(get("nonce")?)
            .ok()
            .and_then(|n| <[u8; 24]>::try_from(n).ok())
            .ok_or(malformed("nonce", "not 24 bytes of hex"))?;
        let ciphertext = hex::decode(get("box")?).map_err(|_| malformed("box", "not hex"))?;
        // Shorter than the Poly1305 tag plus one byte cannot be a message.
        if ciphertext.len() < 17 {
            return Err(malformed("box", "too short"));
        }
        let nickname = self
            .field("nickname")
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty());
        Ok(Callback {
            from,
            message_id: message_id.to_ascii_lowercase(),
            date,
            nonce,
            ciphertext,
            nickname,
        })
    }
}

/// Authenticates and reads a callback body in one step.
pub fn verify(body: &[u8], secret: &str, gateway_id: &str) -> Result<Callback, CallbackError> {
    authenticate(body, secret)?.callback(gateway_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test vector B of the reference (§4.2).
    const BODY_B: &str = "from=USER0001&to=%2ATESTGW1&messageId=0102030405060708&date=1700000000\
        &nonce=333333333333333333333333333333333333333333333333\
        &box=d98c81f56e96bb69cdc83322495ac1653754abf5d286f647bba9003882efdd5ee60c2ac1ea1dcabe73da95cc8408e74cf1\
        &mac=45b2f8d27549b96565c24e68d329691f00e75258f7921d41577f1d8b6402d3fa&nickname=Driver%20Dan";

    #[test]
    fn accepts_reference_vector_b() {
        let cb = verify(BODY_B.as_bytes(), "callbacksecret", "*TESTGW1").unwrap();
        assert_eq!(cb.from.as_str(), "USER0001");
        assert_eq!(cb.message_id, "0102030405060708");
        assert_eq!(cb.date, 1_700_000_000);
        assert_eq!(cb.nonce, [0x33; 24]);
        assert_eq!(cb.nickname.as_deref(), Some("Driver Dan"));
    }

    #[test]
    fn reference_vector_a_mac() {
        let body = "from=ECHOECHO&to=*TESTTST&messageId=0102030405060708&date=1616950936\
            &nonce=ffffffffffffffffffffffffffffffffffffffffffffffff&box=012345abcdef\
            &mac=622b362e8353658ee649a5548acecc9ce9b88384d6b7e08e212446d68455b14e";
        // The MAC is right; the 6-byte box is then refused as too short to be a message.
        assert_eq!(
            verify(body.as_bytes(), "nevergonnagiveyouup", "*TESTTST"),
            Err(CallbackError::Malformed {
                field: "box",
                reason: "too short"
            })
        );
        assert_eq!(
            verify(body.as_bytes(), "nevergonnagiveyouuq", "*TESTTST"),
            Err(CallbackError::BadMac)
        );
    }

    #[test]
    fn refusals() {
        let secret = "callbacksecret";
        assert_eq!(
            verify(BODY_B.as_bytes(), secret, "*OTHERID"),
            Err(CallbackError::WrongRecipient("*TESTGW1".into()))
        );
        // Any change to a MAC'd field breaks the MAC; the nickname is not covered.
        let tampered = BODY_B.replace("date=1700000000", "date=1700000001");
        assert_eq!(
            verify(tampered.as_bytes(), secret, "*TESTGW1"),
            Err(CallbackError::BadMac)
        );
        let renamed = BODY_B.replace("Driver%20Dan", "Someone");
        assert!(verify(renamed.as_bytes(), secret, "*TESTGW1").is_ok());
        let no_box = BODY_B.replace("&box=", "&bux=");
        assert_eq!(
            verify(no_box.as_bytes(), secret, "*TESTGW1"),
            Err(CallbackError::Missing("box"))
        );
        let twice = format!("{BODY_B}&from=USER0002");
        assert_eq!(
            verify(twice.as_bytes(), secret, "*TESTGW1"),
            Err(CallbackError::Repeated("from".into()))
        );
        let bad_mac_hex = BODY_B.replace("mac=45b2", "mac=zzzz");
        assert_eq!(
            verify(bad_mac_hex.as_bytes(), secret, "*TESTGW1"),
            Err(CallbackError::BadMac)
        );
        assert_eq!(
            verify(b"", secret, "*TESTGW1"),
            Err(CallbackError::Missing("mac"))
        );
        let padded = format!(
            "{BODY_B}{}",
            (0..9).map(|i| format!("&x{i}=1")).collect::<String>()
        );
        assert_eq!(
            verify(padded.as_bytes(), secret, "*TESTGW1"),
            Err(CallbackError::TooManyFields)
        );
    }

    #[test]
    fn an_authentic_callback_keeps_its_fields_when_one_does_not_parse() {
        let body = "from=ECHOECHO&to=*TESTTST&messageId=0102030405060708&date=1616950936\
            &nonce=ffffffffffffffffffffffffffffffffffffffffffffffff&box=012345abcdef\
            &mac=622b362e8353658ee649a5548acecc9ce9b88384d6b7e08e212446d68455b14e";
        let authentic = authenticate(body.as_bytes(), "nevergonnagiveyouup").unwrap();
        assert_eq!(authentic.field("from"), Some("ECHOECHO"));
        assert_eq!(authentic.field("box"), Some("012345abcdef"));
        assert!(authentic.callback("*TESTTST").is_err());
    }
}
