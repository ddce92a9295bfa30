//! Shared test support: fresh databases, a real Synapse, the bridge under test, a driver.
#![allow(dead_code)]

pub mod bridge;
pub mod db;
pub mod dispatcher;
pub mod gateway;
pub mod http_proxy;
pub mod python;
pub mod synapse;
pub mod tcp_proxy;
pub mod threema;
