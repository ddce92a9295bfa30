//! The fixed-layout message types the codec reads and writes: delivery receipts, typing
//! indicators, edits and deletes.
//!
//! Written here rather than taken from the official `threema-gateway` crate, whose protocol
//! types cannot be had without its HTTP client (reqwest, tokio, TLS are not optional there):
//! this crate must stay free of IO so that fuzzing instruments nothing else. The layouts are
//! small and fixed (Threema's protocol description); the tests check them byte for byte
//! against the official crate's encoders and decoders.

use crate::MessageId;

/// Delivery receipt status bytes.
pub const RECEIVED: u8 = 0x01;
pub const READ: u8 = 0x02;
pub const ACKNOWLEDGED: u8 = 0x03;
pub const DECLINED: u8 = 0x04;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("{0} bytes: a receipt is a status byte and 8 bytes per message ID")]
    ReceiptLength(usize),
    #[error("a receipt names no message")]
    NoMessageIds,
    #[error("{0} bytes: a typing indicator is one byte")]
    TypingLength(usize),
    #[error("typing value {0}: must be 0 or 1")]
    TypingValue(u8),
    #[error("protobuf: {0}")]
    Protobuf(String),
}

/// `status ‖ id₁ ‖ id₂ …`, each ID 8 bytes little-endian, at least one.
pub fn decode_receipt(data: &[u8]) -> Result<(u8, Vec<MessageId>), WireError> {
    let (&status, ids) = data
        .split_first()
        .ok_or(WireError::ReceiptLength(data.len()))?;
    if ids.len() % 8 != 0 {
        return Err(WireError::ReceiptLength(data.len()));
    }
    if ids.is_empty() {
        return Err(WireError::NoMessageIds);
    }
    let ids = ids
        .chunks_exact(8)
        .map(|id| MessageId::from_u64(u64::from_le_bytes(id.try_into().expect("8 bytes"))))
        .collect();
    Ok((status, ids))
}

/// `None` for an empty list: a receipt names at least one message.
pub fn encode_receipt(status: u8, ids: &[MessageId]) -> Option<Vec<u8>> {
    if ids.is_empty() {
        return None;
    }
    let mut data = Vec::with_capacity(1 + 8 * ids.len());
    data.push(status);
    for id in ids {
        data.extend_from_slice(&id.as_u64().to_le_bytes());
    }
    Some(data)
}

/// One byte: 1 typing, 0 stopped.
pub fn decode_typing(data: &[u8]) -> Result<bool, WireError> {
    match data {
        [0] => Ok(false),
        [1] => Ok(true),
        [other] => Err(WireError::TypingValue(*other)),
        _ => Err(WireError::TypingLength(data.len())),
    }
}

/// `csp_e2e.EditMessage` of Threema's protocol description.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Edit {
    #[prost(fixed64, tag = "1")]
    pub message_id: u64,
    #[prost(string, tag = "2")]
    pub text: String,
}

/// `csp_e2e.DeleteMessage` of Threema's protocol description.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Delete {
    #[prost(fixed64, tag = "1")]
    pub message_id: u64,
}

pub fn decode_edit(data: &[u8]) -> Result<Edit, WireError> {
    prost::Message::decode(data).map_err(|e: prost::DecodeError| WireError::Protobuf(e.to_string()))
}

pub fn decode_delete(data: &[u8]) -> Result<Delete, WireError> {
    prost::Message::decode(data).map_err(|e: prost::DecodeError| WireError::Protobuf(e.to_string()))
}

pub fn encode_edit(message_id: MessageId, text: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&Edit {
        message_id: message_id.as_u64(),
        text: text.to_owned(),
    })
}

pub fn encode_delete(message_id: MessageId) -> Vec<u8> {
    prost::Message::encode_to_vec(&Delete {
        message_id: message_id.as_u64(),
    })
}

#[cfg(test)]
mod tests {
    use threema_gateway::protocol::{
        MessageId as Official,
        e2e::{
            delivery_receipt::{DeliveryReceipt, DeliveryReceiptMessage},
            edit_delete::{DeleteMessage, EditMessage},
            typing_indicator::{TypingIndicatorMessage, TypingStatus},
        },
    };

    use super::*;

    fn ids() -> Vec<(MessageId, Official)> {
        [1u64, 0x0807_0605_0403_0201, u64::MAX]
            .into_iter()
            .map(|n| (MessageId::from_u64(n), Official::from_u64(n)))
            .collect()
    }

    #[test]
    fn receipts_match_the_official_crate_both_ways() {
        let (ours, official): (Vec<_>, Vec<_>) = ids().into_iter().unzip();
        for (status, receipt) in [
            (RECEIVED, DeliveryReceipt::Received),
            (READ, DeliveryReceipt::Read),
            (ACKNOWLEDGED, DeliveryReceipt::Acknowledged),
            (DECLINED, DeliveryReceipt::Declined),
            (0x7f, DeliveryReceipt::Other(0x7f)),
        ] {
            for n in 1..=ours.len() {
                let encoded = encode_receipt(status, &ours[..n]).unwrap();
                let reference = DeliveryReceiptMessage::from_slice(receipt, &official[..n])
                    .unwrap()
                    .encode();
                assert_eq!(encoded, reference);
                assert_eq!(
                    decode_receipt(&reference).unwrap(),
                    (status, ours[..n].to_vec())
                );
            }
        }
        assert_eq!(encode_receipt(READ, &[]), None);
    }

    #[test]
    fn receipts_the_official_crate_refuses_are_refused() {
        for bad in [&[][..], &[1], &[1, 2, 3], &[1; 10], &[2; 16]] {
            assert!(DeliveryReceiptMessage::decode(bad).is_err(), "{bad:?}");
            assert!(decode_receipt(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn typing_matches_the_official_crate() {
        for (on, status) in [
            (true, TypingStatus::Typing),
            (false, TypingStatus::NotTyping),
        ] {
            let reference = TypingIndicatorMessage::new(status).encode();
            assert_eq!(decode_typing(&reference), Ok(on));
        }
        for bad in [&[][..], &[2], &[0, 0]] {
            assert!(TypingIndicatorMessage::decode(bad).is_err());
            assert!(decode_typing(bad).is_err());
        }
    }

    #[test]
    fn edits_and_deletes_match_the_official_crate_both_ways() {
        for (ours, official) in ids() {
            for text in ["", "Neue Adresse: Hafenstraße 3", &"x".repeat(6000)] {
                let encoded = encode_edit(ours, text);
                assert_eq!(
                    encoded,
                    EditMessage::new(official, text.to_owned()).encode()
                );
                let decoded = EditMessage::decode(&encoded).unwrap();
                assert_eq!(
                    (decoded.message_id, decoded.text.as_str()),
                    (official, text)
                );
                let back = decode_edit(&encoded).unwrap();
                assert_eq!((back.message_id, back.text.as_str()), (ours.as_u64(), text));
            }
            let encoded = encode_delete(ours);
            assert_eq!(encoded, DeleteMessage::new(official).encode());
            assert_eq!(decode_delete(&encoded).unwrap().message_id, ours.as_u64());
        }
        let garbage = [0x0a, 0xff, 0x01];
        assert!(EditMessage::decode(&garbage).is_err());
        assert!(decode_edit(&garbage).is_err());
        assert!(decode_delete(&garbage).is_err());
    }
}
