//! Shared test support: fresh databases, a real Synapse, the bridge under test, a driver.
#![allow(dead_code)]

pub mod audit;
pub mod bridge;
pub mod db;
pub mod dispatcher;
pub mod encrypting_client;
pub mod gateway;
pub mod http_proxy;
pub mod python;
pub mod synapse;
pub mod tcp_proxy;
pub mod threema;

use threema_bridge::bridge::Outcome;

/// An outcome as the bridge recorded it in a queue's row, read back as the bridge wrote it.
pub fn recorded(text: String) -> Outcome {
    text.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a recorded outcome"))
}
