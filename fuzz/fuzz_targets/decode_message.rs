//! Whatever a box decrypts to: unpadding and decoding must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threema_protocol::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok((message_type, body)) = codec::unpad(data) {
        let _ = codec::decode(message_type, body);
    }
    // And every type byte with the raw input as its data.
    if let Some((&message_type, body)) = data.split_first() {
        let _ = codec::decode(message_type, body);
    }
});
