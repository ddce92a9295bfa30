//! The callback parser sees unauthenticated input from the internet: it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threema_protocol::callback;

fuzz_target!(|data: &[u8]| {
    let _ = callback::verify(data, "fuzz-secret", "*DISPTCH");
});
