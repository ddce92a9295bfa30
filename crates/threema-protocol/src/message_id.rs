//! Message and blob IDs. The official crate has these types too, but they come with its HTTP
//! client (see `wire`); the bridge converts at its Gateway client.

use std::fmt;

/// A Threema message ID: 8 bytes, written as 16 hex digits in little-endian byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageId(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a message ID is 16 hex digits")]
pub struct MessageIdError;

impl MessageId {
    pub fn from_u64(id: u64) -> Self {
        Self(id)
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Parses 16 hex digits (either case), little-endian byte order.
    pub fn from_hex_le(hex_id: &str) -> Result<Self, MessageIdError> {
        let bytes: [u8; 8] = hex::decode(hex_id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(MessageIdError)?;
        Ok(Self(u64::from_le_bytes(bytes)))
    }

    /// 16 lowercase hex digits, little-endian byte order.
    pub fn to_hex_le(self) -> String {
        hex::encode(self.0.to_le_bytes())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "MessageId({self})")
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.to_hex_le())
    }
}

/// A blob's ID at the Gateway's blob server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobId(pub [u8; 16]);

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_little_endian_and_matches_the_official_crate() {
        for hex_id in ["0102030405060708", "ffffffffffffffff", "00000000000000aa"] {
            let ours = MessageId::from_hex_le(hex_id).unwrap();
            let official = threema_gateway::protocol::MessageId::from_hex_le(hex_id).unwrap();
            assert_eq!(ours.as_u64(), official.as_u64());
            assert_eq!(ours.to_hex_le(), official.to_hex_le());
        }
        assert_eq!(
            MessageId::from_hex_le("0100000000000000").unwrap().as_u64(),
            1
        );
        assert_eq!(
            MessageId::from_hex_le("ABCDEF0123456789")
                .unwrap()
                .to_hex_le(),
            "abcdef0123456789"
        );
        for bad in ["", "0102", "01020304050607080", "zz02030405060708"] {
            assert_eq!(MessageId::from_hex_le(bad), Err(MessageIdError), "{bad}");
        }
    }
}
